//! One user message -> new conversation state + channel-neutral replies.
//!
//! Every decision lives here: how a reply maps onto pending options, when the bot session is
//! renewed, how each answer type is presented, when a rating is asked, when and how escalation to
//! a human is offered, what the user hears when an upstream fails.

use crate::answer::{Answer, AnswerKind, BotResponse, FLAG_NO_RESULTS};
use crate::conversation::{
    Awaiting, BotSession, ChatStage, Conversation, Mode, OptionAction, PendingOption, PendingPrompt, PromptKind, RatingChoice,
};
use crate::labels::{Label, Labels};
use crate::matching;
use crate::ports::{
    BotInput, ChatRef, ChatRequest, Chatbot, ChatbotError, FileError, HistoryLine, LiveChat, LiveChatError, Timestamp, TrackingEvent,
    UserChannel, UserFile, human_size,
};
use crate::reply::{ChoiceOption, Link, Reply, SharedFile, Tap, escape_html};
use crate::settings::{ContentRatings, Digester, EscalationPolicy};
use crate::survey::{Outcome as SurveyOutcome, Survey, SurveyAnswer, SurveyRun};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use tokio::time::Instant;

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
enum Relayed {
    /// Passed on, or answered here (`/close`, nothing readable, HyperChat down for good).
    Handled,
    /// The chat was over upstream: the bot (or a new chat) answers instead.
    ChatOver,
    /// HyperChat is down and another attempt will come: the turn waits for it.
    Postponed(String),
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
    pub apology: Option<Vec<Reply>>,
}

/// Why an escalation is being offered.
#[derive(Debug, Clone, PartialEq)]
enum Trigger {
    /// The bot flagged the answer (`escalate` flag or `ESCALATE` setting).
    ApiFlag,
    NoResults,
    NegativeRatings,
    /// The content is an escalation offer (`DIRECT_CALL`/`DYNAMIC_REDIRECT` = `escalationOffer`).
    Offer,
    /// The bot asks to start its escalation form (`escalationStart` callback).
    Direct,
    /// The escalation form is complete (`escalateToAgent` callback with the form's data).
    FormDone(serde_json::Map<String, Value>),
}

const DIRECT_CALL_ESCALATION_START: &str = "escalationStart";

/// The session data keys Inbenta documents for an escalation to a live chat ("External Chat
/// Tracking", developers.inbenta.io/chatbot/chatbot-api/external-chat-tracking): they feed the
/// Sessions graph of the chatbot's dashboard. The PHP connector's older `CONTACT_ATTENDED` /
/// `CONTACT_REJECTED` are not among them.
mod tracked {
    /// The user accepted, agents were available, the chat was opened (with the chat's id, app
    /// and region, as Inbenta's PHP connector sends it).
    pub const CHAT_ATTENDED: &str = "CHAT_ATTENDED";
    /// The user said no to the offer of an agent.
    pub const CHAT_ESCALATION_REJECTED: &str = "CHAT_ESCALATION_REJECTED";
    /// The user wanted an agent and none was available.
    pub const CHAT_NO_AGENTS: &str = "CHAT_NO_AGENTS";
    /// A chat was opened but no agent took it (HyperChat's `forever:alone`).
    pub const CHAT_UNATTENDED: &str = "CHAT_UNATTENDED";
}

