//! Shared plumbing for the fakes: binding a random local port and running an
//! axum router on a background task that stops when the last handle goes.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// Stops the server task when dropped.
///
/// Held in an `Arc` by the fake handles, so clones of a fake share one server
/// and the server stops only when the last clone is dropped. Shutdown is
/// graceful (in-flight requests finish) so a test that drops a fake while the
/// product still has a request outstanding sees a normal response, not a reset.
#[derive(Debug)]
pub(crate) struct ShutdownGuard {
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
pub(crate) async fn spawn(
    name: &str,
    make_router: impl FnOnce(SocketAddr) -> Router,
) -> (SocketAddr, Arc<ShutdownGuard>) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{name}: cannot bind 127.0.0.1:0: {e}"));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("{name}: no local address: {e}"));
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
