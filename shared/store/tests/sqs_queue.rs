//! The SQS FIFO queue against a real SQS-API server (moto, started by `scripts/test.sh`, which
//! sets `AWS_ENDPOINT_URL_SQS`).
//!
//! Each test has its own pair of queues, so they run side by side.

use connector_core::queue::{Job, Queue, Record};
use state_store::sqs::{Received, SqsQueue, create_local};
use std::time::{Duration, SystemTime};

/// A fresh queue and dead-letter queue (always `Some`: the `let ... else` of each test reads
/// the same either way).
async fn queues(test: &str) -> Option<(SqsQueue, SqsQueue)> {
    assert!(
        std::env::var_os("AWS_ENDPOINT_URL_SQS").is_some(),
        "AWS_ENDPOINT_URL_SQS is not set: run the tests with scripts/test.sh, which starts a local SQS-API server"
    );
    let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_nanos();
    Some(create_local(&format!("{test}-{nanos}")).await.expect("queues created"))
}

fn job(group: &str, id: &str) -> Job {
    Job { group: group.into(), dedupe: id.into(), body: format!("{{\"id\":\"{id}\"}}") }
}

/// Receives until `count` records came or three receives in a row found nothing.
async fn receive(queue: &SqsQueue, count: usize, visibility: Duration) -> Vec<Received> {
    let mut received = Vec::new();
    let mut empty = 0;
    while received.len() < count && empty < 3 {
        let batch = queue.receive(10, Duration::from_secs(1), visibility).await.expect("received");
        empty = if batch.is_empty() { empty + 1 } else { 0 };
        received.extend(batch);
    }
    received
}

fn bodies(received: &[Received]) -> Vec<&str> {
    received.iter().map(|received| received.record.body.as_str()).collect()
}

#[tokio::test]
async fn a_group_is_received_in_the_order_it_was_enqueued_one_batch_at_a_time() {
    let Some((queue, _)) = queues("order").await else { return };
    // Twelve jobs: more than one SendMessageBatch.
    let jobs: Vec<Job> = (0..12).map(|n| job("g1", &format!("m{n:02}"))).collect();
    queue.enqueue(&jobs).await.unwrap();

    let mut seen = Vec::new();
    for _ in 0..12 {
        let batch = receive(&queue, 1, Duration::from_secs(30)).await;
        assert!(!batch.is_empty(), "the group ran dry after {} records", seen.len());
        for received in &batch {
            assert_eq!(received.record.group, "g1");
            assert_eq!(received.record.attempt, 1);
            let age = SystemTime::now().duration_since(received.record.sent_at).unwrap_or_default();
            assert!(age < Duration::from_secs(60), "sent_at is the enqueue time: {age:?} ago");
            seen.push(received.record.body.clone());
            queue.delete(&received.receipt).await.unwrap();
        }
        if seen.len() == 12 {
            break;
        }
    }
    let expected: Vec<String> = jobs.iter().map(|job| job.body.clone()).collect();
    assert_eq!(seen, expected);
    assert!(receive(&queue, 1, Duration::from_secs(30)).await.is_empty(), "every record was deleted");
}

#[tokio::test]
async fn while_a_record_is_in_flight_its_group_waits_and_other_groups_go_on() {
    let Some((queue, _)) = queues("inflight").await else { return };
    queue.enqueue(&[job("g1", "a1"), job("g1", "a2"), job("g2", "b1")]).await.unwrap();
    let first = queue.receive(1, Duration::from_secs(1), Duration::from_secs(30)).await.unwrap();
    assert_eq!(bodies(&first), [job("g1", "a1").body.as_str()]);
    let second = receive(&queue, 1, Duration::from_secs(30)).await;
    assert_eq!(bodies(&second), [job("g2", "b1").body.as_str()], "a2 waits behind a1, still in flight");
}

#[tokio::test]
async fn a_job_enqueued_again_with_the_same_deduplication_id_is_dropped() {
    let Some((queue, _)) = queues("dedupe").await else { return };
    queue.enqueue(&[job("g1", "once")]).await.unwrap();
    let mut repeat = job("g1", "once");
    repeat.body = "{\"id\":\"once\",\"repeat\":true}".into();
    queue.enqueue(&[repeat, job("g1", "next")]).await.unwrap();
    let received = receive(&queue, 3, Duration::from_secs(30)).await;
    // The first record holds the group while in flight: receive and delete until dry.
    let mut seen: Vec<String> = Vec::new();
    let mut batch = received;
    while !batch.is_empty() {
        for received in &batch {
            seen.push(received.record.body.clone());
            queue.delete(&received.receipt).await.unwrap();
        }
        batch = receive(&queue, 1, Duration::from_secs(30)).await;
    }
    assert_eq!(seen, [job("g1", "once").body, job("g1", "next").body]);
}

