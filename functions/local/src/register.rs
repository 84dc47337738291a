//! `connector-local register`: registers the deployed webhook URLs with each provider, with the
//! operator's own credentials, reading before writing so that a second run changes nothing.
//!
//! Request by request (`--dry-run` prints them and sends none):
//!
//! * **Twilio, SMS number** (`TWILIO_PHONE_NUMBER`): `GET /2010-04-01/Accounts/{sid}/
//!   IncomingPhoneNumbers.json?PhoneNumber=`, then, when its `sms_url`/`sms_method` differ,
//!   `POST …/IncomingPhoneNumbers/{PN sid}.json` with `SmsUrl` and `SmsMethod=POST`
//!   (`twilio_api_v2010.json` of twilio/twilio-oai). The number's `StatusCallback` is left alone:
//!   it is the status callback of voice calls; message statuses come to `/twilio/status` because
//!   every message the function sends names it (`TWILIO_STATUS_CALLBACK_URL`).
//! * **Twilio, WhatsApp sender** (`TWILIO_WHATSAPP_NUMBER`): `GET /v2/Channels/Senders?Channel=
//!   whatsapp` of the Messaging API, then `POST /v2/Channels/Senders/{XE sid}` with
//!   `webhook.callback_url` (`twilio_messaging_v2.json`). The sandbox and senders the API does
//!   not list are set in the Console: the steps are printed.
//! * **Smooch / Sunshine Conversations v2**: the app's custom integrations
//!   (`GET /v2/apps/{app}/integrations?filter[types]=custom`) and their webhooks
//!   (`GET …/integrations/{id}/webhooks`); a webhook to the URL missing a trigger is completed
//!   (`PATCH …/webhooks/{id}`), none is created (`POST /v2/apps/{app}/integrations`, type
//!   `custom`, or `POST …/integrations/{id}/webhooks` of a given integration). Its secret is
//!   written to a file only the operator can read, and the deploy command that hands it to the
//!   function is printed (`openapi.yaml` of zendesk/sunshine-conversations-api-spec).
//! * **Messenger**: the app's webhook (`GET`, then `POST /{app-id}/subscriptions` with
//!   `object=page`, `callback_url`, `verify_token`, `fields`, app access token) and the page's
//!   subscription (`GET`, then `POST /{page-id}/subscribed_apps` with `subscribed_fields`, page
//!   token), as Meta's Graph reference documents them.
//! * **HyperChat**: its webhook is registered in Backstage (the body of HyperChat's `/webhooks`
//!   API is documented nowhere we know of): what to enter is printed and, with the app's
//!   credentials, `GET /v1/webhooks` says whether it is already there.
//!
//! Nothing secret is printed: tokens in URLs and bodies show as `***`, and every known secret
//! is masked in whatever is printed, a provider's error message included.

mod hyperchat;
mod messenger;
mod request;
mod smooch;
mod twilio;

use crate::Error;
use connector_config::{Config, Sources};
use request::*;
use secrecy::ExposeSecret as _;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// What the Smooch function understands of v2 (README, "Smooch").
const SMOOCH_TRIGGERS: &[&str] = &["conversation:message", "conversation:postback"];
/// What the Messenger function reads: messages (quick-reply taps and stickers included) and
/// postbacks; echoes, deliveries and reads would only be ignored.
const MESSENGER_FIELDS: &[&str] = &["messages", "messaging_postbacks"];
/// The events README "Live agents" asks HyperChat's webhook to send.
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
/// The name of the custom integration `register` creates in the Smooch app.
const SMOOCH_INTEGRATION_NAME: &str = "Inbenta chatbot connector";
/// Twilio's Messaging API (WhatsApp senders); `TWILIO_MESSAGING_API_URL` moves it.
const MESSAGING_API_URL: &str = "https://messaging.twilio.com";
/// Query parameters and body fields whose value is never printed.
const SECRET_FIELDS: &[&str] = &["access_token", "verify_token", "secret"];
/// Per request.
const TIMEOUT: Duration = Duration::from_secs(20);

