//! HyperChat's webhook: one URL for the live chats of every channel. Events are verified, turned
//! into the engine's live-chat events and routed through the chat index to the conversation and
//! its stored reply address; the reply goes out through that channel's sender.
//!
//!
//! The same URL takes Inbenta Messenger's replies to the tickets made of closed chats
//! ([`tickets`]): told apart by their body, authenticated by their own shared secret, routed
//! through the ticket index and delivered by the same pipeline.
//!
//! - [`HyperChatEvents`]: the handshake (`X-Hook-Secret`), Inbenta Messenger's check of the
//!   ticket webhook (`X-Inbenta-Challenge`), then the shared webhook handler; and the links to
//!   agents' files ([`files`]), served on the same URL.
//! - [`HyperChatSource`]: `X-Hook-Signature` and the event payloads.

mod events;
pub mod files;
pub mod tickets;

pub use events::{parse_events, signature_matches};
pub use files::{FileLinks, FileProxy};

use connector_config::EnvKey;
use connector_core::store::Cache;
use connector_core::{Endpoint, Event, Queue, Refusal, Source, Webhook, WebhookRequest, WebhookResponse, text_response};
use connector_engine::ports::Clock;
use connector_engine::values::Timestamp;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use subtle::ConstantTimeEq;
use tokio::time::Instant;

pub const ENV: &[EnvKey] = &[
    ("HYPERCHAT_WEBHOOK_SECRET", "hyperchat.webhook_secret"),
    ("HYPERCHAT_WEBHOOK_URL", "hyperchat.webhook_url"),
    ("INBENTA_MESSENGER_WEBHOOK_SECRET", "chat.chat.messenger.webhook_secret"),
];

/// Where the handshake's secret is kept, so every instance knows it.
const SECRET_CACHE_KEY: &str = "hyperchat#webhook-secret";
/// The stored secret does not expire by itself (about 30 years).
const SECRET_LIFETIME: Duration = Duration::from_secs(30 * 365 * 86_400);

/// The `hyperchat` table.
#[derive(Debug, Clone, Deserialize)]
pub struct HyperChatEventSettings {
    /// Presets the secret the handshake would otherwise store; handshakes must then offer it.
    #[serde(default = "connector_config::empty_secret")]
    pub webhook_secret: SecretString,
    /// Events are answered within this.
    pub deadline_ms: u64,
    /// This function's public URL, the one HyperChat calls: links to agents' files start with
    /// it. Empty: agents' files reach users as their names only.
    #[serde(default)]
    pub webhook_url: String,
    /// How long a link to an agent's file works.
    pub file_link_ttl_secs: u64,
    /// The largest agent's file a link serves.
    pub max_file_bytes: u64,
}

/// `chat.toml`'s `[chat.messenger]` table: Inbenta Messenger, whose external ticket source
/// posts agents' replies to tickets.
#[derive(Debug, Clone, Deserialize)]
pub struct TicketReplySettings {
    /// The shared secret Messenger sends as `X-Hook-Signature`; empty refuses every reply.
    #[serde(default = "connector_config::empty_secret")]
    pub webhook_secret: SecretString,
}

/// The webhook secret once known (preset, stored, or from this instance's handshake).
#[derive(Default)]
struct SecretSlot(RwLock<Option<SecretString>>);

impl SecretSlot {
    fn get(&self) -> Option<SecretString> {
        self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    fn set(&self, secret: SecretString) {
        *self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(secret);
    }
}

/// HyperChat's events as a webhook source.
pub struct HyperChatSource {
    secret: Arc<SecretSlot>,
    ticket_secret: SecretString,
    budget: Duration,
    /// Links to agents' files; without them a file is shown as its name.
    links: Option<Arc<FileLinks>>,
}

/// A body whose sender is verified, by what it is.
pub enum Verified {
    Events(bytes::Bytes),
    TicketReplies(bytes::Bytes),
}

impl Source for HyperChatSource {
    type Verified = Verified;

    fn name(&self) -> &'static str {
        "hyperchat"
    }

    fn budget(&self) -> Duration {
        self.budget
    }

    /// Without a secret nothing can be verified, so nothing is accepted.
    fn authenticate(&self, request: &WebhookRequest) -> Result<Self::Verified, Refusal> {
        let signature = request.headers().get("x-hook-signature").and_then(|v| v.to_str().ok());
        if tickets::is_ticket_reply(request.body()) {
            if !tickets::ticket_secret_matches(&self.ticket_secret, signature) {
                return Err(Refusal::forbidden("invalid or unconfigured ticket webhook secret"));
            }
            return Ok(Verified::TicketReplies(request.body().clone()));
        }
        let Some(secret) = self.secret.get() else { return Err(Refusal::forbidden("no webhook secret yet: subscribe first")) };
        let Some(signature) = signature else {
            return Err(Refusal::forbidden("missing X-Hook-Signature"));
        };
        if !signature_matches(secret.expose_secret().as_bytes(), request.body(), signature) {
            return Err(Refusal::forbidden("invalid X-Hook-Signature"));
        }
        Ok(Verified::Events(request.body().clone()))
    }

