//! The connector as a Lambda cold start builds it (configuration files, labels, store, Inbenta
//! client, Twilio webhook), pointed at the fakes, plus helpers to play a phone user.

use crate::counting_store::CountingStore;
use crate::graph::FakeGraph;
use crate::inbenta::FakeInbenta;
use crate::smooch::FakeSmooch;
use crate::twilio::{FakeTwilio, SentMessage};
use crate::twilio_signing::{encode_form, inbound_form, twilio_signature};
use bytes::Bytes;
use channel_hyperchat::HyperChatEvents;
use connector_app::{App, Ingest};
use connector_config::Sources;
use connector_core::store::StateStore;
use connector_core::{AnyEndpoint, LocalQueue, WebhookRequest, WebhookResponse};
use connector_engine::conversation::Conversation;
use connector_engine::values::Timestamp;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The public URL the fake Twilio "registered": signatures are made over it.
pub const WEBHOOK_URL: &str = "https://connector.example.com/twilio";
/// The HyperChat function's public URL: links to agents' files start with it.
pub const HYPERCHAT_WEBHOOK_URL: &str = "https://connector.example.com/hyperchat";
pub const COMPANY_NUMBER: &str = "+14155550100";
pub const SMS_USER: &str = "+34600000001";
pub const WHATSAPP_USER: &str = "whatsapp:+34600000002";

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The queue's retries in tests: 50 ms doubling up to 400 ms, for two seconds.
pub const TEST_RETRIES: (&str, &str) = ("queue.toml", "retry_budget_secs = 2\nbackoff_initial_ms = 50\nbackoff_max_ms = 400\n");

pub struct Connector {
    pub inbenta: FakeInbenta,
    pub twilio: FakeTwilio,
    pub webhook: Arc<AnyEndpoint>,
    pub smooch: FakeSmooch,
    /// The Smooch function, on the same store.
    pub smooch_webhook: Arc<AnyEndpoint>,
    pub graph: FakeGraph,
    /// The Messenger function, on the same store.
    pub messenger_webhook: Arc<AnyEndpoint>,
    /// The HyperChat events function, on the same store.
    pub hyperchat: Arc<HyperChatEvents>,
    pub store: Arc<dyn StateStore>,
    /// The one queue of every route, processed in this process, as `connector-local` runs it.
    pub queue: LocalQueue,
    /// Calls made to the store (each one DynamoDB request on the DynamoDB store).
    pub store_calls: Arc<CountingStore>,
    sids: AtomicU64,
}

/// What one webhook call produced.
#[derive(Debug)]
pub struct Exchange {
    pub status: u16,
    pub body: String,
    /// Messages the connector sent through Twilio while handling it.
    pub replies: Vec<SentMessage>,
}

impl Exchange {
    /// All reply bodies joined, for assertions on content.
    pub fn text(&self) -> String {
        self.replies.iter().map(|m| m.body.as_str()).collect::<Vec<_>>().join("\n---\n")
    }
}

impl Connector {
    pub async fn start() -> Self {
        Self::start_with(&[], &[]).await
    }

    /// The same, with state in a fresh table of the DynamoDB-API server that `scripts/test.sh`
    /// started (`AWS_ENDPOINT_URL_DYNAMODB`).
    pub async fn start_on_dynamodb() -> Self {
        let table = fresh_table().await;
        Self::start_with(&[("TABLE_NAME", &table)], &[]).await
    }

