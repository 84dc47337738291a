//! One event, exactly once, in the order that keeps replies exactly-once and ordered even when
//! a processing attempt dies part way or an answer is lost. The queue hands a conversation's
//! events over one at a time, in order (its FIFO group), so no lease is taken:
//!
//! 1. load the conversation and the message's progress record (`seen#<id>`): done means a
//!    duplicate; an outbox of this very message means its turn was committed, and only its
//!    delivery is finished;
//! 2. finish an earlier turn's replies that are still unsent (its message was given up);
//! 3. run the engine step (a bot outage postpones the turn, unless this is the last attempt);
//! 4. commit the new state together with the turn's outbox, if the version is still the one
//!    loaded;
//! 5. send the replies in order, recording in the progress record before each send that it
//!    may have happened (a write whose answer is lost is read back before anything is sent on
//!    its strength). The record of the last send is the message's "done". A send whose answer
//!    is lost is recorded in doubt where the provider can be asked: the retry asks it, and sends
//!    the message again only if the provider never got it.
//!
//! A retry of a message whose attempt died finds either no commit (and runs the turn) or its
//! outbox (and sends only what was never attempted): nothing is answered twice, and a turn
//! whose attempt died is never silently dropped.

mod delivery;
mod user_channel;

use crate::channel::{AnySender, Event, Lookup, Occasion, Rendered, Route, SendError, SendTag, Senders};
use crate::fingerprint::Fingerprinter;
use crate::store::{Commit, LastSend, Outbox, Progress, StateStore, StoreError, TicketKey, TicketRecipient, Versioned};
use connector_engine::conversation::ConversationKey;
use connector_engine::conversation::ReplyAddress;
use connector_engine::error_chain;
use connector_engine::extra_info::TurnSettings;
use connector_engine::labels::Labels;
use connector_engine::ports::{Chatbot, Clock, FileError, LiveChat, UserChannel};
use connector_engine::step::{
    AgentNote, ChatEvent, Engine, ForAgent, Input, Missed, OnOutage, Outage, Policy, Step, agent_note, shows_agent_typing,
};
use connector_engine::values::{ChatRef, ExtraInfo, FileContent, MessageId, Timestamp, UserFile};
use delivery::*;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use upstream::Backoff;
use user_channel::UserChannelPort;

/// The environment variable of the `state` table.
pub const ENV: &[(&str, &str)] = &[("TABLE_NAME", "state.table_name")];

/// How long a user's alias leads to their conversation: a user who wrote with their number and
/// username once may come back with the username only, months later.
const ALIAS_TTL: Duration = Duration::from_secs(365 * 86_400);

/// The store key of the conversation an alias leads to.
fn alias_index(alias: &ConversationKey) -> String {
    format!("alias#{alias}")
}

/// The longest a typing indicator may take; it runs beside the bot call.
const TYPING_TIMEOUT: Duration = Duration::from_secs(2);

/// The `state` table: persistence and timing.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct StateSettings {
    /// DynamoDB table; unset means the in-memory store.
    #[serde(default)]
    pub table_name: Option<String>,
    /// Idle conversations are forgotten after this long (DynamoDB TTL).
    pub conversation_ttl_secs: u64,
    /// A bot session idle this long is replaced by a new one before sending.
    pub bot_session_idle_secs: u64,
    /// How long provider message ids are remembered for deduplication (far longer than the
    /// queue's five minutes: providers retry for hours).
    pub dedupe_ttl_secs: u64,
    /// How long replies to the ticket of a closed chat still reach its user (the ticket and
    /// contact indexes expire after this).
    #[serde(default = "default_ticket_index_ttl_secs")]
    pub ticket_index_ttl_secs: u64,
    /// The end of each message's processing budget kept for sending the replies.
    pub send_reserve_ms: u64,
    /// The very end of it kept for the last state writes.
    pub store_reserve_ms: u64,
}

/// Thirty days: tickets are answered within days, not months.
fn default_ticket_index_ttl_secs() -> u64 {
    30 * 86_400
}

impl StateSettings {
    /// The table, when one is named.
    pub fn table(&self) -> Option<&str> {
        self.table_name.as_deref().filter(|t| !t.is_empty())
    }

