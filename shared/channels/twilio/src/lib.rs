//! Twilio Programmable Messaging: SMS and WhatsApp, as a [`Source`] (the inbound webhook) and
//! a [`Sender`] (the Messages API). Owns the `twilio` configuration table.

pub mod client;
pub mod inbound;
pub mod interactive;
pub mod render;
pub mod signature;
pub mod status;

pub use client::{TwilioClient, TwilioError};
pub use inbound::TwilioInbound;

use connector_config::EnvKey;
use connector_core::store::Cache;
use connector_core::{Event, Lookup, Occasion, Refusal, SendError, SendTag, Sender, Source, WebhookRequest, WebhookResponse};
use connector_engine::Reply;
use connector_engine::ports::Clock;
use connector_engine::ports::FileError;
use connector_engine::values::{FileContent, UserFile};
use http::{HeaderValue, StatusCode, header};
use render::{OutboundMessage, RenderOptions, render};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// The environment variables of this channel and the keys they set.
pub const ENV: &[EnvKey] = &[
    ("TWILIO_API_URL", "twilio.api_url"),
    ("TWILIO_ACCOUNT_SID", "twilio.credentials.sid"),
    ("TWILIO_AUTH_TOKEN", "twilio.credentials.auth_token"),
    ("TWILIO_WEBHOOK_URL", "twilio.webhook_url"),
    ("TWILIO_STATUS_CALLBACK_URL", "twilio.status_callback_url"),
    ("TWILIO_CONTENT_API_URL", "twilio.content_api_url"),
];

/// An empty TwiML document: "no reply here", the replies go through the REST API.
pub const EMPTY_TWIML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>";

/// The `twilio` table (`conf/default/twilio.toml`).
#[derive(Debug, Clone, Deserialize)]
pub struct TwilioSettings {
    pub api_url: String,
    pub credentials: Credentials,
    /// The public URL registered in Twilio; signatures are computed over it, never over a URL
    /// rebuilt from the request (API Gateway stages and custom domains change what we see).
    #[serde(default)]
    pub webhook_url: String,
    /// Where Twilio posts each message's later status; empty: `webhook_url` + `/status`.
    #[serde(default)]
    pub status_callback_url: String,
    /// Which messages ask for status callbacks.
    pub status_callbacks: client::StatusCallbacks,
    /// SMS has no MMS outside the US/Canada: send image/video URLs as text by default.
    pub sms_media_as_links: bool,
    /// The Content API, which makes WhatsApp buttons and lists.
    pub content_api_url: String,
    /// WhatsApp options as buttons or a list inside the user's 24-hour window; off: numbered
    /// text everywhere.
    pub interactive: bool,
    /// The label of the button that opens a list of options (WhatsApp shows at most 20
    /// characters).
    pub list_button: String,
    /// Per Messages API call.
    pub timeout_ms: u64,
    /// The webhook is answered within this (Twilio gives up after 15 s).
    pub deadline_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Credentials {
    #[serde(default)]
    pub sid: String,
    #[serde(default = "connector_config::empty_secret")]
    pub auth_token: SecretString,
}

pub use connector_core::SetupError;

impl TwilioSettings {
    /// The status callback URL, as registered with every message and checked in signatures.
    pub fn status_url(&self) -> String {
        match self.status_callback_url.trim() {
            "" => format!("{}/status", self.webhook_url.trim_end_matches('/')),
            url => url.to_owned(),
        }
    }
}

/// SMS or WhatsApp, told by the address prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    Sms,
    WhatsApp,
}

impl Network {
    pub fn of(address: &str) -> Self {
        if address.starts_with("whatsapp:") { Self::WhatsApp } else { Self::Sms }
    }
}

/// Where replies go: from the company's number to the user's, each with its `whatsapp:` prefix
/// on WhatsApp.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TwilioAddress {
    pub company: String,
    pub user: String,
}

/// The inbound webhook.
pub struct TwilioSource {
    auth_token: SecretString,
    account_sid: String,
    webhook_url: String,
    status_url: String,
    budget: Duration,
}

/// The Messages API, for replies.
pub struct TwilioSender {
    client: TwilioClient,
    sms_media_as_links: bool,
    /// The list button's label when WhatsApp options are interactive.
    list_button: Option<String>,
    /// Where created contents are remembered, so each is created once.
    contents: Option<ContentCache>,
}

/// Content SIDs by the content's key, in the state store's cache, and in memory in front of
/// it: a key always names the same content, so a warm function asks the store once per content.
struct ContentCache {
    store: Arc<dyn Cache>,
    clock: Arc<dyn Clock>,
    language: String,
    known: std::sync::Mutex<std::collections::HashMap<String, String>>,
}

/// Contents a function remembers in memory (a knowledge base's questions are a few hundred at
/// most; past this, the memory starts again).
const MAX_CONTENTS_IN_MEMORY: usize = 1024;

