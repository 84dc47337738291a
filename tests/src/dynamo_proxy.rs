//! A fault-injecting HTTP proxy between the product's DynamoDB client and moto.
//!
//! moto answers every request at once and never fails, so what the store does
//! when DynamoDB is slow, unreachable or failing cannot be tested against it
//! directly. Point `AWS_ENDPOINT_URL_DYNAMODB` at [`FaultyDynamo::endpoint`]
//! instead: requests are forwarded to moto unchanged (so the SDK's signed
//! headers and bodies are exactly what moto sees) unless a test told the
//! proxy to hold, freeze or fail them. The operation of a request is the
//! suffix of its `X-Amz-Target` header (`DynamoDB_20120810.PutItem` ->
//! `PutItem`); a request without one has the operation `""`.
//!
//! Every control applies only to requests that arrive after it was set, so a
//! request already waiting in a freeze is not caught by a later `fail`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::header::{CONNECTION, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::time::Instant;

use crate::raw_http::{self, HttpResponse};
use connector_fakes::recording::lock;
use connector_fakes::server::{ShutdownGuard, spawn};

/// DynamoDB's own limit on a request body; larger ones are not DynamoDB's.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// How long moto may take to answer one forwarded request. Far above any real
/// answer; it only keeps a wedged upstream from keeping the proxy alive.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);

/// Headers that describe one connection, not the message (RFC 9110 7.6.1).
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Request headers the forwarding client sets itself: `Host` and
/// `Content-Length` for the upstream connection, and `Expect` because the
/// whole body is sent at once (a `100 Continue` would be taken for the answer).
const SET_BY_CLIENT: [&str; 3] = ["host", "content-length", "expect"];

/// Handle to a running proxy. Cheap to clone; clones share one proxy, which
/// stops (gracefully: held answers are still returned) when the last clone
/// is dropped.
#[derive(Clone)]
pub struct FaultyDynamo {
    addr: SocketAddr,
    shared: Arc<Shared>,
    _guard: Arc<ShutdownGuard>,
}

impl std::fmt::Debug for FaultyDynamo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultyDynamo").field("addr", &self.addr).field("upstream", &self.shared.upstream).finish_non_exhaustive()
    }
}

struct Shared {
    /// `http://host:port` of moto, without a trailing slash.
    upstream: String,
    state: Mutex<ProxyState>,
}

#[derive(Default)]
struct ProxyState {
    /// One entry per request, indexed by its arrival number.
    seen: Vec<Seen>,
    /// Requests arriving before this instant wait for it.
    frozen_until: Option<Instant>,
    late: HashMap<String, Armed<Duration>>,
    failing: HashMap<String, Armed<u16>>,
}

struct Seen {
    operation: String,
    fate: Fate,
}

/// What became of a request. `Waiting` ones (frozen, or abandoned by their
/// client before being forwarded) never reached moto and are not counted.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fate {
    Waiting,
    Forwarded,
    Failed,
}

/// A fault for the next `remaining` requests numbered `armed_at` or later.
struct Armed<T> {
    fault: T,
    remaining: usize,
    armed_at: usize,
}

