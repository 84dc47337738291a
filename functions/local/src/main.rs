//! `connector-local`: every webhook handler of the Lambda functions on one local port, with the
//! in-memory store (or DynamoDB when `TABLE_NAME` is set) and, without Inbenta credentials, the
//! offline demo bot.
//!
//! ```text
//! connector-local [serve]              serve on 127.0.0.1:$PORT (default 3000)
//! connector-local chat [--channel C]   serve, and chat with it from this terminal as a phone user
//! connector-local help [COMMAND]       what each command and option does
//! ```

mod agent;
mod chat;
mod demo_bot;
mod register;
mod server;

use connector_config::Sources;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// The connector's webhook handlers on one local port, as the Lambda functions run them.
#[derive(clap::Parser)]
#[command(name = "connector-local", version, after_help = include_str!("usage.txt"))]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Serve every webhook route on 127.0.0.1:$PORT (default 3000). The default command.
    Serve,
    /// Serve on a free port, and chat with it from this terminal as a phone user.
    Chat(chat::ChatOptions),
    /// Send one signed message to the server on $PORT as a user of a channel.
    Send(chat::SendOptions),
    /// Register the deployed URLs in Twilio, Smooch, Messenger (and say what HyperChat needs).
    Register(Box<register::RegisterOptions>),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = <Cli as clap::Parser>::parse();
    let ran = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve().await,
        Command::Chat(options) => chat::run(options).await,
        Command::Send(options) => chat::send(options).await,
        Command::Register(options) => register::run(options).await,
    };
    match ran {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("connector-local: {}", connector_engine::error_chain(error.as_ref()));
            ExitCode::FAILURE
        }
    }
}

/// `PORT`, or 3000; a `PORT` that is no port number is an error, not a silent 3000.
pub(crate) fn port() -> Result<u16, Error> {
    match std::env::var("PORT") {
        Ok(text) => {
            text.trim().parse().ok().filter(|port| *port > 0).ok_or_else(|| format!("PORT={text:?} is not a port number (1-65535)").into())
        }
        Err(_) => Ok(3000),
    }
}

async fn serve() -> Result<(), Error> {
    init_logging("info");
    let port = port()?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|error| format!("cannot listen on 127.0.0.1:{port} ({error}); is another server on it? Set PORT to another port"))?;
    refuse_half_configured_channels(port)?;
    let mut sources = local_sources(port, Vec::new());
    let _stand_ins = stand_in_for_unconfigured_channels(&mut sources).await;
    let app = Arc::new(server::App::build(&sources, &lang_dir()).await?);
    let queue = match &app.ingest {
        connector_app::Ingest::Sqs { queue, .. } => queue.url().to_owned(),
        connector_app::Ingest::Local(_) => "in process".to_owned(),
    };
    tracing::info!(port, bot = app.bot_kind, %queue, "connector-local listening on http://127.0.0.1:{port}");
    let limits = app.limits;
    // What a queue's event source does for a Lambda function: process what the routes enqueue.
    let processing = tokio::spawn({
        let app = app.clone();
        async move { app.process(std::future::pending()).await }
    });
    server::serve(listener, server::router(app), limits, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await;
    processing.abort();
    Ok(())
}

/// A channel the environment configures in part (a Twilio auth token without its account SID)
/// is named, one line each, before the local defaults below fill in the rest: a mix of real
/// and local credentials would only fail later, request by request. Only the webhook URL, which
/// is this server's own, is taken as set.
fn refuse_half_configured_channels(port: u16) -> Result<(), Error> {
    let mut sources = Sources::from_env();
    if sources.var("TWILIO_WEBHOOK_URL").is_none() {
        sources.env.push(("TWILIO_WEBHOOK_URL".to_owned(), format!("http://127.0.0.1:{port}/twilio")));
    }
    let config = connector_config::Config::load(&sources, &connector_app::env_keys())?;
    let half: Vec<String> = connector_app::startup::half_configured(&config).iter().map(ToString::to_string).collect();
    if half.is_empty() { Ok(()) } else { Err(half.join("\n").into()) }
}

/// A channel whose credentials and API URL the environment does not set would send its replies
/// to the real provider with placeholder credentials: they go to the local stand-in instead,
/// and are printed. The stand-ins, while they serve.
async fn stand_in_for_unconfigured_channels(sources: &mut Sources) -> Option<chat::StandIns> {
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.is_empty());
    let unconfigured: Vec<_> = [
        (chat::StandIn::Twilio, "TWILIO_AUTH_TOKEN", "TWILIO_API_URL"),
        (chat::StandIn::Smooch, "SMOOCH_SECRET", "SMOOCH_API_URL"),
        (chat::StandIn::Messenger, "MESSENGER_PAGE_TOKEN", "GRAPH_API_URL"),
    ]
    .into_iter()
    .filter(|(_, secret, url)| !set(secret) && !set(url))
    .map(|(channel, _, _)| channel)
    .collect();
    if unconfigured.is_empty() {
        return None;
    }
    let stand_ins = chat::StandIns::start(&sources.env, chat::print_served_reply).await;
    for channel in unconfigured {
        tracing::info!(?channel, "no credentials set: replies go to the built-in stand-in and are printed here");
        sources.env.extend(stand_ins.env(channel));
    }
    Some(stand_ins)
}

