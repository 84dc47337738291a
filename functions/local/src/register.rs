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

use crate::Error;
use connector_config::{Config, Sources};
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Provider {
    Twilio,
    Smooch,
    Graph,
    HyperChat,
}

enum Body {
    Empty,
    Form(Vec<(String, String)>),
    Json(Value),
}

enum Auth {
    None,
    Basic(String, String),
    Headers(Vec<(&'static str, String)>),
}

struct Request {
    provider: Provider,
    method: reqwest::Method,
    url: String,
    query: Vec<(String, String)>,
    body: Body,
    auth: Auth,
}

impl Request {
    fn new(provider: Provider, method: reqwest::Method, url: String) -> Self {
        Self { provider, method, url, query: Vec::new(), body: Body::Empty, auth: Auth::None }
    }

    fn query(mut self, name: &str, value: &str) -> Self {
        self.query.push((name.to_owned(), value.to_owned()));
        self
    }

    fn form(mut self, pairs: &[(&str, &str)]) -> Self {
        self.body = Body::Form(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect());
        self
    }

    fn json(mut self, body: Value) -> Self {
        self.body = Body::Json(body);
        self
    }

    fn basic(mut self, user: &str, password: &str) -> Self {
        self.auth = Auth::Basic(user.to_owned(), password.to_owned());
        self
    }

    fn headers(mut self, headers: Vec<(&'static str, String)>) -> Self {
        self.auth = Auth::Headers(headers);
        self
    }
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

fn encode(value: &str) -> String {
    serde_urlencoded::to_string([("", value)]).unwrap_or_default().trim_start_matches('=').to_owned()
}

/// A provider's error, as its error body names it.
fn provider_error(provider: Provider, body: &Value) -> String {
    let described = match provider {
        Provider::Twilio => body["code"].as_i64().map(|code| format!("Twilio error {code}: {}", text(&body["message"]))),
        Provider::Smooch => {
            body["errors"][0]["code"].as_str().map(|code| format!("Smooch error {code}: {}", text(&body["errors"][0]["title"])))
        }
        Provider::Graph => body["error"]["code"].as_i64().map(|code| {
            let subcode = body["error"]["error_subcode"].as_i64().map(|s| format!("/{s}")).unwrap_or_default();
            let trace = body["error"]["fbtrace_id"].as_str().map(|t| format!(" (fbtrace_id {t})")).unwrap_or_default();
            format!("Graph error {code}{subcode}: {}{trace}", text(&body["error"]["message"]))
        }),
        Provider::HyperChat => {
            body["error"]["code"].as_i64().map(|code| format!("HyperChat error {code}: {}", text(&body["error"]["message"])))
        }
    };
    described.unwrap_or_else(|| "no error code in the answer".to_owned())
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

    /// The URL as printed: secret query values as `***`.
    fn shown_url(request: &Request) -> String {
        if request.query.is_empty() {
            return request.url.clone();
        }
        let query: Vec<String> = request
            .query
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), if SECRET_FIELDS.contains(&k.as_str()) { "***".to_owned() } else { encode(v) }))
            .collect();
        format!("{}?{}", request.url, query.join("&"))
    }

    fn shown_body(body: &Body) -> Option<String> {
        fn hide(value: &Value) -> Value {
            match value {
                Value::Object(object) => Value::Object(
                    object
                        .iter()
                        .map(|(k, v)| (k.clone(), if SECRET_FIELDS.contains(&k.as_str()) { json!("***") } else { hide(v) }))
                        .collect(),
                ),
                Value::Array(items) => Value::Array(items.iter().map(hide).collect()),
                other => other.clone(),
            }
        }
        match body {
            Body::Empty => None,
            Body::Form(pairs) => Some(
                pairs
                    .iter()
                    .map(|(k, v)| {
                        format!("{}={}", encode(k), if SECRET_FIELDS.contains(&k.as_str()) { "***".to_owned() } else { encode(v) })
                    })
                    .collect::<Vec<_>>()
                    .join("&"),
            ),
            Body::Json(value) => Some(hide(value).to_string()),
        }
    }

    /// Prints the request and, unless this is a dry run, makes it: `Ok(None)` in a dry run, the
    /// answer's JSON on success, the provider's error (code included) otherwise.
    async fn send(&self, request: Request) -> Result<Option<Value>, String> {
        let shown = format!("{} {}", request.method, Self::shown_url(&request));
        let body = Self::shown_body(&request.body);
        let print = |answer: &str| {
            self.say(&format!("  {shown}{answer}"));
            if let Some(body) = &body {
                self.say(&format!("      {body}"));
            }
        };
        if self.dry_run {
            print("");
            return Ok(None);
        }
        let url = match serde_urlencoded::to_string(&request.query) {
            Ok(query) if !query.is_empty() => format!("{}?{query}", request.url),
            _ => request.url.clone(),
        };
        let mut builder = self.http.request(request.method.clone(), url).header("accept", "application/json");
        builder = match &request.auth {
            Auth::None => builder,
            Auth::Basic(user, password) => builder.basic_auth(user, Some(password)),
            Auth::Headers(headers) => headers.iter().fold(builder, |b, (name, value)| b.header(*name, value)),
        };
        builder = match &request.body {
            Body::Empty => builder,
            Body::Form(pairs) => builder.form(pairs),
            Body::Json(value) => builder.json(value),
        };
        let provider = request.provider;
        let answer = match builder.send().await {
            Ok(answer) => answer,
            Err(error) => {
                print(" -> no answer");
                let error = connector_engine::error_chain(&error.without_url());
                return Err(format!("{shown}: no answer from {provider:?} ({error})"));
            }
        };
        let status = answer.status();
        let text = answer.text().await.unwrap_or_default();
        print(&format!(" -> {}", status.as_u16()));
        let json: Value = if text.trim().is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::Null) };
        if status.is_success() {
            Ok(Some(json))
        } else {
            Err(format!("{shown} answered {}: {}", status.as_u16(), provider_error(provider, &json)))
        }
    }

    async fn twilio_number(&self, api: &str, sid: &str, token: &str, number: &str, url: &str) -> Outcome {
        let base = format!("{api}/2010-04-01/Accounts/{sid}/IncomingPhoneNumbers");
        let listed =
            Request::new(Provider::Twilio, reqwest::Method::GET, format!("{base}.json")).query("PhoneNumber", number).basic(sid, token);
        let number_sid = match self.send(listed).await {
            Err(error) => return Outcome::Failed(error),
            Ok(None) => format!("{{sid of {number}}}"),
            Ok(Some(list)) => {
                let numbers = list["incoming_phone_numbers"].as_array().cloned().unwrap_or_default();
                let Some(found) = numbers.iter().find(|n| text(&n["phone_number"]) == number) else {
                    return Outcome::Failed(format!("{number} is no phone number of account {sid} (Twilio lists none)"));
                };
                if let Some(handler) = found["sms_application_sid"].as_str().filter(|s| !s.is_empty()) {
                    return Outcome::Failed(format!(
                        "{number}'s messages are handled by {handler}, which overrides the number's SmsUrl: set {url} (POST) there, or take the number out of it in the Console (Phone Numbers > {number} > Messaging)"
                    ));
                }
                let method = found["sms_method"].as_str().unwrap_or("POST");
                if text(&found["sms_url"]) == url && method.eq_ignore_ascii_case("POST") {
                    return Outcome::Unchanged(format!("\"A message comes in\" is already {url} (POST)"));
                }
                let before = match text(&found["sms_url"]) {
                    "" => "nothing".to_owned(),
                    other => format!("{other} ({method})"),
                };
                self.say(&format!("  {number} ({}): \"A message comes in\" was {before}", text(&found["sid"])));
                text(&found["sid"]).to_owned()
            }
        };
        let update = Request::new(Provider::Twilio, reqwest::Method::POST, format!("{base}/{number_sid}.json"))
            .form(&[("SmsUrl", url), ("SmsMethod", "POST")])
            .basic(sid, token);
        match self.send(update).await {
            Err(error) => Outcome::Failed(error),
            Ok(None) => Outcome::WouldChange(format!("{number}: SmsUrl = {url}, SmsMethod = POST")),
            Ok(Some(number_now)) if text(&number_now["sms_url"]) == url => {
                Outcome::Changed(format!("{number}: \"A message comes in\" = {url} (POST)"))
            }
            Ok(Some(number_now)) => {
                Outcome::Failed(format!("Twilio took the update but the number's sms_url is {:?}", text(&number_now["sms_url"])))
            }
        }
    }

    async fn twilio_whatsapp(&self, api: &str, sid: &str, token: &str, number: &str, url: &str) -> Outcome {
        let sender_id = if number.starts_with("whatsapp:") { number.to_owned() } else { format!("whatsapp:{number}") };
        let console = format!(
            "in the Console, Messaging > Senders > WhatsApp senders > {sender_id} > \"Webhook URL for incoming messages\" = {url} (POST); for the sandbox, Messaging > Try it out > Send a WhatsApp message > Sandbox settings > \"When a message comes in\" = {url} (POST)"
        );
        let listed = Request::new(Provider::Twilio, reqwest::Method::GET, format!("{api}/v2/Channels/Senders"))
            .query("Channel", "whatsapp")
            .query("PageSize", "1000")
            .basic(sid, token);
        let sender_sid = match self.send(listed).await {
            Err(error) => return Outcome::Failed(format!("{error}; or set it {console}")),
            Ok(None) => format!("{{sid of {sender_id}}}"),
            Ok(Some(list)) => {
                let senders = list["senders"].as_array().cloned().unwrap_or_default();
                let Some(found) = senders.iter().find(|s| text(&s["sender_id"]) == sender_id) else {
                    return Outcome::Manual(format!("{sender_id} is no sender in Twilio's Senders API: set it {console}"));
                };
                let method = found["webhook"]["callback_method"].as_str().unwrap_or("POST");
                if text(&found["webhook"]["callback_url"]) == url && method.eq_ignore_ascii_case("POST") {
                    return Outcome::Unchanged(format!("{sender_id}'s webhook is already {url} (POST)"));
                }
                text(&found["sid"]).to_owned()
            }
        };
        let update = Request::new(Provider::Twilio, reqwest::Method::POST, format!("{api}/v2/Channels/Senders/{sender_sid}"))
            .json(json!({"webhook": {"callback_url": url, "callback_method": "POST"}}))
            .basic(sid, token);
        match self.send(update).await {
            Err(error) => Outcome::Failed(error),
            Ok(None) => Outcome::WouldChange(format!("{sender_id}: webhook.callback_url = {url} (POST)")),
            Ok(Some(sender)) if text(&sender["webhook"]["callback_url"]) == url => {
                Outcome::Changed(format!("{sender_id}: webhook = {url} (POST)"))
            }
            Ok(Some(sender)) => Outcome::Failed(format!(
                "Twilio took the update but the sender's callback_url is {:?}",
                text(&sender["webhook"]["callback_url"])
            )),
        }
    }

    /// The webhook (integration id, webhook) of `integration`, or of the app's custom
    /// integrations, whose target is `url`.
    async fn find_smooch_webhook(
        &self,
        base: &str,
        key: &str,
        secret: &str,
        integration: Option<&str>,
        url: &str,
    ) -> Result<Option<(String, Value)>, String> {
        let integrations = match integration {
            Some(id) => vec![id.to_owned()],
            None => {
                let mut ids = Vec::new();
                let mut after: Option<String> = None;
                loop {
                    let mut listed = Request::new(Provider::Smooch, reqwest::Method::GET, format!("{base}/integrations"))
                        .query("filter[types]", "custom")
                        .basic(key, secret);
                    if let Some(cursor) = &after {
                        listed = listed.query("page[after]", cursor);
                    }
                    let Some(page) = self.send(listed).await? else { break };
                    ids.extend(page["integrations"].as_array().into_iter().flatten().filter_map(|i| i["id"].as_str().map(str::to_owned)));
                    after = page["meta"]["afterCursor"].as_str().filter(|_| page["meta"]["hasMore"] == true).map(str::to_owned);
                    if after.is_none() {
                        break;
                    }
                }
                ids
            }
        };
        for id in integrations {
            let listed =
                Request::new(Provider::Smooch, reqwest::Method::GET, format!("{base}/integrations/{id}/webhooks")).basic(key, secret);
            let Some(webhooks) = self.send(listed).await? else { continue };
            if let Some(found) = webhooks["webhooks"].as_array().into_iter().flatten().find(|w| text(&w["target"]) == url) {
                return Ok(Some((id, found.clone())));
            }
        }
        Ok(None)
    }

    /// The webhook's outcome and its secret.
    async fn smooch(&self, base: &str, key: &str, secret: &str, integration: Option<&str>, url: &str) -> (Outcome, Option<String>) {
        let found = match self.find_smooch_webhook(base, key, secret, integration, url).await {
            Ok(found) => found,
            Err(error) => return (Outcome::Failed(error), None),
        };
        let secret_of = |webhook: &Value| webhook["secret"].as_str().filter(|s| !s.is_empty()).map(str::to_owned);
        if let Some((integration, webhook)) = found {
            let triggers = strings(&webhook["triggers"]);
            let lacking = missing(&triggers, SMOOCH_TRIGGERS);
            let id = text(&webhook["id"]).to_owned();
            if lacking.is_empty() {
                let outcome =
                    Outcome::Unchanged(format!("webhook {id} of integration {integration} targets it with {}", triggers.join(", ")));
                return (outcome, secret_of(&webhook));
            }
            let patch = Request::new(Provider::Smooch, reqwest::Method::PATCH, format!("{base}/integrations/{integration}/webhooks/{id}"))
                .json(json!({"triggers": union(&triggers, SMOOCH_TRIGGERS)}))
                .basic(key, secret);
            return match self.send(patch).await {
                Err(error) => (Outcome::Failed(error), None),
                Ok(None) => (Outcome::WouldChange(format!("webhook {id}: add the triggers {}", lacking.join(", "))), None),
                Ok(Some(answer)) => (
                    Outcome::Changed(format!("webhook {id} of integration {integration}: added the triggers {}", lacking.join(", "))),
                    secret_of(&answer["webhook"]).or_else(|| secret_of(&webhook)),
                ),
            };
        }
        let webhook = json!({"target": url, "triggers": SMOOCH_TRIGGERS});
        let created = match integration {
            Some(integration) => {
                let create = Request::new(Provider::Smooch, reqwest::Method::POST, format!("{base}/integrations/{integration}/webhooks"))
                    .json(webhook)
                    .basic(key, secret);
                self.send(create).await.map(|answer| answer.map(|a| (integration.to_owned(), a["webhook"].clone())))
            }
            None => {
                let create = Request::new(Provider::Smooch, reqwest::Method::POST, format!("{base}/integrations"))
                    .json(json!({"type": "custom", "displayName": SMOOCH_INTEGRATION_NAME, "webhooks": [webhook]}))
                    .basic(key, secret);
                self.send(create)
                    .await
                    .map(|answer| answer.map(|a| (text(&a["integration"]["id"]).to_owned(), a["integration"]["webhooks"][0].clone())))
            }
        };
        match created {
            Err(error) => (Outcome::Failed(error), None),
            Ok(None) => (Outcome::WouldChange(format!("a webhook to {url} with the triggers {}", SMOOCH_TRIGGERS.join(", "))), None),
            Ok(Some((integration, webhook))) => {
                // The spec gives the secret in the creation's answer "or through a GET request
                // to the webhook route": ask for it when the answer left it out.
                let secret_now = match secret_of(&webhook) {
                    Some(found) => Some(found),
                    None => match self.find_smooch_webhook(base, key, secret, Some(&integration), url).await {
                        Ok(found) => found.and_then(|(_, w)| secret_of(&w)),
                        Err(error) => return (Outcome::Failed(format!("created, but its secret could not be read: {error}")), None),
                    },
                };
                let outcome = Outcome::Changed(format!(
                    "created webhook {} in integration {integration} with the triggers {}",
                    text(&webhook["id"]),
                    SMOOCH_TRIGGERS.join(", ")
                ));
                match secret_now {
                    Some(found) => (outcome, Some(found)),
                    None => (Outcome::Failed(format!("{} (no secret in Smooch's answers)", outcome_text(&outcome))), None),
                }
            }
        }
    }

    /// Puts the webhook's secret in the stack's secret (the `SecretsId` output), where the
    /// functions read `SMOOCH_WEBHOOK_SECRET` (at cold start, and when a signature fails).
    async fn put_smooch_secret(&self, secret: &str, secrets_id: &str) -> Outcome {
        self.add_secrets([secret.to_owned()]);
        let source = state_store::secrets::SecretsSource::new(secrets_id).await;
        match source.set("SMOOCH_WEBHOOK_SECRET", &secret.to_owned().into()).await {
            Ok(true) => {
                Outcome::Changed(format!("SMOOCH_WEBHOOK_SECRET put in {secrets_id}: the Smooch function reads it on its next webhook"))
            }
            Ok(false) => Outcome::Unchanged(format!("SMOOCH_WEBHOOK_SECRET in {secrets_id} already holds the webhook's secret")),
            Err(error) => Outcome::Failed(connector_engine::error_chain(&error)),
        }
    }

    /// Without the stack's secret: writes the webhook's secret where the operator can put it,
    /// and prints how.
    fn store_smooch_secret(&self, secret: &str, file: &Path, local: Option<&str>) -> Outcome {
        self.add_secrets([secret.to_owned()]);
        if local == Some(secret) {
            return Outcome::Unchanged("SMOOCH_WEBHOOK_SECRET in this environment already holds the webhook's secret".into());
        }
        let unchanged = std::fs::read_to_string(file).is_ok_and(|current| current.trim() == secret);
        if !unchanged {
            if let Err(error) = write_private(file, secret) {
                return Outcome::Failed(format!("cannot write the webhook's secret to {}: {error}", file.display()));
            }
        }
        let path = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
        self.say(
            "  The functions read it as SMOOCH_WEBHOOK_SECRET from the stack's Secrets Manager secret (the SecretsId output; README, \"Secrets\"): put it there (given the stack's outputs, this command does), then delete the file: a later run reads the secret from Smooch again.",
        );
        let written = format!("the webhook's secret is in {} (readable by you only)", path.display());
        if unchanged { Outcome::Unchanged(written) } else { Outcome::Changed(written) }
    }

    async fn messenger_app(&self, graph: &str, app_id: &str, app_token: &str, verify_token: &str, url: &str) -> Outcome {
        let listed =
            Request::new(Provider::Graph, reqwest::Method::GET, format!("{graph}/{app_id}/subscriptions")).query("access_token", app_token);
        let fields = match self.send(listed).await {
            Err(error) => return Outcome::Failed(error),
            Ok(None) => MESSENGER_FIELDS.iter().map(|f| (*f).to_owned()).collect(),
            Ok(Some(list)) => {
                let page = list["data"].as_array().into_iter().flatten().find(|s| text(&s["object"]) == "page");
                let have: Vec<String> = page
                    .map(|p| p["fields"].as_array().into_iter().flatten().filter_map(|f| f["name"].as_str().map(str::to_owned)).collect())
                    .unwrap_or_default();
                let same_url = page.is_some_and(|p| text(&p["callback_url"]) == url);
                let active = page.is_some_and(|p| p["active"] != false);
                if same_url && active && missing(&have, MESSENGER_FIELDS).is_empty() {
                    return Outcome::Unchanged(format!("app {app_id} sends page events ({}) to {url}", have.join(", ")));
                }
                if let Some(page) = page.filter(|_| !same_url) {
                    self.say(&format!("  app {app_id}'s page webhook was {}", text(&page["callback_url"])));
                }
                union(&have, MESSENGER_FIELDS)
            }
        };
        let fields = fields.join(",");
        let subscribe = Request::new(Provider::Graph, reqwest::Method::POST, format!("{graph}/{app_id}/subscriptions")).form(&[
            ("object", "page"),
            ("callback_url", url),
            ("verify_token", verify_token),
            ("fields", &fields),
            ("access_token", app_token),
        ]);
        match self.send(subscribe).await {
            Err(error) => Outcome::Failed(format!(
                "{error} (Meta checks the callback URL at once with a GET and the verify token: is the Messenger function deployed with this MESSENGER_VERIFY_TOKEN?)"
            )),
            Ok(None) => Outcome::WouldChange(format!("app {app_id}: page events ({fields}) to {url}")),
            Ok(Some(_)) => Outcome::Changed(format!("app {app_id}: page events ({fields}) to {url}")),
        }
    }

    async fn messenger_page(&self, graph: &str, page: &str, app_id: &str, page_token: &str) -> Outcome {
        let listed = Request::new(Provider::Graph, reqwest::Method::GET, format!("{graph}/{page}/subscribed_apps"))
            .query("access_token", page_token);
        let fields = match self.send(listed).await {
            Err(error) => return Outcome::Failed(error),
            Ok(None) => MESSENGER_FIELDS.iter().map(|f| (*f).to_owned()).collect(),
            Ok(Some(list)) => {
                let ours = list["data"].as_array().into_iter().flatten().find(|a| text(&a["id"]) == app_id);
                let have = ours.map(|a| strings(&a["subscribed_fields"])).unwrap_or_default();
                if ours.is_some() && missing(&have, MESSENGER_FIELDS).is_empty() {
                    return Outcome::Unchanged(format!("page {page} is subscribed to app {app_id} for {}", have.join(", ")));
                }
                union(&have, MESSENGER_FIELDS)
            }
        };
        let fields = fields.join(",");
        let subscribe = Request::new(Provider::Graph, reqwest::Method::POST, format!("{graph}/{page}/subscribed_apps"))
            .form(&[("subscribed_fields", &fields), ("access_token", page_token)]);
        match self.send(subscribe).await {
            Err(error) => Outcome::Failed(error),
            Ok(None) => Outcome::WouldChange(format!("page {page}: subscribe app {app_id} to {fields}")),
            Ok(Some(_)) => Outcome::Changed(format!("page {page}: subscribed app {app_id} to {fields}")),
        }
    }

    /// What to enter in Backstage, and, with the app's credentials, whether it is there.
    async fn hyperchat(&self, base: Option<String>, credentials: Option<(String, String)>, url: &str) -> Outcome {
        self.say(&format!(
            "  In Backstage, Messenger > Settings > Chat > Webhooks: add {url} for the events\n    {}\n  HyperChat then calls it once with X-Hook-Secret, which the function stores: do it right after deploying (or preset HyperChatWebhookSecret).\n  Replies to tickets: the same URL as an external ticket source, its secret as InbentaMessengerWebhookSecret (README, \"Live agents\").",
            HYPERCHAT_EVENTS.join(", ")
        ));
        let manual = Outcome::Manual(format!("register {url} in Backstage for the {} events above", HYPERCHAT_EVENTS.len()));
        let (Some(base), Some((app_id, secret))) = (base, credentials) else {
            self.say("  (set HYPERCHAT_APP_ID and HYPERCHAT_SECRET to check what is registered)");
            return manual;
        };
        let listed = Request::new(Provider::HyperChat, reqwest::Method::GET, format!("{}/v1/webhooks", trim_base(&base)))
            .headers(vec![("x-hyper-appid", app_id), ("x-hyper-secret", secret)]);
        match self.send(listed).await {
            Err(error) => Outcome::Failed(format!("{error}; register it in Backstage as above")),
            Ok(None) => manual,
            Ok(Some(list)) => {
                // The answer's shape is documented nowhere we know of: any object naming the URL
                // counts, with whatever event names it holds.
                let mut events = Vec::new();
                let found = collect_registered(&list, url, &mut events);
                let lacking = missing(&events, HYPERCHAT_EVENTS);
                if found && lacking.is_empty() {
                    Outcome::Unchanged(format!("HyperChat lists {url} for all {} events", HYPERCHAT_EVENTS.len()))
                } else if found {
                    Outcome::Manual(format!("HyperChat lists {url}, without the events {}: add them in Backstage", lacking.join(", ")))
                } else {
                    Outcome::Manual(format!("HyperChat lists no webhook to {url}: register it in Backstage as above"))
                }
            }
        }
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

/// Whether any object in `value` has a string equal to `url`; the strings of such objects (at
/// any depth) are added to `events`.
fn collect_registered(value: &Value, url: &str, events: &mut Vec<String>) -> bool {
    fn all_strings(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::String(s) => out.push(s.clone()),
            Value::Array(items) => items.iter().for_each(|v| all_strings(v, out)),
            Value::Object(object) => object.values().for_each(|v| all_strings(v, out)),
            _ => {}
        }
    }
    match value {
        Value::Object(object) if object.values().any(|v| v.as_str() == Some(url)) => {
            all_strings(value, events);
            true
        }
        Value::Object(_) | Value::Array(_) => {
            // Every child is visited, so every registration's events are collected.
            let children: Vec<&Value> = match value {
                Value::Object(object) => object.values().collect(),
                Value::Array(items) => items.iter().collect(),
                _ => Vec::new(),
            };
            let mut found = false;
            for child in children {
                found |= collect_registered(child, url, events);
            }
            found
        }
        _ => false,
    }
}

