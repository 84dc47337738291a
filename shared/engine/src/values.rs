//! The values the engine, its ports and the store share: time, message ids, chats, files,
//! ExtraInfo. Plain data with no behaviour beyond formatting and look-ups; every other module may
//! use them, they use none of the engine's.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::Duration;

/// Unix time in seconds: the unit of DynamoDB TTL, bot session and lease expiry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn plus(self, d: Duration) -> Self {
        Self(self.0.saturating_add(i64::try_from(d.as_secs()).unwrap_or(i64::MAX)))
    }

    pub fn seconds_since(self, earlier: Timestamp) -> i64 {
        self.0.saturating_sub(earlier.0)
    }
}

/// A provider's message or event id, namespaced by its source (`twilio#SM...`): the dedupe key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MessageId(String);

impl MessageId {
    pub fn new(source: &str, id: &str) -> Self {
        Self(format!("{source}#{id}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for MessageId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A chat as the connector addresses it: the chat, and the HyperChat user who is our end user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatRef {
    pub chat_id: String,
    pub user_id: String,
}

/// A file the user sent, as their channel names it: fetched only when an agent is to get it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserFile {
    pub url: String,
    /// The media type the channel announced, if any.
    pub media_type: Option<String>,
    /// Its name, when the channel gives one.
    pub name: Option<String>,
}

/// A file's content, ready to pass on.
#[derive(Clone, PartialEq, Eq)]
pub struct FileContent {
    pub name: String,
    pub media_type: String,
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for FileContent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileContent")
            .field("name", &self.name)
            .field("media_type", &self.media_type)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

/// `10 MB`, `512 KB`: sizes as people read them (decimal units, as channels state their limits).
pub fn human_size(bytes: u64) -> String {
    match bytes {
        0..1_000 => format!("{bytes} bytes"),
        1_000..1_000_000 => format!("{} KB", bytes / 1_000),
        _ => format!("{} MB", (bytes as f64 / 1e6 * 10.0).round() / 10.0),
    }
}

/// A channel group's ExtraInfo (`GET /v1/app/data/<group>`): the per-instance settings
/// operators edit in Backstage, as the connector reads them. The chatbot adapter reads Inbenta's
/// body leniently: what it cannot read is absent, and the label files and the configuration
/// apply instead.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ExtraInfo {
    /// `translations`: by language, label keys to the texts that replace the `lang/` files' ones.
    pub translations: HashMap<String, HashMap<String, String>>,
    /// `settings.only_chat_mode`; when present it wins over the configuration.
    pub only_chat_mode: Option<bool>,
    /// Smooch's `app_tokens`: by environment, the app key to call Smooch with.
    pub app_tokens: HashMap<String, AppToken>,
    /// Messenger's `page_tokens`: by environment, the page access token.
    pub page_tokens: HashMap<String, String>,
}

impl ExtraInfo {
    /// The translations of `lang`, if ExtraInfo has any.
    pub fn translations_of(&self, lang: &str) -> Option<&HashMap<String, String>> {
        self.translations.get(lang).filter(|labels| !labels.is_empty())
    }

    /// Smooch's app key of `environment`.
    pub fn app_token(&self, environment: &str) -> Option<&AppToken> {
        self.app_tokens.get(environment)
    }

    /// Messenger's page token of `environment`.
    pub fn page_token(&self, environment: &str) -> Option<&str> {
        self.page_tokens.get(environment).map(String::as_str)
    }
}

/// Its tokens stay out of logs: only their environments show.
impl std::fmt::Debug for ExtraInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExtraInfo")
            .field("translations", &self.translations)
            .field("only_chat_mode", &self.only_chat_mode)
            .field("app_tokens", &self.app_tokens.keys().collect::<Vec<_>>())
            .field("page_tokens", &self.page_tokens.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A Smooch app key kept in ExtraInfo (`{"key":..,"secret":..}`), both set.
#[derive(Clone, PartialEq, Eq)]
pub struct AppToken {
    pub key: String,
    pub secret: String,
}

impl std::fmt::Debug for AppToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppToken").field("key", &self.key).field("secret", &"[redacted]").finish()
    }
}
