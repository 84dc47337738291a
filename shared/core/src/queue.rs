//! Durable ingestion: a webhook only authenticates, parses and enqueues; the queue's consumer
//! processes each event with its own budget, and retries with backoff.
//!
//! - [`Job`]: an event as it waits in a queue, with its FIFO group (the conversation, or the
//!   chat or ticket a HyperChat event names) and its deduplication id (the provider's id).
//! - [`Queue`]: where ingest puts jobs. SQS FIFO in AWS (`state_store::sqs`), [`LocalQueue`]
//!   in one process.
//! - [`Consumer`]: what processes one job and says what becomes of it ([`Disposition`]); the
//!   [`Processor`] runs the pipeline.
//! - [`run_batch`]: a batch of SQS records, in order per group, each group on its own, as the
//!   Lambda event source and `connector-local`'s SQS poller receive them.

use crate::channel::{Event, Route};
use crate::digest;
use crate::pipeline::{Outcome, Pipeline, PipelineError};
use async_trait::async_trait;
use connector_engine::error_chain;
use connector_engine::step::{ChatEvent, Input};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};
use tokio::sync::Notify;
use tokio::time::Instant;

/// The environment variables of the `queue` table.
pub const ENV: &[(&str, &str)] = &[("QUEUE_URL", "queue.url"), ("DEAD_LETTER_QUEUE_URL", "queue.dead_letter_url")];

/// SQS's limit on one message (and on one batch of them).
pub const MAX_JOB_BYTES: usize = 256 * 1024;

/// How long SQS FIFO remembers a deduplication id; the local queue does the same.
pub const DEDUPE_WINDOW: Duration = Duration::from_secs(300);

/// The `queue` table.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct QueueSettings {
    /// The SQS FIFO queue this function ingests into and processes from; unset: in-process.
    #[serde(default)]
    pub url: Option<String>,
    /// Where a message whose processing gave up goes, with its cause.
    #[serde(default)]
    pub dead_letter_url: Option<String>,
    /// How long a message whose processing keeps failing is retried (from when it was
    /// enqueued); after that the user hears `api_error` and the message is dead-lettered.
    pub retry_budget_secs: u64,
    /// The first retry's wait; each next one doubles, up to `backoff_max_ms`.
    pub backoff_initial_ms: u64,
    pub backoff_max_ms: u64,
    /// One message's processing (bot, live chat, sends, writes) ends before this.
    pub processing_budget_ms: u64,
}

fn non_empty(url: &Option<String>) -> Option<&str> {
    url.as_deref().map(str::trim).filter(|u| !u.is_empty())
}

impl QueueSettings {
    pub fn url(&self) -> Option<&str> {
        non_empty(&self.url)
    }

    pub fn dead_letter_url(&self) -> Option<&str> {
        non_empty(&self.dead_letter_url)
    }

    pub fn retry(&self) -> RetryPolicy {
        RetryPolicy {
            budget: Duration::from_secs(self.retry_budget_secs),
            backoff_initial: Duration::from_millis(self.backoff_initial_ms),
            backoff_max: Duration::from_millis(self.backoff_max_ms),
        }
    }

    pub fn processing_budget(&self) -> Duration {
        Duration::from_millis(self.processing_budget_ms)
    }
}

