//! The one webhook handler (ingest): every Lambda function and `connector-local` mount it
//! unchanged.
//!
//! Order matters: method and size, then the channel's authentication, before anything is
//! queued or touched, so a forged request costs nothing and reveals nothing.

use crate::channel::{Channel, Event, Route};
use crate::queue::{Job, Queue};
use crate::{MAX_WEBHOOK_BODY_BYTES, WebhookRequest, WebhookResponse, text_response};
use connector_engine::error_chain;
use http::{Method, StatusCode};
use std::sync::Arc;
use tokio::time::Instant;

/// The longest conversation key or message id taken: DynamoDB refuses partition keys over
/// 2048 bytes, and no provider's ids come near this.
const MAX_ID_BYTES: usize = 1024;

fn storable(event: &Event) -> bool {
    let key = match &event.route {
        Route::Conversation(key) | Route::Resolved { key, .. } => key.as_str().len(),
        Route::Chat(chat) => chat.len(),
        Route::Ticket { ticket, contact } => ticket.len().max(contact.as_deref().map_or(0, str::len)),
    };
    key <= MAX_ID_BYTES && event.id.as_str().len() <= MAX_ID_BYTES
}

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
    queue: Arc<dyn Queue>,
}

impl<C: Channel> Webhook<C> {
    pub fn new(channel: C, queue: Arc<dyn Queue>) -> Self {
        Self { channel, queue }
    }

    /// When a request arriving now must be answered: the channel's budget, or the runtime's
    /// deadline when that is sooner.
    pub fn deadline(&self, runtime_deadline: Option<Instant>) -> Instant {
        let own = Instant::now() + self.channel.budget();
        runtime_deadline.map_or(own, |runtime| runtime.min(own))
    }

    /// Ingests one request: authenticates, parses and enqueues its events, then answers the
    /// provider. Nothing is processed here: the queue's consumer does that with its own budget
    /// and retries, so the provider never has to send a message again. Only a queue that does
    /// not take the events is answered 503 (nothing has happened yet, so a retry is safe).
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
        if events.is_empty() {
            return self.channel.answer(StatusCode::OK);
        }
        // An event that can never be stored is refused here, never retried; the others of the
        // request go on.
        let count = events.len();
        let events: Vec<_> = events.into_iter().filter(storable).collect();
        if events.len() < count {
            tracing::warn!(channel = self.channel.name(), refused = count - events.len(), "events with ids too long to store were refused");
            if events.is_empty() {
                return text_response(StatusCode::BAD_REQUEST, "sender or message id too long");
            }
        }
        let jobs = match events.iter().map(Job::of).collect::<Result<Vec<_>, _>>() {
            Ok(jobs) => jobs,
            Err(error) => {
                tracing::error!(channel = self.channel.name(), error = %error_chain(&error), "event refused: it cannot be queued");
                return text_response(StatusCode::PAYLOAD_TOO_LARGE, "event too large");
            }
        };
        match tokio::time::timeout_at(deadline, self.queue.enqueue(&jobs)).await {
            Ok(Ok(())) => self.channel.answer(StatusCode::OK),
            Ok(Err(error)) => {
                tracing::error!(channel = self.channel.name(), error = %error_chain(&error), "events not queued: the provider is asked to retry");
                self.channel.answer(StatusCode::SERVICE_UNAVAILABLE)
            }
            Err(_) => {
                tracing::error!(channel = self.channel.name(), "the queue did not take the events in time: the provider is asked to retry");
                self.channel.answer(StatusCode::SERVICE_UNAVAILABLE)
            }
        }
    }
}
