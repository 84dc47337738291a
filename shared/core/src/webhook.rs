//! The one webhook handler (ingest): every Lambda function and `connector-local` mount it
//! unchanged.
//!
//! Order matters: method and size, then the channel's authentication, before anything is
//! queued or touched, so a forged request costs nothing and reveals nothing.

use crate::channel::{Event, Route, Source};
use crate::queue::{Job, Queue};
use crate::{MAX_WEBHOOK_BODY_BYTES, WebhookRequest, WebhookResponse, text_response};
use connector_engine::error_chain;
use http::{Method, StatusCode};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;
use tokio::time::Instant;

/// The longest conversation key or message id taken: DynamoDB refuses partition keys over
/// 2048 bytes, and no provider's ids come near this.
const MAX_ID_BYTES: usize = 1024;

fn storable(event: &Event) -> bool {
    let key = match &event.route {
        Route::Conversation(key) | Route::Resolved { key, .. } | Route::Alias(key) => key.as_str().len(),
        Route::Linked { key, alias } => key.as_str().len().max(alias.as_str().len()),
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

impl<C: Source> Endpoint for Webhook<C> {
    fn serve(&self, request: WebhookRequest, runtime_deadline: Option<Instant>) -> impl Future<Output = WebhookResponse> + Send {
        self.handle(request, runtime_deadline)
    }
}

/// Any [`Endpoint`] behind one type: routes chosen at run time (the registry's channels on
/// `connector-local`'s server and in the tests).
pub struct AnyEndpoint(Box<dyn ErasedEndpoint>);

/// [`Endpoint`] with its future boxed, so that it can be a trait object.
trait ErasedEndpoint: Send + Sync {
    fn serve_boxed(
        &self,
        request: WebhookRequest,
        runtime_deadline: Option<Instant>,
    ) -> Pin<Box<dyn Future<Output = WebhookResponse> + Send + '_>>;
}

impl<E: Endpoint> ErasedEndpoint for E {
    fn serve_boxed(
        &self,
        request: WebhookRequest,
        runtime_deadline: Option<Instant>,
    ) -> Pin<Box<dyn Future<Output = WebhookResponse> + Send + '_>> {
        Box::pin(self.serve(request, runtime_deadline))
    }
}

impl AnyEndpoint {
    pub fn new(endpoint: impl Endpoint) -> Self {
        Self(Box::new(endpoint))
    }

    /// The endpoint's answer to one request.
    pub async fn handle(&self, request: WebhookRequest, runtime_deadline: Option<Instant>) -> WebhookResponse {
        self.0.serve_boxed(request, runtime_deadline).await
    }
}

impl Endpoint for AnyEndpoint {
    fn serve(&self, request: WebhookRequest, runtime_deadline: Option<Instant>) -> impl Future<Output = WebhookResponse> + Send {
        self.0.serve_boxed(request, runtime_deadline)
    }
}

pub struct Webhook<C: Source> {
    /// Replaced when a reload finds other secrets.
    channel: RwLock<Arc<C>>,
    queue: Arc<dyn Queue>,
    reload: Option<Reload<C>>,
}

/// The channel built anew from configuration read again, or `None` when it could not be.
pub type Rebuild<C> = Box<dyn Fn() -> Pin<Box<dyn Future<Output = Option<C>> + Send>> + Send + Sync>;

/// How a webhook whose signature fails rebuilds its channel from secrets read again (set or
/// rotated after the function started), at most once a minute: a flood of forged requests costs
/// one read a minute.
pub struct Reload<C> {
    rebuild: Rebuild<C>,
    last: Mutex<Option<Instant>>,
}

/// The least time between two reloads.
const RELOAD_INTERVAL: Duration = Duration::from_secs(60);

impl<C> Reload<C> {
    pub fn new(rebuild: Rebuild<C>) -> Self {
        Self { rebuild, last: Mutex::new(None) }
    }

    /// The rebuilt channel, unless one was tried less than a minute ago.
    async fn due(&self) -> Option<C> {
        {
            let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
            if last.is_some_and(|at| at.elapsed() < RELOAD_INTERVAL) {
                return None;
            }
            *last = Some(Instant::now());
        }
        (self.rebuild)().await
    }
}

impl<C: Source> Webhook<C> {
    pub fn new(channel: C, queue: Arc<dyn Queue>) -> Self {
        Self { channel: RwLock::new(Arc::new(channel)), queue, reload: None }
    }

    /// Rebuilds the channel from secrets read again when a request's signature fails.
    pub fn with_reload(mut self, reload: Reload<C>) -> Self {
        self.reload = Some(reload);
        self
    }

    fn channel(&self) -> Arc<C> {
        self.channel.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// When a request arriving now must be answered: the channel's budget, or the runtime's
    /// deadline when that is sooner.
    pub fn deadline(&self, runtime_deadline: Option<Instant>) -> Instant {
        let own = Instant::now() + self.channel().budget();
        runtime_deadline.map_or(own, |runtime| runtime.min(own))
    }

    /// The request authenticated, by the channel as built, else (a signature that fails) by one
    /// rebuilt from secrets read again.
    async fn authenticate(&self, request: &WebhookRequest) -> (Arc<C>, Result<C::Verified, crate::channel::Refusal>) {
        let channel = self.channel();
        match channel.authenticate(request) {
            Err(refusal) if refusal.status == StatusCode::FORBIDDEN => {
                let rebuilt = match &self.reload {
                    Some(reload) => reload.due().await,
                    None => None,
                };
                let Some(rebuilt) = rebuilt else { return (channel, Err(refusal)) };
                tracing::info!(channel = channel.name(), "a signature failed: the channel was rebuilt from its secrets read again");
                let rebuilt = Arc::new(rebuilt);
                *self.channel.write().unwrap_or_else(PoisonError::into_inner) = rebuilt.clone();
                let verified = rebuilt.authenticate(request);
                (rebuilt, verified)
            }
            verified => (channel, verified),
        }
    }

    /// Ingests one request: authenticates, parses and enqueues its events, then answers the
    /// provider. Nothing is processed here: the queue's consumer does that with its own budget
    /// and retries, so the provider never has to send a message again. Only a queue that does
    /// not take the events is answered 503 (nothing has happened yet, so a retry is safe).
    pub async fn handle(&self, request: WebhookRequest, runtime_deadline: Option<Instant>) -> WebhookResponse {
        let deadline = self.deadline(runtime_deadline);
        let channel = self.channel();
        match *request.method() {
            Method::POST => {}
            Method::GET => {
                return channel.verify(&request).unwrap_or_else(|| text_response(StatusCode::METHOD_NOT_ALLOWED, "POST only"));
            }
            _ => return text_response(StatusCode::METHOD_NOT_ALLOWED, "POST only"),
        }
        if request.body().len() > channel.max_body_bytes().min(MAX_WEBHOOK_BODY_BYTES) {
            return text_response(StatusCode::PAYLOAD_TOO_LARGE, "body too large");
        }
        let (channel, verified) = self.authenticate(&request).await;
        let verified = match verified {
            Ok(verified) => verified,
            Err(refusal) => {
                if refusal.status == StatusCode::FORBIDDEN {
                    tracing::warn!(channel = channel.name(), reason = refusal.reason, "webhook refused");
                }
                return text_response(refusal.status, refusal.reason);
            }
        };
        let events = match channel.parse(verified) {
            Ok(events) => events,
            Err(refusal) => return text_response(refusal.status, refusal.reason),
        };
        if events.is_empty() {
            return channel.answer(StatusCode::OK);
        }
        // An event that can never be stored is refused here, never retried; the others of the
        // request go on.
        let count = events.len();
        let events: Vec<_> = events.into_iter().filter(storable).collect();
        if events.len() < count {
            tracing::warn!(channel = channel.name(), refused = count - events.len(), "events with ids too long to store were refused");
            if events.is_empty() {
                return text_response(StatusCode::BAD_REQUEST, "sender or message id too long");
            }
        }
        let jobs = match events.iter().map(Job::of).collect::<Result<Vec<_>, _>>() {
            Ok(jobs) => jobs,
            Err(error) => {
                tracing::error!(channel = channel.name(), error = %error_chain(&error), "event refused: it cannot be queued");
                return text_response(StatusCode::PAYLOAD_TOO_LARGE, "event too large");
            }
        };
        match tokio::time::timeout_at(deadline, self.queue.enqueue(&jobs)).await {
            Ok(Ok(())) => channel.answer(StatusCode::OK),
            Ok(Err(error)) => {
                tracing::error!(channel = channel.name(), error = %error_chain(&error), "events not queued: the provider is asked to retry");
                channel.answer(StatusCode::SERVICE_UNAVAILABLE)
            }
            Err(_) => {
                tracing::error!(channel = channel.name(), "the queue did not take the events in time: the provider is asked to retry");
                channel.answer(StatusCode::SERVICE_UNAVAILABLE)
            }
        }
    }
}
