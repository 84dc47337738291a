//! Exactly-once under faults, against `connector-local` with its state in DynamoDB (moto from
//! `scripts/test.sh`) reached through a fault-injecting proxy, and the upstream fakes. Every
//! message is posted once, as Twilio does: Twilio does not deliver a webhook again when it was
//! answered 5xx, so the connector's own queue must carry a message through whatever fails.
//!
//! Each case was a defect found from outside: a late DynamoDB answer turned a message into a
//! silent drop, a lost Twilio answer into a double reply, a slow bot into webhooks answered
//! after Twilio had given up, and any outage into a lost message.

use connector_tests::inbenta::unrated;
use connector_tests::local::{FaultRig, LOCAL_USER, sid};
use connector_tests::twilio::FakeTwilio;
use std::time::{Duration, Instant};

/// Retries fast enough for tests: 200 ms doubling up to 2 s, for a minute.
const FAST_RETRIES: (&str, &str) = ("queue.toml", "retry_budget_secs = 60\nbackoff_initial_ms = 200\nbackoff_max_ms = 2000\n");

async fn setup(custom: &[(&str, &str)]) -> FaultRig {
    FaultRig::start(env!("CARGO_BIN_EXE_connector-local"), custom).await
}

/// The bodies sent to `to` once there are `n` of them (or `timeout` passed), after a second
/// more in which a double would show.
async fn replies_to(s: &FaultRig, to: &str, n: usize, timeout: Duration) -> Vec<String> {
    let of = |s: &FaultRig| s.twilio.messages().into_iter().filter(|m| m.to.ends_with(to)).map(|m| m.body).collect::<Vec<_>>();
    let deadline = Instant::now() + timeout;
    while of(s).len() < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    of(s)
}

/// Posts `text` once and checks the webhook was acknowledged at once.
async fn posted(s: &FaultRig, from: &str, text: &str, id: &str) {
    let started = Instant::now();
    let status = s.local.sms_from(from, text, id).await.status;
    let took = started.elapsed();
    assert_eq!(status, 200, "{text:?} not acknowledged");
    assert!(took < Duration::from_secs(1), "{text:?} acknowledged after {took:?}");
}