impl Engine<'_> {
    /// One turn: the new state is left in `conv`, the replies returned in order. When the bot
    /// is out, [`Outage`] says so (with the apology to send, unless the turn is postponed).
    pub async fn handle(&self, conv: &mut Conversation, input: &Input, now: Timestamp) -> Result<Vec<Reply>, Outage> {
        match input {
            Input::User(input) => self.step(conv, input, now).await,
            Input::Chat { chat_id, event } => Ok(self.on_chat_event(conv, chat_id, event).await),
            Input::TicketReply { ticket, text } => Ok(self.ticket_reply(ticket, text)),
            Input::Undelivered(report) => {
                self.on_undelivered(conv, report).await;
                Ok(Vec::new())
            }
        }
    }

    /// The agent's reply to a ticket, framed as the PHP connector framed it (intro, the reply,
    /// the ticket number, how to go on), in whatever mode the user is now: nothing else changes.
    fn ticket_reply(&self, ticket: &str, text: &str) -> Vec<Reply> {
        let [intro, info, end] =
            [Label::TicketResponseIntro, Label::TicketResponseInfo, Label::TicketResponseEnd].map(|l| self.labels.get(l));
        let ticket = escape_html(ticket);
        vec![Reply::Text(format!("<p><i>{intro}:</i><br>{text}</p><p><i>{info}: <b>{ticket}</b></i><br><i>{end}</i></p>"))]
    }

    /// An event of the user's live chat. Events of another chat (an earlier one, or a chat the
    /// conversation never had) change nothing and say nothing: a late event never reopens a
    /// closed chat.
    async fn on_chat_event(&self, conv: &mut Conversation, chat_id: &str, event: &ChatEvent) -> Vec<Reply> {
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
        let pending = std::mem::take(&mut conv.awaiting);
        turn.finish(conv, pending)
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

    /// Asks the user whether to take the survey of a closed chat whose ticket is made, when a
    /// survey is configured and starts (as Inbenta's PHP, once the chat is over).
    async fn offer_survey(&self, conv: &mut Conversation, chat_id: &str, ticket_id: &str, turn: &mut Turn) {
        let Some(surveys) = self.live_chat.surveys() else { return };
        match self.agent(surveys.start(chat_id, ticket_id)).await {
            Ok(Some(survey)) => match SurveyRun::offer(survey, self.labels) {
                Some((offer, run)) => {
                    turn.replies.push(offer);
                    conv.awaiting = Awaiting::Survey(run);
                }
                None => tracing::info!("the chat's survey asks nothing: not offered"),
            },
            Ok(None) => tracing::info!("no survey could be started for the chat's ticket"),
            Err(error) => tracing::warn!(error = %crate::error_chain(&error), "the chat's survey could not be started"),
        }
    }

    /// The user's reply to the survey under way. `None` when it is no answer to it: the survey
    /// is dropped and the bot answers the reply. `Err` (its cause) when the answers could not
    /// be submitted and the turn waits for a retry.
    async fn answer_survey(&self, run: SurveyRun, text: &str, tap: Option<&Tap>, turn: &mut Turn) -> Option<Result<Awaiting, String>> {
        match run.reply(text, tap, self.labels) {
            SurveyOutcome::Asked { replies, run } => {
                turn.replies.extend(replies);
                Some(Ok(Awaiting::Survey(run)))
            }
            SurveyOutcome::Ended(replies) => {
                turn.replies.extend(replies);
                Some(Ok(Awaiting::Nothing))
            }
            SurveyOutcome::Answered { survey, answers } => {
                if let Err(cause) = self.submit_survey(&survey, &answers).await {
                    return Some(Err(cause));
                }
                turn.text(survey.thanks.as_deref().unwrap_or(self.labels.get(Label::Thanks)));
                Some(Ok(Awaiting::Nothing))
            }
            SurveyOutcome::NotAnswered => {
                tracing::info!("a reply that is no answer to the survey: the survey is dropped and the bot answers");
                None
            }
        }
    }

    /// Submits a survey's answers. A failure is logged and the user thanked all the same, as
    /// Inbenta's PHP does, unless the service is out and another attempt will come: then `Err`
    /// (its cause), and the turn waits for it.
    async fn submit_survey(&self, survey: &Survey, answers: &[SurveyAnswer]) -> Result<(), String> {
        let Some(surveys) = self.live_chat.surveys() else {
            tracing::warn!("a survey was answered but surveys are no longer configured: its answers are not submitted");
            return Ok(());
        };
        match self.agent(surveys.submit(survey, answers)).await {
            Ok(()) => Ok(()),
            Err(error) if error.is_retryable() && self.on_outage == OnOutage::Postpone => Err(crate::error_chain(&error)),
            Err(error) => {
                tracing::warn!(error = %crate::error_chain(&error), "the survey's answers were not submitted");
                Ok(())
            }
        }
    }

    /// A message of a user who is in a live chat: passed on to the agent (its text, then its
    /// files), or `/close`.
    async fn relay(&self, conv: &mut Conversation, chat: &ChatRef, text: &str, files: &[UserFile], turn: &mut Turn) -> Relayed {
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
            let sent = match self.deadline {
                Some(deadline) => tokio::time::timeout_at(deadline, send)
                    .await
                    .unwrap_or_else(|_| Err(LiveChatError::Unconfirmed("the request's deadline passed".into()))),
                None => send.await,
            };
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
    async fn fetch(&self, file: &UserFile) -> Result<crate::ports::FileContent, FileError> {
        match self.deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, self.channel.fetch_file(file))
                .await
                .unwrap_or_else(|_| Err(FileError::Unavailable("the request's deadline passed".into()))),
            None => self.channel.fetch_file(file).await,
        }
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
                Relayed::Handled => {
                    let awaiting = std::mem::take(&mut conv.awaiting);
                    return Ok(turn.finish(conv, awaiting));
                }
                Relayed::Postponed(cause) => return Err(Outage { cause, apology: None }),
                Relayed::ChatOver => {}
            }
        }
        // The survey after a chat comes first, as in Inbenta's PHP; a reply that is no answer
        // to it goes on to the bot (or the agent, in only-chat mode).
        match std::mem::take(&mut conv.awaiting) {
            Awaiting::Survey(run) if !text.is_empty() => match self.answer_survey(run, text, tap, &mut turn).await {
                Some(Ok(awaiting)) => return Ok(turn.finish(conv, awaiting)),
                Some(Err(cause)) => {
                    tracing::warn!(error = %cause, "the survey's answers could not be submitted: the turn waits for a retry");
                    return Err(Outage { cause, apology: None });
                }
                None => {}
            },
            other => conv.awaiting = other,
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
        match std::mem::take(&mut conv.awaiting) {
            Awaiting::RatingComment(rating) => {
                self.track_quietly(conv, "rate", json!({ "code": rating.code, "value": rating.id, "comment": text })).await;
                turn.text(self.labels.get(Label::Thanks));
            }
            unchanged if text.is_empty() => {
                // Nothing the bot can read: keep whatever was pending.
                turn.text(self.labels.get(Label::UnsupportedMessage));
                return Ok(turn.finish(conv, unchanged));
            }
            awaiting => {
                let pending_before = match awaiting {
                    Awaiting::Choice(prompt) => Some(prompt),
                    _ => None,
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
                    return Err(Outage { cause, apology: Some(apology) });
                }
            }
        }
        Ok(turn.finish(conv, Awaiting::Nothing))
    }

    /// A text message outside the special states: a pick of a pending option, or a question.
    /// A tap picks its option when that option is still pending; a tap on an older question's
    /// button counts as its label typed.
    async fn respond(
        &self,
        conv: &mut Conversation,
        text: &str,
        tap: Option<&Tap>,
        pending: Option<PendingPrompt>,
        now: Timestamp,
        turn: &mut Turn,
    ) -> Result<(), ChatbotError> {
        let Some(prompt) = pending else {
            return self.ask_and_present(conv, &BotInput::Message(text.to_owned()), now, turn).await;
        };
        let options = &prompt.options;
        let tapped = tap.and_then(|tap| {
            let index = tap.number.checked_sub(1)?;
            options.get(index).filter(|o| matching::fold(&o.label) == matching::fold(&tap.label)).map(|_| index)
        });
        let picked = tapped.or_else(|| {
            matching::pick(text, options.len(), |i| {
                let option = &options[i];
                std::iter::once(option.label.as_str()).chain(option.aliases.iter().map(String::as_str)).chain(option.button.as_deref())
            })
        });
        let Some(option) = picked.map(|i| options[i].clone()) else {
            match prompt.kind {
                PromptKind::Rating => turn.text(self.labels.get(Label::NoRatingGiven)),
                PromptKind::Escalation => reset_escalation_counters(conv),
                PromptKind::Options => {}
            }
            return self.ask_and_present(conv, &BotInput::Message(text.to_owned()), now, turn).await;
        };
        if let Some(code) = &option.click_code {
            self.track_quietly(conv, "click", json!({ "code": code })).await;
        }
        match option.action {
            OptionAction::BotOption(value) => self.ask_and_present(conv, &BotInput::Option(value), now, turn).await,
            OptionAction::BotMessage(message) => self.ask_and_present(conv, &BotInput::Message(message), now, turn).await,
            OptionAction::Show(text) => {
                turn.text(&text);
                Ok(())
            }
            OptionAction::Rate { rating, comment, negative } => self.rate(conv, rating, comment, negative, now, turn).await,
            OptionAction::Escalate { accept, offer } => {
                reset_escalation_counters(conv);
                if !accept {
                    turn.text(self.labels.get(Label::EscalationRejected));
                    self.track_quietly(conv, tracked::CHAT_ESCALATION_REJECTED, json!({ "value": "true" })).await;
                    Ok(())
                } else if offer {
                    self.start_escalation_form(conv, now, turn).await
                } else {
                    self.open_chat(conv, None, turn).await;
                    Ok(())
                }
            }
        }
    }

    async fn ask_and_present(
        &self,
        conv: &mut Conversation,
        input: &BotInput,
        now: Timestamp,
        turn: &mut Turn,
    ) -> Result<(), ChatbotError> {
        let response = self.ask(conv, input, now).await?;
        self.present(conv, response, now, turn, true).await
    }

    /// Sends to the bot, (re)starting its session when absent, idle too long, or expired upstream.
    async fn ask(&self, conv: &mut Conversation, input: &BotInput, now: Timestamp) -> Result<BotResponse, ChatbotError> {
        let session = self.session(conv, now).await?;
        let response = match self.bot(self.chatbot.send(&session, input)).await {
            Err(ChatbotError::SessionExpired) => {
                let renewed = self.start_session(conv, now).await?;
                self.bot(self.chatbot.send(&renewed, input)).await?
            }
            other => other?,
        };
        if let Some(session) = conv.bot_session.as_mut() {
            session.last_used_at = now;
        }
        Ok(response)
    }

    async fn session(&self, conv: &mut Conversation, now: Timestamp) -> Result<BotSession, ChatbotError> {
        let fresh = conv.bot_session.as_ref().filter(|s| now.seconds_since(s.last_used_at) < self.policy.bot_session_idle_secs).cloned();
        match fresh {
            Some(session) => Ok(session),
            None => self.start_session(conv, now).await,
        }
    }

    async fn start_session(&self, conv: &mut Conversation, now: Timestamp) -> Result<BotSession, ChatbotError> {
        let token = self.bot(self.chatbot.start_conversation()).await?;
        let session = BotSession { token, started_at: now, last_used_at: now };
        conv.bot_session = Some(session.clone());
        Ok(session)
    }

    async fn track_quietly(&self, conv: &Conversation, kind: &str, data: Value) {
        let Some(session) = conv.bot_session.as_ref() else { return };
        let event = TrackingEvent { kind: kind.to_owned(), data };
        if let Err(error) = self.bot(self.chatbot.track(session, &event)).await {
            tracing::warn!(error = %crate::error_chain(&error), kind, "tracking event not recorded");
        }
    }

    /// Turns the bot's answers into replies and options, then decides what follows: an
    /// escalation (offer, form, chat) or a rating question. `may_escalate` is false for the
    /// answer to our own `escalationStart`, so a misconfigured bot cannot loop.
    async fn present(
        &self,
        conv: &mut Conversation,
        response: BotResponse,
        now: Timestamp,
        turn: &mut Turn,
        may_escalate: bool,
    ) -> Result<(), ChatbotError> {
        let mut answers = response.answers;
        let mut trigger = None;
        for answer in &answers {
            conv.no_results_count = if answer.has_flag(FLAG_NO_RESULTS) { conv.no_results_count + 1 } else { 0 };
            if trigger.is_none() && self.policy.escalation.enabled {
                trigger = self.trigger(answer, conv);
            }
        }
        // The bot follows an offer with its own yes/no question; ours replaces it.
        if trigger == Some(Trigger::Offer) && answers.last().is_some_and(|a| a.kind == AnswerKind::PolarQuestion) {
            answers.pop();
        }
        let rate_code = rate_code(&answers);
        for answer in &answers {
            self.present_answer(answer, turn);
        }
        // The bot passes the user on, but no live chat is configured: say so, not silence.
        if !self.policy.escalation.enabled && answers.iter().any(requests_agent) {
            turn.text(self.labels.get(Label::NoAgents));
            return Ok(());
        }
        match trigger {
            Some(Trigger::FormDone(form)) => self.open_chat(conv, Some(form), turn).await,
            Some(Trigger::Direct) if may_escalate => self.start_escalation_form(conv, now, turn).await?,
            Some(Trigger::Direct) => {}
            Some(trigger) => self.offer_escalation(conv, trigger, now, turn).await?,
            None => self.offer_rating(rate_code, turn),
        }
        Ok(())
    }

    fn trigger(&self, answer: &Answer, conv: &Conversation) -> Option<Trigger> {
        let callback = answer.actions.first().and_then(|a| a.parameters.as_ref());
        if let Some(parameters) = callback.filter(|p| p.callback.as_deref() == Some("escalateToAgent")) {
            let form = parameters.data.as_ref().and_then(Value::as_object).cloned().unwrap_or_default();
            return Some(Trigger::FormDone(form));
        }
        let policy = &self.policy.escalation;
        if requests_agent(answer) {
            Some(Trigger::ApiFlag)
        } else if policy.tries_before_escalation > 0 && conv.no_results_count >= policy.tries_before_escalation {
            Some(Trigger::NoResults)
        } else if answer.attribute("DIRECT_CALL") == "escalationOffer" || answer.attribute("DYNAMIC_REDIRECT") == "escalationOffer" {
            Some(Trigger::Offer)
        } else if callback.and_then(|p| p.callback.as_deref()) == Some(DIRECT_CALL_ESCALATION_START) {
            Some(Trigger::Direct)
        } else {
            None
        }
    }

    /// Asks "Do you want to talk to an agent?" when one is available; otherwise says so (or,
    /// for the bot's own offer, lets the bot's escalation flow handle "no agents").
    async fn offer_escalation(
        &self,
        conv: &mut Conversation,
        trigger: Trigger,
        now: Timestamp,
        turn: &mut Turn,
    ) -> Result<(), ChatbotError> {
        let offer = trigger == Trigger::Offer;
        if self.agents_available().await {
            let yes_no =
                [(self.labels.get(Label::Yes), "yes", true), (self.labels.get(Label::No), "no", false)].map(|(label, key, accept)| {
                    PendingOption {
                        label: label.to_owned(),
                        aliases: vec![key.to_owned()],
                        action: OptionAction::Escalate { accept, offer },
                        button: None,
                        click_code: None,
                    }
                });
            turn.choice(self.labels.get(Label::AskToEscalate), yes_no.into(), PromptKind::Escalation, self.labels);
            return Ok(());
        }
        if offer {
            return self.start_escalation_form(conv, now, turn).await;
        }
        turn.text(self.labels.get(Label::NoAgents));
        // The next failure offers again instead of waiting for a whole new series.
        match trigger {
            Trigger::NoResults => conv.no_results_count = conv.no_results_count.saturating_sub(1),
            Trigger::NegativeRatings => conv.negative_ratings_count = conv.negative_ratings_count.saturating_sub(1),
            _ => {}
        }
        self.track_quietly(conv, tracked::CHAT_NO_AGENTS, json!({ "value": "true" })).await;
        Ok(())
    }

    /// Lets the bot run its escalation form: tells it whether agents are available, then sends
    /// the `escalationStart` direct call and shows its answer (the first form question).
    async fn start_escalation_form(&self, conv: &mut Conversation, now: Timestamp, turn: &mut Turn) -> Result<(), ChatbotError> {
        let available = self.agents_available().await;
        let session = self.session(conv, now).await?;
        let value = if available { "true" } else { "false" };
        if let Err(error) = self.bot(self.chatbot.set_variable(&session, "agents_available", value)).await {
            tracing::warn!(error = %crate::error_chain(&error), "agents_available variable not set");
        }
        let response = self.ask(conv, &BotInput::DirectCall(DIRECT_CALL_ESCALATION_START.into()), now).await?;
        if !available {
            self.track_quietly(conv, tracked::CHAT_NO_AGENTS, json!({ "value": "true" })).await;
        }
        Box::pin(self.present(conv, response, now, turn, false)).await
    }

    /// Opens the live chat with what the escalation form collected, if anything.
    async fn open_chat(&self, conv: &mut Conversation, form: Option<serde_json::Map<String, Value>>, turn: &mut Turn) {
        if !self.agents_available().await {
            turn.text(self.labels.get(Label::NoAgents));
            self.track_quietly(conv, tracked::CHAT_NO_AGENTS, json!({ "value": "true" })).await;
            return;
        }
        turn.text(self.labels.get(Label::CreatingChat));
        let mut request = chat_request(self.external_id, form.unwrap_or_default());
        if request.name.is_empty() {
            request.name = self.display_name().await.unwrap_or_default();
        }
        request.history = self.transcript(conv).await;
        match self.agent(self.live_chat.open_chat(&request)).await {
            Ok(chat) => {
                conv.contact = Some(request.contact.clone()).filter(|c| !c.trim().is_empty());
                let origin = self.live_chat.origin();
                let value = json!({ "chatId": chat.chat_id, "appId": origin.app_id, "region": origin.region });
                self.track_quietly(conv, tracked::CHAT_ATTENDED, json!({ "value": value })).await;
                conv.mode = Mode::LiveChat { chat, stage: ChatStage::Queued, ticket: None };
            }
            Err(LiveChatError::NoAgents) => {
                turn.text(self.labels.get(Label::NoAgents));
                self.track_quietly(conv, tracked::CHAT_NO_AGENTS, json!({ "value": "true" })).await;
            }
            Err(error) => {
                tracing::warn!(error = %crate::error_chain(&error), "live chat not opened");
                turn.text(self.labels.get(Label::ErrorCreatingChat));
            }
        }
    }

    /// The bot conversation so far, for the agent; none when it cannot be read.
    async fn transcript(&self, conv: &Conversation) -> Vec<HistoryLine> {
        let Some(session) = conv.bot_session.as_ref() else { return Vec::new() };
        self.bot(self.chatbot.history(session)).await.unwrap_or_else(|error| {
            tracing::warn!(error = %crate::error_chain(&error), "bot transcript unavailable; the chat opens without it");
            Vec::new()
        })
    }

    /// The channel's name for the user, never past the deadline.
    async fn display_name(&self) -> Option<String> {
        match self.deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, self.channel.display_name()).await.ok().flatten(),
            None => self.channel.display_name().await,
        }
    }

    async fn agents_available(&self) -> bool {
        self.agent(self.live_chat.agents_available()).await.unwrap_or_else(|error| {
            tracing::warn!(error = %crate::error_chain(&error), "agent availability unknown, assuming none");
            false
        })
    }

    /// Asks "Was this answer helpful?" after a rateable answer, unless another question is
    /// already pending (its numbers would collide with the ratings').
    fn offer_rating(&self, rate_code: Option<String>, turn: &mut Turn) {
        let ratings = &self.policy.ratings;
        let Some(code) = rate_code.filter(|_| ratings.enabled && turn.options.is_empty()) else { return };
        let options = ratings
            .ratings
            .iter()
            .map(|r| PendingOption {
                label: self.labels.translate_or_keep(&r.label).to_owned(),
                aliases: vec![r.label.clone()],
                action: OptionAction::Rate {
                    rating: RatingChoice { code: code.clone(), id: r.id },
                    comment: r.comment,
                    negative: r.is_negative,
                },
                button: None,
                click_code: None,
            })
            .collect();
        turn.choice(self.labels.get(Label::RateContentIntro), options, PromptKind::Rating, self.labels);
    }

    /// Records a rating. A rating that asks for a reason is tracked once the reason arrives
    /// (one event with its comment, not two); enough negative ratings in a row offer an agent.
    async fn rate(
        &self,
        conv: &mut Conversation,
        rating: RatingChoice,
        comment: bool,
        negative: bool,
        now: Timestamp,
        turn: &mut Turn,
    ) -> Result<(), ChatbotError> {
        conv.negative_ratings_count = if negative { conv.negative_ratings_count + 1 } else { 0 };
        let policy = &self.policy.escalation;
        let threshold = policy.negative_ratings_before_escalation;
        let escalate = policy.enabled && threshold > 0 && conv.negative_ratings_count >= threshold;
        if comment && !escalate {
            turn.text(self.labels.get(Label::AskRatingComment));
            turn.comment = Some(rating);
            return Ok(());
        }
        self.track_quietly(conv, "rate", json!({ "code": rating.code, "value": rating.id, "comment": Value::Null })).await;
        turn.text(self.labels.get(Label::Thanks));
        if escalate {
            self.offer_escalation(conv, Trigger::NegativeRatings, now, turn).await?;
        }
        Ok(())
    }

    fn present_answer(&self, answer: &Answer, turn: &mut Turn) {
        match answer.kind {
            AnswerKind::Answer | AnswerKind::Other => self.present_plain(answer, turn),
            AnswerKind::MultipleChoiceQuestion | AnswerKind::PolarQuestion => {
                let options = answer
                    .options
                    .iter()
                    .map(|o| {
                        let shown = self.labels.translate_or_keep(&o.label).to_owned();
                        let title = o.attributes.get("title").and_then(Value::as_str).unwrap_or_default();
                        let aliases =
                            [o.label.as_str(), title].into_iter().filter(|a| !a.is_empty() && *a != shown).map(str::to_owned).collect();
                        PendingOption {
                            label: shown,
                            aliases,
                            action: OptionAction::BotOption(o.value.clone()),
                            button: self.button_title(&o.attributes),
                            click_code: o.click_code(),
                        }
                    })
                    .collect();
                turn.choice(&answer.message, options, PromptKind::Options, self.labels);
            }
            AnswerKind::ExtendedContentsAnswer => self.present_federated(answer, turn),
        }
    }

    fn present_plain(&self, answer: &Answer, turn: &mut Turn) {
        let mut text = answer.display_text();
        let field = answer.action_field.as_ref();
        if field.is_some_and(|f| f.field_type == "datePicker") {
            text = format!("{} {}", text.trim_end(), self.labels.get(Label::DateFormatHint));
        }
        let list = field.and_then(|f| f.list_values.as_ref()).filter(|l| !l.values.is_empty());
        match list {
            Some(list) => {
                let options = list
                    .values
                    .iter()
                    .map(|v| PendingOption {
                        label: v.option.clone(),
                        aliases: v.label.clone(),
                        action: OptionAction::BotMessage(v.option.clone()),
                        button: None,
                        click_code: None,
                    })
                    .collect();
                turn.choice(&text, options, PromptKind::Options, self.labels);
            }
            None => match self.link_buttons(answer) {
                Some(links) => turn.replies.push(Reply::Links { text, links }),
                None => turn.text(&text),
            },
        }
        if let Some(related) = answer.related() {
            let options = related
                .related_contents
                .iter()
                .map(|c| PendingOption {
                    label: c.title.clone(),
                    aliases: Vec::new(),
                    action: OptionAction::BotMessage(c.title.clone()),
                    button: None,
                    click_code: c.click_code(),
                })
                .collect();
            turn.choice(&related.related_title, options, PromptKind::Options, self.labels);
        }
    }

    /// Federated bot results: one is shown directly; several become a numbered choice whose pick
    /// is shown without asking the bot again; results that are links are listed with their URL.
    fn present_federated(&self, answer: &Answer, turn: &mut Turn) {
        let intro = answer.message.trim();
        let subs = &answer.sub_answers;
        let url_of = |a: &Answer| a.contents().and_then(|c| c.url.as_ref()).map(|u| u.value.clone()).filter(|u| !u.is_empty());
        if subs.iter().any(|a| url_of(a).is_some()) {
            let listed: Vec<String> = subs
                .iter()
                .map(|a| match url_of(a) {
                    Some(url) => format!("<p>{} <a href=\"{url}\">{url}</a></p>", a.message.trim()),
                    None => format!("<p>{}</p>", a.message.trim()),
                })
                .collect();
            turn.text(&format!("<p>{intro}</p>{}", listed.concat()));
        } else if let [only] = subs.as_slice() {
            turn.text(intro);
            self.present_plain(only, turn);
        } else {
            let options = subs
                .iter()
                .map(|a| {
                    let title = a.attribute("title");
                    PendingOption {
                        label: if title.is_empty() { a.message.clone() } else { title.to_owned() },
                        aliases: Vec::new(),
                        action: OptionAction::Show(a.display_text()),
                        button: self.button_title(&a.attributes),
                        click_code: a.tracking_code().and_then(|t| t.click_code.clone()),
                    }
                })
                .collect();
            turn.choice(intro, options, PromptKind::Options, self.labels);
        }
    }
}

