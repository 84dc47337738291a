//! `connector-local`: every webhook handler of the Lambda functions on one local port, with the
//! in-memory store (or DynamoDB when `TABLE_NAME` is set) and, without Inbenta credentials, the
//! offline demo bot.
//!
//! ```text
//! connector-local                      serve on 127.0.0.1:$PORT (default 3000)
//! connector-local chat [--whatsapp]    serve, and chat with it from this terminal as a phone user
//! ```

mod chat;
mod demo_bot;
mod server;

use connector_config::Sources;
use std::path::PathBuf;
use std::sync::Arc;

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None | Some("serve") => serve().await,
        Some("chat") => chat::run(chat::ChatOptions::parse(&args[1..])?).await,
        Some("-h" | "--help" | "help") => {
            println!("{}", include_str!("usage.txt"));
            Ok(())
        }
        Some(other) => Err(format!("unknown command {other:?}; try --help").into()),
    }
}

async fn serve() -> Result<(), Error> {
    init_logging("info");
    let port: u16 = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(3000);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let sources = local_sources(port, Vec::new());
    let app = server::App::build(&sources, &lang_dir()).await?;
    tracing::info!(port, bot = app.bot_kind, "connector-local listening on http://127.0.0.1:{port}");
    let limits = app.limits;
    server::serve(listener, server::router(Arc::new(app)), limits, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await;
    Ok(())
}

/// Configuration as for the Lambda functions, plus local defaults for what a newcomer has not
/// set: a Twilio auth token to sign with and the local webhook URL.
pub(crate) fn local_sources(port: u16, overrides: Vec<(String, String)>) -> Sources {
    let mut sources = Sources::from_env();
    let defaults = [
        ("TWILIO_AUTH_TOKEN", chat::LOCAL_AUTH_TOKEN.to_owned()),
        ("TWILIO_ACCOUNT_SID", chat::LOCAL_ACCOUNT_SID.to_owned()),
        ("TWILIO_WEBHOOK_URL", format!("http://127.0.0.1:{port}/twilio")),
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

pub(crate) fn init_logging(default_level: &str) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}