    /// `env`: extra environment variables; `custom`: `(file name, TOML)` written to a fresh
    /// `conf/custom/` next to the repository's `conf/default/`.
    pub async fn start_with(env: &[(&str, &str)], custom: &[(&str, &str)]) -> Self {
        // The connector's own warnings and errors, shown with a failing test's output.
        let _ = tracing_subscriber::fmt().with_test_writer().with_env_filter("warn").try_init();
        let (inbenta, twilio, smooch) = (FakeInbenta::start().await, FakeTwilio::start().await, FakeSmooch::start().await);
        let graph = FakeGraph::start().await;
        let own = [
            ("TWILIO_AUTH_TOKEN", FakeTwilio::AUTH_TOKEN.to_owned()),
            ("TWILIO_WEBHOOK_URL", WEBHOOK_URL.to_owned()),
            ("HYPERCHAT_WEBHOOK_URL", HYPERCHAT_WEBHOOK_URL.to_owned()),
        ];
        let mut vars: Vec<(String, String)> = [inbenta.env(), twilio.env(), own.to_vec(), smooch.env(), graph.env()]
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        vars.extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        // Retries within a test's patience: a test's own queue.toml comes later and wins.
        let custom: Vec<(&str, &str)> = std::iter::once(TEST_RETRIES).chain(custom.iter().copied()).collect();
        let sources = Sources { conf_dir: conf_dir_with(&custom), env: vars };
        let mut app = App::load(&sources, &repo_root().join("lang")).await.expect("configuration loads");
        let store_calls = Arc::new(CountingStore::new(app.store.clone()));
        app.store = store_calls.clone();
        let chatbot = app.inbenta().expect("inbenta client");
        let functions = app.local_functions(chatbot).await.expect("every route builds");
        let channel = |name: &str| functions.webhook(name).unwrap_or_else(|| panic!("{name} is registered"));
        let (webhook, smooch_webhook, messenger_webhook) = (channel("Twilio"), channel("Smooch"), channel("Messenger"));
        let Ingest::Local(queue) = functions.ingest else { panic!("the tests' connector queues in process") };
        // Every redelivery reaches the table's exactly-once record, as one after SQS's
        // five-minute deduplication does.
        queue.set_dedupe_window(std::time::Duration::ZERO);
        let hyperchat = Arc::new(functions.hyperchat);
        Self {
            inbenta,
            twilio,
            webhook,
            smooch,
            smooch_webhook,
            graph,
            messenger_webhook,
            hyperchat,
            store: app.store.clone(),
            queue,
            store_calls,
            sids: AtomicU64::new(0),
        }
    }

    pub fn next_sid(&self) -> String {
        format!("SM{:032x}", self.sids.fetch_add(1, Ordering::Relaxed) + 1)
    }

    /// A webhook request as Twilio sends it: form body, signed over [`WEBHOOK_URL`].
    pub fn signed(&self, params: &[(String, String)]) -> WebhookRequest {
        let signature = twilio_signature(FakeTwilio::AUTH_TOKEN, WEBHOOK_URL, params);
        request(
            encode_form(params).into_bytes(),
            &[("content-type", "application/x-www-form-urlencoded"), ("x-twilio-signature", &signature)],
        )
    }

    /// A status callback as Twilio posts it for a message sent with this connector's
    /// `StatusCallback` (the URL it recorded, query included), signed over that URL.
    pub async fn status_callback(&self, callback_url: &str, params: &[(String, String)]) -> Exchange {
        let signature = twilio_signature(FakeTwilio::AUTH_TOKEN, callback_url, params);
        let path_and_query = callback_url.strip_prefix("https://connector.example.com").unwrap_or(callback_url);
        let mut request = request(
            encode_form(params).into_bytes(),
            &[("content-type", "application/x-www-form-urlencoded"), ("x-twilio-signature", &signature)],
        );
        *request.uri_mut() = path_and_query.parse().expect("a valid callback path");
        self.exchange(request).await
    }

    /// The webhook's answer to one request, as the Lambda function would give it, once what it
    /// queued is processed.
    pub async fn handle(&self, request: WebhookRequest) -> WebhookResponse {
        let response = self.webhook.handle(request, None).await;
        self.queue.settle().await;
        response
    }

    /// Posts a request and collects the replies sent while it was handled.
    pub async fn exchange(&self, request: WebhookRequest) -> Exchange {
        let before = self.twilio.messages().len();
        let response = self.handle(request).await;
        let replies = self.twilio.messages().into_iter().skip(before).collect();
        Exchange { status: response.status().as_u16(), body: String::from_utf8_lossy(response.body()).into_owned(), replies }
    }

    /// The user `from` texts `body` to the company number (same channel as `from`).
    pub async fn text_from(&self, from: &str, body: &str) -> Exchange {
        let to = if from.starts_with("whatsapp:") { format!("whatsapp:{COMPANY_NUMBER}") } else { COMPANY_NUMBER.to_owned() };
        let params = inbound_form(from, &to, body, &self.next_sid());
        self.exchange(self.signed(&params)).await
    }

