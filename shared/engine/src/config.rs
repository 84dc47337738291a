//! Typed configuration, loaded once per cold start.
//!
//! Layers, later wins: `conf/default/*.toml` < `conf/custom/*.toml` < environment variables.
//! Each file is a namespace named after it (`chat.toml` -> `chat`), as in the PHP connectors, so
//! the seed guides apply word for word. Tables merge key by key; lists are replaced whole (the
//! PHP merged lists by index, which made a one-entry `ratings` override keep the default's tail).

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Environment variables and the configuration key each one sets (DESIGN §4).
pub const ENV_OVERRIDES: &[(&str, &str)] = &[
    ("INBENTA_AUTH_URL", "api.auth_url"),
    ("INBENTA_API_KEY", "api.key"),
    ("INBENTA_API_SECRET", "api.secret"),
    ("TWILIO_API_URL", "twilio.api_url"),
    ("TWILIO_ACCOUNT_SID", "twilio.credentials.sid"),
    ("TWILIO_AUTH_TOKEN", "twilio.credentials.auth_token"),
    ("TWILIO_WEBHOOK_URL", "twilio.webhook_url"),
    ("HYPERCHAT_API_URL", "chat.chat.server"),
    ("HYPERCHAT_APP_ID", "chat.chat.appId"),
    ("HYPERCHAT_SECRET", "chat.chat.secret"),
    ("ENVIRONMENT", "environments.current"),
    ("TABLE_NAME", "state.table_name"),
];

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub api: Api,
    pub chat: ChatNamespace,
    pub conversation: ConversationConfig,
    pub environments: Environments,
    pub twilio: Twilio,
    pub state: State,
    pub custom: Custom,
}

/// `custom.toml`, as in the PHP Twilio connector.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Custom {
    /// Messages go to a human agent only, never to the bot (ExtraInfo `settings.only_chat_mode`
    /// overrides it when present).
    pub only_hyper_chat_mode: bool,
}

/// Inbenta Chatbot API credentials and transport.
#[derive(Debug, Clone, Deserialize)]
pub struct Api {
    #[serde(default)]
    pub key: String,
    #[serde(default = "empty_secret")]
    pub secret: SecretString,
    pub auth_url: String,
    /// Per-call timeout; the user gets the `api_timeout` label when it passes.
    pub timeout_ms: u64,
}

impl Api {
    /// Without credentials the local server answers from the offline demo bot.
    pub fn has_credentials(&self) -> bool {
        use secrecy::ExposeSecret;
        !self.key.is_empty() && !self.secret.expose_secret().is_empty()
    }
}

