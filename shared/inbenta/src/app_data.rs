//! ExtraInfo bodies, kept 30 minutes (the PHP's CACHED_EXTRA_INFO_TTL) in memory and in the
//! state store, so neither a warm nor a cold instance calls the API on every message.

use connector_core::store::Cache;
use connector_engine::ports::Clock;
use connector_engine::values::Timestamp;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

const TTL: Duration = Duration::from_secs(30 * 60);

pub(crate) struct AppDataCache {
    memory: Mutex<HashMap<String, (Timestamp, Value)>>,
    store: Option<Arc<dyn Cache>>,
    clock: Arc<dyn Clock>,
    key_prefix: String,
}

impl AppDataCache {
    pub(crate) fn new(store: Option<Arc<dyn Cache>>, clock: Arc<dyn Clock>, api_key: &str) -> Self {
        let key_prefix = format!("extrainfo#{}#", crate::key_digest(api_key));
        Self { memory: Mutex::default(), store, clock, key_prefix }
    }

    pub(crate) async fn get(&self, group: &str) -> Option<Value> {
        let now = self.clock.now();
        if let Some((expires_at, body)) = self.memory.lock().await.get(group) {
            if *expires_at > now {
                return Some(body.clone());
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
        self.memory.lock().await.insert(group.to_owned(), (expires_at, body.clone()));
        Some(body)
    }

    pub(crate) async fn put(&self, group: &str, body: &Value) {
        let expires_at = self.clock.now().plus(TTL);
        self.memory.lock().await.insert(group.to_owned(), (expires_at, body.clone()));
        let Some(store) = &self.store else { return };
        let stored = serde_json::json!([expires_at, body]).to_string();
        if let Err(error) = store.cache_put(&format!("{}{group}", self.key_prefix), &stored, expires_at).await {
            tracing::warn!(error = %connector_engine::error_chain(&error), "ExtraInfo cache not written");
        }
    }
}
