//! One inbound message, end to end, in the order that keeps replies exactly-once and ordered:
//! claim the provider message id, take the conversation's lease, run the engine step, deliver
//! the replies, commit the new state (conditional on the version read) and free the lease.

use crate::app_data::AppData;
use crate::conversation::ConversationKey;
use crate::labels::Labels;
use crate::ports::{Acquired, Chatbot, Claim, Clock, Lease, LiveChat, ReplySink, SendError, StateStore, StoreError, Versioned};
use crate::step::{Engine, Policy, UserInput};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A user message as the channel adapter parsed it.
#[derive(Debug, Clone)]
pub struct Inbound {
    /// The channel's ExtraInfo group (`twilio`, `smooch`, `messenger`).
    pub group: &'static str,
    pub key: ConversationKey,
    /// Provider message id, namespaced by channel (`twilio#SM...`): the dedupe key.
    pub message_id: String,
    pub input: UserInput,
}

#[derive(Debug, Clone)]
pub struct Timing {
    pub conversation_ttl: Duration,
    pub lease: Duration,
    pub lease_wait: Duration,
    pub dedupe_ttl: Duration,
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Processed; `sent` provider messages went out.
    Replied { sent: usize },
    /// A redelivery of a message already handled: nothing done.
    Duplicate,
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("state store failed")]
    Store(#[from] StoreError),
    #[error("conversation stayed busy for {0:?}")]
    Busy(Duration),
    #[error("no reply could be delivered")]
    Undelivered(#[source] SendError),
}

impl PipelineError {
    /// Whether the provider should deliver the message again (nothing reached the user).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Store(e) => e.is_retryable(),
            Self::Busy(_) => true,
            Self::Undelivered(e) => e.is_retryable(),
        }
    }
}

/// Failure after at least one reply went out keeps the claim: a retry must not repeat them.
struct Failure {
    error: PipelineError,
    delivered: bool,
}

impl Pipeline {
    #[tracing::instrument(skip_all, fields(conversation = %crate::fingerprint(inbound.key.as_str())))]
    pub async fn handle(&self, inbound: &Inbound, sink: &dyn ReplySink) -> Result<Outcome, PipelineError> {
        let now = self.clock.now();
        if self.store.claim_message(&inbound.message_id, now.plus(self.timing.dedupe_ttl)).await? == Claim::Duplicate {
            tracing::info!("duplicate delivery ignored");
            return Ok(Outcome::Duplicate);
        }
        match self.process(inbound, sink).await {
            Ok(outcome) => Ok(outcome),
            Err(Failure { error, delivered }) => {
                if !delivered {
                    if let Err(release) = self.store.release_message(&inbound.message_id).await {
                        tracing::error!(error = %crate::error_chain(&release), "could not release the dedupe claim");
                    }
                }
                tracing::error!(error = %crate::error_chain(&error), delivered, "message not fully handled");
                Err(error)
            }
        }
    }

    async fn process(&self, inbound: &Inbound, sink: &dyn ReplySink) -> Result<Outcome, Failure> {
        let undelivered = |error: PipelineError| Failure { error, delivered: false };
        let (lease, Versioned { version, mut conversation }) = self.lock(&inbound.key).await.map_err(undelivered)?;
        let app = self.app_data(inbound.group).await;
        let labels = if app.translations.is_empty() { self.labels.clone() } else { Arc::new((*self.labels).clone().overridden_by(app.translations)) };
        let engine = Engine {
            chatbot: self.chatbot.as_ref(),
            live_chat: self.live_chat.as_ref(),
            labels: &labels,
            policy: &self.policy,
            only_chat: app.only_chat_mode.unwrap_or(self.only_chat_mode),
            external_id: inbound.key.as_str(),
        };
        let now = self.clock.now();
        let replies = engine.step(&mut conversation, &inbound.input, now).await;
        let delivery = sink.deliver(&replies).await;
        if let Some(error) = delivery.error {
            if delivery.sent == 0 {
                // Nothing reached the user: leave the state as it was so a retry starts afresh.
                self.release_quietly(&inbound.key, &lease).await;
                return Err(undelivered(PipelineError::Undelivered(error)));
            }
            tracing::error!(error = %crate::error_chain(&error), sent = delivery.sent, "reply delivery stopped part way");
        }
        let expires_at = now.plus(self.timing.conversation_ttl);
        self.store
            .commit(&inbound.key, &lease, version, &conversation, expires_at)
            .await
            .map_err(|e| Failure { error: e.into(), delivered: delivery.sent > 0 })?;
        Ok(Outcome::Replied { sent: delivery.sent })
    }

    /// Waits (bounded) for the conversation's lease: messages of one user are handled one at a
    /// time, in the order they win the lease.
    async fn lock(&self, key: &ConversationKey) -> Result<(Lease, Versioned), PipelineError> {
        let started = Instant::now();
        let owner = lease_owner();
        let mut pause = Duration::from_millis(10);
        loop {
            let now = self.clock.now();
            let lease = Lease { owner: owner.clone(), until: now.plus(self.timing.lease) };
            if let Acquired::Locked(versioned) = self.store.acquire(key, &lease, now).await? {
                return Ok((lease, versioned));
            }
            if started.elapsed() >= self.timing.lease_wait {
                return Err(PipelineError::Busy(self.timing.lease_wait));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(200));
        }
    }

    /// The channel group's ExtraInfo; unavailable means "use the files", never a failed request.
    async fn app_data(&self, group: &str) -> AppData {
        match self.chatbot.app_data(group).await {
            Ok(body) => AppData::parse(&body, &self.lang),
            Err(error) => {
                tracing::warn!(error = %crate::error_chain(&error), group, "ExtraInfo unavailable, using the label files");
                AppData::default()
            }
        }
    }

    async fn release_quietly(&self, key: &ConversationKey, lease: &Lease) {
        if let Err(error) = self.store.release(key, lease).await {
            tracing::error!(error = %crate::error_chain(&error), "could not release the conversation lease");
        }
    }
}

/// A lease owner id unique across processes: time, process id and a per-process counter.
fn lease_owner() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{nanos:x}-{:x}-{:x}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

