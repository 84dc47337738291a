//! The Lambda runtime adapter: one request in, the shared webhook handler, one response out,
//! with the invocation's own deadline.

use connector_core::Endpoint;
use lambda_http::{Body, Error, Request, RequestExt, service_fn};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::time::Instant;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Kept between the handler's deadline and the runtime killing the invocation.
const MARGIN: Duration = Duration::from_millis(500);

/// Logs to standard output for CloudWatch: JSON lines when the function's log format is JSON
/// (`AWS_LAMBDA_LOG_FORMAT`), plain lines otherwise; no timestamps or colours, CloudWatch adds
/// the time. The filter is `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG` (`info`, or per target as
/// `connector_core=debug,info`), default `info`; one that does not parse is reported, then
/// `info` applies.
pub fn init_logging() {
    let var = |name| std::env::var(name).ok().filter(|value: &String| !value.trim().is_empty());
    let wanted = var("AWS_LAMBDA_LOG_LEVEL").or_else(|| var("RUST_LOG"));
    let (filter, unreadable) = match wanted.as_deref().map(|text| text.to_ascii_lowercase().parse::<Targets>()) {
        None => (Targets::new().with_default(LevelFilter::INFO), None),
        Some(Ok(filter)) => (filter, None),
        Some(Err(error)) => (Targets::new().with_default(LevelFilter::INFO), Some(error)),
    };
    let format = tracing_subscriber::fmt::layer().with_target(false).without_time().with_ansi(false);
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|format| format.eq_ignore_ascii_case("json"));
    let registry = tracing_subscriber::registry().with(filter);
    let _ = if json { registry.with(format.json()).try_init() } else { registry.with(format).try_init() };
    if let Some(error) = unreadable {
        tracing::warn!(%error, "the log level (AWS_LAMBDA_LOG_LEVEL or RUST_LOG) does not parse: logging at info");
    }
}

/// Serves `endpoint` until the runtime stops the process.
pub async fn run(endpoint: impl Endpoint) -> Result<(), Error> {
    let webhook = Arc::new(endpoint);
    lambda_http::run(service_fn(move |request: Request| {
        let webhook = webhook.clone();
        async move {
            let deadline = request.lambda_context_ref().and_then(|context| deadline_of(context.deadline(), SystemTime::now()));
            let (parts, body) = request.into_parts();
            let request = http::Request::from_parts(parts, bytes::Bytes::from(body.to_vec()));
            Ok::<_, Error>(webhook.serve(request, deadline).await.map(response_body))
        }
    }))
    .await
}

/// Text answers stay text; anything else (an agent's file) goes out as binary, which API
/// Gateway receives base64-encoded and decodes for the caller.
fn response_body(bytes: bytes::Bytes) -> Body {
    match String::from_utf8(bytes.to_vec()) {
        Ok(text) => Body::Text(text),
        Err(error) => Body::Binary(error.into_bytes()),
    }
}

/// The runtime's wall-clock deadline as a monotonic instant, less the margin. A deadline that
/// has already passed is no deadline the runtime enforces (emulators send such): the
/// channel's own budget applies then.
fn deadline_of(deadline: SystemTime, now: SystemTime) -> Option<Instant> {
    match deadline.duration_since(now) {
        Ok(left) if left > MARGIN => Some(Instant::now() + (left - MARGIN)),
        _ => {
            tracing::warn!(?deadline, "the runtime's deadline has passed already: using the channel's own");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_answer_stays_text_and_a_binary_one_is_binary() {
        assert!(matches!(response_body(bytes::Bytes::from_static(b"ok")), Body::Text(text) if text == "ok"));
        assert!(
            matches!(response_body(bytes::Bytes::from_static(&[0x89, b'P', b'N', b'G', 0xff])), Body::Binary(bytes) if bytes.len() == 5)
        );
    }

    #[test]
    fn the_runtime_deadline_is_kept_less_the_margin_and_a_past_one_is_ignored() {
        let now = SystemTime::now();
        let soon = deadline_of(now + Duration::from_secs(10), now).unwrap();
        let left = soon.saturating_duration_since(Instant::now());
        assert!(left <= Duration::from_millis(9500) && left > Duration::from_millis(9000), "{left:?}");
        assert!(deadline_of(now - Duration::from_secs(1), now).is_none());
    }
}