impl Engine<'_> {
    /// The option's short button title, when the instance sets `digester.button_title`.
    fn button_title(&self, attributes: &BTreeMap<String, Value>) -> Option<String> {
        let name = &self.policy.digester.button_title;
        if name.is_empty() {
            return None;
        }
        attributes.get(name).and_then(Value::as_str).map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned)
    }

    /// The answer's link buttons (`digester.url_buttons`): one object or a list of them, each
    /// with a title and a URL; `None` when any is incomplete, so a half-configured attribute
    /// leaves the plain answer.
    fn link_buttons(&self, answer: &Answer) -> Option<Vec<Link>> {
        let config = &self.policy.digester.url_buttons;
        if config.attribute_name.is_empty() {
            return None;
        }
        let value = answer.attributes.get(&config.attribute_name)?;
        let items = match value {
            Value::Array(items) => items.iter().collect(),
            Value::Object(_) => vec![value],
            _ => return None,
        };
        let field =
            |item: &Value, name: &str| item.get(name).and_then(Value::as_str).map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
        let links: Option<Vec<Link>> = items
            .into_iter()
            .map(|item| Some(Link { title: field(item, &config.button_title_var)?, url: field(item, &config.button_url_var)? }))
            .collect();
        links.filter(|links| !links.is_empty())
    }
}

