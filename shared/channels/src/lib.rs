//! Channel adapters: for each provider, the webhook handler (authenticate, parse, hand to the
//! engine's pipeline), the rendering of channel-neutral replies, and the send client.
//!
//! Handlers take and return plain `http` types so the Lambda functions and `connector-local`
//! mount exactly the same code.
#![forbid(unsafe_code)]

pub mod bootstrap;
pub mod twilio;

use bytes::Bytes;

/// A webhook request as every entry point hands it over.
pub type WebhookRequest = http::Request<Bytes>;
/// A webhook response: status, headers and a small text body.
pub type WebhookResponse = http::Response<String>;

/// Largest webhook body accepted. Provider payloads are a few KiB; anything bigger is refused
/// before parsing.
pub const MAX_WEBHOOK_BODY_BYTES: usize = 64 * 1024;

/// A plain-text response (errors never echo input or secrets).
pub fn text_response(status: http::StatusCode, body: &str) -> WebhookResponse {
    let mut response = http::Response::new(body.to_owned());
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}
