//! Many users at once against `connector-local` with its state in DynamoDB: under load the
//! serialised DynamoDB stand-in answers some writes after the SDK's attempt timeout, which is
//! when a lost answer must neither drop a message nor answer it twice. A test binary of its
//! own, so the load does not slow the other fault cases down.

use connector_tests::inbenta::unrated;
use connector_tests::local::{FaultRig, sid};
use std::sync::Arc;
use std::time::{Duration, Instant};

const USERS: u64 = 80;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eighty_users_writing_at_once_each_get_exactly_one_answer() {
    // The fake Twilio shares this process with the users: a Twilio call it is too busy to
    // answer in 5 s counts as maybe delivered and is (rightly) never sent again, which is not
    // what this test is about, so Twilio gets longer.
    let custom = [("twilio.toml", "timeout_ms = 12000\n"), ("queue.toml", "backoff_initial_ms = 200\nbackoff_max_ms = 2000\n")];
    let s = Arc::new(FaultRig::start(env!("CARGO_BIN_EXE_connector-local"), &custom).await);
    for i in 0..USERS {
        s.inbenta.on_message(&format!("question {i}"), unrated(&format!("answer {i}")));
    }
    let users: Vec<_> = (0..USERS)
        .map(|i| {
            let s = s.clone();
            // Posted once each, as Twilio does.
            tokio::spawn(async move { s.local.sms_from(&format!("+3460000{i:04}"), &format!("question {i}"), &sid(1000 + i)).await.status })
        })
        .collect();
    for user in users {
        assert_eq!(user.await.unwrap(), 200, "a user's message was not acknowledged");
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while s.twilio.messages().len() < usize::try_from(USERS).unwrap() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let sent = s.twilio.messages();
    for i in 0..USERS {
        let to = format!("+3460000{i:04}");
        let theirs: Vec<_> = sent.iter().filter(|m| m.to == to).map(|m| m.body.as_str()).collect();
        assert_eq!(theirs, vec![format!("answer {i}").as_str()], "user {i}");
    }
    assert_eq!(s.inbenta.bot_inputs().len(), usize::try_from(USERS).unwrap());
}
