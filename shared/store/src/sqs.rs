//! The durable queue of ingestion on SQS FIFO ([`SqsQueue`]): what the webhooks enqueue
//! into, what the Lambda event source (or [`poll`], in `connector-local`) delivers from, and the
//! dead-letter queue a record given up goes to with its cause.
//!
//! The client is configured like DynamoDB's ([`crate::sdk_config`]): the product's own HTTP
//! client, the variables Lambda sets, `AWS_ENDPOINT_URL_SQS` for a local server. In AWS the
//! SAM template owns the queues; [`create_local`] creates a pair for local runs and tests.
//!
//! No message body is ever logged or put in an error: a body is a user's message.

use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName, SendMessageBatchRequestEntry};
use connector_core::queue::{Consumer, Disposition, Job, MAX_JOB_BYTES, Queue, QueueError, Record, run_batch};
use connector_engine::error_chain;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// SQS takes at most ten messages per `SendMessageBatch`.
const BATCH_ENTRIES: usize = 10;

/// The longest visibility timeout SQS accepts (12 hours).
const MAX_VISIBILITY_SECS: u64 = 43_200;

/// The longest long poll SQS accepts.
const MAX_WAIT_SECS: u64 = 20;

/// How much of a dead letter's cause goes into its `cause` attribute.
const MAX_CAUSE_CHARS: usize = 1000;

/// How long a record that should have been dead-lettered, and could not be, waits before it
/// comes back (and, in AWS, before the queue's redrive policy counts it once more).
const DEAD_LETTER_FALLBACK: Duration = Duration::from_secs(60);

/// The SQS system attributes a [`Record`] is made of.
const GROUP: &str = "MessageGroupId";
const RECEIVE_COUNT: &str = "ApproximateReceiveCount";
const SENT: &str = "SentTimestamp";

/// One SQS FIFO queue (or its dead-letter queue) by URL.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: Client,
    url: String,
}

/// A received record and the handle that deletes it or changes its visibility.
#[derive(Debug, Clone)]
pub struct Received {
    pub record: Record,
    pub receipt: String,
}

