//! `connector-local chat`: a terminal phone. It plays the channel on both sides: it signs and
//! posts the user's messages to the local webhook (`/twilio`, `/smooch` with `--smooch`,
//! `/messenger` with `--messenger`),
//! and receives the connector's replies on a local stand-in for the channel's API, printing
//! them as they arrive (an agent's messages, through `/hyperchat`, included).

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use bytes::Bytes;
use channel_twilio::signature::sign_base64;
use std::sync::Arc;
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
    /// Play a WhatsApp user (the default is SMS).
    #[arg(long, conflicts_with_all = ["smooch", "messenger"])]
    whatsapp: bool,
    /// Play a user of a Smooch app (v2 webhooks to /smooch; buttons are shown in brackets and
    /// answered by typing their title).
    #[arg(long, conflicts_with = "messenger")]
    smooch: bool,
    /// Play a Facebook Messenger user (signed page events to /messenger; quick replies are
    /// shown in brackets and answered by typing their title).
    #[arg(long)]
    messenger: bool,
    /// The user's phone number.
    #[arg(long, value_name = "NUMBER", default_value = "+34600000001")]
    from: String,
    /// The company number the user writes to.
    #[arg(long, value_name = "NUMBER", default_value = "+14155550100")]
    to: String,
    /// Play the live agent too, on a local HyperChat stand-in: two answers the bot cannot give
    /// offer an agent; `/agent TEXT` and `/close-agent` speak for them.
    #[arg(long)]
    with_agent: bool,
}

impl ChatOptions {
    fn address(&self, number: &str) -> String {
        if self.whatsapp { format!("whatsapp:{number}") } else { number.to_owned() }
    }
}

