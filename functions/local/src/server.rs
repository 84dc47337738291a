//! The local HTTP server: the same handlers as the Lambda functions, one route each, behind
//! the limits a server open to a tunnel needs (header and body timeouts, a connection cap).

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use channel_hyperchat::HyperChatEvents;
use connector_app::{Ingest, LocalWebhook};
use connector_config::Sources;
use connector_core::queue::Consumer;
use connector_core::{Endpoint, MAX_WEBHOOK_BODY_BYTES};
use connector_engine::ports::Chatbot;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde::Deserialize;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// The `local` table.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct Limits {
    pub header_timeout_ms: u64,
    pub body_timeout_ms: u64,
    pub max_connections: usize,
}

pub struct App {
    /// Every channel's webhook, with its routes (the registry's).
    webhooks: Vec<LocalWebhook>,
    hyperchat: HyperChatEvents,
    /// Where the routes' events wait; a durable one needs polling ([`App::process`]).
    pub ingest: Ingest,
    consumer: Arc<dyn Consumer>,
    processing_budget: Duration,
    pub limits: Limits,
    /// "inbenta" or "demo", for the start-up line.
    pub bot_kind: &'static str,
}

impl App {
    pub async fn build(sources: &Sources, lang_dir: &Path) -> Result<Self, crate::Error> {
        let app = connector_app::App::load(sources, lang_dir).await?;
        if let Some(table) = app.state.table() {
            // Local use only: in AWS the SAM template owns the table.
            state_store::DynamoStore::from_env(table).await.ensure_table().await?;
        }
        let api = app.api()?;
        if api.has_half_credentials() {
            return Err("INBENTA_API_KEY and INBENTA_API_SECRET go together: set both for your chatbot, or neither for the demo bot".into());
        }
        let (chatbot, bot_kind): (Arc<dyn Chatbot>, _) =
            if api.has_credentials() { (app.inbenta()?, "inbenta") } else { (Arc::new(crate::demo_bot::DemoBot::new()?), "demo") };
        let limits = app.config.section("local")?;
        let functions = app.local_functions(chatbot).await?;
        if let Ingest::Local(local) = &functions.ingest {
            local.on_dead_letter(|dead| eprintln!("dead-lettered ({}): {}", dead.cause, dead.body));
        }
        Ok(Self {
            webhooks: functions.webhooks,
            hyperchat: functions.hyperchat,
            ingest: functions.ingest,
            consumer: functions.consumer,
            processing_budget: functions.processing_budget,
            limits,
            bot_kind,
        })
    }

    /// Processes a durable queue's messages until `shutdown`: what the queue's event source does
    /// for a Lambda function. An in-process queue processes as it takes messages: nothing to do.
    pub async fn process(&self, shutdown: impl Future<Output = ()>) {
        if let Ingest::Sqs { queue, dead_letters } = &self.ingest {
            // Past half of it no record is started, so the visibility always covers a record.
            let visibility = self.processing_budget * 2 + Duration::from_secs(10);
            state_store::sqs::poll(queue.clone(), dead_letters.clone(), self.consumer.clone(), visibility, shutdown).await;
        }
    }
}

pub fn router(app: Arc<App>) -> Router {
    let mut router = Router::new().route("/health", get(|| async { axum::Json(serde_json::json!({ "status": "ok" })) }));
    for webhook in &app.webhooks {
        for route in webhook.channel.routes {
            let endpoint = webhook.endpoint.clone();
            let serve = move |State(app): State<Arc<App>>, request: Request| {
                let endpoint = endpoint.clone();
                async move { route_to(&app, endpoint.as_ref(), request).await }
            };
            let methods = if route.get { get(serve.clone()).post(serve) } else { post(serve) };
            router = router.route(route.path, methods);
        }
    }
    let hyperchat = |State(app): State<Arc<App>>, request: Request| async move { route_to(&app, &app.hyperchat, request).await };
    router
        .route(
            "/hyperchat",
            // GET too: HyperChat's handshake may come on any method, and the ticketing
            // webhook's check is a GET with X-Inbenta-Challenge.
            get(hyperchat).post(hyperchat),
        )
        // The links that hand agents' files to users (GET, and HEAD through axum's GET).
        .route("/hyperchat/files/{*link}", get(hyperchat))
        .fallback(|| async { (StatusCode::NOT_FOUND, "no such route") })
        .with_state(app)
}

/// Reads the body within the server's limits, then hands the request to the function's handler.
async fn route_to(app: &App, endpoint: &impl Endpoint, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let timeout = Duration::from_millis(app.limits.body_timeout_ms);
    // One byte over the limit is enough to know the body is too large.
    let bytes = match tokio::time::timeout(timeout, axum::body::to_bytes(body, MAX_WEBHOOK_BODY_BYTES + 1)).await {
        Err(_) => return (StatusCode::REQUEST_TIMEOUT, "body not received in time").into_response(),
        Ok(Err(_)) => return (StatusCode::PAYLOAD_TOO_LARGE, "body too large").into_response(),
        Ok(Ok(bytes)) => bytes,
    };
    endpoint.serve(http::Request::from_parts(parts, bytes), None).await.map(Body::from)
}

