//! The user's live chat: its events (an agent joined, wrote, closed...), the user's messages and
//! files relayed to the agent, and the chat's end.

use super::escalation::{reset_escalation_counters, tracked};
use super::{AgentNote, ChatEvent, DEADLINE_PASSED, Engine, ForAgent, Input, Missed, OnOutage, Step, Turn, agent_note};
use crate::conversation::{Awaiting, ChatStage, Conversation, Mode};
use crate::labels::Label;
use crate::ports::{FileError, LiveChatError};
use crate::reply::Reply;
use crate::values::{ChatRef, FileContent, Timestamp, UserFile, human_size};
use serde_json::json;
use std::time::Duration;

/// The files of one message that did not reach the agent, by reason.
#[derive(Debug, Default)]
struct MissedFiles {
    /// Over the limit (which).
    too_large: Option<u64>,
    /// Not handed over by the channel, or not taken by the live chat.
    undelivered: bool,
    /// The agent can and should hear of the undelivered ones.
    tell_agent: bool,
}

/// What became of a message for the agent.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Relayed {
    /// Passed on, or answered here (`/close`, nothing readable, HyperChat down for good).
    Handled,
    /// The chat was over upstream: the bot (or a new chat) answers instead.
    ChatOver,
    /// HyperChat is down and another attempt will come: the turn waits for it.
    Postponed(String),
}

