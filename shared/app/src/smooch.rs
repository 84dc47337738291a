//! Smooch / Sunshine Conversations: its webhook, its sender and its function. Compiled with the
//! `smooch` feature.

use crate::{App, AppError, Function, reloading, startup};
use channel_smooch::{SmoochChannel, SmoochSender, SmoochSettings};
use connector_core::queue::Forwarding;
use connector_core::{Sinks, Webhook};
use connector_engine::ports::Chatbot;
use std::sync::Arc;

impl App {
    /// The Smooch webhook and its sender; API keys per environment from the chatbot's
    /// ExtraInfo (`smooch` / `app_tokens`), else the configured ones.
    pub fn smooch(&self, chatbot: &Arc<dyn Chatbot>) -> Result<(SmoochChannel, SmoochSender), AppError> {
        startup::check(&self.config, "Smooch")?;
        let settings: SmoochSettings = self.config.section("smooch")?;
        channel_smooch::setup(&settings, Some(chatbot.clone()), self.environment()?).map_err(AppError::Smooch)
    }

    /// The Smooch function: its webhook, and a pipeline that replies through Smooch.
    pub async fn smooch_function(&self, chatbot: Arc<dyn Chatbot>) -> Result<Function<Webhook<SmoochChannel>>, AppError> {
        let (channel, sender) = self.smooch(&chatbot)?;
        let reload = self.reload({
            let chatbot = chatbot.clone();
            move |app| app.smooch(&chatbot).map(|(channel, _)| channel)
        });
        let pipeline = self.pipeline(chatbot, self.live_chat()?, Sinks::default().with(Arc::new(sender)))?;
        let ingest = self.ingest().await;
        let webhook = reloading(Webhook::new(channel, ingest.queue()), reload);
        Ok(self.function(ingest, pipeline, Forwarding::None, webhook))
    }
}