    /// HyperChat's subscription handshake offering `secret`.
    pub async fn hyperchat_handshake(&self, secret: &str) -> WebhookResponse {
        let request = http::Request::builder().method("POST").uri("/hyperchat").header("x-hook-secret", secret);
        let response = self.hyperchat.handle(request.body(Bytes::new()).expect("valid request"), None).await;
        self.queue.settle().await;
        response
    }

    /// A HyperChat event signed with [`WEBHOOK_SECRET`](crate::hyperchat::WEBHOOK_SECRET), and
    /// the replies sent while it was handled.
    pub async fn hyperchat_event(&self, trigger: &str, data: serde_json::Value) -> Exchange {
        let body = crate::hyperchat::event_body(trigger, data);
        let signature = crate::hyperchat::hook_signature(crate::hyperchat::WEBHOOK_SECRET, &body);
        self.hyperchat_raw(body.into_bytes(), &[("content-type", "application/json"), ("x-hook-signature", &signature)]).await
    }

    /// Any request to the HyperChat events function, and the replies sent while it was handled.
    pub async fn hyperchat_raw(&self, body: Vec<u8>, headers: &[(&str, &str)]) -> Exchange {
        let before = self.twilio.messages().len();
        let mut request = request(body, headers);
        *request.uri_mut() = http::Uri::from_static("/hyperchat");
        let response = self.hyperchat.handle(request, None).await;
        self.queue.settle().await;
        let replies = self.twilio.messages().into_iter().skip(before).collect();
        Exchange { status: response.status().as_u16(), body: String::from_utf8_lossy(response.body()).into_owned(), replies }
    }

    /// A Smooch webhook carrying `body`, with the webhook's `X-API-Key`, and the messages
    /// posted to Smooch while it was handled.
    pub async fn smooch_post(&self, body: &serde_json::Value) -> SmoochExchange {
        self.smooch_raw(
            body.to_string().into_bytes(),
            &[("content-type", "application/json"), ("x-api-key", crate::smooch::WEBHOOK_SECRET)],
        )
        .await
    }

    /// Any request to the Smooch function.
    pub async fn smooch_raw(&self, body: Vec<u8>, headers: &[(&str, &str)]) -> SmoochExchange {
        let before = self.smooch.messages().len();
        let mut request = request(body, headers);
        *request.uri_mut() = http::Uri::from_static("/smooch");
        let response = self.smooch_webhook.handle(request, None).await;
        self.queue.settle().await;
        let replies = self.smooch.messages().into_iter().skip(before).collect();
        SmoochExchange { status: response.status().as_u16(), replies }
    }

    /// A Messenger webhook with exactly these body bytes, signed with the app secret, and the
    /// messages sent through the Graph API while it was handled.
    pub async fn messenger_post(&self, body: &str) -> MessengerExchange {
        let headers = crate::graph::signed_headers(body);
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.messenger_raw("POST", "", body.as_bytes().to_vec(), &headers).await
    }

    /// Any request to the Messenger function; `query` without its `?`.
    pub async fn messenger_raw(&self, method: &str, query: &str, body: Vec<u8>, headers: &[(&str, &str)]) -> MessengerExchange {
        let before = self.graph.messages().len();
        let mut request = request(body, headers);
        *request.method_mut() = http::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
        *request.uri_mut() = format!("/messenger?{query}").parse().expect("a valid URI");
        let response = self.messenger_webhook.handle(request, None).await;
        self.queue.settle().await;
        let replies = self.graph.messages().into_iter().skip(before).collect();
        MessengerExchange { status: response.status().as_u16(), body: String::from_utf8_lossy(response.body()).into_owned(), replies }
    }

    /// Makes the conversation `key` look as if its user last wrote `ago` (the way time passes
    /// for reply windows), through the store's own interface.
    pub async fn user_last_wrote(&self, key: &str, ago: std::time::Duration) {
        let ago = i64::try_from(ago.as_secs()).expect("a sane duration");
        self.rewrite_conversation(key, 3600, |conversation, now| conversation.last_inbound_at = Timestamp(now.0 - ago)).await;
    }