impl SqsQueue {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self { client, url: url.into() }
    }

    /// The queue at `url`, with a client configured from the environment
    /// ([`crate::sdk_config`]) and timeouts that fit a webhook: connect 1 s, attempt 2 s,
    /// whole call with its retries 5 s.
    pub async fn from_env(url: &str) -> Self {
        Self::new(crate::sdk_config::sqs_client(webhook_timeouts()).await, url)
    }

    /// Another queue through the same client (its connections and credentials).
    pub fn at(&self, url: &str) -> Self {
        Self { client: self.client.clone(), url: url.to_owned() }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Up to `max` records (1 to 10), waiting up to `wait` (at most 20 s) for the first;
    /// each stays hidden from other receivers for `visibility`.
    pub async fn receive(&self, max: i32, wait: Duration, visibility: Duration) -> Result<Vec<Received>, QueueError> {
        let wait = wait.min(Duration::from_secs(MAX_WAIT_SECS));
        // The long poll is the answer's wait: each attempt has the webhook's time beyond it.
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(1))
            .operation_attempt_timeout(wait + Duration::from_secs(2))
            .operation_timeout(wait + Duration::from_secs(5))
            .build();
        let answer = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max.clamp(1, 10))
            .wait_time_seconds(seconds(wait, MAX_WAIT_SECS))
            .visibility_timeout(seconds(visibility, MAX_VISIBILITY_SECS))
            .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .customize()
            // A long poll legitimately sends nothing for up to 20 s: the SDK's stalled-stream
            // protection would cut it after its 5 s grace and fail the receive.
            .config_override(
                aws_sdk_sqs::Config::builder()
                    .timeout_config(timeouts)
                    .stalled_stream_protection(aws_sdk_sqs::config::StalledStreamProtectionConfig::disabled()),
            )
            .send()
            .await
            .map_err(unavailable)?;
        let mut received = Vec::with_capacity(answer.messages().len());
        for message in answer.messages() {
            let (Some(id), Some(receipt)) = (message.message_id(), message.receipt_handle()) else {
                tracing::warn!(queue = %self.url, "SQS returned a message without id or receipt handle: skipped");
                continue;
            };
            let attributes = message.attributes();
            let attribute = |name: &str| attributes.and_then(|map| map.get(&MessageSystemAttributeName::from(name))).map(String::as_str);
            received.push(Received {
                record: record_of(id.to_owned(), message.body().unwrap_or_default().to_owned(), attribute),
                receipt: receipt.to_owned(),
            });
        }
        Ok(received)
    }

    /// Removes a record for good.
    pub async fn delete(&self, receipt: &str) -> Result<(), QueueError> {
        self.client.delete_message().queue_url(&self.url).receipt_handle(receipt).send().await.map_err(unavailable)?;
        Ok(())
    }

    /// Makes a received record visible again `after` from now (whole seconds, rounded up;
    /// at most 12 hours). Its group waits until then.
    pub async fn retry_after(&self, receipt: &str, after: Duration) -> Result<(), QueueError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .visibility_timeout(seconds(after, MAX_VISIBILITY_SECS))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// Puts a record given up into this queue (call it on the dead-letter queue): its body, in
    /// its group, deduplicated by the record's id, with its `cause` as a string attribute (at
    /// most 1000 characters).
    pub async fn dead_letter(&self, record: &Record, cause: &str) -> Result<(), QueueError> {
        let cause = truncated(cause.trim(), MAX_CAUSE_CHARS);
        let cause = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(if cause.is_empty() { "unknown" } else { cause })
            .build()
            .map_err(|error| QueueError::Unavailable(Box::new(error)))?;
        let group = if record.group.is_empty() { "dead-letters" } else { record.group.as_str() };
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(&record.body)
            .message_group_id(group)
            .message_deduplication_id(&record.id)
            .message_attributes("cause", cause)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl Queue for SqsQueue {
    /// In order, in batches of at most ten messages and 256 KiB; stops at the first batch
    /// that is not wholly taken.
    async fn enqueue(&self, jobs: &[Job]) -> Result<(), QueueError> {
        for batch in batches(jobs)? {
            let entries = batch
                .iter()
                .enumerate()
                .map(|(index, job)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(index.to_string())
                        .message_body(&job.body)
                        .message_group_id(&job.group)
                        .message_deduplication_id(&job.dedupe)
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|error| QueueError::Unavailable(Box::new(error)))?;
            let answer =
                self.client.send_message_batch().queue_url(&self.url).set_entries(Some(entries)).send().await.map_err(unavailable)?;
            if let Some(first) = answer.failed().first() {
                return Err(QueueError::Unavailable(Box::new(Refused {
                    refused: answer.failed().len(),
                    sent: batch.len(),
                    code: first.code().to_owned(),
                    message: first.message().unwrap_or_default().to_owned(),
                })));
            }
        }
        Ok(())
    }
}

/// Some messages of a batch were refused (SQS's code and message of the first).
#[derive(Debug, thiserror::Error)]
#[error("SQS refused {refused} of {sent} messages: {code}: {message}")]
struct Refused {
    refused: usize,
    sent: usize,
    code: String,
    message: String,
}

/// The jobs cut into batches SQS takes: at most ten messages and 256 KiB of bodies each.
fn batches(jobs: &[Job]) -> Result<Vec<&[Job]>, QueueError> {
    let mut batches = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (index, job) in jobs.iter().enumerate() {
        let size = job.body.len();
        if size > MAX_JOB_BYTES {
            return Err(QueueError::TooLarge(size));
        }
        if index - start == BATCH_ENTRIES || bytes + size > MAX_JOB_BYTES {
            batches.push(&jobs[start..index]);
            (start, bytes) = (index, 0);
        }
        bytes += size;
    }
    if start < jobs.len() {
        batches.push(&jobs[start..]);
    }
    Ok(batches)
}

/// A record from its id, body and SQS system attributes (`attribute` looks one up by name):
/// the same for a received message and for a record of a Lambda SQS event. A missing or
/// unreadable receive count reads as the first attempt, a missing sent time as now.
pub fn record_of<'a>(id: String, body: String, attribute: impl Fn(&str) -> Option<&'a str>) -> Record {
    let attempt = attribute(RECEIVE_COUNT).and_then(|count| count.trim().parse::<u32>().ok()).unwrap_or(1).max(1);
    let sent_at = attribute(SENT)
        .and_then(|millis| millis.trim().parse::<u64>().ok())
        .map(|millis| SystemTime::UNIX_EPOCH + Duration::from_millis(millis))
        .unwrap_or_else(SystemTime::now);
    Record { id, group: attribute(GROUP).unwrap_or_default().to_owned(), body, attempt, sent_at }
}

