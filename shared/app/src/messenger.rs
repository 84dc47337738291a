//! Facebook Messenger in the registry. Compiled with the `messenger` feature.

use crate::registry::{Registered, WebhookRoute};
use crate::startup::{ChannelCredentials, Credential};
use crate::{App, AppError};
use channel_messenger::{MessengerSender, MessengerSettings, MessengerSource};
use connector_config::EnvKey;
use connector_core::{AnySender, Sender};
use connector_engine::ports::Chatbot;
use std::sync::Arc;

pub struct Messenger;

const APP_SECRET: Credential = ("MESSENGER_APP_SECRET", "messenger.app_secret");
const VERIFY_TOKEN: Credential = ("MESSENGER_VERIFY_TOKEN", "messenger.verify_token");
const PAGE_TOKEN: Credential = ("MESSENGER_PAGE_TOKEN", "messenger.page_token");

impl Registered for Messenger {
    const NAME: &'static str = "Messenger";
    const ENV: &'static [EnvKey] = channel_messenger::ENV;
    /// The page token may come from ExtraInfo instead.
    const CREDENTIALS: &'static ChannelCredentials =
        &ChannelCredentials { any: &[APP_SECRET, VERIFY_TOKEN, PAGE_TOKEN], needs: &[APP_SECRET, VERIFY_TOKEN], together: &[] };
    /// GET: Meta's verification of the subscription.
    const ROUTES: &'static [WebhookRoute] = &[WebhookRoute::get_and_post("/messenger")];
    const ADDRESS: &'static str = <MessengerSender as Sender>::CHANNEL;
    const QUEUE_URL: EnvKey = ("MESSENGER_QUEUE_URL", "queue.messenger_url");
    type Source = MessengerSource;

    /// Page tokens per environment from the chatbot's ExtraInfo (`facebook` / `page_tokens`),
    /// else the configured one.
    fn build(app: &App, chatbot: &Arc<dyn Chatbot>) -> Result<(MessengerSource, Arc<dyn AnySender>), AppError> {
        let settings: MessengerSettings = app.config.section("messenger")?;
        let (channel, sender) = channel_messenger::setup(&settings, Some(chatbot.clone()), app.environment()?)
            .map_err(|source| AppError::Channel { channel: Self::NAME, source })?;
        Ok((channel, Arc::new(sender)))
    }
}
