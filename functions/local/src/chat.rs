//! `connector-local chat`: a terminal phone. It plays the channel on both sides: it signs and
//! posts the user's messages to the local webhook of `--channel` (`/twilio` for `sms` and
//! `whatsapp`, `/smooch`, `/messenger`),
//! and receives the connector's replies on local stand-ins for the channels' APIs (the fakes
//! the tests use, `connector-fakes`), printing them as they arrive (an agent's messages, through
//! `/hyperchat`, included).

use channel_twilio::signature::sign_base64;
use connector_fakes::graph::{self, FakeGraph};
use connector_fakes::smooch::{self, FakeSmooch};
use connector_fakes::twilio::{self, FakeTwilio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;

/// Signs local webhooks when no `TWILIO_AUTH_TOKEN` is configured. Local use only.
pub const LOCAL_AUTH_TOKEN: &str = "local-dev-auth-token";
pub const LOCAL_ACCOUNT_SID: &str = "AC00000000000000000000000000000000";
/// The `X-API-Key` of local Smooch webhooks when no `SMOOCH_WEBHOOK_SECRET` is configured.
pub const LOCAL_SMOOCH_WEBHOOK_SECRET: &str = "local-dev-smooch-webhook-secret";
/// The Smooch API key of local runs when none is configured.
pub const LOCAL_SMOOCH_KEY_ID: &str = "app_local";
pub const LOCAL_SMOOCH_SECRET: &str = "local-dev-smooch-key-secret";
/// Signs local Messenger webhooks when no `MESSENGER_APP_SECRET` is configured.
pub const LOCAL_MESSENGER_APP_SECRET: &str = "local-dev-messenger-app-secret";
pub const LOCAL_MESSENGER_VERIFY_TOKEN: &str = "local-dev-messenger-verify-token";
pub const LOCAL_MESSENGER_PAGE_TOKEN: &str = "local-dev-messenger-page-token";

/// Play a phone user: type messages, read the connector's replies (and an agent's).
#[derive(Debug, Clone, clap::Args)]
pub struct ChatOptions {
    #[command(flatten)]
    user: UserOptions,
    /// Play the live agent too, on a local HyperChat stand-in: two answers the bot cannot give
    /// offer an agent; `/agent TEXT`, `/agent-file PATH` and `/close-agent` speak for them.
    #[arg(long)]
    with_agent: bool,
}

/// Send one message to a running `connector-local serve` as a user of a channel, signed as
/// the channel signs it; the server prints the replies.
#[derive(Debug, Clone, clap::Args)]
pub struct SendOptions {
    #[command(flatten)]
    user: UserOptions,
    /// What the user writes.
    text: String,
}

/// The channel whose user the terminal plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Channel {
    /// An SMS user (Twilio webhooks to /twilio).
    Sms,
    /// A WhatsApp user (Twilio webhooks to /twilio; buttons and lists shown in brackets).
    Whatsapp,
    /// A user of a Smooch app (v2 webhooks to /smooch; buttons shown in brackets, answered by
    /// typing their title).
    Smooch,
    /// A Facebook Messenger user (signed page events to /messenger; quick replies shown in
    /// brackets, answered by typing their title).
    Messenger,
}

/// Which user of which channel the terminal plays.
#[derive(Debug, Clone, clap::Args)]
pub struct UserOptions {
    /// The channel whose user the terminal plays.
    #[arg(long, value_enum, default_value_t = Channel::Sms)]
    channel: Channel,
    /// The user's phone number.
    #[arg(long, value_name = "NUMBER", default_value = "+34600000001")]
    from: String,
    /// The company number the user writes to.
    #[arg(long, value_name = "NUMBER", default_value = "+14155550100")]
    to: String,
}

impl UserOptions {
    fn address(&self, number: &str) -> String {
        if self.channel == Channel::Whatsapp { format!("whatsapp:{number}") } else { number.to_owned() }
    }
}