    /// Lets the conversation `key` expire now, as a day without messages would.
    pub async fn conversation_expired(&self, key: &str) {
        self.rewrite_conversation(key, -1, |_, _| {}).await;
    }

    /// Commits the conversation `key` changed by `edit`, expiring `expires_in` seconds from now,
    /// as one turn with no replies.
    async fn rewrite_conversation(&self, key: &str, expires_in: i64, edit: impl FnOnce(&mut Conversation, Timestamp)) {
        let id = connector_engine::values::MessageId::new("test", &format!("rewrite-{}", self.next_sid()));
        self.commit_turn(
            key,
            expires_in,
            edit,
            |message_id, address| connector_core::store::Outbox { message_id, address, replies: vec![], from_agent: true },
            id,
        )
        .await;
    }

    /// Commits a turn of message `id` with these bot replies to the conversation `key`, as an
    /// attempt elsewhere would before sending them.
    pub async fn commit_replies_of(&self, key: &str, id: &connector_engine::values::MessageId, replies: Vec<connector_engine::Reply>) {
        let outbox = |message_id, address| connector_core::store::Outbox { message_id, address, replies, from_agent: false };
        self.commit_turn(key, 3600, |_, _| {}, outbox, id.clone()).await;
    }

    async fn commit_turn(
        &self,
        key: &str,
        expires_in: i64,
        edit: impl FnOnce(&mut Conversation, Timestamp),
        outbox: impl FnOnce(connector_engine::values::MessageId, connector_engine::ReplyAddress) -> connector_core::store::Outbox,
        id: connector_engine::values::MessageId,
    ) {
        let key = connector_engine::ConversationKey::new(key);
        let now = connector_engine::Clock::now(&connector_engine::SystemClock);
        let mut stored = self.store.load(&key, now).await.expect("store readable");
        edit(&mut stored.conversation, now);
        let address = stored.conversation.address.clone().expect("a conversation with an address");
        let outbox = outbox(id, address);
        let commit = connector_core::store::Commit {
            key: &key,
            version: stored.version,
            conversation: &stored.conversation,
            outbox: &outbox,
            chat_opened: None,
            expires_at: Timestamp(now.0 + expires_in),
        };
        self.store.commit(&commit).await.expect("committed");
    }

    /// The user `from` sends `media` (`(MediaUrl, MediaContentType)` pairs) with the caption
    /// `body`, as Twilio posts an MMS or a WhatsApp media message.
    pub async fn media_from(&self, from: &str, body: &str, media: &[(String, &str)]) -> Exchange {
        let to = if from.starts_with("whatsapp:") { format!("whatsapp:{COMPANY_NUMBER}") } else { COMPANY_NUMBER.to_owned() };
        let mut params = inbound_form(from, &to, body, &self.next_sid());
        params.retain(|(k, _)| k != "NumMedia");
        params.push(("NumMedia".into(), media.len().to_string()));
        for (i, (url, content_type)) in media.iter().enumerate() {
            params.push((format!("MediaContentType{i}"), (*content_type).to_owned()));
            params.push((format!("MediaUrl{i}"), url.clone()));
        }
        self.exchange(self.signed(&params)).await
    }

    /// A `GET` (a channel, or a user's browser, following a link) of `url`'s path on the
    /// HyperChat events function.
    pub async fn hyperchat_get(&self, url: &str) -> WebhookResponse {
        self.hyperchat_request("GET", url).await
    }

    /// A request without a body to `url`'s path on the HyperChat events function.
    pub async fn hyperchat_request(&self, method: &str, url: &str) -> WebhookResponse {
        let path = url.find("/hyperchat").map_or(url, |at| &url[at..]);
        let request = http::Request::builder().method(method).uri(path).body(Bytes::new()).expect("valid request");
        let response = self.hyperchat.handle(request, None).await;
        self.queue.settle().await;
        response
    }

    pub async fn sms(&self, body: &str) -> Exchange {
        self.text_from(SMS_USER, body).await
    }

    pub async fn whatsapp(&self, body: &str) -> Exchange {
        self.text_from(WHATSAPP_USER, body).await
    }
}

