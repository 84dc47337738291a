//! One HTTP plumbing for every upstream client (Inbenta, HyperChat, Twilio, and the channels to
//! come): connect and overall timeouts, each call bounded by the webhook request's deadline,
//! one classification of statuses, and the provider's own error code kept as a value.
#![forbid(unsafe_code)]

mod destinations;
mod tls;

pub use tls::http_client_builder;

use bytes::Bytes;
use destinations::{Destinations, PublicResolver};
pub use reqwest::{Method, RequestBuilder, StatusCode, Url};
use serde_json::Value;
use std::fmt;
use std::time::Duration;
use tokio::time::Instant;

/// How long to wait for a connection, and for a whole exchange.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    pub overall: Duration,
}

impl Timeouts {
    /// `overall`, with connecting capped at 3 s (a slow handshake means a sick upstream).
    pub fn overall(overall: Duration) -> Self {
        Self { connect: overall.min(Duration::from_secs(3)), overall }
    }
}

/// A provider's error code, as it sent it: Twilio and Graph send numbers, others text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderCode {
    Number(i64),
    Text(String),
}

impl ProviderCode {
    /// Reads a JSON number or string; anything else is no code.
    pub fn from_json(value: &Value) -> Option<Self> {
        match value {
            Value::Number(n) => n.as_i64().map(Self::Number),
            Value::String(s) if !s.is_empty() => Some(s.parse().map_or_else(|_| Self::Text(s.clone()), Self::Number)),
            _ => None,
        }
    }

    pub fn as_number(&self) -> Option<i64> {
        match self {
            Self::Number(n) => Some(*n),
            Self::Text(_) => None,
        }
    }
}

impl fmt::Display for ProviderCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Number(n) => write!(f, "{n}"),
            Self::Text(s) => f.write_str(s),
        }
    }
}

/// What an HTTP status means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusClass {
    Success,
    /// 401/403: the credentials or token were refused.
    Unauthorized,
    /// 408, 425, 429 and 5xx: the same request may succeed later.
    Retryable,
    /// Any other 4xx (and odd statuses): the same request will fail again.
    Refused,
}

impl StatusClass {
    pub fn of(status: StatusCode) -> Self {
        match status.as_u16() {
            200..=299 => Self::Success,
            401 | 403 => Self::Unauthorized,
            408 | 425 | 429 | 500..=599 => Self::Retryable,
            _ => Self::Refused,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// No answer in time. `maybe_delivered`: the request had left (a send may have been acted on).
    #[error("{service} did not answer in time")]
    Timeout { service: &'static str, maybe_delivered: bool },
    /// Nothing was sent: the connection could not be made.
    #[error("could not connect to {service}")]
    Connect {
        service: &'static str,
        #[source]
        source: reqwest::Error,
    },
    /// The exchange broke after it started (reset, truncated answer): a send may have been acted on.
    #[error("the exchange with {service} failed")]
    Transport {
        service: &'static str,
        #[source]
        source: reqwest::Error,
    },
    #[error("{service} answered HTTP {status}{}", code.as_ref().map(|c| format!(" (code {c})")).unwrap_or_default())]
    Status { service: &'static str, status: u16, code: Option<ProviderCode> },
    #[error("the {service} URL is not a valid URL")]
    InvalidUrl { service: &'static str },
    /// A success whose body is not what the API documents.
    #[error("{service} answered something unreadable: {reason}")]
    InvalidResponse { service: &'static str, reason: &'static str },
    #[error("cannot build the {service} client")]
    Build {
        service: &'static str,
        #[source]
        source: reqwest::Error,
    },
}

impl UpstreamError {
    /// Whether the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Timeout { .. } | Self::Connect { .. } | Self::Transport { .. } | Self::InvalidResponse { .. } => true,
            Self::Status { status, .. } => {
                StatusClass::of(StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_GATEWAY)) == StatusClass::Retryable
            }
            Self::Build { .. } | Self::InvalidUrl { .. } => false,
        }
    }

    /// Whether the upstream may have acted on the request although we saw no success: a send
    /// in this state must never be repeated.
    pub fn may_have_been_delivered(&self) -> bool {
        match self {
            Self::Timeout { maybe_delivered, .. } => *maybe_delivered,
            // An answer of success, whatever its body says.
            Self::Transport { .. } | Self::InvalidResponse { .. } => true,
            // A 5xx after the provider accepted the message is possible but the provider says
            // it failed; a 4xx refused it.
            Self::Connect { .. } | Self::Status { .. } | Self::Build { .. } | Self::InvalidUrl { .. } => false,
        }
    }

    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Timeout { .. })
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn code(&self) -> Option<&ProviderCode> {
        match self {
            Self::Status { code, .. } => code.as_ref(),
            _ => None,
        }
    }
}

/// An answer, read whole.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
}