/// One message the connector sent through a stand-in channel API, as the terminal shows it.
pub(crate) struct Sent {
    /// Who it went to (a phone number, a Smooch conversation, a PSID).
    to: String,
    body: String,
    media: Vec<String>,
    buttons: Vec<String>,
}

/// The Smooch user the terminal plays.
const SMOOCH_APP: &str = "app_local";
const SMOOCH_CONVERSATION: &str = "conversation_local";
/// The Messenger user (PSID) and page the terminal plays.
const MESSENGER_PSID: &str = "psid_local";
const MESSENGER_PAGE: &str = "page_local";

/// Local stand-ins for every channel's send API, on free ports: the fakes of Twilio (Messages
/// and Content API), Smooch (messages and activity) and Graph (Send API) that the tests use,
/// knowing the credentials the connector is configured with. They stop when this is dropped.
pub(crate) struct StandIns {
    twilio: FakeTwilio,
    smooch: FakeSmooch,
    graph: FakeGraph,
}

impl StandIns {
    /// Started for the connector's environment `env` (its credentials there, else the local
    /// defaults); `show` is called with every message they accept, as it arrives.
    pub(crate) async fn start(env: &[(String, String)], show: fn(&Sent)) -> Self {
        let value = |name: &str, default: &str| env_value(env, name).unwrap_or_else(|| default.to_owned());
        let twilio =
            FakeTwilio::start_for_account(&value("TWILIO_ACCOUNT_SID", LOCAL_ACCOUNT_SID), &value("TWILIO_AUTH_TOKEN", LOCAL_AUTH_TOKEN))
                .await;
        let smooch = FakeSmooch::start().await;
        // The app the terminal's user writes to; replies go to the app of the webhook.
        let app = value("SMOOCH_APP_ID", SMOOCH_APP);
        smooch.add_key(&app, &value("SMOOCH_KEY_ID", LOCAL_SMOOCH_KEY_ID), &value("SMOOCH_SECRET", LOCAL_SMOOCH_SECRET));
        let graph = FakeGraph::start().await;
        graph.add_page_token(&value("MESSENGER_PAGE_TOKEN", LOCAL_MESSENGER_PAGE_TOKEN));
        shown(twilio.subscribe(), show, Sent::twilio);
        shown(smooch.subscribe(), show, Sent::smooch);
        shown(graph.subscribe(), show, Sent::graph);
        Self { twilio, smooch, graph }
    }

    /// The variables that point `channel` at its stand-in.
    pub(crate) fn env(&self, channel: StandIn) -> Vec<(String, String)> {
        let urls = match channel {
            // Twilio's WhatsApp buttons are made by its Content API: the stand-in's too.
            StandIn::Twilio => vec![("TWILIO_API_URL", self.twilio.base_url()), ("TWILIO_CONTENT_API_URL", self.twilio.base_url())],
            StandIn::Smooch => vec![("SMOOCH_API_URL", self.smooch.url())],
            StandIn::Messenger => vec![("GRAPH_API_URL", self.graph.url())],
        };
        urls.into_iter().map(|(name, url)| (name.to_owned(), url)).collect()
    }
}

/// A channel whose send API has a local stand-in.
#[derive(Debug, Clone, Copy)]
pub(crate) enum StandIn {
    Twilio,
    Smooch,
    Messenger,
}

impl StandIn {
    pub(crate) const ALL: [StandIn; 3] = [StandIn::Twilio, StandIn::Smooch, StandIn::Messenger];
}

/// Shows every message a stand-in accepts, as it is accepted.
fn shown<T: Send + 'static>(mut accepted: mpsc::UnboundedReceiver<T>, show: fn(&Sent), sent: fn(T) -> Sent) {
    tokio::spawn(async move {
        while let Some(message) = accepted.recv().await {
            show(&sent(message));
        }
    });
}

impl Sent {
    /// Buttons and lists of WhatsApp (the Content API's) show as the question and their titles.
    fn twilio(message: twilio::SentMessage) -> Self {
        let buttons = message.choices();
        Self { to: message.to, body: message.body, media: message.media_urls, buttons }
    }

