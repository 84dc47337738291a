//! Inbenta HyperChat as the engine's [`LiveChat`]: agent availability, opening a chat with the
//! bot transcript, passing the user's messages and files on, closing, agents' names and survey
//! links; and the files agents share, for the link that hands them to the user.
//! Routes under `{base}/v1/`, app headers `x-hyper-appid` / `x-hyper-secret`.

use async_trait::async_trait;
use connector_engine::ports::{ChatRef, ChatRequest, FileContent, LiveChat, LiveChatError};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};
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
    /// Used when no server is set: `eu` or `us`.
    #[serde(default)]
    pub region_server: String,
    /// The satisfaction survey sent when a chat's ticket is created; empty for none.
    #[serde(default)]
    pub survey_id: String,
    /// The largest file a user may send an agent; larger ones are not fetched.
    pub max_file_bytes: u64,
}

impl HyperChatSettings {
    /// `server` when set, else the region's public server.
    pub fn base_url(&self) -> Option<String> {
        let server = self.server.trim().trim_end_matches('/').trim_end_matches("/v1");
        if !server.is_empty() {
            return Some(server.to_owned());
        }
        let region = self.region_server.trim();
        (!region.is_empty()).then(|| format!("https://hyperchat-{region}.inbenta.chat"))
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
    pub survey_id: String,
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
            survey_id: chat.survey_id.trim().to_owned(),
            timeout,
        }
    }
}

pub struct HyperChatClient {
    upstream: Upstream,
    config: HyperChatConfig,
}

impl HyperChatClient {
    pub fn new(config: HyperChatConfig) -> Result<Self, LiveChatError> {
        let upstream = Upstream::new("HyperChat", Timeouts::overall(config.timeout))
            .map_err(|e| LiveChatError::Unavailable(connector_engine::error_chain(&e)))?;
        Ok(Self { upstream, config })
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
        match self.exchange(self.json_request(method, path, body)).await? {
            Ok(body) => Ok(body),
            Err((status, body)) if status == StatusCode::NOT_FOUND || says_closed(&body) => Err(LiveChatError::ChatOver),
            Err((status, body)) => Err(rejected(status, &body)),
        }
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

    async fn queue_mode(&self) -> Result<bool, LiveChatError> {
        let settings = self.ok(Method::GET, "settings", None).await?;
        Ok(settings.pointer("/settings/queue/active").and_then(Value::as_bool).unwrap_or(false))
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

fn rejected(status: StatusCode, body: &Value) -> LiveChatError {
    LiveChatError::Rejected(format!("HTTP {}: {}", status.as_u16(), error_message(body)))
}

#[async_trait]
impl LiveChat for HyperChatClient {
    /// Queue mode: any agent online; otherwise an agent free in the room.
    async fn agents_available(&self) -> Result<bool, LiveChatError> {
        let room = self.config.room_id;
        if self.queue_mode().await? {
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
        let assigned = match self.queue_mode().await {
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
        self.on_chat(Method::POST, &format!("chats/{}/messages", encode(&chat.chat_id)), Some(&body)).await.map(drop)
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

    async fn survey_link(&self, ticket_id: &str) -> Result<Option<String>, LiveChatError> {
        if self.config.survey_id.is_empty() {
            return Ok(None);
        }
        let body = json!({ "sourceType": "ticket", "sourceId": ticket_id });
        let survey = self.ok(Method::GET, &format!("surveys/{}", encode(&self.config.survey_id)), Some(&body)).await?;
        Ok(survey.pointer("/survey/url").and_then(Value::as_str).map(str::to_owned))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            survey_id: String::new(),
            max_file_bytes: 1,
        }
    }

    #[test]
    fn the_base_url_is_the_server_without_v1_else_the_regions_public_server() {
        assert_eq!(settings("https://hc.example/v1/", "us").base_url().as_deref(), Some("https://hc.example"));
        assert_eq!(settings("", "eu").base_url().as_deref(), Some("https://hyperchat-eu.inbenta.chat"));
        assert_eq!(settings("", "").base_url(), None);
    }
}
