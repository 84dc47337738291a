//! Exactly-once under faults, against `connector-local` with its state in DynamoDB (moto from
//! `scripts/test.sh`) reached through a fault-injecting proxy, and the upstream fakes.
//!
//! Each case was a defect found from outside: a late DynamoDB answer turned a message into a
//! silent drop, a lost Twilio answer into a double reply, and slow upstreams into webhooks
//! answered after Twilio had given up.

use connector_engine::ConversationKey;
use connector_engine::ports::{Acquired, Lease, StateStore, Timestamp};
use connector_tests::inbenta::unrated;
use connector_tests::local::{FaultRig, LOCAL_COMPANY, LOCAL_USER, sid};
use std::time::{Duration, Instant};

async fn setup(custom: &[(&str, &str)]) -> FaultRig {
    FaultRig::start(env!("CARGO_BIN_EXE_connector-local"), custom).await
}

/// Short deadlines so the deadline cases take seconds: the webhook is answered within 3 s, of
/// which the last 0.8 s are for sending and the last 0.4 s for the state.
const SHORT_DEADLINE: &[(&str, &str)] =
    &[("twilio.toml", "deadline_ms = 3000"), ("state.toml", "send_reserve_ms = 800\nstore_reserve_ms = 400")];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_written_but_answered_late_is_still_ours_and_the_message_is_answered_once() {
    let s = setup(&[]).await;
    s.inbenta.on_message("hello", unrated("Hello once."));
    assert_eq!(s.local.sms("warm up", &sid(1)).await.status, 200, "token and ExtraInfo cached");
    // The claim's PutItem reaches DynamoDB, its answer comes after the SDK's 2 s attempt
    // timeout, and the SDK sends it again.
    s.proxy.answer_late("PutItem", Duration::from_millis(2500), 1);
    let before = s.twilio.messages().len();
    let first = s.local.sms("hello", &sid(2)).await;
    assert_eq!(first.status, 200);
    assert!(s.proxy.count("PutItem") >= 2, "the SDK retried the claim: {:?}", s.proxy.operations());
    assert_eq!(s.twilio.messages().len() - before, 1, "answered, not taken for a duplicate");
    let redelivered = s.local.sms("hello", &sid(2)).await;
    assert_eq!((redelivered.status, s.twilio.messages().len() - before), (200, 1));
    assert_eq!(s.asked("hello"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_whose_claim_failed_after_it_was_written_is_answered_by_its_redelivery() {
    let s = setup(&[]).await;
    s.inbenta.on_message("hello", unrated("Hello after all."));
    assert_eq!(s.local.sms("warm up", &sid(1)).await.status, 200);
    // Every attempt of the claim is written and answered too late: the SDK gives up.
    s.proxy.answer_late("PutItem", Duration::from_secs(7), 5);
    let first = s.local.sms("hello", &sid(2)).await;
    assert_eq!(first.status, 503, "Twilio is asked to deliver it again");
    s.proxy.answer_late("PutItem", Duration::ZERO, 0);
    let before = s.twilio.messages().len();
    let redelivered = s.local.sms("hello", &sid(2)).await;
    assert_eq!(redelivered.status, 200);
    let sent = s.twilio.messages();
    assert_eq!(sent.len() - before, 1, "the redelivery is answered, not dropped as a duplicate");
    assert_eq!(sent.last().map(|m| m.body.as_str()), Some("Hello after all."));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_twilio_accepted_but_answered_too_late_is_never_sent_again() {
    let s = setup(&[("twilio.toml", "timeout_ms = 300")]).await;
    s.inbenta.on_message("hello", unrated("Only once."));
    s.twilio.answer_late(Duration::from_secs(1), 1);
    let first = s.local.sms("hello", &sid(1)).await;
    assert_eq!(first.status, 200, "the reply may have been delivered: the turn is over");
    let redelivered = s.local.sms("hello", &sid(1)).await;
    assert_eq!(redelivered.status, 200);
    assert_eq!(s.twilio.messages().len(), 1);
    assert_eq!(s.asked("hello"), 1, "the bot was asked once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_turn_stopped_part_way_is_finished_by_its_redelivery_without_repeating_what_was_sent() {
    let s = setup(&[]).await;
    let user = "whatsapp:+34600000077";
    s.inbenta.on_message("map", unrated("<p>Here:</p><img src=\"https://cdn.example/a.png\"><p>Bye.</p>"));
    // The turn's first message goes out, the second meets a Twilio outage.
    s.twilio.fail_after(1, 503, 1);
    let first = s.local.sms_from(user, "map", &sid(1)).await;
    assert_eq!(first.status, 503);
    assert_eq!(s.twilio.messages().len(), 1);
    let redelivered = s.local.sms_from(user, "map", &sid(1)).await;
    assert_eq!(redelivered.status, 200);
    let shape: Vec<(String, Vec<String>)> = s.twilio.messages().into_iter().map(|m| (m.body, m.media_urls)).collect();
    assert_eq!(
        shape,
        vec![("Here:".to_owned(), vec![]), (String::new(), vec!["https://cdn.example/a.png".to_owned()]), ("Bye.".to_owned(), vec![]),],
        "each message once, in order"
    );
    assert_eq!(s.asked("map"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_who_unsubscribed_gets_nothing_more_of_the_turn_and_no_retry() {
    let s = setup(&[]).await;
    let user = "whatsapp:+34600000078";
    s.inbenta.on_message("map", unrated("<p>Here:</p><img src=\"https://cdn.example/a.png\"><p>Bye.</p>"));
    s.twilio.refuse_with_code(21610, 1);
    let first = s.local.sms_from(user, "map", &sid(1)).await;
    assert_eq!(first.status, 200, "retrying cannot reach them");
    assert_eq!(s.twilio.requests().len(), 1, "the turn's other messages were not tried");
    assert_eq!(s.local.sms_from(user, "map", &sid(1)).await.status, 200);
    assert_eq!(s.twilio.requests().len(), 1);
}

/// Answers in time with the `api_timeout` label when the bot is too slow, and leaves the
/// conversation usable.
async fn answered_in_time_with_api_timeout(s: &FaultRig, started: Instant, status: u16) {
    let elapsed = started.elapsed();
    assert_eq!(status, 200);
    assert!(elapsed < Duration::from_millis(3000), "answered after {elapsed:?}, past the 3 s deadline");
    assert_eq!(s.twilio.messages().last().map(|m| m.body.clone()).as_deref(), Some("Please, reformulate your question."));
    s.inbenta.set_delay(Duration::ZERO);
    assert_eq!(s.local.sms("after", &sid(99)).await.status, 200);
    assert_eq!(s.twilio.messages().last().map(|m| m.body.clone()).as_deref(), Some("Fine again."));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_instance_with_a_slow_bot_answers_the_webhook_before_its_deadline() {
    let s = setup(SHORT_DEADLINE).await;
    s.inbenta.on_message("after", unrated("Fine again."));
    // ExtraInfo, conversation start and message: 3 s of bot calls on a cold instance.
    s.inbenta.set_delay(Duration::from_secs(1));
    let started = Instant::now();
    let status = s.local.sms("hello", &sid(1)).await.status;
    answered_in_time_with_api_timeout(&s, started, status).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_bot_session_with_a_slow_bot_answers_the_webhook_before_its_deadline() {
    let s = setup(SHORT_DEADLINE).await;
    s.inbenta.on_message("after", unrated("Fine again."));
    assert_eq!(s.local.sms("warm up", &sid(1)).await.status, 200);
    s.inbenta.expire_sessions();
    // The expired session, a new one and the message again: 2.4 s.
    s.inbenta.set_delay(Duration::from_millis(800));
    let started = Instant::now();
    let status = s.local.sms("hello", &sid(2)).await.status;
    answered_in_time_with_api_timeout(&s, started, status).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_waiting_for_a_busy_conversation_is_answered_503_before_its_deadline_and_redelivered() {
    let s = setup(SHORT_DEADLINE).await;
    s.inbenta.on_message("hello", unrated("Your turn now."));
    let store = state_store::DynamoStore::from_env(&s.table).await;
    let key = ConversationKey::new(format!("twilio-{}-{}", &LOCAL_COMPANY[1..], &LOCAL_USER[1..]));
    let now = connector_engine::Clock::now(&connector_engine::SystemClock);
    let held = Lease { owner: "another-request".into(), until: Timestamp(now.0 + 60) };
    assert!(matches!(store.acquire(&key, &held, now).await.unwrap(), Acquired::Locked(_)));
    let started = Instant::now();
    let waited = s.local.sms("hello", &sid(1)).await;
    assert_eq!(waited.status, 503);
    assert!(started.elapsed() < Duration::from_millis(3000), "waited {:?}", started.elapsed());
    assert!(s.twilio.messages().is_empty());
    store.release(&key, &held).await.unwrap();
    assert_eq!(s.local.sms("hello", &sid(1)).await.status, 200);
    assert_eq!(s.twilio.messages().last().map(|m| m.body.clone()).as_deref(), Some("Your turn now."));
}

/// Delivers `text` as Twilio would until it is answered 200 (at most `tries` times).
async fn delivered_until_accepted(s: &FaultRig, text: &str, id: &str, tries: usize) -> Vec<u16> {
    let mut statuses = Vec::new();
    while statuses.len() < tries {
        let status = s.local.sms(text, id).await.status;
        statuses.push(status);
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    statuses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_answers_to_the_lease_commit_and_progress_writes_still_give_exactly_one_reply() {
    let s = setup(&[]).await;
    s.inbenta.on_message("hello", unrated("Exactly once."));
    assert_eq!(s.local.sms("warm up", &sid(1)).await.status, 200);
    // Lease, commit and progress are UpdateItems: the next four are applied, and answered
    // after the SDK's attempt timeout.
    s.proxy.answer_late("UpdateItem", Duration::from_millis(2500), 4);
    let before = s.twilio.messages().len();
    let statuses = delivered_until_accepted(&s, "hello", &sid(2), 6).await;
    assert_eq!(statuses.last(), Some(&200), "{statuses:?}");
    let sent: Vec<String> = s.twilio.messages().into_iter().skip(before).map(|m| m.body).collect();
    assert_eq!(sent, vec!["Exactly once."], "after {statuses:?}");
    assert_eq!(s.asked("hello"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finish_answered_late_neither_repeats_the_reply_nor_blocks_the_next_message() {
    let s = setup(&[]).await;
    s.inbenta.on_message("hello", unrated("Once."));
    s.inbenta.on_message("next", unrated("Next answer."));
    assert_eq!(s.local.sms("warm up", &sid(1)).await.status, 200);
    s.proxy.answer_late("TransactWriteItems", Duration::from_millis(2500), 3);
    let first = s.local.sms("hello", &sid(2)).await;
    assert_eq!(first.status, 200, "the reply went out: the provider must not deliver it again");
    assert_eq!(s.local.sms("hello", &sid(2)).await.status, 200);
    assert_eq!(s.local.sms("next", &sid(3)).await.status, 200);
    let bodies: Vec<String> = s.twilio.messages().into_iter().map(|m| m.body).collect();
    assert_eq!(bodies.iter().filter(|b| *b == "Once.").count(), 1, "{bodies:?}");
    assert_eq!(bodies.last().map(String::as_str), Some("Next answer."));
}
