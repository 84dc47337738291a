//! A fake of the Smooch API v1.1 and Sunshine Conversations v2, plus builders
//! of the webhook bodies Smooch posts to us.
//!
//! A real HTTP server on `127.0.0.1:<random port>`, so the connector's real
//! HTTP client, auth headers and JSON bodies are exercised. Routes (base URL
//! [`FakeSmooch::url`], no version suffix):
//!
//! | route | answer |
//! |---|---|
//! | `POST /v2/apps/{appId}/conversations/{conversationId}/messages` | 201 `{"messages":[{id,received,author,content,source}]}` |
//! | `GET  /v2/apps/{appId}/conversations/{conversationId}/messages` | 200 `{"messages":[..the last 100, oldest first..],"meta":{"hasMore"},"links":{}}` (`ListMessages`) |
//! | `POST /v2/apps/{appId}/conversations/{conversationId}/activity` | 200 `{}` |
//! | `GET  /v2/apps/{appId}/users/{userId}` | 200 `{"user":{id,profile:{givenName,surname,..}}}` |
//! | `POST /v1.1/apps/{appId}/appusers/{appUserId}/messages` | 201 `{"message":{_id,role,..},"conversation":{_id,unreadCount}}` |
//! | `POST /v1.1/apps/{appId}/appusers/{appUserId}/conversation/activity` | 200 `{"conversation":{_id,unreadCount}}` |
//! | `GET  /v1.1/apps/{appId}/appusers/{appUserId}` | 200 `{"appUser":{_id,givenName,surname,..}}` |
//! | `GET  /attachments/v2/{id}/{name}` | 200, the file's bytes and `Content-Type` ([`FakeSmooch::put_attachment`]) |
//!
//! The rules come from Zendesk's Sunshine Conversations OpenAPI spec
//! (`zendesk/sunshine-conversations-api-spec` `openapi.yaml` v17.12.1, "S1" below, with its line
//! numbers) where it says them, else from the reference notes named.
//!
//! What is enforced, in this order: delay ([`FakeSmooch::set_delay`]), route
//! (404), injected failure for that endpoint, method (405), auth (401),
//! `Content-Type: application/json` and body ≤ 100 000 bytes (400), then the
//! body (400). Errors use each version's shape: v2
//! `{"errors":[{"code":"unauthorized","title":"..."}]}`, v1.1
//! `{"error":{"code":"unauthorized","description":"..."}}`; the title /
//! description says what was wrong.
//!
//! * **Auth.** v2 takes Basic `keyId:secret` or a Bearer JWT; v1.1 takes only a
//!   Bearer JWT. A JWT is *verified*, never compared as a string: three
//!   base64url (unpadded) parts, header `alg` `HS256` and a `kid` naming a
//!   known key, an HS256 signature made with that key's secret, claims
//!   `scope: "app"`, and `exp` (if present) in the future. Keys are app-scoped:
//!   the app in the path must be the key's app. The auth used is recorded
//!   ([`Auth`]) with every accepted call, so tests can assert which key and
//!   which scheme the product used.
//! * **Messages.** v2 needs `author.type == "business"`, v1.1 `role ==
//!   "appMaker"`. Content `type` is one of `text|image|file|carousel|list|location`;
//!   `text` is required (non-blank) for text messages and at most 4096 UTF-16
//!   code units wherever present (JavaScript's `length`: the strict reading);
//!   `image`/`file` need an absolute `http(s)` `mediaUrl`; `carousel`/`list`
//!   need 1–10 `items` with a `title`; `location` needs numeric
//!   `coordinates.lat`/`long`. Every action needs a known `type`; `link` and
//!   `webview` need `text` and `uri`, `reply` and `postback` need `text` and
//!   `payload`, `buy` and `locationRequest` need `text`; at most 13 `reply`
//!   actions per message.
//! * **Activity.** `typing:start`, `typing:stop` or `conversation:read`, with the
//!   same author / role rule.
//! * **Attachments** (users' files, the `mediaUrl` of their messages). Served at
//!   `{url}/attachments/v2/{id}/{name}`, the shape of S1's own example
//!   (`https://subdomain.zendesk.com/sc/attachments/v2/01JK…/my_file.jpeg`, `uploadAttachment`
//!   l.8390, under the API base `https://{subdomain}.zendesk.com/sc`). With private attachments
//!   on ([`FakeSmooch::set_private_attachments`]) a download needs the `Authorization` of a key of
//!   the attachment's app, Basic or JWT as for the v2 API, else 401: S1 `fileMessage.mediaUrl` /
//!   `imageMessage.mediaUrl` (l.4527, l.4716) "An authorization header is required to access the
//!   mediaUrl when private attachments are enabled". Public ones (the default) need none.
//!   Every download is recorded with the auth it used ([`FakeSmooch::attachment_downloads`]).
//!
//! Where the body rules come from: `author.type` `business` (S1 `author`, l.4090, on
//! `messagePost` l.5202); content types and their required fields (S1 `content` and its
//! `textMessage` l.4400 with `text` `maxLength: 4096` l.4410, `imageMessage`, `fileMessage`,
//! `carouselMessage`, `listMessage`, `locationMessage`); actions (S1 `reply` l.4331, `link`,
//! `postback`, `buy`, `locationRequest`, `webview`, `share`); `metadata` flat and ≤ 4 KB (S1
//! `metadata`); the activity `type` enum (S1 `activityPost`, l.5236-5257); the 100 kB body, the
//! 13 reply actions and v1.1's shapes and `role` from `../shared/reference/upstream-apis.md`
//! §3.3-3.4 (v1 docs; no machine-readable v1.1 spec exists).
//!
//! Any conversation or app user exists; profiles default to
//! [`FakeSmooch::DEFAULT_GIVEN_NAME`] [`FakeSmooch::DEFAULT_SURNAME`] unless set
//! with [`FakeSmooch::set_profile`]. Use [`FakeSmooch::refuse_with_code`] for
//! "not found" answers.
//!
//! The webhook builders at the end ([`v2_message`], [`v1_message`], ...) are
//! pure functions returning the JSON Smooch would post; send them with header
//! `X-API-Key: `[`WEBHOOK_SECRET`]. Their shapes are S1's webhook schemas:
//! `conversationMessageEvent` (l.7719), `postbackWebhook` (l.7742: `payload` and `metadata`,
//! no text), `conversationTruncated.activeSwitchboardIntegration` (l.3817, a
//! `switchboardIntegrationWebhook` l.3793: `id`, `name`, `integrationId`, `integrationType`;
//! [`held_by`]) and `switchboardReleaseControl` (l.7970, example l.9713: the conversation without
//! `activeSwitchboardIntegration`; [`v2_release_control`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Map, Value, json};
use sha2::Sha256;

pub use crate::recording::Recorded;
use crate::recording::{RequestLog, Subscribers, lock, never_answer, take_armed, take_one};
use crate::server::{ShutdownGuard, spawn};

/// [`SentMessage::version`] of a Sunshine Conversations v2 call.
pub const V2: &str = "v2";
/// [`SentMessage::version`] of a Smooch v1.1 call.
pub const V1_1: &str = "v1.1";

/// How an accepted call authenticated.
#[derive(Debug, Clone, PartialEq)]
pub enum Auth {
    /// HTTP Basic `keyId:secret` (v2 only).
    Basic { key_id: String },
    /// A verified Bearer JWT: its decoded header (`alg`, `kid`, ...) and claims (`scope`, ...).
    Jwt { header: Value, claims: Value },
}

impl Auth {
    /// The key id used: the Basic user name or the JWT's `kid`.
    pub fn key_id(&self) -> &str {
        match self {
            Auth::Basic { key_id } => key_id,
            Auth::Jwt { header, .. } => header["kid"].as_str().unwrap_or_default(),
        }
    }

    /// Whether this was a Bearer JWT.
    pub fn is_jwt(&self) -> bool {
        matches!(self, Auth::Jwt { .. })
    }
}

/// A message the fake accepted (answered 201), as the product asked to send it.
#[derive(Debug, Clone, PartialEq)]
pub struct SentMessage {
    /// [`V2`] or [`V1_1`].
    pub version: &'static str,
    /// The app id in the path.
    pub app_id: String,
    /// The conversation id (v2) or app user id (v1.1) in the path.
    pub target: String,
    /// The id the fake gave the message (`messages[0].id` / `message._id`).
    pub id: String,
    /// The message content: v2 `content`; for v1.1 the body without `role`
    /// (so both have `type`, `text`, `mediaUrl`, `actions`, ... at the top).
    pub content: Value,
    /// The whole request body.
    pub body: Value,
    pub auth: Auth,
}

impl SentMessage {
    /// Content `type` (`text`, `image`, ...).
    pub fn kind(&self) -> &str {
        self.content["type"].as_str().unwrap_or_default()
    }

    /// Content `text`, if any.
    pub fn text(&self) -> Option<&str> {
        self.content["text"].as_str()
    }

    /// Content `actions` (empty if none).
    pub fn actions(&self) -> &[Value] {
        self.content["actions"].as_array().map(Vec::as_slice).unwrap_or_default()
    }
}

/// An accepted conversation activity (typing indicator, read receipt).
#[derive(Debug, Clone, PartialEq)]
pub struct Activity {
    /// [`V2`] or [`V1_1`].
    pub version: &'static str,
    pub app_id: String,
    /// The conversation id (v2) or app user id (v1.1) in the path.
    pub target: String,
    /// `typing:start`, `typing:stop` or `conversation:read`.
    pub kind: String,
    pub auth: Auth,
}

/// An answered user-profile lookup.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileLookup {
    /// [`V2`] or [`V1_1`].
    pub version: &'static str,
    pub app_id: String,
    /// The user id (v2) or app user id (v1.1) in the path.
    pub user_id: String,
    pub auth: Auth,
}

/// A download of an attachment the fake served (200), with the auth it carried.
#[derive(Debug, Clone, PartialEq)]
pub struct AttachmentDownload {
    /// The request path (`/attachments/v2/{id}/{name}`).
    pub path: String,
    /// The verified credentials, if the request carried any; `None` for an anonymous download of
    /// a public attachment.
    pub auth: Option<Auth>,
}

/// A file a user sent, kept where Sunshine keeps attachments.
struct Attachment {
    app_id: String,
    content_type: String,
    body: Bytes,
}

/// A request that passed auth (whatever happened to it next).
#[derive(Debug, Clone, PartialEq)]
pub struct Authenticated {
    pub method: String,
    pub path: String,
    pub auth: Auth,
}

/// Handle to a running fake Smooch. Cheap to clone; the server stops
/// (gracefully) when the last clone is dropped.
#[derive(Clone)]
pub struct FakeSmooch {
    addr: SocketAddr,
    shared: Arc<Shared>,
    _guard: Arc<ShutdownGuard>,
}

