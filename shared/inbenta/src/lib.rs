//! Inbenta API clients: the Chatbot API (authentication with a shared access token,
//! conversations, messages, tracking, variables, ExtraInfo) as the engine's [`Chatbot`], and
//! HyperChat as its [`LiveChat`](connector_engine::ports::LiveChat); the survey after a chat on
//! the ticketing API as its [`Surveys`](connector_engine::ports::Surveys) ([`ticketing`]).
#![forbid(unsafe_code)]

mod app_data;
mod gateway;
pub mod hyperchat;
pub mod ticketing;
mod token;

use app_data::AppDataCache;
use async_trait::async_trait;
use connector_config::{Config, ConfigError, EnvKey};
use connector_core::store::Cache;
use connector_engine::answer::BotResponse;
use connector_engine::conversation::BotSession;
use connector_engine::ports::{BotInput, Chatbot, ChatbotError, Clock, HistoryLine, TrackingEvent};
use connector_engine::values::ExtraInfo;
use gateway::{Gateway, Product};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
pub use token::AccessToken;
use token::TokenKeeper;
use upstream::{StatusClass, StatusCode, Timeouts, Upstream, UpstreamError};

/// The environment variables of the Inbenta clients and the keys they set.
pub const ENV: &[EnvKey] = &[
    ("INBENTA_AUTH_URL", "api.auth_url"),
    ("INBENTA_API_KEY", "api.key"),
    ("INBENTA_API_SECRET", "api.secret"),
    ("ENVIRONMENT", "environments.current"),
    ("HYPERCHAT_API_URL", "chat.chat.server"),
    ("HYPERCHAT_APP_ID", "chat.chat.appId"),
    ("HYPERCHAT_SECRET", "chat.chat.secret"),
];

/// Tables whose keys are free: `conversation.toml`'s `[default]` is the body of
/// `POST /v1/conversation`, sent as written, so any key the Chatbot API takes belongs there.
pub const OPEN_TABLES: &[&str] = &["conversation.default"];

/// The `api` table: Inbenta credentials and transport.
#[derive(Debug, Clone, Deserialize)]
pub struct ApiSettings {
    #[serde(default)]
    pub key: String,
    #[serde(default = "connector_config::empty_secret")]
    pub secret: SecretString,
    pub auth_url: String,
    /// Per-call timeout; the user gets the `api_timeout` label when it passes.
    pub timeout_ms: u64,
}

impl ApiSettings {
    /// Without credentials the local server answers from the offline demo bot.
    pub fn has_credentials(&self) -> bool {
        !self.key.is_empty() && !self.secret.expose_secret().is_empty()
    }

    /// One of key and secret without the other: a mistake, never a reason to fall back.
    pub fn has_half_credentials(&self) -> bool {
        self.key.is_empty() != self.secret.expose_secret().is_empty()
    }
}

/// What the `conversation` table says about starting a bot conversation.
#[derive(Debug, Clone, Deserialize)]
pub struct ConversationSettings {
    /// Sent as the body of `POST /v1/conversation` (answers, forms, lang), keys as written.
    pub default: Value,
    pub user_type: i64,
    #[serde(default)]
    pub source: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Development,
    Preproduction,
    Production,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Development => "development",
            Self::Preproduction => "preproduction",
            Self::Production => "production",
        }
    }
}

/// `environments`: the deployment stage, from `ENVIRONMENT` (never from the Host header).
#[derive(Debug, Clone, Deserialize)]
pub struct Environments {
    pub current: Environment,
}

/// What the client needs from the configuration.
#[derive(Debug, Clone)]
pub struct InbentaConfig {
    pub api_key: String,
    pub api_secret: SecretString,
    pub auth_url: String,
    pub timeout: Duration,
    /// Body of `POST /v1/conversation` (answers, forms, lang).
    pub conversation: Value,
    pub user_type: i64,
    pub environment: Environment,
    /// `x-inbenta-source`; not sent when empty.
    pub source: String,
}

impl InbentaConfig {
    pub fn from_config(config: &Config) -> Result<Self, ConfigError> {
        let api: ApiSettings = config.section("api")?;
        let conversation: ConversationSettings = config.section("conversation")?;
        let environments: Environments = config.section("environments")?;
        Ok(Self {
            api_key: api.key,
            api_secret: api.secret,
            auth_url: api.auth_url.trim_end_matches('/').to_owned(),
            timeout: Duration::from_millis(api.timeout_ms),
            conversation: conversation.default,
            user_type: conversation.user_type,
            environment: environments.current,
            source: conversation.source,
        })
    }
}

pub struct InbentaClient {
    gateway: Gateway,
    config: InbentaConfig,
    app_data: AppDataCache,
}

