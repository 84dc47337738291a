//! What differs between channels, and nothing else.
//!
//! A webhook source is a [`Source`]: it authenticates the raw request, parses it into events
//! and gives the provider the answer it expects. A channel that users write from also has a
//! [`Sender`]: it renders the channel-neutral replies and sends them to a stored address. The
//! HyperChat events function owns no sender: its events reach users through the sender of the
//! channel the conversation came from ([`Senders`]).

use crate::{WebhookRequest, WebhookResponse};
use async_trait::async_trait;
use connector_engine::Reply;
use connector_engine::conversation::{ConversationKey, ReplyAddress};
use connector_engine::ports::FileError;
use connector_engine::step::Input;
use connector_engine::values::{FileContent, MessageId, Timestamp, UserFile};
use http::StatusCode;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use upstream::{ProviderCode, UpstreamError};

/// Why a request is refused before any state or upstream is touched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    /// Said to the caller: never input, never a secret.
    pub reason: &'static str,
}

impl Refusal {
    pub const fn new(status: StatusCode, reason: &'static str) -> Self {
        Self { status, reason }
    }

    pub const fn forbidden(reason: &'static str) -> Self {
        Self::new(StatusCode::FORBIDDEN, reason)
    }

    pub const fn bad_request(reason: &'static str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, reason)
    }
}

/// Whose conversation an event belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    Conversation(ConversationKey),
    /// A user known by two keys (a WhatsApp number and, since 2026, a username): the
    /// conversation is `key`'s, and `alias` is recorded so that a message naming only the alias
    /// finds it.
    Linked {
        key: ConversationKey,
        alias: ConversationKey,
    },
    /// A user known only by an alias: the conversation it was linked to, else its own.
    Alias(ConversationKey),
    /// A chat's or ticket's event whose conversation was found: it now waits in that
    /// conversation's queue group. `indexed_address`: where a ticket's index says replies go,
    /// for a ticket answered after its conversation expired.
    Resolved {
        key: ConversationKey,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        indexed_address: Option<ReplyAddress>,
    },
    /// A live chat's: the conversation is found through the chat index.
    Chat(String),
    /// A reply to a ticket: the conversation is found through the ticket index, by the
    /// ticket's number first, then by the e-mail of its creator.
    Ticket {
        ticket: String,
        contact: Option<String>,
    },
}

/// One thing that happened, channel-neutral: a user's message, or an event of their chat. It
/// waits in a queue between ingest and processing, as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The provider's id for it: the dedupe key.
    pub id: MessageId,
    pub route: Route,
    /// Where replies go; `None` for events that do not come from the user (the conversation's
    /// stored address is used).
    pub address: Option<ReplyAddress>,
    pub input: Input,
}

/// A webhook source.
pub trait Source: Send + Sync + 'static {
    /// What authentication leaves for parsing (Twilio's form params, a JSON body...).
    type Verified: Send;

    /// Names the channel in logs.
    fn name(&self) -> &'static str;

    /// Larger bodies are refused unread (413). Provider payloads are a few KiB.
    fn max_body_bytes(&self) -> usize {
        64 * 1024
    }

    /// How long the provider waits for the webhook's answer, less a margin: the request's
    /// deadline when the runtime gives none shorter.
    fn budget(&self) -> Duration;

    /// Checks that the request comes from the provider (signature, shared secret, account).
    /// Fails closed: anything it cannot verify is refused.
    fn authenticate(&self, request: &WebhookRequest) -> Result<Self::Verified, Refusal>;

    /// The request's events in order; none for receipts, echoes and typing.
    fn parse(&self, verified: Self::Verified) -> Result<Vec<Event>, Refusal>;

    /// The answer the provider expects, with this status.
    fn answer(&self, status: StatusCode) -> WebhookResponse;

    /// The answer to a GET (a subscription challenge); `None` when the channel has none.
    fn verify(&self, _request: &WebhookRequest) -> Option<WebhookResponse> {
        None
    }
}