fn reset_escalation_counters(conv: &mut Conversation) {
    conv.no_results_count = 0;
    conv.negative_ratings_count = 0;
}

/// The bot's answer passes the user on to a person (its `escalate` flag or `ESCALATE` setting).
fn requests_agent(answer: &Answer) -> bool {
    answer.has_flag("escalate") || answer.attribute("ESCALATE").eq_ignore_ascii_case("true")
}

/// The rate code of the last rateable answer: an `answer` with a `rateCode` that is neither
/// flagged `no-rating`/`escalate` nor part of an escalation.
fn rate_code(answers: &[Answer]) -> Option<String> {
    answers
        .iter()
        .rev()
        .find(|a| {
            a.kind == AnswerKind::Answer
                && !a.has_flag("no-rating")
                && !a.has_flag("escalate")
                && a.attribute("DIRECT_CALL") != "escalationOffer"
                && a.actions.first().and_then(|x| x.parameters.as_ref()).and_then(|p| p.callback.as_deref())
                    != Some(DIRECT_CALL_ESCALATION_START)
        })
        .and_then(|a| a.tracking_code()?.rate_code.clone())
}

/// The escalation form's standard fields become the chat user's name and contact; the rest
/// travels as extra information.
fn chat_request(external_id: &str, mut form: serde_json::Map<String, Value>) -> ChatRequest {
    let mut take = |key: &str| form.remove(key).and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    let name = format!("{} {}", take("FIRST_NAME"), take("LAST_NAME")).trim().to_owned();
    let contact = take("EMAIL_ADDRESS");
    ChatRequest { external_id: external_id.to_owned(), name, contact, extra: form, history: Vec::new() }
}

