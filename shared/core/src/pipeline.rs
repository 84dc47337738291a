//! One event, exactly once, in the order that keeps replies exactly-once and ordered even when
//! a request dies part way or an answer is lost:
//!
//! 1. claim the provider message id (owner, in progress, with an expiry);
//! 2. take the conversation's lease (waiting, within the deadline);
//! 3. finish an earlier turn's replies that are still in the conversation's outbox;
//! 4. run the engine step;
//! 5. commit the new state together with the turn's outbox (the lease is kept);
//! 6. send the replies in order, recording before each send that it may have happened (a
//!    write whose answer is lost is read back before anything is sent on its strength);
//! 7. finish: mark the claim done, drop the outbox, free the lease.
//!
//! A redelivery of a message whose request died finds either no commit (and runs the turn) or
//! its outbox (and sends only what was never attempted): nothing is answered twice, and a turn
//! whose request died is never silently dropped.

use crate::channel::{Event, Occasion, Rendered, ReplySink, Route, SendError, Sinks};
use crate::fingerprint::Fingerprinter;
use connector_engine::app_data::AppData;
use connector_engine::conversation::ConversationKey;
use connector_engine::conversation::{Conversation, Mode, ReplyAddress};
use connector_engine::error_chain;
use connector_engine::labels::Label;
use connector_engine::labels::Labels;
use connector_engine::ports::{
    Acquired, Chatbot, Claim, ClaimRequest, Clock, FileContent, FileError, Lease, LiveChat, MessageId, Outbox, StateStore, StoreError,
    TicketKey, TicketRecipient, Timestamp, UserChannel, UserFile, Versioned,
};
use connector_engine::step::{ChatEvent, Engine, Input, Policy, shows_agent_typing};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;
use upstream::Backoff;

/// The environment variable of the `state` table.
pub const ENV: &[(&str, &str)] = &[("TABLE_NAME", "state.table_name")];

/// The longest a typing indicator may take; it runs beside the bot call.
const TYPING_TIMEOUT: Duration = Duration::from_secs(2);

/// The `state` table: persistence and concurrency tuning.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct StateSettings {
    /// DynamoDB table; unset means the in-memory store.
    #[serde(default)]
    pub table_name: Option<String>,
    /// Idle conversations are forgotten after this long (DynamoDB TTL).
    pub conversation_ttl_secs: u64,
    /// A bot session idle this long is replaced by a new one before sending.
    pub bot_session_idle_secs: u64,
    /// How long a request may hold a conversation (and a message claim) if it never finishes;
    /// longer than any request's deadline.
    pub lease_secs: u64,
    /// How long a message waits for a busy conversation (the deadline may end it sooner).
    pub lease_wait_ms: u64,
    /// How long provider message ids are remembered for deduplication.
    pub dedupe_ttl_secs: u64,
    /// How long replies to the ticket of a closed chat still reach its user (the ticket and
    /// contact indexes expire after this).
    #[serde(default = "default_ticket_index_ttl_secs")]
    pub ticket_index_ttl_secs: u64,
    /// The end of each request's deadline kept for sending the replies.
    pub send_reserve_ms: u64,
    /// The very end of each request's deadline kept for the last state writes.
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
            lease: Duration::from_secs(self.lease_secs),
            lease_wait: Duration::from_millis(self.lease_wait_ms),
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
    /// How long a request may hold a conversation, and a claim, if it never finishes.
    pub lease: Duration,
    pub lease_wait: Duration,
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
    /// request has less than twice their time (a short Lambda timeout): the bot always gets
    /// at least half of it.
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
    pub sinks: Sinks,
    /// The largest file a user may send their agent (the live chat's limit).
    pub max_user_file_bytes: u64,
    pub fingerprints: Fingerprinter,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Handled; `sent` provider messages went out.
    Replied { sent: usize },
    /// A redelivery of a message already handled: nothing done.
    Duplicate,
    /// An event for no conversation (a chat that is not ours, or long over): nothing done.
    Ignored,
    /// An agent's typing was shown to the user (no turn, nothing stored).
    TypingShown,
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("state store failed")]
    Store(#[from] StoreError),
    #[error("the state store did not answer before the deadline")]
    StoreTimeout,
    #[error("the conversation stayed busy until the deadline")]
    Busy,
    #[error("another request is handling this message")]
    InProgress,
    #[error("replies could not all be sent")]
    Undelivered(#[source] SendError),
    #[error("no sender for channel {0}")]
    NoSender(String),
    #[error("an earlier turn of the conversation could not be marked finished")]
    EarlierTurnUnfinished,
}

impl PipelineError {
    /// Whether the provider should deliver the message again later.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Store(e) => e.is_retryable(),
            Self::StoreTimeout | Self::Busy | Self::InProgress | Self::EarlierTurnUnfinished => true,
            Self::Undelivered(e) => matches!(e, SendError::Unavailable(_) | SendError::NotConfigured(_)),
            Self::NoSender(_) => false,
        }
    }
}

