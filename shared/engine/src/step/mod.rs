//! One user message -> new conversation state + channel-neutral replies.
//!
//! Every decision lives here: how a reply maps onto pending options, when the bot session is
//! renewed, how each answer type is presented, when a rating is asked, when and how escalation to
//! a human is offered, what the user hears when an upstream fails.
//!
//! One module per concern, each with its own `impl Engine` block (listed in the crate's docs).

mod bot;
mod escalation;
mod live_chat;
mod presentation;
mod ratings;
mod survey_flow;
#[cfg(test)]
mod tests;
mod turn;
mod undelivered;

use crate::conversation::{Awaiting, Conversation, Mode};
use crate::labels::{Label, Labels};
use crate::ports::{Chatbot, ChatbotError, LiveChat, LiveChatError, UserChannel};
use crate::reply::{Reply, SharedFile, Tap, escape_html};
use crate::settings::{ContentRatings, Digester, EscalationPolicy};
use crate::values::{ChatRef, Timestamp, UserFile};
use live_chat::Relayed;
pub use presentation::{Missed, agent_note};
use serde_json::json;
use tokio::time::Instant;
use turn::Turn;

/// What the user sent, channel-neutral.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserInput {
    Text(String),
    /// Pictures, voice notes, files... with their caption, if any. The bot reads the caption;
    /// an agent gets the caption and the files.
    Media {
        caption: String,
        files: Vec<UserFile>,
    },
    /// A tapped option button (a postback or quick reply this connector rendered).
    Pick(Tap),
}

/// Something that happened in the user's live chat, not written by the user.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatEvent {
    /// An agent accepted the chat.
    AgentJoined { agent_id: String },
    /// A message in the chat; the user's own come back too and are not repeated to them.
    Message { sender: String, text: String },
    /// A file shared in the chat (the user's own come back too).
    File { sender: String, file: SharedFile },
    /// The user's place in the room's queue.
    QueuePosition(u32),
    /// Closed by the agent or the system.
    Closed,
    /// No agent is left to take the chat (`forever:alone`).
    NoAgentLeft,
    /// A ticket was made of the closed chat (`system:info`).
    TicketCreated { ticket_id: String },
    /// Someone in the chat started writing (`users:activity`). Never a turn: the pipeline shows
    /// the user a typing indicator on a light path when [`shows_agent_typing`] says so.
    Writing { writer: String },
}

/// What one turn is about: a user's message, or an event of their live chat. It travels
/// through the queue between ingest and processing, so it is serialisable.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Input {
    User(UserInput),
    Chat {
        chat_id: String,
        event: ChatEvent,
    },
    /// An agent answered the ticket made of one of the user's chats (Inbenta Messenger's
    /// external ticket source), maybe days after the chat: not an event of any chat.
    TicketReply {
        ticket: String,
        text: String,
    },
    /// The channel reported later that a message of ours never reached the user.
    Undelivered(crate::undelivered::Undelivered),
}

impl Input {
    /// An agent wrote it (or it is their chat's), not the bot: channels may send it differently
    /// and only within their reply window.
    pub fn is_from_agent(&self) -> bool {
        matches!(self, Self::Chat { .. } | Self::TicketReply { .. })
    }
}

/// Whether a typing indicator is shown for `writer` writing in `chat_id`: only while the user
/// is in that chat, and only for the agent (the user's own writing comes back as an event too).
pub fn shows_agent_typing(conv: &Conversation, chat_id: &str, writer: &str) -> bool {
    matches!(&conv.mode, Mode::LiveChat { chat, .. } if chat.chat_id == chat_id && chat.user_id != writer)
}

/// Engine knobs that are not texts.
#[derive(Debug, Clone)]
pub struct Policy {
    /// A bot session idle longer than this is replaced before sending.
    pub bot_session_idle_secs: i64,
    pub ratings: ContentRatings,
    pub escalation: EscalationPolicy,
    pub digester: Digester,
}

pub struct Engine<'a> {
    pub chatbot: &'a dyn Chatbot,
    pub live_chat: &'a dyn LiveChat,
    /// The user's channel: their name for a chat opened without one, the files they send.
    pub channel: &'a dyn UserChannel,
    /// Labels for this turn (files overridden by ExtraInfo translations).
    pub labels: &'a Labels,
    pub policy: &'a Policy,
    /// Only-chat mode: messages go to a human only, never to the bot.
    pub only_chat: bool,
    /// The conversation's `externalId`, given to the live chat.
    pub external_id: &'a str,
    /// Every bot and live-chat call ends before it (the processing deadline, less what the
    /// delivery needs); one that would not counts as a timeout.
    pub deadline: Option<Instant>,
    /// What a turn does when the bot is out: wait for a retry, or (the last attempt) apologise.
    pub on_outage: OnOutage,
}

