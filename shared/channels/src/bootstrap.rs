//! Building the long-lived parts once per cold start, from the configuration, the same way for
//! every Lambda function and for `connector-local`.

use crate::twilio::webhook::MissingSetting;
use crate::twilio::{TwilioClient, TwilioWebhook};
use connector_engine::config::{ConfigError, Settings, Sources};
use connector_engine::labels::{Labels, LabelsError};
use connector_engine::pipeline::{Pipeline, Timing};
use connector_engine::ports::{Chatbot, ChatbotError, Clock, LiveChat, LiveChatError, NoLiveChat, SendError, StateStore, SystemClock};
use connector_engine::step::{EscalationPolicy, Policy};
use inbenta::hyperchat::{HyperChatClient, HyperChatConfig};
use inbenta::{InbentaClient, InbentaConfig};
use state_store::{DynamoStore, InMemoryStore};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Labels(#[from] LabelsError),
    #[error(transparent)]
    Missing(#[from] MissingSetting),
    #[error("cannot build the chatbot client")]
    Chatbot(#[source] ChatbotError),
    #[error("cannot build the channel client")]
    Channel(#[source] SendError),
    #[error("cannot build the live chat client")]
    LiveChat(#[source] LiveChatError),
}

/// What every entry point shares: configuration, labels, state store and clock.
#[derive(Clone)]
pub struct Foundation {
    pub settings: Settings,
    pub labels: Arc<Labels>,
    pub store: Arc<dyn StateStore>,
    pub clock: Arc<dyn Clock>,
}

impl Foundation {
    /// Reads `CONF_DIR`, `LANG_DIR` and the environment.
    pub async fn from_env() -> Result<Self, BootstrapError> {
        Self::load(&Sources::from_env(), &lang_dir()).await
    }

    /// DynamoDB when `TABLE_NAME` is set, else the in-memory store (one process only).
    pub async fn load(sources: &Sources, lang_dir: &std::path::Path) -> Result<Self, BootstrapError> {
        let settings = Settings::load(sources)?;
        let labels = Labels::load(lang_dir, &settings.conversation.default.lang)?;
        let store: Arc<dyn StateStore> = match settings.state.table_name.as_deref().filter(|t| !t.is_empty()) {
            Some(table) => Arc::new(DynamoStore::from_env(table).await),
            None => Arc::new(InMemoryStore::default()),
        };
        Ok(Self { settings, labels: Arc::new(labels), store, clock: Arc::new(SystemClock) })
    }

    /// The Inbenta Chatbot API client, sharing its access token through the store's cache.
    pub fn inbenta(&self) -> Result<Arc<dyn Chatbot>, BootstrapError> {
        if !self.settings.api.has_credentials() {
            return Err(MissingSetting("INBENTA_API_KEY and INBENTA_API_SECRET").into());
        }
        let client = InbentaClient::new(InbentaConfig::from_settings(&self.settings), Some(self.store.clone()), self.clock.clone())
            .map_err(BootstrapError::Chatbot)?;
        Ok(Arc::new(client))
    }

    /// HyperChat when `chat.enabled` and a server are configured; otherwise nobody is available
    /// and nothing escalates.
    pub fn live_chat(&self) -> Result<Arc<dyn LiveChat>, BootstrapError> {
        let chat = &self.settings.chat.chat;
        if !chat.enabled || chat.server.is_empty() {
            return Ok(Arc::new(NoLiveChat));
        }
        let config = HyperChatConfig::from_settings(chat, Duration::from_millis(self.settings.api.timeout_ms));
        Ok(Arc::new(HyperChatClient::new(config).map_err(BootstrapError::LiveChat)?))
    }

    pub fn pipeline(&self, chatbot: Arc<dyn Chatbot>, live_chat: Arc<dyn LiveChat>) -> Pipeline {
        let settings = &self.settings;
        let (state, chat) = (&settings.state, &settings.chat.chat);
        Pipeline {
            chatbot,
            live_chat,
            store: self.store.clone(),
            clock: self.clock.clone(),
            labels: self.labels.clone(),
            lang: settings.conversation.default.lang.clone(),
            policy: Policy {
                bot_session_idle_secs: i64::try_from(state.bot_session_idle_secs).unwrap_or(i64::MAX),
                ratings: settings.conversation.content_ratings.clone(),
                escalation: EscalationPolicy {
                    enabled: chat.enabled,
                    tries_before_escalation: chat.tries_before_escalation,
                    negative_ratings_before_escalation: chat.negative_ratings_before_escalation,
                },
            },
            only_chat_mode: settings.custom.only_hyper_chat_mode,
            timing: Timing {
                conversation_ttl: Duration::from_secs(state.conversation_ttl_secs),
                lease: Duration::from_secs(state.lease_secs),
                lease_wait: Duration::from_millis(state.lease_wait_ms),
                dedupe_ttl: Duration::from_secs(state.dedupe_ttl_secs),
            },
        }
    }

    pub fn twilio_webhook(&self, pipeline: Arc<Pipeline>) -> Result<TwilioWebhook, BootstrapError> {
        let twilio = &self.settings.twilio;
        let client = TwilioClient::new(
            &twilio.api_url,
            &twilio.credentials.sid,
            twilio.credentials.auth_token.clone(),
            Duration::from_millis(twilio.timeout_ms),
        )
        .map_err(BootstrapError::Channel)?;
        Ok(TwilioWebhook::new(
            pipeline,
            Arc::new(client),
            twilio.credentials.auth_token.clone(),
            twilio.webhook_url.clone(),
            twilio.sms_media_as_links,
        )?)
    }
}

fn lang_dir() -> PathBuf {
    std::env::var_os("LANG_DIR").map_or_else(|| PathBuf::from("lang"), PathBuf::from)
}