/// How one request's deadline is shared out.
#[derive(Debug, Clone, Copy)]
struct Budget {
    /// Bot and live-chat calls, lease waiting.
    work: Instant,
    /// Sends.
    send: Instant,
    /// The last state writes.
    hard: Instant,
}

/// How a delivery ended.
enum Delivered {
    /// Every message was attempted (or the user cannot be reached): the turn is over.
    /// `missed`: why some did not reach the user.
    All { sent: usize, missed: Option<String> },
    /// Stopped before the end; the outbox keeps the rest for a retry or the next turn.
    Stopped(PipelineError),
}

/// The conversation an event belongs to, and the reply address an index holds for it (tickets
/// outlive conversations, so a reply to one may find its conversation gone).
struct Whose {
    key: ConversationKey,
    indexed_address: Option<ReplyAddress>,
}

impl Pipeline {
    #[tracing::instrument(skip_all, fields(conversation = tracing::field::Empty))]
    pub async fn handle(&self, event: &Event, deadline: Instant) -> Result<Outcome, PipelineError> {
        let budget = self.timing.budget(Instant::now(), deadline);
        let now = self.clock.now();
        if let Input::Chat { chat_id, event: ChatEvent::Writing { writer } } = &event.input {
            return Ok(self.show_agent_typing(chat_id, writer, budget).await);
        }
        let Some(whose) = self.conversation_of(&event.route, now, budget).await? else {
            return Ok(Outcome::Ignored);
        };
        tracing::Span::current().record("conversation", self.fingerprints.of(whose.key.as_str()));
        let claim = ClaimRequest {
            owner: request_owner(),
            now,
            hold_until: now.plus(self.timing.lease),
            expires_at: now.plus(self.timing.dedupe_ttl),
        };
        let taken_over = match self.bounded(self.store.claim_message(&event.id, &claim), budget.work).await {
            Ok(Claim::New) => false,
            Ok(Claim::TakenOver) => true,
            Ok(Claim::Done) => {
                tracing::info!("duplicate delivery ignored");
                return Ok(Outcome::Duplicate);
            }
            Ok(Claim::InProgress) => {
                tracing::info!("message being handled by another request: retry later");
                return Err(PipelineError::InProgress);
            }
            Err(error) => {
                // The claim may have been written all the same (its answer lost): give it up,
                // so the provider's redelivery is not taken for a request still at work.
                tracing::error!(error = %error_chain(&error), "dedupe claim failed");
                self.give_claim_up(&event.id, &claim.owner, budget).await;
                return Err(error);
            }
        };
        match self.process(event, &whose, &claim, taken_over, budget).await {
            Ok(outcome) => Ok(outcome),
            // Nothing of the turn was committed, or its outbox waits for the redelivery: either
            // way a redelivery may take the claim over at once.
            Err(error) => {
                tracing::error!(error = %error_chain(&error), retryable = error.is_retryable(), "message not fully handled");
                self.give_claim_up(&event.id, &claim.owner, budget).await;
                Err(error)
            }
        }
    }

