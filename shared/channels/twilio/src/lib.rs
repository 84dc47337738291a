//! Twilio Programmable Messaging: SMS and WhatsApp, as a [`Channel`] (the inbound webhook) and
//! a [`Sender`] (the Messages API). Owns the `twilio` configuration table.

pub mod client;
pub mod inbound;
pub mod render;
pub mod signature;

pub use client::{TwilioClient, TwilioError};
pub use inbound::TwilioInbound;

use connector_config::EnvKey;
use connector_core::{Channel, Event, Occasion, Refusal, SendError, Sender, WebhookRequest, WebhookResponse};
use connector_engine::Reply;
use connector_engine::ports::{FileContent, FileError, UserFile};
use http::{HeaderValue, StatusCode, header};
use render::{OutboundMessage, RenderOptions, render};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::time::Instant;

/// The environment variables of this channel and the keys they set.
pub const ENV: &[EnvKey] = &[
    ("TWILIO_API_URL", "twilio.api_url"),
    ("TWILIO_ACCOUNT_SID", "twilio.credentials.sid"),
    ("TWILIO_AUTH_TOKEN", "twilio.credentials.auth_token"),
    ("TWILIO_WEBHOOK_URL", "twilio.webhook_url"),
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
    /// SMS has no MMS outside the US/Canada: send image/video URLs as text by default.
    pub sms_media_as_links: bool,
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
pub struct TwilioChannel {
    auth_token: SecretString,
    account_sid: String,
    webhook_url: String,
    budget: Duration,
}

/// The Messages API, for replies.
pub struct TwilioSender {
    client: TwilioClient,
    sms_media_as_links: bool,
}

/// Builds both halves. Refuses to run without the auth token, account and public URL: an empty
/// token would make every signature computed with an empty key pass.
pub fn setup(settings: &TwilioSettings) -> Result<(TwilioChannel, TwilioSender), SetupError> {
    if settings.credentials.auth_token.expose_secret().is_empty() {
        return Err(SetupError::Missing("TWILIO_AUTH_TOKEN"));
    }
    if settings.credentials.sid.is_empty() {
        return Err(SetupError::Missing("TWILIO_ACCOUNT_SID"));
    }
    if settings.webhook_url.is_empty() {
        return Err(SetupError::Missing("TWILIO_WEBHOOK_URL"));
    }
    let channel = TwilioChannel {
        auth_token: settings.credentials.auth_token.clone(),
        account_sid: settings.credentials.sid.clone(),
        webhook_url: settings.webhook_url.clone(),
        budget: Duration::from_millis(settings.deadline_ms),
    };
    let client = TwilioClient::new(
        &settings.api_url,
        &settings.credentials.sid,
        settings.credentials.auth_token.clone(),
        Duration::from_millis(settings.timeout_ms),
    )?;
    Ok((channel, TwilioSender { client, sms_media_as_links: settings.sms_media_as_links }))
}

impl Channel for TwilioChannel {
    type Verified = Vec<(String, String)>;

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
        if !signature::is_valid(self.auth_token.expose_secret().as_bytes(), &self.webhook_url, &params, signature) {
            return Err(Refusal::forbidden("invalid X-Twilio-Signature"));
        }
        // Twilio always names the account; another account's webhook (a subaccount, a token
        // shared by mistake) is not ours to answer.
        match params.iter().find(|(k, _)| k == "AccountSid").map(|(_, v)| v.as_str()) {
            None | Some("") => Err(Refusal::bad_request("missing AccountSid")),
            Some(account) if account != self.account_sid => Err(Refusal::forbidden("webhook for another Twilio account")),
            Some(_) => Ok(params),
        }
    }

    fn parse(&self, params: Self::Verified) -> Result<Vec<Event>, Refusal> {
        let message = TwilioInbound::from_params(&params).map_err(|error| Refusal::bad_request(error.reason()))?;
        Ok(vec![message.to_event()])
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

    fn render(&self, to: &TwilioAddress, replies: &[Reply], _occasion: &Occasion) -> Vec<OutboundMessage> {
        render(replies, &RenderOptions { network: Network::of(&to.user), sms_media_as_links: self.sms_media_as_links })
    }

    async fn send(&self, to: &TwilioAddress, message: &OutboundMessage, deadline: Instant) -> Result<(), SendError> {
        self.client.send(&to.company, &to.user, message, deadline).await
    }

    async fn fetch_file(&self, file: &UserFile, limit: u64, deadline: Instant) -> Result<FileContent, FileError> {
        self.client.fetch_file(file, limit, deadline).await
    }

    /// WhatsApp delivers free-form messages only within 24 hours of the user's last message.
    fn reply_window(&self, to: &TwilioAddress) -> Option<Duration> {
        (Network::of(&to.user) == Network::WhatsApp).then_some(Duration::from_secs(24 * 3600))
    }
}
