//! HyperChat's function, which replies to the users of every channel, and `connector-local`'s
//! routes. Compiled with the `hyperchat` feature, which turns every channel's on.

use crate::registry::{CHANNELS, Registration};
use crate::{App, AppError, Function, Ingest, live_chat_of, startup};
use channel_hyperchat::{FileLinks, FileProxy, HyperChatEventSettings, HyperChatEvents, TicketReplySettings};
use connector_core::queue::{Consumer, Forwarding, Queue};
use connector_core::{AnyEndpoint, Senders, SetupError};
use connector_engine::ports::Chatbot;
use inbenta::hyperchat::{HyperChatClient, HyperChatSettings};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// `connector-local` and the tests: every route over one queue and one consumer, whose
/// pipeline replies through every configured channel.
pub struct LocalFunctions {
    /// Every channel's webhook, in the registry's order.
    pub webhooks: Vec<LocalWebhook>,
    pub hyperchat: HyperChatEvents,
    pub consumer: Arc<dyn Consumer>,
    pub ingest: Ingest,
    pub processing_budget: Duration,
}

/// A channel's webhook on the local server.
pub struct LocalWebhook {
    pub channel: &'static Registration,
    pub endpoint: Arc<AnyEndpoint>,
}

impl LocalFunctions {
    /// The webhook of the channel the registry names `name` ("Twilio").
    pub fn webhook(&self, name: &str) -> Option<Arc<AnyEndpoint>> {
        self.webhooks.iter().find(|webhook| webhook.channel.name == name).map(|webhook| webhook.endpoint.clone())
    }
}

impl App {
    /// Every channel's sender that is configured: the HyperChat events function replies to the
    /// users of all of them. A channel without its credentials is left out (and said so); one
    /// configured in part is left out too, with an error naming what is missing: the agents
    /// of the other channels still reach their users.
    pub fn senders(&self, chatbot: &Arc<dyn Chatbot>) -> Result<Senders, AppError> {
        let mut sinks = Senders::default();
        for channel in CHANNELS {
            match channel.sender(self, chatbot) {
                Ok(sender) => sinks = sinks.with(sender),
                Err(AppError::Channel { source: SetupError::Missing(what), .. }) => not_configured(channel.name, what),
                Err(AppError::HalfConfigured(half)) => half_configured(&half),
                Err(error) => return Err(error),
            }
        }
        Ok(sinks)
    }

    /// HyperChat's endpoint: agents' messages and chat events, and replies to the tickets made
    /// of closed chats, for every channel, into `queue`.
    fn hyperchat_events(&self, hyperchat: Option<Arc<HyperChatClient>>, queue: Arc<dyn Queue>) -> Result<HyperChatEvents, AppError> {
        let settings: HyperChatEventSettings = self.config.section("hyperchat")?;
        let tickets: TicketReplySettings = self.config.section("chat.chat.messenger")?;
        let files = hyperchat.map(|hyperchat| self.file_proxy(&settings, hyperchat)).transpose()?.flatten();
        Ok(HyperChatEvents::new(&settings, &tickets, files, queue, self.store.clone().cache(), self.clock.clone()))
    }

    /// The links that hand agents' files to users, when the function knows its public URL.
    fn file_proxy(&self, settings: &HyperChatEventSettings, hyperchat: Arc<HyperChatClient>) -> Result<Option<FileProxy>, AppError> {
        let chat: HyperChatSettings = self.config.section("chat.chat")?;
        let lifetime = Duration::from_secs(settings.file_link_ttl_secs);
        let Some(links) = FileLinks::new(&settings.webhook_url, &chat.secret, lifetime, self.clock.clone()) else {
            tracing::warn!("HYPERCHAT_WEBHOOK_URL or HYPERCHAT_SECRET is not set: agents' files reach users as their names only");
            return Ok(None);
        };
        Ok(Some(FileProxy { links: Arc::new(links), hyperchat, max_bytes: settings.max_file_bytes }))
    }

    /// The HyperChat function: its events are forwarded into their conversation's group of the
    /// queue of the conversation's channel (`TWILIO_QUEUE_URL`...), so everything that happens
    /// to a conversation has one order; an agent's typing is shown from here.
    pub async fn hyperchat_function(&self, chatbot: Arc<dyn Chatbot>) -> Result<Function<HyperChatEvents>, AppError> {
        let hyperchat = self.hyperchat()?;
        let pipeline = self.pipeline(chatbot.clone(), live_chat_of(hyperchat.clone()), self.senders(&chatbot)?)?;
        let ingest = self.ingest().await;
        let forwarding = match &ingest {
            Ingest::Local(local) => Forwarding::Same(Arc::new(local.clone())),
            Ingest::Sqs { queue, .. } => {
                let mut queues: HashMap<String, Arc<dyn Queue>> = HashMap::new();
                for (channel, url) in self.channel_queues()? {
                    queues.insert(channel.to_owned(), Arc::new(queue.at(&url)));
                }
                if queues.is_empty() {
                    tracing::warn!(
                        "no channel queue is set (TWILIO_QUEUE_URL...): agents' events are processed from HyperChat's own queue"
                    );
                    Forwarding::Same(queue.clone())
                } else {
                    Forwarding::ByChannel(queues)
                }
            }
        };
        let events = self.hyperchat_events(hyperchat, ingest.queue())?;
        Ok(self.function(ingest, pipeline, forwarding, events))
    }

    /// The queue of each channel that has one (`TWILIO_QUEUE_URL`...), by the channel's name
    /// in reply addresses.
    pub fn channel_queues(&self) -> Result<Vec<(&'static str, String)>, AppError> {
        let mut queues = Vec::new();
        for channel in CHANNELS {
            let url: String = self.config.section(channel.queue_url.1)?;
            if !url.trim().is_empty() {
                queues.push((channel.address, url.trim().to_owned()));
            }
        }
        Ok(queues)
    }

    /// Every route over one queue (in process, or `QUEUE_URL`) and one consumer that replies
    /// through every configured channel: `connector-local` and the tests.
    pub async fn local_functions(&self, chatbot: Arc<dyn Chatbot>) -> Result<LocalFunctions, AppError> {
        let ingest = self.ingest().await;
        let queue = ingest.queue();
        let mut sinks = Senders::default();
        let mut webhooks = Vec::new();
        for channel in CHANNELS {
            let (endpoint, sender) = channel.build(self, &chatbot, queue.clone())?;
            sinks = sinks.with(sender);
            webhooks.push(LocalWebhook { channel, endpoint: Arc::new(endpoint) });
        }
        let hyperchat = self.hyperchat()?;
        let pipeline = self.pipeline(chatbot, live_chat_of(hyperchat.clone()), sinks)?;
        let events = self.hyperchat_events(hyperchat, queue.clone())?;
        let function = self.function(ingest, pipeline, Forwarding::Same(queue.clone()), events);
        Ok(LocalFunctions {
            webhooks,
            hyperchat: function.endpoint,
            consumer: function.consumer,
            ingest: function.ingest,
            processing_budget: function.processing_budget,
        })
    }
}

fn not_configured(channel: &str, missing: &str) {
    tracing::info!(channel, missing, "channel not configured: its users cannot be reached from live chats");
}

fn half_configured(half: &startup::HalfConfigured) {
    tracing::error!(channel = half.channel, "{half}: its users cannot be reached from live chats");
}