impl InbentaClient {
    /// `cache` keeps the access token across cold starts (the DynamoDB cache item).
    pub fn new(config: InbentaConfig, cache: Option<Arc<dyn Cache>>, clock: Arc<dyn Clock>) -> Result<Self, ChatbotError> {
        let upstream = Upstream::new("Inbenta", Timeouts::overall(config.timeout)).map_err(chatbot_error)?;
        let tokens = TokenKeeper::new(cache.clone(), clock.clone(), &config.api_key);
        let app_data = AppDataCache::new(cache, clock, &config.api_key);
        let product = Product { name: "Inbenta", apis: token::CHATBOT_APIS, refreshes: true };
        let gateway = Gateway::new(upstream, &config.api_key, config.api_secret.clone(), &config.auth_url, tokens, product);
        Ok(Self { gateway, config, app_data })
    }
}

/// Maps an HTTP status and JSON body onto the engine's error vocabulary.
fn interpret(status: StatusCode, body: Value) -> Result<Value, ChatbotError> {
    if body.get("message").and_then(Value::as_str) == Some("Endpoint request timed out") {
        return Err(ChatbotError::Timeout);
    }
    if let Some(first) = body.get("errors").and_then(|e| e.get(0)) {
        let message = first.get("message").and_then(Value::as_str).unwrap_or_default().to_owned();
        if message == "Session expired" {
            return Err(ChatbotError::SessionExpired);
        }
        if !status.is_server_error() {
            let code = first.get("code").and_then(Value::as_i64).unwrap_or(i64::from(status.as_u16()));
            return Err(ChatbotError::Rejected { code, message });
        }
    }
    if StatusClass::of(status) == StatusClass::Retryable {
        return Err(ChatbotError::Unavailable { status: status.as_u16() });
    }
    if !status.is_success() {
        let message = body.get("message").and_then(Value::as_str).unwrap_or("request refused").to_owned();
        return Err(ChatbotError::Rejected { code: i64::from(status.as_u16()), message });
    }
    Ok(body)
}

fn chatbot_error(e: UpstreamError) -> ChatbotError {
    if e.is_timeout() { ChatbotError::Timeout } else { ChatbotError::Transport(Box::new(e)) }
}

#[async_trait]
impl Chatbot for InbentaClient {
    async fn start_conversation(&self) -> Result<String, ChatbotError> {
        let config = &self.config;
        let body = self
            .gateway
            .call(|http, token| {
                let mut request = http
                    .request(upstream::Method::POST, format!("{}/v1/conversation", token.chatbot_url))
                    .bearer_auth(token.token.expose_secret())
                    .header("x-inbenta-user-type", config.user_type.to_string())
                    .header("x-inbenta-env", config.environment.as_str())
                    .json(&config.conversation);
                if !config.source.is_empty() {
                    request = request.header("x-inbenta-source", &config.source);
                }
                request
            })
            .await?;
        body.get("sessionToken")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| ChatbotError::Protocol("conversation start without sessionToken".into()))
    }

    async fn send(&self, session: &BotSession, input: &BotInput) -> Result<BotResponse, ChatbotError> {
        let body = self
            .gateway
            .call(|http, token| {
                http.request(upstream::Method::POST, format!("{}/v1/conversation/message", token.chatbot_url))
                    .bearer_auth(token.token.expose_secret())
                    .header("x-inbenta-session", format!("Bearer {}", session.token))
                    .json(input)
            })
            .await?;
        BotResponse::from_json(body).map_err(|e| ChatbotError::Protocol(format!("unreadable answer: {e}")))
    }

    async fn track(&self, session: &BotSession, event: &TrackingEvent) -> Result<(), ChatbotError> {
        self.gateway
            .call(|http, token| {
                http.request(upstream::Method::POST, format!("{}/v1/tracking/events", token.chatbot_url))
                    .bearer_auth(token.token.expose_secret())
                    .header("x-inbenta-session", format!("Bearer {}", session.token))
                    .json(event)
            })
            .await
            .map(drop)
    }

    async fn set_variable(&self, session: &BotSession, name: &str, value: &str) -> Result<(), ChatbotError> {
        self.gateway
            .call(|http, token| {
                http.request(upstream::Method::POST, format!("{}/v1/conversation/variables", token.chatbot_url))
                    .bearer_auth(token.token.expose_secret())
                    .header("x-inbenta-session", format!("Bearer {}", session.token))
                    .json(&json!({ "name": name, "value": value }))
            })
            .await
            .map(drop)
    }

    /// `[{"user":"bot"|"guest"...,"message":"...","datetime":"2020-..."}]`; blank lines dropped.
    async fn history(&self, session: &BotSession) -> Result<Vec<HistoryLine>, ChatbotError> {
        let body = self
            .gateway
            .call(|http, token| {
                http.request(upstream::Method::GET, format!("{}/v1/conversation/history", token.chatbot_url))
                    .bearer_auth(token.token.expose_secret())
                    .header("x-inbenta-session", format!("Bearer {}", session.token))
            })
            .await?;
        let lines = body.as_array().map(Vec::as_slice).unwrap_or_default();
        Ok(lines
            .iter()
            .filter_map(|line| {
                let message = line.get("message").and_then(Value::as_str).map(str::trim).filter(|m| !m.is_empty())?;
                Some(HistoryLine {
                    from_user: line.get("user").and_then(Value::as_str) != Some("bot"),
                    message: message.to_owned(),
                    created: line.get("datetime").and_then(Value::as_str).and_then(unix_seconds).unwrap_or_default(),
                })
            })
            .collect())
    }

    /// Cached for 30 minutes in memory and in the store; a group the instance does not have
    /// (404) reads as no objects and is cached too.
    async fn app_data(&self, group: &str) -> Result<ExtraInfo, ChatbotError> {
        if let Some(cached) = self.app_data.get(group).await {
            return Ok(cached);
        }
        let fetched = self
            .gateway
            .call(|http, token| {
                http.request(upstream::Method::GET, format!("{}/v1/app/data/{}", token.chatbot_url, url_path_segment(group)))
                    .bearer_auth(token.token.expose_secret())
            })
            .await;
        let body = match fetched {
            Ok(body) => body,
            Err(ChatbotError::Rejected { code: 404, .. }) => json!({ "results": [] }),
            Err(error) => return Err(error),
        };
        Ok(self.app_data.put(group, &body).await)
    }
}