    fn smooch(message: smooch::SentMessage) -> Self {
        let buttons = message.actions().iter().map(|action| text(&action["text"])).collect();
        let media = message.content["mediaUrl"].as_str().map(|url| vec![url.to_owned()]).unwrap_or_default();
        Self { body: message.text().unwrap_or_default().to_owned(), media, buttons, to: message.target }
    }

    /// Messages only: the Graph fake keeps sender actions (typing) apart. Quick replies, else a
    /// button template's buttons.
    fn graph(sent: graph::SentMessage) -> Self {
        let payload = &sent.message["attachment"]["payload"];
        let quick: Vec<String> = sent.quick_reply_titles().into_iter().map(str::to_owned).collect();
        let buttons = if quick.is_empty() { sent.buttons().into_iter().map(|button| text(&button["title"])).collect() } else { quick };
        let media = payload["url"].as_str().map(|url| vec![url.to_owned()]).unwrap_or_default();
        let body = sent.text().map_or_else(|| text(&payload["text"]), str::to_owned);
        Self { body, media, buttons, to: sent.psid }
    }
}

fn text(value: &serde_json::Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

/// The signed webhook requests of the user the terminal plays, for the server on `port`.
struct Webhooks {
    user: UserOptions,
    twilio_url: String,
    twilio_token: String,
    twilio_account: String,
    smooch_url: String,
    smooch_key: String,
    messenger_url: String,
    messenger_secret: String,
}

impl Webhooks {
    /// The secrets the server was configured with (the environment, else the local defaults).
    fn new(user: UserOptions, port: u16, env: &[(String, String)]) -> Self {
        let value = |name: &str, default: &str| env_value(env, name).unwrap_or_else(|| default.to_owned());
        Self {
            user,
            twilio_url: value("TWILIO_WEBHOOK_URL", &format!("http://127.0.0.1:{port}/twilio")),
            twilio_token: value("TWILIO_AUTH_TOKEN", LOCAL_AUTH_TOKEN),
            twilio_account: value("TWILIO_ACCOUNT_SID", LOCAL_ACCOUNT_SID),
            smooch_url: format!("http://127.0.0.1:{port}/smooch"),
            smooch_key: value("SMOOCH_WEBHOOK_SECRET", LOCAL_SMOOCH_WEBHOOK_SECRET),
            messenger_url: format!("http://127.0.0.1:{port}/messenger"),
            messenger_secret: value("MESSENGER_APP_SECRET", LOCAL_MESSENGER_APP_SECRET),
        }
    }

    /// Who is chatting with what, for the first line.
    fn describe(&self) -> String {
        match self.user.channel {
            Channel::Smooch => format!("a Smooch user, at {}", self.smooch_url),
            Channel::Messenger => format!("a Messenger user, at {}", self.messenger_url),
            Channel::Sms => format!("SMS user {}, at {}", self.user.from, self.twilio_url),
            Channel::Whatsapp => format!("WhatsApp user {}, at {}", self.user.from, self.twilio_url),
        }
    }

    /// The user's `counter`-th message, `text`, as the channel would post it.
    fn request(&self, http: &reqwest::Client, text: &str, counter: u32) -> Result<reqwest::RequestBuilder, crate::Error> {
        Ok(match self.user.channel {
            Channel::Smooch => http.post(&self.smooch_url).header("x-api-key", &self.smooch_key).json(&smooch_message(text, counter)),
            Channel::Messenger => {
                let body = messenger_message(text, counter).to_string();
                let signature = channel_messenger::signature::header_value(self.messenger_secret.as_bytes(), body.as_bytes());
                http.post(&self.messenger_url)
                    .header("content-type", "application/json")
                    .header(channel_messenger::signature::HEADER, signature)
                    .body(body)
            }
            Channel::Sms | Channel::Whatsapp => {
                let params = inbound_params(&self.user, &self.twilio_account, text, counter);
                let signature = sign_base64(self.twilio_token.as_bytes(), &self.twilio_url, &params);
                http.post(&self.twilio_url)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .header("x-twilio-signature", signature)
                    .body(serde_urlencoded::to_string(&params)?)
            }
        })
    }
}

/// `connector-local send`: one message to the server on `$PORT`.
pub async fn send(options: SendOptions) -> Result<(), crate::Error> {
    let port = crate::port()?;
    let sources = crate::local_sources(port, Vec::new());
    let webhooks = Webhooks::new(options.user, port, &sources.env);
    // Unique per call, so that every send is a new message and not a redelivery.
    let counter =
        u32::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() % 1_000_000_000))
            .unwrap_or_default();
    let response = webhooks.request(&crate::http_client(), &options.text, counter)?.send().await.map_err(|error| {
        format!("no connector-local on 127.0.0.1:{port} ({}); start one with `connector-local serve`", error.without_url())
    })?;
    println!("HTTP {} from {}", response.status().as_u16(), webhooks.describe());
    Ok(())
}

