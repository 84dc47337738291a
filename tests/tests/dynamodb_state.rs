//! Exactly-once replies and no lost updates with the state in DynamoDB (moto on loopback),
//! through the Twilio webhook handler, as several Lambda instances would run it.

use connector_engine::ConversationKey;

use connector_tests::connector::{COMPANY_NUMBER, Connector, SMS_USER, WHATSAPP_USER};
use connector_tests::inbenta::unrated;
use connector_tests::twilio_signing::inbound_form;
use std::sync::Arc;

async fn stored_counter(c: &Connector, key: &str) -> (u64, u64) {
    let now = connector_engine::Clock::now(&connector_engine::ports::SystemClock);
    let stored = c.store.load(&ConversationKey::new(key), now).await.unwrap();
    (stored.version, stored.conversation.messages_handled)
}

/// Two hundred deliveries of one message at once, past the queue's own deduplication (the
/// tests' queue forgets ids at once, as SQS does after five minutes): the table's progress
/// record answers it once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_redeliveries_of_one_signed_message_get_exactly_one_reply() {
    let c = Arc::new(Connector::start_on_dynamodb().await);
    c.inbenta.on_message("hello", unrated("Hello once."));
    let params = inbound_form(SMS_USER, COMPANY_NUMBER, "hello", &c.next_sid());
    let deliveries: Vec<_> = (0..200)
        .map(|_| {
            let (c, params) = (c.clone(), params.clone());
            tokio::spawn(async move { c.handle(c.signed(&params)).await.status().as_u16() })
        })
        .collect();
    let mut statuses = Vec::new();
    for delivery in deliveries {
        statuses.push(delivery.await.unwrap());
    }
    assert!(statuses.iter().all(|s| *s == 200), "every delivery is acknowledged: {statuses:?}");
    assert_eq!(c.twilio.messages().len(), 1);
    assert_eq!(c.inbenta.bot_inputs().len(), 1);
    let after = c.exchange(c.signed(&params)).await;
    assert_eq!((after.status, after.replies.len()), (200, 0), "a later redelivery is a plain duplicate");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_messages_of_one_user_are_all_answered_in_whole_turns_with_no_update_lost() {
    let c = Arc::new(Connector::start_on_dynamodb().await);
    // Every answer is three WhatsApp messages (text, image, text): interleaved turns would show.
    for i in 0..20 {
        c.inbenta.on_message(
            &format!("question {i}"),
            unrated(&format!("<p>start {i}</p><img src=\"https://cdn.example/{i}.png\"><p>end {i}</p>")),
        );
    }
    let company = format!("whatsapp:{COMPANY_NUMBER}");
    let turns: Vec<_> = (0..20)
        .map(|i| {
            let (c, company) = (c.clone(), company.clone());
            tokio::spawn(async move {
                // Posted once, as Twilio does: the queue orders the conversation's turns.
                let params = inbound_form(WHATSAPP_USER, &company, &format!("question {i}"), &format!("SM{i:032}"));
                c.exchange(c.signed(&params)).await.status == 200
            })
        })
        .collect();
    for turn in turns {
        assert!(turn.await.unwrap(), "a message was not acknowledged");
    }
    let sent = c.twilio.messages();
    assert_eq!(sent.len(), 60);
    for turn in sent.chunks(3) {
        let i = turn[0].body.trim_start_matches("start ");
        assert_eq!(turn[1].media_urls, vec![format!("https://cdn.example/{i}.png")], "turn {i} interleaved");
        assert_eq!(turn[2].body, format!("end {i}"), "turn {i} interleaved");
    }
    let key = format!("twilio-whatsapp{}-whatsapp{}", &COMPANY_NUMBER[1..], &WHATSAPP_USER[10..]);
    assert_eq!(stored_counter(&c, &key).await, (20, 20));
    assert_eq!(c.inbenta.bot_inputs().len(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_offered_in_one_request_are_answered_in_the_next_with_dynamodb_state() {
    let c = Connector::start_on_dynamodb().await;
    c.inbenta.on_message(
        "cards",
        serde_json::json!({"answers":[{"type":"multipleChoiceQuestion","message":"Which?","options":[
        {"label":"Debit","value":1},{"label":"Credit","value":2}]}]}),
    );
    c.inbenta.on_option(2, unrated("Credit it is."));
    c.sms("cards").await;
    assert_eq!(c.sms("2").await.replies[0].body, "Credit it is.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_message_costs_three_reads_and_two_small_writes_once_the_token_is_cached() {
    let c = Connector::start_on_dynamodb().await;
    c.sms("warm up").await;
    let (calls, writes) = (c.store_calls.calls(), c.store_calls.writes());
    c.sms("hello").await;
    // Reads: the conversation, this message's progress, the previous turn's progress. Writes:
    // the commit (state and outbox), the progress record before the one send (which is also
    // the message's "done"). No lease, no claim, no transaction.
    assert_eq!((c.store_calls.calls() - calls, c.store_calls.writes() - writes), (5, 2));
}

/// A reply the channel refused for now (503) is sent by the message's retry from the committed
/// outbox: the bot is not asked again and the user gets it once. (It replaces the lease-era test
/// of a redelivery waiting while another request finished its turn, which slept 300 ms and could
/// pass without that takeover: there is no lease since durable ingestion.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_the_channel_refused_for_now_is_sent_by_the_retry_without_asking_the_bot_again() {
    let c = Connector::start_on_dynamodb().await;
    c.inbenta.on_message("hello", unrated("Hello once."));
    c.sms("warm up").await;
    let sends_before = c.twilio.requests().len();
    c.twilio.fail_with(503, 1);
    let answer = c.sms("hello").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.replies.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["Hello once."]);
    // The send was refused, then sent again by the retry: not one send that went through at once.
    let sends: Vec<_> = c.twilio.requests().into_iter().skip(sends_before).map(|r| (r.method, r.status)).collect();
    assert_eq!(sends, [("POST".to_owned(), Some(503)), ("POST".to_owned(), Some(201))], "one refused send, one retried send");
    assert_eq!(
        c.inbenta.bot_inputs().iter().filter(|i| **i == serde_json::json!({"message": "hello"})).count(),
        1,
        "the bot was asked once"
    );
}