impl Answer {
    pub fn class(&self) -> StatusClass {
        StatusClass::of(self.status)
    }

    /// The body as JSON; `Null` when it is not JSON (error pages, empty bodies).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// A file read whole, with what its answer said about it.
#[derive(Debug, Clone)]
pub struct Download {
    /// `Content-Type`, as sent.
    pub content_type: Option<String>,
    /// `Content-Disposition`, as sent (it may name the file).
    pub disposition: Option<String>,
    /// Where it came from in the end (after redirects): its path may name the file.
    pub final_url: Url,
    pub body: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// Larger than the caller takes: not read further.
    #[error("the file is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    /// The file (or a redirect) points where a download may not go: a private address, another
    /// scheme, or redirects without end.
    #[error("the file's location is not one a download may reach")]
    Refused,
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
}

/// Redirects a download follows (Twilio's media URLs redirect once, to storage).
const MAX_REDIRECTS: usize = 5;

/// One upstream service's HTTP client.
#[derive(Debug, Clone)]
pub struct Upstream {
    service: &'static str,
    http: reqwest::Client,
    timeouts: Timeouts,
    destinations: Destinations,
}

impl Upstream {
    /// A client of an API the deployment configured. It follows no redirect: an API call's
    /// credentials (headers of our own, which a client would not drop on another host) go to
    /// the configured URL and nowhere else.
    pub fn new(service: &'static str, timeouts: Timeouts) -> Result<Self, UpstreamError> {
        Self::build(service, timeouts, Destinations::Any)
    }

    /// A client for the files users send on a channel whose API is at `api_url`: it reaches
    /// public addresses only, and the API's own host wherever it is (local runs, tests).
    pub fn for_files(service: &'static str, timeouts: Timeouts, api_url: &str) -> Result<Self, UpstreamError> {
        let trusted_host = Url::parse(api_url).ok().and_then(|url| url.host_str().map(str::to_owned));
        Self::build(service, timeouts, Destinations::Public { trusted_host })
    }

    fn build(service: &'static str, timeouts: Timeouts, destinations: Destinations) -> Result<Self, UpstreamError> {
        let mut builder =
            http_client_builder().connect_timeout(timeouts.connect).timeout(timeouts.overall).redirect(reqwest::redirect::Policy::none());
        if let Destinations::Public { trusted_host } = &destinations {
            builder = builder.dns_resolver(std::sync::Arc::new(PublicResolver { trusted_host: trusted_host.clone() }));
        }
        let http = builder.build().map_err(|source| UpstreamError::Build { service, source })?;
        Ok(Self { service, http, timeouts, destinations })
    }

    pub fn service(&self) -> &'static str {
        self.service
    }

    /// Starts a request; finish it with [`Upstream::send`].
    pub fn request(&self, method: reqwest::Method, url: impl reqwest::IntoUrl) -> reqwest::RequestBuilder {
        self.http.request(method, url)
    }

