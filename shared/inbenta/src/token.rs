//! The Inbenta access token: one per API key, shared by every conversation of the process and,
//! through the state store's cache item, by every cold start while it is valid.

use connector_core::store::Cache;
use connector_engine::ports::{ChatbotError, Clock};
use connector_engine::values::Timestamp;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use tokio::sync::Mutex;

/// Refresh this long before expiry, as the PHP client did (TOKEN_REFRESH_OFFSET).
const REFRESH_MARGIN_SECS: i64 = 180;

#[derive(Clone, Serialize, Deserialize)]
pub struct AccessToken {
    #[serde(serialize_with = "expose")]
    pub token: SecretString,
    /// Unix seconds.
    pub expiration: i64,
    /// The product's API URL from the `apis` of the /auth response (refresh responses do not
    /// repeat it): `apis.chatbot` for the Chatbot API client, `apis.ticketing` for the ticketing
    /// client (each keeps its own token).
    pub chatbot_url: String,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken").field("expiration", &self.expiration).field("chatbot_url", &self.chatbot_url).finish_non_exhaustive()
    }
}

fn expose<S: serde::Serializer>(secret: &SecretString, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(secret.expose_secret())
}

/// The Chatbot API's keys in an auth answer's `apis` (Inbenta renamed it "Chat API").
pub(crate) const CHATBOT_APIS: &[&str] = &["chatbot", "chat"];

impl AccessToken {
    /// Reads an /auth or /refreshToken response for the product whose URL is the first of
    /// `apis` (keys of the answer's `apis`) the answer has; `known_url` fills in a missing one.
    pub fn from_auth_of(body: &Value, known_url: Option<&str>, apis: &[&str]) -> Result<Self, ChatbotError> {
        let token = body
            .get("accessToken")
            .and_then(Value::as_str)
            .ok_or_else(|| ChatbotError::Protocol("authentication response without accessToken".into()))?;
        let expiration = body
            .get("expiration")
            .and_then(Value::as_i64)
            .ok_or_else(|| ChatbotError::Protocol("authentication response without expiration".into()))?;
        let chatbot_url = apis
            .iter()
            .find_map(|api| body.pointer(&format!("/apis/{api}")).and_then(Value::as_str))
            .or(known_url)
            .ok_or_else(|| ChatbotError::Protocol(format!("missing Inbenta API endpoints (apis.{})", apis.join(" or apis."))))?
            .trim_end_matches('/')
            .to_owned();
        Ok(Self { token: SecretString::from(token.to_owned()), expiration, chatbot_url })
    }

    fn usable_at(&self, now: Timestamp) -> bool {
        self.expiration - REFRESH_MARGIN_SECS > now.0
    }

    fn alive_at(&self, now: Timestamp) -> bool {
        self.expiration > now.0
    }

    fn same_as(&self, other: &AccessToken) -> bool {
        self.token.expose_secret() == other.token.expose_secret()
    }
}

pub(crate) struct TokenKeeper {
    current: Mutex<Option<AccessToken>>,
    cache: Option<Arc<dyn Cache>>,
    cache_key: String,
    clock: Arc<dyn Clock>,
}

impl TokenKeeper {
    pub(crate) fn new(cache: Option<Arc<dyn Cache>>, clock: Arc<dyn Clock>, api_key: &str) -> Self {
        let cache_key = format!("token#{}", crate::key_digest(api_key));
        Self { current: Mutex::new(None), cache, cache_key, clock }
    }

    /// A keeper of `product`'s tokens, cached apart from the Chatbot API's even under the same
    /// key: a cached token carries its product's URL.
    pub(crate) fn for_product(cache: Option<Arc<dyn Cache>>, clock: Arc<dyn Clock>, api_key: &str, product: &str) -> Self {
        let cache_key = format!("token#{product}#{}", crate::key_digest(api_key));
        Self { current: Mutex::new(None), cache, cache_key, clock }
    }

    /// A token valid for a while: from memory, else the cache, else refreshed, else a new one.
    /// The lock makes concurrent requests of one process wait for a single /auth call.
    pub(crate) async fn current<A, R, FA, FR>(&self, authenticate: A, refresh: R) -> Result<AccessToken, ChatbotError>
    where
        A: FnOnce() -> FA,
        R: FnOnce(AccessToken) -> FR,
        FA: Future<Output = Result<AccessToken, ChatbotError>>,
        FR: Future<Output = Result<AccessToken, ChatbotError>>,
    {
        let now = self.clock.now();
        let mut current = self.current.lock().await;
        if let Some(token) = current.as_ref().filter(|t| t.usable_at(now)) {
            return Ok(token.clone());
        }
        if let Some(token) = self.cached(now).await {
            *current = Some(token.clone());
            return Ok(token);
        }
        let renewed = match current.take().filter(|t| t.alive_at(now)) {
            Some(expiring) => match refresh(expiring).await {
                Ok(token) => token,
                Err(error) => {
                    tracing::warn!(error = %connector_engine::error_chain(&error), "token refresh failed, authenticating again");
                    authenticate().await?
                }
            },
            None => authenticate().await?,
        };
        self.store(&renewed).await;
        *current = Some(renewed.clone());
        Ok(renewed)
    }

    /// Drops a token the API refused, unless another request already replaced it.
    pub(crate) async fn forget(&self, refused: &AccessToken) {
        let mut current = self.current.lock().await;
        if current.as_ref().is_some_and(|t| t.same_as(refused)) {
            *current = None;
            if let Some(cache) = &self.cache {
                let _ = cache.cache_put(&self.cache_key, "", Timestamp(0)).await;
            }
        }
    }

    async fn cached(&self, now: Timestamp) -> Option<AccessToken> {
        let cache = self.cache.as_ref()?;
        let text = match cache.cache_get(&self.cache_key, now).await {
            Ok(found) => found?,
            Err(error) => {
                tracing::warn!(error = %connector_engine::error_chain(&error), "token cache unreadable");
                return None;
            }
        };
        serde_json::from_str::<AccessToken>(&text).ok().filter(|t| t.usable_at(now))
    }

    async fn store(&self, token: &AccessToken) {
        let Some(cache) = &self.cache else { return };
        let Ok(text) = serde_json::to_string(token) else { return };
        if let Err(error) = cache.cache_put(&self.cache_key, &text, Timestamp(token.expiration)).await {
            tracing::warn!(error = %connector_engine::error_chain(&error), "token cache not written");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_chat_api_url_is_read_from_apis_chatbot_or_from_the_renamed_apis_chat() {
        let old = json!({"accessToken":"t","expiration":10,"apis":{"chatbot":"https://eu.example/chatbot/"}});
        let renamed = json!({"accessToken":"t","expiration":10,"apis":{"chat":"https://eu.example/chat"}});
        assert_eq!(AccessToken::from_auth_of(&old, None, CHATBOT_APIS).unwrap().chatbot_url, "https://eu.example/chatbot");
        assert_eq!(AccessToken::from_auth_of(&renamed, None, CHATBOT_APIS).unwrap().chatbot_url, "https://eu.example/chat");
        assert!(AccessToken::from_auth_of(&json!({"accessToken":"t","expiration":10}), None, CHATBOT_APIS).is_err());
    }
}
