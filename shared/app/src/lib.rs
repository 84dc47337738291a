//! Composition: every long-lived part built once per cold start from the configuration, the
//! same way for every Lambda function and for `connector-local`. Nothing else reads the
//! configuration tree; each adapter deserialises its own table here.

#[cfg(feature = "hyperchat")]
mod hyperchat;
#[cfg(feature = "lambda")]
pub mod lambda;
#[cfg(feature = "messenger")]
mod messenger;
pub mod registry;
#[cfg(feature = "smooch")]
mod smooch;
pub mod startup;
#[cfg(test)]
mod startup_tests;
#[cfg(feature = "twilio")]
mod twilio;

#[cfg(feature = "hyperchat")]
pub use hyperchat::{LocalFunctions, LocalWebhook};
#[cfg(feature = "messenger")]
pub use messenger::Messenger;
pub use registry::{CHANNELS, Registered};
#[cfg(feature = "smooch")]
pub use smooch::Smooch;
#[cfg(feature = "twilio")]
pub use twilio::Twilio;

use connector_config::{Config, ConfigError, EnvKey, Sources};
use connector_core::pipeline::{self, Pipeline, StateSettings};
use connector_core::queue::{self, Consumer, Forwarding, LocalQueue, Processor, Queue, QueueSettings};
use connector_core::store::StateStore;
use connector_core::webhook::Reload;
use connector_core::{Fingerprinter, Senders, Webhook};
use connector_engine::labels::{Labels, LabelsError};
use connector_engine::ports::{Chatbot, ChatbotError, Clock, LiveChat, LiveChatError, NoLiveChat, SystemClock, WithSurveys};
use connector_engine::settings::{ContentRatings, Custom, Digester, EscalationPolicy};
use connector_engine::step::Policy;
use inbenta::hyperchat::{HyperChatClient, HyperChatConfig, HyperChatSettings};
use inbenta::ticketing::{ChatSurveys, SurveyConfig};
use inbenta::{ApiSettings, InbentaClient, InbentaConfig};
use secrecy::{ExposeSecret, SecretString};
use state_store::sqs::SqsQueue;
use state_store::{DynamoStore, InMemoryStore};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Labels(#[from] LabelFileError),
    #[error("{0} must be set")]
    Missing(&'static str),
    #[error(transparent)]
    HalfConfigured(#[from] startup::HalfConfigured),
    #[error("cannot build the chatbot client")]
    Chatbot(#[source] ChatbotError),
    #[error("cannot build the live chat client")]
    LiveChat(#[source] LiveChatError),
    #[error("{channel} is not usable")]
    Channel {
        channel: &'static str,
        #[source]
        source: connector_core::SetupError,
    },
    #[error(transparent)]
    Secrets(#[from] state_store::secrets::SecretsError),
}

/// Why the label file of the conversation's language could not be had.
#[derive(Debug, thiserror::Error)]
pub enum LabelFileError {
    #[error("cannot read label file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("label file {path} is unusable")]
    Parse {
        path: PathBuf,
        #[source]
        source: LabelsError,
    },
}

/// Loads `<dir>/<lang>.toml`. A missing file is an error: operators must ship their language.
/// The engine parses the text; reading the file is composition's.
pub fn load_labels(dir: &Path, lang: &str) -> Result<Labels, LabelFileError> {
    let path = dir.join(format!("{lang}.toml"));
    let text = std::fs::read_to_string(&path).map_err(|source| LabelFileError::Read { path: path.clone(), source })?;
    Labels::parse(&text).map_err(|source| LabelFileError::Parse { path, source })
}

/// Targets whose debug and trace events show requests and answers on the wire (DynamoDB items
/// with their secrets, signed headers, TLS details): never logged above `info`, whatever the
/// configured level (the Lambda functions and `connector-local` alike). Prefixes, as tracing's
/// filters match them: `aws_smithy` is every `aws_smithy_*` crate, `aws_sdk_` every service
/// client, `hyper` includes `hyper_util`.
pub const WIRE_TARGETS: &[&str] = &["aws_smithy", "aws_sdk_", "aws_runtime", "aws_sigv4", "hyper", "h2", "rustls"];

/// A filter that lets everything through but [`WIRE_TARGETS`] above `info`: ANDed with any
/// configured filter (as a second per-layer filter), no directive can turn wire logging on.
pub fn wire_cap() -> tracing_subscriber::filter::Targets {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    Targets::new().with_default(LevelFilter::TRACE).with_targets(WIRE_TARGETS.iter().map(|target| (*target, LevelFilter::INFO)))
}

/// Every environment variable this build reads into its configuration, by the adapter that
/// owns the key: the channels compiled in (their tables' defaults make their keys known to
/// `conf/custom/` in every function all the same).
pub fn env_keys() -> Vec<EnvKey> {
    let channels = CHANNELS.iter().flat_map(|channel| [channel.env, std::slice::from_ref(&channel.queue_url)]);
    [inbenta::ENV]
        .into_iter()
        .chain(channels)
        .chain([
            #[cfg(feature = "hyperchat")]
            channel_hyperchat::ENV,
            pipeline::ENV,
            queue::ENV,
            // The fingerprint key derives from Twilio's auth token in every function, Twilio's or
            // not (`fingerprinter`), so that all of them fingerprint alike.
            &[("LOG_FINGERPRINT_KEY", "logging.fingerprint_key"), ("TWILIO_AUTH_TOKEN", "twilio.credentials.auth_token")],
        ])
        .flatten()
        .copied()
        .collect()
}

/// What every entry point shares: configuration, labels, state store, clock.
pub struct App {
    /// Where the configuration was read from (the secrets apart), to read it again.
    sources: Sources,
    lang_dir: PathBuf,
    pub config: Config,
    pub labels: Arc<Labels>,
    pub store: Arc<dyn StateStore>,
    pub clock: Arc<dyn Clock>,
    pub state: StateSettings,
    pub queue: QueueSettings,
    pub fingerprints: Fingerprinter,
}

/// Where a function's events wait between ingest and processing.
#[derive(Clone)]
pub enum Ingest {
    /// SQS FIFO (`QUEUE_URL`): durable. Processed by the queue's event source in AWS, by
    /// `state_store::sqs::poll` in `connector-local`.
    Sqs { queue: Arc<SqsQueue>, dead_letters: Option<Arc<SqsQueue>> },
    /// In this process, processed as it arrives; lost with the process.
    Local(LocalQueue),
}

impl Ingest {
    pub fn queue(&self) -> Arc<dyn Queue> {
        match self {
            Self::Sqs { queue, .. } => queue.clone(),
            Self::Local(local) => Arc::new(local.clone()),
        }
    }
}

/// A function: its webhook endpoint (ingest) and the consumer of its queue (process).
pub struct Function<E> {
    pub endpoint: E,
    pub consumer: Arc<dyn Consumer>,
    pub ingest: Ingest,
    /// One message's processing budget.
    pub processing_budget: Duration,
}

#[derive(serde::Deserialize)]
struct Logging {
    #[serde(default)]
    fingerprint_key: String,
}

#[derive(serde::Deserialize)]
struct ConversationDefaults {
    default: Lang,
}

#[derive(serde::Deserialize)]
struct Lang {
    lang: String,
}

impl App {
    /// Reads `CONF_DIR`, `LANG_DIR` and the environment.
    pub async fn from_env() -> Result<Self, AppError> {
        Self::load(&Sources::from_env(), &lang_dir()).await
    }

    /// DynamoDB when `TABLE_NAME` is set, else the in-memory store (one process only).
    /// A key of `conf/custom/` that nothing reads stops it (with the nearest known key); an
    /// environment variable near one that is read is warned of.
    ///
    /// With `SECRETS_ID`, the variables of that Secrets Manager secret come after the
    /// environment's (they win): secrets are set after a deploy, without one.
    pub async fn load(sources: &Sources, lang_dir: &Path) -> Result<Self, AppError> {
        let env_keys = env_keys();
        let with_secrets = with_secrets(sources).await?;
        let config = Config::load(&with_secrets, &env_keys)?;
        config.check_keys(inbenta::OPEN_TABLES)?;
        for (variable, meant) in connector_config::misspelled_variables(&with_secrets.env, &env_keys) {
            tracing::warn!("the environment variable {variable} is not read; did you mean {meant}?");
        }
        let state: StateSettings = config.section("state")?;
        let lang: ConversationDefaults = config.section("conversation")?;
        let labels = load_labels(lang_dir, &lang.default.lang)?;
        let store: Arc<dyn StateStore> = match state.table() {
            Some(table) => Arc::new(DynamoStore::from_env(table).await),
            None => Arc::new(InMemoryStore::default()),
        };
        let fingerprints = fingerprinter(&config)?;
        let queue = config.section("queue")?;
        Ok(Self {
            sources: sources.clone(),
            lang_dir: lang_dir.to_owned(),
            config,
            labels: Arc::new(labels),
            store,
            clock: Arc::new(SystemClock),
            state,
            queue,
            fingerprints,
        })
    }

    /// With `SECRETS_ID`, how a webhook rebuilds its channel (`build`) from the configuration
    /// and secrets read again, when a signature fails: a secret set or rotated after the
    /// function started (Smooch's webhook secret exists only once its webhook points here).
    fn reload<C: Send + 'static>(&self, build: impl Fn(&App) -> Result<C, AppError> + Send + Sync + 'static) -> Option<Reload<C>> {
        self.sources.var(state_store::secrets::SECRETS_ID)?;
        let (sources, lang_dir, build) = (self.sources.clone(), self.lang_dir.clone(), Arc::new(build));
        Some(Reload::new(Box::new(move || {
            let (sources, lang_dir, build) = (sources.clone(), lang_dir.clone(), build.clone());
            Box::pin(async move {
                match App::load(&sources, &lang_dir).await.and_then(|app| build(&app)) {
                    Ok(channel) => Some(channel),
                    Err(error) => {
                        tracing::warn!(error = %connector_engine::error_chain(&error), "the channel could not be rebuilt from its secrets");
                        None
                    }
                }
            })
        })))
    }

    pub fn api(&self) -> Result<ApiSettings, AppError> {
        Ok(self.config.section("api")?)
    }

    /// The Inbenta Chatbot API client, sharing its access token through the store's cache.
    pub fn inbenta(&self) -> Result<Arc<dyn Chatbot>, AppError> {
        if !self.api()?.has_credentials() {
            return Err(AppError::Missing("INBENTA_API_KEY and INBENTA_API_SECRET"));
        }
        let client = InbentaClient::new(InbentaConfig::from_config(&self.config)?, Some(self.store.clone().cache()), self.clock.clone())
            .map_err(AppError::Chatbot)?;
        Ok(Arc::new(client))
    }

    /// HyperChat when `chat.enabled` and a server are configured; otherwise nobody is available
    /// and nothing escalates.
    pub fn live_chat(&self) -> Result<Arc<dyn LiveChat>, AppError> {
        Ok(live_chat_of(self.hyperchat()?))
    }

    /// The HyperChat client, when `chat.enabled` and a server are configured.
    fn hyperchat(&self) -> Result<Option<Arc<HyperChatClient>>, AppError> {
        let chat: HyperChatSettings = self.config.section("chat.chat")?;
        let Some(base_url) = chat.base_url().filter(|_| chat.enabled) else { return Ok(None) };
        let config = HyperChatConfig::from_settings(&chat, base_url, Duration::from_millis(self.api()?.timeout_ms));
        Ok(Some(Arc::new(HyperChatClient::new(config).map_err(AppError::LiveChat)?)))
    }

    /// `live_chat` followed by Inbenta's survey after each chat (`chat.surveyId`, on the
    /// ticketing API with the `chat.messenger` key and secret), when those are configured.
    fn surveyed(&self, live_chat: Arc<dyn LiveChat>) -> Result<Arc<dyn LiveChat>, AppError> {
        let Some(config) = SurveyConfig::from_config(&self.config)? else { return Ok(live_chat) };
        let surveys = ChatSurveys::new(config, Some(self.store.clone().cache()), self.clock.clone()).map_err(AppError::Chatbot)?;
        Ok(Arc::new(WithSurveys { live_chat, surveys: Arc::new(surveys) }))
    }

    pub fn pipeline(&self, chatbot: Arc<dyn Chatbot>, live_chat: Arc<dyn LiveChat>, sinks: Senders) -> Result<Pipeline, AppError> {
        let lang: ConversationDefaults = self.config.section("conversation")?;
        let chat: HyperChatSettings = self.config.section("chat.chat")?;
        let custom: Custom = self.config.section("custom")?;
        Ok(Pipeline {
            chatbot,
            live_chat: self.surveyed(live_chat)?,
            store: self.store.clone(),
            clock: self.clock.clone(),
            labels: self.labels.clone(),
            lang: lang.default.lang,
            policy: Policy {
                bot_session_idle_secs: i64::try_from(self.state.bot_session_idle_secs).unwrap_or(i64::MAX),
                ratings: self.config.section::<ContentRatings>("conversation.content_ratings")?,
                escalation: self.config.section::<EscalationPolicy>("chat.chat")?,
                digester: self.config.section::<Digester>("conversation.digester")?,
            },
            only_chat_mode: custom.only_hyper_chat_mode,
            timing: self.state.timing(),
            sinks,
            max_user_file_bytes: chat.max_file_bytes,
            fingerprints: self.fingerprints.clone(),
        })
    }

    /// The deployment stage, which picks a channel's credentials in ExtraInfo.
    #[cfg(any(feature = "smooch", feature = "messenger"))]
    fn environment(&self) -> Result<&'static str, AppError> {
        let environments: inbenta::Environments = self.config.section("environments")?;
        Ok(environments.current.as_str())
    }

    /// This function's queue: SQS when `QUEUE_URL` is set, else in this process.
    pub async fn ingest(&self) -> Ingest {
        match self.queue.url() {
            Some(url) => {
                let queue = SqsQueue::from_env(url).await;
                let dead_letters = match self.queue.dead_letter_url() {
                    Some(url) => Some(Arc::new(queue.at(url))),
                    None => {
                        tracing::warn!(
                            "DEAD_LETTER_QUEUE_URL is not set: messages given up go back to the queue until its redrive policy moves them"
                        );
                        None
                    }
                };
                Ingest::Sqs { queue: Arc::new(queue), dead_letters }
            }
            None => Ingest::Local(LocalQueue::default()),
        }
    }

    /// The consumer of `ingest`'s events over `pipeline`; an in-process queue starts feeding it.
    fn function<E>(&self, ingest: Ingest, pipeline: Pipeline, forwarding: Forwarding, endpoint: E) -> Function<E> {
        let consumer: Arc<dyn Consumer> = Arc::new(Processor {
            pipeline: Arc::new(pipeline),
            retry: self.queue.retry(),
            budget: self.queue.processing_budget(),
            forwarding,
        });
        if let Ingest::Local(local) = &ingest {
            local.start(consumer.clone());
        }
        Function { endpoint, consumer, ingest, processing_budget: self.queue.processing_budget() }
    }
}

/// HyperChat when there is a client, else a live chat where nobody is ever available.
fn live_chat_of(hyperchat: Option<Arc<HyperChatClient>>) -> Arc<dyn LiveChat> {
    match hyperchat {
        Some(hyperchat) => hyperchat,
        None => Arc::new(NoLiveChat),
    }
}

/// The fingerprint key: configured, else derived from this deployment's secrets, else (a local
/// run with none) random for this process.
fn fingerprinter(config: &Config) -> Result<Fingerprinter, AppError> {
    use sha2::Digest;
    let logging: Logging = config.section("logging")?;
    if !logging.fingerprint_key.is_empty() {
        return Ok(Fingerprinter::new(logging.fingerprint_key.as_bytes()));
    }
    #[derive(serde::Deserialize)]
    struct Secret {
        #[serde(default)]
        secret: Option<SecretString>,
        #[serde(default)]
        auth_token: Option<SecretString>,
    }
    let mut digest = sha2::Sha256::new();
    digest.update(b"connector log fingerprints");
    let mut any = false;
    for section in ["api", "twilio.credentials"] {
        let found: Secret = config.section(section)?;
        for secret in [found.secret, found.auth_token].into_iter().flatten() {
            any |= !secret.expose_secret().is_empty();
            digest.update(secret.expose_secret().as_bytes());
        }
    }
    if !any {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        digest.update(format!("{nanos}-{}", std::process::id()).as_bytes());
    }
    Ok(Fingerprinter::new(&digest.finalize()))
}

fn lang_dir() -> PathBuf {
    std::env::var_os("LANG_DIR").map_or_else(|| PathBuf::from("lang"), PathBuf::from)
}

/// The webhook, rebuilding its channel with `reload` when one is given.
fn reloading<C: connector_core::Source>(webhook: Webhook<C>, reload: Option<Reload<C>>) -> Webhook<C> {
    match reload {
        Some(reload) => webhook.with_reload(reload),
        None => webhook,
    }
}

/// `sources` with the variables of the `SECRETS_ID` secret after the environment's.
async fn with_secrets(sources: &Sources) -> Result<Sources, AppError> {
    let Some(id) = sources.var(state_store::secrets::SECRETS_ID) else { return Ok(sources.clone()) };
    let read = state_store::secrets::SecretsSource::new(id).await.read().await?;
    tracing::info!(secret = id, variables = read.len(), "secrets read");
    let mut merged = sources.clone();
    merged.env.extend(read.into_iter().map(|(name, value)| (name, value.expose_secret().to_owned())));
    Ok(merged)
}
