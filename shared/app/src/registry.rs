//! The registry of channels: all that composition knows of each one. A channel is its own crate,
//! its module here (`src/<channel>.rs`, behind its cargo feature, implementing [`Registered`])
//! and its line in [`CHANNELS`]. The functions, the HyperChat function's senders,
//! `connector-local`'s routes, the environment variables read and the start-up checks all come
//! from here; nothing else names a channel.

use crate::startup::ChannelCredentials;
use crate::{App, AppError, Function, reloading};
use connector_config::EnvKey;
use connector_core::queue::{Forwarding, Queue};
use connector_core::{AnyEndpoint, AnySender, Senders, Webhook};
use connector_engine::ports::Chatbot;
use std::sync::Arc;

/// Every channel compiled in, in the order start-up reports them.
pub const CHANNELS: &[Registration] = &[
    #[cfg(feature = "twilio")]
    Registration::of::<crate::twilio::Twilio>(),
    #[cfg(feature = "smooch")]
    Registration::of::<crate::smooch::Smooch>(),
    #[cfg(feature = "messenger")]
    Registration::of::<crate::messenger::Messenger>(),
];

/// A channel, as composition builds it.
pub trait Registered: 'static {
    /// As start-up, logs and errors name it ("Twilio").
    const NAME: &'static str;
    /// Its environment variables and the configuration keys they set.
    const ENV: &'static [EnvKey];
    /// The credentials that make it configured, and those that must then be set too.
    const CREDENTIALS: &'static ChannelCredentials;
    /// Its webhook's routes (`connector-local`'s server; the HTTP API has the same paths).
    const ROUTES: &'static [WebhookRoute];
    /// Its name in reply addresses (its sender's `CHANNEL`).
    const ADDRESS: &'static str;
    /// The variable and key of its queue's URL, for the HyperChat function: an agent's event
    /// joins its conversation's group in the queue of the conversation's channel.
    const QUEUE_URL: EnvKey;
    /// Its webhook side: authenticates and parses the provider's requests.
    type Source: connector_core::Source;
    /// Its webhook side and its sender, from the configuration (the chatbot reads ExtraInfo,
    /// where some channels keep their credentials).
    fn build(app: &App, chatbot: &Arc<dyn Chatbot>) -> Result<(Self::Source, Arc<dyn AnySender>), AppError>;
}

/// A path of a channel's webhook and whether it also takes GET (a provider's verification).
#[derive(Debug, Clone, Copy)]
pub struct WebhookRoute {
    pub path: &'static str,
    pub get: bool,
}

impl WebhookRoute {
    pub const fn post(path: &'static str) -> Self {
        Self { path, get: false }
    }

    pub const fn get_and_post(path: &'static str) -> Self {
        Self { path, get: true }
    }
}

/// A [`Registered`] channel with its types erased, so that the registry is a list.
pub struct Registration {
    pub name: &'static str,
    pub env: &'static [EnvKey],
    pub credentials: &'static ChannelCredentials,
    pub routes: &'static [WebhookRoute],
    pub address: &'static str,
    pub queue_url: EnvKey,
    /// Its webhook into a queue, and its sender.
    build: BuildWebhook,
    /// Its sender alone.
    sender: BuildSender,
}

type BuildWebhook = fn(&App, &Arc<dyn Chatbot>, Arc<dyn Queue>) -> Result<WebhookAndSender, AppError>;
type BuildSender = fn(&App, &Arc<dyn Chatbot>) -> Result<Sink, AppError>;

/// A channel's webhook (enqueueing) and its sender.
pub type WebhookAndSender = (AnyEndpoint, Sink);
/// A channel's sender, its type erased.
pub type Sink = Arc<dyn AnySender>;

impl Registration {
    pub const fn of<R: Registered>() -> Self {
        Self {
            name: R::NAME,
            env: R::ENV,
            credentials: R::CREDENTIALS,
            routes: R::ROUTES,
            address: R::ADDRESS,
            queue_url: R::QUEUE_URL,
            build: webhook_and_sender::<R>,
            sender: sender::<R>,
        }
    }

    /// Its webhook, enqueueing into `queue`, and its sender.
    pub fn build(&self, app: &App, chatbot: &Arc<dyn Chatbot>, queue: Arc<dyn Queue>) -> Result<WebhookAndSender, AppError> {
        (self.build)(app, chatbot, queue)
    }

    /// Its sender (for the HyperChat function, which replies to the users of every channel).
    pub fn sender(&self, app: &App, chatbot: &Arc<dyn Chatbot>) -> Result<Sink, AppError> {
        (self.sender)(app, chatbot)
    }
}

fn sender<R: Registered>(app: &App, chatbot: &Arc<dyn Chatbot>) -> Result<Sink, AppError> {
    app.channel::<R>(chatbot).map(|(_, sender)| sender)
}

fn webhook_and_sender<R: Registered>(app: &App, chatbot: &Arc<dyn Chatbot>, queue: Arc<dyn Queue>) -> Result<WebhookAndSender, AppError> {
    let (channel, sender) = app.channel::<R>(chatbot)?;
    Ok((AnyEndpoint::new(Webhook::new(channel, queue)), sender))
}

impl App {
    /// Channel `R`'s webhook side and sender, once its credentials are whole.
    pub fn channel<R: Registered>(&self, chatbot: &Arc<dyn Chatbot>) -> Result<(R::Source, Arc<dyn AnySender>), AppError> {
        if let Some(half) = R::CREDENTIALS.check(R::NAME, &self.config) {
            return Err(half.into());
        }
        R::build(self, chatbot)
    }

    /// Channel `R`'s function: its webhook, and a pipeline that replies through its sender. With
    /// `SECRETS_ID`, a webhook whose signature fails reads its secrets again.
    pub async fn channel_function<R: Registered>(&self, chatbot: Arc<dyn Chatbot>) -> Result<Function<Webhook<R::Source>>, AppError> {
        let (channel, sender) = self.channel::<R>(&chatbot)?;
        let reload = self.reload({
            let chatbot = chatbot.clone();
            move |app| app.channel::<R>(&chatbot).map(|(channel, _)| channel)
        });
        let pipeline = self.pipeline(chatbot, self.live_chat()?, Senders::default().with(sender))?;
        let ingest = self.ingest().await;
        let webhook = reloading(Webhook::new(channel, ingest.queue()), reload);
        Ok(self.function(ingest, pipeline, Forwarding::None, webhook))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_channel_compiled_in_is_registered_once_with_routes_of_its_own() {
        let names: Vec<&str> = CHANNELS.iter().map(|channel| channel.name).collect();
        assert_eq!(names, ["Twilio", "Smooch", "Messenger"]);
        let mut paths: Vec<&str> = CHANNELS.iter().flat_map(|channel| channel.routes.iter().map(|route| route.path)).collect();
        let all = paths.len();
        paths.sort_unstable();
        paths.dedup();
        assert_eq!(paths.len(), all, "no path is served by two channels: {paths:?}");
        assert!(CHANNELS.iter().all(|channel| !channel.routes.is_empty()), "every channel has a webhook");
    }

    #[test]
    fn every_credential_a_channel_checks_at_start_is_a_variable_it_reads() {
        for channel in CHANNELS {
            let credentials = channel.credentials;
            let checked = credentials.any.iter().chain(credentials.needs).chain(credentials.together.iter().copied().flatten());
            for credential in checked {
                assert!(channel.env.contains(credential), "{}: {credential:?} is checked but not in its ENV", channel.name);
            }
        }
    }
}
