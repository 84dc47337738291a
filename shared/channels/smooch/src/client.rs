//! The messages and activity APIs, v2 (`conversations/{id}`, author `business`, Basic
//! `keyId:secret`) or v1.1 (`appusers/{id}`, role `appMaker`, an HS256 JWT with the key id as
//! `kid` and scope `app`). Rate limits and server errors are retried within the deadline: an
//! error answer means Smooch did not take the message; a lost answer is never retried.

use crate::SmoochAddress;
use crate::render::{Action, SmoochMessage};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use connector_core::SendError;
use connector_engine::ports::FileError;
use connector_engine::values::{FileContent, UserFile};
use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Sha256;
use std::time::Duration;
use tokio::time::Instant;
use upstream::{Backoff, ProviderCode, StatusClass, Timeouts, Upstream, UpstreamError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ApiVersion {
    #[serde(rename = "v2")]
    V2,
    #[serde(rename = "v1.1")]
    V1_1,
}

/// An app's API key: its id and secret.
#[derive(Debug, Clone)]
pub struct AppKey {
    pub id: String,
    pub secret: SecretString,
}

impl AppKey {
    /// `Authorization` for v1.1: a JWT signed with the secret, `kid` = key id, scope `app`.
    /// Written here rather than with a JWT crate: one fixed header and claim, signing only.
    pub fn bearer(&self) -> String {
        let header = format!(r#"{{"alg":"HS256","typ":"JWT","kid":{}}}"#, Value::from(self.id.as_str()));
        let signing_input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(r#"{"scope":"app"}"#));
        let mut mac = Hmac::<Sha256>::new_from_slice(self.secret.expose_secret().as_bytes()).expect("HMAC takes any key length");
        mac.update(signing_input.as_bytes());
        format!("Bearer {signing_input}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
    }

    /// `Authorization` for v2: Basic `keyId:secret`.
    pub fn basic(&self) -> String {
        format!("Basic {}", STANDARD.encode(format!("{}:{}", self.id, self.secret.expose_secret())))
    }
}

/// Smooch's error codes the connector acts on (v2 `errors[].code`, v1 `error.code`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmoochError {
    /// The conversation or user does not exist (any more): nothing will reach them.
    NotFound,
    /// The conversation holds 30,000 messages and takes no more (HTTP 423).
    ConversationFull,
    Other(String),
}

impl SmoochError {
    pub fn from_code(code: &ProviderCode) -> Self {
        match code.to_string().as_str() {
            "conversation_not_found" | "user_not_found" | "app_user_not_found" | "not_found" => Self::NotFound,
            "conversation_full" | "locked" => Self::ConversationFull,
            other => Self::Other(other.to_owned()),
        }
    }

    pub fn recipient_unreachable(&self) -> bool {
        matches!(self, Self::NotFound | Self::ConversationFull)
    }
}

pub struct SmoochClient {
    upstream: Upstream,
    /// Files users send.
    files: Upstream,
    base: String,
    /// The configured API URL, whose origin alone gets the app's credentials with a file
    /// download; `None` when it is no URL (then no download gets them).
    api: Option<upstream::Url>,
    version: ApiVersion,
}

/// What is posted: a message's content, or the typing indicator.
enum Post<'a> {
    Message { content: Value, send_id: &'a str },
    Typing,
}

/// The `metadata` key of our send tag on the messages we post.
const SEND_ID_KEY: &str = "connectorSendId";

/// One call: where, with what authorisation and body.
struct Call {
    url: String,
    authorization: String,
    body: Value,
}

impl SmoochClient {
    pub fn new(api_url: &str, version: ApiVersion, timeout: Duration) -> Result<Self, UpstreamError> {
        let upstream = Upstream::new("Smooch", Timeouts::overall(timeout))?;
        let files = Upstream::for_files("Smooch media", Timeouts::overall(timeout), api_url)?;
        let api = upstream::Url::parse(api_url).ok();
        Ok(Self { upstream, files, base: api_url.trim_end_matches('/').to_owned(), api, version })
    }

    /// Posts one message, retrying rate limits and server errors until `deadline`.
    /// Sends one message; on v2 its `metadata` carries `send_id`, by which
    /// [`SmoochClient::has_message`] finds it.
    pub async fn send(
        &self,
        key: &AppKey,
        to: &SmoochAddress,
        message: &SmoochMessage,
        send_id: &str,
        deadline: Instant,
    ) -> Result<(), SendError> {
        let call = self.call(key, to, Post::Message { content: content(message), send_id });
        let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(2), deadline);
        loop {
            match self.post(&call, key, deadline).await {
                Err(SendError::Unavailable(error)) if error.status().is_some() && error.is_retryable() => {
                    if !backoff.wait().await {
                        return Err(SendError::Unavailable(error));
                    }
                    tracing::info!(error = %error, "Smooch busy: trying again");
                }
                other => return other,
            }
        }
    }

    /// Whether `url` is on the configured API's origin (scheme, host and port), the one place a
    /// file download may carry the app's credentials.
    pub fn is_api_origin(&self, url: &str) -> bool {
        let Some(api) = &self.api else { return false };
        upstream::Url::parse(url).is_ok_and(|url| url.origin() == api.origin())
    }

    /// A file a user sent (its `mediaUrl`). On an app with private attachments Sunshine serves
    /// it only with "an authorization header" (spec `imageMessage`/`fileMessage.mediaUrl`), at
    /// the API's own origin (`https://{subdomain}.zendesk.com/sc/attachments/v2/...`, the spec's
    /// `uploadAttachment` example): `key`'s Basic `keyId:secret` is sent there, and only there,
    /// since a web client may name any URL and the key opens the whole app. A redirect is
    /// followed without it ([`Upstream::download`]). Only public addresses and the API's host
    /// are fetched.
    pub async fn fetch_file(&self, file: &UserFile, key: Option<&AppKey>, limit: u64, deadline: Instant) -> Result<FileContent, FileError> {
        let url = connector_core::files::file_url(file)?;
        let mut request = self.files.request(upstream::Method::GET, url.as_str());
        if let Some(key) = key.filter(|_| self.is_api_origin(url.as_str())) {
            request = request.header("authorization", key.basic());
        }
        connector_core::files::fetch(&self.files, request, file, limit, deadline).await
    }

    /// `typing:start`: the user sees the bot is writing (it stops with the next message).
    pub async fn typing(&self, key: &AppKey, to: &SmoochAddress, deadline: Instant) -> Result<(), SendError> {
        let call = self.call(key, to, Post::Typing);
        self.post(&call, key, deadline).await
    }

    /// The user's given name and surname (v2 `users/{id}` profile, v1.1 `appusers/{id}`);
    /// `None` when Smooch has none or cannot be asked.
    pub async fn display_name(&self, key: &AppKey, to: &SmoochAddress, deadline: Instant) -> Option<String> {
        let (app, user, base) = (&to.app, &to.user, &self.base);
        let (url, authorization, pointer) = match self.version {
            ApiVersion::V2 => (format!("{base}/v2/apps/{app}/users/{user}"), key.basic(), "/user/profile"),
            ApiVersion::V1_1 => (format!("{base}/v1.1/apps/{app}/appusers/{user}"), key.bearer(), "/appUser"),
        };
        let request = self.upstream.request(upstream::Method::GET, &url).header("authorization", authorization);
        let answer = match self.upstream.send(request, Some(deadline)).await {
            Ok(answer) if answer.class() == StatusClass::Success => answer,
            Ok(answer) => {
                tracing::warn!(status = answer.status.as_u16(), "Smooch user profile not read");
                return None;
            }
            Err(error) => {
                tracing::warn!(error = %error, "Smooch user profile not read");
                return None;
            }
        };
        let profile = answer.json().pointer(pointer).cloned().unwrap_or_default();
        let part = |name: &str| profile.get(name).and_then(Value::as_str).unwrap_or_default().trim().to_owned();
        let name = format!("{} {}", part("givenName"), part("surname")).trim().to_owned();
        (!name.is_empty()).then_some(name)
    }

    /// v2 needs the conversation; an address from a v1.1 webhook without one is served by the
    /// v1.1 routes, which the same key also opens.
    /// Only v2 conversations are listed here (v1.1 posts carry no send id).
    pub fn lists_messages(&self, to: &SmoochAddress) -> bool {
        self.version == ApiVersion::V2 && to.conversation.is_some()
    }

    /// Whether the conversation's latest page of messages (Sunshine v2 `ListMessages`: the most
    /// recent 100) holds one with our `send_id` in its metadata.
    pub async fn has_message(&self, key: &AppKey, to: &SmoochAddress, send_id: &str, deadline: Instant) -> Result<bool, SendError> {
        let Some(conversation) = to.conversation.as_deref().filter(|_| self.lists_messages(to)) else {
            return Err(SendError::BadAddress("smooch"));
        };
        let url = format!("{}/v2/apps/{}/conversations/{conversation}/messages", self.base, to.app);
        let request = self.upstream.request(upstream::Method::GET, &url).header("authorization", key.basic());
        let answer = self.upstream.send(request, Some(deadline)).await.map_err(SendError::Unavailable)?;
        if answer.class() != StatusClass::Success {
            return Err(SendError::Unavailable(self.upstream.status_error(&answer, error_code)));
        }
        let Some(messages) = answer.json().get("messages").and_then(Value::as_array).cloned() else {
            return Err(SendError::Unavailable(UpstreamError::InvalidResponse { service: "Smooch", reason: "not a message list" }));
        };
        Ok(messages.iter().any(|m| m.pointer(&format!("/metadata/{SEND_ID_KEY}")).and_then(Value::as_str) == Some(send_id)))
    }

    fn call(&self, key: &AppKey, to: &SmoochAddress, post: Post) -> Call {
        let (app, user, base) = (&to.app, &to.user, &self.base);
        let business = json!({ "type": "business" });
        match (self.version, &to.conversation) {
            (ApiVersion::V2, Some(conversation)) => {
                let (path, body) = match post {
                    Post::Message { content, send_id } => {
                        let metadata = serde_json::Map::from_iter([(SEND_ID_KEY.to_owned(), Value::from(send_id))]);
                        ("messages", json!({ "author": business, "content": content, "metadata": metadata }))
                    }
                    Post::Typing => ("activity", json!({ "author": business, "type": "typing:start" })),
                };
                Call { url: format!("{base}/v2/apps/{app}/conversations/{conversation}/{path}"), authorization: key.basic(), body }
            }
            _ => {
                let (path, mut body) = match post {
                    Post::Message { content, .. } => ("messages", content),
                    Post::Typing => ("conversation/activity", json!({ "type": "typing:start" })),
                };
                body["role"] = json!("appMaker");
                Call { url: format!("{base}/v1.1/apps/{app}/appusers/{user}/{path}"), authorization: key.bearer(), body }
            }
        }
    }

    async fn post(&self, call: &Call, key: &AppKey, deadline: Instant) -> Result<(), SendError> {
        let request =
            self.upstream.request(upstream::Method::POST, &call.url).header("authorization", &call.authorization).json(&call.body);
        let unreachable = |code: &ProviderCode| SmoochError::from_code(code).recipient_unreachable();
        let answer = self.upstream.send(request, Some(deadline)).await.map_err(|e| SendError::from_upstream(e, unreachable))?;
        if answer.class() == StatusClass::Success {
            return Ok(());
        }
        let error = self.upstream.status_error(&answer, error_code);
        // Refused credentials say nothing about the message: once they are fixed, Smooch's
        // redelivery sends it.
        if answer.class() == StatusClass::Unauthorized {
            tracing::error!(status = answer.status.as_u16(), key_id = %key.id, "Smooch refused the app key: check ExtraInfo smooch/app_tokens or SMOOCH_KEY_ID and SMOOCH_SECRET");
            return Err(SendError::Unavailable(error));
        }
        if answer.status.as_u16() == 404 {
            return Err(SendError::Refused { code: error.code().cloned(), recipient_unreachable: true, source: error });
        }
        Err(SendError::from_upstream(error, unreachable))
    }
}

/// v2 `{"errors":[{"code":..}]}` or v1 `{"error":{"code":..}}`.
fn error_code(body: &Value) -> Option<ProviderCode> {
    let code = body.pointer("/errors/0/code").or_else(|| body.pointer("/error/code"))?;
    ProviderCode::from_json(code)
}

/// The message's content, the same in both versions but for the author fields.
fn content(message: &SmoochMessage) -> Value {
    match message {
        SmoochMessage::Text { text, actions } if actions.is_empty() => json!({ "type": "text", "text": text }),
        SmoochMessage::Text { text, actions } => {
            let actions: Vec<Value> = actions
                .iter()
                .map(|action| match action {
                    Action::Reply { text, payload } => json!({ "type": "reply", "text": text, "payload": payload }),
                    Action::Link { text, uri } => json!({ "type": "link", "text": text, "uri": uri }),
                })
                .collect();
            json!({ "type": "text", "text": text, "actions": actions })
        }
        SmoochMessage::Image { url } => json!({ "type": "image", "mediaUrl": url }),
        SmoochMessage::File { url } => json!({ "type": "file", "mediaUrl": url }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example_key() -> AppKey {
        AppKey { id: "app_5963c0d619a30a2e00de36b8".into(), secret: SecretString::from("smooch_secret".to_owned()) }
    }

    #[test]
    fn the_v1_jwt_and_the_v2_basic_header_match_the_documented_examples() {
        // upstream-apis.md §3.1: the same bytes as the reference's compact header and claims.
        assert_eq!(
            example_key().bearer(),
            "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImFwcF81OTYzYzBkNjE5YTMwYTJlMDBkZTM2YjgifQ.eyJzY29wZSI6ImFwcCJ9.Bwso_lcMArtayEEqcofZHDrwxS8FomB0-dOsSTU7Mys"
        );
        assert_eq!(example_key().basic(), "Basic YXBwXzU5NjNjMGQ2MTlhMzBhMmUwMGRlMzZiODpzbW9vY2hfc2VjcmV0");
    }

    #[test]
    fn not_found_and_full_conversations_are_unreachable_and_other_codes_are_not() {
        let of = |code: &str| SmoochError::from_code(&ProviderCode::Text(code.into()));
        assert!(of("conversation_not_found").recipient_unreachable());
        assert!(of("conversation_full").recipient_unreachable());
        assert!(!of("bad_request").recipient_unreachable());
    }

    #[test]
    fn only_urls_on_the_api_origin_may_get_the_apps_credentials() {
        let client = SmoochClient::new("https://acme.zendesk.com/sc", ApiVersion::V2, Duration::from_secs(1)).unwrap();
        assert!(client.is_api_origin("https://acme.zendesk.com/sc/attachments/v2/01JK699PBZ645YAFJW2RF45F0B/my_file.jpeg"));
        assert!(client.is_api_origin("https://acme.zendesk.com:443/anything"));
        let others = [
            "http://acme.zendesk.com/sc/attachments/v2/x/a.png",
            "https://acme.zendesk.com:8443/sc/attachments/v2/x/a.png",
            "https://other.zendesk.com/sc/attachments/v2/x/a.png",
            "https://acme.zendesk.com.attacker.test/sc/x",
            "https://media.smooch.io/apps/a/conversations/c/a.png",
            "not a url",
        ];
        for other in others {
            assert!(!client.is_api_origin(other), "{other}");
        }
        let unparsable = SmoochClient::new("nowhere", ApiVersion::V2, Duration::from_secs(1)).unwrap();
        assert!(!unparsable.is_api_origin("https://acme.zendesk.com/sc/x"));
    }

    #[test]
    fn error_codes_are_read_from_both_error_formats() {
        assert_eq!(error_code(&json!({"errors":[{"code":"unauthorized","title":"x"}]})), Some(ProviderCode::Text("unauthorized".into())));
        assert_eq!(error_code(&json!({"error":{"code":"not_found","description":"x"}})), Some(ProviderCode::Text("not_found".into())));
        assert_eq!(error_code(&json!("oops")), None);
    }
}
