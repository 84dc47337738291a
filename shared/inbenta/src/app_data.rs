//! ExtraInfo: Inbenta's body (`{"results":[{"name":..,"value":..}]}`) read once, leniently, into
//! the engine's [`ExtraInfo`] (an object missing or odd is absent, so the files and the
//! configuration apply), and bodies kept 30 minutes (the PHP's CACHED_EXTRA_INFO_TTL) in memory
//! and in the state store, so neither a warm nor a cold instance calls the API on every message.

use connector_core::store::Cache;
use connector_engine::ports::Clock;
use connector_engine::values::{AppToken, ExtraInfo, Timestamp};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

const TTL: Duration = Duration::from_secs(30 * 60);

/// What the connector reads of a group's ExtraInfo body:
/// `translations` (`{"<lang>":[{label: text}]}`), `settings` (`{"only_chat_mode":"true"}`),
/// Smooch's `app_tokens` (`{"<environment>":[{"key":..,"secret":..}]}`) and Messenger's
/// `page_tokens` (`{"<environment>":"EAA.."}`, the object or a token possibly a "Multiple" list).
pub(crate) fn extra_info(body: &Value) -> ExtraInfo {
    let object = |name: &str| object(body, name);
    let translations = entries(object("translations"))
        .filter_map(|(lang, labels)| {
            let labels = first_of_multiple(labels).as_object()?;
            Some((lang.clone(), labels.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect()))
        })
        .collect();
    let only_chat_mode = object("settings").and_then(|s| s.get("only_chat_mode")).and_then(|flag| match flag {
        Value::Bool(b) => Some(*b),
        Value::String(s) => Some(s.eq_ignore_ascii_case("true")),
        _ => None,
    });
    let app_tokens = entries(object("app_tokens"))
        .filter_map(|(environment, entry)| {
            let entry = first_of_multiple(entry);
            let key = entry.get("key")?.as_str()?.trim();
            let secret = entry.get("secret")?.as_str()?.trim();
            let token = AppToken { key: key.to_owned(), secret: secret.to_owned() };
            (!key.is_empty() && !secret.is_empty()).then(|| (environment.clone(), token))
        })
        .collect();
    let page_tokens = entries(object("page_tokens").map(first_of_multiple))
        .filter_map(|(environment, token)| {
            let token = first_of_multiple(token).as_str()?.trim();
            (!token.is_empty()).then(|| (environment.clone(), token.to_owned()))
        })
        .collect();
    ExtraInfo { translations, only_chat_mode, app_tokens, page_tokens }
}

/// The `value` of the ExtraInfo object `name` (the first of that name).
fn object<'a>(body: &'a Value, name: &str) -> Option<&'a Value> {
    body.get("results")?.as_array()?.iter().find(|r| r.get("name").and_then(Value::as_str) == Some(name))?.get("value")
}

/// A "Multiple" ExtraInfo property arrives as a list whose first element holds the values.
fn first_of_multiple(value: &Value) -> &Value {
    value.as_array().and_then(|list| list.first()).unwrap_or(value)
}

/// The members of an object (none when it is missing or no object).
fn entries(value: Option<&Value>) -> impl Iterator<Item = (&String, &Value)> {
    value.and_then(Value::as_object).into_iter().flatten()
}

/// ExtraInfo by group: read in memory, parsed; in the store, Inbenta's body as it came.
pub(crate) struct AppDataCache {
    memory: Mutex<HashMap<String, (Timestamp, ExtraInfo)>>,
    store: Option<Arc<dyn Cache>>,
    clock: Arc<dyn Clock>,
    key_prefix: String,
}

impl AppDataCache {
    pub(crate) fn new(store: Option<Arc<dyn Cache>>, clock: Arc<dyn Clock>, api_key: &str) -> Self {
        let key_prefix = format!("extrainfo#{}#", crate::key_digest(api_key));
        Self { memory: Mutex::default(), store, clock, key_prefix }
    }

    pub(crate) async fn get(&self, group: &str) -> Option<ExtraInfo> {
        let now = self.clock.now();
        if let Some((expires_at, extra_info)) = self.memory.lock().await.get(group) {
            if *expires_at > now {
                return Some(extra_info.clone());
            }
        }
        let store = self.store.as_ref()?;
        let text = match store.cache_get(&format!("{}{group}", self.key_prefix), now).await {
            Ok(found) => found?,
            Err(error) => {
                tracing::warn!(error = %connector_engine::error_chain(&error), "ExtraInfo cache unreadable");
                return None;
            }
        };
        // Stored with its own expiry, so a copy read from the table expires when the original does.
        let (expires_at, body): (Timestamp, Value) = serde_json::from_str(&text).ok()?;
        let extra_info = extra_info(&body);
        self.memory.lock().await.insert(group.to_owned(), (expires_at, extra_info.clone()));
        Some(extra_info)
    }