/// Locks a mutex, ignoring poisoning (nothing here panics while holding one).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Writes `secret` to `file`, readable and writable by its owner only.
fn write_private(file: &Path, secret: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut handle = options.open(file)?;
    // A file that existed keeps its mode through open: make it private before writing.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        handle.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    handle.write_all(secret.as_bytes())?;
    handle.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_stacks_output_a_single_stack_and_a_bare_output_list_all_give_the_outputs() {
        let full = r#"{"Stacks":[{"StackName":"prod","Outputs":[{"OutputKey":"TwilioWebhookUrl","OutputValue":"https://x/twilio"}]}]}"#;
        let stack = parse_stack(full).unwrap();
        assert_eq!(stack.name.as_deref(), Some("prod"));
        assert_eq!(stack.outputs["TwilioWebhookUrl"], "https://x/twilio");
        let bare = r#"[{"OutputKey":"SmoochWebhookUrl","OutputValue":"https://x/smooch"}]"#;
        assert_eq!(parse_stack(bare).unwrap().outputs["SmoochWebhookUrl"], "https://x/smooch");
        assert!(parse_stack(r#"{"Stacks":[{"StackName":"p"}]}"#).unwrap_err().contains("Outputs"));
        assert!(parse_stack(r#"{"Stacks":[{},{}]}"#).unwrap_err().contains("2 stacks"));
    }

    #[test]
    fn a_registration_is_found_in_any_shape_that_names_the_url_with_its_events() {
        let url = "https://x/hyperchat";
        let per_event = json!({"webhooks": [{"id": 1, "event": "messages:new", "target": url}, {"id": 2, "event": "chats:close", "target": "https://other"}]});
        let mut events = Vec::new();
        assert!(collect_registered(&per_event, url, &mut events));
        assert!(events.contains(&"messages:new".to_owned()) && !events.contains(&"chats:close".to_owned()), "{events:?}");
        let mut events = Vec::new();
        assert!(!collect_registered(&json!({"webhooks": []}), url, &mut events));
    }

    #[test]
    fn secrets_in_query_strings_and_bodies_are_shown_as_stars() {
        let request = Request::new(Provider::Graph, reqwest::Method::POST, "https://g/v27.0/1/subscriptions".into())
            .query("access_token", "1|abcdef")
            .form(&[("verify_token", "tok-123456"), ("object", "page")]);
        assert_eq!(Run::shown_url(&request), "https://g/v27.0/1/subscriptions?access_token=***");
        assert_eq!(Run::shown_body(&request.body).unwrap(), "verify_token=***&object=page");
        let body = Body::Json(json!({"webhook": {"secret": "s3cr3t-value", "target": "https://x"}}));
        assert_eq!(Run::shown_body(&body).unwrap(), r#"{"webhook":{"secret":"***","target":"https://x"}}"#);
    }
}