pub async fn run(options: ChatOptions) -> Result<(), crate::Error> {
    crate::init_logging("warn");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    // Printed as they arrive: an agent's messages come without the user writing.
    let stand_ins = StandIns::start(&crate::local_sources(port, Vec::new()).env, print_reply).await;
    let agent = if options.with_agent { Some(crate::agent::LocalAgent::start().await) } else { None };
    let mut overrides: Vec<_> = StandIn::ALL.into_iter().flat_map(|channel| stand_ins.env(channel)).collect();
    overrides.extend(agent.iter().flat_map(crate::agent::LocalAgent::env));
    let mut sources = crate::local_sources(port, overrides);
    if agent.is_some() {
        sources.conf_dir = crate::agent::conf_with_live_chat(&sources.conf_dir)?;
    }
    let webhooks = Webhooks::new(options.user, port, &sources.env);
    let app = crate::server::App::build(&sources, &crate::lang_dir()).await?;
    let (bot_kind, limits) = (app.bot_kind, app.limits);
    let app = Arc::new(app);
    tokio::spawn({
        let app = app.clone();
        async move { app.process(std::future::pending()).await }
    });
    tokio::spawn(crate::server::serve(listener, crate::server::router(app), limits, std::future::pending()));
    let agent = match agent {
        Some(mut agent) => {
            agent.subscribe(format!("http://127.0.0.1:{port}/hyperchat")).await?;
            let agent = Arc::new(agent);
            agent.clone().watch();
            Some(agent)
        }
        None => None,
    };

    println!("Chatting as {} with the {bot_kind} bot.", webhooks.describe());
    println!("Type a message and press Enter; /quit or Ctrl-D ends. Try \"hello\".\n");
    let http = crate::http_client();
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut counter = 0u32;
    prompt();
    loop {
        let Some(line) = lines.next_line().await? else { break };
        if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
            // Typed input is not echoed from a pipe: the transcript shows it, as a terminal does.
            println!("{line}");
        }
        // The user's Enter ended the prompt's line.
        PROMPTED.store(false, Ordering::SeqCst);
        let text = line.trim();
        if text == "/quit" {
            break;
        }
        // Replies re-prompt when they are shown; without one soon, the prompt comes back alone.
        let replied = REPLIED.notified();
        tokio::pin!(replied);
        replied.as_mut().enable();
        if text.is_empty() {
            prompt();
            continue;
        }
        let handled_here = match &agent {
            Some(agent) => agent.command(text).await,
            None => false,
        };
        if !handled_here {
            counter += 1;
            let response = webhooks.request(&http, text, counter)?.send().await?;
            if !response.status().is_success() {
                show(&format!("[webhook answered HTTP {}]", response.status().as_u16()));
            }
        }
        if tokio::time::timeout(Duration::from_secs(2), replied).await.is_err() && !PROMPTED.load(Ordering::SeqCst) {
            prompt();
        }
    }
    Ok(())
}