    /// Whose conversation the event is; `None`: nobody's, ignored.
    async fn conversation_of(&self, route: &Route, now: Timestamp, budget: Budget) -> Result<Option<Whose>, PipelineError> {
        let found = |key| Ok(Some(Whose { key, indexed_address: None }));
        match route {
            Route::Conversation(key) => found(key.clone()),
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
                        Err(PipelineError::InProgress)
                    }
                    Err(_) => Err(PipelineError::InProgress),
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

    async fn give_claim_up(&self, id: &MessageId, owner: &str, budget: Budget) {
        if let Err(release) = self.bounded(self.store.release_message(id, owner), budget.hard).await {
            tracing::error!(error = %error_chain(&release), "could not give the dedupe claim up; it expires by itself");
        }
    }

    async fn process(
        &self,
        event: &Event,
        whose: &Whose,
        claim: &ClaimRequest,
        taken_over: bool,
        budget: Budget,
    ) -> Result<Outcome, PipelineError> {
        let key = &whose.key;
        let (lease, Versioned { version, mut conversation, outbox }) = self.lock(key, &claim.owner, budget).await?;
        let own_outbox = outbox.as_ref().is_some_and(|o| o.message_id == event.id);
        let chat_before = conversation.mode.chat_id().map(str::to_owned);
        let ticket_before = conversation.ticket.clone();
        if let Some(earlier) = outbox {
            let own = earlier.message_id == event.id;
            if own {
                tracing::warn!(attempted = earlier.attempted, "resuming the delivery of a turn whose request did not finish");
            } else {
                tracing::warn!(attempted = earlier.attempted, "finishing the delivery of an earlier turn first");
            }
            match self.deliver(key, &lease, &earlier, conversation.last_inbound_at, budget, own).await {
                Delivered::All { sent, .. } if own => return Ok(Outcome::Replied { sent }),
                Delivered::All { .. } => {}
                Delivered::Stopped(error) => return Err(self.give_up(key, &lease, error, budget).await),
            }
        }
        // A claim taken over from a request that committed this turn may have seen the turn
        // finished by another message's request since: then it is done, not to be run again.
        if taken_over && !own_outbox {
            let again = self.bounded(self.store.claim_message(&event.id, claim), budget.work).await;
            if !matches!(again, Ok(Claim::New | Claim::TakenOver)) {
                self.release_lease(key, &lease, budget).await;
            }
            match again {
                Ok(Claim::New | Claim::TakenOver) => {}
                Ok(Claim::Done) => {
                    tracing::info!("a turn taken over was finished meanwhile: duplicate");
                    return Ok(Outcome::Duplicate);
                }
                Ok(Claim::InProgress) => return Err(PipelineError::InProgress),
                Err(error) => return Err(error),
            }
        }

        if let Some(address) = &event.address {
            conversation.address = Some(address.clone());
        }
        // A ticket answered after its conversation expired: the index kept the address.
        if conversation.address.is_none() {
            conversation.address = whose.indexed_address.clone();
        }
        let Some(address) = conversation.address.clone() else {
            self.release_lease(key, &lease, budget).await;
            // An event for a conversation that never wrote to us: not ours to answer.
            if event.address.is_none() {
                tracing::info!("event for a conversation with no reply address: ignored");
                return Ok(Outcome::Ignored);
            }
            return Err(PipelineError::NoSender("(no reply address stored)".into()));
        };
        let Some(sink) = self.sinks.get(&address.channel).cloned() else {
            self.release_lease(key, &lease, budget).await;
            return Err(PipelineError::NoSender(address.channel.clone()));
        };

        let app = self.app_data(sink.group(), budget.work).await;
        let labels = if app.translations.is_empty() {
            self.labels.clone()
        } else {
            Arc::new((*self.labels).clone().overridden_by(app.translations))
        };
        let channel =
            ChannelPort { sink: sink.as_ref(), address: &address, max_file_bytes: self.max_user_file_bytes, deadline: budget.work };
        let engine = Engine {
            chatbot: self.chatbot.as_ref(),
            live_chat: self.live_chat.as_ref(),
            channel: &channel,
            labels: &labels,
            policy: &self.policy,
            only_chat: app.only_chat_mode.unwrap_or(self.only_chat_mode),
            external_id: key.as_str(),
            deadline: Some(budget.work),
        };
        let now = self.clock.now();
        let typing = async {
            if matches!(event.input, Input::User(_)) {
                // A courtesy: never worth holding the answer for.
                let deadline = budget.work.min(Instant::now() + TYPING_TIMEOUT);
                if let Err(error) = sink.typing(&address, deadline).await {
                    tracing::debug!(error = %error_chain(&error), "typing indicator not shown");
                }
            }
        };
        let (_, mut replies) = tokio::join!(typing, engine.handle(&mut conversation, &event.input, now));
        let from_agent = event.input.is_from_agent();
        let mut missed = None;
        if let Some(window) = sink.reply_window(&address).filter(|_| from_agent && !replies.is_empty()) {
            if now.seconds_since(conversation.last_inbound_at) > i64::try_from(window.as_secs()).unwrap_or(i64::MAX) {
                tracing::warn!("the user's reply window is closed: the agent is told instead");
                replies.clear();
                missed = Some("the user last wrote too long ago for the channel to deliver it".to_owned());
            }
        }
        let occasion = Occasion { from_agent, since_user_wrote: since(now, conversation.last_inbound_at) };
        let rendered = match sink.render(&address, &replies, &occasion) {
            Ok(rendered) => rendered,
            Err(error) => {
                self.release_lease(key, &lease, budget).await;
                return Err(PipelineError::Undelivered(error));
            }
        };
        // Nothing is recorded as attempted yet: a commit whose answer is lost must not mark a
        // send that never started (a redelivery would skip it).
        let outbox = Outbox { message_id: event.id.clone(), address, replies, from_agent, attempted: 0 };
        let chat_opened = conversation.mode.chat_id().filter(|chat| Some(*chat) != chat_before.as_deref());
        let ticket_learnt = conversation.ticket.clone().filter(|ticket| Some(ticket) != ticket_before.as_ref()).map(TicketKey::Ticket);
        let contact_of_chat = conversation.contact.as_deref().filter(|_| chat_opened.is_some()).map(TicketKey::contact);
        let ticket_keys: Vec<TicketKey> = ticket_learnt.into_iter().chain(contact_of_chat).collect();
        if !ticket_keys.is_empty() {
            if let Err(error) = self.index_tickets(key, ticket_keys, &outbox.address, now, budget).await {
                tracing::error!(error = %error_chain(&error), "ticket index not written; nothing was committed");
                self.release_lease(key, &lease, budget).await;
                return Err(error);
            }
        }
        let expires_at = now.plus(self.timing.conversation_ttl);
        let committed =
            self.bounded(self.store.commit(key, &lease, version, &conversation, &outbox, chat_opened, expires_at), budget.hard).await;
        if let Err(error) = committed {
            if !self.committed_after_all(key, &lease, version, &event.id, budget).await {
                tracing::error!(error = %error_chain(&error), "conversation not committed; nothing was sent");
                self.release_lease(key, &lease, budget).await;
                return Err(error);
            }
            tracing::warn!(error = %error_chain(&error), "the commit's answer was lost but the commit was applied: sending");
        }
        match self.send_all(key, &lease, sink.as_ref(), &rendered, &outbox, 0, budget).await {
            Delivered::All { sent, missed: failed } => {
                self.finish(key, &lease, &event.id, true, budget).await;
                // Only a chat's agent can be told; a ticket's answers the user in no chat of theirs.
                if let Some(reason) = missed.or(failed).filter(|_| matches!(event.input, Input::Chat { .. })) {
                    self.tell_agent(&conversation, &labels, &reason, budget).await;
                }
                Ok(Outcome::Replied { sent })
            }
            Delivered::Stopped(error) => Err(self.give_up(key, &lease, error, budget).await),
        }
    }

    /// An agent's message did not reach the user: the agent hears it in the chat, not silence.
    async fn tell_agent(&self, conversation: &Conversation, labels: &Labels, reason: &str, budget: Budget) {
        let Mode::LiveChat { chat, .. } = &conversation.mode else { return };
        let text = labels.get(Label::UserUnreachable).replace("$reason", reason);
        match tokio::time::timeout_at(budget.hard, self.live_chat.send_message(chat, &text)).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::error!(error = %error_chain(&error), "the agent could not be told a message was not delivered"),
            Err(_) => tracing::error!("the agent could not be told a message was not delivered before the deadline"),
        }
    }

