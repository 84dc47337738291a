//! A fake of Inbenta HyperChat, the live-agent chat API.
//!
//! A real HTTP server on `127.0.0.1:<random port>`, so the connector's real
//! HTTP client, `x-hyper-*` headers and JSON bodies are exercised. Users,
//! agents, chats and messages live in memory; agent availability, queue mode
//! and chat-creation failure are switches a test flips. Every error uses
//! HyperChat's envelope `{"error":{"code":N,"message":"..."}}`.
//!
//! Routes (`PORT` is random; a trailing `/` is accepted, as Inbenta's PHP
//! client calls `settings/`, `users/`, `chats/`):
//!
//! | route | needs |
//! |---|---|
//! | `GET    /v1/settings` | appid |
//! | `GET    /v1/agents/available?roomIds=<id>[,<id>...]` | appid |
//! | `GET    /v1/agents/online?roomId=<id>` | appid |
//! | `POST   /v1/users` (signup) | appid |
//! | `GET    /v1/users?externalId=<id>` | appid + secret |
//! | `GET    /v1/users/{id}` | appid + secret |
//! | `PUT    /v1/users/{id}` | appid + secret |
//! | `POST   /v1/chats` | appid + secret |
//! | `GET    /v1/chats/{id}` | appid + secret |
//! | `GET    /v1/chats/{id}/assign` | appid + secret |
//! | `POST   /v1/chats/{id}/messages` | appid + secret |
//! | `GET    /v1/chats/{id}/messages` (`{"messages":[..]}`, each with `created`, Unix seconds) | appid + secret |
//! | `DELETE /v1/chats/{id}[?userId=<id>]` | appid + secret |
//! | `POST   /v1/media` (multipart `chatId`, `senderId`, `media` file) | appid + secret |
//! | `GET    /v1/media/{id}` (the file's bytes) | appid + secret |
//!
//! "appid" is header `x-hyper-appid: `[`FakeHyperChat::APP_ID`], "secret" is
//! `x-hyper-secret: `[`FakeHyperChat::SECRET`]; without them the answer is
//! 401 `{"error":{"code":401,"message":"Unauthorized"}}`. Each request is
//! handled in this order: delay, injected failure, appid, route and method,
//! secret, body.
//!
//! Where each rule comes from (Inbenta publishes no machine-readable spec of HyperChat): the
//! base URL, the `x-hyper-*` headers and which routes the app id alone opens, HyperChat's API
//! Setup page; the routes, bodies and the answers' fields the connector reads, Inbenta's PHP
//! client (`chatbot_api_connector` `src/HyperChatAPI/**`, `Client/HyperChat.php`): `GET
//! /v1/settings` answers `settings.queue.active` (`isQueueModeActive`), an agent is a user with
//! a `providerId` (`handleEvent`, `messages:new`), messages are `{id, chat, sender, type
//! (text|media), message}`. The survey after a chat is not HyperChat's: it is the ticketing
//! API's (`crate::inbenta`), and no HyperChat document has a survey route, so this fake has
//! none.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use axum::http::{HeaderMap, Method, StatusCode, Uri};
use serde_json::{Map, Value, json};

use crate::files::FakeFileHost;
pub use crate::recording::Recorded;
use crate::recording::{RequestLog, lock, take_armed};
use crate::server::{RawReply, Reply, Running, Upstream};

/// Handle to a running fake HyperChat. Cheap to clone; the server stops
/// (gracefully) when the last clone is dropped.
#[derive(Clone, Debug)]
pub struct FakeHyperChat {
    server: Running<Shared>,
}

struct Shared {
    log: RequestLog,
    state: Mutex<ChatState>,
}

/// A chat as stored: the object the API returns, plus the history it was
/// created with (kept apart because the API does not echo it).
struct StoredChat {
    chat: Map<String, Value>,
    history: Vec<Value>,
}

#[derive(Default)]
struct ChatState {
    queue_mode: bool,
    agents_available: u32,
    chat_creation_fails: bool,
    /// User objects (agents included) in creation order; `U<n>` is at `n - 1`.
    users: Vec<Map<String, Value>>,
    /// `C<n>` is at `n - 1`.
    chats: Vec<StoredChat>,
    /// Every accepted message of every chat; `M<n>` is at `n - 1`.
    messages: Vec<Value>,
    /// Files shared in chats; `F<n>` (at `/media/F<n>`) is at `n - 1`.
    files: Vec<SharedFile>,
    /// Where files are kept when not served directly: `GET /v1/media/{id}` redirects there.
    storage: Option<FakeFileHost>,
    /// `(status, remaining)` of an injected failure.
    failures: Option<(u16, usize)>,
    delay: Duration,
    /// What happens to the next message posts: kept but answered late, or never taken.
    message_faults: Vec<MessageFault>,
}

/// A fault of one message post (`POST /v1/chats/{id}/messages`).
#[derive(Debug, Clone, Copy)]
enum MessageFault {
    /// Kept, and answered after this long.
    Late(Duration),
    /// Neither kept nor answered (the connection stays open until the client gives up).
    Lost,
}

impl ChatState {
    fn user_mut(&mut self, id: &str) -> Option<&mut Map<String, Value>> {
        self.users.iter_mut().find(|u| str_field(u, "id") == Some(id))
    }

    fn user_exists(&self, id: &str) -> bool {
        self.users.iter().any(|u| str_field(u, "id") == Some(id))
    }

