//! `connector-local` as operators run it: a real process on a real port, state in DynamoDB
//! (moto from `scripts/test.sh`), upstream fakes on loopback.

use connector_tests::connector::fresh_table;
use connector_tests::inbenta::{FakeInbenta, unrated};
use connector_tests::local::{LocalOptions, LocalServer, free_port, sid};
use connector_tests::raw_http;
use connector_tests::twilio::FakeTwilio;
use serde_json::json;
use std::time::Duration;

fn options<'a>(port: u16, table: &'a str, inbenta: &'a FakeInbenta, twilio: &'a FakeTwilio) -> LocalOptions<'a> {
    LocalOptions {
        binary: env!("CARGO_BIN_EXE_connector-local"),
        port,
        table: Some(table),
        dynamodb: None,
        inbenta,
        twilio,
        custom: &[],
        queue: None,
        open_files: None,
    }
}

#[tokio::test]
async fn pending_options_are_answered_after_connector_local_restarts_and_the_token_is_reused() {
    let (inbenta, twilio) = (FakeInbenta::start().await, FakeTwilio::start().await);
    inbenta.on_message(
        "cards",
        json!({"answers":[{"type":"multipleChoiceQuestion","message":"Which card?","options":[
        {"label":"Debit","value":1},{"label":"Credit","value":2}]}]}),
    );
    inbenta.on_option(2, unrated("Credit cards have a limit."));
    let table = fresh_table().await;
    let port = free_port();

    let first = LocalServer::start(options(port, &table, &inbenta, &twilio)).await;
    assert_eq!(first.sms("cards", &sid(1)).await.status, 200);
    assert_eq!(twilio.wait_for_messages(1, Duration::from_secs(20)).await.len(), 1, "the options were sent before the stop");
    drop(first);

    let second = LocalServer::start(options(port, &table, &inbenta, &twilio)).await;
    assert_eq!(second.sms("2", &sid(2)).await.status, 200);
    let sent = twilio.wait_for_messages(2, Duration::from_secs(20)).await;
    assert_eq!(sent.last().map(|m| m.body.as_str()), Some("Credit cards have a limit."));
    assert_eq!(inbenta.bot_inputs().last(), Some(&json!({"option":2})));
    assert_eq!(inbenta.count("/v1/auth"), 1, "the cold start reused the cached access token");
    assert_eq!(inbenta.conversation_starts().len(), 1, "the bot session survived the restart");
}

#[tokio::test]
async fn every_webhook_route_refuses_unsigned_requests_unknown_routes_answer_404_and_health_answers_200() {
    let (inbenta, twilio) = (FakeInbenta::start().await, FakeTwilio::start().await);
    let table = fresh_table().await;
    let local = LocalServer::start(options(free_port(), &table, &inbenta, &twilio)).await;
    for (path, content_type, body) in [
        ("/twilio", "application/x-www-form-urlencoded", &b"Body=hello&From=%2B34600000001"[..]),
        ("/twilio/status", "application/x-www-form-urlencoded", b"MessageSid=SM00000000000000000000000000000001&MessageStatus=delivered"),
        ("/smooch", "application/json", b"{}"),
        ("/messenger", "application/json", b"{}"),
        ("/hyperchat", "application/json", b"{}"),
    ] {
        let unsigned = raw_http::send("POST", &format!("{}{path}", local.url), &[("content-type", content_type)], body).await.unwrap();
        assert_eq!(unsigned.status, 403, "{path}");
    }
    let unknown = raw_http::send("POST", &format!("{}/telegram", local.url), &[], b"{}").await.unwrap();
    assert_eq!(unknown.status, 404);
    let health = raw_http::get(&format!("{}/health", local.url), &[]).await.unwrap();
    assert_eq!(health.json()["status"], "ok");
}
