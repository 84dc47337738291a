//! The one webhook handler: every Lambda function and `connector-local` mount it unchanged.
//!
//! Order matters: method and size, then the channel's authentication, before any state or
//! upstream is touched, so a forged request costs nothing and reveals nothing.

use crate::channel::Channel;
use crate::pipeline::{Pipeline, PipelineError};
use crate::{MAX_WEBHOOK_BODY_BYTES, WebhookRequest, WebhookResponse, text_response};
use connector_engine::error_chain;
use http::{Method, StatusCode};
use std::sync::Arc;
use tokio::time::Instant;

/// What a Lambda function or a `connector-local` route serves: one request in, one answer out,
/// within the deadline.
pub trait Endpoint: Send + Sync + 'static {
    fn serve(&self, request: WebhookRequest, runtime_deadline: Option<Instant>) -> impl Future<Output = WebhookResponse> + Send;
}

impl<C: Channel> Endpoint for Webhook<C> {
    fn serve(&self, request: WebhookRequest, runtime_deadline: Option<Instant>) -> impl Future<Output = WebhookResponse> + Send {
        self.handle(request, runtime_deadline)
    }
}

pub struct Webhook<C: Channel> {
    channel: C,
    pipeline: Arc<Pipeline>,
}

impl<C: Channel> Webhook<C> {
    pub fn new(channel: C, pipeline: Arc<Pipeline>) -> Self {
        Self { channel, pipeline }
    }

    pub fn pipeline(&self) -> &Arc<Pipeline> {
        &self.pipeline
    }

    /// When a request arriving now must be answered: the channel's budget, or the runtime's
    /// deadline when that is sooner.
    pub fn deadline(&self, runtime_deadline: Option<Instant>) -> Instant {
        let own = Instant::now() + self.channel.budget();
        runtime_deadline.map_or(own, |runtime| runtime.min(own))
    }

    /// Handles one request. `runtime_deadline` is when the runtime kills the invocation (the
    /// Lambda context's, less a margin); the channel's own budget applies when it is sooner.
    pub async fn handle(&self, request: WebhookRequest, runtime_deadline: Option<Instant>) -> WebhookResponse {
        let deadline = self.deadline(runtime_deadline);
        match *request.method() {
            Method::POST => {}
            Method::GET => {
                return self.channel.verify(&request).unwrap_or_else(|| text_response(StatusCode::METHOD_NOT_ALLOWED, "POST only"));
            }
            _ => return text_response(StatusCode::METHOD_NOT_ALLOWED, "POST only"),
        }
        if request.body().len() > self.channel.max_body_bytes().min(MAX_WEBHOOK_BODY_BYTES) {
            return text_response(StatusCode::PAYLOAD_TOO_LARGE, "body too large");
        }
        let verified = match self.channel.authenticate(&request) {
            Ok(verified) => verified,
            Err(refusal) => {
                if refusal.status == StatusCode::FORBIDDEN {
                    tracing::warn!(channel = self.channel.name(), reason = refusal.reason, "webhook refused");
                }
                return text_response(refusal.status, refusal.reason);
            }
        };
        let events = match self.channel.parse(verified) {
            Ok(events) => events,
            Err(refusal) => return text_response(refusal.status, refusal.reason),
        };
        let mut status = StatusCode::OK;
        for event in &events {
            match self.pipeline.handle(event, deadline).await {
                Ok(_) => {}
                // Nothing more of this request is handled: a later event of the same user must
                // not overtake this one. The provider delivers the whole request again, and
                // what was handled is then a duplicate.
                Err(error) if error.is_retryable() => {
                    status = StatusCode::SERVICE_UNAVAILABLE;
                    break;
                }
                Err(error) => log_final(&error),
            }
        }
        self.channel.answer(status)
    }
}

/// A failure a redelivery would not fix: answered 200 so the provider stops, and said loudly.
fn log_final(error: &PipelineError) {
    tracing::error!(error = %error_chain(error), "message dropped: retrying would fail the same way");
}