    /// Whether a commit whose answer was lost was applied all the same. When that stays unknown
    /// nothing is sent: an applied commit leaves an outbox that the redelivery sends whole.
    async fn committed_after_all(&self, key: &ConversationKey, lease: &Lease, version: u64, message: &MessageId, budget: Budget) -> bool {
        match self.read_back(key, lease, budget).await {
            Some(read) => read.version == version + 1 && read.outbox.is_some_and(|o| &o.message_id == message),
            None => false,
        }
    }

    /// The conversation as stored now, read with our own lease, trying until the deadline (a
    /// store that lost one answer under load usually gives the next). `None`: never read, or
    /// the lease is not ours any more.
    async fn read_back(&self, key: &ConversationKey, lease: &Lease, budget: Budget) -> Option<Versioned> {
        let mut backoff = Backoff::new(Duration::from_millis(20), Duration::from_millis(300), budget.hard);
        loop {
            match self.bounded(self.store.acquire(key, lease, self.clock.now()), budget.hard).await {
                Ok(Acquired::Locked(read)) => return Some(read),
                Ok(Acquired::Busy) => return None,
                Err(error) => tracing::warn!(error = %error_chain(&error), "state read back failed"),
            }
            if !backoff.wait().await {
                return None;
            }
        }
    }

    /// Sends what an outbox read from the store still holds, then finishes it.
    async fn deliver(
        &self,
        key: &ConversationKey,
        lease: &Lease,
        outbox: &Outbox,
        user_wrote_at: Timestamp,
        budget: Budget,
        release_lease: bool,
    ) -> Delivered {
        let Some(sink) = self.sinks.get(&outbox.address.channel).cloned() else {
            tracing::error!(channel = %outbox.address.channel, "no sender for an earlier turn's replies: dropped");
            self.finish(key, lease, &outbox.message_id, release_lease, budget).await;
            return Delivered::All { sent: 0, missed: None };
        };
        let occasion = Occasion { from_agent: outbox.from_agent, since_user_wrote: since(self.clock.now(), user_wrote_at) };
        let rendered = match sink.render(&outbox.address, &outbox.replies, &occasion) {
            Ok(rendered) => rendered,
            Err(error) => {
                tracing::error!(error = %error_chain(&error), "an earlier turn's replies cannot be rendered: dropped");
                self.finish(key, lease, &outbox.message_id, release_lease, budget).await;
                return Delivered::All { sent: 0, missed: None };
            }
        };
        let delivered = self.send_all(key, lease, sink.as_ref(), &rendered, outbox, outbox.attempted, budget).await;
        // An earlier turn left unfinished must not be overwritten by this one's outbox: its
        // message would then be run again.
        if let Delivered::All { .. } = delivered {
            if !self.finish(key, lease, &outbox.message_id, release_lease, budget).await && !release_lease {
                return Delivered::Stopped(PipelineError::EarlierTurnUnfinished);
            }
        }
        delivered
    }

