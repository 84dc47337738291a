//! Twilio (SMS and WhatsApp) in the registry. Compiled with the `twilio` feature.

use crate::registry::{Registered, WebhookRoute};
use crate::startup::{ChannelCredentials, Credential};
use crate::{App, AppError, ConversationDefaults};
use channel_twilio::{TwilioSender, TwilioSettings, TwilioSource};
use connector_config::EnvKey;
use connector_core::{AnySender, Sender};
use connector_engine::ports::Chatbot;
use std::sync::Arc;

pub struct Twilio;

const SID: Credential = ("TWILIO_ACCOUNT_SID", "twilio.credentials.sid");
const TOKEN: Credential = ("TWILIO_AUTH_TOKEN", "twilio.credentials.auth_token");
const URL: Credential = ("TWILIO_WEBHOOK_URL", "twilio.webhook_url");

impl Registered for Twilio {
    const NAME: &'static str = "Twilio";
    const ENV: &'static [EnvKey] = channel_twilio::ENV;
    /// The webhook URL does not make Twilio configured (the SAM template sets it for the
    /// HyperChat function whether Twilio is deployed or not), but a configured Twilio needs it.
    const CREDENTIALS: &'static ChannelCredentials = &ChannelCredentials { any: &[SID, TOKEN], needs: &[SID, TOKEN, URL], together: &[] };
    /// Messages, and their status callbacks (`TWILIO_STATUS_CALLBACK_URL`).
    const ROUTES: &'static [WebhookRoute] = &[WebhookRoute::post("/twilio"), WebhookRoute::post("/twilio/status")];
    const ADDRESS: &'static str = <TwilioSender as Sender>::CHANNEL;
    const QUEUE_URL: EnvKey = ("TWILIO_QUEUE_URL", "queue.twilio_url");
    type Source = TwilioSource;

    fn build(app: &App, _: &Arc<dyn Chatbot>) -> Result<(TwilioSource, Arc<dyn AnySender>), AppError> {
        let settings: TwilioSettings = app.config.section("twilio")?;
        let lang: ConversationDefaults = app.config.section("conversation")?;
        let (channel, sender) = channel_twilio::setup(&settings).map_err(|source| AppError::Channel { channel: Self::NAME, source })?;
        Ok((channel, Arc::new(sender.with_contents(app.store.clone().cache(), app.clock.clone(), &lang.default.lang))))
    }
}
