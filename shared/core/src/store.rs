//! The store port: where conversations, delivery progress, indexes and caches live (DynamoDB in
//! production, memory in `connector-local` and tests; both in the `state-store` crate, both
//! checked by its one contract suite). The pipeline beside it is its one user with the whole
//! store; other adapters get only the capability they need.
//!
//! Split by capability:
//! - [`Dedupe`]: how far the delivery of a message's replies got (`seen#<id>`), exactly-once.
//! - [`Conversations`]: the conversation and its outbox, loaded, committed, peeked.
//! - [`Indexes`]: what leads to a conversation besides its key (a live chat, a ticket).
//! - [`Cache`]: values kept a while (access tokens, ExtraInfo, Twilio content ids, aliases).
//! - [`StateStore`]: all four, the pipeline's one handle; every type with the four is one.

use async_trait::async_trait;
use connector_engine::conversation::{Conversation, ConversationKey, ReplyAddress};
use connector_engine::reply::Reply;
use connector_engine::values::{MessageId, Timestamp};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One turn's replies, stored with the conversation in the commit, so a processing attempt
/// that dies part way is finished by the next one instead of being run again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outbox {
    /// The message (or event) whose turn produced these replies.
    pub message_id: MessageId,
    pub address: ReplyAddress,
    pub replies: Vec<Reply>,
    /// The replies are an agent's (or their chat's), not the bot's: some channels send them
    /// differently (Messenger's `HUMAN_AGENT` tag).
    #[serde(default)]
    pub from_agent: bool,
}

/// A conversation as stored, with the version its next commit must match.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Versioned {
    /// 0 when the conversation did not exist yet.
    pub version: u64,
    pub conversation: Conversation,
    /// The replies of the last committed turn (sent or not: [`Progress`] says).
    pub outbox: Option<Outbox>,
}

/// How far the delivery of one message's replies got (`seen#<id>`): the record that makes a
/// message exactly-once. It outlives the queue's five-minute deduplication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Provider messages whose send may have started: never sent again unless the provider,
    /// asked, says it never got one.
    pub attempted: usize,
    /// Provider messages the turn rendered.
    pub total: usize,
    /// What is known of the last attempted send.
    pub last_send: LastSend,
}

/// What is known of a turn's last attempted send. No record is written after a send that
/// ended well (that would double the writes of a plain message): the next write-ahead, or the
/// end of the process, says it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LastSend {
    /// It ended (sent or refused), or none was attempted.
    Settled,
    /// It started at this time. Read by a retry of the same message, it means the attempt
    /// stopped before knowing how the send ended (a crash, a store that stopped answering): on
    /// a channel that can be asked, the retry asks before sending anything else.
    Started(Timestamp),
    /// Its answer was lost at this time, on a channel that can be asked: whether it arrived is
    /// settled by asking before anything else is sent.
    AnswerLost(Timestamp),
}

impl Progress {
    /// `attempted` of `total` messages attempted, each known sent or refused.
    pub fn attempted(attempted: usize, total: usize) -> Self {
        Self { attempted, total, last_send: LastSend::Settled }
    }

    /// Every message was attempted and no lost answer is left to settle: the message is
    /// handled. A last send merely [`LastSend::Started`] counts as done here, so a later turn
    /// never asks the channel about an earlier one that ended normally; only a retry of the
    /// message itself asks (see `Pipeline::process`).
    pub fn is_done(&self) -> bool {
        self.attempted >= self.total && !matches!(self.last_send, LastSend::AnswerLost(_))
    }
}

/// One turn's commit: the new state and its outbox, if the stored version is still `version`.
#[derive(Debug, Clone, Copy)]
pub struct Commit<'a> {
    pub key: &'a ConversationKey,
    pub version: u64,
    pub conversation: &'a Conversation,
    pub outbox: &'a Outbox,
    /// A live chat this turn opened, indexed in the same write so its events always find the
    /// conversation.
    pub chat_opened: Option<&'a str>,
    pub expires_at: Timestamp,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The version moved: another writer committed first.
    #[error("conditional write lost: {0}")]
    Conflict(String),
    #[error("stored item is unreadable: {0}")]
    Corrupt(String),
    /// The store refused the request as such (a key over DynamoDB's limit): it would be
    /// refused again.
    #[error("the state store refused the request")]
    Invalid(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("state store unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Conflict(_) | Self::Unavailable(_))
    }
}

