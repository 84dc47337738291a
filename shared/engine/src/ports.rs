//! The narrow traits the engine talks through. Adapters (Inbenta over HTTP, DynamoDB, Twilio...)
//! implement them in their own crates; tests use in-memory ones.

use crate::answer::BotResponse;
use crate::conversation::{BotSession, Conversation, ConversationKey};
use crate::reply::Reply;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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

/// Time source, injected so expiry decisions are testable.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        Timestamp(i64::try_from(secs).unwrap_or(i64::MAX))
    }
}

/// What the engine sends to the bot for one user input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum BotInput {
    Message(String),
    Option(Value),
    DirectCall(String),
}

/// A `POST /v1/tracking/events` body (`{"type":..,"data":..}`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrackingEvent {
    #[serde(rename = "type")]
    pub kind: String,
    pub data: Value,
}

#[derive(Debug, thiserror::Error)]
pub enum ChatbotError {
    /// The bot session is no longer valid; start a new one and retry.
    #[error("bot session expired")]
    SessionExpired,
    #[error("the chatbot API did not answer in time")]
    Timeout,
    /// 5xx, 429, gateway errors: worth retrying later.
    #[error("the chatbot API is unavailable (HTTP {status})")]
    Unavailable { status: u16 },
    /// The API refused the request (bad credentials, invalid input).
    #[error("the chatbot API rejected the request: {message} (code {code})")]
    Rejected { code: i64, message: String },
    #[error("unexpected chatbot API response: {0}")]
    Protocol(String),
    #[error("could not reach the chatbot API")]
    Transport(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ChatbotError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::SessionExpired | Self::Timeout | Self::Unavailable { .. } | Self::Transport(_))
    }
}

/// The Inbenta Chatbot API, as the engine needs it.
#[async_trait]
pub trait Chatbot: Send + Sync {
    async fn start_conversation(&self) -> Result<String, ChatbotError>;
    async fn send(&self, session: &BotSession, input: &BotInput) -> Result<BotResponse, ChatbotError>;
    async fn track(&self, session: &BotSession, event: &TrackingEvent) -> Result<(), ChatbotError>;
    /// Sets a conversation variable the bot's dialogs can read (`agents_available`).
    async fn set_variable(&self, session: &BotSession, name: &str, value: &str) -> Result<(), ChatbotError>;
    /// The ExtraInfo objects of a group (`GET /v1/app/data/<group>`): `{"results":[{name, value}]}`.
    /// Adapters cache it; the engine reads `translations` and `settings` from it.
    async fn app_data(&self, group: &str) -> Result<Value, ChatbotError>;
}

/// Who the live chat is opened for, with what the escalation form collected.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatRequest {
    /// The conversation key (`externalId`), so HyperChat events find the user again.
    pub external_id: String,
    pub name: String,
    pub contact: String,
    /// Other form fields.
    pub extra: serde_json::Map<String, Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum LiveChatError {
    #[error("no agent can take the chat")]
    NoAgents,
    #[error("the live chat service refused: {0}")]
    Rejected(String),
    #[error("the live chat service is unavailable: {0}")]
    Unavailable(String),
}

impl LiveChatError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// Human agents (Inbenta HyperChat).
#[async_trait]
pub trait LiveChat: Send + Sync {
    /// Whether an agent could take a chat now.
    async fn agents_available(&self) -> Result<bool, LiveChatError>;
    /// Opens a chat for this user (or returns the one already open); the chat id.
    async fn open_chat(&self, request: &ChatRequest) -> Result<String, LiveChatError>;
}

/// The live chat when HyperChat is disabled: nobody is ever available.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoLiveChat;

#[async_trait]
impl LiveChat for NoLiveChat {
    async fn agents_available(&self) -> Result<bool, LiveChatError> {
        Ok(false)
    }

    async fn open_chat(&self, _request: &ChatRequest) -> Result<String, LiveChatError> {
        Err(LiveChatError::NoAgents)
    }
}

/// A conversation as stored, with the version its next commit must match.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned {
    /// 0 when the conversation did not exist yet.
    pub version: u64,
    pub conversation: Conversation,
}

/// Exclusive right to process one conversation until `until` (serializes concurrent messages
/// of one user across Lambda instances).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub owner: String,
    pub until: Timestamp,
}

#[derive(Debug)]
pub enum Acquired {
    Locked(Versioned),
    /// Another request holds the lease.
    Busy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// First time this provider message id is seen: process it.
    New,
    /// Seen before (a redelivery): do nothing.
    Duplicate,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The lease was lost or the version moved: another request committed first.
    #[error("conditional write lost: {0}")]
    Conflict(String),
    #[error("stored item is unreadable: {0}")]
    Corrupt(String),
    #[error("state store unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Conflict(_) | Self::Unavailable(_))
    }
}

/// Where conversations, dedupe claims and caches live (DynamoDB in production).
#[async_trait]
pub trait StateStore: Send + Sync {
    /// Atomically records a provider message id; `Duplicate` if it was already recorded.
    async fn claim_message(&self, id: &str, expires_at: Timestamp) -> Result<Claim, StoreError>;
    /// Forgets a claim so a retry of a message that produced no reply can be processed.
    async fn release_message(&self, id: &str) -> Result<(), StoreError>;
    /// Takes the conversation's lease if it is free or expired, and reads it.
    async fn acquire(&self, key: &ConversationKey, lease: &Lease, now: Timestamp) -> Result<Acquired, StoreError>;
    /// Writes the conversation if `version` and the lease are still ours, and frees the lease.
    async fn commit(
        &self,
        key: &ConversationKey,
        lease: &Lease,
        version: u64,
        conversation: &Conversation,
        expires_at: Timestamp,
    ) -> Result<(), StoreError>;
    /// Frees the lease without changing the conversation.
    async fn release(&self, key: &ConversationKey, lease: &Lease) -> Result<(), StoreError>;
    /// A cached value (access token, ExtraInfo); expired entries read as absent.
    async fn cache_get(&self, key: &str, now: Timestamp) -> Result<Option<String>, StoreError>;
    async fn cache_put(&self, key: &str, value: &str, expires_at: Timestamp) -> Result<(), StoreError>;
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The provider refused the message (bad number, too long, window closed): do not retry.
    #[error("the channel refused the message: {0}")]
    Rejected(String),
    #[error("the channel is unavailable: {0}")]
    Unavailable(String),
    #[error("could not reach the channel")]
    Transport(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl SendError {
    pub fn is_retryable(&self) -> bool {
        !matches!(self, Self::Rejected(_))
    }
}

/// How delivery of one turn's replies went.
#[derive(Debug, Default)]
pub struct Delivery {
    /// Provider messages accepted, in order.
    pub sent: usize,
    /// The error that stopped delivery, if any (later replies were not attempted, to keep order).
    pub error: Option<SendError>,
}

/// Renders and sends replies to one user on one channel, in order.
#[async_trait]
pub trait ReplySink: Send + Sync {
    async fn deliver(&self, replies: &[Reply]) -> Delivery;
}
