//! Twilio (SMS and WhatsApp): its webhook, its sender and its function. Compiled with the
//! `twilio` feature.

use crate::{App, AppError, ConversationDefaults, Function, reloading, startup};
use channel_twilio::{TwilioChannel, TwilioSender, TwilioSettings};
use connector_core::queue::Forwarding;
use connector_core::{Sinks, Webhook};
use connector_engine::ports::Chatbot;
use std::sync::Arc;

impl App {
    /// The Twilio webhook and its sender.
    pub fn twilio(&self) -> Result<(TwilioChannel, TwilioSender), AppError> {
        startup::check(&self.config, "Twilio")?;
        let settings: TwilioSettings = self.config.section("twilio")?;
        let lang: ConversationDefaults = self.config.section("conversation")?;
        let (channel, sender) = channel_twilio::setup(&settings).map_err(AppError::Twilio)?;
        Ok((channel, sender.with_contents(self.store.clone().cache(), self.clock.clone(), &lang.default.lang)))
    }

    /// The Twilio function: its webhook, and a pipeline that replies through Twilio.
    pub async fn twilio_function(&self, chatbot: Arc<dyn Chatbot>) -> Result<Function<Webhook<TwilioChannel>>, AppError> {
        let (channel, sender) = self.twilio()?;
        let pipeline = self.pipeline(chatbot, self.live_chat()?, Sinks::default().with(Arc::new(sender)))?;
        let ingest = self.ingest().await;
        let webhook = reloading(Webhook::new(channel, ingest.queue()), self.reload(|app| app.twilio().map(|(channel, _)| channel)));
        Ok(self.function(ingest, pipeline, Forwarding::None, webhook))
    }
}