/// What a turn does when the chatbot fails in a way a later attempt may not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnOutage {
    /// The user hears `api_error` / `api_timeout` at once (no retry will come).
    #[default]
    Apologise,
    /// The turn is given up unanswered, to be run again later from the same stored state.
    Postpone,
}

/// The bot was out during a turn.
#[derive(Debug, Clone, PartialEq)]
pub struct Outage {
    /// Why, for logs and the dead-letter queue.
    pub cause: String,
    /// What the user is told instead ([`OnOutage::Apologise`]); `None` when the turn is
    /// postponed, and then nothing of it may be kept.
    pub apology: Option<Step>,
}

/// What one turn hands over to be carried out: the replies to send the user, in order, and what
/// the agent of the user's chat hears of them.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub replies: Vec<Reply>,
    pub agent: ForAgent,
}

impl Step {
    /// Replies whose fate no agent hears of.
    fn to_user(replies: Vec<Reply>) -> Self {
        Self { replies, agent: ForAgent::Nobody }
    }
}

/// What the agent of the user's chat hears of a turn's replies.
#[derive(Debug, Clone, PartialEq)]
pub enum ForAgent {
    /// Nothing: the replies are the bot's, an agent's answer to a ticket, or an agent's in a chat
    /// that is over.
    Nobody,
    /// An agent's messages in this chat: if some do not reach the user, the agent is told in
    /// the words of [`agent_note`].
    IfMissed(ChatRef),
    /// The agent is told this note once the turn is committed: their messages were held back
    /// (the user's reply window is closed), or one did not reach the user.
    Tell(AgentNote),
}

/// A note for the agent of a chat, worded already.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentNote {
    pub chat: ChatRef,
    pub text: String,
}

