use super::*;
use std::sync::atomic::{AtomicU32, Ordering};

fn job(group: &str, id: &str) -> Job {
    Job { group: group.into(), dedupe: id.into(), body: id.into() }
}

/// Records what it saw; fails the body "poison" always and "flaky" twice.
#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<String>>,
    flaky: AtomicU32,
}

#[async_trait]
impl Consumer for Recorder {
    async fn consume(&self, delivery: &Delivery) -> Disposition {
        self.seen.lock().unwrap().push(delivery.body.clone());
        let retry = Disposition::Retry { after: Duration::from_secs(10), cause: "down".into() };
        match delivery.body.as_str() {
            "poison" if delivery.attempt >= 3 => Disposition::DeadLetter { cause: "always fails".into() },
            "dead" => Disposition::DeadLetter { cause: "given up".into() },
            "poison" => retry,
            "flaky" if self.flaky.fetch_add(1, Ordering::SeqCst) < 2 => retry,
            "slow" => {
                tokio::time::sleep(Duration::from_secs(30)).await;
                Disposition::Done
            }
            _ => Disposition::Done,
        }
    }
}

#[test]
fn backoff_doubles_up_to_its_ceiling_and_the_budget_decides_the_last_attempt() {
    let policy =
        RetryPolicy { budget: Duration::from_secs(60), backoff_initial: Duration::from_secs(1), backoff_max: Duration::from_secs(16) };
    let waits: Vec<u64> = (1..=7).map(|a| policy.backoff(a).as_secs()).collect();
    assert_eq!(waits, [1, 2, 4, 8, 16, 16, 16]);
    assert!(!policy.is_last(1, Duration::ZERO));
    assert!(policy.is_last(5, Duration::from_secs(50)));
}

#[test]
fn events_of_one_conversation_share_a_group_and_ids_fit_sqs_limits() {
    use connector_engine::conversation::ConversationKey;
    let key = ConversationKey::new("twilio-1-".to_owned() + &"9".repeat(3000));
    let group = group_of(&Route::Conversation(key.clone()));
    assert_eq!(group, group_of(&Route::Resolved { key, indexed_address: None }));
    assert_eq!(group.len(), 32);
    assert_ne!(group, group_of(&Route::Chat("c1".into())));
}

#[test]
fn characters_sqs_refuses_are_escaped_and_the_event_reads_back_the_same() {
    use crate::channel::Event;
    use connector_engine::conversation::ConversationKey;
    use connector_engine::step::{Input, UserInput};
    use connector_engine::values::MessageId;
    let text = "a\u{fffe}b\u{ffff}c".to_owned();
    let event = Event {
        id: MessageId::new("twilio", "SM1"),
        route: Route::Conversation(ConversationKey::new("twilio-1-2")),
        address: None,
        input: Input::User(UserInput::Text(text)),
    };
    let job = Job::of(&event).unwrap();
    assert!(!job.body.contains(['\u{fffe}', '\u{ffff}']), "{}", job.body);
    assert_eq!(serde_json::from_str::<Event>(&job.body).unwrap(), event);
}

/// On the paused clock: the 30 s job takes no real time, and the order is tokio's time's.
#[tokio::test(start_paused = true)]
async fn a_group_is_processed_in_order_while_another_group_goes_on_beside_it() {
    let started = std::time::Instant::now();
    let queue = LocalQueue::default();
    let recorder = Arc::new(Recorder::default());
    queue.start(recorder.clone());
    queue.enqueue(&[job("a", "slow"), job("a", "a2"), job("b", "b1")]).await.unwrap();
    queue.settle().await;
    let seen = recorder.seen.lock().unwrap().clone();
    assert_eq!(seen, ["slow", "b1", "a2"]);
    assert!(started.elapsed() < Duration::from_secs(5), "no real wait for the job's 30 s");
}