    /// Sends messages `from..` in order. Before a send starts, the outbox records that it may
    /// have happened, so no redelivery ever repeats it.
    #[allow(clippy::too_many_arguments)]
    async fn send_all(
        &self,
        key: &ConversationKey,
        lease: &Lease,
        sink: &dyn ReplySink,
        rendered: &Rendered,
        outbox: &Outbox,
        from: usize,
        budget: Budget,
    ) -> Delivered {
        let mut recorded = outbox.attempted;
        let mut sent = 0;
        let mut missed = None;
        for index in from..rendered.len() {
            if Instant::now() >= budget.send {
                return Delivered::Stopped(
                    self.undo(key, lease, outbox, index, recorded, SendError::Unavailable(deadline_passed()), budget).await,
                );
            }
            if recorded < index + 1 {
                if let Err(error) = self.bounded(self.store.record_progress(key, lease, &outbox.message_id, index + 1), budget.send).await {
                    // Applied or not? A record that was applied would make a retry skip this
                    // message: only a confirmed "not applied" may stop here.
                    let stored = self.read_back(key, lease, budget).await;
                    match stored.and_then(|read| read.outbox).filter(|o| o.message_id == outbox.message_id).map(|o| o.attempted) {
                        Some(attempted) if attempted > index => {
                            tracing::warn!(error = %error_chain(&error), "progress answer lost but recorded")
                        }
                        Some(_) => return Delivered::Stopped(error),
                        None => {
                            tracing::error!(
                                error = %error_chain(&error),
                                index,
                                "progress unknown until the deadline: this reply is not sent, and is lost if the record was applied"
                            );
                            return Delivered::Stopped(error);
                        }
                    }
                }
                recorded = index + 1;
            }
            match sink.send(rendered, index, budget.send).await {
                Ok(()) => sent += 1,
                Err(SendError::Ambiguous(error)) => {
                    tracing::warn!(error = %error_chain(&error), index, "send answer lost; the message may have been delivered and is not repeated");
                    sent += 1;
                }
                Err(error @ SendError::Refused { recipient_unreachable: true, .. }) => {
                    tracing::error!(error = %error_chain(&error), code = ?refused_code(&error), "the user cannot be reached: the turn's other replies are dropped");
                    return Delivered::All { sent, missed: Some(error.reason()) };
                }
                Err(error @ (SendError::Refused { .. } | SendError::BadAddress(_))) => {
                    tracing::error!(error = %error_chain(&error), code = ?refused_code(&error), index, "a reply was refused and is dropped");
                    missed = Some(error.reason());
                }
                Err(error @ (SendError::Unavailable(_) | SendError::NotConfigured(_))) => {
                    return Delivered::Stopped(self.undo(key, lease, outbox, index, recorded, error, budget).await);
                }
            }
        }
        Delivered::All { sent, missed }
    }