/// Registers the deployed URLs in Twilio, Smooch, Messenger and HyperChat.
#[derive(clap::Args, Debug)]
#[command(after_help = AFTER_HELP)]
pub struct RegisterOptions {
    /// The stack's outputs: what `aws cloudformation describe-stacks --stack-name NAME` prints (JSON).
    #[arg(long, value_name = "FILE")]
    stack_outputs: Option<PathBuf>,
    /// The stack's name: its outputs are read with `aws cloudformation describe-stacks` (the AWS CLI, configured).
    #[arg(long, value_name = "NAME", conflicts_with = "stack_outputs")]
    stack: Option<String>,
    /// Twilio's webhook URL [default: the TwilioWebhookUrl output].
    #[arg(long, value_name = "URL")]
    twilio_url: Option<String>,
    /// Smooch's webhook URL [default: the SmoochWebhookUrl output, else HttpApiUrl + smooch].
    #[arg(long, value_name = "URL")]
    smooch_url: Option<String>,
    /// Messenger's callback URL [default: the MessengerWebhookUrl output].
    #[arg(long, value_name = "URL")]
    messenger_url: Option<String>,
    /// HyperChat's webhook URL [default: the HyperChatWebhookUrl output].
    #[arg(long, value_name = "URL")]
    hyperchat_url: Option<String>,
    /// The Twilio number (E.164) whose SMS go to the connector [env: TWILIO_PHONE_NUMBER].
    #[arg(long, value_name = "E164")]
    twilio_number: Option<String>,
    /// A WhatsApp sender's number (E.164), set through Twilio's Senders API [env: TWILIO_WHATSAPP_NUMBER].
    #[arg(long, value_name = "E164")]
    whatsapp_number: Option<String>,
    /// A custom integration of the Smooch app to hold the webhook [env: SMOOCH_INTEGRATION_ID; default: one of its own].
    #[arg(long, value_name = "ID")]
    smooch_integration: Option<String>,
    /// The Meta app's id [env: MESSENGER_APP_ID].
    #[arg(long, value_name = "ID")]
    messenger_app_id: Option<String>,
    /// The Facebook page [env: MESSENGER_PAGE_ID; default: the page of MESSENGER_PAGE_TOKEN].
    #[arg(long, value_name = "ID")]
    messenger_page_id: Option<String>,
    /// Where the Smooch webhook's secret is written (readable by you only) for the deploy command.
    #[arg(long, value_name = "FILE", default_value = "smooch-webhook-secret")]
    secret_file: PathBuf,
    /// Print each request it would make (secrets as ***) and make none.
    #[arg(long)]
    dry_run: bool,
}

const AFTER_HELP: &str = "\
Credentials come from the environment, as for the functions:
  Twilio     TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN (+ TWILIO_PHONE_NUMBER and/or TWILIO_WHATSAPP_NUMBER)
  Smooch     SMOOCH_APP_ID, SMOOCH_KEY_ID, SMOOCH_SECRET (an app key)
  Messenger  MESSENGER_APP_ID, MESSENGER_PAGE_TOKEN, MESSENGER_VERIFY_TOKEN, and MESSENGER_APP_TOKEN
             or MESSENGER_APP_SECRET (the app access token is then APP_ID|APP_SECRET)
  HyperChat  HYPERCHAT_APP_ID, HYPERCHAT_SECRET (optional: to check what is registered)
API bases: TWILIO_API_URL, TWILIO_MESSAGING_API_URL, SMOOCH_API_URL, GRAPH_API_URL, HYPERCHAT_API_URL.
A provider without its credentials is skipped. Every run reads first and changes only what differs.";

/// What happened to one registration.
#[derive(Debug)]
enum Outcome {
    Unchanged(String),
    Changed(String),
    /// Dry run: what a first registration would change.
    WouldChange(String),
    /// Not for this command: the operator does it (the steps were printed).
    Manual(String),
    Skipped(String),
    Failed(String),
}

/// The stack, as `describe-stacks` describes it.
#[derive(Debug, Default)]
struct Stack {
    name: Option<String>,
    outputs: BTreeMap<String, String>,
}

/// A URL to register and where it came from.
struct Target {
    url: String,
    from: String,
}

struct Run {
    http: reqwest::Client,
    dry_run: bool,
    /// Every secret value known, longest first; masked in everything printed.
    secrets: Mutex<Vec<String>>,
    report: Mutex<Vec<(String, Outcome)>>,
}

