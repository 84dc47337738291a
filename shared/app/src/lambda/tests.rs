use super::*;
use tracing::Level;

#[test]
fn a_text_answer_stays_text_and_a_binary_one_is_binary() {
    assert!(matches!(response_body(bytes::Bytes::from_static(b"ok")), Body::Text(text) if text == "ok"));
    assert!(matches!(response_body(bytes::Bytes::from_static(&[0x89, b'P', b'N', b'G', 0xff])), Body::Binary(bytes) if bytes.len() == 5));
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
    let sample = include_str!("../../../../infra/events/sqs-twilio.json");
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
    let answer = answer_with(&serde_json::json!({ "Records": records }).to_string(), Some(queue.clone()), Some(dead_letters.clone())).await;
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
    for configured in
        ["trace", "debug", "info,aws_smithy_runtime=trace,aws_sdk_dynamodb::operation=debug", "aws=trace,h2=trace,info", "aws_smithy=trace"]
    {
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