impl std::fmt::Debug for FakeSmooch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeSmooch").field("addr", &self.addr).finish_non_exhaustive()
    }
}

struct Shared {
    log: RequestLog,
    state: Mutex<SmoochState>,
    /// Told of every accepted message.
    accepted: Subscribers<SentMessage>,
}

struct Key {
    app_id: String,
    secret: String,
}

/// What an injected failure applies to.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Endpoint {
    Messages,
    Activity,
    User,
}

/// `remaining` requests to `endpoint` fail with `status` once `after` messages
/// were accepted in all.
#[derive(Clone, Debug)]
struct Failure {
    endpoint: Endpoint,
    after: usize,
    status: u16,
    code: Option<String>,
    retry_after: Option<u64>,
    remaining: usize,
}

struct SmoochState {
    keys: HashMap<String, Key>,
    profiles: HashMap<String, (String, String)>,
    /// v1.1 conversation id per `(app, appUser)`.
    conversations: HashMap<(String, String), String>,
    messages: Vec<SentMessage>,
    activities: Vec<Activity>,
    lookups: Vec<ProfileLookup>,
    auths: Vec<Authenticated>,
    failures: Vec<Failure>,
    delay: Duration,
    /// `(hold, remaining)` of accepted messages whose 201 is held back.
    late_answers: Option<(Duration, usize)>,
    /// Message posts still to take in and never answer nor act on.
    lost: usize,
    /// Users' files by path (`/attachments/v2/{id}/{name}`).
    attachments: HashMap<String, Attachment>,
    /// The app setting "private attachments": downloads need a key of the app.
    private_attachments: bool,
    downloads: Vec<AttachmentDownload>,
}

impl FakeSmooch {
    /// The app both built-in keys belong to.
    pub const APP_ID: &'static str = "5698edbf2a43bd081be982f1";
    /// An app-scope key of [`FakeSmooch::APP_ID`] (the documentation's example key id).
    pub const KEY_ID: &'static str = "app_5963c0d619a30a2e00de36b8";
    /// The secret of [`FakeSmooch::KEY_ID`].
    pub const SECRET: &'static str = "smooch_secret";
    /// A second app-scope key of [`FakeSmooch::APP_ID`] (another environment's credentials).
    pub const OTHER_KEY_ID: &'static str = "app_5963c0d619a30a2e00de36b9";
    /// The secret of [`FakeSmooch::OTHER_KEY_ID`].
    pub const OTHER_SECRET: &'static str = "other_smooch_secret";
    /// Longest `text`, in UTF-16 code units.
    pub const MAX_TEXT_LEN: usize = 4096;
    /// Largest JSON body, in bytes.
    pub const MAX_BODY_BYTES: usize = 100_000;
    /// Most `reply` actions in one message.
    pub const MAX_REPLY_ACTIONS: usize = 13;
    /// `givenName` of every user without a [`FakeSmooch::set_profile`].
    pub const DEFAULT_GIVEN_NAME: &'static str = "Ana";
    /// `surname` of every user without a [`FakeSmooch::set_profile`].
    pub const DEFAULT_SURNAME: &'static str = "García";

    /// Starts a fake on `127.0.0.1:<random port>` knowing [`FakeSmooch::KEY_ID`]
    /// and [`FakeSmooch::OTHER_KEY_ID`].
    pub async fn start() -> Self {
        let mut keys = HashMap::new();
        for (id, secret) in [(Self::KEY_ID, Self::SECRET), (Self::OTHER_KEY_ID, Self::OTHER_SECRET)] {
            keys.insert(id.to_owned(), Key { app_id: Self::APP_ID.to_owned(), secret: secret.to_owned() });
        }
        let state = SmoochState {
            keys,
            profiles: HashMap::new(),
            conversations: HashMap::new(),
            messages: Vec::new(),
            activities: Vec::new(),
            lookups: Vec::new(),
            auths: Vec::new(),
            failures: Vec::new(),
            delay: Duration::ZERO,
            late_answers: None,
            lost: 0,
            attachments: HashMap::new(),
            private_attachments: false,
            downloads: Vec::new(),
        };
        let shared = Arc::new(Shared { log: RequestLog::default(), state: Mutex::new(state), accepted: Subscribers::default() });
        let routed = Arc::clone(&shared);
        let (addr, guard) = spawn("FakeSmooch", move |_| Router::new().fallback(handle).with_state(routed)).await;
        Self { addr, shared, _guard: guard }
    }

    /// Socket address the fake listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The variables that point the connector at this fake, with its credentials and the
    /// webhook secret its webhooks are signed with.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("SMOOCH_API_URL", self.url()),
            ("SMOOCH_KEY_ID", Self::KEY_ID.to_owned()),
            ("SMOOCH_SECRET", Self::SECRET.to_owned()),
            ("SMOOCH_WEBHOOK_SECRET", WEBHOOK_SECRET.to_owned()),
        ]
    }

    /// `http://127.0.0.1:PORT`, no version suffix and no trailing slash; the
    /// product posts to `{url}/v2/apps/...` or `{url}/v1.1/apps/...`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Same as [`FakeSmooch::url`] (the name the other fakes use).
    pub fn base_url(&self) -> String {
        self.url()
    }

    /// Registers (or replaces) an app-scope key of `app_id`.
    pub fn add_key(&self, app_id: &str, key_id: &str, secret: &str) {
        let key = Key { app_id: app_id.to_owned(), secret: secret.to_owned() };
        lock(&self.shared.state).keys.insert(key_id.to_owned(), key);
    }

    /// Forgets a key: later calls with it get 401 (a revoked or rotated key).
    pub fn revoke_key(&self, key_id: &str) {
        lock(&self.shared.state).keys.remove(key_id);
    }

    /// The profile answered for `user_id` (v2 user id or v1.1 app user id).
    pub fn set_profile(&self, user_id: &str, given_name: &str, surname: &str) {
        lock(&self.shared.state).profiles.insert(user_id.to_owned(), (given_name.to_owned(), surname.to_owned()));
    }

    /// Messages accepted so far (201 answers only), in arrival order.
    pub fn messages(&self) -> Vec<SentMessage> {
        lock(&self.shared.state).messages.clone()
    }

    /// Every message accepted from now on (v2 and v1.1; not activity), in order, as it is
    /// accepted.
    pub fn subscribe(&self) -> tokio::sync::mpsc::UnboundedReceiver<SentMessage> {
        self.shared.accepted.subscribe()
    }

    /// Polls until at least `n` messages were accepted or `timeout` passes,
    /// then returns all accepted messages — possibly fewer than `n`, so assert
    /// on the length.
    pub async fn wait_for_messages(&self, n: usize, timeout: Duration) -> Vec<SentMessage> {
        poll(timeout, || self.messages(), |m| m.len() >= n).await
    }

    /// Activities accepted so far (typing indicators, read receipts), in arrival order.
    pub fn activities(&self) -> Vec<Activity> {
        lock(&self.shared.state).activities.clone()
    }

    /// Like [`FakeSmooch::wait_for_messages`], for activities.
    pub async fn wait_for_activities(&self, n: usize, timeout: Duration) -> Vec<Activity> {
        poll(timeout, || self.activities(), |a| a.len() >= n).await
    }

    /// Profile lookups answered so far, in arrival order.
    pub fn profile_lookups(&self) -> Vec<ProfileLookup> {
        lock(&self.shared.state).lookups.clone()
    }

    /// Every request that passed auth, with the auth it used, in arrival order.
    pub fn auths(&self) -> Vec<Authenticated> {
        lock(&self.shared.state).auths.clone()
    }

    /// Every request received, in arrival order, including rejected ones.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.log.snapshot()
    }

    /// The next `times` message posts (either version, before auth and
    /// validation) fail with HTTP `status` and an error body whose code
    /// follows the status (`too_many_requests`, `internal_server_error`,
    /// `service_unavailable`, ...). A 429 carries `Retry-After: 1`. An invalid
    /// status is answered as 500. Activities and profile lookups are not
    /// affected (see [`FakeSmooch::fail_activity_with`]).
    pub fn fail_with(&self, status: u16, times: usize) {
        self.inject(Endpoint::Messages, 0, status, None, times);
    }

    /// Like [`FakeSmooch::fail_with`], but only once `accepted` messages were
    /// accepted in all (so a turn's later messages fail after its first ones went out).
    pub fn fail_after(&self, accepted: usize, status: u16, times: usize) {
        self.inject(Endpoint::Messages, accepted, status, None, times);
    }

    /// The next `times` message posts get 429 `too_many_requests` with
    /// `Retry-After: {retry_after_secs}`.
    pub fn rate_limit(&self, retry_after_secs: u64, times: usize) {
        let failure = Failure {
            endpoint: Endpoint::Messages,
            after: 0,
            status: 429,
            code: None,
            retry_after: Some(retry_after_secs),
            remaining: times,
        };
        self.set_failure(failure);
    }

    /// The next `times` message posts are refused with HTTP `status` and this
    /// error `code` (e.g. `404, "conversation_not_found"`, `423, "locked"`).
    pub fn refuse_with_code(&self, status: u16, code: &str, times: usize) {
        self.inject(Endpoint::Messages, 0, status, Some(code.to_owned()), times);
    }

    /// The next `times` activity posts fail with `status` (see [`FakeSmooch::fail_with`]).
    pub fn fail_activity_with(&self, status: u16, times: usize) {
        self.inject(Endpoint::Activity, 0, status, None, times);
    }

    /// The next `times` profile lookups fail with `status` (see [`FakeSmooch::fail_with`]).
    pub fn fail_profile_with(&self, status: u16, times: usize) {
        self.inject(Endpoint::User, 0, status, None, times);
    }

    /// Every request waits this long before being handled (client timeouts).
    pub fn set_delay(&self, delay: Duration) {
        lock(&self.shared.state).delay = delay;
    }

    /// The next `times` messages accepted are recorded as sent, exactly as a
    /// normal 201, but the 201 is held `delay` before it is returned: the
    /// product times out on a message Smooch did send (an ambiguous send).
    /// Rejected requests do not use it up. In [`FakeSmooch::requests`] the
    /// status shows once the answer is returned (`None` if the client hung up).
    pub fn answer_late(&self, delay: Duration, times: usize) {
        lock(&self.shared.state).late_answers = Some((delay, times));
    }

    /// The next `times` valid message posts are read and then neither acted on nor answered
    /// (the connection stays open until the client gives up): a send whose outcome the
    /// product cannot know, and that Smooch never got.
    pub fn lose_messages(&self, times: usize) {
        lock(&self.shared.state).lost = times;
    }

    /// Keeps `body` as a file a user of [`FakeSmooch::APP_ID`] sent, named `name`, served with
    /// `content_type`; its `mediaUrl` (`{url}/attachments/v2/{id}/{name}`, as S1's example).
    pub fn put_attachment(&self, name: &str, content_type: &str, body: &[u8]) -> String {
        let path = format!("{ATTACHMENTS}{}/{name}", new_id());
        let attachment =
            Attachment { app_id: Self::APP_ID.to_owned(), content_type: content_type.to_owned(), body: Bytes::copy_from_slice(body) };
        lock(&self.shared.state).attachments.insert(path.clone(), attachment);
        format!("{}{path}", self.url())
    }

    /// The app's "private attachments" setting: on, a download needs the `Authorization` of a
    /// key of the app (S1 l.4527, l.4716); off (the default), anyone may download.
    pub fn set_private_attachments(&self, private: bool) {
        lock(&self.shared.state).private_attachments = private;
    }

    /// Attachments served so far (200 answers only), in arrival order.
    pub fn attachment_downloads(&self) -> Vec<AttachmentDownload> {
        lock(&self.shared.state).downloads.clone()
    }

    /// `GET` requests listing a conversation's messages so far.
    pub fn list_requests(&self) -> Vec<Recorded> {
        self.requests().into_iter().filter(|r| r.method == "GET" && r.path.ends_with("/messages")).collect()
    }

    fn inject(&self, endpoint: Endpoint, after: usize, status: u16, code: Option<String>, times: usize) {
        let retry_after = (status == 429).then_some(1);
        self.set_failure(Failure { endpoint, after, status, code, retry_after, remaining: times });
    }

    /// Replaces any failure already set for the same endpoint.
    fn set_failure(&self, failure: Failure) {
        let mut state = lock(&self.shared.state);
        state.failures.retain(|f| f.endpoint != failure.endpoint);
        if failure.remaining > 0 {
            state.failures.push(failure);
        }
    }
}

