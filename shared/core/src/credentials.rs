//! Channel credentials an operator may keep in ExtraInfo, one set per environment (Smooch's
//! `app_tokens`, Messenger's `page_tokens`), as the PHP connectors did; the configuration is
//! the fallback. ExtraInfo is read through the chatbot client, which caches it for 30 minutes
//! in memory and in the state store, so a send costs no extra call.

use connector_engine::ports::Chatbot;
use connector_engine::values::ExtraInfo;
use std::sync::Arc;
use tokio::time::Instant;

/// Reads one environment's credentials out of a group's ExtraInfo.
pub type ReadCredentials<T> = fn(&ExtraInfo, &str) -> Option<T>;

pub struct ChannelCredentials<T> {
    extra_info: Option<Arc<dyn Chatbot>>,
    group: &'static str,
    environment: String,
    read: ReadCredentials<T>,
    configured: Option<T>,
}

impl<T: Clone> ChannelCredentials<T> {
    /// `extra_info`: `None` when there is no Inbenta instance to read (the demo bot).
    pub fn new(
        extra_info: Option<Arc<dyn Chatbot>>,
        group: &'static str,
        environment: &str,
        read: ReadCredentials<T>,
        configured: Option<T>,
    ) -> Self {
        Self { extra_info, group, environment: environment.to_owned(), read, configured }
    }

    /// This environment's credentials from ExtraInfo when it has them, else the configured
    /// ones; `None` when neither exists.
    pub async fn get(&self, deadline: Instant) -> Option<T> {
        if let Some(chatbot) = &self.extra_info {
            match tokio::time::timeout_at(deadline, chatbot.app_data(self.group)).await {
                Ok(Ok(extra_info)) => {
                    if let Some(found) = (self.read)(&extra_info, &self.environment) {
                        return Some(found);
                    }
                }
                Ok(Err(error)) => {
                    tracing::warn!(error = %connector_engine::error_chain(&error), group = self.group, "ExtraInfo unreadable: configured credentials used");
                }
                Err(_) => tracing::warn!(group = self.group, "ExtraInfo not read in time: configured credentials used"),
            }
        }
        self.configured.clone()
    }
}