/// Whether `you> ` is the last thing on the terminal: whatever is shown then starts on a line of
/// its own and ends with the prompt again, so the prompt never lands inside a reply.
static PROMPTED: AtomicBool = AtomicBool::new(false);
/// Told whenever something was shown (and the prompt with it).
static REPLIED: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// Shows `text` (a reply, the agent's side) on lines of its own, then the prompt again.
pub(crate) fn show(text: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    if PROMPTED.swap(false, Ordering::SeqCst) {
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "{text}");
    let _ = write!(out, "you> ");
    let _ = out.flush();
    PROMPTED.store(true, Ordering::SeqCst);
    REPLIED.notify_waiters();
}

fn env_value(env: &[(String, String)], name: &str) -> Option<String> {
    env.iter().rev().find(|(k, v)| k == name && !v.is_empty()).map(|(_, v)| v.clone())
}

/// A message as Twilio posts it, from the account the connector is configured with (it refuses
/// any other).
fn inbound_params(options: &UserOptions, account: &str, text: &str, counter: u32) -> Vec<(String, String)> {
    let sid = format!("SMlocal{:x}{counter:08x}", std::process::id());
    [
        ("AccountSid", account.to_owned()),
        ("MessageSid", sid.clone()),
        ("SmsSid", sid),
        ("From", options.address(&options.from)),
        ("To", options.address(&options.to)),
        ("Body", text.to_owned()),
        ("NumMedia", "0".to_owned()),
        ("ApiVersion", "2010-04-01".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// A Smooch v2 `conversation:message` webhook: the user typed `text`.
fn smooch_message(text: &str, counter: u32) -> serde_json::Value {
    let id = format!("local{:x}{counter:08x}", std::process::id());
    serde_json::json!({
        "app": {"id": SMOOCH_APP},
        "webhook": {"id": "webhook_local", "version": "v2"},
        "events": [{"id": format!("event_{id}"), "type": "conversation:message", "payload": {
            "conversation": {"id": SMOOCH_CONVERSATION, "type": "personal"},
            "message": {"id": id, "author": {"type": "user", "userId": "user_local"}, "content": {"type": "text", "text": text}}
        }}]
    })
}

/// A Messenger page event: the user typed `text`.
fn messenger_message(text: &str, counter: u32) -> serde_json::Value {
    let mid = format!("m_local{:x}{counter:08x}", std::process::id());
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    serde_json::json!({"object": "page", "entry": [{"id": MESSENGER_PAGE, "time": now, "messaging": [{
        "sender": {"id": MESSENGER_PSID}, "recipient": {"id": MESSENGER_PAGE}, "timestamp": now,
        "message": {"mid": mid, "text": text}
    }]}]})
}

/// Where the user types, after what was shown so far.
fn prompt() {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "you> ");
    let _ = out.flush();
    PROMPTED.store(true, Ordering::SeqCst);
}

/// A reply as the terminal chat shows it.
fn print_reply(sent: &Sent) {
    let mut lines: Vec<String> =
        sent.body.lines().enumerate().map(|(i, line)| format!("{} {line}", if i == 0 { "bot>" } else { "    " })).collect();
    lines.extend(sent.media.iter().map(|url| format!("bot> [media] {url}")));
    if !sent.buttons.is_empty() {
        lines.push(format!("     {}", sent.buttons.iter().map(|b| format!("[{b}]")).collect::<Vec<_>>().join(" ")));
    }
    lines.push(String::new());
    show(&lines.join("\n"));
}

/// A reply as `connector-local serve` prints it, when it goes to the stand-in.
pub(crate) fn print_served_reply(sent: &Sent) {
    let buttons = sent.buttons.iter().map(|b| format!(" [{b}]")).collect::<String>();
    let media = sent.media.iter().map(|url| format!(" [media] {url}")).collect::<String>();
    println!("reply to {}: {}{media}{buttons}", sent.to, sent.body.replace('\n', " / "));
}