/// Configuration as for the Lambda functions, plus local defaults for what a newcomer has not
/// set: a Twilio auth token to sign with and the local webhook URLs, a Smooch webhook secret
/// and API key, a Messenger app secret, verify token and page token.
pub(crate) fn local_sources(port: u16, overrides: Vec<(String, String)>) -> Sources {
    let mut sources = Sources::from_env();
    let defaults = [
        ("TWILIO_AUTH_TOKEN", chat::LOCAL_AUTH_TOKEN.to_owned()),
        ("TWILIO_ACCOUNT_SID", chat::LOCAL_ACCOUNT_SID.to_owned()),
        ("TWILIO_WEBHOOK_URL", format!("http://127.0.0.1:{port}/twilio")),
        ("HYPERCHAT_WEBHOOK_URL", format!("http://127.0.0.1:{port}/hyperchat")),
        ("SMOOCH_WEBHOOK_SECRET", chat::LOCAL_SMOOCH_WEBHOOK_SECRET.to_owned()),
        ("SMOOCH_KEY_ID", chat::LOCAL_SMOOCH_KEY_ID.to_owned()),
        ("SMOOCH_SECRET", chat::LOCAL_SMOOCH_SECRET.to_owned()),
        ("MESSENGER_APP_SECRET", chat::LOCAL_MESSENGER_APP_SECRET.to_owned()),
        ("MESSENGER_VERIFY_TOKEN", chat::LOCAL_MESSENGER_VERIFY_TOKEN.to_owned()),
        ("MESSENGER_PAGE_TOKEN", chat::LOCAL_MESSENGER_PAGE_TOKEN.to_owned()),
    ];
    for (name, value) in defaults {
        if !sources.env.iter().any(|(k, v)| k == name && !v.is_empty()) {
            sources.env.push((name.to_owned(), value));
        }
    }
    sources.env.extend(overrides);
    sources
}

pub(crate) fn lang_dir() -> PathBuf {
    std::env::var_os("LANG_DIR").map_or_else(|| PathBuf::from("lang"), PathBuf::from)
}

/// An HTTP client for the terminal chat and the local agent, on the product's TLS set-up.
pub(crate) fn http_client() -> reqwest::Client {
    upstream::http_client_builder().build().expect("an HTTP client with the shared TLS configuration builds")
}

pub(crate) fn init_logging(default_level: &str) {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    // Colours only for a terminal: a log file gets plain text.
    let ansi = std::io::stderr().is_terminal();
    let format = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(ansi);
    let _ = tracing_subscriber::registry().with(format.with_filter(filter).with_filter(connector_app::wire_cap())).try_init();
}

#[cfg(test)]
mod logging_tests {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;

    /// Found from outside: with `RUST_LOG=trace` the AWS SDK logged DynamoDB bodies, secrets
    /// included. A directive naming an SDK crate exactly cannot turn it on either.
    #[test]
    fn at_trace_the_sdks_wire_targets_log_nothing_below_info_and_the_connector_still_traces() {
        for configured in ["trace", "info,aws_smithy_runtime=trace,aws_sdk_dynamodb=debug,connector_core=trace"] {
            let layer = tracing_subscriber::fmt::layer()
                .with_writer(std::io::sink)
                .with_filter(tracing_subscriber::EnvFilter::new(configured))
                .with_filter(connector_app::wire_cap());
            let subscriber = tracing_subscriber::registry().with(layer);
            tracing::subscriber::with_default(subscriber, || {
                assert!(!tracing::enabled!(target: "aws_smithy_runtime::client::http", tracing::Level::TRACE), "{configured}");
                assert!(!tracing::enabled!(target: "aws_sdk_dynamodb::config", tracing::Level::DEBUG), "{configured}");
                assert!(!tracing::enabled!(target: "hyper_util::client", tracing::Level::DEBUG), "{configured}");
                assert!(tracing::enabled!(target: "aws_smithy_runtime::client::http", tracing::Level::INFO), "{configured}");
                assert!(tracing::enabled!(target: "connector_core::pipeline", tracing::Level::TRACE), "{configured}");
            });
        }
    }
}
