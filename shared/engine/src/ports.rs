//! The engine's ports: the narrow traits it talks through (chatbot, live chat and its surveys,
//! the user's channel, clock), with their requests, answers and errors. Adapters (Inbenta over
//! HTTP, HyperChat, Twilio...) implement them in their own crates; tests use in-memory ones
//! (`testing`). The store port is not here: the engine never touches the store
//! (`connector_core::store`).

use crate::answer::BotResponse;
use crate::conversation::BotSession;
use crate::survey::{Survey, SurveyAnswer};
/// What [`Clock::now`] answers; also re-exported here for paths that name it `ports::Timestamp`.
pub use crate::values::Timestamp;
use crate::values::{ChatRef, ExtraInfo, FileContent, UserFile};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
    /// The ExtraInfo of a group (`GET /v1/app/data/<group>`), read once by the adapter (which
    /// caches it) into what the connector uses of it.
    async fn app_data(&self, group: &str) -> Result<ExtraInfo, ChatbotError>;
    /// The bot conversation so far (`GET /v1/conversation/history`), for the agent who takes over.
    async fn history(&self, session: &BotSession) -> Result<Vec<HistoryLine>, ChatbotError>;
}

/// One line of the bot conversation, as the agent sees it when the chat opens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryLine {
    /// The user wrote it (else the bot did).
    pub from_user: bool,
    pub message: String,
    /// Unix seconds.
    pub created: i64,
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
    /// The bot conversation so far.
    pub history: Vec<HistoryLine>,
}

/// Why a file of the user's could not be had.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("the file is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the file could not be fetched: {0}")]
    Unavailable(String),
    #[error("the channel cannot fetch files")]
    Unsupported,
}

/// The user's channel, as the engine needs it in a live chat: the user's name for the agent,
/// the files the user sends, and how long after the user last wrote an agent's message may
/// still reach them.
#[async_trait]
pub trait UserChannel: Send + Sync {
    /// How long after the user last wrote the channel still delivers an agent's messages
    /// (WhatsApp: 24 hours, Messenger: 7 days); `None`: always.
    fn reply_window(&self) -> Option<Duration>;
    /// The user's name on the channel; asked only when a chat opens without a name from the
    /// escalation form.
    async fn display_name(&self) -> Option<String>;
    /// A file the user sent, fetched with whatever the channel needs (credentials, a size limit).
    async fn fetch_file(&self, file: &UserFile) -> Result<FileContent, FileError>;
}

/// A channel that says nothing about its users, hands no files over and has no reply window.
pub struct NoUserChannel;

#[async_trait]
impl UserChannel for NoUserChannel {
    fn reply_window(&self) -> Option<Duration> {
        None
    }

    async fn display_name(&self) -> Option<String> {
        None
    }

    async fn fetch_file(&self, _file: &UserFile) -> Result<FileContent, FileError> {
        Err(FileError::Unsupported)
    }
}

/// The live-chat app a chat was opened in, as Inbenta's `CHAT_ATTENDED` tracking event names it
/// (`{"chatId","appId","region"}`, as Inbenta's PHP connector sends it): the chatbot's session
/// dashboards link the session to that chat.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChatOrigin {
    pub app_id: String,
    pub region: String,
}

#[derive(Debug, thiserror::Error)]
pub enum LiveChatError {
    #[error("no agent can take the chat")]
    NoAgents,
    #[error("the live chat service refused: {0}")]
    Rejected(String),
    #[error("the live chat service is unavailable: {0}")]
    Unavailable(String),
    /// A message went out, its answer was lost, and the service could not say whether it got
    /// it: taken as passed on (never sent twice).
    #[error("the live chat service did not confirm the message: {0}")]
    Unconfirmed(String),
    /// The chat is closed or unknown on the service's side.
    #[error("the chat is over")]
    ChatOver,
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
    /// Opens a chat for this user (or returns the one already open).
    async fn open_chat(&self, request: &ChatRequest) -> Result<ChatRef, LiveChatError>;
    /// Passes a message of the user on to the agent.
    async fn send_message(&self, chat: &ChatRef, text: &str) -> Result<(), LiveChatError>;
    /// Passes a file of the user on to the agent.
    async fn send_file(&self, chat: &ChatRef, file: &FileContent) -> Result<(), LiveChatError>;
    /// Closes the chat at the user's request.
    async fn close_chat(&self, chat: &ChatRef) -> Result<(), LiveChatError>;
    /// Ends a chat no agent can take (`forever:alone`).
    async fn abandon_chat(&self, chat_id: &str) -> Result<(), LiveChatError>;
    /// How an agent is called in messages to the user (their nickname, else their name).
    async fn agent_name(&self, agent_id: &str) -> Result<String, LiveChatError>;
    /// The `externalId` the chat was opened for, as the service knows it: finds the
    /// conversation of an event that arrives before the chat's index was written.
    async fn chat_owner(&self, chat_id: &str) -> Result<Option<String>, LiveChatError>;
    /// The app and region of the service's chats, for the `CHAT_ATTENDED` tracking event; a
    /// service with neither names none.
    fn origin(&self) -> ChatOrigin {
        ChatOrigin::default()
    }
    /// Whether the room queues chats, as the service's own settings say (HyperChat's
    /// `settings.queue.active`, what Inbenta's PHP connector reads); `None` when the service
    /// has no such setting, and the configuration (`chat.queue.active`) decides.
    async fn queue_mode(&self) -> Result<Option<bool>, LiveChatError> {
        Ok(None)
    }
    /// Whether a member of a chat is one of its agents (HyperChat: a user with a `providerId`,
    /// the test of Inbenta's PHP connector): only agents' messages reach the user. A service
    /// that cannot tell counts everyone who is not the user as an agent.
    async fn is_agent(&self, _user_id: &str) -> Result<bool, LiveChatError> {
        Ok(true)
    }
    /// The satisfaction survey offered after this service's chats, when one is configured
    /// ([`WithSurveys`]). A port of its own, reached through the live chat because the survey
    /// follows its chats.
    fn surveys(&self) -> Option<&dyn Surveys> {
        None
    }
}