async fn poll<T>(timeout: Duration, get: impl Fn() -> Vec<T>, done: impl Fn(&[T]) -> bool) -> Vec<T> {
    let deadline = Instant::now() + timeout;
    loop {
        let items = get();
        if done(&items) || Instant::now() >= deadline {
            return items;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// ----- HTTP handling ----------------------------------------------------

/// An answer: status, JSON body and, for 429s, `Retry-After` seconds.
struct Answer {
    status: StatusCode,
    body: Value,
    retry_after: Option<u64>,
}

fn ok(status: StatusCode, body: Value) -> Answer {
    Answer { status, body, retry_after: None }
}

/// Every request: recorded, answered, its status recorded. (Not
/// `server::Running`, whose answers cannot carry `Retry-After`.)
async fn handle(State(shared): State<Arc<Shared>>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let id = shared.log.record(&method, &uri, &headers, &body);
    if uri.path().starts_with(ATTACHMENTS) {
        let (status, response) = match attachment(&shared, &method, uri.path(), &headers) {
            Ok(response) => (StatusCode::OK, response),
            Err(answer) => (answer.status, (answer.status, Json(answer.body)).into_response()),
        };
        shared.log.set_status(id, status.as_u16());
        return response;
    }
    let answer = route(&shared, &method, uri.path(), &headers, &body).await.unwrap_or_else(|err| err);
    shared.log.set_status(id, answer.status.as_u16());
    let mut response = (answer.status, Json(answer.body)).into_response();
    if let Some(secs) = answer.retry_after {
        response.headers_mut().insert("retry-after", HeaderValue::from(secs));
    }
    response
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Api {
    V2,
    V1_1,
}

impl Api {
    fn name(self) -> &'static str {
        match self {
            Api::V2 => V2,
            Api::V1_1 => V1_1,
        }
    }

    /// The version's error body.
    fn error(self, status: StatusCode, code: &str, text: &str) -> Answer {
        let body = match self {
            Api::V2 => json!({"errors": [{"code": code, "title": text}]}),
            Api::V1_1 => json!({"error": {"code": code, "description": text}}),
        };
        Answer { status, body, retry_after: None }
    }

    fn bad_request(self, text: &str) -> Answer {
        self.error(StatusCode::BAD_REQUEST, "bad_request", text)
    }
}

/// The error `code` Smooch uses for an HTTP status.
fn default_code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "bad_request",
        401 => "unauthorized",
        402 => "payment_required",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        409 => "conflict",
        413 => "payload_too_large",
        423 => "locked",
        429 => "too_many_requests",
        500 => "internal_server_error",
        502 => "bad_gateway",
        503 => "service_unavailable",
        504 => "gateway_timeout",
        _ => "error",
    }
}

/// A recognised route.
struct Call<'a> {
    api: Api,
    endpoint: Endpoint,
    app: &'a str,
    target: &'a str,
}

fn parse_path(path: &str) -> Option<Call<'_>> {
    let segments: Vec<&str> = path.split('/').collect();
    let nonempty = |s: &&str| !s.is_empty();
    let (api, endpoint, app, target) = match segments.as_slice() {
        ["", "v2", "apps", app, "conversations", conv, "messages"] => (Api::V2, Endpoint::Messages, *app, *conv),
        ["", "v2", "apps", app, "conversations", conv, "activity"] => (Api::V2, Endpoint::Activity, *app, *conv),
        ["", "v2", "apps", app, "users", user] => (Api::V2, Endpoint::User, *app, *user),
        ["", "v1.1", "apps", app, "appusers", user, "messages"] => (Api::V1_1, Endpoint::Messages, *app, *user),
        ["", "v1.1", "apps", app, "appusers", user, "conversation", "activity"] => (Api::V1_1, Endpoint::Activity, *app, *user),
        ["", "v1.1", "apps", app, "appusers", user] => (Api::V1_1, Endpoint::User, *app, *user),
        _ => return None,
    };
    (nonempty(&app) && nonempty(&target)).then_some(Call { api, endpoint, app, target })
}

async fn route(shared: &Shared, method: &Method, path: &str, headers: &HeaderMap, body: &[u8]) -> Result<Answer, Answer> {
    let delay = lock(&shared.state).delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let guess = if path.starts_with("/v2/") { Api::V2 } else { Api::V1_1 };
    let call = parse_path(path).ok_or_else(|| guess.error(StatusCode::NOT_FOUND, "not_found", "Resource not found"))?;
    let api = call.api;
    if let Some(failure) = take_injected(&mut lock(&shared.state), call.endpoint) {
        let status = StatusCode::from_u16(failure.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let code = failure.code.as_deref().unwrap_or(default_code(status));
        let mut answer = api.error(status, code, status.canonical_reason().unwrap_or("Error"));
        answer.retry_after = failure.retry_after;
        return Err(answer);
    }
    let listing = api == Api::V2 && call.endpoint == Endpoint::Messages && method == Method::GET;
    let expected = if call.endpoint == Endpoint::User || listing { Method::GET } else { Method::POST };
    if method != expected {
        return Err(api.error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "Method not allowed"));
    }
    let auth = {
        let mut state = lock(&shared.state);
        let auth = authenticate(&state.keys, api, call.app, headers)?;
        state.auths.push(Authenticated { method: method.as_str().to_owned(), path: path.to_owned(), auth: auth.clone() });
        auth
    };
    if listing {
        return Ok(list_messages(&lock(&shared.state), &call));
    }
    if api == Api::V2 && method == Method::POST {
        crate::specs::sunshine_v2_post(path, &json_body(api, headers, body)?).map_err(|e| api.bad_request(&e))?;
    }
    match call.endpoint {
        Endpoint::User => Ok(profile(shared, &call, auth)),
        Endpoint::Activity => {
            let body = json_body(api, headers, body)?;
            let kind = check_activity(api, &body).map_err(|e| api.bad_request(&e))?;
            let mut state = lock(&shared.state);
            let activity = Activity { version: api.name(), app_id: call.app.to_owned(), target: call.target.to_owned(), kind, auth };
            state.activities.push(activity);
            Ok(match api {
                Api::V2 => ok(StatusCode::OK, json!({})),
                Api::V1_1 => {
                    let conversation = conversation_id(&mut state, call.app, call.target);
                    ok(StatusCode::OK, json!({"conversation": {"_id": conversation, "unreadCount": 0}}))
                }
            })
        }
        Endpoint::Messages => {
            let body = json_body(api, headers, body)?;
            let content = match api {
                Api::V2 => check_v2_message(&body),
                Api::V1_1 => check_v1_message(&body),
            }
            .map_err(|e| api.bad_request(&e))?;
            if take_one(&mut lock(&shared.state).lost) {
                never_answer().await;
                return Err(api.error(StatusCode::GATEWAY_TIMEOUT, "gateway_timeout", "lost"));
            }
            let id = new_id();
            let (reply, hold) = {
                let mut state = lock(&shared.state);
                let reply = match api {
                    Api::V2 => json!({"messages": [{
                        "id": id,
                        "received": iso8601(now_millis()),
                        "author": body["author"],
                        "content": content,
                        "metadata": body.get("metadata").cloned().unwrap_or(Value::Null),
                        "source": {"type": "api:conversations"},
                    }]}),
                    Api::V1_1 => {
                        let mut message = content.as_object().cloned().unwrap_or_default();
                        message.insert("_id".into(), json!(id));
                        message.insert("role".into(), json!("appMaker"));
                        message.insert("authorId".into(), json!(format!("appmaker_{}", call.app)));
                        message.insert("received".into(), json!(now_millis() as f64 / 1000.0));
                        let conversation = conversation_id(&mut state, call.app, call.target);
                        json!({"message": message, "conversation": {"_id": conversation, "unreadCount": 0}})
                    }
                };
                let sent = SentMessage {
                    version: api.name(),
                    app_id: call.app.to_owned(),
                    target: call.target.to_owned(),
                    id,
                    content,
                    body,
                    auth,
                };
                shared.accepted.notify(&sent);
                state.messages.push(sent);
                (reply, take_armed(&mut state.late_answers))
            };
            if let Some(hold) = hold {
                tokio::time::sleep(hold).await;
            }
            Ok(ok(StatusCode::CREATED, reply))
        }
    }
}

/// Where attachments are served, under the API base (S1 `uploadAttachment` example, l.8390).
const ATTACHMENTS: &str = "/attachments/v2/";