    fn chat_mut(&mut self, id: &str) -> Option<&mut StoredChat> {
        self.chats.iter_mut().find(|c| str_field(&c.chat, "id") == Some(id))
    }

    /// Adds a user object (without `id` and `chats`, which are filled in)
    /// and returns its number `n` (id `U<n>`).
    fn add_user(&mut self, mut user: Map<String, Value>) -> usize {
        let n = self.users.len() + 1;
        user.insert("id".into(), json!(format!("U{n}")));
        user.insert("chats".into(), json!([]));
        self.users.push(user);
        n
    }
}

/// A file shared in a chat, by the user (uploaded) or an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedFile {
    pub chat: String,
    pub sender: String,
    pub name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

impl ChatState {
    /// Keeps a file and its media message in `chat`; the message.
    fn share(&mut self, file: SharedFile) -> Value {
        let url = format!("/media/F{}", self.files.len() + 1);
        let message = json!({
            "id": format!("M{}", self.messages.len() + 1),
            "chat": file.chat,
            "sender": file.sender,
            "type": "media",
            "message": {"url": url, "type": file.content_type, "name": file.name},
        });
        self.files.push(file);
        self.messages.push(message.clone());
        message
    }
}

fn str_field<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    object.get(key).and_then(Value::as_str)
}

impl FakeHyperChat {
    /// The only `x-hyper-appid` the fake accepts (required on every route).
    pub const APP_ID: &'static str = "test-hyperchat-app";
    /// The only `x-hyper-secret` the fake accepts (required on secret routes).
    pub const SECRET: &'static str = "test-hyperchat-secret";

    /// Starts a fake on `127.0.0.1:<random port>`, with queue mode off, no
    /// available agents, and no users or chats.
    pub async fn start() -> Self {
        let server =
            Running::start("FakeHyperChat", |_| Shared { log: RequestLog::default(), state: Mutex::new(ChatState::default()) }).await;
        Self { server }
    }

    /// Socket address the fake listens on.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// The variables that point the connector at this fake, with its app's credentials.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("HYPERCHAT_API_URL", self.base_url()),
            ("HYPERCHAT_APP_ID", Self::APP_ID.to_owned()),
            ("HYPERCHAT_SECRET", Self::SECRET.to_owned()),
        ]
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash: the HyperChat
    /// `server`; the product calls `{base_url}/v1/...`.
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    // ----- switches -----------------------------------------------------

    /// `GET /v1/settings` answers `settings.queue.active = on` (default false).
    pub fn set_queue_mode(&self, on: bool) {
        lock(&self.server.shared.state).queue_mode = on;
    }

    /// Agents available in every room: `GET /v1/agents/available` answers
    /// this count for each requested room id, and `GET /v1/agents/online`
    /// answers `agentsOnline: n > 0` (default 0).
    pub fn set_agents_available(&self, n: u32) {
        lock(&self.server.shared.state).agents_available = n;
    }

    /// While `true`, every authorized `POST /v1/chats` answers 500 and
    /// creates nothing (default false).
    pub fn set_chat_creation_fails(&self, fails: bool) {
        lock(&self.server.shared.state).chat_creation_fails = fails;
    }

    /// Creates an agent: a user with `nickname` = `name` and a non-empty
    /// `providerId` (what marks a message sender as an agent). Returns its
    /// user id, for use as a message `sender`.
    pub fn add_agent(&self, name: &str) -> String {
        let mut state = lock(&self.server.shared.state);
        let n = state.users.len() + 1;
        let mut agent = Map::new();
        agent.insert("name".into(), json!(name));
        agent.insert("nickname".into(), json!(name));
        agent.insert("providerId".into(), json!(format!("fake-provider-{n}")));
        state.add_user(agent);
        format!("U{n}")
    }

    // ----- controls -----------------------------------------------------

    /// The next `times` requests (to any path, before auth and validation)
    /// fail with HTTP `status` and body
    /// `{"error":{"code":status,"message":<reason phrase>}}`. An invalid
    /// status code is answered as 500.
    pub fn fail_with(&self, status: u16, times: usize) {
        lock(&self.server.shared.state).failures = Some((status, times));
    }

    /// Closes a chat as its agent does from HyperChat's console (HyperChat then posts
    /// `chats:close`, which the caller sends).
    pub fn close_chat(&self, chat_id: &str) {
        if let Some(stored) = lock(&self.server.shared.state).chat_mut(chat_id) {
            stored.chat.insert("status".into(), json!("closed"));
        }
    }

    /// Every request waits this long before being handled (client timeouts).
    pub fn set_delay(&self, delay: Duration) {
        lock(&self.server.shared.state).delay = delay;
    }

    /// The next `times` message posts are kept as usual, but answered only after `hold`: the
    /// product times out on a message the chat has.
    pub fn answer_messages_late(&self, hold: Duration, times: usize) {
        lock(&self.server.shared.state).message_faults.extend(std::iter::repeat_n(MessageFault::Late(hold), times));
    }

    /// The next `times` message posts are read and then neither kept nor answered: the product
    /// cannot know, and the chat never got them.
    pub fn lose_messages(&self, times: usize) {
        lock(&self.server.shared.state).message_faults.extend(std::iter::repeat_n(MessageFault::Lost, times));
    }

    // ----- recordings ---------------------------------------------------

    /// Every request received, in arrival order, including rejected ones.
    pub fn requests(&self) -> Vec<Recorded> {
        self.server.shared.log.snapshot()
    }

    /// Number of requests (any method, any outcome) whose path ends with
    /// `path_suffix`, e.g. `count("/v1/chats")`, `count("/assign")`.
    /// Note a trailing `/` in the request path counts: `/v1/chats/` does not
    /// end with `/v1/chats`.
    pub fn count(&self, path_suffix: &str) -> usize {
        self.requests().iter().filter(|r| r.path.ends_with(path_suffix)).count()
    }

    /// Every chat, in creation order, as `GET /v1/chats/{id}` would return it
    /// now, plus `history`: the history it was created with (`[]` if none).
    pub fn chats(&self) -> Vec<Value> {
        lock(&self.server.shared.state)
            .chats
            .iter()
            .map(|c| {
                let mut chat = c.chat.clone();
                chat.insert("history".into(), Value::Array(c.history.clone()));
                Value::Object(chat)
            })
            .collect()
    }

    /// Messages accepted in chat `chat_id`, in order, as the API returned them.
    pub fn messages(&self, chat_id: &str) -> Vec<Value> {
        lock(&self.server.shared.state).messages.iter().filter(|m| m["chat"] == chat_id).cloned().collect()
    }

    /// From now on `GET /v1/media/{id}` answers with a redirect to `storage`, which holds the
    /// file (as services keep files in object storage behind pre-signed URLs).
    pub fn keep_files_at(&self, storage: &FakeFileHost) {
        lock(&self.server.shared.state).storage = Some(storage.clone());
    }

    /// Files shared in chat `chat_id` (uploaded by the user or shared by an agent), in order.
    pub fn files(&self, chat_id: &str) -> Vec<SharedFile> {
        lock(&self.server.shared.state).files.iter().filter(|f| f.chat == chat_id).cloned().collect()
    }

    /// An agent shares a file in a chat, as from HyperChat's agent console: the `message` of the
    /// `messages:new` event HyperChat then posts.
    pub fn agent_file(&self, chat_id: &str, agent_id: &str, name: &str, content_type: &str, bytes: &[u8]) -> Value {
        lock(&self.server.shared.state).share(SharedFile {
            chat: chat_id.to_owned(),
            sender: agent_id.to_owned(),
            name: name.to_owned(),
            content_type: content_type.to_owned(),
            bytes: bytes.to_vec(),
        })
    }

    /// Every user (agents included), in creation order, as `GET /v1/users/{id}`
    /// would return it now.
    pub fn users(&self) -> Vec<Value> {
        lock(&self.server.shared.state).users.iter().cloned().map(Value::Object).collect()
    }
}

