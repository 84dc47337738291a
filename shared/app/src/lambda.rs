//! The Lambda runtime adapter: one request in, the shared webhook handler, one response out,
//! with the invocation's own deadline.

use connector_core::{Channel, Webhook};
use lambda_http::{Body, Error, Request, RequestExt, service_fn};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// Kept between the handler's deadline and the runtime killing the invocation.
const MARGIN: Duration = Duration::from_millis(500);

/// Logs as JSON lines for CloudWatch, level from `RUST_LOG` (default info).
pub fn init_logging() {
    lambda_http::tracing::init_default_subscriber();
}

/// Serves `webhook` until the runtime stops the process.
pub async fn run<C: Channel>(webhook: Webhook<C>) -> Result<(), Error> {
    let webhook = Arc::new(webhook);
    lambda_http::run(service_fn(move |request: Request| {
        let webhook = webhook.clone();
        async move {
            let deadline = request.lambda_context_ref().map(|context| deadline_of(context.deadline()));
            let (parts, body) = request.into_parts();
            let request = http::Request::from_parts(parts, bytes::Bytes::from(body.to_vec()));
            Ok::<_, Error>(webhook.handle(request, deadline).await.map(Body::from))
        }
    }))
    .await
}

/// The runtime's wall-clock deadline as a monotonic instant, less the margin.
fn deadline_of(deadline: SystemTime) -> Instant {
    let left = deadline.duration_since(SystemTime::now()).unwrap_or_default();
    Instant::now() + left.saturating_sub(MARGIN)
}
