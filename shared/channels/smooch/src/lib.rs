//! Smooch / Sunshine Conversations as a [`Source`] (the webhook, v2 events and v1.1
//! triggers alike) and a [`Sender`] (the messages API, v2 or v1.1). One Smooch app serves
//! every channel it connects, so this one function answers Messenger, WhatsApp, Telegram and
//! web users. Owns the `smooch` configuration table.

pub mod client;
pub mod inbound;
pub mod render;

pub use client::{ApiVersion, AppKey, SmoochClient, SmoochError};

use connector_config::EnvKey;
use connector_core::credentials::ChannelCredentials;
use connector_core::{Event, Lookup, Occasion, Refusal, SendError, SendTag, Sender, Source, WebhookRequest, WebhookResponse};
use connector_engine::Reply;
use connector_engine::ports::{Chatbot, FileError};
use connector_engine::values::{ExtraInfo, FileContent, UserFile};
use http::StatusCode;
use render::SmoochMessage;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;
use tokio::time::Instant;

/// The environment variables of this channel and the keys they set.
pub const ENV: &[EnvKey] = &[
    ("SMOOCH_API_URL", "smooch.api_url"),
    ("SMOOCH_API_VERSION", "smooch.api_version"),
    ("SMOOCH_APP_ID", "smooch.app_id"),
    ("SMOOCH_KEY_ID", "smooch.key_id"),
    ("SMOOCH_SECRET", "smooch.secret"),
    ("SMOOCH_SWITCHBOARD_INTEGRATION", "smooch.switchboard_integration"),
    ("SMOOCH_WEBHOOK_SECRET", "smooch.webhook_secret"),
];

/// The `smooch` table (`conf/default/smooch.toml`).
#[derive(Debug, Clone, Deserialize)]
pub struct SmoochSettings {
    pub api_url: String,
    pub api_version: ApiVersion,
    /// When set, webhooks of other apps are refused.
    #[serde(default)]
    pub app_id: String,
    /// The configured API key, used when ExtraInfo has none for this environment.
    #[serde(default)]
    pub key_id: String,
    #[serde(default)]
    pub secret: Option<SecretString>,
    #[serde(default)]
    pub webhook_secret: Option<SecretString>,
    /// Our switchboard integration (its integration id, or the switchboard integration's id or
    /// name): the bot answers a v2 conversation only while no integration or this one holds it
    /// (see [`inbound::Switchboard`]).
    #[serde(default)]
    pub switchboard_integration: String,
    pub timeout_ms: u64,
    pub deadline_ms: u64,
}

pub use connector_core::SetupError;

/// Where replies go: the app, the user (v1.1's appUser, v2's user: the same id) and, when the
/// webhook named it, the v2 conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmoochAddress {
    pub app: String,
    pub user: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<String>,
}

/// The webhook.
pub struct SmoochSource {
    webhook_secret: SecretString,
    app_id: String,
    switchboard: inbound::Switchboard,
    budget: Duration,
}

/// The messages API, for replies.
pub struct SmoochSender {
    client: SmoochClient,
    keys: ChannelCredentials<AppKey>,
}

/// Builds both halves. Refuses to run without the webhook secret: without it anybody could
/// speak for any Smooch user.
///
/// `extra_info`: the chatbot whose ExtraInfo group `smooch` may hold `app_tokens` per
/// environment; `environment` picks the entry.
pub fn setup(
    settings: &SmoochSettings,
    extra_info: Option<Arc<dyn Chatbot>>,
    environment: &str,
) -> Result<(SmoochSource, SmoochSender), SetupError> {
    let webhook_secret = settings.webhook_secret.clone().filter(|s| !s.expose_secret().is_empty());
    let Some(webhook_secret) = webhook_secret else {
        return Err(SetupError::Missing("SMOOCH_WEBHOOK_SECRET"));
    };
    let configured = match &settings.secret {
        Some(secret) if !settings.key_id.is_empty() && !secret.expose_secret().is_empty() => {
            Some(AppKey { id: settings.key_id.clone(), secret: secret.clone() })
        }
        _ => None,
    };
    if configured.is_none() && extra_info.is_none() {
        return Err(SetupError::Missing("SMOOCH_KEY_ID and SMOOCH_SECRET (or ExtraInfo smooch/app_tokens)"));
    }
    let channel = SmoochSource {
        webhook_secret,
        app_id: settings.app_id.clone(),
        switchboard: inbound::Switchboard::new(&settings.switchboard_integration),
        budget: Duration::from_millis(settings.deadline_ms),
    };
    let client = SmoochClient::new(&settings.api_url, settings.api_version, Duration::from_millis(settings.timeout_ms))?;
    let keys = ChannelCredentials::new(extra_info, SmoochSender::GROUP, environment, app_key_of, configured);
    Ok((channel, SmoochSender { client, keys }))
}

/// The app key of `environment` in ExtraInfo `app_tokens`.
pub fn app_key_of(extra_info: &ExtraInfo, environment: &str) -> Option<AppKey> {
    let token = extra_info.app_token(environment)?;
    Some(AppKey { id: token.key.clone(), secret: SecretString::from(token.secret.clone()) })
}

