//! Facebook Messenger: its webhook, its sender (the Graph API) and its function. Compiled with
//! the `messenger` feature.

use crate::{App, AppError, Function, reloading, startup};
use channel_messenger::{MessengerChannel, MessengerSender, MessengerSettings};
use connector_core::queue::Forwarding;
use connector_core::{Sinks, Webhook};
use connector_engine::ports::Chatbot;
use std::sync::Arc;

impl App {
    /// The Messenger webhook and its sender; page tokens per environment from the chatbot's
    /// ExtraInfo (`facebook` / `page_tokens`), else the configured one.
    pub fn messenger(&self, chatbot: &Arc<dyn Chatbot>) -> Result<(MessengerChannel, MessengerSender), AppError> {
        startup::check(&self.config, "Messenger")?;
        let settings: MessengerSettings = self.config.section("messenger")?;
        channel_messenger::setup(&settings, Some(chatbot.clone()), self.environment()?).map_err(AppError::Messenger)
    }

    /// The Messenger function: its webhook, and a pipeline that replies through the Graph API.
    pub async fn messenger_function(&self, chatbot: Arc<dyn Chatbot>) -> Result<Function<Webhook<MessengerChannel>>, AppError> {
        let (channel, sender) = self.messenger(&chatbot)?;
        let reload = self.reload({
            let chatbot = chatbot.clone();
            move |app| app.messenger(&chatbot).map(|(channel, _)| channel)
        });
        let pipeline = self.pipeline(chatbot, self.live_chat()?, Sinks::default().with(Arc::new(sender)))?;
        let ingest = self.ingest().await;
        let webhook = reloading(Webhook::new(channel, ingest.queue()), reload);
        Ok(self.function(ingest, pipeline, Forwarding::None, webhook))
    }
}