/// Inbenta's satisfaction survey of a closed chat, on its ticketing API (the adapter:
/// `inbenta::ticketing`).
#[async_trait]
pub trait Surveys: Send + Sync {
    /// The survey started for the ticket made of chat `chat_id` (`ticket_id`, as the chat's
    /// event named it); `None` when none can be started (no ticket, no such survey).
    async fn start(&self, chat_id: &str, ticket_id: &str) -> Result<Option<Survey>, LiveChatError>;
    /// Submits the answers to a survey [`Surveys::start`] gave.
    async fn submit(&self, survey: &Survey, answers: &[SurveyAnswer]) -> Result<(), LiveChatError>;
}

/// A live chat whose chats are followed by a survey: everything else is `live_chat`'s.
pub struct WithSurveys {
    pub live_chat: Arc<dyn LiveChat>,
    pub surveys: Arc<dyn Surveys>,
}

#[async_trait]
impl LiveChat for WithSurveys {
    async fn agents_available(&self) -> Result<bool, LiveChatError> {
        self.live_chat.agents_available().await
    }

    async fn open_chat(&self, request: &ChatRequest) -> Result<ChatRef, LiveChatError> {
        self.live_chat.open_chat(request).await
    }

    async fn send_message(&self, chat: &ChatRef, text: &str) -> Result<(), LiveChatError> {
        self.live_chat.send_message(chat, text).await
    }

    async fn send_file(&self, chat: &ChatRef, file: &FileContent) -> Result<(), LiveChatError> {
        self.live_chat.send_file(chat, file).await
    }

    async fn close_chat(&self, chat: &ChatRef) -> Result<(), LiveChatError> {
        self.live_chat.close_chat(chat).await
    }

    async fn abandon_chat(&self, chat_id: &str) -> Result<(), LiveChatError> {
        self.live_chat.abandon_chat(chat_id).await
    }

    async fn agent_name(&self, agent_id: &str) -> Result<String, LiveChatError> {
        self.live_chat.agent_name(agent_id).await
    }

    async fn chat_owner(&self, chat_id: &str) -> Result<Option<String>, LiveChatError> {
        self.live_chat.chat_owner(chat_id).await
    }

    fn origin(&self) -> ChatOrigin {
        self.live_chat.origin()
    }

    async fn queue_mode(&self) -> Result<Option<bool>, LiveChatError> {
        self.live_chat.queue_mode().await
    }

    async fn is_agent(&self, user_id: &str) -> Result<bool, LiveChatError> {
        self.live_chat.is_agent(user_id).await
    }

    fn surveys(&self) -> Option<&dyn Surveys> {
        Some(self.surveys.as_ref())
    }
}

/// The live chat when HyperChat is disabled: nobody is ever available.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoLiveChat;

#[async_trait]
impl LiveChat for NoLiveChat {
    async fn agents_available(&self) -> Result<bool, LiveChatError> {
        Ok(false)
    }

    async fn open_chat(&self, _request: &ChatRequest) -> Result<ChatRef, LiveChatError> {
        Err(LiveChatError::NoAgents)
    }

    async fn send_message(&self, _chat: &ChatRef, _text: &str) -> Result<(), LiveChatError> {
        Err(LiveChatError::ChatOver)
    }

    async fn send_file(&self, _chat: &ChatRef, _file: &FileContent) -> Result<(), LiveChatError> {
        Err(LiveChatError::ChatOver)
    }

    async fn close_chat(&self, _chat: &ChatRef) -> Result<(), LiveChatError> {
        Ok(())
    }

    async fn abandon_chat(&self, _chat_id: &str) -> Result<(), LiveChatError> {
        Ok(())
    }

    async fn agent_name(&self, _agent_id: &str) -> Result<String, LiveChatError> {
        Err(LiveChatError::ChatOver)
    }

    async fn chat_owner(&self, _chat_id: &str) -> Result<Option<String>, LiveChatError> {
        Ok(None)
    }
}