    /// A send that certainly did not happen is no longer recorded as attempted, so a retry
    /// sends it.
    #[allow(clippy::too_many_arguments)]
    async fn undo(
        &self,
        key: &ConversationKey,
        lease: &Lease,
        outbox: &Outbox,
        index: usize,
        recorded: usize,
        error: SendError,
        budget: Budget,
    ) -> PipelineError {
        if recorded <= index {
            return PipelineError::Undelivered(error);
        }
        let mut backoff = Backoff::new(Duration::from_millis(20), Duration::from_millis(300), budget.hard);
        while let Err(undo) = self.bounded(self.store.record_progress(key, lease, &outbox.message_id, index), budget.hard).await {
            if !backoff.wait().await {
                tracing::error!(error = %error_chain(&undo), index, "could not record that a reply was not sent: it is lost");
                break;
            }
        }
        PipelineError::Undelivered(error)
    }

    /// Stops a turn that could not send everything: the outbox keeps what is left, for the
    /// provider's retry or the user's next message.
    async fn give_up(&self, key: &ConversationKey, lease: &Lease, error: PipelineError, budget: Budget) -> PipelineError {
        self.release_lease(key, lease, budget).await;
        error
    }

    async fn finish(&self, key: &ConversationKey, lease: &Lease, message: &MessageId, release_lease: bool, budget: Budget) -> bool {
        // Replies went out: whatever fails here must not make the provider deliver again. A
        // claim left in progress expires, and its outbox then holds nothing left to send.
        match self.bounded(self.store.finish(key, lease, message, release_lease), budget.hard).await {
            Ok(()) => true,
            Err(error) => {
                tracing::error!(error = %error_chain(&error), "delivered turn not marked finished; the next request finishes it");
                false
            }
        }
    }