impl Engine<'_> {
    /// One turn: the new state is left in `conv`, the replies returned in order with what the
    /// agent hears of them. When the bot is out, [`Outage`] says so (with the apology to send,
    /// unless the turn is postponed).
    pub async fn handle(&self, conv: &mut Conversation, input: &Input, now: Timestamp) -> Result<Step, Outage> {
        let replies = match input {
            Input::User(input) => self.step(conv, input, now).await?,
            Input::Chat { chat_id, event } => self.on_chat_event(conv, chat_id, event).await,
            Input::TicketReply { ticket, text } => self.ticket_reply(ticket, text),
            Input::Undelivered(report) => {
                let agent = self.on_undelivered(conv, report).map_or(ForAgent::Nobody, ForAgent::Tell);
                return Ok(Step { replies: Vec::new(), agent });
            }
        };
        Ok(self.addressed(conv, input, replies, now))
    }

    /// The agent's reply to a ticket, framed as the PHP connector framed it (intro, the reply,
    /// the ticket number, how to go on), in whatever mode the user is now: nothing else changes.
    fn ticket_reply(&self, ticket: &str, text: &str) -> Vec<Reply> {
        let [intro, info, end] =
            [Label::TicketResponseIntro, Label::TicketResponseInfo, Label::TicketResponseEnd].map(|l| self.labels.get(l));
        let ticket = escape_html(ticket);
        vec![Reply::Text(format!("<p><i>{intro}:</i><br>{text}</p><p><i>{info}: <b>{ticket}</b></i><br><i>{end}</i></p>"))]
    }

    pub async fn step(&self, conv: &mut Conversation, input: &UserInput, now: Timestamp) -> Result<Vec<Reply>, Outage> {
        conv.messages_handled += 1;
        conv.last_inbound_at = now;
        let mut turn = Turn::default();
        let (text, files) = match input {
            UserInput::Text(text) => (text.trim(), &[][..]),
            UserInput::Media { caption, files } => (caption.trim(), files.as_slice()),
            UserInput::Pick(tap) => (tap.label.trim(), &[][..]),
        };
        let tap = match input {
            UserInput::Pick(tap) => Some(tap),
            _ => None,
        };
        if let Mode::LiveChat { chat, .. } = &conv.mode {
            let chat = chat.clone();
            match self.relay(conv, &chat, text, files, &mut turn).await {
                Relayed::Handled => return Ok(turn.finish_keeping(conv)),
                Relayed::Postponed(cause) => return Err(Outage { cause, apology: None }),
                Relayed::ChatOver => {}
            }
        }
        // The survey after a chat comes first, as in Inbenta's PHP; a reply that is no answer
        // to it goes on to the bot (or the agent, in only-chat mode).
        if let Awaiting::Survey(run) = &conv.awaiting {
            if !text.is_empty() {
                match self.answer_survey(run.clone(), text, tap, &mut turn).await {
                    Some(Ok(next)) => return Ok(turn.finish(conv, next)),
                    Some(Err(cause)) => {
                        tracing::warn!(error = %cause, "the survey's answers could not be submitted: the turn waits for a retry");
                        return Err(Outage { cause, apology: None });
                    }
                    // The user left the survey: what they wrote goes on.
                    None => conv.awaiting = Awaiting::Nothing,
                }
            }
        }
        if self.only_chat {
            // The message that opens the chat (again, when it was over upstream) is the agent's
            // first; with no chat the user has been told why.
            self.open_chat(conv, None, &mut turn).await;
            if let Mode::LiveChat { chat, .. } = &conv.mode {
                let chat = chat.clone();
                if let Relayed::Postponed(cause) = self.relay(conv, &chat, text, files, &mut turn).await {
                    return Err(Outage { cause, apology: None });
                }
            }
            return Ok(turn.finish(conv, Awaiting::Nothing));
        }
        let pending_before = match &conv.awaiting {
            Awaiting::RatingComment(rating) => {
                let comment = json!({ "code": rating.code, "value": rating.id, "comment": text });
                self.track_quietly(conv, "rate", comment).await;
                turn.text(self.labels.get(Label::Thanks));
                return Ok(turn.finish(conv, Awaiting::Nothing));
            }
            _ if text.is_empty() => {
                // Nothing the bot can read: what was pending stays.
                turn.text(self.labels.get(Label::UnsupportedMessage));
                return Ok(turn.finish_keeping(conv));
            }
            awaiting => awaiting.prompt().cloned(),
        };
        if let Err(error) = self.respond(conv, text, tap, pending_before.clone(), now, &mut turn).await {
            let cause = crate::error_chain(&error);
            if self.on_outage == OnOutage::Postpone && error.is_retryable() {
                tracing::warn!(error = %cause, "chatbot call failed: the turn waits for a retry");
                return Err(Outage { cause, apology: None });
            }
            tracing::warn!(error = %cause, retryable = error.is_retryable(), "chatbot call failed");
            turn.text(self.labels.get(failure_label(&error)));
            // Keep the question pending so the user can simply answer again.
            let apology = turn.finish(conv, pending_before.map_or(Awaiting::Nothing, Awaiting::Choice));
            return Err(Outage { cause, apology: Some(Step::to_user(apology)) });
        }
        Ok(turn.finish(conv, Awaiting::Nothing))
    }
}

fn failure_label(error: &ChatbotError) -> Label {
    match error {
        ChatbotError::Timeout => Label::ApiTimeout,
        _ => Label::ApiError,
    }
}

impl Engine<'_> {
    /// `call`, ended with `timeout()`'s error when the deadline comes first. Every upstream call
    /// of a turn goes through it.
    pub(super) async fn by_deadline<T, E>(&self, call: impl Future<Output = Result<T, E>>, timeout: impl FnOnce() -> E) -> Result<T, E> {
        match self.deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, call).await.unwrap_or_else(|_| Err(timeout())),
            None => call.await,
        }
    }

    /// A chatbot call, ended as a timeout when the deadline comes first.
    pub(super) async fn bot<T>(&self, call: impl Future<Output = Result<T, ChatbotError>>) -> Result<T, ChatbotError> {
        self.by_deadline(call, || ChatbotError::Timeout).await
    }

    /// A live-chat call, ended as unavailable when the deadline comes first.
    pub(crate) async fn agent<T>(&self, call: impl Future<Output = Result<T, LiveChatError>>) -> Result<T, LiveChatError> {
        self.by_deadline(call, || LiveChatError::Unavailable(DEADLINE_PASSED.into())).await
    }
}

/// Why a call the deadline ended failed, for logs.
const DEADLINE_PASSED: &str = "the request's deadline passed";
