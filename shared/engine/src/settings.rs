//! The engine's own settings, as they appear in the configuration files. Composition reads
//! them with `Config::section`; the engine never reads files or the environment.

use serde::Deserialize;

/// `conversation.content_ratings`: "Was this answer helpful?" after rateable answers.
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

/// When to offer a human agent: the escalation keys of `chat.chat`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EscalationPolicy {
    /// HyperChat is enabled: without it nothing escalates.
    pub enabled: bool,
    /// Consecutive no-result answers that trigger an offer (0 = never).
    pub tries_before_escalation: u32,
    /// Consecutive negative ratings that trigger an offer (0 = never).
    pub negative_ratings_before_escalation: u32,
    /// The room queues chats: the user hears their place in it.
    #[serde(default)]
    pub queue: Queue,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Queue {
    pub active: bool,
}

/// `custom`, as in the PHP Twilio connector.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Custom {
    /// Messages go to a human agent only, never to the bot (ExtraInfo `settings.only_chat_mode`
    /// overrides it when present).
    pub only_hyper_chat_mode: bool,
}

/// `conversation.digester`: answer attributes that change how answers look on channels with
/// buttons.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Digester {
    /// The option attribute holding a short button title (Messenger cuts titles at 20
    /// characters); empty: the label.
    #[serde(default)]
    pub button_title: String,
    #[serde(default)]
    pub url_buttons: UrlButtons,
}

/// A grouped answer attribute whose children are link buttons: `attribute_name` names it,
/// `button_title_var` and `button_url_var` its children.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct UrlButtons {
    #[serde(default)]
    pub attribute_name: String,
    #[serde(default)]
    pub button_title_var: String,
    #[serde(default)]
    pub button_url_var: String,
}
