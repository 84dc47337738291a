//! The Lambda runtime adapter. One function serves two kinds of invocation:
//!
//! - HTTP API requests (ingest): one request in, the shared webhook handler, one response out,
//!   with the invocation's own deadline; lambda_http converts the event into an
//!   `http::Request` and the answer back into the response of the event's origin.
//! - SQS events of the function's own FIFO queue (process): the batch goes through
//!   [`run_batch`], and what is not done is reported in `batchItemFailures` (the event source
//!   mapping needs `FunctionResponseTypes: [ReportBatchItemFailures]`).

use crate::{Function, Ingest, wire_cap};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use connector_core::queue::{Consumer, Disposition, QueueError, Record, run_batch};
use connector_core::{Endpoint, LocalQueue, WebhookRequest, WebhookResponse};
use connector_engine::error_chain;
use lambda_http::lambda_runtime::{self, LambdaEvent};
use lambda_http::request::LambdaRequest;
use lambda_http::{Body, Error, Request, RequestExt, Service, service_fn};
use serde::{Deserialize, Deserializer, Serialize};
use state_store::sqs::SqsQueue;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::time::Instant;
use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Kept after the last record's budget for its queue calls (SQS's operation timeout).
const SETTLE_RESERVE: Duration = Duration::from_secs(5);

/// Kept between the handler's deadline and the runtime killing the invocation.
const MARGIN: Duration = Duration::from_millis(500);

/// Logs to standard output for CloudWatch: JSON lines when the function's log format is JSON
/// (`AWS_LAMBDA_LOG_FORMAT`), plain lines otherwise; no timestamps or colours, CloudWatch adds
/// the time. The filter is `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG` (`info`, or per target as
/// `connector_core=debug,info`), default `info`; one that does not parse is reported, then
/// `info` applies. The AWS SDK's and the HTTP stack's targets ([`WIRE_TARGETS`]) stay at
/// `info` at most.
pub fn init_logging() {
    let var = |name| std::env::var(name).ok().filter(|value: &String| !value.trim().is_empty());
    let wanted = var("AWS_LAMBDA_LOG_LEVEL").or_else(|| var("RUST_LOG"));
    let (filter, unreadable) = match wanted.as_deref().map(|text| text.to_ascii_lowercase().parse::<Targets>()) {
        None => (Targets::new().with_default(LevelFilter::INFO), None),
        Some(Ok(filter)) => (filter, None),
        Some(Err(error)) => (Targets::new().with_default(LevelFilter::INFO), Some(error)),
    };
    let format = tracing_subscriber::fmt::layer().with_target(false).without_time().with_ansi(false);
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|format| format.eq_ignore_ascii_case("json"));
    // The wire cap is a second filter of the same layer: both must let an event through.
    let registry = tracing_subscriber::registry();
    let _ = if json {
        registry.with(format.json().with_filter(filter).with_filter(wire_cap())).try_init()
    } else {
        registry.with(format.with_filter(filter).with_filter(wire_cap())).try_init()
    };
    if let Some(error) = unreadable {
        tracing::warn!(%error, "the log level (AWS_LAMBDA_LOG_LEVEL or RUST_LOG) does not parse: logging at info");
    }
}

/// How a function processes the SQS events of its queue.
pub struct Processing {
    pub consumer: Arc<dyn Consumer>,
    /// The function's queue, to set a retry's wait (`ChangeMessageVisibility`); without it a
    /// record to retry comes back when the queue's visibility timeout ends.
    pub queue: Option<Arc<SqsQueue>>,
    /// Where records given up go with their cause; without it they are reported failed, and
    /// the queue's redrive policy moves them in the end.
    pub dead_letters: Option<Arc<SqsQueue>>,
    /// One record's processing budget: no record starts later than this before the
    /// invocation's deadline (less the margin).
    pub budget: Duration,
}

/// What the runtime hands the function: an SQS event of its queue, or an HTTP request.
#[derive(Debug)]
enum Invocation {
    Sqs(SqsEvent),
    Http(Box<LambdaRequest>),
}

/// Written out rather than derived with `#[serde(untagged)]`: an untagged enum buffers the
/// payload in serde's own form, and `LambdaRequest` reads a `serde_json::value::RawValue`,
/// which only serde_json's own deserializer gives (an untagged enum refuses even a plain
/// HTTP API event). SQS is tried first: its event needs `Records`, a key no HTTP event has,
/// and every record must come from `aws:sqs`. lambda_http's event types refuse an SQS event
/// as well (a test checks both ways).
impl<'de> Deserialize<'de> for Invocation {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<serde_json::value::RawValue>::deserialize(deserializer)?;
        let from_sqs = |event: &SqsEvent| {
            !event.records.is_empty() && event.records.iter().all(|record| record.event_source.as_deref() == Some("aws:sqs"))
        };
        match serde_json::from_str::<SqsEvent>(raw.get()) {
            Ok(event) if from_sqs(&event) => return Ok(Self::Sqs(event)),
            _ => {}
        }
        serde_json::from_str::<LambdaRequest>(raw.get()).map(|request| Self::Http(Box::new(request))).map_err(serde::de::Error::custom)
    }
}

