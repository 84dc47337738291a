//! Shared plumbing for the fakes: binding a random local port, running the
//! fake's routes on a background task that stops when the last handle goes,
//! and recording every request with the status it got. [`spawn`] and [`ShutdownGuard`] serve
//! other loopback servers too (the tests' DynamoDB proxy).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use bytes::Bytes;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::recording::RequestLog;

/// A fake's answer: status and JSON body.
pub(crate) type Reply = (StatusCode, Value);

/// A fake's answer that is no JSON: a file's bytes, or a redirect.
#[derive(Debug, Clone)]
pub(crate) struct RawReply {
    pub status: StatusCode,
    pub headers: Vec<(http::HeaderName, String)>,
    pub body: Bytes,
}

impl RawReply {
    pub(crate) fn file(content_type: &str, body: Bytes) -> Self {
        Self { status: StatusCode::OK, headers: vec![(http::header::CONTENT_TYPE, content_type.to_owned())], body }
    }

    pub(crate) fn redirect(location: String) -> Self {
        Self { status: StatusCode::TEMPORARY_REDIRECT, headers: vec![(http::header::LOCATION, location)], body: Bytes::new() }
    }
}

/// What makes one fake different from another: how it answers a request.
pub(crate) trait Upstream: Send + Sync + 'static {
    /// Where its requests are recorded.
    fn log(&self) -> &RequestLog;
    /// The answer to one request; `Err` is an error answer (same shape, kept
    /// apart so routes can use `?`).
    fn answer(&self, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> impl Future<Output = Result<Reply, Reply>> + Send;
    /// The answer to a request for a file the fake serves, asked before [`Upstream::answer`];
    /// `None`: not such a request.
    fn file(&self, _method: &Method, _uri: &Uri, _headers: &HeaderMap) -> Option<RawReply> {
        None
    }
}

/// A running fake: its address and the state its routes share. Cheap to
/// clone; clones share one server, which stops when the last one is dropped.
pub(crate) struct Running<S> {
    name: &'static str,
    pub(crate) addr: SocketAddr,
    pub(crate) shared: Arc<S>,
    _guard: Arc<ShutdownGuard>,
}

impl<S> Clone for Running<S> {
    fn clone(&self) -> Self {
        Self { name: self.name, addr: self.addr, shared: Arc::clone(&self.shared), _guard: Arc::clone(&self._guard) }
    }
}

impl<S> std::fmt::Debug for Running<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(self.name).field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl<S: Upstream> Running<S> {
    /// Starts `name` on `127.0.0.1:<random port>`; `make` builds its state
    /// once the address is known (Inbenta returns its own URL in responses).
    pub(crate) async fn start(name: &'static str, make: impl FnOnce(SocketAddr) -> S) -> Self {
        let mut built = None;
        let (addr, guard) = spawn(name, |addr| {
            let shared = Arc::new(make(addr));
            built = Some(Arc::clone(&shared));
            Router::new().fallback(handle::<S>).with_state(shared)
        })
        .await;
        let shared = built.unwrap_or_else(|| unreachable!("spawn always builds the router"));
        Self { name, addr, shared, _guard: guard }
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub(crate) fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Every request of every fake: recorded, answered, its status recorded.
async fn handle<S: Upstream>(State(shared): State<Arc<S>>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let id = shared.log().record(&method, &uri, &headers, &body);
    if let Some(raw) = shared.file(&method, &uri, &headers) {
        shared.log().set_status(id, raw.status.as_u16());
        let mut response = (raw.status, raw.body).into_response();
        for (name, value) in raw.headers {
            if let Ok(value) = http::HeaderValue::from_str(&value) {
                response.headers_mut().insert(name, value);
            }
        }
        return response;
    }
    let (status, reply) = shared.answer(&method, &uri, &headers, &body).await.unwrap_or_else(|err| err);
    shared.log().set_status(id, status.as_u16());
    (status, Json(reply)).into_response()
}

/// Stops the server task when dropped.
///
/// Held in an `Arc` by the fake handles, so clones of a fake share one server
/// and the server stops only when the last clone is dropped. Shutdown is
/// graceful (in-flight requests finish) so a test that drops a fake while the
/// product still has a request outstanding sees a normal response, not a reset.
#[derive(Debug)]
pub struct ShutdownGuard {
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for ShutdownGuard {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            // The server may already be gone (runtime shut down); nothing to do then.
            let _ = stop.send(());
        }
    }
}

/// Binds `127.0.0.1:0` and serves `router` on a spawned tokio task.
///
/// Panics if the port cannot be bound: that is an environment problem, and a
/// loud failure at test start is the most useful thing a test helper can do.
/// The router is built by `make_router` once the address is known, because
/// some fakes must return their own URL in responses (Inbenta's `apis`).
pub async fn spawn(name: &str, make_router: impl FnOnce(SocketAddr) -> Router) -> (SocketAddr, Arc<ShutdownGuard>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("{name}: cannot bind 127.0.0.1:0: {e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{name}: no local address: {e}"));
    let router = make_router(addr);
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(async {
                // Either an explicit stop or the guard being dropped ends the wait.
                let _ = stopped.await;
            })
            .await;
        if let Err(e) = served {
            eprintln!("fake server stopped with an error: {e}");
        }
    });
    (addr, Arc::new(ShutdownGuard { stop: Some(stop) }))
}