/// What one Smooch webhook call produced.
#[derive(Debug)]
pub struct SmoochExchange {
    pub status: u16,
    pub replies: Vec<crate::smooch::SentMessage>,
}

impl SmoochExchange {
    /// Every reply's text, joined.
    pub fn text(&self) -> String {
        self.replies.iter().filter_map(|m| m.text()).collect::<Vec<_>>().join("\n---\n")
    }

    /// The titles of the last reply's actions.
    pub fn buttons(&self) -> Vec<String> {
        let last = self.replies.last().map(|m| m.actions().to_vec()).unwrap_or_default();
        last.iter().filter_map(|a| a["text"].as_str().map(str::to_owned)).collect()
    }

    /// The payload of the last reply's action titled `title`.
    pub fn payload_of(&self, title: &str) -> String {
        let last = self.replies.last().map(|m| m.actions().to_vec()).unwrap_or_default();
        let action = last.iter().find(|a| a["text"] == title).unwrap_or_else(|| panic!("no button {title:?} in {last:?}"));
        action["payload"].as_str().unwrap_or_default().to_owned()
    }
}

/// What one Messenger webhook call produced.
#[derive(Debug)]
pub struct MessengerExchange {
    pub status: u16,
    pub body: String,
    pub replies: Vec<crate::graph::SentMessage>,
}

impl MessengerExchange {
    /// Every reply's text, joined.
    pub fn text(&self) -> String {
        self.replies.iter().filter_map(|m| m.text()).collect::<Vec<_>>().join("\n---\n")
    }

    /// The quick-reply titles of the last reply.
    pub fn quick_replies(&self) -> Vec<String> {
        self.replies.last().map(|m| m.quick_reply_titles().into_iter().map(str::to_owned).collect()).unwrap_or_default()
    }

    /// The payload of the last reply's quick reply titled `title`.
    pub fn payload_of(&self, title: &str) -> String {
        let last = self.replies.last().map(|m| m.message.clone()).unwrap_or_default();
        let quick = last["quick_replies"].as_array().cloned().unwrap_or_default();
        let found = quick.iter().find(|q| q["title"] == title).unwrap_or_else(|| panic!("no quick reply {title:?} in {last}"));
        found["payload"].as_str().unwrap_or_default().to_owned()
    }
}

/// A POST to the webhook with this body and these headers.
pub fn request(body: Vec<u8>, headers: &[(&str, &str)]) -> WebhookRequest {
    let mut builder = http::Request::builder().method("POST").uri("/twilio");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Bytes::from(body)).expect("valid request")
}

/// The repository's `conf/` when nothing is customised, else a temporary copy of
/// `conf/default/` with the given `conf/custom/` files.
pub fn conf_dir_with(custom: &[(&str, &str)]) -> PathBuf {
    let repo_conf = repo_root().join("conf");
    if custom.is_empty() {
        return repo_conf;
    }
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!("connector-conf-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed)));
    // Process ids come back: a folder an earlier test process left would add its files (a
    // stale `api.toml` with a 500 ms timeout failed a Messenger test under `scripts/test.sh`).
    let _ = std::fs::remove_dir_all(&dir);
    let (default, custom_dir) = (dir.join("default"), dir.join("custom"));
    std::fs::create_dir_all(&default).expect("temp conf dir");
    std::fs::create_dir_all(&custom_dir).expect("temp conf dir");
    for entry in std::fs::read_dir(repo_conf.join("default")).expect("conf/default") {
        let path = entry.expect("conf entry").path();
        std::fs::copy(&path, default.join(path.file_name().expect("file name"))).expect("copy default conf");
    }
    for (name, text) in custom {
        std::fs::write(custom_dir.join(name), text).expect("write custom conf");
    }
    dir
}

/// Creates a uniquely named table on the local DynamoDB-API server and returns its name.
pub async fn fresh_table() -> String {
    assert!(
        std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_some(),
        "AWS_ENDPOINT_URL_DYNAMODB is not set: run the tests with scripts/test.sh, which starts a local DynamoDB-API server"
    );
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let table = format!("connector-test-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
    state_store::DynamoStore::from_env(&table).await.ensure_table().await.expect("table created");
    table
}
