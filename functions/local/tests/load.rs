//! Many users at once against `connector-local` with its state in DynamoDB: under load the
//! serialised DynamoDB stand-in answers some writes after the SDK's attempt timeout, which is
//! when a lost answer must neither drop a message nor answer it twice. A test binary of its
//! own, so the load does not slow the other fault cases down.

use connector_tests::inbenta::unrated;
use connector_tests::local::{FaultRig, sid};
use std::sync::Arc;
use std::time::Duration;

/// Many users at once against the serialised DynamoDB stand-in. 80 users alone gave about 60
/// SDK attempt timeouts on 2 cores, but after the other moto tests of a full run even that many
/// lost write-ahead answers until the deadline, whose replies are then withheld by design
/// (never sent twice, so possibly never): 40 keeps the load while staying out of that regime.
/// Lost answers are covered deterministically by the fault proxy in `faults.rs`.
const USERS: u64 = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forty_users_writing_at_once_each_get_exactly_one_answer() {
    // The fake Twilio shares this process with a hundred users: a Twilio call it is too busy
    // to answer in 5 s counts as maybe delivered and is (rightly) never sent again, which is not
    // what this test is about, so Twilio gets most of the deadline.
    let s = Arc::new(FaultRig::start(env!("CARGO_BIN_EXE_connector-local"), &[("twilio.toml", "timeout_ms = 12000\n")]).await);
    for i in 0..USERS {
        s.inbenta.on_message(&format!("question {i}"), unrated(&format!("answer {i}")));
    }
    let users: Vec<_> = (0..USERS)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move {
                let from = format!("+3460000{i:04}");
                // Twilio delivers again what was answered 503, as its retry would.
                for _ in 0..20 {
                    if s.local.sms_from(&from, &format!("question {i}"), &sid(1000 + i)).await.status == 200 {
                        return true;
                    }
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                false
            })
        })
        .collect();
    for user in users {
        assert!(user.await.unwrap(), "a user's message was never accepted");
    }
    let sent = s.twilio.messages();
    for i in 0..USERS {
        let to = format!("+3460000{i:04}");
        let theirs: Vec<_> = sent.iter().filter(|m| m.to == to).map(|m| m.body.as_str()).collect();
        assert_eq!(theirs, vec![format!("answer {i}").as_str()], "user {i}");
    }
    assert_eq!(s.inbenta.bot_inputs().len(), usize::try_from(USERS).unwrap());
}