/// `2020-05-04 10:11:12` or `2020-05-04T10:11:12Z` (UTC) as Unix seconds.
fn unix_seconds(datetime: &str) -> Option<i64> {
    let (date, time) = datetime.trim().trim_end_matches('Z').split_once([' ', 'T'])?;
    let mut date = date.split('-').map(|p| p.parse::<i64>().ok());
    let (year, month, day) = (date.next()??, date.next()??, date.next()??);
    let mut time = time.split(':').map(|p| p.split('.').next().and_then(|p| p.parse::<i64>().ok()));
    let (hour, minute, second) = (time.next()??, time.next()??, time.next().flatten().unwrap_or(0));
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second)
}

/// A stable name for an API key in cache keys: a digest, so the table never holds the key.
pub(crate) fn key_digest(api_key: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(api_key.as_bytes())[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Percent-encodes everything but unreserved characters (the PHP interpolated values raw).
pub fn url_path_segment(text: &str) -> String {
    text.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { char::from(b).to_string() } else { format!("%{b:02X}") })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_history_datetime_is_read_as_unix_seconds() {
        assert_eq!(unix_seconds("1970-01-01 00:00:00"), Some(0));
        assert_eq!(unix_seconds("2020-05-04T10:11:12Z"), Some(1_588_587_072));
        assert_eq!(unix_seconds("not a date"), None);
    }

    #[test]
    fn a_session_expired_error_is_recognised_whatever_the_status() {
        let body = json!({"errors":[{"message":"Session expired","code":400}]});
        assert!(matches!(interpret(StatusCode::BAD_REQUEST, body.clone()), Err(ChatbotError::SessionExpired)));
        assert!(matches!(interpret(StatusCode::OK, body), Err(ChatbotError::SessionExpired)));
    }

    #[test]
    fn a_gateway_timeout_body_is_a_timeout() {
        let body = json!({"message":"Endpoint request timed out"});
        assert!(matches!(interpret(StatusCode::GATEWAY_TIMEOUT, body), Err(ChatbotError::Timeout)));
    }

    #[test]
    fn server_errors_and_rate_limits_are_retryable_unavailability() {
        for status in [StatusCode::INTERNAL_SERVER_ERROR, StatusCode::BAD_GATEWAY, StatusCode::TOO_MANY_REQUESTS] {
            let error = interpret(status, Value::Null).unwrap_err();
            assert!(matches!(error, ChatbotError::Unavailable { .. }) && error.is_retryable());
        }
    }

    #[test]
    fn an_api_error_list_is_a_rejection_with_its_message() {
        let error = interpret(StatusCode::BAD_REQUEST, json!({"errors":[{"message":"Bad option","code":7}]})).unwrap_err();
        assert!(matches!(error, ChatbotError::Rejected { code: 7, ref message } if message == "Bad option"));
        assert!(!error.is_retryable());
    }
}