async fn warmed_up(custom: &[(&str, &str)]) -> FaultRig {
    let s = setup(custom).await;
    s.inbenta.on_message("warm up", unrated("Warm."));
    posted(&s, LOCAL_USER, "warm up", &sid(1)).await;
    assert_eq!(replies_to(&s, LOCAL_USER, 1, Duration::from_secs(20)).await, ["Warm."], "token, ExtraInfo and session cached");
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_progress_record_answered_late_is_read_back_and_the_message_is_answered_once() {
    let s = warmed_up(&[]).await;
    s.inbenta.on_message("hello", unrated("Hello once."));
    // The progress record's PutItem reaches DynamoDB, its answer comes after the SDK's 2 s
    // attempt timeout, and the SDK sends it again.
    s.proxy.answer_late("PutItem", Duration::from_millis(2500), 1);
    posted(&s, LOCAL_USER, "hello", &sid(2)).await;
    assert_eq!(replies_to(&s, LOCAL_USER, 2, Duration::from_secs(30)).await, ["Warm.", "Hello once."]);
    assert!(s.proxy.count("PutItem") >= 2, "the SDK retried the record: {:?}", s.proxy.operations());
    assert_eq!(s.asked("hello"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_frozen_for_ten_seconds_while_five_users_write_gets_each_message_answered_once_after() {
    let s = warmed_up(&[FAST_RETRIES]).await;
    let users: Vec<String> = (0..5).map(|i| format!("+3460000{:04}", 7100 + i)).collect();
    for i in 0..5 {
        s.inbenta.on_message(&format!("question {i}"), unrated(&format!("answer {i}")));
    }
    s.proxy.freeze_for(Duration::from_secs(10));
    let frozen_at = Instant::now();
    for (i, user) in users.iter().enumerate() {
        posted(&s, user, &format!("question {i}"), &sid(10 + i as u64)).await;
    }
    for (i, user) in users.iter().enumerate() {
        assert_eq!(replies_to(&s, user, 1, Duration::from_secs(90)).await, [format!("answer {i}")], "user {i}");
    }
    assert!(frozen_at.elapsed() >= Duration::from_secs(10), "the answers came after the store was back");
    for i in 0..5 {
        assert_eq!(s.asked(&format!("question {i}")), 1, "question {i} asked once");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_answering_503_for_twenty_seconds_delays_the_real_answers_and_sends_no_apology() {
    let s = warmed_up(&[FAST_RETRIES]).await;
    let users: Vec<String> = (0..3).map(|i| format!("+3460000{:04}", 7200 + i)).collect();
    for i in 0..3 {
        s.inbenta.on_message(&format!("question {i}"), unrated(&format!("answer {i}")));
    }
    s.inbenta.fail_with(503, usize::MAX);
    for (i, user) in users.iter().enumerate() {
        posted(&s, user, &format!("question {i}"), &sid(20 + i as u64)).await;
    }
    tokio::time::sleep(Duration::from_secs(20)).await;
    s.inbenta.fail_with(503, 0);
    for (i, user) in users.iter().enumerate() {
        assert_eq!(replies_to(&s, user, 1, Duration::from_secs(30)).await, [format!("answer {i}")], "user {i}: the real answer, once");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twilio_answering_503_for_twenty_seconds_delays_the_reply_which_is_then_delivered_once() {
    let s = warmed_up(&[FAST_RETRIES]).await;
    s.inbenta.on_message("hello", unrated("Delivered late."));
    s.twilio.fail_with(503, usize::MAX);
    posted(&s, LOCAL_USER, "hello", &sid(2)).await;
    tokio::time::sleep(Duration::from_secs(20)).await;
    assert_eq!(replies_to(&s, LOCAL_USER, 2, Duration::ZERO).await, ["Warm."], "nothing got through meanwhile");
    s.twilio.fail_with(503, 0);
    assert_eq!(replies_to(&s, LOCAL_USER, 2, Duration::from_secs(30)).await, ["Warm.", "Delivered late."]);
    assert_eq!(s.asked("hello"), 1, "the bot was asked once: the retry sends the committed reply");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_twenty_second_bot_call_is_acknowledged_at_once_and_answered_once() {
    let s = warmed_up(&[]).await;
    s.inbenta.on_message("slow", unrated("Worth the wait."));
    s.inbenta.set_delay(Duration::from_secs(20));
    posted(&s, LOCAL_USER, "slow", &sid(2)).await;
    assert_eq!(replies_to(&s, LOCAL_USER, 2, Duration::from_secs(40)).await, ["Warm.", "Worth the wait."]);
    assert_eq!(s.asked("slow"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_back_to_back_messages_of_one_user_with_a_slow_bot_get_five_replies_in_order() {
    let s = warmed_up(&[]).await;
    for i in 0..5 {
        s.inbenta.on_message(&format!("step {i}"), unrated(&format!("reply {i}")));
    }
    s.inbenta.set_delay(Duration::from_millis(300));
    for i in 0..5 {
        posted(&s, LOCAL_USER, &format!("step {i}"), &sid(10 + i)).await;
    }
    let expected: Vec<String> = std::iter::once("Warm.".to_owned()).chain((0..5).map(|i| format!("reply {i}"))).collect();
    assert_eq!(replies_to(&s, LOCAL_USER, 6, Duration::from_secs(30)).await, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_always_fails_is_given_up_after_the_retry_budget_with_one_apology_and_stops_holding_the_next() {
    let budget = ("queue.toml", "retry_budget_secs = 6\nbackoff_initial_ms = 200\nbackoff_max_ms = 1000\n");
    let s = warmed_up(&[budget]).await;
    s.inbenta.poison("poison");
    s.inbenta.on_message("after", unrated("Next one."));
    let started = Instant::now();
    posted(&s, LOCAL_USER, "poison", &sid(2)).await;
    posted(&s, LOCAL_USER, "after", &sid(3)).await;
    let replies = replies_to(&s, LOCAL_USER, 3, Duration::from_secs(30)).await;
    assert_eq!(
        replies,
        ["Warm.", "Sorry, I can't answer right now. Please try again in a moment.", "Next one."],
        "one apology, then the next message"
    );
    let held = started.elapsed();
    assert!(held >= Duration::from_secs(5) && held < Duration::from_secs(20), "the next message waited {held:?}");
    let tries = s.inbenta.message_requests().iter().filter(|r| r.body.contains("\"poison\"")).count();
    assert!(tries >= 4, "retried until the budget: tried {tries} times");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_twilio_accepted_but_answered_too_late_is_never_sent_again() {
    let s = warmed_up(&[("twilio.toml", "timeout_ms = 300")]).await;
    s.inbenta.on_message("hello", unrated("Only once."));
    s.twilio.answer_late(Duration::from_secs(1), 1);
    posted(&s, LOCAL_USER, "hello", &sid(2)).await;
    assert_eq!(replies_to(&s, LOCAL_USER, 2, Duration::from_secs(20)).await, ["Warm.", "Only once."]);
    assert_eq!(s.asked("hello"), 1, "the bot was asked once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_turn_stopped_part_way_is_finished_by_its_retry_without_repeating_what_was_sent() {
    let s = setup(&[FAST_RETRIES]).await;
    let user = "whatsapp:+34600000077";
    s.inbenta.on_message("map", unrated("<p>Here:</p><img src=\"https://cdn.example/a.png\"><p>Bye.</p>"));
    // The turn's first message goes out, the second meets a Twilio outage.
    s.twilio.fail_after(1, 503, 1);
    posted(&s, user, "map", &sid(1)).await;
    replies_to(&s, user, 3, Duration::from_secs(30)).await;
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
    let s = setup(&[FAST_RETRIES]).await;
    let user = "whatsapp:+34600000078";
    s.inbenta.on_message("map", unrated("<p>Here:</p><img src=\"https://cdn.example/a.png\"><p>Bye.</p>"));
    s.twilio.refuse_with_code(21610, 1);
    posted(&s, user, "map", &sid(1)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(s.twilio.requests().len(), 1, "the turn's other messages were not tried, and nothing was retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_answers_to_the_commit_still_give_exactly_one_reply() {
    let s = warmed_up(&[FAST_RETRIES]).await;
    s.inbenta.on_message("hello", unrated("Exactly once."));
    // The commit is the one UpdateItem of a turn: the next two are applied, and answered after
    // the SDK's attempt timeout.
    s.proxy.answer_late("UpdateItem", Duration::from_millis(2500), 2);
    posted(&s, LOCAL_USER, "hello", &sid(2)).await;
    assert_eq!(replies_to(&s, LOCAL_USER, 2, Duration::from_secs(40)).await, ["Warm.", "Exactly once."]);
    assert_eq!(s.asked("hello"), 1);
}

/// A message acknowledged to Twilio survives a crash of the process during its bot call: the
/// SQS queue gives it to the process started again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_acknowledged_before_the_process_was_killed_is_answered_once_after_a_restart() {
    // A short processing budget: the killed attempt's message becomes visible again within
    // twice the budget plus 10 s.
    let custom_budget =
        [("queue.toml", "retry_budget_secs = 60\nbackoff_initial_ms = 200\nbackoff_max_ms = 2000\nprocessing_budget_ms = 5000\n")];
    let binary = env!("CARGO_BIN_EXE_connector-local");
    let mut s = FaultRig::start_on_sqs(binary, &custom_budget).await;
    s.inbenta.on_message("warm up", unrated("Warm."));
    posted(&s, LOCAL_USER, "warm up", &sid(1)).await;
    assert_eq!(replies_to(&s, LOCAL_USER, 1, Duration::from_secs(30)).await, ["Warm."]);
    s.inbenta.on_message("hello", unrated("Survived."));
    s.inbenta.set_delay(Duration::from_secs(3));
    posted(&s, LOCAL_USER, "hello", &sid(2)).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while s.inbenta.message_requests().iter().all(|r| !r.body.contains("hello")) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    s.local.kill();
    assert_eq!(replies_to(&s, LOCAL_USER, 2, Duration::ZERO).await, ["Warm."], "killed during its bot call");
    s.inbenta.set_delay(Duration::ZERO);
    s.restart(binary, &custom_budget).await;
    assert_eq!(replies_to(&s, LOCAL_USER, 2, Duration::from_secs(60)).await, ["Warm.", "Survived."]);
}

/// On SQS, a message given up reaches the dead-letter queue (with its cause, for an operator
/// to read and replay), and the conversation's next message is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqs_a_message_that_always_fails_reaches_the_dead_letter_queue_and_the_next_is_answered() {
    let budget = [("queue.toml", "retry_budget_secs = 6\nbackoff_initial_ms = 200\nbackoff_max_ms = 1000\nprocessing_budget_ms = 5000\n")];
    let s = FaultRig::start_on_sqs(env!("CARGO_BIN_EXE_connector-local"), &budget).await;
    s.inbenta.on_message("warm up", unrated("Warm."));
    posted(&s, LOCAL_USER, "warm up", &sid(1)).await;
    assert_eq!(replies_to(&s, LOCAL_USER, 1, Duration::from_secs(30)).await, ["Warm."]);
    s.inbenta.poison("poison");
    s.inbenta.on_message("after", unrated("Next one."));
    posted(&s, LOCAL_USER, "poison", &sid(2)).await;
    posted(&s, LOCAL_USER, "after", &sid(3)).await;
    let replies = replies_to(&s, LOCAL_USER, 3, Duration::from_secs(60)).await;
    assert_eq!(replies, ["Warm.", "Sorry, I can't answer right now. Please try again in a moment.", "Next one."]);
    let (_, dead_letter_url) = s.queue.clone().expect("the rig runs on SQS");
    let dead_letters = state_store::sqs::SqsQueue::from_env(&dead_letter_url).await;
    let kept = dead_letters.receive(10, Duration::from_secs(2), Duration::from_secs(30)).await.expect("the dead-letter queue answers");
    assert_eq!(kept.len(), 1, "one message dead-lettered");
    assert!(kept[0].record.body.contains("\"poison\""), "the poison message itself is kept");
}

/// Starts on SQS, answers a warm-up, then posts `text` whose reply Twilio receives as set up by
/// `arrange`, and kills the process once that reply's create reached Twilio, before Twilio
/// answered it; then starts the process again.
async fn killed_during_the_send_of_a_reply(arrange: impl FnOnce(&FakeTwilio), text: &str, reply: &str) -> FaultRig {
    let budget = [("queue.toml", "retry_budget_secs = 60\nbackoff_initial_ms = 200\nbackoff_max_ms = 2000\nprocessing_budget_ms = 5000\n")];
    let binary = env!("CARGO_BIN_EXE_connector-local");
    let mut s = FaultRig::start_on_sqs(binary, &budget).await;
    s.inbenta.on_message("warm up", unrated("Warm."));
    posted(&s, LOCAL_USER, "warm up", &sid(1)).await;
    assert_eq!(replies_to(&s, LOCAL_USER, 1, Duration::from_secs(30)).await, ["Warm."]);
    s.inbenta.on_message(text, unrated(reply));
    arrange(&s.twilio);
    posted(&s, LOCAL_USER, text, &sid(2)).await;
    let sending = |s: &FaultRig| {
        s.twilio.requests().iter().any(|r| {
            r.method == "POST" && r.path.ends_with("/Messages.json") && r.status.is_none() && r.body.contains(&reply.replace(' ', "+"))
        })
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !sending(&s) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(sending(&s), "the reply's create reached Twilio: {:?}", s.twilio.requests());
    s.local.kill();
    s.restart(binary, &budget).await;
    s
}

/// The write-ahead said the reply may have gone out, and the process died before it knew:
/// its retry asks Twilio, which never got the reply, and sends it once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_cut_off_by_a_crash_during_its_send_is_sent_once_after_the_restart_when_twilio_never_got_it() {
    let s = killed_during_the_send_of_a_reply(|twilio| twilio.lose_requests(1), "hello", "After the crash.").await;
    assert_eq!(replies_to(&s, LOCAL_USER, 2, Duration::from_secs(60)).await, ["Warm.", "After the crash."]);
    assert_eq!(s.twilio.list_requests().len(), 1, "Twilio was asked once whether it had the reply");
    assert_eq!(s.asked("hello"), 1, "the bot was asked once");
}

/// The same crash after Twilio created the reply: the retry finds it and sends nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_twilio_created_before_a_crash_cut_off_its_answer_is_not_sent_again_after_the_restart() {
    let s = killed_during_the_send_of_a_reply(|twilio| twilio.answer_late(Duration::from_secs(2), 1), "hello", "Before the crash.").await;
    s.inbenta.on_message("then", unrated("Next."));
    posted(&s, LOCAL_USER, "then", &sid(3)).await;
    assert_eq!(replies_to(&s, LOCAL_USER, 3, Duration::from_secs(60)).await, ["Warm.", "Before the crash.", "Next."]);
    assert_eq!(s.twilio.list_requests().len(), 1, "Twilio was asked once whether it had the reply");
}