/// The answer: the HTTP response for the request's origin, or the batch's failures.
#[derive(Serialize)]
#[serde(untagged)]
enum Answer<H> {
    Http(H),
    Sqs(SqsBatchResponse),
}

/// Builds a function and serves it. A function that cannot be built (a setting or secret not
/// set yet) answers its first invocation with why, so the invoking side reads the reason
/// (`cargo lambda invoke`, the Lambda console, API Gateway's 502 in the logs) instead of waiting
/// on a process that is gone, then exits, so the next invocation starts afresh and reads the
/// secrets again.
pub async fn build_and_serve<E: Endpoint>(
    build: impl std::future::Future<Output = Result<Function<E>, crate::AppError>>,
) -> Result<(), Error> {
    let error = match build.await {
        Ok(function) => return serve_function(function).await,
        Err(error) => format!("the function cannot start: {}", error_chain(&error)),
    };
    tracing::error!("{error}");
    lambda_runtime::run(service_fn(move |_: LambdaEvent<serde_json::Value>| {
        let error = error.clone();
        async move {
            // Once this answer is posted: the next invocation gets a new process.
            tokio::spawn(async {
                tokio::time::sleep(Duration::from_millis(500)).await;
                std::process::exit(1);
            });
            Err::<serde_json::Value, Error>(error.into())
        }
    }))
    .await
}

/// Serves a function built by [`crate::App`]: its webhook and the SQS events of its queue.
/// Without `QUEUE_URL` (an emulator) each request's events are processed before it is
/// answered, as nothing may run once the invocation has answered.
pub async fn serve_function<E: Endpoint>(function: Function<E>) -> Result<(), Error> {
    let Function { endpoint, consumer, ingest, processing_budget } = function;
    match ingest {
        Ingest::Sqs { queue, dead_letters } => {
            run(endpoint, Processing { consumer, queue: Some(queue), dead_letters, budget: processing_budget }).await
        }
        Ingest::Local(local) => {
            tracing::warn!("QUEUE_URL is not set: each request's events are processed before it is answered");
            let processing = Processing { consumer, queue: None, dead_letters: None, budget: processing_budget };
            run(ProcessedBeforeAnswer { endpoint, local }, processing).await
        }
    }
}

/// An endpoint whose requests are answered once the in-process queue has processed them.
struct ProcessedBeforeAnswer<E> {
    endpoint: E,
    local: LocalQueue,
}

impl<E: Endpoint> Endpoint for ProcessedBeforeAnswer<E> {
    async fn serve(&self, request: WebhookRequest, runtime_deadline: Option<Instant>) -> WebhookResponse {
        let response = self.endpoint.serve(request, runtime_deadline).await;
        self.local.settle().await;
        response
    }
}

/// Serves `endpoint`'s HTTP requests and processes the SQS events of the function's queue
/// until the runtime stops the process.
pub async fn run(endpoint: impl Endpoint, processing: Processing) -> Result<(), Error> {
    let webhook = Arc::new(endpoint);
    let processing = Arc::new(processing);
    lambda_runtime::run(service_fn(move |invocation: LambdaEvent<Invocation>| handle(webhook.clone(), processing.clone(), invocation)))
        .await
}

/// One invocation.
async fn handle<E: Endpoint>(
    webhook: Arc<E>,
    processing: Arc<Processing>,
    invocation: LambdaEvent<Invocation>,
) -> Result<Answer<impl Serialize>, Error> {
    let LambdaEvent { payload, context } = invocation;
    match payload {
        Invocation::Sqs(event) => Ok(Answer::Sqs(process(&processing, event, context.deadline()).await)),
        Invocation::Http(request) => {
            // lambda_http's own conversion both ways (what `lambda_http::run` does): the event
            // into an `http::Request` with the context and trace header, the answer into the
            // response of the event's origin (API Gateway v1 or v2, ALB).
            let mut adapter = lambda_http::Adapter::from(service_fn(move |request: Request| serve(webhook.clone(), request)));
            Ok(Answer::Http(adapter.call(LambdaEvent::new(*request, context)).await?))
        }
    }
}

/// One HTTP request through the webhook.
async fn serve<E: Endpoint>(webhook: Arc<E>, request: Request) -> Result<http::Response<Body>, Error> {
    let deadline = request.lambda_context_ref().and_then(|context| deadline_of(context.deadline(), SystemTime::now()));
    let (parts, body) = request.into_parts();
    let request = http::Request::from_parts(parts, bytes::Bytes::from(body.to_vec()));
    Ok(webhook.serve(request, deadline).await.map(response_body))
}