impl ContentCache {
    fn known(&self, key: &str) -> Option<String> {
        self.known.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(key).cloned()
    }

    fn remember(&self, key: &str, sid: &str) {
        let mut known = self.known.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if known.len() >= MAX_CONTENTS_IN_MEMORY {
            known.clear();
        }
        known.insert(key.to_owned(), sid.to_owned());
    }
}

/// How long a created content is remembered (Twilio keeps contents until deleted).
const CONTENT_TTL: Duration = Duration::from_secs(90 * 86_400);

/// WhatsApp's customer-service window: free-form (and interactive) messages only within it.
const WHATSAPP_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// Builds both halves. Refuses to run without the auth token, account and public URL: an empty
/// token would make every signature computed with an empty key pass.
pub fn setup(settings: &TwilioSettings) -> Result<(TwilioSource, TwilioSender), SetupError> {
    if settings.credentials.auth_token.expose_secret().is_empty() {
        return Err(SetupError::Missing("TWILIO_AUTH_TOKEN"));
    }
    if settings.credentials.sid.is_empty() {
        return Err(SetupError::Missing("TWILIO_ACCOUNT_SID"));
    }
    if settings.webhook_url.is_empty() {
        return Err(SetupError::Missing("TWILIO_WEBHOOK_URL"));
    }
    let status_url = settings.status_url();
    let channel = TwilioSource {
        auth_token: settings.credentials.auth_token.clone(),
        account_sid: settings.credentials.sid.clone(),
        webhook_url: settings.webhook_url.clone(),
        status_url: status_url.clone(),
        budget: Duration::from_millis(settings.deadline_ms),
    };
    let client = TwilioClient::new(
        &client::Endpoints {
            api: &settings.api_url,
            content: &settings.content_api_url,
            status_callback: status_url,
            status_callbacks: settings.status_callbacks,
        },
        &settings.credentials.sid,
        settings.credentials.auth_token.clone(),
        Duration::from_millis(settings.timeout_ms),
    )?;
    let list_button = settings.interactive.then(|| settings.list_button.clone());
    Ok((channel, TwilioSender { client, sms_media_as_links: settings.sms_media_as_links, list_button, contents: None }))
}

/// What a Twilio request is: a user's message, or a status callback of a message of ours.
pub enum TwilioRequest {
    Message(Vec<(String, String)>),
    /// `from_agent`: the callback URL says the message was an agent's.
    Status {
        params: Vec<(String, String)>,
        from_agent: bool,
    },
}

/// The query that marks an agent's message on its status callback URL.
pub(crate) const AGENT_QUERY: &str = "agent=1";

impl TwilioSource {
    /// A request to the status route (`…/status`), whose URL is the status callback's.
    fn is_status(request: &WebhookRequest) -> bool {
        request.uri().path().trim_end_matches('/').ends_with("/status")
    }
}

impl TwilioSender {
    /// Sends WhatsApp options as buttons or lists, creating their contents through the Content
    /// API and remembering them in `store`'s cache.
    pub fn with_contents(mut self, store: Arc<dyn Cache>, clock: Arc<dyn Clock>, language: &str) -> Self {
        self.contents = Some(ContentCache { store, clock, language: language.to_owned(), known: Default::default() });
        self
    }

    /// The content SID of these buttons or list, created once; `None` when it cannot be had
    /// now, and the numbered text goes instead.
    async fn content_sid(&self, interactive: &interactive::Interactive, fallback: &str, deadline: Instant) -> Option<String> {
        let cache = self.contents.as_ref()?;
        let types = interactive.types(fallback);
        let key = format!("twilio-content#{}", interactive::content_key(&types, &cache.language));
        if let Some(sid) = cache.known(&key) {
            return Some(sid);
        }
        let now = cache.clock.now();
        match tokio::time::timeout_at(deadline, cache.store.cache_get(&key, now)).await {
            Ok(Ok(Some(sid))) => {
                cache.remember(&key, &sid);
                return Some(sid);
            }
            Ok(Ok(None)) => {}
            Ok(Err(error)) => {
                tracing::warn!(error = %connector_engine::error_chain(&error), "content cache unreadable: creating the content")
            }
            Err(_) => tracing::warn!("content cache not read in time: creating the content"),
        }
        let sid = match self.client.create_content(&types, &cache.language, &key, deadline).await {
            Ok(sid) => sid,
            Err(error) => {
                tracing::warn!(error = %connector_engine::error_chain(&error), "WhatsApp buttons could not be made: the options go as numbered text");
                return None;
            }
        };
        cache.remember(&key, &sid);
        if let Ok(Err(error)) = tokio::time::timeout_at(deadline, cache.store.cache_put(&key, &sid, now.plus(CONTENT_TTL))).await {
            tracing::warn!(error = %connector_engine::error_chain(&error), "content not remembered: it is made again next time");
        }
        Some(sid)
    }
}