/// A user's file: its bytes, once the private-attachments rule is met (S1 l.4527, l.4716: "An
/// authorization header is required to access the mediaUrl when private attachments are
/// enabled"). Credentials a request carries are verified even for a public file, so a test sees
/// which were sent where.
fn attachment(shared: &Shared, method: &Method, path: &str, headers: &HeaderMap) -> Result<Response, Answer> {
    if method != Method::GET {
        return Err(Api::V2.error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "Method not allowed"));
    }
    let mut state = lock(&shared.state);
    let Some(file) = state.attachments.get(path) else {
        return Err(Api::V2.error(StatusCode::NOT_FOUND, "not_found", "Attachment not found"));
    };
    let auth = if headers.contains_key("authorization") {
        Some(authenticate(&state.keys, Api::V2, &file.app_id, headers)?)
    } else if state.private_attachments {
        return Err(Api::V2.error(StatusCode::UNAUTHORIZED, "unauthorized", "Authorization is required for private attachments"));
    } else {
        None
    };
    let response = ([(axum::http::header::CONTENT_TYPE, file.content_type.clone())], file.body.clone()).into_response();
    state.downloads.push(AttachmentDownload { path: path.to_owned(), auth });
    Ok(response)
}

/// `ListMessages`: the conversation's latest page (100 messages, oldest first), with the
/// metadata each was posted with.
fn list_messages(state: &SmoochState, call: &Call<'_>) -> Answer {
    let ours: Vec<&SentMessage> =
        state.messages.iter().filter(|m| m.version == V2 && m.app_id == call.app && m.target == call.target).collect();
    let page = &ours[ours.len().saturating_sub(100)..];
    let messages: Vec<Value> = page
        .iter()
        .map(|m| {
            json!({
                "id": m.id,
                "author": m.body["author"],
                "content": m.content,
                "metadata": m.body.get("metadata").cloned().unwrap_or(Value::Null),
                "source": {"type": "api:conversations"},
            })
        })
        .collect();
    let before = page.first().map(|m| m.id.clone());
    ok(StatusCode::OK, json!({"messages": messages, "meta": {"hasMore": ours.len() > 100, "beforeCursor": before}, "links": {}}))
}

/// The injected failure for this request, if one is due.
fn take_injected(state: &mut SmoochState, endpoint: Endpoint) -> Option<Failure> {
    let accepted = state.messages.len();
    let i = state.failures.iter().position(|f| f.endpoint == endpoint && f.remaining > 0 && accepted >= f.after)?;
    let failure = state.failures[i].clone();
    state.failures[i].remaining -= 1;
    if state.failures[i].remaining == 0 {
        state.failures.remove(i);
    }
    Some(failure)
}

fn conversation_id(state: &mut SmoochState, app: &str, app_user: &str) -> String {
    state.conversations.entry((app.to_owned(), app_user.to_owned())).or_insert_with(new_id).clone()
}

fn profile(shared: &Shared, call: &Call<'_>, auth: Auth) -> Answer {
    let mut state = lock(&shared.state);
    let (given, surname) = state
        .profiles
        .get(call.target)
        .cloned()
        .unwrap_or_else(|| (FakeSmooch::DEFAULT_GIVEN_NAME.to_owned(), FakeSmooch::DEFAULT_SURNAME.to_owned()));
    state.lookups.push(ProfileLookup { version: call.api.name(), app_id: call.app.to_owned(), user_id: call.target.to_owned(), auth });
    let email = format!("{}@example.com", call.target);
    let body = match call.api {
        Api::V2 => json!({"user": {
            "id": call.target,
            "externalId": null,
            "signedUpAt": "2024-01-01T00:00:00.000Z",
            "profile": {"givenName": given, "surname": surname, "email": email, "locale": "es-ES"},
            "metadata": {},
            "identities": [],
        }}),
        Api::V1_1 => json!({"appUser": {
            "_id": call.target,
            "givenName": given,
            "surname": surname,
            "email": email,
            "signedUpAt": "2024-01-01T00:00:00.000Z",
            "properties": {},
            "conversationStarted": true,
            "clients": [{"active": true, "id": "client-1", "lastSeen": "2024-01-01T00:00:00.000Z", "platform": "messenger"}],
        }}),
    };
    ok(StatusCode::OK, body)
}

// ----- auth ---------------------------------------------------------------

type HmacSha256 = Hmac<Sha256>;

/// Checks the `Authorization` header against the known keys and the app in the path.
fn authenticate(keys: &HashMap<String, Key>, api: Api, app: &str, headers: &HeaderMap) -> Result<Auth, Answer> {
    let unauthorized = |why: &str| api.error(StatusCode::UNAUTHORIZED, "unauthorized", why);
    let value = headers.get("authorization").and_then(|v| v.to_str().ok()).ok_or_else(|| unauthorized("Authorization is required"))?;
    let (scheme, credentials) = value.trim().split_once(' ').ok_or_else(|| unauthorized("Malformed Authorization header"))?;
    let credentials = credentials.trim();
    let (key_app, auth) = if scheme.eq_ignore_ascii_case("bearer") {
        verify_jwt(keys, credentials).map_err(|why| unauthorized(&why))?
    } else if scheme.eq_ignore_ascii_case("basic") && api == Api::V2 {
        verify_basic(keys, credentials).map_err(|why| unauthorized(&why))?
    } else {
        return Err(unauthorized(&format!("Authorization scheme {scheme:?} is not accepted by {}", api.name())));
    };
    if key_app != app {
        return Err(unauthorized(&format!("Key {} does not belong to app {app}", auth.key_id())));
    }
    Ok(auth)
}

fn verify_basic(keys: &HashMap<String, Key>, credentials: &str) -> Result<(String, Auth), String> {
    let decoded = STANDARD.decode(credentials).map_err(|_| "Basic credentials are not base64".to_owned())?;
    let decoded = String::from_utf8(decoded).map_err(|_| "Basic credentials are not UTF-8".to_owned())?;
    let (key_id, secret) = decoded.split_once(':').ok_or("Basic credentials have no ':'")?;
    let key = keys.get(key_id).ok_or_else(|| format!("Unknown key id {key_id:?}"))?;
    if !same_secret(secret.as_bytes(), key.secret.as_bytes()) {
        return Err("Invalid secret".into());
    }
    Ok((key.app_id.clone(), Auth::Basic { key_id: key_id.to_owned() }))
}

fn verify_jwt(keys: &HashMap<String, Key>, token: &str) -> Result<(String, Auth), String> {
    let parts: Vec<&str> = token.split('.').collect();
    let [header_b64, claims_b64, signature_b64] = parts.as_slice() else {
        return Err("The JWT does not have three parts".into());
    };
    let decode_object = |part: &str, what: &str| -> Result<Value, String> {
        let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| format!("The JWT {what} is not unpadded base64url"))?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|_| format!("The JWT {what} is not JSON"))?;
        if value.is_object() { Ok(value) } else { Err(format!("The JWT {what} is not a JSON object")) }
    };
    let header = decode_object(header_b64, "header")?;
    let claims = decode_object(claims_b64, "payload")?;
    let signature = URL_SAFE_NO_PAD.decode(signature_b64).map_err(|_| "The JWT signature is not unpadded base64url".to_owned())?;
    if header["alg"] != "HS256" {
        return Err(format!("The JWT alg must be HS256, not {}", header["alg"]));
    }
    let kid = header["kid"].as_str().ok_or("The JWT header has no kid")?;
    let key = keys.get(kid).ok_or_else(|| format!("Unknown key id {kid:?}"))?;
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key.secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(header_b64.as_bytes());
    mac.update(b".");
    mac.update(claims_b64.as_bytes());
    mac.verify_slice(&signature).map_err(|_| "Invalid JWT signature".to_owned())?;
    if claims["scope"] != "app" {
        return Err(format!("The JWT scope must be \"app\", not {}", claims["scope"]));
    }
    if let Some(exp) = claims.get("exp") {
        let exp = exp.as_f64().ok_or("The JWT exp is not a number")?;
        if exp * 1000.0 <= now_millis() as f64 {
            return Err("The JWT has expired".into());
        }
    }
    Ok((key.app_id.clone(), Auth::Jwt { header, claims }))
}

/// Constant-time equality (the length is not secret).
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// An HS256 JWT over exactly these header and claims JSON texts (so byte-exact
/// test vectors can be reproduced), for test drivers and unit tests.
pub fn sign_jwt(header_json: &str, claims_json: &str, secret: &str) -> String {
    let signing_input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header_json), URL_SAFE_NO_PAD.encode(claims_json));
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}

/// An app-scope JWT (`{"alg":"HS256","typ":"JWT","kid":key_id}`, `{"scope":"app"}`).
pub fn app_jwt(key_id: &str, secret: &str) -> String {
    let header = json!({"alg": "HS256", "typ": "JWT", "kid": key_id});
    sign_jwt(&header.to_string(), r#"{"scope":"app"}"#, secret)
}

/// An `Authorization` value `Basic base64(keyId:secret)` (v2).
pub fn basic_auth(key_id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{key_id}:{secret}")))
}

// ----- body validation ------------------------------------------------------

fn json_body(api: Api, headers: &HeaderMap, body: &[u8]) -> Result<Value, Answer> {
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !content_type.trim_start().to_ascii_lowercase().starts_with("application/json") {
        return Err(api.bad_request("Content-Type must be application/json"));
    }
    if body.len() > FakeSmooch::MAX_BODY_BYTES {
        return Err(api.bad_request(&format!("The body is {} bytes; the limit is {}", body.len(), FakeSmooch::MAX_BODY_BYTES)));
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| api.bad_request(&format!("The body is not valid JSON: {e}")))?;
    if value.is_object() { Ok(value) } else { Err(api.bad_request("The body must be a JSON object")) }
}

/// The v2 message's `content`, if the body is valid.
fn check_v2_message(body: &Value) -> Result<Value, String> {
    check_business_author(body)?;
    check_metadata(body.get("metadata"))?;
    let content = body.get("content").and_then(Value::as_object).ok_or("content is required and must be an object")?;
    check_content(content)?;
    Ok(Value::Object(content.clone()))
}

/// The v1.1 message without `role`, if the body is valid.
fn check_v1_message(body: &Value) -> Result<Value, String> {
    check_app_maker_role(body)?;
    let mut content = body.as_object().cloned().unwrap_or_default();
    content.remove("role");
    check_content(&content)?;
    Ok(Value::Object(content))
}

/// `metadata`: a flat object of strings, numbers and booleans, at most 4 KB (the spec's
/// `metadata` schema).
fn check_metadata(metadata: Option<&Value>) -> Result<(), String> {
    let Some(metadata) = metadata.filter(|m| !m.is_null()) else { return Ok(()) };
    let fields = metadata.as_object().ok_or("metadata must be an object")?;
    if let Some((key, _)) = fields.iter().find(|(_, v)| !(v.is_string() || v.is_number() || v.is_boolean())) {
        return Err(format!("metadata.{key} must be a string, number or boolean"));
    }
    if metadata.to_string().len() > 4096 {
        return Err("metadata is limited to 4KB".into());
    }
    Ok(())
}

fn check_business_author(body: &Value) -> Result<(), String> {
    match body["author"]["type"].as_str() {
        Some("business") => Ok(()),
        Some(other) => Err(format!("author.type must be \"business\", not {other:?}")),
        None => Err("author.type is required".into()),
    }
}

fn check_app_maker_role(body: &Value) -> Result<(), String> {
    match body["role"].as_str() {
        Some("appMaker") => Ok(()),
        Some(other) => Err(format!("role must be \"appMaker\", not {other:?}")),
        None => Err("role is required".into()),
    }
}

/// The activity `type`, if the body is valid.
fn check_activity(api: Api, body: &Value) -> Result<String, String> {
    match api {
        Api::V2 => check_business_author(body)?,
        Api::V1_1 => check_app_maker_role(body)?,
    }
    match body["type"].as_str() {
        Some(kind @ ("typing:start" | "typing:stop" | "conversation:read")) => Ok(kind.to_owned()),
        Some(other) => Err(format!("type must be typing:start, typing:stop or conversation:read, not {other:?}")),
        None => Err("type is required".into()),
    }
}

const CONTENT_TYPES: [&str; 6] = ["text", "image", "file", "carousel", "list", "location"];

fn nonblank<'a>(object: &'a Map<String, Value>, field: &str) -> Option<&'a str> {
    object.get(field).and_then(Value::as_str).filter(|s| !s.trim().is_empty())
}