#[tokio::test]
async fn a_record_to_retry_comes_back_after_its_wait_as_the_second_attempt() {
    let Some((queue, _)) = queues("retry").await else { return };
    queue.enqueue(&[job("g1", "r1")]).await.unwrap();
    let first = receive(&queue, 1, Duration::from_secs(30)).await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].record.attempt, 1);
    queue.retry_after(&first[0].receipt, Duration::from_millis(1500)).await.unwrap();

    // Hidden for the (rounded up) two seconds, not the 30 s it was received with.
    assert!(queue.receive(1, Duration::ZERO, Duration::from_secs(30)).await.unwrap().is_empty(), "hidden during its wait");
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let again = receive(&queue, 1, Duration::from_secs(30)).await;
    assert_eq!(bodies(&again), bodies(&first));
    assert_eq!(again[0].record.attempt, 2);
    assert_eq!(again[0].record.id, first[0].record.id);
}

#[tokio::test]
async fn a_record_given_up_reaches_the_dead_letter_queue_with_its_body_group_and_cause() {
    let Some((queue, dead_letters)) = queues("dead").await else { return };
    queue.enqueue(&[job("g1", "poison")]).await.unwrap();
    let received = receive(&queue, 1, Duration::from_secs(30)).await;
    assert_eq!(received.len(), 1);
    let cause = format!("the bot answered 500 {}", "é".repeat(2000));
    dead_letters.dead_letter(&received[0].record, &cause).await.unwrap();
    // The same record dead-lettered twice (a delete that failed) is kept once.
    dead_letters.dead_letter(&received[0].record, &cause).await.unwrap();
    queue.delete(&received[0].receipt).await.unwrap();

    let kept = receive(&dead_letters, 2, Duration::from_secs(30)).await;
    assert_eq!(bodies(&kept), [job("g1", "poison").body.as_str()]);
    assert_eq!(kept[0].record.group, "g1");
    let attribute = cause_of(&dead_letters, &kept[0]).await;
    assert!(attribute.starts_with("the bot answered 500 "), "{attribute:.40}");
    assert_eq!(attribute.chars().count(), 1000);
    assert!(receive(&queue, 1, Duration::from_secs(30)).await.is_empty(), "deleted from the source queue");
}

/// The SDK's own client, for what `SqsQueue` does not show.
fn sdk_client() -> aws_sdk_sqs::Client {
    let timeouts = aws_sdk_sqs::config::timeout::TimeoutConfig::builder().build();
    aws_sdk_sqs::Client::from_conf(state_store::sdk_config::sqs_from_variables(&|name| std::env::var(name).ok(), timeouts))
}