impl Source for TwilioSource {
    type Verified = TwilioRequest;

    fn name(&self) -> &'static str {
        "twilio"
    }

    fn budget(&self) -> Duration {
        self.budget
    }

    /// Content type, signature, then account, in that order.
    fn authenticate(&self, request: &WebhookRequest) -> Result<Self::Verified, Refusal> {
        let content_type = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
        if !content_type.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded") {
            return Err(Refusal::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "expected application/x-www-form-urlencoded"));
        }
        let Some(signature) = request.headers().get("x-twilio-signature").and_then(|v| v.to_str().ok()) else {
            return Err(Refusal::forbidden("missing X-Twilio-Signature"));
        };
        let Ok(params) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(request.body()) else {
            return Err(Refusal::bad_request("body is not a form"));
        };
        // Twilio signs the URL it called: the status callback's carries the query we gave it.
        let status = Self::is_status(request);
        let query = request.uri().query().filter(|q| !q.is_empty());
        let url = match (status, query) {
            (false, _) => self.webhook_url.clone(),
            (true, None) => self.status_url.clone(),
            (true, Some(query)) => format!("{}?{query}", self.status_url),
        };
        if !signature::is_valid(self.auth_token.expose_secret().as_bytes(), &url, &params, signature) {
            return Err(Refusal::forbidden("invalid X-Twilio-Signature"));
        }
        // Twilio always names the account; another account's webhook (a subaccount, a token
        // shared by mistake) is not ours to answer.
        match params.iter().find(|(k, _)| k == "AccountSid").map(|(_, v)| v.as_str()) {
            None | Some("") => Err(Refusal::bad_request("missing AccountSid")),
            Some(account) if account != self.account_sid => Err(Refusal::forbidden("webhook for another Twilio account")),
            Some(_) if status => Ok(TwilioRequest::Status { params, from_agent: query == Some(AGENT_QUERY) }),
            Some(_) => Ok(TwilioRequest::Message(params)),
        }
    }

    fn parse(&self, verified: Self::Verified) -> Result<Vec<Event>, Refusal> {
        match verified {
            TwilioRequest::Message(params) => {
                let message = TwilioInbound::from_params(&params).map_err(|error| Refusal::bad_request(error.reason()))?;
                Ok(vec![message.to_event()])
            }
            TwilioRequest::Status { params, from_agent } => {
                let status = status::StatusReport::from_params(&params).map_err(|error| Refusal::bad_request(error.reason()))?;
                Ok(status.to_event(from_agent).into_iter().collect())
            }
        }
    }

    fn answer(&self, status: StatusCode) -> WebhookResponse {
        let mut response = http::Response::new(EMPTY_TWIML.into());
        *response.status_mut() = status;
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
        response
    }
}

impl Sender for TwilioSender {
    const CHANNEL: &'static str = "twilio";
    const GROUP: &'static str = "twilio";
    type Address = TwilioAddress;
    type Message = OutboundMessage;

    fn render(&self, to: &TwilioAddress, replies: &[Reply], occasion: &Occasion) -> Vec<OutboundMessage> {
        let network = Network::of(&to.user);
        // Interactive messages are WhatsApp's, and free-form: only within its window.
        let in_window = self.reply_window(to).is_some_and(|window| occasion.since_user_wrote < window);
        let interactive = self.list_button.clone().filter(|_| in_window && self.contents.is_some());
        render(replies, &RenderOptions { network, sms_media_as_links: self.sms_media_as_links, interactive })
    }

    async fn send(&self, to: &TwilioAddress, message: &OutboundMessage, tag: &SendTag, deadline: Instant) -> Result<(), SendError> {
        let content = match &message.interactive {
            Some(interactive) => self.content_sid(interactive, &message.body, deadline).await,
            None => None,
        };
        self.client.send(&to.company, &to.user, message, content.as_deref(), tag.from_agent, deadline).await
    }

    /// Twilio lists the messages between two addresses: a lost answer is settled by asking.
    fn can_look_up(&self, _to: &TwilioAddress) -> bool {
        true
    }

    async fn look_up(&self, to: &TwilioAddress, message: &OutboundMessage, tag: &SendTag, deadline: Instant) -> Result<Lookup, SendError> {
        let found = self.client.has_message(&to.company, &to.user, message, tag.at.0, deadline).await?;
        Ok(if found { Lookup::Found } else { Lookup::Absent })
    }

    async fn fetch_file(&self, file: &UserFile, limit: u64, deadline: Instant) -> Result<FileContent, FileError> {
        self.client.fetch_file(file, limit, deadline).await
    }

    /// WhatsApp delivers free-form messages only within 24 hours of the user's last message.
    fn reply_window(&self, to: &TwilioAddress) -> Option<Duration> {
        (Network::of(&to.user) == Network::WhatsApp).then_some(WHATSAPP_WINDOW)
    }
}