fn failure_label(error: &ChatbotError) -> Label {
    match error {
        ChatbotError::Timeout => Label::ApiTimeout,
        _ => Label::ApiError,
    }
}

impl Engine<'_> {
    /// A chatbot call, ended as a timeout when the deadline comes first.
    async fn bot<T>(&self, call: impl Future<Output = Result<T, ChatbotError>>) -> Result<T, ChatbotError> {
        match self.deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, call).await.unwrap_or(Err(ChatbotError::Timeout)),
            None => call.await,
        }
    }

    /// A live-chat call, ended as unavailable when the deadline comes first.
    pub(crate) async fn agent<T>(&self, call: impl Future<Output = Result<T, LiveChatError>>) -> Result<T, LiveChatError> {
        match self.deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, call)
                .await
                .unwrap_or_else(|_| Err(LiveChatError::Unavailable("the request's deadline passed".into()))),
            None => call.await,
        }
    }
}

/// The replies and options of one turn.
#[derive(Default)]
struct Turn {
    replies: Vec<Reply>,
    options: Vec<PendingOption>,
    kind: PromptKind,
    /// A rating whose reason the user was asked for.
    comment: Option<RatingChoice>,
}

impl Turn {
    fn text(&mut self, text: &str) {
        if !text.trim().is_empty() {
            self.replies.push(Reply::Text(text.to_owned()));
        }
    }

    /// Adds a choice numbered after every option already offered in this turn.
    fn choice(&mut self, text: &str, options: Vec<PendingOption>, kind: PromptKind, labels: &Labels) {
        if options.is_empty() {
            self.text(text);
            return;
        }
        let first_number = self.options.len() + 1;
        let shown = options.iter().map(|o| ChoiceOption { label: o.label.clone(), button: o.button.clone() }).collect();
        self.options.extend(options);
        self.kind = kind;
        self.replies.push(Reply::Choice {
            text: text.to_owned(),
            options: shown,
            first_number,
            number_hint: labels.get(Label::TypeANumber).to_owned(),
        });
    }

    /// Stores what the turn asked (or `fallback` when it asked nothing) and returns its replies.
    fn finish(self, conv: &mut Conversation, fallback: Awaiting) -> Vec<Reply> {
        conv.awaiting = match (self.options.is_empty(), self.comment) {
            (false, _) => Awaiting::Choice(PendingPrompt { kind: self.kind, options: self.options }),
            (true, Some(rating)) => Awaiting::RatingComment(rating),
            (true, None) => fallback,
        };
        self.replies
    }
}

#[cfg(test)]
#[path = "step_tests.rs"]
mod tests;