/// Boxed: the options are the largest of `connector-local`'s commands.
pub async fn run(options: Box<RegisterOptions>) -> Result<(), Error> {
    let sources = Sources::from_env();
    let config = Config::load(&sources, &connector_app::env_keys())?;
    let twilio: channel_twilio::TwilioSettings = config.section("twilio")?;
    let smooch: channel_smooch::SmoochSettings = config.section("smooch")?;
    let messenger: channel_messenger::MessengerSettings = config.section("messenger")?;
    let chat: inbenta::hyperchat::HyperChatSettings = config.section("chat.chat")?;
    let var = |name: &str| sources.var(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let pick =
        |flag: &Option<String>, name: &str| flag.clone().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()).or_else(|| var(name));

    let stack = match (&options.stack_outputs, &options.stack) {
        (Some(file), _) => {
            let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read --stack-outputs {}: {e}", file.display()))?;
            Some(parse_stack(&text).map_err(|e| format!("--stack-outputs {}: {e}", file.display()))?)
        }
        (None, Some(name)) => Some(describe_stack(name)?),
        (None, None) => None,
    };

    let run = Run {
        http: upstream::http_client_builder().timeout(TIMEOUT).build()?,
        dry_run: options.dry_run,
        secrets: Mutex::new(Vec::new()),
        report: Mutex::new(Vec::new()),
    };
    run.add_secrets(
        [
            twilio.credentials.auth_token.expose_secret(),
            smooch.secret.as_ref().map_or("", |s| s.expose_secret()),
            smooch.webhook_secret.as_ref().map_or("", |s| s.expose_secret()),
            messenger.app_secret.expose_secret(),
            messenger.page_token.expose_secret(),
            messenger.verify_token.expose_secret(),
            chat.secret.expose_secret(),
        ]
        .into_iter()
        .map(str::to_owned)
        .chain(["MESSENGER_APP_TOKEN", "HYPERCHAT_WEBHOOK_SECRET", "INBENTA_API_SECRET"].into_iter().filter_map(&var)),
    );

    if run.dry_run {
        run.say("Dry run: every request is printed (secrets as ***) and none is made. A real run reads first");
        run.say("and writes only what differs; the writes below are those of a first registration.");
    }
    if let Some(stack) = &stack {
        let name = stack.name.as_deref().unwrap_or("(unnamed)");
        run.say(&format!("Stack {name}: {} outputs", stack.outputs.len()));
    }
    let targets = [
        ("Twilio", options.twilio_url.as_ref(), "--twilio-url", "TwilioWebhookUrl"),
        ("Smooch", options.smooch_url.as_ref(), "--smooch-url", "SmoochWebhookUrl"),
        ("Messenger", options.messenger_url.as_ref(), "--messenger-url", "MessengerWebhookUrl"),
        ("HyperChat", options.hyperchat_url.as_ref(), "--hyperchat-url", "HyperChatWebhookUrl"),
    ]
    .map(|(name, flag, flag_name, output)| (name, target(flag, flag_name, stack.as_ref(), output, name)));
    for (name, target) in &targets {
        if let Some(Err(problem)) = target {
            return Err(format!("{name}: {problem}").into());
        }
    }
    let [twilio_target, smooch_target, messenger_target, hyperchat_target] = targets.map(|(_, t)| t.and_then(Result::ok));
    if [&twilio_target, &smooch_target, &messenger_target, &hyperchat_target].iter().all(|t| t.is_none()) {
        return Err("no URL to register: give --stack-outputs FILE or --stack NAME, or the URLs (--twilio-url, --smooch-url, --messenger-url, --hyperchat-url)".into());
    }

    // Twilio
    if let Some(target) = &twilio_target {
        run.heading("Twilio", target);
        let sid = twilio.credentials.sid.trim().to_owned();
        let token = twilio.credentials.auth_token.expose_secret().to_owned();
        if sid.is_empty() || token.is_empty() {
            run.record("Twilio", Outcome::Skipped("set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN".into()));
        } else {
            let api = trim_base(&twilio.api_url);
            let messaging = var("TWILIO_MESSAGING_API_URL").map_or_else(|| MESSAGING_API_URL.to_owned(), |u| trim_base(&u));
            let number = pick(&options.twilio_number, "TWILIO_PHONE_NUMBER");
            let whatsapp = pick(&options.whatsapp_number, "TWILIO_WHATSAPP_NUMBER");
            if number.is_none() && whatsapp.is_none() {
                run.record(
                    "Twilio",
                    Outcome::Skipped(
                        "no number: set TWILIO_PHONE_NUMBER (SMS) or TWILIO_WHATSAPP_NUMBER, or pass --twilio-number / --whatsapp-number"
                            .into(),
                    ),
                );
            }
            if let Some(number) = number {
                let outcome = run.twilio_number(&api, &sid, &token, &number, &target.url).await;
                run.record(&format!("Twilio SMS {number}"), outcome);
            }
            match whatsapp {
                Some(number) => {
                    let outcome = run.twilio_whatsapp(&messaging, &sid, &token, &number, &target.url).await;
                    run.record(&format!("Twilio WhatsApp {number}"), outcome);
                }
                None => run.say(&format!(
                    "  WhatsApp: for a sender, set TWILIO_WHATSAPP_NUMBER (or --whatsapp-number); the sandbox is set in the Console only:\n    Messaging > Try it out > Send a WhatsApp message > Sandbox settings > \"When a message comes in\" = {} (POST)",
                    target.url
                )),
            }
            run.say(&format!(
                "  Message statuses: every message the function sends names its StatusCallback ({}/status, TWILIO_STATUS_CALLBACK_URL); nothing to set. The number's own StatusCallback is for voice calls and is left alone.",
                target.url.trim_end_matches('/')
            ));
        }
    }

    // Smooch
    if let Some(target) = &smooch_target {
        run.heading("Smooch", target);
        let app = var("SMOOCH_APP_ID");
        let key = Some(smooch.key_id.trim().to_owned()).filter(|k| !k.is_empty());
        let secret = smooch.secret.as_ref().map(|s| s.expose_secret().to_owned()).filter(|s| !s.is_empty());
        match (app, key, secret) {
            (Some(app), Some(key), Some(secret)) => {
                let integration = pick(&options.smooch_integration, "SMOOCH_INTEGRATION_ID");
                let base = format!("{}/v2/apps/{app}", trim_base(&smooch.api_url));
                let (outcome, webhook_secret) = run.smooch(&base, &key, &secret, integration.as_deref(), &target.url).await;
                run.record("Smooch webhook", outcome);
                let secrets_id = stack.as_ref().and_then(|s| s.outputs.get("SecretsId")).cloned();
                if let Some(webhook_secret) = webhook_secret {
                    let outcome = match &secrets_id {
                        Some(id) => run.put_smooch_secret(&webhook_secret, id).await,
                        None => run.store_smooch_secret(&webhook_secret, &options.secret_file, var("SMOOCH_WEBHOOK_SECRET").as_deref()),
                    };
                    run.record("Smooch secret", outcome);
                } else if run.dry_run {
                    match &secrets_id {
                        Some(id) => run.say(&format!("  would put the webhook's secret in {id} as SMOOCH_WEBHOOK_SECRET")),
                        None => run.say(&format!(
                            "  would write the webhook's secret to {} (readable by you only)",
                            options.secret_file.display()
                        )),
                    }
                }
            }
            _ => {
                run.record("Smooch", Outcome::Skipped("set SMOOCH_APP_ID, SMOOCH_KEY_ID and SMOOCH_SECRET (an API key of the app)".into()))
            }
        }
    }

    // Messenger
    if let Some(target) = &messenger_target {
        run.heading("Messenger", target);
        let app_id = pick(&options.messenger_app_id, "MESSENGER_APP_ID");
        let page_token = Some(messenger.page_token.expose_secret().to_owned()).filter(|t| !t.is_empty());
        let verify_token = Some(messenger.verify_token.expose_secret().to_owned()).filter(|t| !t.is_empty());
        let app_secret = Some(messenger.app_secret.expose_secret().to_owned()).filter(|t| !t.is_empty());
        let app_token = var("MESSENGER_APP_TOKEN").or_else(|| Some(format!("{}|{}", app_id.clone()?, app_secret?)));
        match (app_id, page_token, verify_token, app_token) {
            (Some(app_id), Some(page_token), Some(verify_token), Some(app_token)) => {
                run.add_secrets([app_token.clone()]);
                let graph = format!("{}/{}", trim_base(&messenger.graph_api_url), messenger.graph_version.trim());
                let page = pick(&options.messenger_page_id, "MESSENGER_PAGE_ID").unwrap_or_else(|| "me".to_owned());
                let outcome = run.messenger_app(&graph, &app_id, &app_token, &verify_token, &target.url).await;
                let app_failed = matches!(outcome, Outcome::Failed(_));
                run.record("Messenger app webhook", outcome);
                if app_failed {
                    run.record("Messenger page", Outcome::Skipped("the app's webhook is not registered".into()));
                } else {
                    let outcome = run.messenger_page(&graph, &page, &app_id, &page_token).await;
                    run.record("Messenger page", outcome);
                }
            }
            _ => run.record(
                "Messenger",
                Outcome::Skipped(
                    "set MESSENGER_APP_ID, MESSENGER_PAGE_TOKEN, MESSENGER_VERIFY_TOKEN and MESSENGER_APP_SECRET (or MESSENGER_APP_TOKEN)"
                        .into(),
                ),
            ),
        }
    }

    // HyperChat
    if let Some(target) = &hyperchat_target {
        run.heading("HyperChat", target);
        let credentials = Some(chat.app_id.trim().to_owned())
            .filter(|a| !a.is_empty())
            .zip(Some(chat.secret.expose_secret().to_owned()).filter(|s| !s.is_empty()));
        let outcome = run.hyperchat(chat.base_url(), credentials, &target.url).await;
        run.record("HyperChat", outcome);
    }

    run.summary()
}

