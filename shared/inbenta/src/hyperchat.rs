//! Inbenta HyperChat as the engine's [`LiveChat`]: agent availability, opening a chat with the
//! bot transcript, passing the user's messages and files on, closing, agents' names, whether a
//! chat member is an agent, the room's queue mode; and the files agents share, for the link
//! that hands them to the user.
//! Routes under `{base}/v1/`, app headers `x-hyper-appid` / `x-hyper-secret`.

use async_trait::async_trait;
use connector_engine::ports::{ChatOrigin, ChatRequest, Clock, LiveChat, LiveChatError, SystemClock};
use connector_engine::values::{ChatRef, FileContent};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;
use upstream::{Download, DownloadError, Method, RequestBuilder, StatusClass, StatusCode, Timeouts, Upstream, Url};

use crate::url_path_segment as encode;

/// The `chat.chat` table, keys as in the PHP connector's `chat.php` and the seed guides.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HyperChatSettings {
    pub enabled: bool,
    #[serde(default)]
    pub app_id: String,
    #[serde(default = "connector_config::empty_secret")]
    pub secret: SecretString,
    pub room_id: i64,
    #[serde(default)]
    pub lang: String,
    pub source: i64,
    /// `HYPERCHAT_API_URL`: the base URL without `/v1`.
    #[serde(default)]
    pub server: String,
    /// `eu` or `us`: the region's public server when no server is set, and the `region` of the
    /// `CHAT_ATTENDED` tracking event.
    #[serde(default)]
    pub region_server: String,
    /// The largest file a user may send an agent; larger ones are not fetched.
    pub max_file_bytes: u64,
}

/// The port of HyperChat's public servers: Inbenta's API Setup page gives the service URL as
/// `https://hyperchat-{region}.inbenta.chat:8000/{version}` (now also
/// `agentchat-{region}.inbenta.chat:8000`), and Inbenta's first PHP client defaulted its region
/// servers to port 8000. A `server` without a port is taken as written (HTTPS: 443), as Inbenta's
/// later PHP client does.
const REGION_SERVER_PORT: u16 = 8000;

impl HyperChatSettings {
    /// `server` when set, else the region's public server, on the port Inbenta documents.
    pub fn base_url(&self) -> Option<String> {
        let server = self.server.trim().trim_end_matches('/').trim_end_matches("/v1");
        if !server.is_empty() {
            return Some(server.to_owned());
        }
        let region = self.region_server.trim();
        (!region.is_empty()).then(|| format!("https://hyperchat-{region}.inbenta.chat:{REGION_SERVER_PORT}"))
    }
}

#[derive(Debug, Clone)]
pub struct HyperChatConfig {
    /// Without `/v1`.
    pub base_url: String,
    pub app_id: String,
    pub secret: SecretString,
    pub room_id: i64,
    pub source: i64,
    pub lang: String,
    /// `regionServer`, for the `CHAT_ATTENDED` tracking event (`us` when empty, as the PHP).
    pub region: String,
    pub timeout: Duration,
}

impl HyperChatConfig {
    pub fn from_settings(chat: &HyperChatSettings, base_url: String, timeout: Duration) -> Self {
        Self {
            base_url,
            app_id: chat.app_id.clone(),
            secret: chat.secret.clone(),
            room_id: chat.room_id,
            source: chat.source,
            lang: chat.lang.clone(),
            region: Some(chat.region_server.trim()).filter(|r| !r.is_empty()).unwrap_or("us").to_owned(),
            timeout,
        }
    }
}

/// How long the room's queue mode (`GET settings`) is believed: an operator switching it sees
/// the connector follow within this, and a turn costs no settings call while it holds.
const QUEUE_MODE_TTL: Duration = Duration::from_secs(300);

/// Chat members known to be agents or not, per process; a sender is asked once (or learnt from
/// the agent's name). Past this many it starts over, so a long-lived process stays small.
const KNOWN_MEMBERS_MAX: usize = 1000;