/// Why a channel cannot be built from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("{0} must be set")]
    Missing(&'static str),
    #[error(transparent)]
    Client(#[from] UpstreamError),
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The provider refused the message; sending it again would fail the same way.
    /// `recipient_unreachable`: every further message to this user would fail too (blocked,
    /// unsubscribed, invalid number, closed window).
    #[error("the channel refused the message")]
    Refused {
        code: Option<ProviderCode>,
        recipient_unreachable: bool,
        #[source]
        source: UpstreamError,
    },
    /// Not delivered, and worth trying again later (rate limit, outage, no connection).
    #[error("the channel is unavailable")]
    Unavailable(#[source] UpstreamError),
    /// The request went out and its answer was lost: the message may have been delivered. It
    /// is sent again only if the provider, asked ([`Sender::look_up`]), says it never got it.
    #[error("the channel's answer was lost; the message may have been delivered")]
    Ambiguous(#[source] UpstreamError),
    /// The deployment lacks what sending needs (an API key for this environment): nothing was
    /// sent, and a redelivery after the operator fixes it succeeds.
    #[error("the channel is not configured: {0}")]
    NotConfigured(&'static str),
    /// The stored address is not one this channel can use.
    #[error("unusable reply address for {0}")]
    BadAddress(&'static str),
}

impl SendError {
    /// Why a message did not reach the user, in words an agent can act on.
    pub fn reason(&self) -> String {
        match self {
            Self::Refused { code: Some(code), .. } => format!("the channel refused it (error {code})"),
            Self::Refused { code: None, .. } => "the channel refused it".to_owned(),
            Self::Unavailable(_) | Self::NotConfigured(_) => "the channel is unavailable".to_owned(),
            Self::Ambiguous(_) => "the channel did not confirm it".to_owned(),
            Self::BadAddress(_) => "the user's address is unusable".to_owned(),
        }
    }

    /// Sorts an upstream failure of a send; `unreachable` tells which provider codes mean the
    /// user cannot be reached at all.
    pub fn from_upstream(error: UpstreamError, unreachable: impl FnOnce(&ProviderCode) -> bool) -> Self {
        if error.may_have_been_delivered() {
            Self::Ambiguous(error)
        } else if error.is_retryable() {
            Self::Unavailable(error)
        } else {
            let code = error.code().cloned();
            let recipient_unreachable = code.as_ref().is_some_and(unreachable);
            Self::Refused { code, recipient_unreachable, source: error }
        }
    }
}

/// Why replies are sent, for channels whose rules depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Occasion {
    /// An agent's message (or their chat's), not the bot's answer.
    pub from_agent: bool,
    /// Since the user last wrote (Messenger tags human replies after 24 hours).
    pub since_user_wrote: Duration,
}

/// One provider message of a turn, as the provider can be asked about it later and as its later
/// reports (a delivery failure) find their way back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendTag {
    /// The same for every attempt of the same message of the same turn, and for no other
    /// (a digest of the turn's message id and the message's place): where the provider keeps
    /// our metadata (Smooch), it finds the message.
    pub id: String,
    /// When the attempt in doubt began: what the provider created before it is not ours.
    pub at: Timestamp,
    /// An agent's message: a later delivery failure is told to the agent.
    pub from_agent: bool,
}

/// What a provider says of a message whose send's answer was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// It has the message: it was sent.
    Found,
    /// It has no such message: sending it now sends it once.
    Absent,
}

/// A channel's way of reaching a user.
pub trait Sender: Send + Sync + 'static {
    /// The channel name stored in reply addresses.
    const CHANNEL: &'static str;
    /// The ExtraInfo group of the channel's settings and translations.
    const GROUP: &'static str;
    type Address: Serialize + DeserializeOwned + Send + Sync + 'static;
    /// One provider API call's worth of content.
    type Message: Send + Sync + 'static;

    /// The provider messages for these replies, in order. Pure: the same replies always give
    /// the same messages, so a delivery resumed by another request skips exactly what was sent.
    fn render(&self, to: &Self::Address, replies: &[Reply], occasion: &Occasion) -> Vec<Self::Message>;

    /// Sends one message, finishing before `deadline`; `tag` goes with it where the provider
    /// keeps it.
    fn send(
        &self,
        to: &Self::Address,
        message: &Self::Message,
        tag: &SendTag,
        deadline: Instant,
    ) -> impl Future<Output = Result<(), SendError>> + Send;

    /// Whether the provider can be asked about a send whose answer was lost, for this address.
    /// Where it cannot, such a send is taken as delivered (at most once).
    fn can_look_up(&self, _to: &Self::Address) -> bool {
        false
    }

    /// Asks the provider whether it got a message whose send's answer was lost. Only called
    /// where [`Sender::can_look_up`] says so.
    fn look_up(
        &self,
        _to: &Self::Address,
        _message: &Self::Message,
        _tag: &SendTag,
        _deadline: Instant,
    ) -> impl Future<Output = Result<Lookup, SendError>> + Send {
        async { Err(SendError::NotConfigured("a look-up of sent messages")) }
    }

    /// Shows the user an answer is on its way (a typing indicator), while the bot thinks.
    /// Channels without one do nothing.
    fn typing(&self, _to: &Self::Address, _deadline: Instant) -> impl Future<Output = Result<(), SendError>> + Send {
        async { Ok(()) }
    }

    /// The user's name on the channel (Messenger's profile, Smooch's user), for the agent when a
    /// chat opens without one from the escalation form; `None` when the channel has none.
    fn display_name(&self, _to: &Self::Address, _deadline: Instant) -> impl Future<Output = Option<String>> + Send {
        async { None }
    }

    /// A file the user sent, for their agent: at most `limit` bytes, before `deadline`, fetched
    /// with whatever the channel's media URLs need. Channels that hand no files over say so.
    fn fetch_file(&self, _file: &UserFile, _limit: u64, _deadline: Instant) -> impl Future<Output = Result<FileContent, FileError>> + Send {
        async { Err(FileError::Unsupported) }
    }

    /// How long after the user last wrote messages still reach them (WhatsApp: 24 hours);
    /// `None` when there is no such limit.
    fn reply_window(&self, _to: &Self::Address) -> Option<Duration> {
        None
    }

    /// The stored form of an address.
    fn address(to: &Self::Address) -> ReplyAddress {
        ReplyAddress { channel: Self::CHANNEL.to_owned(), to: serde_json::to_value(to).unwrap_or_default() }
    }
}

/// Replies rendered for one address, opaque outside the sender that made them.
pub struct Rendered {
    count: usize,
    inner: Box<dyn Any + Send + Sync>,
}

impl Rendered {
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// A [`Sender`] as the pipeline uses it, whatever its channel.
#[async_trait]
pub trait AnySender: Send + Sync {
    fn channel(&self) -> &'static str;
    fn group(&self) -> &'static str;
    fn render(&self, to: &ReplyAddress, replies: &[Reply], occasion: &Occasion) -> Result<Rendered, SendError>;
    async fn send(&self, rendered: &Rendered, index: usize, tag: &SendTag, deadline: Instant) -> Result<(), SendError>;
    fn can_look_up(&self, rendered: &Rendered) -> bool;
    async fn look_up(&self, rendered: &Rendered, index: usize, tag: &SendTag, deadline: Instant) -> Result<Lookup, SendError>;
    async fn typing(&self, to: &ReplyAddress, deadline: Instant) -> Result<(), SendError>;
    async fn display_name(&self, to: &ReplyAddress, deadline: Instant) -> Option<String>;
    async fn fetch_file(&self, file: &UserFile, limit: u64, deadline: Instant) -> Result<FileContent, FileError>;
    fn reply_window(&self, to: &ReplyAddress) -> Option<Duration>;
}

#[async_trait]
impl<S: Sender> AnySender for S {
    fn channel(&self) -> &'static str {
        S::CHANNEL
    }

    fn group(&self) -> &'static str {
        S::GROUP
    }

    fn render(&self, to: &ReplyAddress, replies: &[Reply], occasion: &Occasion) -> Result<Rendered, SendError> {
        let address: S::Address = serde_json::from_value(to.to.clone()).map_err(|_| SendError::BadAddress(S::CHANNEL))?;
        let messages = Sender::render(self, &address, replies, occasion);
        Ok(Rendered { count: messages.len(), inner: Box::new((address, messages)) })
    }

    fn reply_window(&self, to: &ReplyAddress) -> Option<Duration> {
        serde_json::from_value(to.to.clone()).ok().and_then(|address| Sender::reply_window(self, &address))
    }

    async fn typing(&self, to: &ReplyAddress, deadline: Instant) -> Result<(), SendError> {
        let address: S::Address = serde_json::from_value(to.to.clone()).map_err(|_| SendError::BadAddress(S::CHANNEL))?;
        Sender::typing(self, &address, deadline).await
    }

    async fn display_name(&self, to: &ReplyAddress, deadline: Instant) -> Option<String> {
        let address: S::Address = serde_json::from_value(to.to.clone()).ok()?;
        Sender::display_name(self, &address, deadline).await
    }

    async fn fetch_file(&self, file: &UserFile, limit: u64, deadline: Instant) -> Result<FileContent, FileError> {
        Sender::fetch_file(self, file, limit, deadline).await
    }

    async fn send(&self, rendered: &Rendered, index: usize, tag: &SendTag, deadline: Instant) -> Result<(), SendError> {
        match rendered_message::<S>(rendered, index)? {
            (address, Some(message)) => Sender::send(self, address, message, tag, deadline).await,
            (_, None) => Ok(()),
        }
    }

    fn can_look_up(&self, rendered: &Rendered) -> bool {
        rendered_message::<S>(rendered, 0).is_ok_and(|(address, _)| Sender::can_look_up(self, address))
    }

    async fn look_up(&self, rendered: &Rendered, index: usize, tag: &SendTag, deadline: Instant) -> Result<Lookup, SendError> {
        match rendered_message::<S>(rendered, index)? {
            (address, Some(message)) => Sender::look_up(self, address, message, tag, deadline).await,
            // Nothing to send there: nothing to miss.
            (_, None) => Ok(Lookup::Found),
        }
    }
}

/// A message a [`Sender`] rendered, with its address; `None` past the last one.
fn rendered_message<S: Sender>(rendered: &Rendered, index: usize) -> Result<(&S::Address, Option<&S::Message>), SendError> {
    let Some((address, messages)) = rendered.inner.downcast_ref::<(S::Address, Vec<S::Message>)>() else {
        return Err(SendError::BadAddress(S::CHANNEL));
    };
    Ok((address, messages.get(index)))
}

/// The senders a function can reply through, by channel.
#[derive(Clone, Default)]
pub struct Senders {
    by_channel: HashMap<&'static str, Arc<dyn AnySender>>,
}

impl Senders {
    pub fn with(mut self, sink: Arc<dyn AnySender>) -> Self {
        self.by_channel.insert(sink.channel(), sink);
        self
    }

    pub fn get(&self, channel: &str) -> Option<&Arc<dyn AnySender>> {
        self.by_channel.get(channel)
    }
}