    pub fn timing(&self) -> Timing {
        Timing {
            conversation_ttl: Duration::from_secs(self.conversation_ttl_secs),
            dedupe_ttl: Duration::from_secs(self.dedupe_ttl_secs),
            ticket_index_ttl: Duration::from_secs(self.ticket_index_ttl_secs),
            send_reserve: Duration::from_millis(self.send_reserve_ms),
            store_reserve: Duration::from_millis(self.store_reserve_ms),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Timing {
    pub conversation_ttl: Duration,
    pub dedupe_ttl: Duration,
    /// How long the ticket and contact indexes lead replies to a ticket to its user.
    pub ticket_index_ttl: Duration,
    /// Kept free at the end of the deadline for sending the replies.
    pub send_reserve: Duration,
    /// Kept free at the very end for the last state writes.
    pub store_reserve: Duration,
}

impl Timing {
    /// The reserves for sending and for the last writes, shrunk in proportion when the whole
    /// budget has less than twice their time: the bot always gets at least half of it.
    fn budget(&self, now: Instant, deadline: Instant) -> Budget {
        let total = deadline.saturating_duration_since(now);
        let reserves = self.send_reserve.saturating_add(self.store_reserve);
        let (send_reserve, store_reserve) = if reserves.is_zero() || total >= reserves.saturating_mul(2) {
            (self.send_reserve, self.store_reserve)
        } else {
            let scale = total.as_secs_f64() / 2.0 / reserves.as_secs_f64();
            (self.send_reserve.mul_f64(scale), self.store_reserve.mul_f64(scale))
        };
        let hard = deadline;
        let send = hard.checked_sub(store_reserve).unwrap_or(hard);
        let work = send.checked_sub(send_reserve).unwrap_or(send);
        Budget { work, send, hard }
    }
}

pub struct Pipeline {
    pub chatbot: Arc<dyn Chatbot>,
    pub live_chat: Arc<dyn LiveChat>,
    pub store: Arc<dyn StateStore>,
    pub clock: Arc<dyn Clock>,
    /// Labels from the `lang/` files; ExtraInfo translations override them per turn.
    pub labels: Arc<Labels>,
    /// The conversation language (which ExtraInfo translations apply).
    pub lang: String,
    pub policy: Policy,
    /// Only-chat mode from the configuration, unless ExtraInfo says otherwise.
    pub only_chat_mode: bool,
    pub timing: Timing,
    /// Who replies reach, by the channel of their address.
    pub sinks: Senders,
    /// The largest file a user may send their agent (the live chat's limit).
    pub max_user_file_bytes: u64,
    pub fingerprints: Fingerprinter,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Handled; `sent` provider messages went out.
    Replied { sent: usize },
    /// The bot stayed out until the last attempt: the user was told (`sent` messages), and the
    /// message is kept aside with its cause.
    GaveUp { sent: usize, cause: String },
    /// A message already handled: nothing done.
    Duplicate,
    /// An event for no conversation (a chat that is not ours, or long over): nothing done.
    Ignored,
    /// An agent's typing was shown to the user (no turn, nothing stored).
    TypingShown,
    /// A chat's or ticket's event, put in its conversation's queue group.
    Forwarded,
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("state store failed")]
    Store(#[from] StoreError),
    #[error("the state store did not answer before the deadline")]
    StoreTimeout,
    /// The bot was out and another attempt will come: nothing of the turn was kept.
    #[error("the chatbot is unavailable: {0}")]
    Postponed(String),
    #[error("whose chat it is is not known yet")]
    OwnerUnknown,
    #[error("replies could not all be sent")]
    Undelivered(#[source] SendError),
    /// A send's answer was lost: the next attempt asks the provider whether it got it.
    #[error("a reply's send was not confirmed")]
    Unconfirmed(#[source] SendError),
    #[error("no sender for channel {0}")]
    NoSender(String),
    /// The conversation's previous turn is not fully delivered and its last send started too
    /// recently for its attempt to be over: that attempt may still be sending, so this one
    /// waits rather than send the same replies beside it.
    #[error("an earlier turn of the conversation may still be sending its replies")]
    EarlierTurnSending,
}

impl PipelineError {
    /// Whether another attempt later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Store(e) => e.is_retryable(),
            Self::StoreTimeout | Self::Postponed(_) | Self::OwnerUnknown | Self::Unconfirmed(_) | Self::EarlierTurnSending => true,
            Self::Undelivered(e) => matches!(e, SendError::Unavailable(_) | SendError::NotConfigured(_)),
            Self::NoSender(_) => false,
        }
    }
}

/// How one message's processing budget is shared out.
#[derive(Debug, Clone, Copy)]
struct Budget {
    /// Bot and live-chat calls.
    work: Instant,
    /// Sends.
    send: Instant,
    /// The last state writes.
    hard: Instant,
}

/// The conversation an event belongs to, and the reply address an index holds for it (tickets
/// outlive conversations, so a reply to one may find its conversation gone).
pub struct Whose {
    pub key: ConversationKey,
    pub indexed_address: Option<ReplyAddress>,
}

impl Pipeline {
    /// Processes one event. `last_attempt`: no retry will follow, so a bot outage is told to
    /// the user now instead of waiting.
    #[tracing::instrument(skip_all, fields(conversation = tracing::field::Empty))]
    pub async fn handle(&self, event: &Event, deadline: Instant, last_attempt: bool) -> Result<Outcome, PipelineError> {
        let budget = self.timing.budget(Instant::now(), deadline);
        let now = self.clock.now();
        if let Input::Chat { chat_id, event: ChatEvent::Writing { writer } } = &event.input {
            return Ok(self.show_agent_typing(chat_id, writer, budget).await);
        }
        let Some(whose) = self.conversation_of(&event.route, now, budget).await? else {
            return Ok(Outcome::Ignored);
        };
        tracing::Span::current().record("conversation", self.fingerprints.of(whose.key.as_str()));
        let outcome = self.process(event, &whose, budget, last_attempt).await;
        if let Err(error) = &outcome {
            tracing::warn!(error = %error_chain(error), retryable = error.is_retryable(), "message not fully handled");
        }
        outcome
    }

    /// The conversation of a chat's or ticket's event, for the queue group it joins: its key
    /// and the address a ticket index holds (`None`: nobody's).
    pub async fn resolve(&self, route: &Route, deadline: Instant) -> Result<Option<Whose>, PipelineError> {
        let budget = self.timing.budget(Instant::now(), deadline);
        self.conversation_of(route, self.clock.now(), budget).await
    }

    /// The channel a resolved conversation's replies go through, whose queue its events join;
    /// `None` until the conversation has committed a turn (or an index holds its address).
    pub async fn channel_of(&self, whose: &Whose, deadline: Instant) -> Result<Option<String>, PipelineError> {
        let stored = self.bounded(self.store.peek(&whose.key, self.clock.now()), deadline).await?;
        Ok(stored.and_then(|c| c.address).or_else(|| whose.indexed_address.clone()).map(|a| a.channel))
    }

    /// Whose conversation the event is; `None`: nobody's, ignored.
    async fn conversation_of(&self, route: &Route, now: Timestamp, budget: Budget) -> Result<Option<Whose>, PipelineError> {
        let found = |key| Ok(Some(Whose { key, indexed_address: None }));
        match route {
            Route::Conversation(key) => found(key.clone()),
            Route::Linked { key, alias } => {
                let index = alias_index(alias);
                let linked = self.bounded(self.store.cache_get(&index, now), budget.work).await?;
                if linked.as_deref() != Some(key.as_str()) {
                    tracing::info!("a user's alias linked to their conversation");
                    self.bounded(self.store.cache_put(&index, key.as_str(), now.plus(ALIAS_TTL)), budget.work).await?;
                }
                found(key.clone())
            }
            Route::Alias(alias) => match self.bounded(self.store.cache_get(&alias_index(alias), now), budget.work).await? {
                Some(key) => found(ConversationKey::new(key)),
                None => found(alias.clone()),
            },
            Route::Resolved { key, indexed_address } => Ok(Some(Whose { key: key.clone(), indexed_address: indexed_address.clone() })),
            Route::Chat(chat_id) => match self.bounded(self.store.chat_conversation(chat_id, now), budget.work).await? {
                Some(key) => found(key),
                // Not indexed (yet: the turn that opened it may still be committing): the
                // service knows whose chat it is.
                None => match tokio::time::timeout_at(budget.work, self.live_chat.chat_owner(chat_id)).await {
                    Ok(Ok(Some(external_id))) => found(ConversationKey::new(external_id)),
                    Ok(Ok(None)) => {
                        tracing::info!("event of a chat no conversation has: ignored");
                        Ok(None)
                    }
                    Ok(Err(error)) => {
                        tracing::warn!(error = %error_chain(&error), "whose chat it is is unknown for now: retry later");
                        Err(PipelineError::OwnerUnknown)
                    }
                    Err(_) => Err(PipelineError::OwnerUnknown),
                },
            },
            Route::Ticket { ticket, contact } => {
                let keys = std::iter::once(TicketKey::Ticket(ticket.clone())).chain(contact.as_deref().map(TicketKey::contact));
                for lookup in keys {
                    if let Some(found) = self.bounded(self.store.ticket_recipient(&lookup, now), budget.work).await? {
                        return Ok(Some(Whose { key: found.conversation, indexed_address: Some(found.address) }));
                    }
                }
                // Its fingerprint only: ticket numbers and e-mails stay out of the logs.
                tracing::info!(ticket = %self.fingerprints.of(ticket), "reply to a ticket no conversation has: ignored");
                Ok(None)
            }
        }
    }

    /// Shows the user that the agent of their chat is typing: a courtesy, so nothing is claimed,
    /// locked or stored, and whatever fails is only logged (a missed indicator is harmless).
    async fn show_agent_typing(&self, chat_id: &str, writer: &str, budget: Budget) -> Outcome {
        let now = self.clock.now();
        let deadline = budget.work.min(Instant::now() + TYPING_TIMEOUT);
        let conversation = match self.bounded(self.store.chat_conversation(chat_id, now), deadline).await {
            Ok(Some(key)) => self.bounded(self.store.peek(&key, now), deadline).await,
            Ok(None) => Ok(None),
            Err(error) => Err(error),
        };
        let conversation = match conversation {
            Ok(Some(conversation)) => conversation,
            Ok(None) => return Outcome::Ignored,
            Err(error) => {
                tracing::debug!(error = %error_chain(&error), "agent typing not shown");
                return Outcome::Ignored;
            }
        };
        let Some(address) = conversation.address.as_ref().filter(|_| shows_agent_typing(&conversation, chat_id, writer)) else {
            return Outcome::Ignored;
        };
        let Some(sink) = self.sinks.get(&address.channel) else { return Outcome::Ignored };
        match sink.typing(address, deadline).await {
            Ok(()) => Outcome::TypingShown,
            Err(error) => {
                tracing::debug!(error = %error_chain(&error), "agent typing not shown");
                Outcome::Ignored
            }
        }
    }

    /// Writes the indexes that let replies to a ticket find this conversation: the ticket the
    /// turn learnt of, and the e-mail of a chat the turn opened. Before the commit, so a
    /// committed turn never lacks them (a retry writes them again; they only ever point here).
    async fn index_tickets(
        &self,
        key: &ConversationKey,
        keys: Vec<TicketKey>,
        address: &ReplyAddress,
        now: Timestamp,
        budget: Budget,
    ) -> Result<(), PipelineError> {
        let recipient = TicketRecipient { conversation: key.clone(), address: address.clone() };
        let expires_at = now.plus(self.timing.ticket_index_ttl);
        for lookup in &keys {
            self.bounded(self.store.index_ticket(lookup, &recipient, expires_at), budget.hard).await?;
        }
        Ok(())
    }

    async fn process(&self, event: &Event, whose: &Whose, budget: Budget, last_attempt: bool) -> Result<Outcome, PipelineError> {
        let key = &whose.key;
        let now = self.clock.now();
        let (stored, progress) = tokio::join!(
            self.bounded(self.store.load(key, now), budget.work),
            self.bounded(self.store.progress(&event.id, now), budget.work)
        );
        let (Versioned { version, mut conversation, outbox }, progress) = (stored?, progress?);
        let own = outbox.as_ref().filter(|o| o.message_id == event.id);
        // Done, unless this message's own last send only started: its attempt stopped before
        // knowing how the send ended, and resuming asks the channel.
        let resumable = own.is_some() && progress.is_some_and(|p| matches!(p.last_send, LastSend::Started(_)));
        if progress.is_some_and(|p| p.is_done()) && !resumable {
            tracing::info!("duplicate delivery ignored");
            return Ok(Outcome::Duplicate);
        }
        if let Some(own) = own {
            // Committed by an attempt that did not finish: its delivery is finished, the turn
            // is not run again.
            let progress = progress.unwrap_or(Progress::attempted(0, 0));
            tracing::warn!(attempted = progress.attempted, "resuming the delivery of a turn whose attempt did not finish");
            return match self.deliver_stored(own, progress, conversation.last_inbound_at, budget).await {
                Delivered::All { sent, .. } => Ok(Outcome::Replied { sent }),
                Delivered::Stopped(error) => Err(error),
            };
        }
        if progress.is_some() {
            // Recorded but no longer the conversation's outbox: a later turn finished it.
            tracing::info!("a message whose turn was finished by a later one: duplicate");
            return Ok(Outcome::Duplicate);
        }
        if let Some(earlier) = &outbox {
            let earlier_progress = self.bounded(self.store.progress(&earlier.message_id, now), budget.work).await?;
            if let Some(progress) = pending(earlier, earlier_progress) {
                // One queue group runs one attempt at a time, but a conversation's events can
                // come in two groups (a WhatsApp user's number and username): an attempt whose
                // last send started within one processing budget may still be running.
                if let LastSend::Started(at) = progress.last_send {
                    let attempt_secs = i64::try_from(budget.hard.saturating_duration_since(Instant::now()).as_secs()).unwrap_or(i64::MAX);
                    if now.0.saturating_sub(at.0) <= attempt_secs.saturating_add(1) {
                        tracing::warn!(attempted = progress.attempted, "an earlier turn may still be sending: waiting for it");
                        return Err(PipelineError::EarlierTurnSending);
                    }
                }
                tracing::warn!(attempted = progress.attempted, "finishing the delivery of an earlier turn first");
                if let Delivered::Stopped(error) = self.deliver_stored(earlier, progress, conversation.last_inbound_at, budget).await {
                    return Err(error);
                }
            }
        }
        let chat_before = conversation.mode.chat_id().map(str::to_owned);
        let ticket_before = conversation.ticket.clone();

        if let Some(address) = &event.address {
            conversation.address = Some(address.clone());
        }
        // A ticket answered after its conversation expired: the index kept the address.
        if conversation.address.is_none() {
            conversation.address = whose.indexed_address.clone();
        }
        let Some(address) = conversation.address.clone() else {
            // An event for a conversation that never wrote to us: not ours to answer.
            if event.address.is_none() {
                tracing::info!("event for a conversation with no reply address: ignored");
                return Ok(Outcome::Ignored);
            }
            return Err(PipelineError::NoSender("(no reply address stored)".into()));
        };
        let Some(sink) = self.sinks.get(&address.channel).cloned() else {
            return Err(PipelineError::NoSender(address.channel.clone()));
        };

        let extra_info = self.extra_info(sink.group(), budget.work).await;
        let settings = TurnSettings::new(&extra_info, &self.lang, &self.labels, self.only_chat_mode);
        let channel =
            UserChannelPort { sink: sink.as_ref(), address: &address, max_file_bytes: self.max_user_file_bytes, deadline: budget.work };
        let engine = Engine {
            chatbot: self.chatbot.as_ref(),
            live_chat: self.live_chat.as_ref(),
            channel: &channel,
            labels: &settings.labels,
            policy: &self.policy,
            only_chat: settings.only_chat,
            external_id: key.as_str(),
            deadline: Some(budget.work),
            on_outage: if last_attempt { OnOutage::Apologise } else { OnOutage::Postpone },
        };
        let typing = async {
            if matches!(event.input, Input::User(_)) {
                // A courtesy: never worth holding the answer for.
                let deadline = budget.work.min(Instant::now() + TYPING_TIMEOUT);
                if let Err(error) = sink.typing(&address, deadline).await {
                    tracing::debug!(error = %error_chain(&error), "typing indicator not shown");
                }
            }
        };
        let (_, step) = tokio::join!(typing, engine.handle(&mut conversation, &event.input, now));
        let (Step { replies, agent }, gave_up) = match step {
            Ok(step) => (step, None),
            Err(Outage { cause, apology: None }) => return Err(PipelineError::Postponed(cause)),
            Err(Outage { cause, apology: Some(apology) }) => {
                tracing::error!(%cause, "the chatbot stayed unavailable past the retry budget: the user is told");
                (apology, Some(cause))
            }
        };
        let from_agent = event.input.is_from_agent();
        let occasion = Occasion { from_agent, since_user_wrote: since(now, conversation.last_inbound_at) };
        let rendered = sink.render(&address, &replies, &occasion).map_err(PipelineError::Undelivered)?;
        let outbox = Outbox { message_id: event.id.clone(), address, replies, from_agent };
        let chat_opened = conversation.mode.chat_id().filter(|chat| Some(*chat) != chat_before.as_deref());
        let ticket_learnt = conversation.ticket.clone().filter(|ticket| Some(ticket) != ticket_before.as_ref()).map(TicketKey::Ticket);
        let contact_of_chat = conversation.contact.as_deref().filter(|_| chat_opened.is_some()).map(TicketKey::contact);
        let ticket_keys: Vec<TicketKey> = ticket_learnt.into_iter().chain(contact_of_chat).collect();
        if !ticket_keys.is_empty() {
            if let Err(error) = self.index_tickets(key, ticket_keys, &outbox.address, now, budget).await {
                tracing::error!(error = %error_chain(&error), "ticket index not written; nothing was committed");
                return Err(error);
            }
        }
        let commit = Commit {
            key,
            version,
            conversation: &conversation,
            outbox: &outbox,
            chat_opened,
            expires_at: now.plus(self.timing.conversation_ttl),
        };
        if let Err(error) = self.bounded(self.store.commit(&commit), budget.hard).await {
            if !self.committed_after_all(key, version, &event.id, budget).await {
                tracing::error!(error = %error_chain(&error), "conversation not committed; nothing was sent");
                return Err(error);
            }
            tracing::warn!(error = %error_chain(&error), "the commit's answer was lost but the commit was applied: sending");
        }
        let delivery = Delivery { outbox: &outbox, sink: sink.as_ref(), rendered: &rendered, progress: Progress::attempted(0, 0) };
        match self.send_all(&delivery, budget).await {
            Delivered::All { sent, missed } => {
                match (agent, missed) {
                    (ForAgent::Tell(AgentNote { chat, text }), _) => self.tell_agent(&chat, &text, budget).await,
                    (ForAgent::IfMissed(chat), Some(missed)) => {
                        self.tell_agent(&chat, &agent_note(&settings.labels, &missed), budget).await;
                    }
                    (ForAgent::IfMissed(_) | ForAgent::Nobody, _) => {}
                }
                Ok(match gave_up {
                    Some(cause) => Outcome::GaveUp { sent, cause },
                    None => Outcome::Replied { sent },
                })
            }
            Delivered::Stopped(error) => Err(error),
        }
    }

    /// Posts the engine's note on an agent's messages that did not reach the user in their
    /// chat: the agent hears it, not silence.
    async fn tell_agent(&self, chat: &ChatRef, text: &str, budget: Budget) {
        match tokio::time::timeout_at(budget.hard, self.live_chat.send_message(chat, text)).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::error!(error = %error_chain(&error), "the agent could not be told a message was not delivered"),
            Err(_) => tracing::error!("the agent could not be told a message was not delivered before the deadline"),
        }
    }

    /// Whether a commit whose answer was lost was applied all the same. When that stays unknown
    /// nothing is sent: an applied commit leaves an outbox that the retry sends whole.
    async fn committed_after_all(&self, key: &ConversationKey, version: u64, message: &MessageId, budget: Budget) -> bool {
        let mut backoff = Backoff::new(Duration::from_millis(20), Duration::from_millis(300), budget.hard);
        loop {
            match self.bounded(self.store.load(key, self.clock.now()), budget.hard).await {
                Ok(read) => return read.version == version + 1 && read.outbox.is_some_and(|o| &o.message_id == message),
                Err(error) => tracing::warn!(error = %error_chain(&error), "state read back failed"),
            }
            if !backoff.wait().await {
                return false;
            }
        }
    }

    /// The channel group's ExtraInfo; unavailable, it says nothing (the files apply), never a
    /// failed request.
    async fn extra_info(&self, group: &str, deadline: Instant) -> ExtraInfo {
        match tokio::time::timeout_at(deadline, self.chatbot.app_data(group)).await {
            Ok(Ok(extra_info)) => extra_info,
            Ok(Err(error)) => {
                tracing::warn!(error = %error_chain(&error), group, "ExtraInfo unavailable, using the label files");
                ExtraInfo::default()
            }
            Err(_) => {
                tracing::warn!(group, "ExtraInfo not read before the deadline, using the label files");
                ExtraInfo::default()
            }
        }
    }

    /// A store call, failed as a timeout if it would end after `deadline`.
    async fn bounded<T>(&self, call: impl Future<Output = Result<T, StoreError>>, deadline: Instant) -> Result<T, PipelineError> {
        match tokio::time::timeout_at(deadline, call).await {
            Ok(result) => result.map_err(PipelineError::from),
            Err(_) => Err(PipelineError::StoreTimeout),
        }
    }
}

/// How long ago `earlier` was, never negative.
fn since(now: Timestamp, earlier: Timestamp) -> Duration {
    Duration::from_secs(u64::try_from(now.seconds_since(earlier)).unwrap_or(0))
}

#[cfg(test)]
mod tests;