impl FaultyDynamo {
    /// Starts a proxy on `127.0.0.1:<random port>` forwarding to `upstream`
    /// (`http://127.0.0.1:PORT` of moto). An unusable `upstream` is not
    /// checked here: every request then gets a 502 saying why.
    ///
    /// Panics if the port cannot be bound, like the fakes: an environment
    /// problem is best reported loudly at test start.
    pub async fn start(upstream: &str) -> Self {
        let shared = Arc::new(Shared { upstream: upstream.trim_end_matches('/').to_owned(), state: Mutex::new(ProxyState::default()) });
        let router = Router::new().fallback(handle).with_state(Arc::clone(&shared));
        let (addr, guard) = spawn("FaultyDynamo", |_| router).await;
        Self { addr, shared, _guard: guard }
    }

    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL_DYNAMODB`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The next `times` requests of `operation` are forwarded at once (moto
    /// applies the write) but their answer is held `delay`: the client times
    /// out on a write that happened, and its retry meets the write's effect.
    /// If the client hangs up meanwhile, the answer is simply lost. Replaces
    /// an earlier `answer_late` of the same operation; `times` 0 cancels it.
    pub fn answer_late(&self, operation: &str, delay: Duration, times: usize) {
        let mut state = lock(&self.shared.state);
        let armed_at = state.seen.len();
        state.late.insert(operation.to_owned(), Armed { fault: delay, remaining: times, armed_at });
    }

    /// Every request arriving in the next `duration` waits until then before
    /// being forwarded: an outage or network partition. A request whose
    /// client gives up meanwhile is never forwarded, as a partition loses it.
    /// Replaces an earlier freeze for later arrivals (`Duration::ZERO` ends
    /// it for them); requests already waiting keep their release time.
    pub fn freeze_for(&self, duration: Duration) {
        let now = Instant::now();
        // A year is "forever" for a test, and cannot overflow an `Instant`.
        let until = now.checked_add(duration).unwrap_or_else(|| now + Duration::from_secs(365 * 24 * 3600));
        lock(&self.shared.state).frozen_until = Some(until);
    }

    /// The next `times` requests of `operation` are not forwarded and get
    /// `status` with a DynamoDB error body: `ProvisionedThroughputExceededException`
    /// for 400 (the SDK retries it as throttling), `InternalServerError`
    /// otherwise (a status outside 400-599 is answered as 500). Checked before
    /// `answer_late`. Replaces an earlier `fail` of the same operation;
    /// `times` 0 cancels it.
    pub fn fail(&self, operation: &str, status: u16, times: usize) {
        let mut state = lock(&self.shared.state);
        let armed_at = state.seen.len();
        state.failing.insert(operation.to_owned(), Armed { fault: status, remaining: times, armed_at });
    }

    /// How many requests of `operation` were forwarded or failed so far.
    pub fn count(&self, operation: &str) -> usize {
        self.operations().iter().filter(|op| op.as_str() == operation).count()
    }

    /// The operation of every request forwarded or failed so far, in arrival
    /// order; requests still frozen, or abandoned while frozen, are left out.
    pub fn operations(&self) -> Vec<String> {
        lock(&self.shared.state).seen.iter().filter(|seen| seen.fate != Fate::Waiting).map(|seen| seen.operation.clone()).collect()
    }
}

/// Every request: recorded, held while frozen, then failed or forwarded.
async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let operation = operation_of(&parts.headers);
    let (number, frozen_until) = {
        let mut state = lock(&shared.state);
        state.seen.push(Seen { operation: operation.clone(), fate: Fate::Waiting });
        let frozen_until = state.frozen_until.filter(|until| *until > Instant::now());
        (state.seen.len() - 1, frozen_until)
    };

    let body = match to_bytes(body, MAX_BODY).await {
        Ok(body) => body,
        Err(e) => return bad_gateway(&format!("cannot read the request body: {e}")),
    };
    let headers = match forwarded_headers(&parts.headers) {
        Ok(headers) => headers,
        Err(e) => return bad_gateway(&e),
    };
    let target = parts.uri.path_and_query().map_or("/", |target| target.as_str());
    let url = format!("{}{target}", shared.upstream);

    if let Some(until) = frozen_until {
        tokio::time::sleep_until(until).await;
    }

    let (failure, delay) = {
        let mut state = lock(&shared.state);
        let failure = take(&mut state.failing, &operation, number);
        let delay = match failure {
            Some(_) => None,
            None => take(&mut state.late, &operation, number),
        };
        if let Some(seen) = state.seen.get_mut(number) {
            seen.fate = if failure.is_some() { Fate::Failed } else { Fate::Forwarded };
        }
        (failure, delay)
    };
    if let Some(status) = failure {
        return injected_error(status);
    }

    // On its own task so that a forwarded write completes even if the client
    // hangs up: once a request is on the wire, DynamoDB applies it.
    let method = parts.method.as_str().to_owned();
    let forward = tokio::spawn(async move {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(name, value)| (name.as_str(), value.as_str())).collect();
        tokio::time::timeout(UPSTREAM_TIMEOUT, raw_http::send(&method, &url, &headers, &body)).await
    });
    let answer = match forward.await {
        Ok(Ok(Ok(answer))) => answer,
        Ok(Ok(Err(e))) => return bad_gateway(&format!("upstream {}: {e}", shared.upstream)),
        Ok(Err(_)) => return bad_gateway(&format!("upstream {} did not answer", shared.upstream)),
        Err(e) => return bad_gateway(&format!("forwarding failed: {e}")),
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    relay(answer)
}

/// `DynamoDB_20120810.PutItem` -> `PutItem`; `""` without the header.
fn operation_of(headers: &HeaderMap) -> String {
    headers
        .get("x-amz-target")
        .and_then(|value| value.to_str().ok())
        .map(|target| target.rsplit_once('.').map_or(target, |(_, op)| op))
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// Takes one use of the fault armed for `operation`, if it applies to
/// request `number`.
fn take<T: Copy>(slot: &mut HashMap<String, Armed<T>>, operation: &str, number: usize) -> Option<T> {
    let armed = slot.get_mut(operation)?;
    if armed.remaining == 0 || armed.armed_at > number {
        return None;
    }
    armed.remaining -= 1;
    let fault = armed.fault;
    if armed.remaining == 0 {
        slot.remove(operation);
    }
    Some(fault)
}

/// The header names listed in `Connection`, lower-cased (also hop-by-hop).
fn connection_tokens<'a>(values: impl Iterator<Item = &'a str>) -> Vec<String> {
    values.flat_map(|value| value.split(',')).map(|token| token.trim().to_ascii_lowercase()).filter(|token| !token.is_empty()).collect()
}

fn is_hop_by_hop(name: &str, listed: &[String]) -> bool {
    HOP_BY_HOP.iter().any(|h| name.eq_ignore_ascii_case(h)) || listed.iter().any(|l| name.eq_ignore_ascii_case(l))
}

/// The client's headers as the forwarding client sends them; `Err` if one is
/// not text (the SDK only sends ASCII, so that is a broken client).
fn forwarded_headers(headers: &HeaderMap) -> Result<Vec<(String, String)>, String> {
    let listed = connection_tokens(headers.get_all(CONNECTION).iter().filter_map(|value| value.to_str().ok()));
    headers
        .iter()
        .filter(|(name, _)| !is_hop_by_hop(name.as_str(), &listed) && !SET_BY_CLIENT.contains(&name.as_str()))
        .map(|(name, value)| {
            value.to_str().map(|value| (name.as_str().to_owned(), value.to_owned())).map_err(|_| format!("header {name} is not text"))
        })
        .collect()
}

/// The upstream's answer as the client gets it: status, end-to-end headers
/// and body unchanged (`x-amz-crc32` is a checksum of the body), with
/// `Content-Length` recomputed for this connection.
fn relay(answer: HttpResponse) -> Response {
    let listed = connection_tokens(
        answer.headers.iter().filter(|(name, _)| name.eq_ignore_ascii_case("connection")).map(|(_, value)| value.as_str()),
    );
    let mut response = Response::new(Body::from(answer.body));
    *response.status_mut() = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let headers = response.headers_mut();
    for (name, value) in &answer.headers {
        if is_hop_by_hop(name, &listed) || name.eq_ignore_ascii_case("content-length") {
            continue;
        }
        // A header that is not valid HTTP cannot be relayed; moto sends none.
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_bytes(value.as_bytes())) {
            headers.append(name, value);
        }
    }
    response
}

/// An injected failure, shaped like DynamoDB's own error answers.
fn injected_error(status: u16) -> Response {
    let status = StatusCode::from_u16(status)
        .ok()
        .filter(|status| status.is_client_error() || status.is_server_error())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let kind = if status == StatusCode::BAD_REQUEST { "ProvisionedThroughputExceededException" } else { "InternalServerError" };
    let body = serde_json::json!({
        "__type": format!("com.amazonaws.dynamodb.v20120810#{kind}"),
        "message": "injected",
    });
    (status, [(CONTENT_TYPE, "application/x-amz-json-1.0")], body.to_string()).into_response()
}

/// The proxy's own failure (bad client request, unreachable upstream).
fn bad_gateway(message: &str) -> Response {
    (StatusCode::BAD_GATEWAY, [(CONTENT_TYPE, "text/plain; charset=utf-8")], format!("FaultyDynamo: {message}")).into_response()
}

#[cfg(test)]
mod tests {
    use std::io;

    use axum::http::{Method, Uri};
    use bytes::Bytes;
    use serde_json::json;
    use tokio::net::{TcpListener, TcpStream};

    use super::*;
    use connector_fakes::recording::{Recorded, RequestLog};

    const JSON_1_0: &str = "application/x-amz-json-1.0";
    const AUTH: &str = "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/dynamodb/aws4_request, \
                        SignedHeaders=host;x-amz-date;x-amz-target, Signature=0";

    /// A stand-in for moto: records every request and answers with the status
    /// named in `x-test-status` (200 without it), DynamoDB-style headers and a
    /// body echoing the request body.
    struct StandIn {
        url: String,
        log: Arc<RequestLog>,
    }

    impl StandIn {
        async fn start() -> Self {
            let log = Arc::new(RequestLog::default());
            let recorder = Arc::clone(&log);
            let app = Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let log = Arc::clone(&recorder);
                async move {
                    log.record(&method, &uri, &headers, &body);
                    let status = headers
                        .get("x-test-status")
                        .and_then(|v| v.to_str().ok()?.parse::<u16>().ok())
                        .and_then(|s| StatusCode::from_u16(s).ok())
                        .unwrap_or(StatusCode::OK);
                    let echoed = json!({ "Echo": String::from_utf8_lossy(&body) });
                    (status, [("content-type", JSON_1_0), ("x-amzn-requestid", "REQ-1"), ("x-amz-crc32", "12345")], echoed.to_string())
                }
            });
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind stand-in");
            let url = format!("http://{}", listener.local_addr().expect("stand-in address"));
            tokio::spawn(async move { axum::serve(listener, app).await });
            Self { url, log }
        }

        fn requests(&self) -> Vec<Recorded> {
            self.log.snapshot()
        }

        fn operations(&self) -> Vec<String> {
            self.requests().iter().map(operation_of_recorded).collect()
        }
    }

    fn operation_of_recorded(r: &Recorded) -> String {
        r.header("x-amz-target").and_then(|t| t.rsplit_once('.')).map(|(_, op)| op.to_owned()).unwrap_or_default()
    }

    /// One signed-looking DynamoDB request through the proxy.
    async fn call(proxy: &FaultyDynamo, operation: &str, extra: &[(&str, &str)]) -> io::Result<HttpResponse> {
        let target = format!("DynamoDB_20120810.{operation}");
        let mut headers = vec![
            ("x-amz-target", target.as_str()),
            ("content-type", JSON_1_0),
            ("authorization", AUTH),
            ("x-amz-date", "20260101T000000Z"),
        ];
        headers.extend_from_slice(extra);
        let body = format!(r#"{{"TableName":"t","Op":"{operation}"}}"#);
        raw_http::send("POST", &format!("{}/", proxy.endpoint()), &headers, body.as_bytes()).await
    }

    /// `call` with a client-side timeout: `None` if the client gave up.
    async fn call_within(proxy: &FaultyDynamo, operation: &str, limit: Duration) -> Option<HttpResponse> {
        tokio::time::timeout(limit, call(proxy, operation, &[])).await.ok().map(|sent| sent.expect("proxy answers"))
    }

    async fn exchange(addr: SocketAddr, request: &[u8]) -> io::Result<Vec<u8>> {
        raw_http::exchange(&addr.to_string(), request).await
    }

    #[tokio::test]
    async fn requests_and_answers_pass_through_unchanged() {
        let upstream = StandIn::start().await;
        let proxy = FaultyDynamo::start(&format!("{}/", upstream.url)).await;
        let target = format!("{}/some/path?a=1&b=%20", proxy.endpoint());
        let resp = raw_http::send(
            "POST",
            &target,
            &[
                ("X-Amz-Target", "DynamoDB_20120810.PutItem"),
                ("Content-Type", JSON_1_0),
                ("Authorization", AUTH),
                ("X-Amz-Date", "20260101T000000Z"),
                ("X-Amz-Security-Token", "tok"),
                ("amz-sdk-invocation-id", "inv-1"),
                ("x-test-status", "400"),
            ],
            br#"{"TableName":"t","Item":{"pk":{"S":"a"}}}"#,
        )
        .await
        .expect("proxy answers");

        assert_eq!(resp.status, 400, "{}", resp.text());
        assert_eq!(resp.header("x-amzn-requestid"), Some("REQ-1"));
        assert_eq!(resp.header("x-amz-crc32"), Some("12345"));
        assert_eq!(resp.header("content-type"), Some(JSON_1_0));
        let expected = json!({"Echo": r#"{"TableName":"t","Item":{"pk":{"S":"a"}}}"#});
        assert_eq!(resp.json(), expected);
        assert_eq!(resp.header("content-length"), Some(resp.body.len().to_string().as_str()));

        let seen = upstream.requests();
        assert_eq!(seen.len(), 1);
        let seen = &seen[0];
        assert_eq!(seen.method, "POST");
        assert_eq!(seen.path, "/some/path");
        assert_eq!(seen.query.as_deref(), Some("a=1&b=%20"));
        assert_eq!(seen.header("authorization"), Some(AUTH));
        assert_eq!(seen.header("x-amz-date"), Some("20260101T000000Z"));
        assert_eq!(seen.header("x-amz-target"), Some("DynamoDB_20120810.PutItem"));
        assert_eq!(seen.header("x-amz-security-token"), Some("tok"));
        assert_eq!(seen.header("amz-sdk-invocation-id"), Some("inv-1"));
        assert_eq!(seen.header("content-type"), Some(JSON_1_0));
        assert_eq!(seen.body, r#"{"TableName":"t","Item":{"pk":{"S":"a"}}}"#);
        // Host names the upstream, as it would for a client talking to it directly.
        let upstream_authority = upstream.url.trim_start_matches("http://");
        assert_eq!(seen.header("host"), Some(upstream_authority));
        assert_eq!(proxy.operations(), vec!["PutItem"]);
    }

    #[tokio::test]
    async fn hop_by_hop_headers_are_not_forwarded() {
        let upstream = StandIn::start().await;
        let proxy = FaultyDynamo::start(&upstream.url).await;
        let resp = call(
            &proxy,
            "GetItem",
            &[
                ("Keep-Alive", "timeout=5"),
                ("Proxy-Authorization", "Basic eDp5"),
                ("TE", "trailers"),
                ("Connection", "X-Per-Hop"),
                ("X-Per-Hop", "1"),
                ("X-End-To-End", "2"),
            ],
        )
        .await
        .expect("proxy answers");
        assert_eq!(resp.status, 200, "{}", resp.text());

        let seen = &upstream.requests()[0];
        for name in ["keep-alive", "proxy-authorization", "te", "x-per-hop"] {
            assert_eq!(seen.header(name), None, "{name} was forwarded");
        }
        assert_eq!(seen.header("x-end-to-end"), Some("2"));
        // The forwarding client's own single Host and Content-Length.
        let count = |name: &str| seen.headers.iter().filter(|(k, _)| k == name).count();
        assert_eq!((count("host"), count("content-length")), (1, 1));
    }

    #[tokio::test]
    async fn an_expect_100_continue_is_answered_here_and_not_forwarded() {
        let upstream = StandIn::start().await;
        let proxy = FaultyDynamo::start(&upstream.url).await;
        let raw = exchange(
            proxy.addr,
            b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: DynamoDB_20120810.PutItem\r\n\
              Expect: 100-continue\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
        )
        .await
        .expect("proxy answers");
        let text = String::from_utf8_lossy(&raw);
        let final_status = text.split("\r\n\r\n").find(|part| !part.starts_with("HTTP/1.1 100"));
        assert!(final_status.is_some_and(|head| head.starts_with("HTTP/1.1 200")), "{text}");
        let seen = upstream.requests();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].header("expect"), None);
        assert_eq!(seen[0].body, "{}");
    }

    #[test]
    fn the_operation_is_the_suffix_of_x_amz_target() {
        let with = |target: &[u8]| {
            let mut headers = HeaderMap::new();
            headers.insert("x-amz-target", HeaderValue::from_bytes(target).unwrap());
            operation_of(&headers)
        };
        assert_eq!(with(b"DynamoDB_20120810.PutItem"), "PutItem");
        assert_eq!(with(b"DynamoDB_20120810.TransactWriteItems"), "TransactWriteItems");
        assert_eq!(with(b"ListTables"), "ListTables");
        assert_eq!(with(b"Odd.\xff"), "");
        assert_eq!(operation_of(&HeaderMap::new()), "");
    }

    #[tokio::test]
    async fn an_answer_held_late_still_applies_the_write_upstream() {
        let upstream = StandIn::start().await;
        let proxy = FaultyDynamo::start(&upstream.url).await;
        proxy.answer_late("PutItem", Duration::from_millis(600), 1);

        // The client gives up long before the answer comes...
        let gave_up = call_within(&proxy, "PutItem", Duration::from_millis(150)).await;
        assert!(gave_up.is_none(), "the answer should have been held");
        // ...but the write was forwarded at once.
        assert_eq!(upstream.operations(), vec!["PutItem"]);

        // Its retry is answered at once: only one answer was to be held.
        let started = Instant::now();
        let retry = call_within(&proxy, "PutItem", Duration::from_secs(5)).await.expect("answered");
        assert_eq!(retry.status, 200);
        assert!(started.elapsed() < Duration::from_millis(400));
        assert_eq!(upstream.operations(), vec!["PutItem", "PutItem"]);
        assert_eq!(proxy.count("PutItem"), 2);
    }

    #[tokio::test]
    async fn a_client_that_waits_gets_the_late_answer_after_the_delay() {
        let upstream = StandIn::start().await;
        let proxy = FaultyDynamo::start(&upstream.url).await;
        proxy.answer_late("GetItem", Duration::from_millis(300), 2);

        let started = Instant::now();
        let other = call_within(&proxy, "Query", Duration::from_secs(5)).await.expect("answered");
        assert_eq!(other.status, 200);
        assert!(started.elapsed() < Duration::from_millis(250), "other operations are not held");

        for _ in 0..2 {
            let started = Instant::now();
            let late = call_within(&proxy, "GetItem", Duration::from_secs(5)).await.expect("answered");
            assert!(started.elapsed() >= Duration::from_millis(300));
            assert_eq!(late.status, 200);
            assert_eq!(late.header("x-amzn-requestid"), Some("REQ-1"));
        }
        let started = Instant::now();
        call_within(&proxy, "GetItem", Duration::from_secs(5)).await.expect("answered");
        assert!(started.elapsed() < Duration::from_millis(250), "only `times` answers are held");
    }

    #[tokio::test]
    async fn a_freeze_holds_requests_arriving_during_it_until_it_ends() {
        let upstream = StandIn::start().await;
        let proxy = FaultyDynamo::start(&upstream.url).await;
        proxy.freeze_for(Duration::from_millis(400));

        let started = Instant::now();
        let waiting = tokio::spawn({
            let proxy = proxy.clone();
            async move { call_within(&proxy, "UpdateItem", Duration::from_secs(5)).await }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(upstream.requests().is_empty(), "forwarded during the freeze");
        assert!(proxy.operations().is_empty(), "a waiting request is not counted yet");

        let resp = waiting.await.expect("task").expect("answered");
        assert_eq!(resp.status, 200);
        assert!(started.elapsed() >= Duration::from_millis(400));
        assert_eq!(upstream.operations(), vec!["UpdateItem"]);
        assert_eq!(proxy.count("UpdateItem"), 1);

        // After the freeze, requests pass at once.
        let started = Instant::now();
        call_within(&proxy, "UpdateItem", Duration::from_secs(5)).await.expect("answered");
        assert!(started.elapsed() < Duration::from_millis(250));
    }

    #[tokio::test]
    async fn a_request_abandoned_during_a_freeze_is_never_forwarded() {
        let upstream = StandIn::start().await;
        let proxy = FaultyDynamo::start(&upstream.url).await;
        proxy.freeze_for(Duration::from_millis(300));

        let gave_up = call_within(&proxy, "PutItem", Duration::from_millis(100)).await;
        assert!(gave_up.is_none());
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(upstream.requests().is_empty(), "{:?}", upstream.requests());
        assert_eq!(proxy.count("PutItem"), 0);
        assert!(proxy.operations().is_empty());
    }

    #[tokio::test]
    async fn ending_a_freeze_releases_only_later_arrivals() {
        let upstream = StandIn::start().await;
        let proxy = FaultyDynamo::start(&upstream.url).await;
        proxy.freeze_for(Duration::from_millis(500));
        let started = Instant::now();
        let frozen = tokio::spawn({
            let proxy = proxy.clone();
            async move { call_within(&proxy, "GetItem", Duration::from_secs(5)).await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        proxy.freeze_for(Duration::ZERO);

        let quick = Instant::now();
        call_within(&proxy, "Query", Duration::from_secs(5)).await.expect("answered");
        assert!(quick.elapsed() < Duration::from_millis(250));
        frozen.await.expect("task").expect("answered");
        assert!(started.elapsed() >= Duration::from_millis(500));
        assert_eq!(upstream.operations(), vec!["Query", "GetItem"]);
        // Arrival order, not forwarding order.
        assert_eq!(proxy.operations(), vec!["GetItem", "Query"]);
    }

    #[tokio::test]
    async fn injected_failures_are_answered_without_reaching_upstream() {
        let upstream = StandIn::start().await;
        let proxy = FaultyDynamo::start(&upstream.url).await;
        proxy.fail("PutItem", 500, 2);
        proxy.fail("GetItem", 400, 1);

        for _ in 0..2 {
            let resp = call(&proxy, "PutItem", &[]).await.expect("proxy answers");
            assert_eq!(resp.status, 500);
            assert_eq!(resp.header("content-type"), Some(JSON_1_0));
            assert_eq!(
                resp.json(),
                json!({"__type": "com.amazonaws.dynamodb.v20120810#InternalServerError",
                       "message": "injected"})
            );
        }
        let throttled = call(&proxy, "GetItem", &[]).await.expect("proxy answers");
        assert_eq!(throttled.status, 400);
        assert_eq!(throttled.json()["__type"], "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException");
        let odd = {
            proxy.fail("Query", 42, 1);
            call(&proxy, "Query", &[]).await.expect("proxy answers")
        };
        assert_eq!(odd.status, 500);
        proxy.fail("Scan", 100, 1);
        assert_eq!(call(&proxy, "Scan", &[]).await.expect("proxy answers").status, 500);
        assert!(upstream.requests().is_empty());

        // The failures are used up: the next ones are forwarded.
        for op in ["PutItem", "GetItem", "Query", "Scan"] {
            assert_eq!(call(&proxy, op, &[]).await.expect("proxy answers").status, 200);
        }
        assert_eq!(upstream.operations(), vec!["PutItem", "GetItem", "Query", "Scan"]);
        assert_eq!(proxy.operations(), vec!["PutItem", "PutItem", "GetItem", "Query", "Scan", "PutItem", "GetItem", "Query", "Scan"]);
        assert_eq!(proxy.count("PutItem"), 3);
        assert_eq!(proxy.count("DeleteItem"), 0);
    }

    #[tokio::test]
    async fn a_failure_set_during_a_freeze_spares_the_requests_already_waiting() {
        let upstream = StandIn::start().await;
        let proxy = FaultyDynamo::start(&upstream.url).await;
        proxy.freeze_for(Duration::from_millis(300));
        let waiting = tokio::spawn({
            let proxy = proxy.clone();
            async move { call_within(&proxy, "PutItem", Duration::from_secs(5)).await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        proxy.fail("PutItem", 500, 1);

        assert_eq!(waiting.await.expect("task").expect("answered").status, 200);
        assert_eq!(call(&proxy, "PutItem", &[]).await.expect("proxy answers").status, 500);
        assert_eq!(upstream.operations(), vec!["PutItem"]);
    }

    #[tokio::test]
    async fn a_failure_takes_precedence_over_a_late_answer() {
        let upstream = StandIn::start().await;
        let proxy = FaultyDynamo::start(&upstream.url).await;
        proxy.answer_late("PutItem", Duration::from_millis(300), 1);
        proxy.fail("PutItem", 500, 1);
        assert_eq!(call(&proxy, "PutItem", &[]).await.expect("proxy answers").status, 500);
        let started = Instant::now();
        assert_eq!(call(&proxy, "PutItem", &[]).await.expect("proxy answers").status, 200);
        assert!(started.elapsed() >= Duration::from_millis(300), "the late answer is still armed");
    }

    #[tokio::test]
    async fn an_unreachable_upstream_or_a_broken_request_gets_a_502() {
        // A port that was just free: nothing listens there.
        let closed = {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            format!("http://{}", listener.local_addr().expect("address"))
        };
        let proxy = FaultyDynamo::start(&closed).await;
        let resp = call(&proxy, "ListTables", &[]).await.expect("proxy answers");
        assert_eq!(resp.status, 502);
        assert!(resp.text().contains("upstream"), "{}", resp.text());

        let not_http = FaultyDynamo::start("https://dynamodb.example").await;
        let resp = call(&not_http, "ListTables", &[]).await.expect("proxy answers");
        assert_eq!(resp.status, 502);

        // A header value that is not text (raw bytes, so raw_http cannot send it).
        let upstream = StandIn::start().await;
        let proxy = FaultyDynamo::start(&upstream.url).await;
        let raw = exchange(
            proxy.addr,
            b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: DynamoDB_20120810.PutItem\r\n\
              X-Odd: \xff\xfe\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
        )
        .await
        .expect("proxy answers");
        let text = String::from_utf8_lossy(&raw);
        assert!(text.starts_with("HTTP/1.1 502"), "{text}");
        assert!(text.contains("x-odd"), "{text}");
        assert!(upstream.requests().is_empty());
    }

    #[tokio::test]
    async fn the_proxy_stops_when_the_last_clone_is_dropped() {
        let upstream = StandIn::start().await;
        let proxy = FaultyDynamo::start(&upstream.url).await;
        let clone = proxy.clone();
        let addr = proxy.addr;
        drop(proxy);
        assert_eq!(call(&clone, "ListTables", &[]).await.expect("still up").status, 200);
        assert_eq!(clone.count("ListTables"), 1);
        drop(clone);
        let mut stopped = false;
        for _ in 0..100 {
            if TcpStream::connect(addr).await.is_err() {
                stopped = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(stopped, "proxy still accepting connections");
    }

    #[test]
    fn connection_tokens_are_split_and_lower_cased() {
        assert_eq!(connection_tokens(["close, X-A", " x-b ,,"].into_iter()), vec!["close", "x-a", "x-b"]);
    }
}