/// What a poller that deletes its own records does with a processed batch: done, deleted;
/// to retry, made visible again after its wait; given up, put on `dead_letters` with its cause
/// and deleted, or (no dead-letter queue, or it failed) made visible again in a minute, so
/// the queue's redrive policy takes it in the end. Every failure is logged, none is returned:
/// a record not settled comes back when its visibility ends.
pub async fn settle(queue: &SqsQueue, dead_letters: Option<&SqsQueue>, settled: Vec<(Received, Disposition)>) {
    for (Received { record, receipt }, disposition) in settled {
        match disposition {
            Disposition::Done => {
                if let Err(error) = queue.delete(&receipt).await {
                    tracing::error!(error = %error_chain(&error), message_id = %record.id, "a processed message could not be deleted: it will be delivered again");
                }
            }
            Disposition::Retry { after, cause } => {
                tracing::debug!(message_id = %record.id, attempt = record.attempt, retry_in_ms = after.as_millis() as u64, %cause, "message to retry");
                if let Err(error) = queue.retry_after(&receipt, after).await {
                    tracing::warn!(error = %error_chain(&error), message_id = %record.id, "the retry's wait could not be set: the message comes back when its visibility ends");
                }
            }
            Disposition::DeadLetter { cause } => {
                let kept = give_up(dead_letters, &record, &cause).await;
                let done = if kept { queue.delete(&receipt).await } else { queue.retry_after(&receipt, DEAD_LETTER_FALLBACK).await };
                if let Err(error) = done {
                    tracing::error!(error = %error_chain(&error), message_id = %record.id, dead_lettered = kept, "a message given up could not be settled: it will be delivered again");
                }
            }
        }
    }
}

/// Receives from `queue` (ten at a time, long polls of 20 s, each record hidden for
/// `visibility`), processes each batch with [`run_batch`] (nothing is started after half the
/// visibility) and [`settle`]s it, until `shutdown` completes; a batch under way is finished
/// first. A failed receive is logged and tried again after a backoff (1 s, doubling to 30 s).
pub async fn poll(
    queue: Arc<SqsQueue>,
    dead_letters: Option<Arc<SqsQueue>>,
    consumer: Arc<dyn Consumer>,
    visibility: Duration,
    shutdown: impl Future,
) {
    tokio::pin!(shutdown);
    let mut backoff = Duration::from_secs(1);
    loop {
        let received = tokio::select! {
            _ = &mut shutdown => return,
            received = queue.receive(10, Duration::from_secs(MAX_WAIT_SECS), visibility) => received,
        };
        let received = match received {
            Ok(received) => {
                backoff = Duration::from_secs(1);
                received
            }
            Err(error) => {
                tracing::warn!(error = %error_chain(&error), queue = %queue.url(), retry_in_ms = backoff.as_millis() as u64, "receiving from the queue failed");
                tokio::select! {
                    _ = &mut shutdown => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
                continue;
            }
        };
        if received.is_empty() {
            continue;
        }
        let mut receipts: HashMap<String, String> =
            received.iter().map(|received| (received.record.id.clone(), received.receipt.clone())).collect();
        let records = received.into_iter().map(|received| received.record).collect();
        let processed = run_batch(consumer.clone(), records, Instant::now() + visibility / 2).await;
        let settled = processed
            .into_iter()
            .filter_map(|(record, disposition)| {
                let receipt = receipts.remove(&record.id)?;
                Some((Received { record, receipt }, disposition))
            })
            .collect();
        settle(&queue, dead_letters.as_deref(), settled).await;
    }
}

/// Puts a record given up on the dead-letter queue with its cause; whether it is kept there
/// (if not, the caller leaves it on its queue, whose redrive policy moves it in the end).
pub async fn give_up(dead_letters: Option<&SqsQueue>, record: &Record, cause: &str) -> bool {
    let Some(dead_letters) = dead_letters else {
        tracing::error!(message_id = %record.id, %cause, "a message given up has no dead-letter queue (DEAD_LETTER_QUEUE_URL): it goes back to the queue");
        return false;
    };
    match dead_letters.dead_letter(record, cause).await {
        Ok(()) => {
            tracing::error!(message_id = %record.id, %cause, "message dead-lettered");
            true
        }
        Err(error) => {
            tracing::error!(error = %error_chain(&error), message_id = %record.id, %cause, "a message given up could not be dead-lettered: it goes back to the queue");
            false
        }
    }
}

/// Creates (or finds, with the same attributes) the FIFO queue `<name>.fifo` and its
/// dead-letter queue `<name>-dlq.fifo`, deduplicated by the ids the jobs carry, with a client
/// from the environment; returns (queue, dead-letter queue). For `connector-local` and tests
/// against a local SQS-API server: in AWS the SAM template owns the queues. No redrive policy
/// is set: the poller dead-letters records itself ([`settle`]).
pub async fn create_local(name: &str) -> Result<(SqsQueue, SqsQueue), QueueError> {
    let client = crate::sdk_config::sqs_client(webhook_timeouts()).await;
    let mut urls = Vec::with_capacity(2);
    for name in [format!("{name}.fifo"), format!("{name}-dlq.fifo")] {
        let created = client
            .create_queue()
            .queue_name(&name)
            .attributes(QueueAttributeName::FifoQueue, "true")
            .attributes(QueueAttributeName::ContentBasedDeduplication, "false")
            .send()
            .await
            .map_err(unavailable)?;
        let url = created.queue_url().ok_or_else(|| QueueError::Unavailable(format!("SQS created {name} without a URL").into()))?;
        urls.push(url.to_owned());
    }
    let dead_letters = urls.pop().unwrap_or_default();
    let queue = urls.pop().unwrap_or_default();
    Ok((SqsQueue::new(client.clone(), queue), SqsQueue::new(client, dead_letters)))
}

fn webhook_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(1))
        .operation_attempt_timeout(Duration::from_secs(2))
        .operation_timeout(Duration::from_secs(5))
        .build()
}