/// The URL of one provider: the flag, else the stack's output (Smooch: else the API's base URL
/// with `smooch`, the route the stack serves once the Smooch secret is set).
fn target(flag: Option<&String>, flag_name: &str, stack: Option<&Stack>, output: &str, provider: &str) -> Option<Result<Target, String>> {
    let (url, from) = if let Some(url) = flag {
        (url.trim().to_owned(), flag_name.to_owned())
    } else if let Some(url) = stack.and_then(|s| s.outputs.get(output)) {
        (url.trim().to_owned(), format!("the {output} output"))
    } else if let Some(base) = stack.and_then(|s| s.outputs.get("HttpApiUrl")).filter(|_| provider == "Smooch") {
        (
            format!("{}/smooch", base.trim().trim_end_matches('/')),
            "HttpApiUrl + smooch: the stack has no Smooch function yet; it serves this URL once deployed with DeploySmooch=yes".to_owned(),
        )
    } else {
        return None;
    };
    Some(if url.starts_with("https://") || url.starts_with("http://") {
        Ok(Target { url, from })
    } else {
        Err(format!("{url:?} ({from}) is no http(s) URL"))
    })
}

fn trim_base(url: &str) -> String {
    url.trim().trim_end_matches('/').to_owned()
}

/// `describe-stacks` output (`{"Stacks":[{...}]}`), one stack (`{"Outputs":[...]}`) or its
/// outputs alone (`[{"OutputKey":..,"OutputValue":..}]`).
fn parse_stack(text: &str) -> Result<Stack, String> {
    let json: Value = serde_json::from_str(text).map_err(|e| format!("not JSON ({e})"))?;
    let stack = match &json {
        Value::Object(object) if object.contains_key("Stacks") => {
            let stacks = json["Stacks"].as_array().filter(|s| !s.is_empty()).ok_or("\"Stacks\" is empty")?;
            if stacks.len() > 1 {
                return Err(format!("{} stacks: describe one (--stack-name)", stacks.len()));
            }
            &stacks[0]
        }
        _ => &json,
    };
    let outputs = if stack.is_array() { stack } else { &stack["Outputs"] };
    let outputs = outputs.as_array().ok_or("no \"Outputs\": is the stack deployed?")?;
    let outputs =
        outputs.iter().filter_map(|o| Some((o["OutputKey"].as_str()?.to_owned(), o["OutputValue"].as_str()?.to_owned()))).collect();
    Ok(Stack { name: stack["StackName"].as_str().map(str::to_owned), outputs })
}