/// The `cause` attribute, read with the SDK directly (`Received` carries no attributes).
async fn cause_of(dead_letters: &SqsQueue, kept: &Received) -> String {
    dead_letters.retry_after(&kept.receipt, Duration::ZERO).await.unwrap();
    let answer = sdk_client()
        .receive_message()
        .queue_url(dead_letters.url())
        .message_attribute_names("cause")
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    let message = answer.messages().first().expect("the dead letter is back");
    message
        .message_attributes()
        .and_then(|attributes| attributes.get("cause"))
        .and_then(|value| value.string_value())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_record_rebuilt_from_its_parts_dead_letters_like_a_received_one() {
    let Some((_, dead_letters)) = queues("rebuilt").await else { return };
    let record = Record { id: "lambda-message-id".into(), group: String::new(), body: "{}".into(), attempt: 5, sent_at: SystemTime::now() };
    dead_letters.dead_letter(&record, "").await.unwrap();
    let kept = receive(&dead_letters, 1, Duration::from_secs(30)).await;
    assert_eq!(bodies(&kept), ["{}"]);
    assert_eq!(kept[0].record.group, "dead-letters", "a record without group gets the dead letters' own");
    assert_eq!(cause_of(&dead_letters, &kept[0]).await, "unknown");
}

/// Done for every body but "flaky" (retried once, after a second) and "poison" (given up).
#[derive(Default)]
struct Scripted {
    seen: std::sync::Mutex<Vec<(String, u32)>>,
}

#[async_trait::async_trait]
impl connector_core::queue::Consumer for Scripted {
    async fn consume(&self, delivery: &connector_core::queue::Delivery) -> connector_core::queue::Disposition {
        use connector_core::queue::Disposition;
        self.seen.lock().unwrap().push((delivery.body.clone(), delivery.attempt));
        if delivery.body == job("", "poison").body {
            Disposition::DeadLetter { cause: "always fails".into() }
        } else if delivery.body == job("", "flaky").body && delivery.attempt == 1 {
            Disposition::Retry { after: Duration::from_secs(1), cause: "down".into() }
        } else {
            Disposition::Done
        }
    }
}

#[tokio::test]
async fn the_poller_processes_retries_and_dead_letters_and_leaves_nothing_behind() {
    use std::sync::Arc;
    let Some((queue, dead_letters)) = queues("poll").await else { return };
    let (queue, dead_letters) = (Arc::new(queue), Arc::new(dead_letters));
    queue.enqueue(&[job("g1", "flaky"), job("g1", "after-flaky"), job("g2", "poison"), job("g2", "after-poison")]).await.unwrap();
    let consumer = Arc::new(Scripted::default());
    let done = {
        let consumer = consumer.clone();
        async move {
            while consumer.seen.lock().unwrap().len() < 5 {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            // Time to settle the last batch after it was processed.
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    };
    let polled = state_store::sqs::poll(queue.clone(), Some(dead_letters.clone()), consumer.clone(), Duration::from_secs(30), done);
    tokio::time::timeout(Duration::from_secs(60), polled).await.expect("everything processed within a minute");

    let seen = consumer.seen.lock().unwrap().clone();
    let of = |id: &str| seen.iter().filter(|(body, _)| *body == job("", id).body).map(|(_, attempt)| *attempt).collect::<Vec<_>>();
    assert_eq!(of("flaky"), [1, 2]);
    assert_eq!(of("after-flaky").len(), 1, "started once, after the retry (its receive count may say 2)");
    assert_eq!(of("poison"), [1]);
    assert_eq!(of("after-poison").len(), 1, "started once, after the record given up (its receive count may say 2)");
    assert!(position_of(&seen, "after-poison") > position_of(&seen, "poison"), "held behind the record given up: {seen:?}");
    assert!(position_of(&seen, "after-flaky") > position_of(&seen, "flaky") + 1, "held behind the retried record: {seen:?}");

    assert!(receive(&queue, 1, Duration::from_secs(30)).await.is_empty(), "every record settled");
    assert_eq!(bodies(&receive(&dead_letters, 1, Duration::from_secs(30)).await), [job("g2", "poison").body.as_str()]);
}

/// Where the body of job `id` was first seen.
fn position_of(seen: &[(String, u32)], id: &str) -> usize {
    seen.iter().position(|(body, _)| *body == job("", id).body).expect("seen")
}

#[tokio::test]
async fn a_record_given_up_without_a_dead_letter_queue_stays_in_its_queue() {
    use connector_core::queue::Disposition;
    let Some((queue, _)) = queues("nodlq").await else { return };
    queue.enqueue(&[job("g1", "poison"), job("g2", "fine")]).await.unwrap();
    let received = receive(&queue, 2, Duration::from_secs(30)).await;
    assert_eq!(received.len(), 2);
    let settled = received
        .into_iter()
        .map(|received| {
            let disposition =
                if received.record.group == "g1" { Disposition::DeadLetter { cause: "always fails".into() } } else { Disposition::Done };
            (received, disposition)
        })
        .collect();
    state_store::sqs::settle(&queue, None, settled).await;
    // Hidden for a minute (the redrive policy's turn), not deleted: a visibility of zero shows it.
    assert!(queue.receive(10, Duration::ZERO, Duration::from_secs(30)).await.unwrap().is_empty());
    let attributes = sdk_client()
        .get_queue_attributes()
        .queue_url(queue.url())
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .unwrap();
    let count = |name| attributes.attributes().and_then(|map| map.get(&name)).cloned().unwrap_or_default();
    assert_eq!(count(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible), "1", "the poison record, hidden");
    assert_eq!(count(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages), "0", "the fine record deleted");
}

/// The SDK's stalled-stream protection once cut every long poll on an empty queue after 5 s,
/// so a poller saw errors and backed off for up to 30 s while messages waited.
#[tokio::test]
async fn a_long_poll_on_an_empty_queue_waits_its_whole_time_and_ends_without_an_error() {
    let Some((queue, _)) = queues("long-poll").await else { return };
    let started = std::time::Instant::now();
    let received = queue.receive(10, Duration::from_secs(7), Duration::from_secs(30)).await;
    assert!(received.as_ref().is_ok_and(Vec::is_empty), "{received:?}");
    assert!(started.elapsed() >= Duration::from_secs(6), "the poll ended after {:?}", started.elapsed());
}
