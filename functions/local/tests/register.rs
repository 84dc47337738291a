//! `connector-local register` as an operator runs it, against fakes of the providers' admin
//! endpoints (`connector_tests::admin`): the requests it makes, one by one, what a second run
//! does, what a dry run prints, and that no secret reaches its output.

use connector_tests::admin::{AdminCredentials, FakeAdmin, Recorded};
use connector_tests::connector::repo_root;
use connector_tests::moto::secrets_manager;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

const API: &str = "https://abc123.execute-api.eu-west-1.amazonaws.com";
const SMS_NUMBER: &str = "+15550001111";
const WHATSAPP_NUMBER: &str = "+15550002222";
const VERIFY_TOKEN: &str = "messenger-verify-token-0123456789";
const HYPERCHAT_EVENTS: &[&str] = &[
    "invitations:new",
    "invitations:accept",
    "forever:alone",
    "chats:close",
    "messages:new",
    "users:activity",
    "queues:update",
    "system:info",
];

fn url(route: &str) -> String {
    format!("{API}/{route}")
}

/// A directory of its own per test: the command writes the Smooch secret file in it.
fn work_dir() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!("register-test-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed)));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir
}

/// `aws cloudformation describe-stacks` output of a stack with every channel.
fn stack_outputs(dir: &Path, outputs: &[(&str, String)]) -> PathBuf {
    let outputs: Vec<Value> = outputs.iter().map(|(key, value)| json!({"OutputKey": key, "OutputValue": value})).collect();
    let file = dir.join("outputs.json");
    let described = json!({"Stacks": [{"StackName": "connector-prod", "StackStatus": "CREATE_COMPLETE", "Outputs": outputs}]});
    std::fs::write(&file, described.to_string()).expect("outputs written");
    file
}

fn every_output() -> Vec<(&'static str, String)> {
    vec![
        ("TwilioWebhookUrl", url("twilio")),
        ("SmoochWebhookUrl", url("smooch")),
        ("MessengerWebhookUrl", url("messenger")),
        ("HyperChatWebhookUrl", url("hyperchat")),
        ("HttpApiUrl", format!("{API}/")),
        ("TableName", "connector-prod-StateTable".into()),
    ]
}

