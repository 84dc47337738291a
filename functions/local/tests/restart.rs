//! `connector-local` as operators run it: a real process on a real port, state in DynamoDB
//! (moto from `scripts/test.sh`), upstream fakes on loopback.

use connector_tests::connector::{fresh_table, repo_root};
use connector_tests::inbenta::{FakeInbenta, unrated};
use connector_tests::raw_http;
use connector_tests::twilio::FakeTwilio;
use connector_tests::twilio_signing::{inbound_form, twilio_signature};
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Local {
    child: Child,
    url: String,
}

impl Drop for Local {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn start_local(port: u16, table: &str, inbenta: &FakeInbenta, twilio: &FakeTwilio) -> Local {
    let url = format!("http://127.0.0.1:{port}");
    let root = repo_root();
    let child = Command::new(env!("CARGO_BIN_EXE_connector-local"))
        .env("PORT", port.to_string())
        .env("TABLE_NAME", table)
        .env("CONF_DIR", root.join("conf"))
        .env("LANG_DIR", root.join("lang"))
        .env("INBENTA_AUTH_URL", inbenta.auth_url())
        .env("INBENTA_API_KEY", FakeInbenta::API_KEY)
        .env("INBENTA_API_SECRET", FakeInbenta::API_SECRET)
        .env("TWILIO_API_URL", twilio.base_url())
        .env("TWILIO_ACCOUNT_SID", FakeTwilio::ACCOUNT_SID)
        .env("TWILIO_AUTH_TOKEN", FakeTwilio::AUTH_TOKEN)
        .env("TWILIO_WEBHOOK_URL", format!("{url}/twilio"))
        .stdout(Stdio::null())
        .spawn()
        .expect("connector-local starts");
    let local = Local { child, url };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(response) = raw_http::get(&format!("{}/health", local.url), &[]).await {
            assert_eq!(response.status, 200);
            return local;
        }
        assert!(Instant::now() < deadline, "connector-local did not become healthy");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn sms(local: &Local, text: &str, sid: &str) -> u16 {
    let webhook = format!("{}/twilio", local.url);
    let params = inbound_form("+34600000009", "+14155550100", text, sid);
    let signature = twilio_signature(FakeTwilio::AUTH_TOKEN, &webhook, &params);
    raw_http::post_form(&webhook, &[("x-twilio-signature", &signature)], &params).await.unwrap().status
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

    let first = start_local(port, &table, &inbenta, &twilio).await;
    assert_eq!(sms(&first, "cards", "SM00000000000000000000000000000001").await, 200);
    drop(first);

    let second = start_local(port, &table, &inbenta, &twilio).await;
    assert_eq!(sms(&second, "2", "SM00000000000000000000000000000002").await, 200);
    let sent = twilio.messages();
    assert_eq!(sent.last().map(|m| m.body.as_str()), Some("Credit cards have a limit."));
    assert_eq!(inbenta.bot_inputs().last(), Some(&json!({"option":2})));
    assert_eq!(inbenta.count("/v1/auth"), 1, "the cold start reused the cached access token");
    assert_eq!(inbenta.conversation_starts().len(), 1, "the bot session survived the restart");
}

#[tokio::test]
async fn routes_of_functions_not_built_yet_answer_404_and_health_answers_200() {
    let (inbenta, twilio) = (FakeInbenta::start().await, FakeTwilio::start().await);
    let local = start_local(free_port(), &fresh_table().await, &inbenta, &twilio).await;
    for path in ["/smooch", "/messenger", "/hyperchat"] {
        let response = raw_http::send("POST", &format!("{}{path}", local.url), &[], b"{}").await.unwrap();
        assert_eq!(response.status, 404, "{path}");
    }
    let health = raw_http::get(&format!("{}/health", local.url), &[]).await.unwrap();
    assert_eq!(health.json()["status"], "ok");
}