/// What a reply to a ticket names that leads back to the user: the ticket's number, or the
/// e-mail of its creator (the one the escalation form collected).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TicketKey {
    Ticket(String),
    /// Kept normalised ([`TicketKey::contact`]): e-mails are matched without case or spaces.
    Contact(String),
}

impl TicketKey {
    pub fn contact(email: &str) -> Self {
        Self::Contact(email.trim().to_lowercase())
    }

    /// The key as stored (`ticket#<number>`, `contact#<e-mail>`).
    pub fn stored(&self) -> String {
        match self {
            Self::Ticket(ticket) => format!("ticket#{ticket}"),
            Self::Contact(email) => format!("contact#{email}"),
        }
    }
}

/// Who a reply to a ticket reaches. The address travels with the conversation key: a ticket is
/// answered days later, after the conversation itself may have expired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketRecipient {
    pub conversation: ConversationKey,
    pub address: ReplyAddress,
}

/// Exactly-once delivery: how far the delivery of one message's replies got.
///
/// One turn, under the queue's one-at-a-time order per conversation: [`Conversations::load`]
/// and [`Dedupe::progress`], [`Conversations::commit`] (state and outbox),
/// [`Dedupe::record_progress`] before each send.
#[async_trait]
pub trait Dedupe: Send + Sync {
    /// How far the delivery of a message's replies got; `None` when nothing was recorded.
    async fn progress(&self, id: &MessageId, now: Timestamp) -> Result<Option<Progress>, StoreError>;
    /// Records how far a message's delivery got (before the send it covers starts), kept
    /// until `expires_at`.
    async fn record_progress(&self, id: &MessageId, progress: Progress, expires_at: Timestamp) -> Result<(), StoreError>;
}

/// The conversations, each with its version and the outbox of its last turn.
#[async_trait]
pub trait Conversations: Send + Sync {
    /// The conversation as stored now (a consistent read); a fresh one at version 0 when absent
    /// or expired.
    async fn load(&self, key: &ConversationKey, now: Timestamp) -> Result<Versioned, StoreError>;
    /// Writes the conversation and the turn's outbox if the version is still the one loaded.
    async fn commit(&self, commit: &Commit<'_>) -> Result<(), StoreError>;
    /// The conversation as stored, without its lease: what a courtesy (a typing indicator)
    /// needs, never what a turn may decide on. `None` when absent or expired.
    async fn peek(&self, key: &ConversationKey, now: Timestamp) -> Result<Option<Conversation>, StoreError>;
}

/// What leads to a conversation besides its key: its live chat (`chat#<id>`, written by
/// [`Conversations::commit`]), a ticket's number or creator.
#[async_trait]
pub trait Indexes: Send + Sync {
    /// The conversation of a live chat, if known and not expired.
    async fn chat_conversation(&self, chat_id: &str, now: Timestamp) -> Result<Option<ConversationKey>, StoreError>;
    /// Remembers who replies to a ticket reach, until `expires_at` (a later write replaces it).
    async fn index_ticket(&self, key: &TicketKey, recipient: &TicketRecipient, expires_at: Timestamp) -> Result<(), StoreError>;
    /// Who replies to a ticket reach, if indexed and not expired.
    async fn ticket_recipient(&self, key: &TicketKey, now: Timestamp) -> Result<Option<TicketRecipient>, StoreError>;
}

/// Values kept a while: what the Inbenta clients (tokens, ExtraInfo), the Twilio content cache
/// and the HyperChat webhook secret get of the store.
#[async_trait]
pub trait Cache: Send + Sync {
    /// A cached value (access token, ExtraInfo); expired entries read as absent.
    async fn cache_get(&self, key: &str, now: Timestamp) -> Result<Option<String>, StoreError>;
    async fn cache_put(&self, key: &str, value: &str, expires_at: Timestamp) -> Result<(), StoreError>;
}

/// Where conversations, delivery progress, indexes and caches live: the pipeline's one handle.
/// Implemented for every store with the four capabilities.
pub trait StateStore: Dedupe + Conversations + Indexes + Cache {
    /// The same store, seen only as a cache (for adapters that need no more).
    fn cache(self: Arc<Self>) -> Arc<dyn Cache>;
}

impl<T: Dedupe + Conversations + Indexes + Cache + 'static> StateStore for T {
    fn cache(self: Arc<Self>) -> Arc<dyn Cache> {
        self
    }
}