fn check_content(content: &Map<String, Value>) -> Result<(), String> {
    let kind = content.get("type").and_then(Value::as_str).ok_or("type is required")?;
    if !CONTENT_TYPES.contains(&kind) {
        return Err(format!("type must be one of {}, not {kind:?}", CONTENT_TYPES.join("|")));
    }
    match content.get("text") {
        None | Some(Value::Null) => {}
        Some(Value::String(text)) => {
            let len = text.encode_utf16().count();
            if len > FakeSmooch::MAX_TEXT_LEN {
                return Err(format!("text is {len} characters long; the limit is {}", FakeSmooch::MAX_TEXT_LEN));
            }
        }
        Some(_) => return Err("text must be a string".into()),
    }
    match kind {
        "text" => {
            nonblank(content, "text").ok_or("text is required for text messages")?;
        }
        "image" | "file" => {
            let url = content.get("mediaUrl").and_then(Value::as_str).ok_or_else(|| format!("mediaUrl is required for {kind} messages"))?;
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(format!("mediaUrl must be an absolute http(s) URL, not {url:?}"));
            }
        }
        "carousel" | "list" => {
            let items = content.get("items").and_then(Value::as_array).ok_or_else(|| format!("items is required for {kind} messages"))?;
            if items.is_empty() || items.len() > 10 {
                return Err(format!("a {kind} needs 1 to 10 items, not {}", items.len()));
            }
            for (i, item) in items.iter().enumerate() {
                let item = item.as_object().ok_or_else(|| format!("items[{i}] must be an object"))?;
                nonblank(item, "title").ok_or_else(|| format!("items[{i}].title is required"))?;
                if let Some(actions) = item.get("actions") {
                    check_actions(actions, &format!("items[{i}].actions"))?;
                }
            }
        }
        _ => {
            let coordinates = &content.get("coordinates").cloned().unwrap_or_default();
            if !(coordinates["lat"].is_number() && coordinates["long"].is_number()) {
                return Err("coordinates.lat and coordinates.long are required numbers for location messages".into());
            }
        }
    }
    if let Some(actions) = content.get("actions") {
        check_actions(actions, "actions")?;
    }
    Ok(())
}

fn check_actions(actions: &Value, at: &str) -> Result<(), String> {
    let actions = actions.as_array().ok_or_else(|| format!("{at} must be an array"))?;
    let mut replies = 0;
    for (i, action) in actions.iter().enumerate() {
        let action = action.as_object().ok_or_else(|| format!("{at}[{i}] must be an object"))?;
        let kind = action.get("type").and_then(Value::as_str).ok_or_else(|| format!("{at}[{i}].type is required"))?;
        let required: &[&str] = match kind {
            "link" | "webview" => &["text", "uri"],
            "reply" => {
                replies += 1;
                &["text", "payload"]
            }
            "postback" => &["text", "payload"],
            "buy" | "locationRequest" => &["text"],
            "share" => &[],
            other => return Err(format!("{at}[{i}].type {other:?} is not an action type")),
        };
        for field in required {
            nonblank(action, field).ok_or_else(|| format!("{at}[{i}].{field} is required for {kind} actions"))?;
        }
    }
    if replies > FakeSmooch::MAX_REPLY_ACTIONS {
        return Err(format!("{at} has {replies} reply actions; the limit is {}", FakeSmooch::MAX_REPLY_ACTIONS));
    }
    Ok(())
}

// ----- ids and dates ------------------------------------------------------

/// 24 hex digits, like Smooch's ids. The counter is process-wide so ids are
/// unique across every fake and webhook in a test binary.
fn new_id() -> String {
    static ISSUED: AtomicU64 = AtomicU64::new(0);
    let n = ISSUED.fetch_add(1, Ordering::Relaxed) + 1;
    format!("{:08x}{:016x}", std::process::id(), n)
}

fn now_millis() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// `2024-05-01T12:00:00.000Z`.
fn iso8601(unix_millis: u64) -> String {
    let secs = unix_millis / 1000;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil-from-days (Howard Hinnant), valid for all dates after 1970.
    let z = days as i64 + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z", rem / 3600, rem % 3600 / 60, rem % 60, unix_millis % 1000)
}

// ----- webhook bodies (Smooch calls us) -------------------------------------

/// The webhook secret tests configure; Smooch sends it as `X-API-Key`.
pub const WEBHOOK_SECRET: &str = "test-smooch-webhook-secret";
/// `webhook.id` of v2 webhook bodies.
pub const WEBHOOK_ID: &str = "5e6f00000000000000000001";
/// `source.integrationId` of user messages.
pub const INTEGRATION_ID: &str = "5e7a00000000000000000002";
/// `displayName` / `name` of the user in webhook bodies (the default profile's full name).
pub const USER_DISPLAY_NAME: &str = "Ana García";

/// A v2 webhook body carrying one event of `event_type` with this `payload`
/// (for events without a dedicated builder, e.g. `conversation:read`).
pub fn v2_event(app: &str, event_type: &str, payload: Value) -> Value {
    json!({
        "app": {"id": app},
        "webhook": {"id": WEBHOOK_ID, "version": "v2"},
        "events": [{"id": new_id(), "createdAt": iso8601(now_millis()), "type": event_type, "payload": payload}],
    })
}

/// A v2 `conversation:message:delivery:failure` (S1 `conversationMessageDeliveryFailureEvent`
/// and its example): message `message_id` of ours could not reach user `user_id`.
pub fn v2_delivery_failure(app: &str, conversation_id: &str, user_id: &str, message_id: &str, code: &str) -> Value {
    v2_event(
        app,
        "conversation:message:delivery:failure",
        json!({
            "conversation": v2_conversation(conversation_id),
            "user": {"id": user_id, "authenticated": false},
            "destination": {"type": "messenger", "integrationId": INTEGRATION_ID},
            "message": {"id": message_id},
            "isFinalEvent": true,
            "error": {"code": code, "message": "The message could not be delivered"},
        }),
    )
}

fn v2_conversation(conversation_id: &str) -> Value {
    json!({"id": conversation_id, "type": "personal"})
}

fn v2_user_source() -> Value {
    json!({"type": "messenger", "integrationId": INTEGRATION_ID})
}

/// A v2 `conversation:message` from user `user_id` with any `content`
/// (e.g. `{"type":"image","mediaUrl":...}`).
pub fn v2_user_content(app: &str, conversation_id: &str, user_id: &str, message_id: &str, content: Value) -> Value {
    v2_event(
        app,
        "conversation:message",
        json!({
            "conversation": v2_conversation(conversation_id),
            "message": {
                "id": message_id,
                "received": iso8601(now_millis()),
                "author": {"type": "user", "userId": user_id, "displayName": USER_DISPLAY_NAME, "user": {"id": user_id}},
                "content": content,
                "source": v2_user_source(),
            },
        }),
    )
}

/// A v2 `conversation:message`: user `user_id` typed `text`.
pub fn v2_message(app: &str, conversation_id: &str, user_id: &str, message_id: &str, text: &str) -> Value {
    v2_user_content(app, conversation_id, user_id, message_id, json!({"type": "text", "text": text}))
}

/// A v2 `conversation:message` from a tapped reply action: `content.text` is
/// the button's text, `content.payload` its payload.
pub fn v2_reply(app: &str, conversation_id: &str, user_id: &str, message_id: &str, text: &str, payload: &str) -> Value {
    v2_user_content(app, conversation_id, user_id, message_id, json!({"type": "text", "text": text, "payload": payload}))
}

/// A v2 `conversation:postback`: user `user_id` tapped a postback button.
pub fn v2_postback(app: &str, conversation_id: &str, user_id: &str, payload: &str) -> Value {
    v2_event(
        app,
        "conversation:postback",
        json!({
            "conversation": v2_conversation(conversation_id),
            "postback": {"payload": payload},
            "user": {"id": user_id},
            "source": v2_user_source(),
        }),
    )
}

/// `id` of [`agent_workspace`].
pub const AGENT_WORKSPACE_ID: &str = "5eecde2dcdbffb08f5c3ed38";
/// `integrationId` of [`agent_workspace`].
pub const AGENT_WORKSPACE_INTEGRATION_ID: &str = "5f11a650e4e987667c2051d2";

/// A conversation's `activeSwitchboardIntegration` (S1 `switchboardIntegrationWebhook`, l.3793:
/// the switchboard integration's `id`, its `name` (alphanumerics, `-` and `_`), the
/// `integrationId` it delivers to and that integration's `integrationType`).
pub fn switchboard_integration(id: &str, name: &str, integration_id: &str, integration_type: &str) -> Value {
    json!({"id": id, "name": name, "integrationId": integration_id, "integrationType": integration_type})
}

/// Zendesk's Agent Workspace as the active switchboard integration: a human agent holds the
/// conversation (`zd:agentWorkspace`, S1's `switchboardIntegrationType` example).
pub fn agent_workspace() -> Value {
    switchboard_integration(AGENT_WORKSPACE_ID, "zd-agentWorkspace", AGENT_WORKSPACE_INTEGRATION_ID, "zd:agentWorkspace")
}