    /// Keeps a group's body as Inbenta sent it, and gives what it says.
    pub(crate) async fn put(&self, group: &str, body: &Value) -> ExtraInfo {
        let expires_at = self.clock.now().plus(TTL);
        let extra_info = extra_info(body);
        self.memory.lock().await.insert(group.to_owned(), (expires_at, extra_info.clone()));
        if let Some(store) = &self.store {
            let stored = serde_json::json!([expires_at, body]).to_string();
            if let Err(error) = store.cache_put(&format!("{}{group}", self.key_prefix), &stored, expires_at).await {
                tracing::warn!(error = %connector_engine::error_chain(&error), "ExtraInfo cache not written");
            }
        }
        extra_info
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn translation(body: &Value, lang: &str, key: &str) -> Option<String> {
        extra_info(body).translations_of(lang)?.get(key).cloned()
    }

    #[test]
    fn translations_of_the_conversation_language_are_read_from_the_first_list_element() {
        let body = json!({"results":[{"name":"translations","value":{"en":[{"thanks":"Cheers!"}],"es":[{"thanks":"¡Gracias!"}]}}]});
        assert_eq!(translation(&body, "en", "thanks").as_deref(), Some("Cheers!"));
        assert_eq!(translation(&body, "es", "thanks").as_deref(), Some("¡Gracias!"));
    }

    #[test]
    fn only_chat_mode_is_read_from_settings_as_text_or_boolean() {
        let text = json!({"results":[{"name":"settings","value":{"only_chat_mode":"true"}}]});
        let boolean = json!({"results":[{"name":"settings","value":{"only_chat_mode":false}}]});
        let other = json!({"results":[{"name":"settings","value":{"only_chat_mode":1}}]});
        assert_eq!(extra_info(&text).only_chat_mode, Some(true));
        assert_eq!(extra_info(&boolean).only_chat_mode, Some(false));
        assert_eq!(extra_info(&other).only_chat_mode, None);
    }

    #[test]
    fn an_empty_or_odd_body_means_nothing_overridden() {
        let bodies = [
            json!({}),
            json!([]),
            json!("results"),
            json!({"results":"x"}),
            json!({"results":[3, {"name":4}, {"value":{}}]}),
            json!({"results":[{"name":"translations","value":3}]}),
            json!({"results":[{"name":"translations","value":{"en":"Cheers"}}]}),
            json!({"results":[{"name":"settings","value":[]}]}),
            json!({"results":[{"name":"app_tokens","value":{"production":"key"}}]}),
            json!({"results":[{"name":"page_tokens","value":{"production":{"token":"EAA"}}}]}),
        ];
        for body in bodies {
            assert_eq!(extra_info(&body), ExtraInfo::default(), "{body}");
        }
    }

    #[test]
    fn the_first_object_of_a_name_is_the_one_read() {
        let body = json!({"results":[
            {"name":"settings","value":{"only_chat_mode":"true"}},
            {"name":"settings","value":{"only_chat_mode":"false"}},
        ]});
        assert_eq!(extra_info(&body).only_chat_mode, Some(true));
    }

    /// Smooch's keys, moved here from the Smooch channel with the reading.
    #[test]
    fn the_app_key_of_the_environment_is_read_from_extra_info() {
        let body = json!({"results":[{"name":"app_tokens","value":{
            "development":[{"key":"app_dev","secret":"dev-secret"}],
            "production":[{"key":"app_prod","secret":"prod-secret"}],
            "preproduction":[{"key":"","secret":""}]
        }}]});
        let extra_info = extra_info(&body);
        let key = extra_info.app_token("development").unwrap();
        assert_eq!((key.key.as_str(), key.secret.as_str()), ("app_dev", "dev-secret"));
        assert_eq!(extra_info.app_token("production").unwrap().key, "app_prod");
        assert!(extra_info.app_token("preproduction").is_none(), "empty values mean: use the configuration");
        assert!(super::extra_info(&json!({"results":[]})).app_token("production").is_none());
    }

    /// Messenger's page tokens, moved here from the Messenger channel with the reading.
    #[test]
    fn the_page_token_of_the_environment_is_read_from_extra_info() {
        let body = json!({"results":[
            {"name":"translations","value":{}},
            {"name":"page_tokens","value":{"development":"EAA-dev","preproduction":"","production":"EAA-prod"}},
        ]});
        let read = |body: &Value, env: &str| extra_info(body).page_token(env).map(str::to_owned);
        assert_eq!(read(&body, "production").as_deref(), Some("EAA-prod"));
        assert_eq!(read(&body, "development").as_deref(), Some("EAA-dev"));
        assert_eq!(read(&body, "preproduction"), None, "empty means not set");
        assert_eq!(read(&body, "staging"), None);
        let multiple = json!({"results":[{"name":"page_tokens","value":[{"production":[" EAA-multi "]}]}]});
        assert_eq!(read(&multiple, "production").as_deref(), Some("EAA-multi"));
        assert_eq!(read(&json!({"results":[]}), "production"), None);
        assert_eq!(read(&json!({}), "production"), None);
    }

    #[test]
    fn the_tokens_stay_out_of_its_debug_text() {
        let body = json!({"results":[
            {"name":"app_tokens","value":{"production":{"key":"app_prod","secret":"prod-secret"}}},
            {"name":"page_tokens","value":{"production":"EAA-prod"}},
        ]});
        let shown = format!("{:?}", extra_info(&body));
        assert!(shown.contains("production") && !shown.contains("prod-secret") && !shown.contains("EAA-prod"), "{shown}");
    }
}
