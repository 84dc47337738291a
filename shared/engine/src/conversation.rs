//! The state of one user's conversation, persisted between messages (DynamoDB `conv#<key>`).

use crate::survey::SurveyRun;
use crate::values::{ChatRef, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

/// The PHP connectors' `externalId` (`twilio-<company>-<user>`...), kept so that HyperChat
/// users they created stay addressable.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ConversationKey(String);

impl ConversationKey {
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ConversationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Everything the engine remembers about one user.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    /// Where replies to this user go, so events that do not come from the user (an agent's
    /// message, a ticket reply) can reach them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<ReplyAddress>,
    /// Who the user is talking to.
    #[serde(default)]
    pub mode: Mode,
    /// The Inbenta conversation this user is in, if one was started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_session: Option<BotSession>,
    /// What the user's next message answers.
    #[serde(default)]
    pub awaiting: Awaiting,
    /// Consecutive bot answers flagged `no-results`.
    #[serde(default)]
    pub no_results_count: u32,
    /// Consecutive negative content ratings.
    #[serde(default)]
    pub negative_ratings_count: u32,
    /// User messages handled in this conversation (one per processed inbound message).
    #[serde(default)]
    pub messages_handled: u64,
    /// When the user last wrote (WhatsApp's 24 h window and idle expiry are measured from it).
    #[serde(default)]
    pub last_inbound_at: Timestamp,
    /// The ticket HyperChat made of the user's last live chat (`system:info`). An agent's
    /// reply to it comes much later, through Inbenta Messenger, naming only the ticket: the
    /// pipeline indexes it when it changes, so the reply finds this conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    /// The e-mail the user gave the escalation form when their last chat opened: the creator
    /// of the chat's ticket, the second way a ticket reply finds the user (indexed likewise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
}

/// A channel's address of one user, as the channel wrote it (Twilio: company and user numbers;
/// Smooch: app and conversation; Messenger: page and PSID). Opaque to the engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplyAddress {
    /// The channel whose sender can use it (`twilio`, `smooch`, `messenger`).
    pub channel: String,
    pub to: Value,
}

/// Who the user is talking to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Mode {
    #[default]
    Bot,
    /// A HyperChat chat is open for this user.
    LiveChat {
        chat: ChatRef,
        stage: ChatStage,
        /// The ticket made of this chat, when HyperChat announced it before the close (it does
        /// not order its events): the survey is then offered at the close.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ticket: Option<String>,
    },
    /// With the bot again after a chat, whose ticket (and with it the survey) may still
    /// arrive; nothing else of that chat is taken.
    Closed { chat_id: String },
}

impl Mode {
    pub fn chat_id(&self) -> Option<&str> {
        match self {
            Self::Bot | Self::Closed { .. } => None,
            Self::LiveChat { chat, .. } => Some(&chat.chat_id),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChatStage {
    /// Opened, waiting in the room's queue for an agent to accept it.
    Queued,
    /// An agent accepted it.
    WithAgent { agent: String },
}

/// What the user's next message answers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Awaiting {
    /// Nothing in particular: a new question.
    #[default]
    Nothing,
    /// Options shown and not yet answered.
    Choice(PendingPrompt),
    /// The reason for a rating the user just gave.
    RatingComment(RatingChoice),
    /// An answer to the survey after a chat: yes or no to taking it, a question's answer, or
    /// whether to go on with it.
    Survey(SurveyRun),
}

impl Awaiting {
    pub fn prompt(&self) -> Option<&PendingPrompt> {
        match self {
            Self::Choice(prompt) => Some(prompt),
            _ => None,
        }
    }
}

/// A content rating the user picked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RatingChoice {
    /// The answer's `rateCode`.
    pub code: String,
    /// The rating id configured in the instance.
    pub id: i64,
}

/// An Inbenta bot session. The token only lets one continue this user's bot conversation.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BotSession {
    pub token: String,
    pub started_at: Timestamp,
    pub last_used_at: Timestamp,
}

impl fmt::Debug for BotSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BotSession")
            .field("token", &"[redacted]")
            .field("started_at", &self.started_at)
            .field("last_used_at", &self.last_used_at)
            .finish()
    }
}

/// Numbered options waiting for the user's pick.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PendingPrompt {
    #[serde(default)]
    pub kind: PromptKind,
    pub options: Vec<PendingOption>,
}

/// What kind of question is pending, which decides what an answer that is no option means.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromptKind {
    /// Bot options: anything else is a new question.
    #[default]
    Options,
    /// "Was this answer helpful?": anything else is a new question, after `no_rating_given`.
    Rating,
    /// "Do you want to talk to an agent?": anything else is a new question and resets the
    /// escalation counters.
    Escalation,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingOption {
    /// The label as shown.
    pub label: String,
    /// Other texts that also select it (the raw bot label, list-value synonyms).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    pub action: OptionAction,
    /// The shorter title its button shows, which a tap may also send back as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub button: Option<String>,
    /// Tracked as a `click` event when picked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub click_code: Option<String>,
}

/// What picking an option does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum OptionAction {
    /// Send `{"option": value}` (multiple choice and polar questions).
    BotOption(Value),
    /// Send `{"message": text}` (related contents, form list values).
    BotMessage(String),
    /// Show this text without asking the bot (a federated sub-answer).
    Show(String),
    /// Rate the last answer.
    Rate { rating: RatingChoice, comment: bool, negative: bool },
    /// Answer to "Do you want to talk to an agent?"; `offer` when the bot offered it (its
    /// escalation form then runs first).
    Escalate { accept: bool, offer: bool },
}
