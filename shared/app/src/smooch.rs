//! Smooch / Sunshine Conversations in the registry. Compiled with the `smooch` feature.

use crate::registry::{Registered, WebhookRoute};
use crate::startup::{ChannelCredentials, Credential};
use crate::{App, AppError};
use channel_smooch::{SmoochSender, SmoochSettings, SmoochSource};
use connector_config::EnvKey;
use connector_core::{AnySender, Sender};
use connector_engine::ports::Chatbot;
use std::sync::Arc;

pub struct Smooch;

const WEBHOOK_SECRET: Credential = ("SMOOCH_WEBHOOK_SECRET", "smooch.webhook_secret");
const KEY_ID: Credential = ("SMOOCH_KEY_ID", "smooch.key_id");
const SECRET: Credential = ("SMOOCH_SECRET", "smooch.secret");

impl Registered for Smooch {
    const NAME: &'static str = "Smooch";
    const ENV: &'static [EnvKey] = channel_smooch::ENV;
    /// The API key may come from ExtraInfo instead: set whole or not at all.
    const CREDENTIALS: &'static ChannelCredentials =
        &ChannelCredentials { any: &[WEBHOOK_SECRET, KEY_ID, SECRET], needs: &[WEBHOOK_SECRET], together: &[&[KEY_ID, SECRET]] };
    const ROUTES: &'static [WebhookRoute] = &[WebhookRoute::post("/smooch")];
    const ADDRESS: &'static str = <SmoochSender as Sender>::CHANNEL;
    const QUEUE_URL: EnvKey = ("SMOOCH_QUEUE_URL", "queue.smooch_url");
    type Source = SmoochSource;

    /// API keys per environment from the chatbot's ExtraInfo (`smooch` / `app_tokens`), else
    /// the configured ones.
    fn build(app: &App, chatbot: &Arc<dyn Chatbot>) -> Result<(SmoochSource, Arc<dyn AnySender>), AppError> {
        let settings: SmoochSettings = app.config.section("smooch")?;
        let (channel, sender) = channel_smooch::setup(&settings, Some(chatbot.clone()), app.environment()?)
            .map_err(|source| AppError::Channel { channel: Self::NAME, source })?;
        Ok((channel, Arc::new(sender)))
    }
}
