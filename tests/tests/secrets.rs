//! Secrets from AWS Secrets Manager (`SECRETS_ID`, moto's Secrets Manager on loopback): read at
//! start, and read again when a webhook's signature fails, so a secret set or rotated after the
//! deploy reaches a running function without a redeploy.

use connector_app::{App, Twilio};
use connector_config::Sources;
use connector_core::Endpoint;
use connector_tests::connector::{COMPANY_NUMBER, SMS_USER, WEBHOOK_URL, conf_dir_with, repo_root, request};
use connector_tests::inbenta::FakeInbenta;
use connector_tests::moto::secrets_manager;
use connector_tests::twilio::FakeTwilio;
use connector_tests::twilio_signing::{encode_form, inbound_form, twilio_signature};
use serde_json::{Value, json};

/// A new secret holding `variables`; its ARN.
async fn secret_of(variables: Value) -> String {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let name = format!("secrets-test-{}-{}", std::process::id(), NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    let created = secrets_manager("CreateSecret", json!({"Name": name, "SecretString": variables.to_string()})).await;
    created["ARN"].as_str().expect("an ARN").to_owned()
}

/// The configuration of a Twilio function whose secrets are in `arn` only.
fn sources(arn: &str, inbenta: &FakeInbenta, twilio: &FakeTwilio) -> Sources {
    // Inbenta's key and secret, and Twilio's auth token, come from the secret.
    let env = [("SECRETS_ID", arn.to_owned()), ("INBENTA_AUTH_URL", inbenta.auth_url()), ("TWILIO_WEBHOOK_URL", WEBHOOK_URL.to_owned())];
    let mut env: Vec<(String, String)> = env.into_iter().chain(twilio.env()).map(|(k, v)| (k.to_owned(), v)).collect();
    env.extend(std::env::vars().filter(|(k, _)| k.starts_with("AWS_")));
    Sources { conf_dir: conf_dir_with(&[]), env }
}

/// A message signed with `token`, as Twilio would sign it with that auth token.
fn signed_with(token: &str, sid: &str) -> connector_core::WebhookRequest {
    let params = inbound_form(SMS_USER, COMPANY_NUMBER, "hello", sid);
    let signature = twilio_signature(token, WEBHOOK_URL, &params);
    request(encode_form(&params).into_bytes(), &[("content-type", "application/x-www-form-urlencoded"), ("x-twilio-signature", &signature)])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_functions_secrets_come_from_secrets_manager_and_the_environment_holds_none() {
    let (inbenta, twilio) = (FakeInbenta::start().await, FakeTwilio::start().await);
    let arn = secret_of(json!({
        "INBENTA_API_KEY": FakeInbenta::API_KEY,
        "INBENTA_API_SECRET": FakeInbenta::API_SECRET,
        "TWILIO_AUTH_TOKEN": FakeTwilio::AUTH_TOKEN,
    }))
    .await;
    let app = App::load(&sources(&arn, &inbenta, &twilio), &repo_root().join("lang")).await.expect("the secrets are read");
    assert!(app.api().unwrap().has_credentials(), "Inbenta's key and secret came from the secret");
    let function = app.channel_function::<Twilio>(app.inbenta().unwrap()).await.expect("Twilio is configured by the secret");
    let answer = function.endpoint.serve(signed_with(FakeTwilio::AUTH_TOKEN, "SMsecret0000000000000000000000001"), None).await;
    assert_eq!(answer.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_secret_rotated_after_the_start_is_read_again_when_a_signature_fails() {
    let (inbenta, twilio) = (FakeInbenta::start().await, FakeTwilio::start().await);
    let arn = secret_of(json!({
        "INBENTA_API_KEY": FakeInbenta::API_KEY,
        "INBENTA_API_SECRET": FakeInbenta::API_SECRET,
        "TWILIO_AUTH_TOKEN": "the-first-token",
    }))
    .await;
    let app = App::load(&sources(&arn, &inbenta, &twilio), &repo_root().join("lang")).await.unwrap();
    let function = app.channel_function::<Twilio>(app.inbenta().unwrap()).await.unwrap();
    let rotated = json!({
        "INBENTA_API_KEY": FakeInbenta::API_KEY,
        "INBENTA_API_SECRET": FakeInbenta::API_SECRET,
        "TWILIO_AUTH_TOKEN": "the-rotated-token",
    });
    secrets_manager("PutSecretValue", json!({"SecretId": arn, "SecretString": rotated.to_string()})).await;

    let with_rotated = function.endpoint.serve(signed_with("the-rotated-token", "SMsecret0000000000000000000000002"), None).await;
    assert_eq!(with_rotated.status(), 200, "the failed signature read the secret again");
    let with_first = function.endpoint.serve(signed_with("the-first-token", "SMsecret0000000000000000000000003"), None).await;
    assert_eq!(with_first.status(), 403, "the old token no longer signs");
    let forged = function.endpoint.serve(signed_with("a-forger's-token", "SMsecret0000000000000000000000004"), None).await;
    assert_eq!(forged.status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_that_is_not_a_json_object_stops_the_start_with_a_message_that_does_not_quote_it() {
    let (inbenta, twilio) = (FakeInbenta::start().await, FakeTwilio::start().await);
    let name = format!("secrets-test-{}-plain", std::process::id());
    let created = secrets_manager("CreateSecret", json!({"Name": name, "SecretString": "hunter2"})).await;
    let arn = created["ARN"].as_str().unwrap().to_owned();
    let error = match App::load(&sources(&arn, &inbenta, &twilio), &repo_root().join("lang")).await {
        Ok(_) => panic!("a plain-text secret must stop the start"),
        Err(error) => connector_engine::error_chain(&error),
    };
    assert!(error.contains("not JSON") && !error.contains("hunter2"), "{error}");
}