/// The operator's environment: every provider's credentials, every API base at the fake.
fn operator_env(fake: &FakeAdmin) -> Vec<(String, String)> {
    let c = fake.credentials();
    let base = fake.url();
    [
        ("TWILIO_API_URL", base.clone()),
        ("TWILIO_MESSAGING_API_URL", base.clone()),
        ("TWILIO_ACCOUNT_SID", c.twilio_sid),
        ("TWILIO_AUTH_TOKEN", c.twilio_token),
        ("TWILIO_PHONE_NUMBER", SMS_NUMBER.into()),
        ("TWILIO_WHATSAPP_NUMBER", WHATSAPP_NUMBER.into()),
        ("SMOOCH_API_URL", base.clone()),
        ("SMOOCH_APP_ID", c.smooch_app),
        ("SMOOCH_KEY_ID", c.smooch_key),
        ("SMOOCH_SECRET", c.smooch_secret),
        ("GRAPH_API_URL", base.clone()),
        ("MESSENGER_APP_ID", c.meta_app_id),
        ("MESSENGER_APP_SECRET", c.meta_app_secret),
        ("MESSENGER_PAGE_TOKEN", c.page_token),
        ("MESSENGER_VERIFY_TOKEN", VERIFY_TOKEN.into()),
        ("HYPERCHAT_API_URL", base),
        ("HYPERCHAT_APP_ID", c.hyperchat_app),
        ("HYPERCHAT_SECRET", c.hyperchat_secret),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Only these variables of the environment (`prefix`es), for a test about one provider.
fn only(env: &[(String, String)], prefixes: &[&str]) -> Vec<(String, String)> {
    env.iter().filter(|(k, _)| prefixes.iter().any(|p| k.starts_with(p))).cloned().collect()
}

struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Ran {
    fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// Runs `connector-local register ARGS` in `dir` with exactly `env` (plus the configuration
/// folders and `PATH`).
async fn register(dir: &Path, env: &[(String, String)], args: &[&str]) -> Ran {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_connector-local"));
    command.arg("register").args(args).current_dir(dir).env_clear();
    command.env("CONF_DIR", repo_root().join("conf")).env("LANG_DIR", repo_root().join("lang"));
    command.env("PATH", std::env::var("PATH").unwrap_or_default());
    for (name, value) in env {
        command.env(name, value);
    }
    let output = tokio::task::spawn_blocking(move || command.output()).await.expect("joined").expect("connector-local runs");
    Ran {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// `METHOD /path`, the Graph version as `{v}`.
fn route(request: &Recorded) -> String {
    let path: Vec<&str> = request
        .path
        .split('/')
        .map(|s| if s.starts_with('v') && s.contains('.') && s[1..].replace('.', "").parse::<u32>().is_ok() { "{v}" } else { s })
        .collect();
    format!("{} {}", request.method, path.join("/"))
}

fn routes(requests: &[Recorded]) -> Vec<String> {
    requests.iter().map(route).collect()
}

fn form(request: &Recorded) -> Vec<(String, String)> {
    request.form()
}

fn field(pairs: &[(String, String)], name: &str) -> Option<String> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

/// Every secret the operator or the providers hold, none of which may be printed.
fn secrets(fake: &FakeAdmin) -> Vec<String> {
    let c = fake.credentials();
    let mut all = vec![c.twilio_token, c.smooch_secret, c.meta_app_secret, c.page_token, c.hyperchat_secret, VERIFY_TOKEN.to_owned()];
    all.extend(fake.smooch_webhooks().into_iter().filter_map(|(_, w)| w["secret"].as_str().map(str::to_owned)));
    all
}

fn assert_no_secret(fake: &FakeAdmin, ran: &Ran) {
    for secret in secrets(fake) {
        assert!(!ran.all().contains(&secret), "a secret was printed ({}...):\n{}", &secret[..4], ran.all());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_run_registers_every_provider_request_by_request_and_a_second_run_only_reads_and_changes_nothing() {
    let fake = FakeAdmin::start(AdminCredentials::example()).await;
    let c = fake.credentials();
    let number_sid = fake.add_number(SMS_NUMBER, json!({"sms_url": "https://old.example.com/sms", "sms_method": "GET"}));
    let sender_sid = fake.add_whatsapp_sender(
        &format!("whatsapp:{WHATSAPP_NUMBER}"),
        json!({"callback_url": null, "status_callback_url": "https://status.example.com"}),
    );
    let dir = work_dir();
    let outputs = stack_outputs(&dir, &every_output());
    let env = operator_env(&fake);

    let first = register(&dir, &env, &["--stack-outputs", outputs.to_str().unwrap()]).await;
    assert_eq!(first.code, Some(0), "{}", first.all());
    let requests = fake.requests();
    let account = format!("/2010-04-01/Accounts/{}/IncomingPhoneNumbers", c.twilio_sid);
    let app = format!("/v2/apps/{}", c.smooch_app);
    assert_eq!(
        routes(&requests),
        [
            format!("GET {account}.json"),
            format!("POST {account}/{number_sid}.json"),
            "GET /v2/Channels/Senders".into(),
            format!("POST /v2/Channels/Senders/{sender_sid}"),
            format!("GET {app}/integrations"),
            format!("POST {app}/integrations"),
            format!("GET /{{v}}/{}/subscriptions", c.meta_app_id),
            format!("POST /{{v}}/{}/subscriptions", c.meta_app_id),
            "GET /{v}/me/subscribed_apps".into(),
            "POST /{v}/me/subscribed_apps".into(),
            "GET /v1/webhooks".into(),
        ],
        "{}",
        first.stdout
    );
    assert!(requests.iter().all(|r| r.status.is_some_and(|s| (200..300).contains(&s))), "{requests:#?}");

    // Twilio: the number's messaging webhook, nothing else (its StatusCallback is for calls).
    assert_eq!(requests[0].query.as_deref(), Some("PhoneNumber=%2B15550001111"));
    assert_eq!(form(&requests[1]), [("SmsUrl".to_owned(), url("twilio")), ("SmsMethod".to_owned(), "POST".to_owned())]);
    let number = fake.number(SMS_NUMBER).unwrap();
    assert_eq!(
        (number["sms_url"].as_str(), number["sms_method"].as_str(), number["status_callback"].as_str()),
        (Some(url("twilio").as_str()), Some("POST"), Some(""))
    );
    assert_eq!(requests[3].json(), json!({"webhook": {"callback_url": url("twilio"), "callback_method": "POST"}}));
    let sender = fake.sender(&format!("whatsapp:{WHATSAPP_NUMBER}")).unwrap();
    assert_eq!(sender["webhook"]["callback_url"], url("twilio"));
    assert_eq!(sender["webhook"]["status_callback_url"], "https://status.example.com", "the sender's other settings are kept");

    // Smooch: one custom integration whose webhook sends messages and postbacks to the URL.
    assert_eq!(requests[4].query.as_deref(), Some("filter%5Btypes%5D=custom"));
    let created = requests[5].json();
    assert_eq!((created["type"].as_str(), created["webhooks"][0]["target"].as_str()), (Some("custom"), Some(url("smooch").as_str())));
    assert_eq!(created["webhooks"][0]["triggers"], json!(["conversation:message", "conversation:postback"]));
    let webhooks = fake.smooch_webhooks();
    assert_eq!(webhooks.len(), 1);
    let secret = webhooks[0].1["secret"].as_str().unwrap().to_owned();
    let secret_file = dir.join("smooch-webhook-secret");
    assert_eq!(std::fs::read_to_string(&secret_file).unwrap().trim(), secret, "the secret Smooch returned is kept for the deploy");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&secret_file).unwrap().permissions().mode() & 0o777, 0o600);
    }
    assert!(first.stdout.contains("SMOOCH_WEBHOOK_SECRET from the stack's Secrets Manager secret"), "{}", first.stdout);

    // Messenger: the app's webhook with the verify token, then the page, each with its token.
    let app_form = form(&requests[7]);
    assert_eq!(field(&app_form, "object").as_deref(), Some("page"));
    assert_eq!(field(&app_form, "callback_url"), Some(url("messenger")));
    assert_eq!(field(&app_form, "fields").as_deref(), Some("messages,messaging_postbacks"));
    assert_eq!(field(&app_form, "access_token"), Some(c.app_token()));
    assert_eq!(fake.verify_tokens(), [VERIFY_TOKEN]);
    assert_eq!(fake.app_subscription().unwrap()["callback_url"], url("messenger"));
    assert_eq!(field(&form(&requests[9]), "access_token"), Some(c.page_token.clone()));
    assert_eq!(fake.page_fields(), Some(vec!["messages".to_owned(), "messaging_postbacks".to_owned()]));

    // HyperChat: read with the app's credentials; what to register is printed.
    assert_eq!(requests[10].header("x-hyper-appid"), Some(c.hyperchat_app.as_str()));
    assert!(first.stdout.contains(&HYPERCHAT_EVENTS.join(", ")), "{}", first.stdout);
    assert!(first.stdout.contains("HyperChat lists no webhook to"), "{}", first.stdout);
    assert!(first.stdout.contains("6 change(s) made."), "{}", first.stdout);
    assert_no_secret(&fake, &first);

    let second = register(&dir, &env, &["--stack-outputs", outputs.to_str().unwrap()]).await;
    assert_eq!(second.code, Some(0), "{}", second.all());
    let again = fake.requests()[requests.len()..].to_vec();
    let integration = &webhooks[0].0;
    assert_eq!(
        routes(&again),
        [
            format!("GET {account}.json"),
            "GET /v2/Channels/Senders".into(),
            format!("GET {app}/integrations"),
            format!("GET {app}/integrations/{integration}/webhooks"),
            format!("GET /{{v}}/{}/subscriptions", c.meta_app_id),
            "GET /{v}/me/subscribed_apps".into(),
            "GET /v1/webhooks".into(),
        ],
        "{}",
        second.stdout
    );
    assert!(second.stdout.contains("Nothing changed: everything this command registers was already in place."), "{}", second.stdout);
    assert_eq!(fake.smooch_webhooks().len(), 1, "no second webhook");
    assert_eq!(fake.verify_tokens().len(), 1, "no second subscription");
    assert_no_secret(&fake, &second);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_prints_each_request_with_its_body_and_the_secrets_masked_and_sends_none() {
    let fake = FakeAdmin::start(AdminCredentials::example()).await;
    let c = fake.credentials();
    fake.add_number(SMS_NUMBER, json!({}));
    let dir = work_dir();
    let outputs = stack_outputs(&dir, &every_output());

    let ran = register(&dir, &operator_env(&fake), &["--stack-outputs", outputs.to_str().unwrap(), "--dry-run"]).await;
    assert_eq!(ran.code, Some(0), "{}", ran.all());
    assert!(fake.requests().is_empty(), "a dry run made requests: {:#?}", fake.requests());
    assert!(!dir.join("smooch-webhook-secret").exists(), "a dry run wrote the secret file");
    let base = fake.url();
    for line in [
        format!("  GET {base}/2010-04-01/Accounts/{}/IncomingPhoneNumbers.json?PhoneNumber=%2B15550001111", c.twilio_sid),
        format!("  POST {base}/2010-04-01/Accounts/{}/IncomingPhoneNumbers/{{sid of {SMS_NUMBER}}}.json", c.twilio_sid),
        format!("      SmsUrl={}&SmsMethod=POST", "https%3A%2F%2Fabc123.execute-api.eu-west-1.amazonaws.com%2Ftwilio"),
        format!("  POST {base}/v2/apps/{}/integrations", c.smooch_app),
        "\"type\":\"custom\"".to_owned(),
        format!("\"target\":\"{}\"", url("smooch")),
        "\"triggers\":[\"conversation:message\",\"conversation:postback\"]".to_owned(),
        format!("/{}/subscriptions?access_token=***", c.meta_app_id),
        "verify_token=***&fields=messages%2Cmessaging_postbacks&access_token=***".to_owned(),
        "/me/subscribed_apps?access_token=***".to_owned(),
        format!("  GET {base}/v1/webhooks"),
        "Dry run: no request was made.".to_owned(),
    ] {
        assert!(ran.stdout.contains(&line), "missing {line:?} in:\n{}", ran.stdout);
    }
    assert_no_secret(&fake, &ran);
    assert!(!ran.stdout.contains(&c.app_token()), "{}", ran.stdout);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_are_reported_with_the_providers_error_codes_and_the_other_providers_are_still_registered() {
    let fake = FakeAdmin::start(AdminCredentials::example()).await;
    fake.add_number(SMS_NUMBER, json!({}));
    let dir = work_dir();
    let outputs = stack_outputs(&dir, &every_output());
    let mut env = operator_env(&fake);
    for (name, value) in &mut env {
        match name.as_str() {
            "TWILIO_AUTH_TOKEN" => *value = "a-wrong-twilio-token-0000".into(),
            "MESSENGER_APP_SECRET" => *value = "a-wrong-meta-app-secret-0000".into(),
            _ => {}
        }
    }

    let ran = register(&dir, &env, &["--stack-outputs", outputs.to_str().unwrap()]).await;
    assert_eq!(ran.code, Some(1), "{}", ran.all());
    assert!(ran.stdout.contains("answered 401: Twilio error 20003: Authenticate"), "{}", ran.stdout);
    assert!(ran.stdout.contains("answered 400: Graph error 190: Invalid OAuth access token"), "{}", ran.stdout);
    assert!(ran.stdout.contains("fbtrace_id AfakeTrace"), "{}", ran.stdout);
    assert!(
        ran.stderr.contains("registration failed: Twilio SMS +15550001111, Twilio WhatsApp +15550002222, Messenger app webhook"),
        "{}",
        ran.stderr
    );
    assert_eq!(fake.smooch_webhooks().len(), 1, "Smooch is registered whatever Twilio and Meta answered");
    assert!(fake.page_fields().is_none(), "the page is not subscribed to an app without a webhook");
    assert!(!ran.all().contains("a-wrong-twilio-token-0000") && !ran.all().contains("a-wrong-meta-app-secret-0000"), "{}", ran.all());
    assert_no_secret(&fake, &ran);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_smooch_webhook_to_the_url_without_the_postback_trigger_is_completed_not_duplicated() {
    let fake = FakeAdmin::start(AdminCredentials::example()).await;
    let c = fake.credentials();
    let (other, _) =
        fake.add_custom_integration(&[json!({"target": "https://crm.example.com/hook", "triggers": ["conversation:message"]})]);
    let (ours, webhooks) = fake.add_custom_integration(&[json!({"target": url("smooch"), "triggers": ["conversation:message"]})]);
    let dir = work_dir();
    let env = only(&operator_env(&fake), &["SMOOCH_"]);

    let ran = register(&dir, &env, &["--smooch-url", &url("smooch")]).await;
    assert_eq!(ran.code, Some(0), "{}", ran.all());
    let requests = fake.requests();
    let app = format!("/v2/apps/{}", c.smooch_app);
    let webhook = webhooks[0]["id"].as_str().unwrap();
    assert_eq!(
        routes(&requests),
        [
            format!("GET {app}/integrations"),
            format!("GET {app}/integrations/{other}/webhooks"),
            format!("GET {app}/integrations/{ours}/webhooks"),
            format!("PATCH {app}/integrations/{ours}/webhooks/{webhook}"),
        ]
    );
    assert_eq!(requests[3].json(), json!({"triggers": ["conversation:message", "conversation:postback"]}));
    assert_eq!(fake.integrations(), 2);
    let secret = webhooks[0]["secret"].as_str().unwrap();
    assert_eq!(std::fs::read_to_string(dir.join("smooch-webhook-secret")).unwrap().trim(), secret);
    assert!(ran.stdout.contains("added the triggers conversation:postback"), "{}", ran.stdout);
    assert_no_secret(&fake, &ran);

    // The secret already in this environment: nothing to write, nothing to deploy.
    let mut with_secret = env.clone();
    with_secret.push(("SMOOCH_WEBHOOK_SECRET".into(), secret.to_owned()));
    std::fs::remove_file(dir.join("smooch-webhook-secret")).unwrap();
    let again = register(&dir, &with_secret, &["--smooch-url", &url("smooch")]).await;
    assert_eq!(again.code, Some(0), "{}", again.all());
    assert!(again.stdout.contains("SMOOCH_WEBHOOK_SECRET in this environment already holds the webhook's secret"), "{}", again.stdout);
    assert!(again.stdout.contains("Nothing changed"), "{}", again.stdout);
    assert!(!dir.join("smooch-webhook-secret").exists());
    assert_no_secret(&fake, &again);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stack_without_smooch_yet_gets_the_webhook_on_its_api_url_and_the_secret_kept_in_a_file() {
    let fake = FakeAdmin::start(AdminCredentials::example()).await;
    let dir = work_dir();
    let outputs: Vec<_> = every_output().into_iter().filter(|(k, _)| *k != "SmoochWebhookUrl").collect();
    let outputs = stack_outputs(&dir, &outputs);
    let env = only(&operator_env(&fake), &["SMOOCH_"]);

    let ran = register(&dir, &env, &["--stack-outputs", outputs.to_str().unwrap(), "--secret-file", "secret.txt"]).await;
    assert_eq!(ran.code, Some(0), "{}", ran.all());
    assert_eq!(fake.smooch_webhooks()[0].1["target"], url("smooch"));
    assert!(ran.stdout.contains("the stack has no Smooch function yet"), "{}", ran.stdout);
    let file = dir.join("secret.txt");
    assert!(ran.stdout.contains("put it there"), "{}", ran.stdout);
    assert!(file.exists());
    for provider in ["Twilio: skipped", "Messenger: skipped"] {
        assert!(ran.stdout.contains(provider), "{provider} in:\n{}", ran.stdout);
    }
    assert_no_secret(&fake, &ran);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_number_whose_messages_an_application_handles_is_left_alone_with_the_reason() {
    let fake = FakeAdmin::start(AdminCredentials::example()).await;
    let application = format!("AP{}", "a".repeat(32));
    fake.add_number(SMS_NUMBER, json!({"sms_application_sid": application}));
    let dir = work_dir();
    let env: Vec<_> = only(&operator_env(&fake), &["TWILIO_"]).into_iter().filter(|(k, _)| k != "TWILIO_WHATSAPP_NUMBER").collect();

    let ran = register(&dir, &env, &["--twilio-url", &url("twilio")]).await;
    assert_eq!(ran.code, Some(1), "{}", ran.all());
    assert_eq!(routes(&fake.requests()).len(), 1, "only the read: {:#?}", fake.requests());
    assert!(ran.stdout.contains(&format!("handled by {application}, which overrides the number's SmsUrl")), "{}", ran.stdout);
    assert!(ran.stdout.contains("Sandbox settings"), "the sandbox's Console steps are printed: {}", ran.stdout);
    assert_eq!(fake.number(SMS_NUMBER).unwrap()["sms_url"], "");
    assert_no_secret(&fake, &ran);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whatsapp_number_that_twilio_lists_as_no_sender_gets_the_console_steps_and_is_not_a_failure() {
    let fake = FakeAdmin::start(AdminCredentials::example()).await;
    let dir = work_dir();
    let env: Vec<_> = only(&operator_env(&fake), &["TWILIO_"]).into_iter().filter(|(k, _)| k != "TWILIO_PHONE_NUMBER").collect();

    let ran = register(&dir, &env, &["--twilio-url", &url("twilio")]).await;
    assert_eq!(ran.code, Some(0), "{}", ran.all());
    assert_eq!(routes(&fake.requests()), ["GET /v2/Channels/Senders"]);
    assert!(ran.stdout.contains("whatsapp:+15550002222 is no sender in Twilio's Senders API"), "{}", ran.stdout);
    assert!(ran.stdout.contains(&format!("\"Webhook URL for incoming messages\" = {} (POST)", url("twilio"))), "{}", ran.stdout);
    assert!(ran.stdout.contains("Twilio WhatsApp +15550002222: to do by hand"), "{}", ran.stdout);
    assert_no_secret(&fake, &ran);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyperchat_is_unchanged_when_its_api_lists_the_url_for_every_event_and_the_missing_events_are_named_otherwise() {
    let complete = FakeAdmin::start(AdminCredentials::example()).await;
    complete.add_hyperchat_webhook(&url("hyperchat"), HYPERCHAT_EVENTS);
    let partial = FakeAdmin::start(AdminCredentials::example()).await;
    partial.add_hyperchat_webhook(&url("hyperchat"), &HYPERCHAT_EVENTS[..7]);
    let dir = work_dir();

    let ran = register(&dir, &only(&operator_env(&complete), &["HYPERCHAT_"]), &["--hyperchat-url", &url("hyperchat")]).await;
    assert_eq!(ran.code, Some(0), "{}", ran.all());
    assert!(ran.stdout.contains("unchanged: HyperChat lists"), "{}", ran.stdout);
    assert!(ran.stdout.contains("Nothing changed"), "{}", ran.stdout);
    assert_eq!(complete.requests()[0].header("x-hyper-secret"), Some(complete.credentials().hyperchat_secret.as_str()));
    assert_no_secret(&complete, &ran);

    let ran = register(&dir, &only(&operator_env(&partial), &["HYPERCHAT_"]), &["--hyperchat-url", &url("hyperchat")]).await;
    assert_eq!(ran.code, Some(0), "{}", ran.all());
    assert!(ran.stdout.contains("without the events system:info: add them in Backstage"), "{}", ran.stdout);
    assert_no_secret(&partial, &ran);
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stack_given_by_name_is_read_with_the_aws_cli() {
    use std::os::unix::fs::PermissionsExt as _;
    let fake = FakeAdmin::start(AdminCredentials::example()).await;
    let dir = work_dir();
    let outputs = stack_outputs(&dir, &every_output());
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let aws = bin.join("aws");
    std::fs::write(&aws, format!("#!/bin/sh\necho \"$@\" > '{}'\ncat '{}'\n", dir.join("aws-args").display(), outputs.display())).unwrap();
    std::fs::set_permissions(&aws, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut env = only(&operator_env(&fake), &["TWILIO_"]);
    env.push(("PATH".into(), format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default())));

    let ran = register(&dir, &env, &["--stack", "connector-prod", "--dry-run"]).await;
    assert_eq!(ran.code, Some(0), "{}", ran.all());
    assert_eq!(
        std::fs::read_to_string(dir.join("aws-args")).unwrap().trim(),
        "cloudformation describe-stacks --stack-name connector-prod --output json"
    );
    assert!(ran.stdout.contains(&format!("Twilio: {} (the TwilioWebhookUrl output)", url("twilio"))), "{}", ran.stdout);
    assert!(fake.requests().is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_outputs_or_urls_the_command_says_what_to_give_and_calls_nobody() {
    let fake = FakeAdmin::start(AdminCredentials::example()).await;
    let dir = work_dir();
    let ran = register(&dir, &operator_env(&fake), &[]).await;
    assert_eq!(ran.code, Some(1), "{}", ran.all());
    assert!(ran.stderr.contains("no URL to register: give --stack-outputs FILE or --stack NAME"), "{}", ran.stderr);
    assert!(fake.requests().is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_smooch_webhooks_secret_is_put_in_the_stacks_secret_beside_the_others_and_a_second_run_changes_nothing() {
    let fake = FakeAdmin::start(AdminCredentials::example()).await;
    let dir = work_dir();
    let name = format!("connector-prod-{}/secrets", std::process::id());
    let created = secrets_manager("CreateSecret", json!({"Name": name, "SecretString": r#"{"INBENTA_API_SECRET":"kept"}"#})).await;
    let arn = created["ARN"].as_str().expect("an ARN").to_owned();
    let mut outputs = every_output();
    outputs.push(("SecretsId", arn.clone()));
    let outputs = stack_outputs(&dir, &outputs);
    let mut env = only(&operator_env(&fake), &["SMOOCH_"]);
    let endpoint = std::env::var("AWS_ENDPOINT_URL_SECRETS_MANAGER").unwrap();
    for (k, v) in [
        ("AWS_ENDPOINT_URL_SECRETS_MANAGER", endpoint.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
    ] {
        env.push((k.to_owned(), v.to_owned()));
    }

    let ran = register(&dir, &env, &["--stack-outputs", outputs.to_str().unwrap()]).await;
    assert_eq!(ran.code, Some(0), "{}", ran.all());
    let secret = fake.smooch_webhooks()[0].1["secret"].as_str().unwrap().to_owned();
    let stored = secrets_manager("GetSecretValue", json!({"SecretId": arn})).await;
    let stored: Value = serde_json::from_str(stored["SecretString"].as_str().unwrap()).unwrap();
    assert_eq!(stored, json!({"INBENTA_API_SECRET": "kept", "SMOOCH_WEBHOOK_SECRET": secret}), "put beside the others");
    assert!(!dir.join("smooch-webhook-secret").exists(), "no file when the stack's secret takes it");
    assert_no_secret(&fake, &ran);

    let requests_before = fake.requests().len();
    let again = register(&dir, &env, &["--stack-outputs", outputs.to_str().unwrap()]).await;
    assert_eq!(again.code, Some(0), "{}", again.all());
    assert!(again.stdout.contains("already holds the webhook's secret"), "{}", again.stdout);
    assert!(again.stdout.contains("Nothing changed"), "{}", again.stdout);
    let second: Vec<String> = fake.requests()[requests_before..].iter().map(|r| format!("{} {}", r.method, r.path)).collect();
    assert!(second.iter().all(|r| r.starts_with("GET ")), "the second run only reads: {second:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
