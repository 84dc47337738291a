//! The channel-generic webhook path, written once for every webhook source.
//!
//! - [`channel`]: what a channel supplies (authenticate, parse into events, the provider's
//!   answer) and what a sender supplies (render and send replies to a stored address).
//! - [`webhook`]: the one handler (ingest) every Lambda function and `connector-local` mount:
//!   method, size limit, authentication, parsing, enqueueing, the provider's answer.
//! - [`queue`]: the queue between ingest and processing (SQS FIFO, or in-process), the
//!   processor that consumes it, retries and dead letters.
//! - [`pipeline`]: one event, exactly once: load, engine step, commit with its outbox,
//!   delivery with write-ahead progress.
//! - [`store`]: the store port the pipeline uses, split by capability (dedupe, conversations,
//!   indexes, cache); `state-store` implements it.
//! - [`credentials`]: channel credentials per environment from ExtraInfo, else configuration.
//! - [`files`]: users' files fetched from their channel for the agent.
//! - [`fingerprint`]: keyed, non-reversible names for identifiers in logs.
#![forbid(unsafe_code)]

pub mod channel;
pub mod credentials;
pub mod files;
pub mod fingerprint;
pub mod pipeline;
pub mod queue;
pub mod store;
pub mod webhook;

pub use channel::{AnySender, Event, Lookup, Occasion, Refusal, Route, SendError, SendTag, Sender, Senders, SetupError, Source};
pub use fingerprint::Fingerprinter;
pub use pipeline::{Outcome, Pipeline, PipelineError, StateSettings, Timing};
pub use queue::{Job, LocalQueue, Processor, Queue, QueueError};
pub use store::{Cache, StateStore, StoreError};
pub use webhook::{AnyEndpoint, Endpoint, Webhook};

use bytes::Bytes;

/// A webhook request as every entry point hands it over.
pub type WebhookRequest = http::Request<Bytes>;
/// A webhook response: status, headers and a body (a small text, or a file an agent shared).
pub type WebhookResponse = http::Response<Bytes>;

/// Largest webhook body any channel accepts (a Smooch or Messenger batch is a few tens of KiB);
/// each channel sets its own limit below it.
pub const MAX_WEBHOOK_BODY_BYTES: usize = 256 * 1024;

/// A plain-text response (errors never echo input or secrets).
pub fn text_response(status: http::StatusCode, body: &str) -> WebhookResponse {
    let mut response = http::Response::new(Bytes::copy_from_slice(body.as_bytes()));
    *response.status_mut() = status;
    response.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

/// 32 hex digits of SHA-256: a stable id within SQS's limits.
pub(crate) fn digest(text: &str) -> String {
    use sha2::{Digest, Sha256};
    use std::fmt::Write as _;
    Sha256::digest(text.as_bytes())[..16].iter().fold(String::with_capacity(32), |mut hex, b| {
        let _ = write!(hex, "{b:02x}");
        hex
    })
}