pub struct HyperChatClient {
    upstream: Upstream,
    config: HyperChatConfig,
    /// `settings.queue.active` and when it was read.
    queue_mode: Mutex<Option<(bool, Instant)>>,
    /// User id -> is an agent (has a `providerId`).
    members: Mutex<HashMap<String, bool>>,
}

impl HyperChatClient {
    pub fn new(config: HyperChatConfig) -> Result<Self, LiveChatError> {
        let upstream = Upstream::new("HyperChat", Timeouts::overall(config.timeout))
            .map_err(|e| LiveChatError::Unavailable(connector_engine::error_chain(&e)))?;
        Ok(Self { upstream, config, queue_mode: Mutex::new(None), members: Mutex::new(HashMap::new()) })
    }

    /// A request to `{base}/v1/{path}` with the app's credentials, as headers (never in the URL).
    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.upstream
            .request(method, format!("{}/v1/{path}", self.config.base_url))
            .header("x-hyper-appid", &self.config.app_id)
            .header("x-hyper-secret", self.config.secret.expose_secret())
    }

    /// The same with a JSON body, when there is one.
    fn json_request(&self, method: Method, path: &str, body: Option<&Value>) -> RequestBuilder {
        let request = self.request(method, path);
        match body {
            Some(body) => request.json(body),
            None => request,
        }
    }

    /// One API call. `Ok(Err(status, body))` is an error answer the caller may handle (409).
    async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Result<Value, (StatusCode, Value)>, LiveChatError> {
        self.exchange(self.json_request(method, path, body)).await
    }

    async fn exchange(&self, request: RequestBuilder) -> Result<Result<Value, (StatusCode, Value)>, LiveChatError> {
        let answer = self.upstream.send(request, None).await.map_err(|e| LiveChatError::Unavailable(connector_engine::error_chain(&e)))?;
        Self::read(&answer)
    }

    /// An answer: a success, an error answer the caller may handle, or "try later".
    fn read(answer: &upstream::Answer) -> Result<Result<Value, (StatusCode, Value)>, LiveChatError> {
        let (status, body) = (answer.status, answer.json());
        if answer.class() == StatusClass::Success && body.get("error").is_none() {
            Ok(Ok(body))
        } else if answer.class() == StatusClass::Retryable {
            Err(LiveChatError::Unavailable(format!("HTTP {}", status.as_u16())))
        } else {
            Ok(Err((status, body)))
        }
    }

    async fn ok(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value, LiveChatError> {
        self.call(method, path, body).await?.map_err(|(status, body)| rejected(status, &body))
    }

    /// A call on one chat: a chat HyperChat no longer has, or has closed, is over.
    async fn on_chat(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value, LiveChatError> {
        Self::of_chat(self.exchange(self.json_request(method, path, body)).await?)
    }

    fn of_chat(answer: Result<Value, (StatusCode, Value)>) -> Result<Value, LiveChatError> {
        match answer {
            Ok(body) => Ok(body),
            Err((status, body)) if status == StatusCode::NOT_FOUND || says_closed(&body) => Err(LiveChatError::ChatOver),
            Err((status, body)) => Err(rejected(status, &body)),
        }
    }

    /// A user's message whose post lost its answer: the chat's messages say whether HyperChat
    /// got it (the `GET chats/{id}/messages` of Inbenta's own client); if not, it is posted once
    /// more.
    async fn confirm_message(&self, chat: &ChatRef, path: &str, body: &Value, text: &str, since: i64) -> Result<(), LiveChatError> {
        let listed = match self.on_chat(Method::GET, path, None).await {
            Ok(listed) => listed,
            Err(LiveChatError::ChatOver) => return Err(LiveChatError::ChatOver),
            Err(error) => return Err(LiveChatError::Unconfirmed(connector_engine::error_chain(&error))),
        };
        if holds_message(&listed, &chat.user_id, text, since) {
            tracing::info!("HyperChat had the user's message whose answer was lost: not sent again");
            return Ok(());
        }
        tracing::warn!("HyperChat never got the user's message whose answer was lost: sending it again");
        self.on_chat(Method::POST, path, Some(body)).await.map(drop)
    }

    /// A file shared in a chat (a media message's `url`, `/media/...`): at most `limit` bytes,
    /// before `deadline`. A path that would leave the API's `/v1/` (once the URL is normalised)
    /// is refused: the credentials go with the request.
    pub async fn download(&self, path: &str, limit: u64, deadline: Instant) -> Result<Download, DownloadError> {
        let api = format!("{}/v1/", self.config.base_url);
        let url = Url::parse(&format!("{api}{}", path.trim_start_matches('/'))).map_err(|_| DownloadError::Refused)?;
        let root = Url::parse(&api).map_err(|_| DownloadError::Refused)?;
        if url.origin() != root.origin() || !url.path().starts_with(root.path()) {
            return Err(DownloadError::Refused);
        }
        self.upstream.download(self.request(Method::GET, path.trim_start_matches('/')), deadline, limit).await
    }

    /// The room's queue mode (`settings.queue.active` of `GET settings`, as Inbenta's PHP client
    /// reads it), read at most once per [`QUEUE_MODE_TTL`]; a failed read is not kept.
    async fn room_queue_mode(&self) -> Result<bool, LiveChatError> {
        let now = Instant::now();
        let cached = *self.queue_mode.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((active, read_at)) = cached.filter(|(_, read_at)| now.duration_since(*read_at) < QUEUE_MODE_TTL) {
            tracing::trace!(active, age_secs = now.duration_since(read_at).as_secs(), "queue mode from cache");
            return Ok(active);
        }
        let settings = self.ok(Method::GET, "settings", None).await?;
        let active = settings.pointer("/settings/queue/active").and_then(Value::as_bool).unwrap_or(false);
        *self.queue_mode.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some((active, now));
        Ok(active)
    }

    /// Remembers whether a user is an agent, from a `{"user":{..}}` answer (none for a user
    /// HyperChat does not have); whether they are.
    fn learn_member(&self, id: &str, user: Option<&Value>) -> bool {
        let agent = user.and_then(|user| user.pointer("/user/providerId")).is_some_and(|p| match p {
            Value::String(p) => !p.trim().is_empty(),
            Value::Null => false,
            _ => true,
        });
        let mut members = self.members.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if members.len() >= KNOWN_MEMBERS_MAX {
            members.clear();
        }
        members.insert(id.to_owned(), agent);
        agent
    }

    /// Signs the user up, or finds and updates them when HyperChat already knows the externalId.
    async fn user(&self, request: &ChatRequest) -> Result<Value, LiveChatError> {
        let mut profile = json!({ "name": request.name, "externalId": request.external_id });
        if !request.contact.is_empty() {
            profile["contact"] = json!(request.contact);
        }
        if !request.extra.is_empty() {
            profile["extraInfo"] = Value::Object(request.extra.clone());
        }
        match self.call(Method::POST, "users", Some(&profile)).await? {
            Ok(body) => return body.get("user").cloned().ok_or_else(|| LiveChatError::Rejected("signup without user".into())),
            Err((StatusCode::CONFLICT, _)) => {}
            Err((status, body)) => return Err(rejected(status, &body)),
        }
        let found = self.ok(Method::GET, &format!("users?externalId={}", encode(&request.external_id)), None).await?;
        let user = found.pointer("/users/0").cloned().ok_or_else(|| LiveChatError::Rejected("existing user not found".into()))?;
        let id = user.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
        if let Some(updates) = profile.as_object_mut() {
            updates.remove("externalId");
        }
        match self.ok(Method::PUT, &format!("users/{}", encode(&id)), Some(&profile)).await {
            Ok(updated) => Ok(updated.get("user").cloned().unwrap_or(user)),
            Err(_) => Ok(user),
        }
    }

    /// The user's chat that is still open, if any (reused instead of opening a second one).
    async fn open_chat_of(&self, user: &Value) -> Result<Option<String>, LiveChatError> {
        let Some(chat_id) = user.pointer("/chats/0").and_then(Value::as_str) else { return Ok(None) };
        match self.call(Method::GET, &format!("chats/{}", encode(chat_id)), None).await? {
            Ok(chat) if chat.pointer("/chat/status").and_then(Value::as_str) != Some("closed") => Ok(Some(chat_id.to_owned())),
            _ => Ok(None),
        }
    }
}

fn error_message(body: &Value) -> &str {
    body.pointer("/error/message").and_then(Value::as_str).unwrap_or("request refused")
}

/// HyperChat's error says the chat is closed.
fn says_closed(body: &Value) -> bool {
    error_message(body).to_lowercase().contains("closed")
}

/// How much earlier than our clock HyperChat may date a message we posted.
const CLOCK_SKEW_SECS: i64 = 5;

/// Whether a chat's messages (`{"messages":[..]}`) hold `text` from `user`, posted since `since`
/// (Unix seconds). A message without a date counts only if it is the user's latest.
fn holds_message(listed: &Value, user: &str, text: &str, since: i64) -> bool {
    let messages = listed.get("messages").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let theirs: Vec<&Value> = messages.iter().filter(|m| m.get("sender").and_then(Value::as_str) == Some(user)).collect();
    let same = |m: &Value| m.get("message").and_then(Value::as_str) == Some(text);
    theirs.iter().any(|m| same(m) && m.get("created").and_then(Value::as_i64).is_some_and(|at| at >= since - CLOCK_SKEW_SECS))
        || theirs.last().is_some_and(|m| same(m) && m.get("created").is_none())
}

fn rejected(status: StatusCode, body: &Value) -> LiveChatError {
    LiveChatError::Rejected(format!("HTTP {}: {}", status.as_u16(), error_message(body)))
}

#[async_trait]
impl LiveChat for HyperChatClient {
    /// Queue mode: any agent online; otherwise an agent free in the room.
    async fn agents_available(&self) -> Result<bool, LiveChatError> {
        let room = self.config.room_id;
        if self.room_queue_mode().await? {
            let online = self.ok(Method::GET, &format!("agents/online?roomId={room}"), None).await?;
            return Ok(online.get("agentsOnline").and_then(Value::as_bool).unwrap_or(false));
        }
        let available = self.ok(Method::GET, &format!("agents/available?roomIds={room}"), None).await?;
        Ok(available.pointer(&format!("/agents/{room}")).and_then(Value::as_i64).unwrap_or(0) > 0)
    }

    async fn open_chat(&self, request: &ChatRequest) -> Result<ChatRef, LiveChatError> {
        let user = self.user(request).await?;
        let user_id = user.get("id").and_then(Value::as_str).ok_or_else(|| LiveChatError::Rejected("user without id".into()))?.to_owned();
        if let Some(chat_id) = self.open_chat_of(&user).await? {
            return Ok(ChatRef { chat_id, user_id });
        }
        let history: Vec<Value> = request
            .history
            .iter()
            .map(|line| {
                let sender = if line.from_user { user_id.as_str() } else { "assistant" };
                json!({ "sender": sender, "message": line.message, "created": line.created })
            })
            .collect();
        let mut body = json!({
            "creator": user_id,
            "room": self.config.room_id,
            "source": self.config.source,
            "lang": self.config.lang,
            "externalId": request.external_id,
        });
        if !history.is_empty() {
            body["history"] = Value::Array(history);
        }
        let chat = self.ok(Method::POST, "chats", Some(&body)).await?;
        let chat_id =
            chat.pointer("/chat/id").and_then(Value::as_str).ok_or_else(|| LiveChatError::Rejected("chat without id".into()))?.to_owned();
        // The chat exists now: failing here would leave it open with nobody at the other end.
        let assigned = match self.room_queue_mode().await {
            Ok(false) => self.ok(Method::GET, &format!("chats/{}/assign", encode(&chat_id)), None).await.map(drop),
            other => other.map(drop),
        };
        if let Err(error) = assigned {
            tracing::warn!(error = %connector_engine::error_chain(&error), "chat opened but not assigned; it waits in the room");
        }
        Ok(ChatRef { chat_id, user_id })
    }

    async fn send_message(&self, chat: &ChatRef, text: &str) -> Result<(), LiveChatError> {
        let body = json!({ "chatId": chat.chat_id, "sender": chat.user_id, "message": text });
        let path = format!("chats/{}/messages", encode(&chat.chat_id));
        let since = SystemClock.now().0;
        match self.upstream.send(self.json_request(Method::POST, &path, Some(&body)), None).await {
            Ok(answer) => Self::of_chat(Self::read(&answer)?).map(drop),
            Err(error) if error.may_have_been_delivered() => {
                tracing::warn!(error = %connector_engine::error_chain(&error), "HyperChat's answer to the user's message was lost: asking it");
                self.confirm_message(chat, &path, &body, text, since).await
            }
            Err(error) => Err(LiveChatError::Unavailable(connector_engine::error_chain(&error))),
        }
    }

    /// `POST /v1/media` (multipart `chatId`, `senderId`, `media`), as Inbenta's own client
    /// uploads a user's file.
    async fn send_file(&self, chat: &ChatRef, file: &FileContent) -> Result<(), LiveChatError> {
        let part = |bytes: Vec<u8>| reqwest::multipart::Part::bytes(bytes).file_name(file.name.clone());
        let media = part(file.bytes.clone()).mime_str(&file.media_type).unwrap_or_else(|_| part(file.bytes.clone()));
        let form = reqwest::multipart::Form::new()
            .text("chatId", chat.chat_id.clone())
            .text("senderId", chat.user_id.clone())
            .part("media", media);
        // Only a closed chat ends it: a 404 here is about the media route, not the chat.
        match self.exchange(self.request(Method::POST, "media").multipart(form)).await? {
            Ok(_) => Ok(()),
            Err((_, body)) if says_closed(&body) => Err(LiveChatError::ChatOver),
            Err((status, body)) => Err(rejected(status, &body)),
        }
    }

    async fn close_chat(&self, chat: &ChatRef) -> Result<(), LiveChatError> {
        let path = format!("chats/{}?userId={}", encode(&chat.chat_id), encode(&chat.user_id));
        match self.on_chat(Method::DELETE, &path, None).await {
            Ok(_) | Err(LiveChatError::ChatOver) => Ok(()),
            Err(error) => Err(error),
        }
    }

    async fn abandon_chat(&self, chat_id: &str) -> Result<(), LiveChatError> {
        match self.on_chat(Method::DELETE, &format!("chats/{}", encode(chat_id)), None).await {
            Ok(_) | Err(LiveChatError::ChatOver) => Ok(()),
            Err(error) => Err(error),
        }
    }

    async fn agent_name(&self, agent_id: &str) -> Result<String, LiveChatError> {
        let user = self.ok(Method::GET, &format!("users/{}", encode(agent_id)), None).await?;
        self.learn_member(agent_id, Some(&user));
        let field = |name: &str| user.pointer(&format!("/user/{name}")).and_then(Value::as_str).map(str::trim).filter(|v| !v.is_empty());
        Ok(field("nickname").or_else(|| field("name")).unwrap_or_default().to_owned())
    }

    async fn chat_owner(&self, chat_id: &str) -> Result<Option<String>, LiveChatError> {
        match self.on_chat(Method::GET, &format!("chats/{}", encode(chat_id)), None).await {
            Ok(chat) => Ok(chat.pointer("/chat/externalId").and_then(Value::as_str).filter(|id| !id.is_empty()).map(str::to_owned)),
            Err(LiveChatError::ChatOver) => Ok(None),
            Err(error) => Err(error),
        }
    }

    fn origin(&self) -> ChatOrigin {
        ChatOrigin { app_id: self.config.app_id.clone(), region: self.config.region.clone() }
    }

    async fn queue_mode(&self) -> Result<Option<bool>, LiveChatError> {
        self.room_queue_mode().await.map(Some)
    }

    /// `GET users/{id}`: an agent has a `providerId` (the test of Inbenta's PHP connector before
    /// it relays a message); a user HyperChat does not know (404) is none. Asked once per user
    /// and process.
    async fn is_agent(&self, user_id: &str) -> Result<bool, LiveChatError> {
        let known = self.members.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(user_id).copied();
        if let Some(agent) = known {
            return Ok(agent);
        }
        match self.call(Method::GET, &format!("users/{}", encode(user_id)), None).await? {
            Ok(user) => Ok(self.learn_member(user_id, Some(&user))),
            Err((StatusCode::NOT_FOUND, _)) => Ok(self.learn_member(user_id, None)),
            Err((status, body)) => Err(rejected(status, &body)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chats_messages_hold_the_users_text_only_if_posted_since_the_send_or_latest_when_undated() {
        let listed = json!({"messages": [
            {"sender": "U1", "message": "yes", "created": 1000},
            {"sender": "A1", "message": "yes?", "created": 1001},
        ]});
        assert!(holds_message(&listed, "U1", "yes", 1003), "within the clock skew");
        assert!(!holds_message(&listed, "U1", "yes", 1010), "an earlier \"yes\" is not this one");
        assert!(!holds_message(&listed, "A1", "yes", 1000), "another text");
        let undated = json!({"messages": [{"sender": "U1", "message": "no"}, {"sender": "U1", "message": "yes"}]});
        assert!(holds_message(&undated, "U1", "yes", 5000));
        assert!(!holds_message(&undated, "U1", "no", 5000), "undated: only the latest counts");
        assert!(!holds_message(&json!({}), "U1", "yes", 0));
    }

    fn settings(server: &str, region: &str) -> HyperChatSettings {
        HyperChatSettings {
            enabled: true,
            app_id: String::new(),
            secret: connector_config::empty_secret(),
            room_id: 1,
            lang: "en".into(),
            source: 3,
            server: server.into(),
            region_server: region.into(),
            max_file_bytes: 1,
        }
    }

    /// Inbenta's API Setup page: `https://hyperchat-{region}.inbenta.chat:8000/{version}`; the
    /// default was port 443 before.
    #[test]
    fn the_base_url_is_the_server_without_v1_else_the_regions_public_server_on_port_8000() {
        assert_eq!(settings("https://hc.example/v1/", "us").base_url().as_deref(), Some("https://hc.example"));
        assert_eq!(settings("https://hc.example:8443", "us").base_url().as_deref(), Some("https://hc.example:8443"));
        assert_eq!(settings("", "eu").base_url().as_deref(), Some("https://hyperchat-eu.inbenta.chat:8000"));
        assert_eq!(settings("", "").base_url(), None);
    }

    #[test]
    fn chats_are_tracked_with_the_app_id_and_the_region_or_us_when_none_is_set() {
        let config = |region: &str| {
            let mut chat = settings("", region);
            chat.app_id = "app-1".into();
            HyperChatClient::new(HyperChatConfig::from_settings(&chat, "https://hc.example".into(), Duration::from_secs(1))).unwrap()
        };
        assert_eq!(config("eu").origin(), ChatOrigin { app_id: "app-1".into(), region: "eu".into() });
        assert_eq!(config(" ").origin().region, "us");
    }
}