/// Serves `router` on `listener` until `shutdown` resolves.
pub async fn serve(listener: TcpListener, router: Router, limits: Limits, shutdown: impl Future<Output = ()>) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let header_timeout = Duration::from_millis(limits.header_timeout_ms);
    // Connections refused for the cap, and accepts that failed (out of descriptors), each
    // said at most once a second with their count: a flood of them would otherwise be a flood
    // of lines. What a second counted is said when it ends, even if nothing follows.
    let (mut refused, mut not_accepted) = (Tally::default(), Tally::default());
    let mut last_error = String::new();
    tokio::pin!(shutdown);
    loop {
        let due = refused.due().into_iter().chain(not_accepted.due()).min();
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of file descriptors and the like: say so, and keep serving.
                    last_error = error.to_string();
                    if let Some(count) = not_accepted.add() {
                        tracing::warn!(error = %last_error, count, "connections not accepted");
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = tokio::time::sleep_until(due.unwrap_or_else(tokio::time::Instant::now)), if due.is_some() => {
                if let Some(count) = refused.take_due() {
                    tracing::warn!(max = limits.max_connections, refused = count, "too many connections: closed at once");
                }
                if let Some(count) = not_accepted.take_due() {
                    tracing::warn!(error = %last_error, count, "connections not accepted");
                }
                continue;
            }
            () = &mut shutdown => return,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            if let Some(count) = refused.add() {
                tracing::warn!(max = limits.max_connections, refused = count, "too many connections: closed at once");
            }
            drop(stream);
            continue;
        };
        let service = TowerToHyperService::new(router.clone());
        tokio::spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .serve_connection(TokioIo::new(stream), service);
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended");
            }
            drop(slot);
        });
    }
}

/// Events of one kind, said at most once a second with how many there were.
#[derive(Default)]
struct Tally {
    count: u64,
    said_at: Option<tokio::time::Instant>,
}

impl Tally {
    const EVERY: Duration = Duration::from_secs(1);

    /// Counts one; the count to say now, when a second has passed since the last line.
    fn add(&mut self) -> Option<u64> {
        self.count += 1;
        if self.said_at.is_none_or(|at| at.elapsed() >= Self::EVERY) { self.take() } else { None }
    }

    /// When the count not said yet is due.
    fn due(&self) -> Option<tokio::time::Instant> {
        (self.count > 0).then(|| self.said_at.map_or_else(tokio::time::Instant::now, |at| at + Self::EVERY))
    }

    /// The count not said yet, if it is due.
    fn take_due(&mut self) -> Option<u64> {
        if self.due().is_some_and(|due| due <= tokio::time::Instant::now()) { self.take() } else { None }
    }

    fn take(&mut self) -> Option<u64> {
        let count = std::mem::take(&mut self.count);
        self.said_at = Some(tokio::time::Instant::now());
        (count > 0).then_some(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use tokio::io::AsyncReadExt;

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Lines {
        type Writer = Lines;
        fn make_writer(&'a self) -> Lines {
            self.clone()
        }
    }

    /// Found from outside: `scripts/test.sh` printed 6,187 lines of one warning, one per
    /// connection refused for the cap, from one test (server_limits.rs, whose client retried
    /// in a tight loop: 5,604 refusals in a second). They are said in one line a second with
    /// their count, and the count of the last second is said too.
    #[tokio::test]
    async fn a_flood_of_refused_connections_is_one_line_a_second_with_every_refusal_counted() {
        let lines = Lines::default();
        let subscriber = tracing_subscriber::fmt().with_writer(lines.clone()).with_ansi(false).finish();
        let _logging = tracing::subscriber::set_default(subscriber);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let limits = Limits { header_timeout_ms: 10_000, body_timeout_ms: 10_000, max_connections: 1 };
        let server = tokio::spawn(serve(listener, Router::new(), limits, std::future::pending()));
        let _held = tokio::net::TcpStream::connect(address).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        for _ in 0..200 {
            let mut refused = tokio::net::TcpStream::connect(address).await.unwrap();
            // Closed at once: the read ends without a byte.
            assert_eq!(refused.read(&mut [0; 1]).await.unwrap_or(0), 0);
        }
        let logged = || String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        let counted = |logged: &str| -> u64 {
            let said = logged.lines().filter(|line| line.contains("too many connections"));
            said.filter_map(|line| line.split("refused=").nth(1)?.split_whitespace().next()?.parse::<u64>().ok()).sum()
        };
        // The last second's count is said when that second is over.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while counted(&logged()) < 200 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server.abort();
        let logged = logged();
        let said = logged.lines().filter(|line| line.contains("too many connections")).count();
        assert!(said <= 2, "{logged}");
        assert_eq!(counted(&logged), 200, "{logged}");
    }
}