/// `aws cloudformation describe-stacks --stack-name NAME`, with the operator's AWS CLI set-up.
fn describe_stack(name: &str) -> Result<Stack, Error> {
    let output = std::process::Command::new("aws")
        .args(["cloudformation", "describe-stacks", "--stack-name", name, "--output", "json"])
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| {
            format!(
                "cannot run the AWS CLI ({e}): install it (pip install awscli) or run `aws cloudformation describe-stacks --stack-name {name} > outputs.json` where it is, and pass --stack-outputs outputs.json"
            )
        })?;
    if !output.status.success() {
        return Err(format!(
            "aws cloudformation describe-stacks --stack-name {name} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )
        .into());
    }
    Ok(parse_stack(&String::from_utf8_lossy(&output.stdout)).map_err(|e| format!("aws cloudformation describe-stacks: {e}"))?)
}

/// A string field, or "".
fn text(value: &Value) -> &str {
    value.as_str().unwrap_or_default()
}

/// The strings of an array field.
fn strings(value: &Value) -> Vec<String> {
    value.as_array().map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect()).unwrap_or_default()
}

/// `have` plus whatever of `want` it lacks, in that order.
fn union(have: &[String], want: &[&str]) -> Vec<String> {
    let mut all = have.to_vec();
    all.extend(want.iter().filter(|w| !have.iter().any(|h| h == *w)).map(|w| (*w).to_owned()));
    all
}