    fn parse(&self, verified: Self::Verified) -> Result<Vec<Event>, Refusal> {
        match verified {
            Verified::Events(body) => parse_events(&body, self.links.as_deref()).map_err(|_| Refusal::bad_request("not a HyperChat event")),
            Verified::TicketReplies(body) => tickets::parse_ticket_replies(&body).map_err(|_| Refusal::bad_request("not a ticket reply")),
        }
    }

    fn answer(&self, status: StatusCode) -> WebhookResponse {
        text_response(status, if status.is_success() { "ok" } else { "retry later" })
    }
}

/// The HyperChat events function: the subscription handshake, then every event through the
/// shared handler.
pub struct HyperChatEvents {
    webhook: Webhook<HyperChatSource>,
    files: Option<FileProxy>,
    secret: Arc<SecretSlot>,
    preset: Option<SecretString>,
    /// Inbenta Messenger's ticket webhook secret, which its registration check offers.
    ticket_secret: SecretString,
    store: Arc<dyn Cache>,
    clock: Arc<dyn Clock>,
    /// When the stored secret was last read (Unix seconds): at most once a minute, so refused
    /// requests cannot make every one of them a store read.
    last_read: AtomicI64,
}

/// How often the stored secret may be read again (a secret replaced after a rotation reaches
/// warm instances within this).
const READ_SECRET_EVERY_SECS: i64 = 60;

impl HyperChatEvents {
    /// `files`: serves the links to agents' files (`None`: files reach users as their names).
    pub fn new(
        settings: &HyperChatEventSettings,
        tickets: &TicketReplySettings,
        files: Option<FileProxy>,
        queue: Arc<dyn Queue>,
        store: Arc<dyn Cache>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let secret = Arc::new(SecretSlot::default());
        let preset = Some(settings.webhook_secret.clone()).filter(|s| !s.expose_secret().is_empty());
        if let Some(preset) = &preset {
            secret.set(preset.clone());
        }
        let channel = HyperChatSource {
            secret: secret.clone(),
            ticket_secret: tickets.webhook_secret.clone(),
            budget: Duration::from_millis(settings.deadline_ms),
            links: files.as_ref().map(|files| files.links.clone()),
        };
        Self {
            webhook: Webhook::new(channel, queue),
            files,
            secret,
            preset,
            ticket_secret: tickets.webhook_secret.clone(),
            store,
            clock,
            last_read: AtomicI64::new(i64::MIN),
        }
    }

    pub async fn handle(&self, request: WebhookRequest, runtime_deadline: Option<Instant>) -> WebhookResponse {
        // The handshake on whatever method carries it: HyperChat's "Webhooks Overview" does not
        // name one, and Inbenta's PHP answers any request with the header
        // (`HyperChat::webhookHandshake`).
        if let Some(offered) = request.headers().get("x-hook-secret").and_then(|v| v.to_str().ok()).map(str::to_owned) {
            return self.handshake(&offered).await;
        }
        let method = request.method().clone();
        if method == Method::GET
            && let Some(challenge) = request.headers().get("x-inbenta-challenge")
        {
            return self.ticket_webhook_check(request.headers(), challenge);
        }
        if method == Method::GET || method == Method::HEAD {
            return match (&self.files, files::file_token(request.uri().path())) {
                (Some(files), Some(token)) => files.serve(token, method == Method::GET, self.webhook.deadline(runtime_deadline)).await,
                _ => text_response(StatusCode::NOT_FOUND, "not found"),
            };
        }
        if self.secret.get().is_none() {
            self.read_stored_secret().await;
        }
        let (parts, body) = request.into_parts();
        let response = self.webhook.handle(copy(&parts, body.clone()), runtime_deadline).await;
        // Refused: the secret may have been replaced in the table since this instance read it.
        if response.status() == StatusCode::FORBIDDEN && self.read_stored_secret().await {
            return self.webhook.handle(copy(&parts, body), runtime_deadline).await;
        }
        response
    }