/// On the paused clock: its 10 s backoffs take no real time.
#[tokio::test(start_paused = true)]
async fn a_failing_job_is_retried_before_the_next_of_its_group_and_a_poison_one_is_dead_lettered() {
    let started = std::time::Instant::now();
    let queue = LocalQueue::default();
    let recorder = Arc::new(Recorder::default());
    queue.start(recorder.clone());
    queue.enqueue(&[job("a", "flaky"), job("a", "after"), job("p", "poison"), job("p", "behind")]).await.unwrap();
    queue.settle().await;
    let seen = recorder.seen.lock().unwrap().clone();
    let of = |prefix: &str| seen.iter().filter(|s| s.as_str() == prefix).count();
    assert_eq!((of("flaky"), of("after"), of("poison"), of("behind")), (3, 1, 3, 1));
    let order: Vec<&String> = seen.iter().filter(|s| ["flaky", "after"].contains(&s.as_str())).collect();
    assert_eq!(order.last().map(|s| s.as_str()), Some("after"));
    assert_eq!(queue.dead_letters(), [DeadLetter { body: "poison".into(), cause: "always fails".into() }]);
    assert!(started.elapsed() < Duration::from_secs(5), "no real wait for four 10 s backoffs");
}

#[test]
fn an_event_forwarded_into_its_conversations_group_is_no_duplicate_of_itself() {
    use crate::channel::Event;
    use connector_engine::conversation::ConversationKey;
    use connector_engine::step::{ChatEvent, Input};
    use connector_engine::values::MessageId;
    let input = Input::Chat { chat_id: "c1".into(), event: ChatEvent::Closed };
    let event = Event { id: MessageId::new("hyperchat", "e1"), route: Route::Chat("c1".into()), address: None, input };
    let forwarded = Event { route: Route::Resolved { key: ConversationKey::new("twilio-1-2"), indexed_address: None }, ..event.clone() };
    let (original, moved) = (Job::of(&event).unwrap(), Job::of(&forwarded).unwrap());
    assert_ne!(original.dedupe, moved.dedupe);
    assert_eq!(original.dedupe, Job::of(&event).unwrap().dedupe, "a provider's redelivery is still a repeat");
}

#[tokio::test]
async fn a_job_enqueued_twice_within_the_window_is_processed_once() {
    let queue = LocalQueue::default();
    let recorder = Arc::new(Recorder::default());
    queue.start(recorder.clone());
    queue.enqueue(&[job("a", "m1")]).await.unwrap();
    queue.enqueue(&[job("a", "m1")]).await.unwrap();
    queue.settle().await;
    assert_eq!(recorder.seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_batch_stops_a_group_at_its_first_failure_and_finishes_the_other_groups() {
    let recorder = Arc::new(Recorder::default());
    let record = |group: &str, body: &str| Record {
        id: body.into(),
        group: group.into(),
        body: body.into(),
        attempt: 1,
        sent_at: SystemTime::now(),
    };
    let batch = vec![record("p", "poison"), record("p", "behind"), record("b", "b1"), record("d", "dead"), record("d", "after-dead")];
    let settled = run_batch(recorder.clone(), batch, Instant::now() + Duration::from_secs(5)).await;
    let of = |id: &str| settled.iter().find(|(r, _)| r.id == id).map(|(_, d)| d.clone()).unwrap();
    assert!(matches!(of("poison"), Disposition::Retry { .. }));
    assert_eq!(
        of("behind"),
        Disposition::Retry { after: Duration::ZERO, cause: "an earlier message of the conversation is waiting".into() }
    );
    assert_eq!(of("b1"), Disposition::Done);
    assert_eq!(of("dead"), Disposition::DeadLetter { cause: "given up".into() });
    assert!(matches!(of("after-dead"), Disposition::Retry { .. }), "not started before the one given up is gone");
    assert!(!recorder.seen.lock().unwrap().contains(&"behind".to_owned()), "a record behind a failure is not started");
}