/// One SQS event: its records processed in order per group until the runtime's deadline
/// allows no more; the failures to report (retries, and records given up that could not be
/// dead-lettered).
async fn process(processing: &Processing, event: SqsEvent, deadline: SystemTime) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    let mut records = Vec::with_capacity(event.records.len());
    let mut receipts = std::collections::HashMap::with_capacity(event.records.len());
    for message in event.records {
        match record_of(message) {
            Some((record, receipt)) => {
                if let Some(receipt) = receipt {
                    receipts.insert(record.id.clone(), receipt);
                }
                records.push(record);
            }
            // Without an id it cannot be reported; it was not processed either.
            None => tracing::error!("an SQS record without messageId: skipped"),
        }
    }
    let now = SystemTime::now();
    let stop = stop_of(deadline, now, processing.budget);
    // The queue calls after the batch end before the runtime's deadline: an invocation that
    // times out returns the whole batch, done records included.
    let hard = deadline.duration_since(now).ok().map(|left| Instant::now() + left.saturating_sub(MARGIN));
    for (record, disposition) in run_batch(processing.consumer.clone(), records, stop).await {
        let receipt = receipts.get(&record.id);
        match disposition {
            Disposition::Done => {}
            Disposition::Retry { after, cause } => {
                tracing::debug!(message_id = %record.id, attempt = record.attempt, retry_in_ms = after.as_millis() as u64, %cause, "message to retry");
                match (&processing.queue, receipt) {
                    (Some(queue), Some(receipt)) => {
                        if let Err(error) = before(hard, queue.retry_after(receipt, after)).await {
                            tracing::warn!(error = %error_chain(&error), message_id = %record.id, "the retry's wait could not be set: the message comes back when the queue's visibility timeout ends");
                        }
                    }
                    _ => {
                        tracing::debug!(message_id = %record.id, "no queue or receipt to set the retry's wait: the queue's visibility timeout applies")
                    }
                }
                response.add_failure(record.id);
            }
            Disposition::DeadLetter { cause } => {
                let gave_up = state_store::sqs::give_up(processing.dead_letters.as_deref(), &record, &cause);
                // Not kept before the invocation's deadline: it goes back to the queue.
                let kept = match hard {
                    Some(hard) => tokio::time::timeout_at(hard, gave_up).await.unwrap_or(false),
                    None => gave_up.await,
                };
                if !kept {
                    response.add_failure(record.id);
                }
            }
        }
    }
    response
}

/// A queue call, given up at `hard` (when there is one).
async fn before(hard: Option<Instant>, call: impl Future<Output = Result<(), QueueError>>) -> Result<(), QueueError> {
    match hard {
        Some(hard) => tokio::time::timeout_at(hard, call)
            .await
            .unwrap_or_else(|_| Err(QueueError::Unavailable("no time left before the invocation's deadline".into()))),
        None => call.await,
    }
}

/// A record of the event and its receipt handle; `None` without a `messageId`.
fn record_of(message: SqsMessage) -> Option<(Record, Option<String>)> {
    let SqsMessage { message_id, receipt_handle, body, attributes, .. } = message;
    let record = state_store::sqs::record_of(message_id?, body.unwrap_or_default(), |name| attributes.get(name).map(String::as_str));
    Some((record, receipt_handle))
}

/// When the batch starts no more records: one record's budget, the time its queue calls take
/// after it (a retry's wait, a dead letter) and the margin before the runtime's deadline. A deadline already past is none the runtime enforces (emulators send
/// such): the batch then runs whole.
fn stop_of(deadline: SystemTime, now: SystemTime, budget: Duration) -> Instant {
    match deadline.duration_since(now) {
        Ok(left) => {
            let start_until = left.saturating_sub(budget + SETTLE_RESERVE + MARGIN);
            if start_until.is_zero() {
                tracing::error!(
                    left_ms = left.as_millis() as u64,
                    budget_ms = budget.as_millis() as u64,
                    "the invocation has less time than one message's budget: nothing is started (is the function's timeout above queue.processing_budget_ms?)"
                );
            }
            Instant::now() + start_until
        }
        Err(_) => {
            tracing::warn!(?deadline, "the runtime's deadline has passed already: the whole batch is processed");
            Instant::now() + Duration::from_secs(15 * 60)
        }
    }
}

/// Text answers stay text; anything else (an agent's file) goes out as binary, which API
/// Gateway receives base64-encoded and decodes for the caller.
fn response_body(bytes: bytes::Bytes) -> Body {
    match String::from_utf8(bytes.to_vec()) {
        Ok(text) => Body::Text(text),
        Err(error) => Body::Binary(error.into_bytes()),
    }
}

/// The runtime's wall-clock deadline as a monotonic instant, less the margin. A deadline that
/// has already passed is no deadline the runtime enforces (emulators send such): the
/// channel's own budget applies then.
fn deadline_of(deadline: SystemTime, now: SystemTime) -> Option<Instant> {
    match deadline.duration_since(now) {
        Ok(left) if left > MARGIN => Some(Instant::now() + (left - MARGIN)),
        _ => {
            tracing::warn!(?deadline, "the runtime's deadline has passed already: using the channel's own");
            None
        }
    }
}

#[cfg(test)]
mod tests;