    /// Sends and reads the whole answer, within the overall timeout and before `deadline`.
    /// A call whose deadline has already passed is not sent at all.
    pub async fn send(&self, request: reqwest::RequestBuilder, deadline: Option<Instant>) -> Result<Answer, UpstreamError> {
        let service = self.service;
        let budget = match deadline {
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(UpstreamError::Timeout { service, maybe_delivered: false });
                }
                left.min(self.timeouts.overall)
            }
            None => self.timeouts.overall,
        };
        let response = request.timeout(budget).send().await.map_err(|e| self.failure(e))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| self.failure(e))?;
        Ok(Answer { status, body })
    }

    /// Sends and reads the answer's body up to `limit` bytes, within the overall timeout and
    /// before `deadline` (a file: the answer is not kept whole when it is larger). Redirects are
    /// followed with a bare `GET`: nothing of the first request, its credentials least of all,
    /// goes to where the file is kept.
    pub async fn download(&self, request: reqwest::RequestBuilder, deadline: Instant, limit: u64) -> Result<Download, DownloadError> {
        let mut request = request;
        for _ in 0..=MAX_REDIRECTS {
            let response = self.fetch(request, deadline).await?;
            if !matches!(response.status().as_u16(), 301 | 302 | 303 | 307 | 308) {
                return self.read_file(response, limit).await;
            }
            let location = response.headers().get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok());
            let next = location.and_then(|location| response.url().join(location).ok()).ok_or(DownloadError::Refused)?;
            request = self.http.get(next);
        }
        Err(DownloadError::Refused)
    }

    /// One exchange of a download, to a destination this client may reach, before `deadline`.
    async fn fetch(&self, request: reqwest::RequestBuilder, deadline: Instant) -> Result<reqwest::Response, DownloadError> {
        let service = self.service;
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(UpstreamError::Timeout { service, maybe_delivered: false }.into());
        }
        let request =
            request.timeout(left.min(self.timeouts.overall)).build().map_err(|source| UpstreamError::Build { service, source })?;
        if !matches!(request.url().scheme(), "http" | "https") || !self.destinations.allow(request.url()) {
            return Err(DownloadError::Refused);
        }
        Ok(self.http.execute(request).await.map_err(|e| self.failure(e))?)
    }

    async fn read_file(&self, mut response: reqwest::Response, limit: u64) -> Result<Download, DownloadError> {
        let service = self.service;
        let status = response.status();
        if StatusClass::of(status) != StatusClass::Success {
            return Err(UpstreamError::Status { service, status: status.as_u16(), code: None }.into());
        }
        if response.content_length().is_some_and(|length| length > limit) {
            return Err(DownloadError::TooLarge { limit });
        }
        let header = |name: reqwest::header::HeaderName| {
            response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned)
        };
        let (content_type, disposition) = (header(reqwest::header::CONTENT_TYPE), header(reqwest::header::CONTENT_DISPOSITION));
        let final_url = response.url().clone();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.failure(e))? {
            if body.len() as u64 + chunk.len() as u64 > limit {
                return Err(DownloadError::TooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Download { content_type, disposition, final_url, body })
    }

    /// The URL is dropped from the error: paths and queries can hold user ids (HyperChat looks
    /// users up by `externalId`, which holds phone numbers), and errors are logged.
    fn failure(&self, source: reqwest::Error) -> UpstreamError {
        let service = self.service;
        let source = source.without_url();
        if source.is_connect() {
            UpstreamError::Connect { service, source }
        } else if source.is_timeout() {
            UpstreamError::Timeout { service, maybe_delivered: true }
        } else {
            UpstreamError::Transport { service, source }
        }
    }

    /// An error answer as an error, with the provider's code read by `code`.
    pub fn status_error(&self, answer: &Answer, code: impl FnOnce(&Value) -> Option<ProviderCode>) -> UpstreamError {
        UpstreamError::Status { service: self.service, status: answer.status.as_u16(), code: code(&answer.json()) }
    }
}

/// Pauses between attempts that double up to a cap and never run past a deadline.
pub struct Backoff {
    pause: Duration,
    cap: Duration,
    until: Instant,
}

impl Backoff {
    pub fn new(first: Duration, cap: Duration, until: Instant) -> Self {
        Self { pause: first, cap, until }
    }

    /// Waits before the next attempt; `false`, without waiting, when that would pass `until`.
    pub async fn wait(&mut self) -> bool {
        if Instant::now() + self.pause >= self.until {
            return false;
        }
        tokio::time::sleep(self.pause).await;
        self.pause = (self.pause * 2).min(self.cap);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limits_timeouts_and_server_errors_are_retryable_and_other_client_errors_are_not() {
        for status in [408, 429, 500, 502, 503] {
            assert_eq!(StatusClass::of(StatusCode::from_u16(status).unwrap()), StatusClass::Retryable, "{status}");
        }
        for status in [400, 404, 409, 422] {
            assert_eq!(StatusClass::of(StatusCode::from_u16(status).unwrap()), StatusClass::Refused, "{status}");
        }
        assert_eq!(StatusClass::of(StatusCode::FORBIDDEN), StatusClass::Unauthorized);
    }

    #[test]
    fn a_provider_code_is_read_as_a_number_when_it_is_one() {
        assert_eq!(ProviderCode::from_json(&serde_json::json!(63016)), Some(ProviderCode::Number(63016)));
        assert_eq!(ProviderCode::from_json(&serde_json::json!("21610")), Some(ProviderCode::Number(21610)));
        assert_eq!(ProviderCode::from_json(&serde_json::json!("bad_request")), Some(ProviderCode::Text("bad_request".into())));
        assert_eq!(ProviderCode::from_json(&Value::Null), None);
    }

    #[test]
    fn a_status_error_names_its_code_and_is_not_a_possible_delivery() {
        let error = UpstreamError::Status { service: "Twilio", status: 400, code: Some(ProviderCode::Number(21211)) };
        assert_eq!(error.to_string(), "Twilio answered HTTP 400 (code 21211)");
        assert!(!error.may_have_been_delivered() && !error.is_retryable());
    }

    #[tokio::test]
    async fn a_call_whose_deadline_has_passed_is_not_sent() {
        let upstream = Upstream::new("Test", Timeouts::overall(Duration::from_secs(1))).unwrap();
        // Nothing listens on port 9 of loopback; a sent request would fail to connect instead.
        let request = upstream.request(reqwest::Method::GET, "http://127.0.0.1:9/");
        let error = upstream.send(request, Some(Instant::now())).await.unwrap_err();
        assert!(matches!(error, UpstreamError::Timeout { maybe_delivered: false, .. }), "{error:?}");
    }
}