/// `body` (a v2 webhook body) with `integration` as the `activeSwitchboardIntegration` of the
/// conversation of each of its events (S1 `conversationTruncated`, l.3817).
pub fn held_by(mut body: Value, integration: Value) -> Value {
    for event in body["events"].as_array_mut().into_iter().flatten() {
        if let Some(conversation) = event["payload"]["conversation"].as_object_mut() {
            conversation.insert("activeSwitchboardIntegration".into(), integration.clone());
        }
    }
    body
}

/// A v2 `switchboard:releaseControl`: the integration in control gave it up, and no integration
/// holds the conversation (S1 `switchboardReleaseControl`, l.7970: `conversation` without
/// `activeSwitchboardIntegration`, `metadata`, `reason` `ticketClosed`|`transferToEmail`).
pub fn v2_release_control(app: &str, conversation_id: &str) -> Value {
    v2_event(
        app,
        "switchboard:releaseControl",
        json!({"conversation": v2_conversation(conversation_id), "metadata": {}, "reason": "ticketClosed"}),
    )
}

/// A v2 `conversation:message` authored by the business (our own message echoed
/// back; the connector must ignore it).
pub fn v2_business_echo(app: &str, conversation_id: &str, message_id: &str, text: &str) -> Value {
    v2_event(
        app,
        "conversation:message",
        json!({
            "conversation": v2_conversation(conversation_id),
            "message": {
                "id": message_id,
                "received": iso8601(now_millis()),
                "author": {"type": "business", "displayName": "Inbenta bot"},
                "content": {"type": "text", "text": text},
                "source": {"type": "api:conversations"},
            },
        }),
    )
}

/// One v2 body with the events of all `bodies`, in order (Smooch batches
/// events, possibly of different users); `app` and `webhook` come from the
/// first. Panics on an empty list.
pub fn v2_batch(bodies: impl IntoIterator<Item = Value>) -> Value {
    let mut bodies = bodies.into_iter();
    let mut first = bodies.next().expect("v2_batch needs at least one body");
    let events: Vec<Value> = bodies.flat_map(|b| b["events"].as_array().cloned().unwrap_or_default()).collect();
    if let Some(list) = first["events"].as_array_mut() {
        list.extend(events);
    }
    first
}

fn v1_app_user(app_user: &str) -> Value {
    json!({
        "_id": app_user,
        "properties": {},
        "signedUpAt": "2024-01-01T00:00:00.000Z",
        "conversationStarted": true,
        "clients": [{"active": true, "id": format!("client-{app_user}"), "lastSeen": iso8601(now_millis()), "platform": "messenger"}],
    })
}

/// A v1.1 `message:appUser` body with one app-user message; `fields` (e.g.
/// `{"type":"image","mediaUrl":...}`) are merged over the defaults
/// (`type:"text"`, `role:"appUser"`, ids, `received`, `source`).
pub fn v1_user_content(app: &str, app_user: &str, message_id: &str, fields: Value) -> Value {
    let mut message = json!({
        "_id": message_id,
        "type": "text",
        "role": "appUser",
        "authorId": app_user,
        "name": USER_DISPLAY_NAME,
        "received": now_millis() as f64 / 1000.0,
        "source": {"type": "messenger"},
    });
    if let (Some(target), Value::Object(fields)) = (message.as_object_mut(), fields) {
        target.extend(fields);
    }
    json!({"trigger": "message:appUser", "app": {"_id": app}, "messages": [message], "appUser": v1_app_user(app_user)})
}

/// A v1.1 `message:appUser`: app user `app_user` typed `text`.
pub fn v1_message(app: &str, app_user: &str, message_id: &str, text: &str) -> Value {
    v1_user_content(app, app_user, message_id, json!({"text": text}))
}

/// A v1.1 `message:appUser` from a tapped reply button: the message's `text`
/// is the button's text, `payload` its payload.
pub fn v1_reply(app: &str, app_user: &str, message_id: &str, text: &str, payload: &str) -> Value {
    v1_user_content(app, app_user, message_id, json!({"text": text, "payload": payload}))
}

/// A v1.1 `postback` (from a persistent menu, so without `message`); the
/// action's `text` is the payload too.
pub fn v1_postback(app: &str, app_user: &str, payload: &str) -> Value {
    json!({
        "trigger": "postback",
        "app": {"_id": app},
        "postbacks": [{"action": {"_id": new_id(), "type": "postback", "text": payload, "payload": payload}}],
        "appUser": v1_app_user(app_user),
    })
}