    /// Waits (within the deadline) for the conversation's lease: messages of one user are
    /// handled one at a time, in the order they win the lease.
    async fn lock(&self, key: &ConversationKey, owner: &str, budget: Budget) -> Result<(Lease, Versioned), PipelineError> {
        let mut backoff =
            Backoff::new(Duration::from_millis(10), Duration::from_millis(200), budget.work.min(Instant::now() + self.timing.lease_wait));
        loop {
            let now = self.clock.now();
            let lease = Lease { owner: owner.to_owned(), until: now.plus(self.timing.lease) };
            let failed = match self.bounded(self.store.acquire(key, &lease, now), budget.work).await {
                Ok(Acquired::Locked(versioned)) => return Ok((lease, versioned)),
                Ok(Acquired::Busy) => None,
                // A transaction on the item at the same moment, or a lost answer: try again.
                Err(error) => {
                    tracing::warn!(error = %error_chain(&error), "conversation lease failed; trying again");
                    Some(error)
                }
            };
            if !backoff.wait().await {
                // A lease taken with its answer lost would block the user until it expires.
                self.release_lease(key, &lease, budget).await;
                return Err(failed.unwrap_or(PipelineError::Busy));
            }
        }
    }

    async fn release_lease(&self, key: &ConversationKey, lease: &Lease, budget: Budget) {
        if let Err(error) = self.bounded(self.store.release(key, lease), budget.hard).await {
            tracing::error!(error = %error_chain(&error), "could not release the conversation lease; it expires by itself");
        }
    }

    /// The channel group's ExtraInfo; unavailable means "use the files", never a failed request.
    async fn app_data(&self, group: &str, deadline: Instant) -> AppData {
        match tokio::time::timeout_at(deadline, self.chatbot.app_data(group)).await {
            Ok(Ok(body)) => AppData::parse(&body, &self.lang),
            Ok(Err(error)) => {
                tracing::warn!(error = %error_chain(&error), group, "ExtraInfo unavailable, using the label files");
                AppData::default()
            }
            Err(_) => {
                tracing::warn!(group, "ExtraInfo not read before the deadline, using the label files");
                AppData::default()
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

fn refused_code(error: &SendError) -> Option<String> {
    match error {
        SendError::Refused { code, .. } => code.as_ref().map(ToString::to_string),
        _ => None,
    }
}

fn deadline_passed() -> upstream::UpstreamError {
    upstream::UpstreamError::Timeout { service: "the request's deadline", maybe_delivered: false }
}

/// An id unique across processes for this request: time, process id and a per-process counter.
fn request_owner() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{nanos:x}-{:x}-{:x}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// The user's channel, as the engine asks it: their name when a chat opens, the files they
/// send their agent.
struct ChannelPort<'a> {
    sink: &'a dyn ReplySink,
    address: &'a ReplyAddress,
    max_file_bytes: u64,
    deadline: Instant,
}

#[async_trait::async_trait]
impl UserChannel for ChannelPort<'_> {
    async fn display_name(&self) -> Option<String> {
        self.sink.display_name(self.address, self.deadline).await
    }

    async fn fetch_file(&self, file: &UserFile) -> Result<FileContent, FileError> {
        self.sink.fetch_file(file, self.max_file_bytes, self.deadline).await
    }
}

/// How long ago `earlier` was, never negative.
fn since(now: Timestamp, earlier: Timestamp) -> Duration {
    Duration::from_secs(u64::try_from(now.seconds_since(earlier)).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing() -> Timing {
        Timing {
            conversation_ttl: Duration::from_secs(60),
            lease: Duration::from_secs(20),
            lease_wait: Duration::from_secs(20),
            dedupe_ttl: Duration::from_secs(60),
            ticket_index_ttl: Duration::from_secs(600),
            send_reserve: Duration::from_secs(2),
            store_reserve: Duration::from_secs(1),
        }
    }

    #[test]
    fn a_long_deadline_keeps_the_configured_reserves_for_sending_and_the_last_writes() {
        let now = Instant::now();
        let budget = timing().budget(now, now + Duration::from_secs(13));
        assert_eq!((budget.hard - budget.send, budget.send - budget.work), (Duration::from_secs(1), Duration::from_secs(2)));
    }

    #[test]
    fn a_short_deadline_still_leaves_the_bot_half_of_it() {
        let now = Instant::now();
        let budget = timing().budget(now, now + Duration::from_secs(2));
        assert_eq!(budget.work - now, Duration::from_secs(1));
        assert!(budget.work < budget.send && budget.send < budget.hard);
    }
}