    /// The first handshake's secret is kept; a later one must offer the same secret, so nobody
    /// can replace it by subscribing again. To change it, preset the new one
    /// (`HYPERCHAT_WEBHOOK_SECRET`) or delete the stored item (`cache#hyperchat#webhook-secret`).
    /// Until the first handshake, whoever sends one first is believed: subscribe right after
    /// deploying, or preset the secret.
    async fn handshake(&self, offered: &str) -> WebhookResponse {
        if offered.is_empty() {
            return text_response(StatusCode::BAD_REQUEST, "empty X-Hook-Secret");
        }
        let known = match &self.preset {
            Some(preset) => Some(preset.clone()),
            None => match self.stored_secret().await {
                Ok(stored) => stored,
                Err(response) => return response,
            },
        };
        match known {
            Some(known) if bool::from(known.expose_secret().as_bytes().ct_eq(offered.as_bytes())) => {}
            Some(_) => {
                tracing::warn!("HyperChat handshake with another secret refused");
                return text_response(StatusCode::FORBIDDEN, "a webhook secret is already set");
            }
            None => {
                let now = self.clock.now();
                let expires_at = Timestamp(now.0.saturating_add(i64::try_from(SECRET_LIFETIME.as_secs()).unwrap_or(i64::MAX)));
                if let Err(error) = self.store.cache_put(SECRET_CACHE_KEY, offered, expires_at).await {
                    tracing::error!(error = %connector_engine::error_chain(&error), "HyperChat webhook secret not stored");
                    return text_response(StatusCode::SERVICE_UNAVAILABLE, "secret not stored; subscribe again");
                }
                tracing::info!("HyperChat webhook subscribed");
            }
        }
        self.secret.set(SecretString::from(offered.to_owned()));
        let mut response = text_response(StatusCode::OK, "");
        if let Ok(value) = HeaderValue::from_str(offered) {
            response.headers_mut().insert("x-hook-secret", value);
        }
        response
    }

    /// Inbenta Messenger's check that the ticket webhook's URL is ours, made when the webhook is
    /// registered (Messenger API "Webhooks" page): an empty `GET` with the webhook's secret in
    /// `X-Hook-Signature` and a random `X-Inbenta-Challenge`, answered 200 with the challenge as
    /// plain text, or the registration fails. Answered only to the configured secret
    /// (`INBENTA_MESSENGER_WEBHOOK_SECRET`, compared in constant time): without it, 403, as a
    /// reply with another secret gets.
    fn ticket_webhook_check(&self, headers: &HeaderMap, challenge: &HeaderValue) -> WebhookResponse {
        let signature = headers.get("x-hook-signature").and_then(|v| v.to_str().ok());
        if !tickets::ticket_secret_matches(&self.ticket_secret, signature) {
            tracing::warn!("Inbenta Messenger webhook check with a wrong or unconfigured secret refused");
            return text_response(StatusCode::FORBIDDEN, "invalid or unconfigured ticket webhook secret");
        }
        let Ok(challenge) = challenge.to_str() else {
            return text_response(StatusCode::BAD_REQUEST, "unreadable X-Inbenta-Challenge");
        };
        tracing::info!("Inbenta Messenger ticket webhook checked");
        text_response(StatusCode::OK, challenge)
    }

    async fn stored_secret(&self) -> Result<Option<SecretString>, WebhookResponse> {
        let now = self.clock.now();
        match self.store.cache_get(SECRET_CACHE_KEY, now).await {
            Ok(stored) => Ok(stored.map(SecretString::from)),
            Err(error) => {
                tracing::error!(error = %connector_engine::error_chain(&error), "HyperChat webhook secret unreadable");
                Err(text_response(StatusCode::SERVICE_UNAVAILABLE, "retry later"))
            }
        }
    }

    /// Reads the stored secret (at most once a minute, never over a preset one); whether it
    /// changed.
    async fn read_stored_secret(&self) -> bool {
        let now = self.clock.now().0;
        let last = self.last_read.load(Ordering::Relaxed);
        if self.preset.is_some() || now.saturating_sub(last) < READ_SECRET_EVERY_SECS {
            return false;
        }
        if self.last_read.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_err() {
            return false;
        }
        let Ok(Some(stored)) = self.stored_secret().await else { return false };
        let changed = self.secret.get().is_none_or(|known| known.expose_secret() != stored.expose_secret());
        self.secret.set(stored);
        changed
    }
}

/// The same request again (`http::Request` is not `Clone`; a webhook needs nothing of its
/// extensions).
fn copy(parts: &http::request::Parts, body: bytes::Bytes) -> WebhookRequest {
    let mut request = http::Request::new(body);
    *request.method_mut() = parts.method.clone();
    *request.uri_mut() = parts.uri.clone();
    *request.version_mut() = parts.version;
    *request.headers_mut() = parts.headers.clone();
    request
}

impl Endpoint for HyperChatEvents {
    fn serve(&self, request: WebhookRequest, runtime_deadline: Option<Instant>) -> impl Future<Output = WebhookResponse> + Send {
        self.handle(request, runtime_deadline)
    }
}