// ----- HTTP handling ----------------------------------------------------

/// HyperChat's error envelope.
fn api_error(status: StatusCode, message: &str) -> Reply {
    (status, json!({"error": {"code": status.as_u16(), "message": message}}))
}

fn unauthorized() -> Reply {
    api_error(StatusCode::UNAUTHORIZED, "Unauthorized")
}

fn not_found(what: &str) -> Reply {
    api_error(StatusCode::NOT_FOUND, &format!("{what} not found"))
}

fn bad_request(message: &str) -> Reply {
    api_error(StatusCode::BAD_REQUEST, message)
}

fn ok(body: Value) -> Result<Reply, Reply> {
    Ok((StatusCode::OK, body))
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// First value of query parameter `name`, if present.
fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query.unwrap_or_default())
        .ok()?
        .into_iter()
        .find_map(|(k, v)| (k == name).then_some(v))
}

/// Parses a JSON object body by hand (no `Content-Type` requirement, like a
/// lenient server). An empty body counts as `{}`.
fn json_object(body: &[u8]) -> Result<Map<String, Value>, Reply> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(bad_request("Body must be a JSON object")),
        Err(e) => Err(bad_request(&format!("Invalid JSON body: {e}"))),
    }
}

/// `input[key]` as a string; a 400 if missing or not a string (or empty,
/// unless `allow_empty`).
fn required_str<'a>(input: &'a Map<String, Value>, key: &str, allow_empty: bool) -> Result<&'a str, Reply> {
    match input.get(key) {
        Some(Value::String(s)) if allow_empty || !s.is_empty() => Ok(s),
        _ => Err(bad_request(&format!("'{key}' must be a non-empty string"))),
    }
}

/// Checks the optional user fields a signup or update may carry.
fn check_user_fields(input: &Map<String, Value>) -> Result<(), Reply> {
    for key in ["name", "contact"] {
        if input.get(key).is_some_and(|v| !v.is_string()) {
            return Err(bad_request(&format!("'{key}' must be a string")));
        }
    }
    if input.get("extraInfo").is_some_and(|v| !v.is_object()) {
        return Err(bad_request("'extraInfo' must be an object"));
    }
    Ok(())
}