/// One message the connector sent through the (stand-in) channel API.
struct Sent {
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

pub async fn run(options: ChatOptions) -> Result<(), crate::Error> {
    crate::init_logging("warn");
    let (sent_tx, mut sent_rx) = mpsc::unbounded_channel::<Sent>();
    // Printed as they arrive: an agent's messages come without the user writing.
    tokio::spawn(async move {
        while let Some(sent) = sent_rx.recv().await {
            print_reply(&sent);
        }
    });
    let phone = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let phone_url = format!("http://{}", phone.local_addr()?);
    let phone_app = Router::new()
        .route("/2010-04-01/Accounts/{sid}/Messages.json", post(receive))
        .route("/v2/apps/{app}/conversations/{conversation}/messages", post(receive_smooch))
        .route("/v2/apps/{app}/conversations/{conversation}/activity", post(|| async { axum::Json(serde_json::json!({})) }))
        .route("/{version}/me/messages", post(receive_graph))
        .with_state(Arc::new(sent_tx));
    tokio::spawn(async move { axum::serve(phone, phone_app).await });

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let agent = if options.with_agent { Some(crate::agent::LocalAgent::start().await) } else { None };
    let mut overrides = vec![
        ("TWILIO_API_URL".to_owned(), phone_url.clone()),
        ("SMOOCH_API_URL".to_owned(), phone_url.clone()),
        ("GRAPH_API_URL".to_owned(), phone_url),
    ];
    overrides.extend(agent.iter().flat_map(crate::agent::LocalAgent::env));
    let mut sources = crate::local_sources(port, overrides);
    if agent.is_some() {
        sources.conf_dir = crate::agent::conf_with_live_chat(&sources.conf_dir)?;
    }
    let auth_token = env_value(&sources.env, "TWILIO_AUTH_TOKEN").unwrap_or_else(|| LOCAL_AUTH_TOKEN.into());
    let webhook_url = env_value(&sources.env, "TWILIO_WEBHOOK_URL").unwrap_or_default();
    let smooch_key = env_value(&sources.env, "SMOOCH_WEBHOOK_SECRET").unwrap_or_else(|| LOCAL_SMOOCH_WEBHOOK_SECRET.into());
    let smooch_url = format!("http://127.0.0.1:{port}/smooch");
    let app_secret = env_value(&sources.env, "MESSENGER_APP_SECRET").unwrap_or_else(|| LOCAL_MESSENGER_APP_SECRET.into());
    let messenger_url = format!("http://127.0.0.1:{port}/messenger");
    let app = crate::server::App::build(&sources, &crate::lang_dir()).await?;
    let (bot_kind, limits) = (app.bot_kind, app.limits);
    tokio::spawn(crate::server::serve(listener, crate::server::router(Arc::new(app)), limits, std::future::pending()));
    let agent = match agent {
        Some(mut agent) => {
            agent.subscribe(format!("http://127.0.0.1:{port}/hyperchat")).await?;
            let agent = Arc::new(agent);
            agent.clone().watch();
            Some(agent)
        }
        None => None,
    };

    if options.smooch {
        println!("Chatting as a Smooch user with the {bot_kind} bot at {smooch_url}.");
    } else if options.messenger {
        println!("Chatting as a Messenger user with the {bot_kind} bot at {messenger_url}.");
    } else {
        let channel = if options.whatsapp { "WhatsApp" } else { "SMS" };
        println!("Chatting as {channel} user {} with the {bot_kind} bot at {webhook_url}.", options.from);
    }
    println!("Type a message and press Enter; /quit or Ctrl-D ends. Try \"hello\".\n");
    let http = reqwest::Client::new();
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut counter = 0u32;
    loop {
        prompt();
        let Some(line) = lines.next_line().await? else { break };
        let text = line.trim();
        if text == "/quit" {
            break;
        }
        if text.is_empty() {
            continue;
        }
        if let Some(agent) = &agent {
            if agent.command(text).await {
                continue;
            }
        }
        counter += 1;
        let request = if options.smooch {
            http.post(&smooch_url).header("x-api-key", &smooch_key).json(&smooch_message(text, counter))
        } else if options.messenger {
            let body = messenger_message(text, counter).to_string();
            let signature = channel_messenger::signature::header_value(app_secret.as_bytes(), body.as_bytes());
            http.post(&messenger_url)
                .header("content-type", "application/json")
                .header(channel_messenger::signature::HEADER, signature)
                .body(body)
        } else {
            let params = inbound_params(&options, text, counter);
            let signature = sign_base64(auth_token.as_bytes(), &webhook_url, &params);
            http.post(&webhook_url)
                .header("content-type", "application/x-www-form-urlencoded")
                .header("x-twilio-signature", signature)
                .body(serde_urlencoded::to_string(&params)?)
        };
        let response = request.send().await?;
        if !response.status().is_success() {
            println!("[webhook answered HTTP {}]", response.status().as_u16());
        }
    }
    Ok(())
}

fn env_value(env: &[(String, String)], name: &str) -> Option<String> {
    env.iter().rev().find(|(k, v)| k == name && !v.is_empty()).map(|(_, v)| v.clone())
}

fn inbound_params(options: &ChatOptions, text: &str, counter: u32) -> Vec<(String, String)> {
    let sid = format!("SMlocal{:x}{counter:08x}", std::process::id());
    [
        ("AccountSid", LOCAL_ACCOUNT_SID.to_owned()),
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

/// Where the user types, after the replies printed so far.
fn prompt() {
    use std::io::Write as _;
    print!("you> ");
    let _ = std::io::stdout().flush();
}

fn print_reply(sent: &Sent) {
    for (i, line) in sent.body.lines().enumerate() {
        println!("{} {line}", if i == 0 { "bot>" } else { "    " });
    }
    for url in &sent.media {
        println!("bot> [media] {url}");
    }
    if !sent.buttons.is_empty() {
        println!("     {}", sent.buttons.iter().map(|b| format!("[{b}]")).collect::<Vec<_>>().join(" "));
    }
    println!();
}

async fn receive(State(tx): State<Arc<mpsc::UnboundedSender<Sent>>>, body: Bytes) -> (StatusCode, axum::Json<serde_json::Value>) {
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let field = |name: &'static str| form.iter().filter(move |(k, _)| k == name).map(|(_, v)| v.clone());
    let sent = Sent { body: field("Body").next().unwrap_or_default(), media: field("MediaUrl").collect(), buttons: Vec::new() };
    let _ = tx.send(sent);
    (StatusCode::CREATED, axum::Json(serde_json::json!({ "sid": "SMlocal", "status": "queued" })))
}

async fn receive_smooch(
    State(tx): State<Arc<mpsc::UnboundedSender<Sent>>>,
    axum::Json(body): axum::Json<serde_json::Value>,
) -> (StatusCode, axum::Json<serde_json::Value>) {
    let content = &body["content"];
    let text = |value: &serde_json::Value| value.as_str().unwrap_or_default().to_owned();
    let buttons = content["actions"].as_array().map(|actions| actions.iter().map(|a| text(&a["text"])).collect()).unwrap_or_default();
    let media = content["mediaUrl"].as_str().map(|url| vec![url.to_owned()]).unwrap_or_default();
    let _ = tx.send(Sent { body: text(&content["text"]), media, buttons });
    (StatusCode::CREATED, axum::Json(serde_json::json!({ "messages": [{ "id": "local", "content": content }] })))
}

/// The Graph Send API stand-in: messages are printed, sender actions (typing) are not.
async fn receive_graph(
    State(tx): State<Arc<mpsc::UnboundedSender<Sent>>>,
    axum::Json(body): axum::Json<serde_json::Value>,
) -> axum::Json<serde_json::Value> {
    let message = &body["message"];
    if !message.is_null() {
        let text = |value: &serde_json::Value| value.as_str().unwrap_or_default().to_owned();
        let payload = &message["attachment"]["payload"];
        let titles = |list: &serde_json::Value| list.as_array().map(|items| items.iter().map(|i| text(&i["title"])).collect::<Vec<_>>());
        let buttons = titles(&message["quick_replies"]).or_else(|| titles(&payload["buttons"])).unwrap_or_default();
        let media = payload["url"].as_str().map(|url| vec![url.to_owned()]).unwrap_or_default();
        let body = if message["text"].is_string() { text(&message["text"]) } else { text(&payload["text"]) };
        let _ = tx.send(Sent { body, media, buttons });
    }
    axum::Json(serde_json::json!({ "recipient_id": body["recipient"]["id"], "message_id": "m_local" }))
}