/// One v1.1 body with the `messages` / `postbacks` of all `bodies`, in order
/// (Smooch batches one app user's messages); the rest comes from the first.
/// Panics on an empty list or mixed triggers.
pub fn v1_batch(bodies: impl IntoIterator<Item = Value>) -> Value {
    let mut bodies = bodies.into_iter();
    let mut first = bodies.next().expect("v1_batch needs at least one body");
    let key = if first["trigger"] == "postback" { "postbacks" } else { "messages" };
    for body in bodies {
        assert_eq!(body["trigger"], first["trigger"], "v1_batch cannot mix triggers");
        let more = body[key].as_array().cloned().unwrap_or_default();
        if let Some(list) = first[key].as_array_mut() {
            list.extend(more);
        }
    }
    first
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raw_http::{self, HttpResponse};

    const DOC_TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImFwcF81OTYzYzBkNjE5YTMwYTJlMDBkZTM2YjgifQ.\
                             eyJzY29wZSI6ImFwcCJ9.Bwso_lcMArtayEEqcofZHDrwxS8FomB0-dOsSTU7Mys";

    fn v2_messages_url(fake: &FakeSmooch, conversation: &str) -> String {
        format!("{}/v2/apps/{}/conversations/{conversation}/messages", fake.url(), FakeSmooch::APP_ID)
    }

    fn v1_messages_url(fake: &FakeSmooch, app_user: &str) -> String {
        format!("{}/v1.1/apps/{}/appusers/{app_user}/messages", fake.url(), FakeSmooch::APP_ID)
    }

    async fn post(url: &str, authorization: &str, body: &Value) -> HttpResponse {
        raw_http::post_json(url, &[("authorization", authorization)], body).await.expect("request to fake")
    }

    fn jwt() -> String {
        format!("Bearer {}", app_jwt(FakeSmooch::KEY_ID, FakeSmooch::SECRET))
    }

    fn text(text: &str) -> Value {
        json!({"author": {"type": "business"}, "content": {"type": "text", "text": text}})
    }

    #[test]
    fn the_signer_reproduces_the_documented_example_token() {
        let header = r#"{"alg":"HS256","typ":"JWT","kid":"app_5963c0d619a30a2e00de36b8"}"#;
        assert_eq!(sign_jwt(header, r#"{"scope":"app"}"#, "smooch_secret"), DOC_TOKEN);
        assert_eq!(basic_auth(FakeSmooch::KEY_ID, FakeSmooch::SECRET), "Basic YXBwXzU5NjNjMGQ2MTlhMzBhMmUwMGRlMzZiODpzbW9vY2hfc2VjcmV0");
    }

    #[tokio::test]
    async fn a_v2_message_with_a_verified_jwt_is_accepted_and_its_auth_recorded() {
        let fake = FakeSmooch::start().await;
        let resp = post(&v2_messages_url(&fake, "conv1"), &format!("Bearer {DOC_TOKEN}"), &text("Hola ñ")).await;
        assert_eq!(resp.status, 201, "{}", resp.text());
        let body = resp.json();
        let message = &body["messages"][0];
        assert_eq!(message["author"]["type"], "business");
        assert_eq!(message["content"], json!({"type": "text", "text": "Hola ñ"}));
        assert!(message["id"].as_str().is_some_and(|id| id.len() == 24));
        assert!(message["received"].as_str().is_some_and(|r| r.ends_with('Z')));

        let sent = fake.messages();
        assert_eq!(sent.len(), 1);
        assert_eq!((sent[0].version, sent[0].app_id.as_str(), sent[0].target.as_str()), (V2, FakeSmooch::APP_ID, "conv1"));
        assert_eq!(sent[0].text(), Some("Hola ñ"));
        assert_eq!(sent[0].id, message["id"]);
        let Auth::Jwt { header, claims } = &sent[0].auth else { panic!("expected a JWT: {:?}", sent[0].auth) };
        assert_eq!(header["kid"], FakeSmooch::KEY_ID);
        assert_eq!(claims, &json!({"scope": "app"}));
        assert_eq!(fake.auths().len(), 1);
    }

    /// Subscribers get each accepted message (not activity, not refused posts) as it is accepted.
    #[tokio::test]
    async fn subscribers_are_told_of_each_accepted_message() {
        let fake = FakeSmooch::start().await;
        fake.add_key("app_local", "key_local", "secret_local");
        let mut accepted = fake.subscribe();
        let url = format!("{}/v2/apps/app_local/conversations/conv1/messages", fake.url());
        assert_eq!(post(&url, &basic_auth(FakeSmooch::KEY_ID, FakeSmooch::SECRET), &text("other app")).await.status, 401);
        let activity = format!("{}/v2/apps/app_local/conversations/conv1/activity", fake.url());
        let typing = json!({"author": {"type": "business"}, "type": "typing:start"});
        assert_eq!(post(&activity, &basic_auth("key_local", "secret_local"), &typing).await.status, 200);
        assert_eq!(post(&url, &basic_auth("key_local", "secret_local"), &text("Hola")).await.status, 201);
        let told = accepted.try_recv().expect("told before the 201");
        assert_eq!((told.app_id.as_str(), told.target.as_str(), told.text()), ("app_local", "conv1", Some("Hola")));
        assert!(accepted.try_recv().is_err(), "one message only");
    }

    #[tokio::test]
    async fn v2_takes_basic_auth_with_either_known_key_but_v1_1_does_not() {
        let fake = FakeSmooch::start().await;
        let other = basic_auth(FakeSmooch::OTHER_KEY_ID, FakeSmooch::OTHER_SECRET);
        let resp = post(&v2_messages_url(&fake, "c"), &other, &text("x")).await;
        assert_eq!(resp.status, 201, "{}", resp.text());
        assert_eq!(fake.messages()[0].auth, Auth::Basic { key_id: FakeSmooch::OTHER_KEY_ID.into() });

        let v1 = json!({"role": "appMaker", "type": "text", "text": "x"});
        let resp = post(&v1_messages_url(&fake, "u1"), &other, &v1).await;
        assert_eq!(resp.status, 401);
        assert_eq!(resp.json()["error"]["code"], "unauthorized");
        assert!(resp.json()["error"]["description"].is_string());
        let wrong = basic_auth(FakeSmooch::KEY_ID, FakeSmooch::OTHER_SECRET);
        assert_eq!(post(&v2_messages_url(&fake, "c"), &wrong, &text("x")).await.status, 401);
        assert_eq!(fake.messages().len(), 1);
    }

    #[tokio::test]
    async fn bad_signatures_unknown_keys_wrong_scope_or_alg_and_expired_tokens_get_401() {
        let fake = FakeSmooch::start().await;
        let good = app_jwt(FakeSmooch::KEY_ID, FakeSmooch::SECRET);
        let tampered = format!("{}x", &good[..good.len() - 1]);
        let header = |kid: &str, alg: &str| json!({"alg": alg, "typ": "JWT", "kid": kid}).to_string();
        let cases = [
            app_jwt(FakeSmooch::KEY_ID, FakeSmooch::OTHER_SECRET),
            app_jwt("app_unknown", FakeSmooch::SECRET),
            tampered,
            sign_jwt(&header(FakeSmooch::KEY_ID, "HS256"), r#"{"scope":"appUser","userId":"u"}"#, FakeSmooch::SECRET),
            sign_jwt(&header(FakeSmooch::KEY_ID, "HS384"), r#"{"scope":"app"}"#, FakeSmooch::SECRET),
            sign_jwt(&header(FakeSmooch::KEY_ID, "HS256"), r#"{"scope":"app","exp":1000}"#, FakeSmooch::SECRET),
            format!("{}.", good.rsplit_once('.').unwrap().0),
            "not-a-jwt".to_owned(),
        ];
        for token in cases {
            let resp = post(&v2_messages_url(&fake, "c"), &format!("Bearer {token}"), &text("x")).await;
            assert_eq!(resp.status, 401, "{token}");
            assert_eq!(resp.json()["errors"][0]["code"], "unauthorized", "{token}");
        }
        let none = raw_http::post_json(&v2_messages_url(&fake, "c"), &[], &text("x")).await.unwrap();
        assert_eq!(none.status, 401);
        let future = sign_jwt(&header(FakeSmooch::KEY_ID, "HS256"), r#"{"scope":"app","exp":99999999999}"#, FakeSmooch::SECRET);
        assert_eq!(post(&v2_messages_url(&fake, "c"), &format!("Bearer {future}"), &text("x")).await.status, 201);
        assert_eq!(fake.messages().len(), 1);
        assert_eq!(fake.auths().len(), 1);
    }

    #[tokio::test]
    async fn keys_only_work_for_their_own_app() {
        let fake = FakeSmooch::start().await;
        fake.add_key("otherapp", "app_k2", "s2");
        let other_app = |path: &str| format!("{}/v2/apps/otherapp/conversations/c/{path}", fake.url());
        assert_eq!(post(&other_app("messages"), &jwt(), &text("x")).await.status, 401);
        let k2 = format!("Bearer {}", app_jwt("app_k2", "s2"));
        assert_eq!(post(&other_app("messages"), &k2, &text("x")).await.status, 201);
        assert_eq!(post(&v2_messages_url(&fake, "c"), &k2, &text("x")).await.status, 401);
        fake.revoke_key("app_k2");
        assert_eq!(post(&other_app("messages"), &k2, &text("x")).await.status, 401);
        assert_eq!(fake.messages()[0].app_id, "otherapp");
    }

    #[tokio::test]
    async fn text_over_4096_utf16_units_and_other_invalid_content_get_400() {
        let fake = FakeSmooch::start().await;
        let url = v2_messages_url(&fake, "c");
        assert_eq!(post(&url, &jwt(), &text(&"ñ".repeat(4096))).await.status, 201);
        let resp = post(&url, &jwt(), &text(&"a".repeat(4097))).await;
        assert_eq!(resp.status, 400);
        assert_eq!(resp.json()["errors"][0]["code"], "bad_request");
        assert_eq!(post(&url, &jwt(), &text(&"😀".repeat(2049))).await.status, 400, "4098 UTF-16 units");

        let content = |c: Value| json!({"author": {"type": "business"}, "content": c});
        let reply = |i: usize| json!({"type": "reply", "text": format!("o{i}"), "payload": format!("P{i}")});
        let refused = [
            json!({"author": {"type": "user"}, "content": {"type": "text", "text": "x"}}),
            json!({"content": {"type": "text", "text": "x"}}),
            content(json!({"type": "video", "text": "x"})),
            content(json!({"type": "text", "text": "  "})),
            content(json!({"type": "image"})),
            content(json!({"type": "image", "mediaUrl": "/relative.png"})),
            content(json!({"type": "text", "text": "x", "actions": [{"type": "reply", "text": "Yes"}]})),
            content(json!({"type": "text", "text": "x", "actions": [{"type": "postback", "payload": "P"}]})),
            content(json!({"type": "text", "text": "x", "actions": [{"type": "link", "text": "Go"}]})),
            content(json!({"type": "text", "text": "x", "actions": [{"text": "Go"}]})),
            content(json!({"type": "text", "text": "x", "actions": (0..14).map(reply).collect::<Vec<_>>()})),
            content(json!({"type": "carousel", "items": []})),
            content(json!({"type": "location"})),
        ];
        for body in refused {
            let resp = post(&url, &jwt(), &body).await;
            assert_eq!(resp.status, 400, "{body}");
            assert!(resp.json()["errors"][0]["title"].is_string());
        }
        let accepted = [
            content(json!({"type": "text", "text": "x", "actions": (0..13).map(reply).collect::<Vec<_>>()})),
            content(json!({"type": "text", "text": "x", "actions": [
                {"type": "postback", "text": "B", "payload": "P"}, {"type": "link", "text": "L", "uri": "https://e.com"}]})),
            content(json!({"type": "image", "mediaUrl": "https://e.com/a.png"})),
            content(json!({"type": "carousel", "items": [{"title": "A", "actions": [{"type": "postback", "text": "B", "payload": "P"}]}]})),
        ];
        for body in accepted {
            assert_eq!(post(&url, &jwt(), &body).await.status, 201, "{body}");
        }
        let huge =
            json!({"author": {"type": "business"}, "content": {"type": "text", "text": "x"}, "metadata": {"pad": "p".repeat(100_000)}});
        assert_eq!(post(&url, &jwt(), &huge).await.status, 400);
        let plain = raw_http::send("POST", &url, &[("authorization", &jwt()), ("content-type", "text/plain")], b"{}").await.unwrap();
        assert_eq!(plain.status, 400);
        assert_eq!(fake.messages().len(), 5);
    }

    #[tokio::test]
    async fn v1_1_messages_typing_and_profiles_use_v1_shapes() {
        let fake = FakeSmooch::start().await;
        fake.set_profile("u2", "Bob", "Smith");
        let body = json!({"role": "appMaker", "type": "text", "text": "Which?",
                          "actions": [{"type": "reply", "text": "Tacos", "payload": "OPT_1"}]});
        let resp = post(&v1_messages_url(&fake, "u1"), &jwt(), &body).await;
        assert_eq!(resp.status, 201, "{}", resp.text());
        let answer = resp.json();
        assert_eq!(answer["message"]["role"], "appMaker");
        assert_eq!(answer["message"]["text"], "Which?");
        assert!(answer["message"]["received"].is_f64());
        assert_eq!(answer["conversation"]["unreadCount"], 0);
        let sent = &fake.messages()[0];
        assert_eq!((sent.version, sent.target.as_str(), sent.kind()), (V1_1, "u1", "text"));
        assert_eq!(sent.actions()[0]["payload"], "OPT_1");
        assert!(sent.content.get("role").is_none());

        let user_url = |user: &str| format!("{}/v1.1/apps/{}/appusers/{user}", fake.url(), FakeSmooch::APP_ID);
        for kind in ["typing:start", "typing:stop"] {
            let resp = post(&format!("{}/conversation/activity", user_url("u1")), &jwt(), &json!({"role": "appMaker", "type": kind})).await;
            assert_eq!(resp.status, 200);
            assert_eq!(resp.json()["conversation"]["_id"], answer["conversation"]["_id"]);
        }
        let kinds: Vec<String> = fake.activities().into_iter().map(|a| a.kind).collect();
        assert_eq!(kinds, ["typing:start", "typing:stop"]);

        let bad = post(&v1_messages_url(&fake, "u1"), &jwt(), &json!({"role": "appUser", "type": "text", "text": "x"})).await;
        assert_eq!(bad.status, 400);
        assert_eq!(bad.json()["error"]["code"], "bad_request");

        let profile = raw_http::get(&user_url("u2"), &[("authorization", &jwt())]).await.unwrap().json();
        assert_eq!((profile["appUser"]["givenName"].as_str(), profile["appUser"]["surname"].as_str()), (Some("Bob"), Some("Smith")));
        let v2 = format!("{}/v2/apps/{}/users/u3", fake.url(), FakeSmooch::APP_ID);
        let auth = basic_auth(FakeSmooch::KEY_ID, FakeSmooch::SECRET);
        let profile = raw_http::get(&v2, &[("authorization", &auth)]).await.unwrap().json();
        assert_eq!(profile["user"]["id"], "u3");
        assert_eq!(profile["user"]["profile"]["givenName"], FakeSmooch::DEFAULT_GIVEN_NAME);
        assert_eq!(profile["user"]["profile"]["surname"], FakeSmooch::DEFAULT_SURNAME);
        assert_eq!(fake.profile_lookups().len(), 2);
        assert_eq!(fake.profile_lookups()[1].auth.key_id(), FakeSmooch::KEY_ID);
    }

    #[tokio::test]
    async fn v2_typing_is_recorded_in_order() {
        let fake = FakeSmooch::start().await;
        let url = format!("{}/v2/apps/{}/conversations/c9/activity", fake.url(), FakeSmooch::APP_ID);
        for kind in ["typing:start", "typing:stop"] {
            let resp = post(&url, &jwt(), &json!({"author": {"type": "business"}, "type": kind})).await;
            assert_eq!((resp.status, resp.json()), (200, json!({})));
        }
        assert_eq!(post(&url, &jwt(), &json!({"author": {"type": "business"}, "type": "typing"})).await.status, 400);
        let got = fake.wait_for_activities(2, Duration::from_secs(1)).await;
        assert_eq!(
            got.iter().map(|a| (a.target.as_str(), a.kind.as_str())).collect::<Vec<_>>(),
            [("c9", "typing:start"), ("c9", "typing:stop")]
        );
    }

    #[tokio::test]
    async fn injected_failures_hit_message_posts_only_and_429_says_when_to_retry() {
        let fake = FakeSmooch::start().await;
        let url = v2_messages_url(&fake, "c");
        fake.fail_with(429, 1);
        let typing = format!("{}/v2/apps/{}/conversations/c/activity", fake.url(), FakeSmooch::APP_ID);
        assert_eq!(post(&typing, &jwt(), &json!({"author": {"type": "business"}, "type": "typing:start"})).await.status, 200);
        let limited = post(&url, &jwt(), &text("x")).await;
        assert_eq!(limited.status, 429);
        assert_eq!(limited.header("retry-after"), Some("1"));
        assert_eq!(limited.json()["errors"][0]["code"], "too_many_requests");
        assert_eq!(post(&url, &jwt(), &text("x")).await.status, 201);

        fake.fail_after(2, 503, 1);
        assert_eq!(post(&url, &jwt(), &text("x")).await.status, 201);
        let unavailable = post(&url, &jwt(), &text("x")).await;
        assert_eq!((unavailable.status, unavailable.header("retry-after")), (503, None));
        fake.refuse_with_code(404, "conversation_not_found", 1);
        let v1 = post(&v1_messages_url(&fake, "u"), &jwt(), &json!({"role": "appMaker", "type": "text", "text": "x"})).await;
        assert_eq!(v1.status, 404);
        assert_eq!(v1.json()["error"]["code"], "conversation_not_found");
        fake.rate_limit(7, 1);
        assert_eq!(post(&url, &jwt(), &text("x")).await.header("retry-after"), Some("7"));
        fake.fail_activity_with(500, 1);
        assert_eq!(post(&typing, &jwt(), &json!({"author": {"type": "business"}, "type": "typing:stop"})).await.status, 500);
        assert_eq!(post(&url, &jwt(), &text("x")).await.status, 201);
        assert_eq!(fake.messages().len(), 3);
        let statuses: Vec<Option<u16>> = fake.requests().iter().map(|r| r.status).collect();
        let expected = [200, 429, 201, 201, 503, 404, 429, 500, 201].map(Some);
        assert_eq!(statuses, expected);
    }

    #[tokio::test]
    async fn a_late_answer_is_still_a_sent_message_and_only_the_next_n_are_late() {
        let fake = FakeSmooch::start().await;
        fake.answer_late(Duration::from_millis(500), 1);
        let url = v2_messages_url(&fake, "c");
        assert_eq!(post(&url, &jwt(), &text(&"a".repeat(5000))).await.status, 400, "rejections do not use it up");
        let gave_up = tokio::time::timeout(Duration::from_millis(150), post(&url, &jwt(), &text("x"))).await;
        assert!(gave_up.is_err(), "the 201 should have been held");
        assert_eq!(fake.messages().len(), 1);
        let started = Instant::now();
        assert_eq!(post(&url, &jwt(), &text("y")).await.status, 201);
        assert!(started.elapsed() < Duration::from_millis(400));
        assert_eq!(fake.wait_for_messages(2, Duration::from_secs(1)).await.len(), 2);
    }

    #[tokio::test]
    async fn unknown_routes_get_404_and_wrong_methods_405() {
        let fake = FakeSmooch::start().await;
        let resp = raw_http::get(&format!("{}/v2/apps/{}/conversations", fake.url(), FakeSmooch::APP_ID), &[]).await.unwrap();
        assert_eq!(resp.status, 404);
        assert_eq!(resp.json()["errors"][0]["code"], "not_found");
        let resp = raw_http::get(&format!("{}/v1/apps/a/appusers/u", fake.url()), &[]).await.unwrap();
        assert_eq!((resp.status, resp.json()["error"]["code"].as_str()), (404, Some("not_found")));
        let resp =
            raw_http::get(&v2_messages_url(&fake, "c").replace("/messages", "/activity"), &[("authorization", &jwt())]).await.unwrap();
        assert_eq!(resp.status, 405);
        let listed = raw_http::get(&v2_messages_url(&fake, "c"), &[("authorization", &jwt())]).await.unwrap();
        assert_eq!((listed.status, listed.json()["messages"].as_array().map(Vec::len)), (200, Some(0)), "ListMessages");
    }

    #[tokio::test]
    async fn a_private_attachment_is_served_only_with_a_key_of_its_app_and_a_public_one_to_anyone() {
        let fake = FakeSmooch::start().await;
        let url = fake.put_attachment("card.png", "image/png", b"PNG bytes");
        assert!(url.starts_with(&format!("{}/attachments/v2/", fake.url())) && url.ends_with("/card.png"), "{url}");
        let public = raw_http::get(&url, &[]).await.unwrap();
        assert_eq!((public.status, public.header("content-type"), public.body.as_slice()), (200, Some("image/png"), &b"PNG bytes"[..]));

        fake.set_private_attachments(true);
        let anonymous = raw_http::get(&url, &[]).await.unwrap();
        assert_eq!((anonymous.status, anonymous.json()["errors"][0]["code"].as_str()), (401, Some("unauthorized")));
        fake.add_key("otherapp", "app_k2", "s2");
        assert_eq!(raw_http::get(&url, &[("authorization", &basic_auth("app_k2", "s2"))]).await.unwrap().status, 401, "another app's key");
        let wrong = basic_auth(FakeSmooch::KEY_ID, FakeSmooch::OTHER_SECRET);
        assert_eq!(raw_http::get(&url, &[("authorization", &wrong)]).await.unwrap().status, 401);
        let basic = basic_auth(FakeSmooch::KEY_ID, FakeSmooch::SECRET);
        let private = raw_http::get(&url, &[("authorization", &basic)]).await.unwrap();
        assert_eq!((private.status, private.body.as_slice()), (200, &b"PNG bytes"[..]));
        assert_eq!(raw_http::get(&url, &[("authorization", &jwt())]).await.unwrap().status, 200);
        let missing = format!("{}/attachments/v2/nope/x.png", fake.url());
        assert_eq!(raw_http::get(&missing, &[("authorization", &basic)]).await.unwrap().status, 404);

        let downloads = fake.attachment_downloads();
        assert_eq!(downloads.len(), 3);
        assert_eq!(downloads[0].auth, None);
        assert_eq!(downloads[1].auth, Some(Auth::Basic { key_id: FakeSmooch::KEY_ID.into() }));
        assert!(downloads[2].auth.as_ref().is_some_and(Auth::is_jwt));
    }

    #[test]
    fn switchboard_bodies_carry_the_active_integration_and_a_release_drops_it() {
        let held = held_by(v2_message("app1", "conv1", "user1", "m1", "hi"), agent_workspace());
        let active = &held["events"][0]["payload"]["conversation"]["activeSwitchboardIntegration"];
        assert_eq!(active["integrationType"], "zd:agentWorkspace");
        assert_eq!(
            (active["id"].as_str(), active["integrationId"].as_str()),
            (Some(AGENT_WORKSPACE_ID), Some(AGENT_WORKSPACE_INTEGRATION_ID))
        );
        let name = active["name"].as_str().unwrap();
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'), "S1 `name`: {name}");
        let released = v2_release_control("app1", "conv1");
        let event = &released["events"][0];
        assert_eq!(event["type"], "switchboard:releaseControl");
        assert_eq!(event["payload"]["conversation"]["id"], "conv1");
        assert!(event["payload"]["conversation"].get("activeSwitchboardIntegration").is_none());
    }

    #[test]
    fn v2_webhook_bodies_have_smooch_shapes_and_batch_into_one() {
        let message = v2_message("app1", "conv1", "user1", "msg1", "hola");
        assert_eq!(message["app"]["id"], "app1");
        assert_eq!(message["webhook"]["version"], "v2");
        let event = &message["events"][0];
        assert_eq!(event["type"], "conversation:message");
        assert!(event["createdAt"].as_str().is_some_and(|s| s.ends_with('Z')));
        let payload = &event["payload"];
        assert_eq!(payload["conversation"], json!({"id": "conv1", "type": "personal"}));
        assert_eq!(payload["message"]["id"], "msg1");
        assert_eq!(payload["message"]["author"]["type"], "user");
        assert_eq!(payload["message"]["author"]["userId"], "user1");
        assert_eq!(payload["message"]["author"]["user"]["id"], "user1");
        assert_eq!(payload["message"]["content"], json!({"type": "text", "text": "hola"}));
        assert_eq!(payload["message"]["source"]["integrationId"], INTEGRATION_ID);

        let reply = v2_reply("app1", "conv1", "user1", "msg2", "Yes", "Y");
        assert_eq!(reply["events"][0]["payload"]["message"]["content"]["payload"], "Y");
        let postback = v2_postback("app1", "conv1", "user1", "MENU");
        assert_eq!(postback["events"][0]["type"], "conversation:postback");
        assert_eq!(postback["events"][0]["payload"]["postback"]["payload"], "MENU");
        assert_eq!(postback["events"][0]["payload"]["user"]["id"], "user1");
        let echo = v2_business_echo("app1", "conv1", "msg3", "bot says");
        assert_eq!(echo["events"][0]["payload"]["message"]["author"]["type"], "business");

        let batch = v2_batch([message, v2_message("app1", "conv2", "user2", "msg4", "hi"), postback]);
        let events = batch["events"].as_array().unwrap();
        assert_eq!(events.len(), 3);
        assert_eq!(events[1]["payload"]["conversation"]["id"], "conv2");
        assert_ne!(events[0]["id"], events[1]["id"]);
    }

    #[test]
    fn v1_webhook_bodies_have_smooch_shapes_and_batch_into_one() {
        let message = v1_message("app1", "au1", "m1", "hola");
        assert_eq!(message["trigger"], "message:appUser");
        assert_eq!(message["app"]["_id"], "app1");
        assert_eq!(message["appUser"]["_id"], "au1");
        assert_eq!(message["messages"][0]["role"], "appUser");
        assert_eq!(message["messages"][0]["text"], "hola");
        assert_eq!(message["messages"][0]["_id"], "m1");
        let reply = v1_reply("app1", "au1", "m2", "Tacos", "OPT_1");
        assert_eq!(reply["messages"][0]["payload"], "OPT_1");
        let image = v1_user_content("app1", "au1", "m3", json!({"type": "image", "mediaUrl": "https://e/a.png"}));
        assert_eq!(image["messages"][0]["type"], "image");

        let batch = v1_batch([message, reply]);
        assert_eq!(batch["messages"].as_array().unwrap().len(), 2);
        let postback = v1_postback("app1", "au1", "YES");
        assert_eq!(postback["trigger"], "postback");
        assert_eq!(postback["postbacks"][0]["action"]["type"], "postback");
        assert_eq!(postback["postbacks"][0]["action"]["payload"], "YES");
        let two = v1_batch([postback.clone(), v1_postback("app1", "au1", "NO")]);
        assert_eq!(two["postbacks"][1]["action"]["payload"], "NO");
    }

    #[test]
    fn dates_are_iso_8601_utc_with_milliseconds() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(1_438_287_151_042), "2015-07-30T20:12:31.042Z");
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }
}