/// The SDK's error with its cause chain (the requests' bodies are not in it).
fn unavailable<E: std::error::Error + Send + Sync + 'static>(error: E) -> QueueError {
    QueueError::Unavailable(Box::new(error))
}

/// Whole seconds, rounded up, at most `max`.
fn seconds(duration: Duration, max: u64) -> i32 {
    let rounded = duration.as_secs().saturating_add(u64::from(duration.subsec_nanos() > 0));
    // `max` is at most 43200, well inside i32.
    rounded.min(max) as i32
}

/// At most `max` characters of `text`, cut on a character boundary.
fn truncated(text: &str, max: usize) -> &str {
    text.char_indices().nth(max).map_or(text, |(end, _)| &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(body_bytes: usize) -> Job {
        Job { group: "g".into(), dedupe: body_bytes.to_string(), body: "x".repeat(body_bytes) }
    }

    #[test]
    fn batches_hold_at_most_ten_messages_and_256_kib_of_bodies_in_order() {
        let jobs: Vec<Job> = (0..23).map(|_| job(10)).collect();
        let sizes: Vec<usize> = batches(&jobs).unwrap().iter().map(|batch| batch.len()).collect();
        assert_eq!(sizes, [10, 10, 3]);

        let jobs = vec![job(100 * 1024), job(100 * 1024), job(100 * 1024), job(1)];
        let cut = batches(&jobs).unwrap();
        assert_eq!(cut.iter().map(|batch| batch.len()).collect::<Vec<_>>(), [2, 2]);
        assert!(cut.iter().all(|batch| batch.iter().map(|job| job.body.len()).sum::<usize>() <= MAX_JOB_BYTES));
        assert_eq!(cut.concat(), jobs, "every job once, in order");

        assert!(batches(&[]).unwrap().is_empty());
        assert!(matches!(batches(&[job(MAX_JOB_BYTES + 1)]), Err(QueueError::TooLarge(size)) if size == MAX_JOB_BYTES + 1));
    }

    #[test]
    fn waits_are_whole_seconds_rounded_up_and_clamped_to_what_sqs_takes() {
        assert_eq!(seconds(Duration::ZERO, MAX_VISIBILITY_SECS), 0);
        assert_eq!(seconds(Duration::from_millis(1), MAX_VISIBILITY_SECS), 1);
        assert_eq!(seconds(Duration::from_millis(2500), MAX_VISIBILITY_SECS), 3);
        assert_eq!(seconds(Duration::from_secs(7), MAX_VISIBILITY_SECS), 7);
        assert_eq!(seconds(Duration::from_secs(100_000), MAX_VISIBILITY_SECS), 43_200);
        assert_eq!(seconds(Duration::MAX, MAX_WAIT_SECS), 20);
    }

    #[test]
    fn a_cause_is_cut_to_a_thousand_characters_on_a_character_boundary() {
        assert_eq!(truncated("short", MAX_CAUSE_CHARS), "short");
        let long = "é".repeat(1500);
        let cut = truncated(&long, MAX_CAUSE_CHARS);
        assert_eq!(cut.chars().count(), 1000);
        assert_eq!(cut.len(), 2000);
    }

    #[test]
    fn a_record_takes_its_group_attempt_and_sent_time_from_the_system_attributes() {
        let attributes: HashMap<&str, &str> =
            [("MessageGroupId", "g1"), ("ApproximateReceiveCount", "3"), ("SentTimestamp", "1700000000123")].into();
        let record = record_of("m1".into(), "body".into(), |name| attributes.get(name).copied());
        assert_eq!((record.id.as_str(), record.group.as_str(), record.body.as_str(), record.attempt), ("m1", "g1", "body", 3));
        assert_eq!(record.sent_at, SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123));

        let bare = record_of("m2".into(), String::new(), |_| None);
        assert_eq!((bare.group.as_str(), bare.attempt), ("", 1));
        assert!(SystemTime::now().duration_since(bare.sent_at).unwrap_or_default() < Duration::from_secs(5));
    }
}
