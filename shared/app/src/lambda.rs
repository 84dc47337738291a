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
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn a_text_answer_stays_text_and_a_binary_one_is_binary() {
        assert!(matches!(response_body(bytes::Bytes::from_static(b"ok")), Body::Text(text) if text == "ok"));
        assert!(
            matches!(response_body(bytes::Bytes::from_static(&[0x89, b'P', b'N', b'G', 0xff])), Body::Binary(bytes) if bytes.len() == 5)
        );
    }

    #[test]
    fn the_runtime_deadline_is_kept_less_the_margin_and_a_past_one_is_ignored() {
        let now = SystemTime::now();
        let soon = deadline_of(now + Duration::from_secs(10), now).unwrap();
        let left = soon.saturating_duration_since(Instant::now());
        assert!(left <= Duration::from_millis(9500) && left > Duration::from_millis(9000), "{left:?}");
        assert!(deadline_of(now - Duration::from_secs(1), now).is_none());
    }

    #[test]
    fn a_batch_starts_no_record_later_than_one_budget_its_queue_calls_and_the_margin_before_the_deadline() {
        let now = SystemTime::now();
        let stop = stop_of(now + Duration::from_secs(60), now, Duration::from_secs(20));
        let left = stop.saturating_duration_since(Instant::now());
        assert!(left <= Duration::from_millis(34_500) && left > Duration::from_millis(34_000), "{left:?}");
        let none = stop_of(now + Duration::from_secs(10), now, Duration::from_secs(20));
        assert!(none <= Instant::now(), "less time than a budget: nothing starts");
        let past = stop_of(now - Duration::from_secs(1), now, Duration::from_secs(20));
        assert!(past > Instant::now() + Duration::from_secs(60), "a past deadline is none");
    }

    /// AWS's documented sample of an SQS event, on a FIFO queue.
    const SQS_FIFO_EVENT: &str = r#"{
      "Records": [
        {
          "messageId": "11d6ee51-4cc7-4302-9e22-7cd8afdaadf5",
          "receiptHandle": "AQEBBX8nesZEXmkhsmZeyIE8iQAMig7qw...",
          "body": "Test message.",
          "attributes": {
            "ApproximateReceiveCount": "3",
            "SentTimestamp": "1573251510774",
            "SequenceNumber": "18849496460467696128",
            "MessageGroupId": "1",
            "SenderId": "AIDAIO23YVJENQZJOL4VO",
            "MessageDeduplicationId": "1",
            "ApproximateFirstReceiveTimestamp": "1573251510774"
          },
          "messageAttributes": {},
          "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
          "eventSource": "aws:sqs",
          "eventSourceARN": "arn:aws:sqs:us-east-2:123456789012:fifo.fifo",
          "awsRegion": "us-east-2"
        }
      ]
    }"#;

    /// AWS's documented sample of an HTTP API (payload 2.0) event.
    const HTTP_API_EVENT: &str = r#"{
      "version": "2.0",
      "routeKey": "POST /webhooks/twilio",
      "rawPath": "/webhooks/twilio",
      "rawQueryString": "",
      "headers": {"content-type": "application/x-www-form-urlencoded", "host": "abc.execute-api.us-east-1.amazonaws.com"},
      "requestContext": {
        "accountId": "123456789012",
        "apiId": "abc",
        "domainName": "abc.execute-api.us-east-1.amazonaws.com",
        "domainPrefix": "abc",
        "http": {"method": "POST", "path": "/webhooks/twilio", "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "TwilioProxy/1.1"},
        "requestId": "id",
        "routeKey": "POST /webhooks/twilio",
        "stage": "$default",
        "time": "12/Mar/2020:19:03:58 +0000",
        "timeEpoch": 1583348638390
      },
      "body": "Body=hello&From=%2B15551234567",
      "isBase64Encoded": false
    }"#;

    #[test]
    fn an_sqs_event_of_a_fifo_queue_is_read_as_sqs_with_its_group_attempt_and_sent_time() {
        let Invocation::Sqs(event) = serde_json::from_str(SQS_FIFO_EVENT).unwrap() else { panic!("read as HTTP") };
        let (record, receipt) = record_of(event.records.into_iter().next().unwrap()).unwrap();
        assert_eq!(record.id, "11d6ee51-4cc7-4302-9e22-7cd8afdaadf5");
        assert_eq!((record.group.as_str(), record.body.as_str(), record.attempt), ("1", "Test message.", 3));
        assert_eq!(record.sent_at, SystemTime::UNIX_EPOCH + Duration::from_millis(1_573_251_510_774));
        assert_eq!(receipt.as_deref(), Some("AQEBBX8nesZEXmkhsmZeyIE8iQAMig7qw..."));
    }

    #[test]
    fn an_http_api_event_is_read_as_http_and_records_of_another_source_are_not_sqs() {
        let Invocation::Http(request) = serde_json::from_str(HTTP_API_EVENT).unwrap() else { panic!("read as SQS") };
        assert!(matches!(*request, LambdaRequest::ApiGatewayV2(_)));
        let request: Request = (*request).into();
        assert_eq!((request.method().as_str(), request.uri().path()), ("POST", "/webhooks/twilio"));

        assert!(serde_json::from_str::<LambdaRequest>(SQS_FIFO_EVENT).is_err(), "lambda_http takes no SQS event");
        let from_s3 = SQS_FIFO_EVENT.replace("aws:sqs", "aws:s3");
        assert!(!matches!(serde_json::from_str(&from_s3), Ok(Invocation::Sqs(_))));
        assert!(!matches!(serde_json::from_str(r#"{"Records": []}"#), Ok(Invocation::Sqs(_))));
    }

    #[test]
    fn the_sample_sqs_event_holds_an_event_grouped_and_deduplicated_as_ingest_enqueues_it() {
        let sample = include_str!("../../../infra/events/sqs-twilio.json");
        let Invocation::Sqs(event) = serde_json::from_str(sample).unwrap() else { panic!("read as HTTP") };
        let message = &event.records[0];
        let body = message.body.as_deref().unwrap();
        let job = connector_core::queue::Job::of(&serde_json::from_str::<connector_core::Event>(body).unwrap()).unwrap();
        assert_eq!(job.body, body, "infra/events/generate.py writes the event as the queue does");
        assert_eq!(Some(&job.group), message.attributes.get("MessageGroupId"));
        assert_eq!(Some(&job.dedupe), message.attributes.get("MessageDeduplicationId"));
    }

    #[test]
    fn a_batch_response_names_the_failed_records_as_the_event_source_reads_them() {
        let mut response = SqsBatchResponse::default();
        response.add_failure("m1");
        let answer: Answer<()> = Answer::Sqs(response);
        assert_eq!(serde_json::to_value(&answer).unwrap(), serde_json::json!({"batchItemFailures": [{"itemIdentifier": "m1"}]}));
    }

    /// Answers 200 with the request's path as text, or with the bytes of a PNG for `/png`.
    struct Echo;

    impl Endpoint for Echo {
        fn serve(
            &self,
            request: connector_core::WebhookRequest,
            _: Option<Instant>,
        ) -> impl Future<Output = connector_core::WebhookResponse> + Send {
            let path = request.uri().path().to_owned();
            async move {
                let (kind, body) = match path.as_str() {
                    "/png" => ("image/png", bytes::Bytes::from_static(&[0x89, b'P', b'N', b'G', 0xff])),
                    _ => ("text/plain", path.into()),
                };
                http::Response::builder().status(200).header("content-type", kind).body(body).unwrap()
            }
        }
    }

    /// Done for every body but "retry" and "poison".
    struct Scripted;

    #[async_trait::async_trait]
    impl Consumer for Scripted {
        async fn consume(&self, delivery: &connector_core::queue::Delivery) -> Disposition {
            match delivery.body.as_str() {
                "retry" => Disposition::Retry { after: Duration::from_secs(1), cause: "down".into() },
                "poison" => Disposition::DeadLetter { cause: "always fails".into() },
                _ => Disposition::Done,
            }
        }
    }

    async fn answer(payload: &str) -> serde_json::Value {
        answer_with(payload, None, None).await
    }

    async fn answer_with(payload: &str, queue: Option<Arc<SqsQueue>>, dead_letters: Option<Arc<SqsQueue>>) -> serde_json::Value {
        let processing = Arc::new(Processing { consumer: Arc::new(Scripted), queue, dead_letters, budget: Duration::from_secs(5) });
        let invocation = LambdaEvent::new(serde_json::from_str(payload).unwrap(), lambda_runtime::Context::default());
        serde_json::to_value(handle(Arc::new(Echo), processing, invocation).await.unwrap()).unwrap()
    }

    fn failures(answer: &serde_json::Value) -> Vec<&str> {
        let mut failed: Vec<&str> =
            answer["batchItemFailures"].as_array().unwrap().iter().map(|failure| failure["itemIdentifier"].as_str().unwrap()).collect();
        failed.sort();
        failed
    }

    #[tokio::test]
    async fn an_http_request_is_answered_in_the_shape_of_its_origin() {
        let v2 = answer(HTTP_API_EVENT).await;
        assert_eq!(
            (v2["statusCode"].as_u64(), v2["body"].as_str(), v2["isBase64Encoded"].as_bool()),
            (Some(200), Some("/webhooks/twilio"), Some(false))
        );
        assert_eq!(v2["headers"]["content-type"], "text/plain");
        let png = answer(&HTTP_API_EVENT.replace("\"rawPath\": \"/webhooks/twilio\"", "\"rawPath\": \"/png\"")).await;
        assert_eq!((png["isBase64Encoded"].as_bool(), png["body"].as_str()), (Some(true), Some("iVBOR/8=")));
    }

    #[tokio::test]
    async fn an_sqs_batch_reports_its_retries_and_what_could_not_be_dead_lettered_and_no_record_done() {
        let event: serde_json::Value = serde_json::from_str(SQS_FIFO_EVENT).unwrap();
        let record = |id: &str, group: &str, body: &str| {
            let mut record = event["Records"][0].clone();
            record["messageId"] = id.into();
            record["body"] = body.into();
            record["attributes"]["MessageGroupId"] = group.into();
            record
        };
        let batch = serde_json::json!({"Records": [
            record("a1", "a", "retry"), record("a2", "a", "fine"), record("b1", "b", "fine"), record("c1", "c", "poison"), record("c2", "c", "fine"),
        ]});
        let answer = answer(&batch.to_string()).await;
        // a2 waits behind a1; c1 has no dead-letter queue here, and c2 waits behind it; b1 is done.
        assert_eq!(failures(&answer), ["a1", "a2", "c1", "c2"]);
    }

    /// Against the SQS-API server of `scripts/test.sh` (`AWS_ENDPOINT_URL_SQS`); says so and
    /// passes without one.
    #[tokio::test]
    async fn on_sqs_a_retry_comes_back_after_its_wait_and_a_record_given_up_is_dead_lettered_not_reported() {
        use connector_core::queue::{Job, Queue};
        if std::env::var_os("AWS_ENDPOINT_URL_SQS").is_none() {
            eprintln!("AWS_ENDPOINT_URL_SQS is not set: skipped (scripts/test.sh starts a local SQS-API server)");
            return;
        }
        let name = format!("lambda-{}", SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos());
        let (queue, dead_letters) = state_store::sqs::create_local(&name).await.unwrap();
        let (queue, dead_letters) = (Arc::new(queue), Arc::new(dead_letters));
        let job = |group: &str, body: &str| Job { group: group.into(), dedupe: body.into(), body: body.into() };
        queue.enqueue(&[job("a", "retry"), job("c", "poison")]).await.unwrap();
        let received = queue.receive(10, Duration::from_secs(1), Duration::from_secs(60)).await.unwrap();
        assert_eq!(received.len(), 2);
        // The event the event source would make of them.
        let records: Vec<serde_json::Value> = received
            .iter()
            .map(|received| {
                serde_json::json!({
                    "messageId": received.record.id, "receiptHandle": received.receipt, "body": received.record.body,
                    "attributes": {"MessageGroupId": received.record.group, "ApproximateReceiveCount": "1"},
                    "eventSource": "aws:sqs",
                })
            })
            .collect();
        let answer =
            answer_with(&serde_json::json!({ "Records": records }).to_string(), Some(queue.clone()), Some(dead_letters.clone())).await;
        let retried = received.iter().find(|received| received.record.body == "retry").unwrap();
        assert_eq!(failures(&answer), [retried.record.id.as_str()], "the dead-lettered record is not reported");

        let kept = dead_letters.receive(10, Duration::from_secs(1), Duration::from_secs(60)).await.unwrap();
        assert_eq!(kept.iter().map(|kept| kept.record.body.as_str()).collect::<Vec<_>>(), ["poison"]);
        // Visible again after its one second, not the 60 s it was received with.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let again = queue.receive(10, Duration::from_secs(1), Duration::from_secs(60)).await.unwrap();
        assert!(again.iter().any(|again| again.record.body == "retry" && again.record.attempt == 2), "{again:?}");
    }

    /// A configured filter and the wire cap, as `init_logging` stacks them on its layer.
    struct Capped(Targets);

    impl Capped {
        fn would_enable(&self, target: &str, level: &Level) -> bool {
            self.0.would_enable(target, level) && wire_cap().would_enable(target, level)
        }
    }

    #[test]
    fn the_sdk_and_http_stack_never_log_above_info_whatever_the_level() {
        let wire = [
            "aws_smithy_runtime::client::orchestrator",
            "aws_smithy_http::body",
            "aws_sdk_dynamodb::operation",
            "aws_sdk_sqs::config",
            "aws_sigv4::http_request",
            "hyper_util::client",
            "h2::codec",
            "rustls::conn",
        ];
        for configured in [
            "trace",
            "debug",
            "info,aws_smithy_runtime=trace,aws_sdk_dynamodb::operation=debug",
            "aws=trace,h2=trace,info",
            "aws_smithy=trace",
        ] {
            let filter = Capped(configured.parse().unwrap());
            for target in wire {
                assert!(!filter.would_enable(target, &Level::DEBUG), "{target} at debug with {configured}");
            }
        }
        let filter = Capped("trace".parse().unwrap());
        assert!(filter.would_enable("aws_smithy_runtime::client::orchestrator", &Level::INFO));
        assert!(filter.would_enable("connector_core::pipeline", &Level::TRACE), "our own targets keep the level");
        let filter = Capped("warn,connector_core=debug".parse().unwrap());
        assert!(!filter.would_enable("aws_sdk_dynamodb::operation", &Level::INFO), "a quieter level stays quieter");
        assert!(filter.would_enable("aws_sdk_dynamodb::operation", &Level::WARN));
        assert!(filter.would_enable("connector_core::webhook", &Level::DEBUG));
        assert!(!filter.would_enable("connector_engine::step", &Level::INFO));
        let filter = Capped("off".parse().unwrap());
        assert!(!filter.would_enable("aws_smithy_runtime::client", &Level::ERROR));
    }
}