/// When a failed message is tried again, and when it is tried no more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// From the message's arrival: a retry that would start later than this is not made.
    pub budget: Duration,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1` (attempts count from 1).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(20);
        self.backoff_initial.saturating_mul(1 << doublings).min(self.backoff_max)
    }

    /// Whether attempt `attempt`, `age` after the message arrived, is the last one: the next
    /// would start after the budget.
    pub fn is_last(&self, attempt: u32, age: Duration) -> bool {
        age.saturating_add(self.backoff(attempt)) > self.budget
    }
}

/// An event on its way from ingest to processing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// The FIFO group: events of one group are processed one at a time, in order. A digest
    /// (SQS takes 128 characters at most, and the key holds a phone number).
    pub group: String,
    /// The deduplication id: a digest of the provider's id for the event and of its group (a
    /// HyperChat event forwarded into its conversation's group is not a repeat of itself).
    pub dedupe: String,
    /// The event, as JSON.
    pub body: String,
}

impl Job {
    /// The job of one event: grouped by its conversation (or the chat, the ticket it names).
    pub fn of(event: &Event) -> Result<Self, QueueError> {
        let body = serde_json::to_string(event).map_err(|error| QueueError::Unencodable(error.to_string()))?;
        // SQS refuses U+FFFE and U+FFFF in a body, and serde_json writes them raw; they can only
        // be inside JSON strings, where their escapes mean the same.
        let body =
            if body.contains(['\u{fffe}', '\u{ffff}']) { body.replace('\u{fffe}', "\\ufffe").replace('\u{ffff}', "\\uffff") } else { body };
        if body.len() > MAX_JOB_BYTES {
            return Err(QueueError::TooLarge(body.len()));
        }
        let group = group_of(&event.route);
        let dedupe = digest(&format!("{group}#{}", event.id));
        Ok(Self { group, dedupe, body })
    }
}

/// The FIFO group of events of this route.
pub fn group_of(route: &Route) -> String {
    match route {
        Route::Conversation(key) | Route::Resolved { key, .. } => digest(&format!("conv#{key}")),
        // A linked user's messages all name the alias: one group, whichever key they carry.
        Route::Linked { alias, .. } | Route::Alias(alias) => digest(&format!("conv#{alias}")),
        Route::Chat(chat_id) => digest(&format!("chat#{chat_id}")),
        Route::Ticket { ticket, .. } => digest(&format!("ticket#{ticket}")),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The queue did not take the events: the provider must be answered 5xx.
    #[error("the queue is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("an event is too large for the queue ({0} bytes)")]
    TooLarge(usize),
    #[error("an event cannot be encoded: {0}")]
    Unencodable(String),
}

/// Where ingest puts events for processing.
#[async_trait]
pub trait Queue: Send + Sync {
    /// Takes the jobs in order. An error means some may not have been taken (their
    /// deduplication ids make the provider's retry safe for the others).
    async fn enqueue(&self, jobs: &[Job]) -> Result<(), QueueError>;
}

/// One job handed to processing.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub body: String,
    /// 1 for the first time it is processed.
    pub attempt: u32,
    /// How long ago it was enqueued.
    pub age: Duration,
}

/// What becomes of a job after one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Handled (or nothing to do): removed from the queue.
    Done,
    /// Tried again after `after`; the group waits.
    Retry { after: Duration, cause: String },
    /// Given up: kept aside with its cause for an operator, the group goes on.
    DeadLetter { cause: String },
}

/// Processes one job.
#[async_trait]
pub trait Consumer: Send + Sync {
    async fn consume(&self, delivery: &Delivery) -> Disposition;
}

/// Where HyperChat's events go once their conversation is known.
#[derive(Clone, Default)]
pub enum Forwarding {
    /// Processed here (the channels' functions: the events they get are theirs or forwarded).
    #[default]
    None,
    /// One queue for everything (`connector-local`).
    Same(Arc<dyn Queue>),
    /// The queue of the conversation's channel (the HyperChat function in AWS).
    ByChannel(HashMap<String, Arc<dyn Queue>>),
}

/// The consumer of every function: HyperChat events are forwarded into their conversation's
/// group; everything else goes through the pipeline.
pub struct Processor {
    pub pipeline: Arc<Pipeline>,
    pub retry: RetryPolicy,
    pub budget: Duration,
    pub forwarding: Forwarding,
}

#[async_trait]
impl Consumer for Processor {
    async fn consume(&self, delivery: &Delivery) -> Disposition {
        let event: Event = match serde_json::from_str(&delivery.body) {
            Ok(event) => event,
            Err(error) => return Disposition::DeadLetter { cause: format!("not an event of this version: {error}") },
        };
        let last = self.retry.is_last(delivery.attempt, delivery.age);
        let deadline = Instant::now() + self.budget;
        let handled = match (&event.route, &self.forwarding) {
            (Route::Chat(_) | Route::Ticket { .. }, forwarding) if !is_typing(&event) && !matches!(forwarding, Forwarding::None) => {
                self.forward(&event, deadline).await
            }
            _ => self.pipeline.handle(&event, deadline, last).await.map_err(ProcessError::from),
        };
        match handled {
            Ok(Outcome::GaveUp { cause, .. }) => Disposition::DeadLetter { cause },
            Ok(_) => Disposition::Done,
            Err(error) if error.is_retryable() && !last => {
                let after = self.retry.backoff(delivery.attempt);
                tracing::warn!(error = %error_chain(&error), attempt = delivery.attempt, retry_in_ms = after.as_millis() as u64, "processing failed: retrying");
                Disposition::Retry { after, cause: error_chain(&error) }
            }
            Err(error) => Disposition::DeadLetter { cause: error_chain(&error) },
        }
    }
}

/// Why a record's processing failed: its turn, or forwarding it to its conversation's queue.
#[derive(Debug, thiserror::Error)]
enum ProcessError {
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error("the event could not be forwarded")]
    Forward(#[from] QueueError),
}

impl ProcessError {
    fn is_retryable(&self) -> bool {
        match self {
            Self::Pipeline(error) => error.is_retryable(),
            Self::Forward(error) => matches!(error, QueueError::Unavailable(_)),
        }
    }
}

/// An agent's typing is a courtesy: shown from the HyperChat function at once, never queued
/// behind the conversation's turns.
fn is_typing(event: &Event) -> bool {
    matches!(event.input, Input::Chat { event: ChatEvent::Writing { .. }, .. })
}

impl Processor {
    /// Finds the conversation of a chat's or ticket's event and puts the event in that
    /// conversation's group, so everything that happens to a conversation has one order.
    async fn forward(&self, event: &Event, deadline: Instant) -> Result<Outcome, ProcessError> {
        let Some(whose) = self.pipeline.resolve(&event.route, deadline).await? else {
            return Ok(Outcome::Ignored);
        };
        let queue = match &self.forwarding {
            Forwarding::Same(queue) => queue.clone(),
            Forwarding::ByChannel(queues) => match self.pipeline.channel_of(&whose, deadline).await? {
                Some(channel) => queues.get(&channel).cloned().ok_or(PipelineError::NoSender(channel))?,
                // Its conversation has not committed its first turn yet: the event waits for it.
                None => return Err(PipelineError::OwnerUnknown.into()),
            },
            Forwarding::None => return Err(PipelineError::NoSender("(no queue to forward to)".into()).into()),
        };
        let resolved = Event { route: Route::Resolved { key: whose.key, indexed_address: whose.indexed_address }, ..event.clone() };
        let job = Job::of(&resolved)?;
        queue.enqueue(std::slice::from_ref(&job)).await?;
        Ok(Outcome::Forwarded)
    }
}

/// A record of a batch, as an SQS event source or poller receives it.
#[derive(Debug, Clone)]
pub struct Record {
    /// The queue's id for it (`messageId`).
    pub id: String,
    /// Its FIFO group.
    pub group: String,
    pub body: String,
    /// `ApproximateReceiveCount`.
    pub attempt: u32,
    /// `SentTimestamp`.
    pub sent_at: SystemTime,
}

/// Processes a batch: the records of one group in order, each group on its own and at the
/// same time as the others. After a group's first record that is not done (retried or given
/// up), its later records are not started and come back behind it (SQS FIFO must not delete them out of order); other
/// groups go on. Records not started before `stop` (near the runtime's deadline) come back at
/// once.
pub async fn run_batch(consumer: Arc<dyn Consumer>, records: Vec<Record>, stop: Instant) -> Vec<(Record, Disposition)> {
    let mut groups: Vec<(String, Vec<Record>)> = Vec::new();
    for record in records {
        match groups.iter_mut().find(|(group, _)| *group == record.group) {
            Some((_, members)) => members.push(record),
            None => groups.push((record.group.clone(), vec![record])),
        }
    }
    let mut tasks = tokio::task::JoinSet::new();
    for (_, members) in groups {
        let consumer = consumer.clone();
        tasks.spawn(async move {
            let mut settled = Vec::with_capacity(members.len());
            let mut held = false;
            for record in members {
                let disposition = if held {
                    // Visible again at once: the group stays closed behind the failed record
                    // while its own wait lasts, and they come back after it, in order (a wait of
                    // their own would make them return with it, and moto then returns them
                    // before it).
                    Disposition::Retry { after: Duration::ZERO, cause: "an earlier message of the conversation is waiting".into() }
                } else if Instant::now() >= stop {
                    Disposition::Retry { after: Duration::ZERO, cause: "no time left in this run".into() }
                } else {
                    let age = SystemTime::now().duration_since(record.sent_at).unwrap_or_default();
                    let delivery = Delivery { body: record.body.clone(), attempt: record.attempt.max(1), age };
                    consume_guarded(&consumer, delivery).await
                };
                // A record given up is kept aside only after the batch (and may not be): the
                // rest of its group waits for the next receive, behind it or after it is gone.
                held |= !matches!(disposition, Disposition::Done);
                settled.push((record, disposition));
            }
            settled
        });
    }
    let mut settled = Vec::new();
    while let Some(done) = tasks.join_next().await {
        // A group's task never panics: `consume_guarded` turns a panic into a retry.
        settled.extend(done.unwrap_or_default());
    }
    settled
}

/// One attempt, with a panic turned into a retry (the queue's budget then dead-letters it).
async fn consume_guarded(consumer: &Arc<dyn Consumer>, delivery: Delivery) -> Disposition {
    let consumer = consumer.clone();
    let attempt = delivery.attempt;
    match tokio::spawn(async move { consumer.consume(&delivery).await }).await {
        Ok(disposition) => disposition,
        Err(error) => {
            tracing::error!(%error, attempt, "processing panicked");
            Disposition::Retry { after: Duration::from_secs(1), cause: format!("processing panicked: {error}") }
        }
    }
}

/// A message given up, as an operator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub body: String,
    pub cause: String,
}

/// The in-process queue: per-group order, retries with backoff, deduplication for five
/// minutes and dead letters kept with their cause, as SQS FIFO and its dead-letter queue do;
/// what it holds is lost with the process (set `QUEUE_URL` for a durable one).
#[derive(Clone, Default)]
pub struct LocalQueue {
    inner: Arc<LocalInner>,
}

/// Told of every message given up.
type DeadLetterHook = Arc<dyn Fn(&DeadLetter) + Send + Sync>;

#[derive(Default)]
struct LocalInner {
    state: Mutex<LocalState>,
    consumer: OnceLock<Arc<dyn Consumer>>,
    on_dead_letter: OnceLock<DeadLetterHook>,
    idle: Notify,
}

struct LocalState {
    /// Jobs waiting or being processed, by group; a group present here has a worker.
    groups: HashMap<String, VecDeque<(Job, Instant)>>,
    seen: HashMap<String, Instant>,
    dedupe_window: Duration,
    dead: Vec<DeadLetter>,
}

impl Default for LocalState {
    fn default() -> Self {
        Self { groups: HashMap::new(), seen: HashMap::new(), dedupe_window: DEDUPE_WINDOW, dead: Vec::new() }
    }
}

impl LocalQueue {
    /// Who processes the jobs; set once, before the first job arrives (the consumer may
    /// forward into this very queue, so it comes after the queue).
    pub fn start(&self, consumer: Arc<dyn Consumer>) {
        let _ = self.inner.consumer.set(consumer);
    }

    /// How long a deduplication id is remembered (SQS: five minutes). Tests set zero, so a
    /// redelivery reaches the table's own exactly-once record, as one after five minutes does.
    pub fn set_dedupe_window(&self, window: Duration) {
        self.state().dedupe_window = window;
    }

    /// Who is told of a message given up, beside the log (`connector-local` prints it).
    pub fn on_dead_letter(&self, hook: impl Fn(&DeadLetter) + Send + Sync + 'static) {
        let _ = self.inner.on_dead_letter.set(Arc::new(hook));
    }

    /// Waits until every job taken so far is processed or dead-lettered.
    pub async fn settle(&self) {
        loop {
            let idle = self.inner.idle.notified();
            if self.state().groups.is_empty() {
                return;
            }
            idle.await;
        }
    }

    /// Messages given up so far.
    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        self.state().dead.clone()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, LocalState> {
        self.inner.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Processes a group's jobs in order until it has none.
    async fn work(self, group: String) {
        let mut attempt = 0;
        loop {
            let Some((job, enqueued)) = self.state().groups.get(&group).and_then(|jobs| jobs.front().cloned()) else { break };
            let Some(consumer) = self.inner.consumer.get().cloned() else {
                tracing::error!("the local queue has no consumer: its jobs are dropped");
                self.state().groups.remove(&group);
                break;
            };
            attempt += 1;
            let delivery = Delivery { body: job.body.clone(), attempt, age: enqueued.elapsed() };
            match consume_guarded(&consumer, delivery).await {
                Disposition::Done => {}
                Disposition::Retry { after, .. } => {
                    tokio::time::sleep(after).await;
                    continue;
                }
                Disposition::DeadLetter { cause } => {
                    // The body is a user's message: only the hook (a local terminal) shows it.
                    tracing::error!(%cause, attempts = attempt, "message dead-lettered");
                    let dead = DeadLetter { body: job.body.clone(), cause };
                    if let Some(hook) = self.inner.on_dead_letter.get() {
                        hook(&dead);
                    }
                    self.state().dead.push(dead);
                }
            }
            attempt = 0;
            let mut state = self.state();
            if let Some(jobs) = state.groups.get_mut(&group) {
                jobs.pop_front();
                if jobs.is_empty() {
                    state.groups.remove(&group);
                }
            }
        }
        if self.state().groups.is_empty() {
            self.inner.idle.notify_waiters();
        }
    }
}

#[async_trait]
impl Queue for LocalQueue {
    async fn enqueue(&self, jobs: &[Job]) -> Result<(), QueueError> {
        let now = Instant::now();
        let mut state = self.state();
        let window = state.dedupe_window;
        state.seen.retain(|_, at| now.duration_since(*at) < window);
        for job in jobs {
            if !window.is_zero() && state.seen.insert(job.dedupe.clone(), now).is_some() {
                continue;
            }
            let jobs = state.groups.entry(job.group.clone()).or_default();
            jobs.push_back((job.clone(), now));
            if jobs.len() == 1 {
                tokio::spawn(self.clone().work(job.group.clone()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