/// `chat.toml`: its `[chat]` table, as in the PHP `chat.chat.*` keys.
#[derive(Debug, Clone, Deserialize)]
pub struct ChatNamespace {
    pub chat: HyperChat,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HyperChat {
    pub enabled: bool,
    pub version: String,
    #[serde(default)]
    pub app_id: String,
    #[serde(default = "empty_secret")]
    pub secret: SecretString,
    pub room_id: i64,
    #[serde(default)]
    pub lang: String,
    pub source: i64,
    #[serde(default)]
    pub region_server: String,
    #[serde(default)]
    pub server: String,
    #[serde(rename = "server_port")]
    pub server_port: u16,
    pub queue: Queue,
    pub tries_before_escalation: u32,
    pub negative_ratings_before_escalation: u32,
    pub messenger: MessengerTickets,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Queue {
    pub active: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MessengerTickets {
    #[serde(default)]
    pub key: String,
    #[serde(default = "empty_secret")]
    pub secret: SecretString,
    #[serde(default = "empty_secret")]
    pub webhook_secret: SecretString,
}

/// `conversation.toml`.
#[derive(Debug, Clone, Deserialize)]
pub struct ConversationConfig {
    /// Sent as the body of `POST /v1/conversation`.
    pub default: ConversationDefaults,
    pub user_type: i64,
    #[serde(default)]
    pub source: String,
    pub content_ratings: ContentRatings,
    #[serde(default)]
    pub digester: toml::Table,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConversationDefaults {
    pub answers: AnswerOptions,
    pub forms: FormOptions,
    pub lang: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnswerOptions {
    pub side_bubble_attributes: Vec<String>,
    pub answer_attributes: Vec<String>,
    pub max_options: u32,
    pub max_related_contents: u32,
    #[serde(default)]
    pub skip_last_check_question: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FormOptions {
    pub allow_user_to_abandon_form: bool,
    pub error_retries: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ContentRatings {
    pub enabled: bool,
    pub ratings: Vec<Rating>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rating {
    pub id: i64,
    /// A label key (`yes`, `no`) or literal text.
    pub label: String,
    #[serde(default)]
    pub comment: bool,
    #[serde(default)]
    pub is_negative: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
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

/// `environments.toml`: the deployment stage, from `ENVIRONMENT` (never from the Host header).
#[derive(Debug, Clone, Deserialize)]
pub struct Environments {
    pub current: Environment,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Twilio {
    pub api_url: String,
    pub credentials: TwilioCredentials,
    /// The public URL registered in Twilio; signatures are computed over it, never over a URL
    /// rebuilt from the request (API Gateway stages and custom domains change what we see).
    #[serde(default)]
    pub webhook_url: String,
    /// SMS has no MMS outside the US/Canada: send image/video URLs as text by default.
    pub sms_media_as_links: bool,
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TwilioCredentials {
    #[serde(default)]
    pub sid: String,
    #[serde(default = "empty_secret")]
    pub auth_token: SecretString,
}

/// `state.toml`: persistence and concurrency tuning.
#[derive(Debug, Clone, Deserialize)]
pub struct State {
    /// DynamoDB table; unset means the in-memory store.
    #[serde(default)]
    pub table_name: Option<String>,
    /// Idle conversations are forgotten after this long (DynamoDB TTL).
    pub conversation_ttl_secs: u64,
    /// A bot session idle this long is replaced by a new one before sending.
    pub bot_session_idle_secs: u64,
    /// How long one request may hold a conversation before others may take it.
    pub lease_secs: u64,
    /// How long a request waits for a busy conversation before giving up.
    pub lease_wait_ms: u64,
    /// How long provider message ids are remembered for deduplication.
    pub dedupe_ttl_secs: u64,
}

fn empty_secret() -> SecretString {
    SecretString::from(String::new())
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}")]
    Read { path: PathBuf, #[source] source: std::io::Error },
    #[error("{path} is not valid TOML")]
    Parse { path: PathBuf, #[source] source: toml::de::Error },
    #[error("invalid configuration")]
    Invalid(#[source] toml::de::Error),
    #[error("missing configuration folder {0}")]
    MissingDefaults(PathBuf),
}

/// Where configuration comes from; `from_env` reads `CONF_DIR` (default `conf`).
#[derive(Debug, Clone)]
pub struct Sources {
    pub conf_dir: PathBuf,
    /// `(variable, value)` pairs; in production the process environment.
    pub env: Vec<(String, String)>,
}

impl Sources {
    pub fn from_env() -> Self {
        let conf_dir = std::env::var_os("CONF_DIR").map_or_else(|| PathBuf::from("conf"), PathBuf::from);
        Self { conf_dir, env: std::env::vars().collect() }
    }
}

impl Settings {
    pub fn load(sources: &Sources) -> Result<Self, ConfigError> {
        let defaults = sources.conf_dir.join("default");
        if !defaults.is_dir() {
            return Err(ConfigError::MissingDefaults(defaults));
        }
        let mut root = toml::Table::new();
        for layer in [defaults, sources.conf_dir.join("custom")] {
            merge_folder(&mut root, &layer)?;
        }
        for (var, key) in ENV_OVERRIDES {
            // The last occurrence wins, so callers can append overrides.
            if let Some((_, value)) = sources.env.iter().rev().find(|(name, v)| name == var && !v.is_empty()) {
                set_path(&mut root, key, toml::Value::String(value.clone()));
            }
        }
        toml::Value::Table(root).try_into().map_err(ConfigError::Invalid)
    }
}

fn merge_folder(root: &mut toml::Table, folder: &Path) -> Result<(), ConfigError> {
    let Ok(entries) = std::fs::read_dir(folder) else { return Ok(()) };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    for path in files {
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read { path: path.clone(), source })?;
        let table: toml::Table = text.parse().map_err(|source| ConfigError::Parse { path: path.clone(), source })?;
        let namespace = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_owned();
        let slot = root.entry(namespace).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        merge_value(slot, toml::Value::Table(table));
    }
    Ok(())
}

/// Tables merge recursively; anything else (lists included) is replaced.
fn merge_value(base: &mut toml::Value, over: toml::Value) {
    match (base, over) {
        (toml::Value::Table(base), toml::Value::Table(over)) => {
            for (k, v) in over {
                match base.get_mut(&k) {
                    Some(slot) => merge_value(slot, v),
                    None => {
                        base.insert(k, v);
                    }
                }
            }
        }
        (slot, over) => *slot = over,
    }
}

fn set_path(root: &mut toml::Table, dotted: &str, value: toml::Value) {
    let mut parts: Vec<&str> = dotted.split('.').collect();
    let Some(last) = parts.pop() else { return };
    let mut table = root;
    for part in parts {
        let slot = table.entry(part).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !slot.is_table() {
            *slot = toml::Value::Table(toml::Table::new());
        }
        let toml::Value::Table(inner) = slot else { return };
        table = inner;
    }
    table.insert(last.to_owned(), value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_custom_list_replaces_the_default_list_instead_of_merging_by_index() {
        let mut base: toml::Value = "ratings = [1, 2]\nkeep = true".parse::<toml::Table>().unwrap().into();
        merge_value(&mut base, "ratings = [9]".parse::<toml::Table>().unwrap().into());
        assert_eq!(base["ratings"].as_array().unwrap().len(), 1);
        assert_eq!(base["keep"].as_bool(), Some(true));
    }

    #[test]
    fn a_dotted_path_creates_missing_tables() {
        let mut root = toml::Table::new();
        set_path(&mut root, "twilio.credentials.sid", toml::Value::String("AC1".into()));
        assert_eq!(root["twilio"]["credentials"]["sid"].as_str(), Some("AC1"));
    }
}