/// A request, with the fault set for it if it posts a message.
async fn route(shared: &Shared, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Result<Reply, Reply> {
    let posts_message = method == Method::POST
        && uri.path().strip_prefix("/v1/chats/").is_some_and(|rest| rest.trim_end_matches('/').ends_with("/messages"));
    let fault = if posts_message {
        let mut state = lock(&shared.state);
        (!state.message_faults.is_empty()).then(|| state.message_faults.remove(0))
    } else {
        None
    };
    match fault {
        None => answer_now(shared, method, uri, headers, body).await,
        Some(MessageFault::Late(hold)) => {
            let answer = answer_now(shared, method, uri, headers, body).await;
            tokio::time::sleep(hold).await;
            answer
        }
        Some(MessageFault::Lost) => {
            crate::recording::never_answer().await;
            Err(api_error(StatusCode::GATEWAY_TIMEOUT, "lost"))
        }
    }
}

async fn answer_now(shared: &Shared, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Result<Reply, Reply> {
    let delay = lock(&shared.state).delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if let Some(status) = take_armed(&mut lock(&shared.state).failures) {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return Err(api_error(status, status.canonical_reason().unwrap_or("Error")));
    }
    if header(headers, "x-hyper-appid") != Some(FakeHyperChat::APP_ID) {
        return Err(unauthorized());
    }

    let Some(rest) = uri.path().strip_prefix("/v1/") else {
        return Err(not_found("Route"));
    };
    let segments: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    let query = uri.query();
    let secret = || {
        if header(headers, "x-hyper-secret") == Some(FakeHyperChat::SECRET) { Ok(()) } else { Err(unauthorized()) }
    };
    let allow = |allowed: &[Method]| {
        if allowed.contains(method) { Ok(()) } else { Err(api_error(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed")) }
    };

    let mut state = lock(&shared.state);
    match segments.as_slice() {
        ["settings"] => {
            allow(&[Method::GET])?;
            ok(json!({"settings": {"queue": {"active": state.queue_mode}}}))
        }
        ["agents", "available"] => {
            allow(&[Method::GET])?;
            let rooms = query_param(query, "roomIds").filter(|r| !r.is_empty()).ok_or_else(|| bad_request("'roomIds' is required"))?;
            let agents: Map<String, Value> = rooms.split(',').map(|room| (room.trim().to_owned(), json!(state.agents_available))).collect();
            ok(json!({"agents": agents}))
        }
        ["agents", "online"] => {
            allow(&[Method::GET])?;
            query_param(query, "roomId").filter(|r| !r.is_empty()).ok_or_else(|| bad_request("'roomId' is required"))?;
            ok(json!({"agentsOnline": state.agents_available > 0}))
        }
        ["users"] => {
            allow(&[Method::GET, Method::POST])?;
            if method == Method::POST {
                signup(&mut state, body)
            } else {
                secret()?;
                let wanted = query_param(query, "externalId");
                let users: Vec<Value> = state
                    .users
                    .iter()
                    .filter(|u| wanted.as_deref().is_none_or(|w| str_field(u, "externalId") == Some(w)))
                    .cloned()
                    .map(Value::Object)
                    .collect();
                ok(json!({"users": users}))
            }
        }
        ["users", id] => {
            allow(&[Method::GET, Method::PUT])?;
            secret()?;
            let input = if method == Method::PUT {
                let input = json_object(body)?;
                check_user_fields(&input)?;
                Some(input)
            } else {
                None
            };
            let user = state.user_mut(id).ok_or_else(|| not_found("User"))?;
            for (key, value) in input.into_iter().flatten() {
                if matches!(key.as_str(), "name" | "contact" | "extraInfo") {
                    user.insert(key, value);
                }
            }
            ok(json!({"user": user}))
        }
        ["chats"] => {
            allow(&[Method::POST])?;
            secret()?;
            if state.chat_creation_fails {
                return Err(api_error(StatusCode::INTERNAL_SERVER_ERROR, "Chat creation failed"));
            }
            create_chat(&mut state, body)
        }
        ["chats", id] => {
            allow(&[Method::GET, Method::DELETE])?;
            secret()?;
            let closer = (method == Method::DELETE).then(|| query_param(query, "userId")).flatten();
            if closer.as_deref().is_some_and(|u| !state.user_exists(u)) {
                return Err(bad_request("'userId' is not a known user"));
            }
            let stored = state.chat_mut(id).ok_or_else(|| not_found("Chat"))?;
            if method == Method::DELETE {
                stored.chat.insert("status".into(), json!("closed"));
                ok(json!({"success": true}))
            } else {
                ok(json!({"chat": stored.chat}))
            }
        }
        ["chats", id, "assign"] => {
            allow(&[Method::GET])?;
            secret()?;
            let stored = state.chat_mut(id).ok_or_else(|| not_found("Chat"))?;
            if str_field(&stored.chat, "status") == Some("closed") {
                return Err(bad_request("Chat is closed"));
            }
            stored.chat.insert("status".into(), json!("active"));
            ok(json!({"success": true}))
        }
        ["chats", id, "messages"] => {
            allow(&[Method::GET, Method::POST])?;
            secret()?;
            if method == Method::GET {
                state.chat_mut(id).ok_or_else(|| not_found("Chat"))?;
                let messages: Vec<Value> = state.messages.iter().filter(|m| m["chat"] == *id).cloned().collect();
                return ok(json!({ "messages": messages }));
            }
            post_message(&mut state, id, body)
        }
        ["media"] => {
            allow(&[Method::POST])?;
            secret()?;
            upload(&mut state, header(headers, "content-type").unwrap_or_default(), body)
        }
        _ => Err(not_found("Route")),
    }
}

/// `POST /v1/users`: a new user, or 409 if the `externalId` is taken.
fn signup(state: &mut ChatState, body: &[u8]) -> Result<Reply, Reply> {
    let input = json_object(body)?;
    let name = required_str(&input, "name", true)?;
    let external_id = required_str(&input, "externalId", false)?;
    check_user_fields(&input)?;
    if state.users.iter().any(|u| str_field(u, "externalId") == Some(external_id)) {
        return Err(api_error(StatusCode::CONFLICT, "User already exists"));
    }
    let mut user = Map::new();
    user.insert("name".into(), json!(name));
    user.insert("externalId".into(), json!(external_id));
    for key in ["contact", "extraInfo"] {
        if let Some(value) = input.get(key) {
            user.insert(key.into(), value.clone());
        }
    }
    let n = state.add_user(user);
    ok(json!({"user": state.users[n - 1], "session": {"token": format!("UT{n}")}}))
}

/// `POST /v1/chats`: a `waiting` chat, linked into its creator's `chats`.
fn create_chat(state: &mut ChatState, body: &[u8]) -> Result<Reply, Reply> {
    let input = json_object(body)?;
    let creator = required_str(&input, "creator", false)?.to_owned();
    let room = match input.get("room") {
        Some(room @ (Value::String(_) | Value::Number(_))) => room.clone(),
        _ => return Err(bad_request("'room' must be a string or a number")),
    };
    let source =
        input.get("source").filter(|s| s.is_i64() || s.is_u64()).cloned().ok_or_else(|| bad_request("'source' must be an integer"))?;
    let lang = required_str(&input, "lang", false)?;
    let external_id = match input.get("externalId") {
        None | Some(Value::Null) => Value::Null,
        Some(id @ Value::String(_)) => id.clone(),
        Some(_) => return Err(bad_request("'externalId' must be a string")),
    };
    let history = match input.get("history") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(entries)) => {
            let well_formed = entries.iter().all(|e| e["sender"].is_string() && e["message"].is_string() && e["created"].is_number());
            if !well_formed {
                return Err(bad_request("'history' entries need 'sender' and 'message' strings and a numeric 'created'"));
            }
            entries.clone()
        }
        Some(_) => return Err(bad_request("'history' must be an array")),
    };

    let id = format!("C{}", state.chats.len() + 1);
    let Some(user) = state.user_mut(&creator) else {
        return Err(bad_request("'creator' is not a known user"));
    };
    if let Some(Value::Array(chats)) = user.get_mut("chats") {
        chats.push(json!(id));
    }
    let chat = json!({
        "id": id,
        "creator": creator,
        "room": room,
        "source": source,
        "lang": lang,
        "status": "waiting",
        "externalId": external_id,
    });
    let Value::Object(chat) = chat else { unreachable!("json! object literal") };
    state.chats.push(StoredChat { chat: chat.clone(), history });
    ok(json!({"chat": chat}))
}

/// `POST /v1/chats/{id}/messages`: a text message from a known user to an
/// open chat.
fn post_message(state: &mut ChatState, chat_id: &str, body: &[u8]) -> Result<Reply, Reply> {
    let input = json_object(body)?;
    let closed = {
        let stored = state.chat_mut(chat_id).ok_or_else(|| not_found("Chat"))?;
        str_field(&stored.chat, "status") == Some("closed")
    };
    if closed {
        return Err(bad_request("Chat is closed"));
    }
    let sender = required_str(&input, "sender", false)?;
    if !state.user_exists(sender) {
        return Err(bad_request("'sender' is not a known user"));
    }
    let text = required_str(&input, "message", false)?;
    let message = json!({
        "id": format!("M{}", state.messages.len() + 1),
        "chat": chat_id,
        "sender": sender,
        "message": text,
        "type": "text",
        "created": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()),
    });
    state.messages.push(message.clone());
    ok(json!({"message": message}))
}

/// `POST /v1/media`: the user's file, kept with a media message in their open chat.
fn upload(state: &mut ChatState, content_type: &str, body: &[u8]) -> Result<Reply, Reply> {
    let parts = multipart(content_type, body).ok_or_else(|| bad_request("Body must be multipart/form-data"))?;
    let field = |name: &str| parts.iter().find(|p| p.name == name);
    let text = |name: &str| {
        field(name)
            .map(|p| String::from_utf8_lossy(&p.body).into_owned())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| bad_request(&format!("'{name}' is required")))
    };
    let (chat_id, sender) = (text("chatId")?, text("senderId")?);
    let media = field("media").filter(|p| p.filename.is_some()).ok_or_else(|| bad_request("'media' must be a file"))?;
    let stored = state.chat_mut(&chat_id).ok_or_else(|| not_found("Chat"))?;
    if str_field(&stored.chat, "status") == Some("closed") {
        return Err(bad_request("Chat is closed"));
    }
    if !state.user_exists(&sender) {
        return Err(bad_request("'senderId' is not a known user"));
    }
    let file = SharedFile {
        chat: chat_id,
        sender,
        name: media.filename.clone().unwrap_or_default(),
        content_type: media.content_type.clone().unwrap_or_else(|| "application/octet-stream".into()),
        bytes: media.body.clone(),
    };
    let message = state.share(file);
    ok(json!({"message": message}))
}

/// One part of a `multipart/form-data` body.
struct Part {
    name: String,
    filename: Option<String>,
    content_type: Option<String>,
    body: Vec<u8>,
}

/// The parts of a `multipart/form-data` body (RFC 7578); `None` when it is not one.
fn multipart(content_type: &str, body: &[u8]) -> Option<Vec<Part>> {
    let boundary = content_type.split(';').map(str::trim).find_map(|p| p.strip_prefix("boundary="))?.trim_matches('"');
    let delimiter = format!("--{boundary}").into_bytes();
    let mut parts = Vec::new();
    let mut rest = body.get(find(body, &delimiter)? + delimiter.len()..)?;
    while !rest.starts_with(b"--") {
        rest = rest.strip_prefix(b"\r\n")?;
        let end = find(rest, &delimiter)?;
        let part = rest[..end].strip_suffix(b"\r\n")?;
        let split = find(part, b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&part[..split]).into_owned();
        let header = |name: &str| {
            head.split("\r\n").find_map(|line| {
                line.split_once(':').filter(|(k, _)| k.trim().eq_ignore_ascii_case(name)).map(|(_, v)| v.trim().to_owned())
            })
        };
        let disposition = header("content-disposition")?;
        let param = |key: &str| {
            disposition.split(';').map(str::trim).find_map(|p| p.strip_prefix(&format!("{key}="))).map(|v| v.trim_matches('"').to_owned())
        };
        parts.push(Part {
            name: param("name")?,
            filename: param("filename"),
            content_type: header("content-type"),
            body: part[split + 4..].to_vec(),
        });
        rest = &rest[end + delimiter.len()..];
    }
    Some(parts)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

impl Upstream for Shared {
    fn log(&self) -> &RequestLog {
        &self.log
    }

    async fn answer(&self, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Result<Reply, Reply> {
        route(self, method, uri, headers, body).await
    }

    /// `GET /v1/media/{id}`: a shared file's bytes, with the app's credentials (after any
    /// injected failure, like every route).
    fn file(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> Option<RawReply> {
        let id = uri.path().strip_prefix("/v1/media/").filter(|_| method == Method::GET)?;
        let error = |(status, body): Reply| RawReply { status, headers: Vec::new(), body: body.to_string().into() };
        let mut state = lock(&self.state);
        if let Some(status) = take_armed(&mut state.failures) {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return Some(error(api_error(status, status.canonical_reason().unwrap_or("Error"))));
        }
        if header(headers, "x-hyper-appid") != Some(FakeHyperChat::APP_ID)
            || header(headers, "x-hyper-secret") != Some(FakeHyperChat::SECRET)
        {
            return Some(error(unauthorized()));
        }
        let file = id.strip_prefix('F').and_then(|n| n.parse::<usize>().ok()).and_then(|n| state.files.get(n.checked_sub(1)?));
        Some(match (file, &state.storage) {
            (Some(file), Some(storage)) => RawReply::redirect(storage.put(id, &file.content_type, &file.bytes)),
            (Some(file), None) => RawReply::file(&file.content_type, file.bytes.clone().into()),
            (None, _) => error(not_found("Media")),
        })
    }
}

/// The secret the tests subscribe HyperChat's webhook with.
pub const WEBHOOK_SECRET: &str = "test-hook-secret";

/// A HyperChat webhook body, as HyperChat posts it.
pub fn event_body(trigger: &str, data: Value) -> String {
    json!({"trigger": trigger, "appId": FakeHyperChat::APP_ID, "data": data, "created_at": 1_800_000_000}).to_string()
}

/// `X-Hook-Signature` as lowercase hex of HMAC-SHA256 over the raw body, computed here
/// independently of the product's code.
pub fn hook_signature(secret: &str, body: &str) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body.as_bytes());
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raw_http::{self, HttpResponse};

    const APPID: (&str, &str) = ("x-hyper-appid", FakeHyperChat::APP_ID);
    const SECRET: (&str, &str) = ("x-hyper-secret", FakeHyperChat::SECRET);
    const BOTH: &[(&str, &str)] = &[APPID, SECRET];

    async fn get(fake: &FakeHyperChat, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
        raw_http::get(&format!("{}{path}", fake.base_url()), headers).await.expect("request to fake")
    }

    async fn send(fake: &FakeHyperChat, method: &str, path: &str, headers: &[(&str, &str)], body: Value) -> HttpResponse {
        let mut all = vec![("content-type", "application/json")];
        all.extend_from_slice(headers);
        raw_http::send(method, &format!("{}{path}", fake.base_url()), &all, body.to_string().as_bytes()).await.expect("request to fake")
    }

    /// Signs a user up and returns its id.
    async fn signup(fake: &FakeHyperChat, external_id: &str) -> String {
        let resp = send(fake, "POST", "/v1/users/", &[APPID], json!({"name": "Ann", "externalId": external_id})).await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        resp.json()["user"]["id"].as_str().expect("user id").to_owned()
    }

    async fn create_chat(fake: &FakeHyperChat, creator: &str) -> HttpResponse {
        send(fake, "POST", "/v1/chats", BOTH, json!({"creator": creator, "room": "1", "source": 3, "lang": "en"})).await
    }

    #[tokio::test]
    async fn agent_availability_and_queue_mode_follow_the_switches() {
        let fake = FakeHyperChat::start().await;
        let settings = get(&fake, "/v1/settings/", &[APPID]).await;
        assert_eq!((settings.status, settings.json()), (200, json!({"settings": {"queue": {"active": false}}})));
        let available = get(&fake, "/v1/agents/available?roomIds=7", &[APPID]).await;
        assert_eq!(available.json(), json!({"agents": {"7": 0}}));
        let online = get(&fake, "/v1/agents/online?roomId=7", &[APPID]).await;
        assert_eq!(online.json(), json!({"agentsOnline": false}));

        fake.set_queue_mode(true);
        fake.set_agents_available(2);
        let settings = get(&fake, "/v1/settings", &[APPID]).await;
        assert_eq!(settings.json()["settings"]["queue"]["active"], true);
        let available = get(&fake, "/v1/agents/available?roomIds=42", &[APPID]).await;
        assert_eq!((available.status, available.json()), (200, json!({"agents": {"42": 2}})));
        let online = get(&fake, "/v1/agents/online?roomId=42", &[APPID]).await;
        assert_eq!(online.json(), json!({"agentsOnline": true}));

        let no_room = get(&fake, "/v1/agents/available", &[APPID]).await;
        assert_eq!(no_room.status, 400);
        assert_eq!(fake.count("/agents/available"), 3);
    }

    #[tokio::test]
    async fn signup_then_duplicate_gives_409_and_lookup_by_external_id_finds_the_user() {
        let fake = FakeHyperChat::start().await;
        let resp = send(
            &fake,
            "POST",
            "/v1/users",
            &[APPID],
            json!({"name": "Ann", "externalId": "twilio-co-+34600", "contact": "+34600",
                   "extraInfo": {"phone": "+34600"}}),
        )
        .await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        let body = resp.json();
        assert_eq!(body["user"]["id"], "U1");
        assert_eq!(body["user"]["chats"], json!([]));
        assert_eq!(body["user"]["extraInfo"], json!({"phone": "+34600"}));
        assert_eq!(body["session"]["token"], "UT1");

        let dup = send(&fake, "POST", "/v1/users", &[APPID], json!({"name": "Other", "externalId": "twilio-co-+34600"})).await;
        assert_eq!(dup.status, 409);
        assert_eq!(dup.json()["error"]["code"], 409);
        assert_eq!(fake.users().len(), 1, "the duplicate created nothing");

        let found = get(&fake, "/v1/users/?externalId=twilio-co-%2B34600", BOTH).await;
        assert_eq!(found.status, 200, "{}", found.text());
        assert_eq!(found.json()["users"], json!([body["user"]]));
        let none = get(&fake, "/v1/users?externalId=nobody", BOTH).await;
        assert_eq!(none.json(), json!({"users": []}));

        let updated = send(&fake, "PUT", "/v1/users/U1", BOTH, json!({"name": "Ann B", "id": "U9"})).await;
        assert_eq!(updated.json()["user"]["name"], "Ann B");
        assert_eq!(updated.json()["user"]["id"], "U1", "only user fields change");
    }

    #[tokio::test]
    async fn chat_creation_records_history_and_links_the_chat_to_its_creator() {
        let fake = FakeHyperChat::start().await;
        let user = signup(&fake, "ext-1").await;
        let history = json!([
            {"sender": "assistant", "message": "Hi, how can I help?", "created": 1_600_000_000},
            {"sender": user, "message": "I want a human", "created": 1_600_000_005}
        ]);
        let resp = send(
            &fake,
            "POST",
            "/v1/chats/",
            BOTH,
            json!({"creator": user, "room": "1", "source": 3, "lang": "en",
                   "externalId": "ext-1", "history": history}),
        )
        .await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        let chat = resp.json()["chat"].clone();
        assert_eq!(chat["id"], "C1");
        assert_eq!(chat["creator"], user.as_str());
        assert_eq!(chat["status"], "waiting");
        assert_eq!(chat["source"], 3);
        assert_eq!(chat["externalId"], "ext-1");
        assert!(chat.get("history").is_none(), "the API does not echo history");

        let chats = fake.chats();
        assert_eq!(chats.len(), 1);
        assert_eq!(chats[0]["history"], history);
        let creator = get(&fake, &format!("/v1/users/{user}"), BOTH).await;
        assert_eq!(creator.json()["user"]["chats"], json!(["C1"]));
        let fetched = get(&fake, "/v1/chats/C1", BOTH).await;
        assert_eq!(fetched.json(), json!({"chat": chat}));

        let unknown = create_chat(&fake, "U99").await;
        assert_eq!(unknown.status, 400);
        fake.set_chat_creation_fails(true);
        let failed = create_chat(&fake, &user).await;
        assert_eq!(failed.status, 500);
        assert_eq!(failed.json()["error"]["code"], 500);
        assert_eq!(fake.chats().len(), 1, "failed creations leave no chat");
    }

    #[tokio::test]
    async fn a_missing_or_wrong_secret_or_appid_is_refused() {
        let fake = FakeHyperChat::start().await;
        let user = signup(&fake, "ext-1").await;
        let unauthorized = json!({"error": {"code": 401, "message": "Unauthorized"}});
        for headers in [&[APPID][..], &[APPID, ("x-hyper-secret", "nope")], &[SECRET]] {
            let resp = get(&fake, &format!("/v1/users/{user}"), headers).await;
            assert_eq!(resp.status, 401, "{headers:?}");
            assert_eq!(resp.json(), unauthorized);
        }
        let created = create_chat(&fake, &user).await;
        assert_eq!(created.status, 200, "with both headers it works");
        let refused = send(&fake, "DELETE", "/v1/chats/C1", &[APPID], json!({})).await;
        assert_eq!(refused.status, 401);
        assert_eq!(fake.chats()[0]["status"], "waiting");
        let no_appid = get(&fake, "/v1/settings", &[SECRET]).await;
        assert_eq!((no_appid.status, no_appid.json()), (401, unauthorized));
        assert_eq!(get(&fake, &format!("/v1/users/{user}"), BOTH).await.status, 200);
    }

    #[tokio::test]
    async fn a_chat_is_assigned_gets_messages_and_closes() {
        let fake = FakeHyperChat::start().await;
        let user = signup(&fake, "ext-1").await;
        let agent = fake.add_agent("Bob");
        let agent_user = get(&fake, &format!("/v1/users/{agent}"), BOTH).await.json();
        assert_eq!(agent_user["user"]["nickname"], "Bob");
        assert!(agent_user["user"]["providerId"].as_str().is_some_and(|p| !p.is_empty()));
        assert!(fake.users()[0].get("providerId").is_none(), "end users are not agents");

        assert_eq!(create_chat(&fake, &user).await.status, 200);
        let assign = get(&fake, "/v1/chats/C1/assign", BOTH).await;
        assert_eq!(assign.json(), json!({"success": true}));
        assert_eq!(fake.chats()[0]["status"], "active");

        let msg = send(&fake, "POST", "/v1/chats/C1/messages", BOTH, json!({"chatId": "C1", "sender": user, "message": "hello"})).await;
        let mut posted = msg.json()["message"].clone();
        assert!(posted["created"].as_u64().is_some_and(|at| at > 1_700_000_000), "dated: {posted}");
        posted.as_object_mut().unwrap().remove("created");
        assert_eq!(posted, json!({"id": "M1", "chat": "C1", "sender": user, "message": "hello", "type": "text"}));
        assert_eq!(fake.messages("C1"), vec![msg.json()["message"].clone()]);
        let listed = get(&fake, "/v1/chats/C1/messages", BOTH).await;
        assert_eq!(listed.json(), json!({"messages": [msg.json()["message"].clone()]}), "the chat's messages, as posted");
        assert!(fake.messages("C2").is_empty());

        let close = send(&fake, "DELETE", &format!("/v1/chats/C1?userId={user}"), BOTH, json!({})).await;
        assert_eq!(close.json(), json!({"success": true}));
        assert_eq!(fake.chats()[0]["status"], "closed");
        let late = send(&fake, "POST", "/v1/chats/C1/messages", BOTH, json!({"sender": user, "message": "still there?"})).await;
        assert_eq!(late.status, 400);
        assert_eq!(fake.messages("C1").len(), 1);
        assert_eq!(get(&fake, "/v1/chats/C9", BOTH).await.status, 404);
    }

    #[tokio::test]
    async fn an_uploaded_file_becomes_a_media_message_whose_bytes_only_the_app_can_read() {
        let fake = FakeHyperChat::start().await;
        let user = signup(&fake, "ext-1").await;
        assert_eq!(create_chat(&fake, &user).await.status, 200);
        let body = format!(
            "--XyZ\r\nContent-Disposition: form-data; name=\"chatId\"\r\n\r\nC1\r\n--XyZ\r\nContent-Disposition: form-data; name=\"senderId\"\r\n\r\n{user}\r\n\
             --XyZ\r\nContent-Disposition: form-data; name=\"media\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n\x01\r\n\x02\r\n--XyZ--\r\n"
        );
        let multipart = ("content-type", "multipart/form-data; boundary=XyZ");
        let uploaded =
            raw_http::send("POST", &format!("{}/v1/media", fake.base_url()), &[multipart, APPID, SECRET], body.as_bytes()).await.unwrap();
        assert_eq!(uploaded.status, 200, "{}", uploaded.text());
        let message = uploaded.json()["message"].clone();
        assert_eq!(message["message"], json!({"url": "/media/F1", "type": "image/png", "name": "a.png"}));
        assert_eq!(fake.files("C1")[0].bytes, b"\x01\r\n\x02", "the part's own line breaks are kept");
        assert_eq!(fake.messages("C1"), vec![message]);
        let download = get(&fake, "/v1/media/F1", BOTH).await;
        assert_eq!((download.status, download.body.as_slice()), (200, &b"\x01\r\n\x02"[..]));
        assert_eq!(get(&fake, "/v1/media/F1", &[APPID]).await.status, 401);
        assert_eq!(get(&fake, "/v1/media/F9", BOTH).await.status, 404);
    }

    #[tokio::test]
    async fn injected_failures_hit_exactly_the_next_n_requests() {
        let fake = FakeHyperChat::start().await;
        fake.fail_with(503, 2);
        for _ in 0..2 {
            let resp = get(&fake, "/v1/settings", &[]).await;
            assert_eq!((resp.status, resp.json()), (503, json!({"error": {"code": 503, "message": "Service Unavailable"}})));
        }
        assert_eq!(get(&fake, "/v1/settings", &[APPID]).await.status, 200);
        assert_eq!(fake.count("/v1/settings"), 3);
        assert_eq!(fake.requests().iter().map(|r| r.status).collect::<Vec<_>>(), vec![Some(503), Some(503), Some(200)]);
    }
}