impl Engine<'_> {
    /// What becomes of a turn's replies. An agent's (a chat's event, a ticket's answer) are held
    /// back when the user's channel would no longer deliver them (its reply window has closed
    /// since the user last wrote), and the agent of the user's chat, while there is one, is
    /// told instead; those of a chat the user is in are watched, so its agent hears of any
    /// that does not reach the user. The bot's answer the user's own message: always sent.
    pub(super) fn addressed(&self, conv: &Conversation, input: &Input, replies: Vec<Reply>, now: Timestamp) -> Step {
        let chat = match (input, &conv.mode) {
            (Input::Chat { .. }, Mode::LiveChat { chat, .. }) => Some(chat.clone()),
            _ => None,
        };
        if input.is_from_agent() && !replies.is_empty() && window_closed(self.channel.reply_window(), conv.last_inbound_at, now) {
            tracing::warn!("the user's reply window is closed: the agent is told instead");
            let agent = match chat {
                Some(chat) => ForAgent::Tell(AgentNote { chat, text: agent_note(self.labels, &Missed::WindowClosed) }),
                None => ForAgent::Nobody,
            };
            return Step { replies: Vec::new(), agent };
        }
        Step { replies, agent: chat.map_or(ForAgent::Nobody, ForAgent::IfMissed) }
    }

    /// An event of the user's live chat. Events of another chat (an earlier one, or a chat the
    /// conversation never had) change nothing and say nothing: a late event never reopens a
    /// closed chat.
    pub(super) async fn on_chat_event(&self, conv: &mut Conversation, chat_id: &str, event: &ChatEvent) -> Vec<Reply> {
        let mut turn = Turn::default();
        match (&mut conv.mode, event) {
            (Mode::Closed { chat_id: closed }, ChatEvent::TicketCreated { ticket_id }) if closed == chat_id => {
                // Announced before the close, its survey followed the close.
                let announced = conv.ticket.as_ref() == Some(ticket_id);
                conv.ticket = Some(ticket_id.clone());
                conv.mode = Mode::Bot;
                if !announced {
                    self.offer_survey(conv, chat_id, ticket_id, &mut turn).await;
                }
            }
            (Mode::LiveChat { chat, stage, ticket }, event) if chat.chat_id == chat_id => match event {
                ChatEvent::AgentJoined { agent_id } => {
                    let name = self.agent(self.live_chat.agent_name(agent_id)).await.unwrap_or_else(|error| {
                        tracing::warn!(error = %crate::error_chain(&error), "agent's name unavailable");
                        String::new()
                    });
                    // The same acceptance sent again (a new `created_at`, the same agent): they
                    // were announced already.
                    if matches!(stage, ChatStage::WithAgent { agent } if *agent == name) {
                        tracing::info!("an agent who already joined joined again: not announced twice");
                    } else {
                        turn.text(&self.labels.get(Label::AgentJoined).replace("$agentName", &name).replace("  ", " "));
                        *stage = ChatStage::WithAgent { agent: name };
                    }
                }
                ChatEvent::Message { sender, text } if *sender != chat.user_id => {
                    if self.sent_by_agent(sender).await {
                        turn.text(text);
                    }
                }
                ChatEvent::File { sender, file } if *sender != chat.user_id => {
                    if self.sent_by_agent(sender).await {
                        turn.replies.push(Reply::File(file.clone()));
                    }
                }
                // A ticket announced before the close: remembered, so its replies find the user
                // and the survey follows the close.
                ChatEvent::TicketCreated { ticket_id } => {
                    *ticket = Some(ticket_id.clone());
                    conv.ticket = Some(ticket_id.clone());
                }
                ChatEvent::Message { .. } | ChatEvent::File { .. } | ChatEvent::Writing { .. } => {}
                ChatEvent::QueuePosition(position) => {
                    if *position > 0 && self.room_queues().await {
                        match position {
                            1 => turn.text(self.labels.get(Label::QueueEstimationFirst)),
                            n => turn.text(&self.labels.get(Label::QueueEstimation).replace("$queuePosition", &n.to_string())),
                        }
                    }
                }
                ChatEvent::Closed => {
                    turn.text(self.labels.get(Label::ChatClosed));
                    self.end_chat(conv, chat_id, &mut turn).await;
                }
                ChatEvent::NoAgentLeft => {
                    if let Err(error) = self.agent(self.live_chat.abandon_chat(chat_id)).await {
                        tracing::warn!(error = %crate::error_chain(&error), "chat no agent could take not closed upstream");
                    }
                    turn.text(self.labels.get(Label::ChatClosed));
                    self.track_quietly(conv, tracked::CHAT_UNATTENDED, json!({ "value": "true" })).await;
                    self.end_chat(conv, chat_id, &mut turn).await;
                }
            },
            _ => tracing::info!("event of a chat this conversation is not in: ignored"),
        }
        // What was pending stays, unless the chat ended (`chat_ended` cleared it).
        turn.finish_keeping(conv)
    }

    /// Whether a message of `sender` (not the user) in the chat is an agent's, to pass on. When
    /// the live chat cannot say (HyperChat down), it is passed on: the sender is not the user,
    /// and an agent's message lost is worse than a system line shown.
    async fn sent_by_agent(&self, sender: &str) -> bool {
        match self.agent(self.live_chat.is_agent(sender)).await {
            Ok(true) => true,
            Ok(false) => {
                tracing::info!("a message in the chat from someone who is no agent: not passed on");
                false
            }
            Err(error) => {
                tracing::warn!(error = %crate::error_chain(&error), "sender unknown; the message is passed on");
                true
            }
        }
    }

    /// Whether the room queues chats, so the user hears their place: HyperChat's own setting
    /// (cached by the adapter), as Inbenta's PHP connector reads it; the configuration's
    /// `chat.queue.active` when the live chat has no such setting or cannot be asked.
    async fn room_queues(&self) -> bool {
        let configured = self.policy.escalation.queue.active;
        match self.agent(self.live_chat.queue_mode()).await {
            Ok(Some(queues)) => queues,
            Ok(None) => configured,
            Err(error) => {
                tracing::warn!(error = %crate::error_chain(&error), configured, "queue mode unknown; the configuration decides");
                configured
            }
        }
    }

    /// The chat is over: back to the bot, with a fresh count of failures, taking the chat's
    /// ticket still. The ticket HyperChat announced already, if it did.
    fn chat_ended(&self, conv: &mut Conversation, chat_id: &str) -> Option<String> {
        tracing::info!("live chat over, back to the bot");
        let ticket = match &mut conv.mode {
            Mode::LiveChat { ticket, .. } => ticket.take(),
            _ => None,
        };
        conv.mode = Mode::Closed { chat_id: chat_id.to_owned() };
        conv.awaiting = Awaiting::Nothing;
        reset_escalation_counters(conv);
        ticket
    }

    /// The chat is over, closed by its agent, HyperChat or the user: the survey follows when
    /// the chat's ticket is known already.
    async fn end_chat(&self, conv: &mut Conversation, chat_id: &str, turn: &mut Turn) {
        if let Some(ticket) = self.chat_ended(conv, chat_id) {
            self.offer_survey(conv, chat_id, &ticket, turn).await;
        }
    }

    /// A message of a user who is in a live chat: passed on to the agent (its text, then its
    /// files), or `/close`.
    pub(super) async fn relay(&self, conv: &mut Conversation, chat: &ChatRef, text: &str, files: &[UserFile], turn: &mut Turn) -> Relayed {
        if text == self.labels.get(Label::CloseChatKeyWord) {
            if let Err(error) = self.agent(self.live_chat.close_chat(chat)).await {
                tracing::warn!(error = %crate::error_chain(&error), "chat not closed upstream; closed here");
            }
            turn.text(self.labels.get(Label::ChatClosed));
            self.end_chat(conv, &chat.chat_id, turn).await;
            return Relayed::Handled;
        }
        if text.is_empty() && files.is_empty() {
            turn.text(self.labels.get(Label::UnsupportedMessage));
            return Relayed::Handled;
        }
        if !text.is_empty() {
            // Past the deadline the post may still land: like a lost answer, never repeated.
            let send = self.live_chat.send_message(chat, text);
            let sent = self.by_deadline(send, || LiveChatError::Unconfirmed(DEADLINE_PASSED.into())).await;
            match sent {
                Ok(()) => {}
                Err(LiveChatError::ChatOver) => return self.chat_over(conv, chat),
                Err(error @ LiveChatError::Unconfirmed(_)) => {
                    tracing::warn!(error = %crate::error_chain(&error), "the user's message may not have reached the agent; it is not sent twice");
                }
                Err(error) if error.is_retryable() && self.on_outage == OnOutage::Postpone => {
                    return Relayed::Postponed(crate::error_chain(&error));
                }
                Err(error) => {
                    tracing::warn!(error = %crate::error_chain(&error), "message not passed on to the agent");
                    turn.text(self.labels.get(Label::ChatMessageNotDelivered));
                    return Relayed::Handled;
                }
            }
        }
        let mut missed = MissedFiles::default();
        for file in files {
            let error = match self.fetch(file).await {
                Ok(content) => match self.agent(self.live_chat.send_file(chat, &content)).await {
                    Ok(()) => continue,
                    Err(LiveChatError::ChatOver) => return self.chat_over(conv, chat),
                    Err(error) => {
                        tracing::warn!(error = %crate::error_chain(&error), "a file of the user's not passed on to the agent");
                        // A refusal is worth the agent's knowing; HyperChat down, they cannot be told.
                        missed.undelivered = true;
                        missed.tell_agent |= matches!(error, LiveChatError::Rejected(_));
                        continue;
                    }
                },
                Err(error) => error,
            };
            tracing::warn!(error = %crate::error_chain(&error), "a file of the user's could not be fetched");
            match error {
                FileError::TooLarge { limit } => missed.too_large = Some(limit),
                FileError::Unavailable(_) | FileError::Unsupported => (missed.undelivered, missed.tell_agent) = (true, true),
            }
        }
        self.say_missed(chat, &missed, turn).await;
        Relayed::Handled
    }

    /// Files that did not reach the agent: the user hears it once per reason, and the agent too
    /// when it is news to them.
    async fn say_missed(&self, chat: &ChatRef, missed: &MissedFiles, turn: &mut Turn) {
        let mut notes = Vec::new();
        if let Some(limit) = missed.too_large {
            let size = human_size(limit);
            turn.text(&self.labels.get(Label::FileTooLarge).replace("$maxSize", &size));
            notes.push(self.labels.get(Label::UserFileTooLarge).replace("$maxSize", &size));
        }
        if missed.undelivered {
            turn.text(self.labels.get(Label::FileNotDelivered));
            if missed.tell_agent {
                notes.push(self.labels.get(Label::UserFileNotRelayed).to_owned());
            }
        }
        for note in notes {
            if let Err(error) = self.agent(self.live_chat.send_message(chat, &note)).await {
                tracing::warn!(error = %crate::error_chain(&error), "the agent could not be told of a file that did not reach them");
            }
        }
    }

    /// The chat turned out to be over upstream: the bot (or a new chat) answers the message.
    fn chat_over(&self, conv: &mut Conversation, chat: &ChatRef) -> Relayed {
        tracing::info!("the chat was over upstream: the bot answers");
        // The bot answers the user's message: no survey offered over it.
        self.chat_ended(conv, &chat.chat_id);
        Relayed::ChatOver
    }

    /// A file of the user's, from their channel, never past the deadline.
    async fn fetch(&self, file: &UserFile) -> Result<FileContent, FileError> {
        self.by_deadline(self.channel.fetch_file(file), || FileError::Unavailable(DEADLINE_PASSED.into())).await
    }
}

/// Whether the channel's reply window (`None`: it has none), counted from when the user last
/// wrote, is over by `now`.
fn window_closed(window: Option<Duration>, last_inbound_at: Timestamp, now: Timestamp) -> bool {
    window.is_some_and(|window| now.seconds_since(last_inbound_at) > i64::try_from(window.as_secs()).unwrap_or(i64::MAX))
}