fn missing(have: &[String], want: &[&str]) -> Vec<String> {
    want.iter().filter(|w| !have.iter().any(|h| h == *w)).map(|w| (*w).to_owned()).collect()
}

impl Run {
    fn add_secrets(&self, secrets: impl IntoIterator<Item = String>) {
        let mut known = lock(&self.secrets);
        for secret in secrets {
            // Shorter values would mask ordinary words; the providers' secrets are far longer.
            if secret.len() < 6 {
                continue;
            }
            for form in [encode(&secret), secret] {
                if !known.contains(&form) {
                    known.push(form);
                }
            }
        }
        // Longest first: a secret that contains another is masked whole.
        known.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }

    fn mask(&self, text: &str) -> String {
        let mut masked = text.to_owned();
        for secret in lock(&self.secrets).iter() {
            masked = masked.replace(secret.as_str(), "***");
        }
        masked
    }

    fn say(&self, text: &str) {
        println!("{}", self.mask(text));
    }

    fn heading(&self, provider: &str, target: &Target) {
        self.say(&format!("\n{provider}: {} ({})", target.url, target.from));
    }

    fn record(&self, what: &str, outcome: Outcome) {
        let line = match &outcome {
            Outcome::Unchanged(detail) => format!("  unchanged: {detail}"),
            Outcome::Changed(detail) => format!("  changed: {detail}"),
            Outcome::WouldChange(detail) => format!("  would change: {detail}"),
            Outcome::Manual(detail) => format!("  to do by hand: {detail}"),
            Outcome::Skipped(detail) => format!("  skipped: {detail}"),
            Outcome::Failed(detail) => format!("  FAILED: {detail}"),
        };
        self.say(&line);
        lock(&self.report).push((what.to_owned(), outcome));
    }

    fn summary(&self) -> Result<(), Error> {
        let report = lock(&self.report);
        self.say("\nSummary");
        for (what, outcome) in report.iter() {
            let kind = match outcome {
                Outcome::Unchanged(_) => "unchanged",
                Outcome::Changed(_) => "changed",
                Outcome::WouldChange(_) => "would change",
                Outcome::Manual(_) => "to do by hand",
                Outcome::Skipped(_) => "skipped",
                Outcome::Failed(_) => "FAILED",
            };
            self.say(&format!("  {what}: {kind}"));
        }
        let failed: Vec<&str> = report.iter().filter(|(_, o)| matches!(o, Outcome::Failed(_))).map(|(w, _)| w.as_str()).collect();
        let changed = report.iter().filter(|(_, o)| matches!(o, Outcome::Changed(_))).count();
        if self.dry_run {
            self.say("Dry run: no request was made.");
        } else if changed == 0 && failed.is_empty() {
            self.say("Nothing changed: everything this command registers was already in place.");
        } else {
            self.say(&format!("{changed} change(s) made."));
        }
        if failed.is_empty() { Ok(()) } else { Err(format!("registration failed: {} (see above)", failed.join(", ")).into()) }
    }
}

fn outcome_text(outcome: &Outcome) -> &str {
    match outcome {
        Outcome::Unchanged(t)
        | Outcome::Changed(t)
        | Outcome::WouldChange(t)
        | Outcome::Manual(t)
        | Outcome::Skipped(t)
        | Outcome::Failed(t) => t,
    }
}

/// Locks a mutex, ignoring poisoning (nothing here panics while holding one).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests;