impl Source for SmoochSource {
    type Verified = inbound::Payload;

    fn name(&self) -> &'static str {
        "smooch"
    }

    fn budget(&self) -> Duration {
        self.budget
    }

    /// The shared secret first, then the body (its envelope read, its events only split
    /// apart: see [`inbound::Payload`]), then the app.
    fn authenticate(&self, request: &WebhookRequest) -> Result<inbound::Payload, Refusal> {
        let Some(key) = request.headers().get("x-api-key") else {
            return Err(Refusal::forbidden("missing X-API-Key"));
        };
        if !bool::from(key.as_bytes().ct_eq(self.webhook_secret.expose_secret().as_bytes())) {
            return Err(Refusal::forbidden("invalid X-API-Key"));
        }
        let body = inbound::Payload::read(request.body()).map_err(|error| Refusal::bad_request(error.reason()))?;
        match body.app_id() {
            None => Err(Refusal::bad_request("missing app id")),
            Some(app) if !self.app_id.is_empty() && app != self.app_id => Err(Refusal::forbidden("webhook for another Smooch app")),
            Some(_) => Ok(body),
        }
    }

    /// Every readable event; one that cannot be read is logged and skipped, never the batch.
    /// Messages of conversations another switchboard integration holds are no events.
    fn parse(&self, body: inbound::Payload) -> Result<Vec<Event>, Refusal> {
        inbound::events(&body, &self.switchboard).map_err(|error| Refusal::bad_request(error.reason()))
    }

    fn answer(&self, status: StatusCode) -> WebhookResponse {
        // Smooch reads nothing but the status.
        connector_core::text_response(status, if status.is_success() { "" } else { "not handled" })
    }
}

impl Sender for SmoochSender {
    const CHANNEL: &'static str = "smooch";
    const GROUP: &'static str = "smooch";
    type Address = SmoochAddress;
    type Message = SmoochMessage;

    fn render(&self, _to: &SmoochAddress, replies: &[Reply], _occasion: &Occasion) -> Vec<SmoochMessage> {
        render::render(replies)
    }

    async fn send(&self, to: &SmoochAddress, message: &SmoochMessage, tag: &SendTag, deadline: Instant) -> Result<(), SendError> {
        let key = self.key(deadline).await?;
        self.client.send(&key, to, message, &tag.id, deadline).await
    }

    /// Sunshine v2 lists a conversation's messages with the metadata we gave them.
    fn can_look_up(&self, to: &SmoochAddress) -> bool {
        self.client.lists_messages(to)
    }

    async fn look_up(&self, to: &SmoochAddress, _message: &SmoochMessage, tag: &SendTag, deadline: Instant) -> Result<Lookup, SendError> {
        let key = self.key(deadline).await?;
        let found = self.client.has_message(&key, to, &tag.id, deadline).await?;
        Ok(if found { Lookup::Found } else { Lookup::Absent })
    }

    async fn typing(&self, to: &SmoochAddress, deadline: Instant) -> Result<(), SendError> {
        let key = self.key(deadline).await?;
        self.client.typing(&key, to, deadline).await
    }

    async fn display_name(&self, to: &SmoochAddress, deadline: Instant) -> Option<String> {
        let key = self.key(deadline).await.ok()?;
        self.client.display_name(&key, to, deadline).await
    }

    /// Apps with private attachments serve users' files only to the app's credentials: the key is
    /// looked up for a file on the API's own origin only, and a file fetched without one when the
    /// environment has none (a public file still arrives; a private one is refused by Smooch).
    async fn fetch_file(&self, file: &UserFile, limit: u64, deadline: Instant) -> Result<FileContent, FileError> {
        let key = if self.client.is_api_origin(&file.url) { self.keys.get(deadline).await } else { None };
        self.client.fetch_file(file, key.as_ref(), limit, deadline).await
    }
}

impl SmoochSender {
    async fn key(&self, deadline: Instant) -> Result<AppKey, SendError> {
        self.keys.get(deadline).await.ok_or_else(|| {
            tracing::error!("no Smooch API key for this environment: set ExtraInfo smooch/app_tokens or SMOOCH_KEY_ID and SMOOCH_SECRET");
            SendError::NotConfigured("no Smooch API key for this environment")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector_engine::values::AppToken;
    use std::collections::HashMap;

    /// Reading ExtraInfo's body is the Inbenta client's (its `app_data` tests).
    #[test]
    fn the_app_key_of_the_environment_is_taken_from_extra_info() {
        let token = |key: &str, secret: &str| AppToken { key: key.into(), secret: secret.into() };
        let app_tokens =
            HashMap::from([("development".into(), token("app_dev", "dev-secret")), ("production".into(), token("app_prod", "s"))]);
        let extra_info = ExtraInfo { app_tokens, ..ExtraInfo::default() };
        let key = app_key_of(&extra_info, "development").unwrap();
        assert_eq!((key.id.as_str(), key.secret.expose_secret()), ("app_dev", "dev-secret"));
        assert_eq!(app_key_of(&extra_info, "production").unwrap().id, "app_prod");
        assert!(app_key_of(&extra_info, "preproduction").is_none());
        assert!(app_key_of(&ExtraInfo::default(), "production").is_none());
    }
}
