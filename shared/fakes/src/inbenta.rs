//! A fake of Inbenta's authentication, Chatbot and ticketing APIs.
//!
//! It is a real HTTP server on `127.0.0.1:<random port>` so the connector's
//! actual HTTP client (headers, encodings, token refresh, timeouts, retries)
//! is exercised end to end. It implements the parts of the documented
//! contract the connector uses, is strict where a real Inbenta would reject
//! a request (wrong key, unknown token, unknown session), and lets a test
//! script the bot and inject failures.
//!
//! Routes (`PORT` is random):
//!
//! | route | needs |
//! |---|---|
//! | `POST /v1/auth` | `x-inbenta-key`, body `secret` (JSON or form) |
//! | `POST /v1/refreshToken` | `x-inbenta-key`, `Authorization: Bearer <token>` |
//! | `POST /prod/chatbot/v1/conversation` | key + token |
//! | `POST /prod/chatbot/v1/conversation/message` | key + token + session |
//! | `POST /prod/chatbot/v1/tracking/events` | key + token + session |
//! | `POST /prod/chatbot/v1/conversation/variables` | key + token + session |
//! | `GET  /prod/chatbot/v1/conversation/history` | key + token + session |
//! | `GET  /prod/chatbot/v1/app/data/{group}` | key + token |
//! | `GET  /prod/ticketing/v1/tickets?external_id=<chat id>` | key + token |
//! | `POST /prod/ticketing/v1/surveys/{id}/start` (form `sourceType=ticket&sourceId=<ticket>`) | key + token |
//! | `POST /prod/ticketing/v1/surveys/{id}/submit` (form `field_answers[<item>]=<value>`..., `token`) | key + token |
//!
//! "Chatbot routes" below means every path under `/prod/chatbot/`.
//!
//! Where each rule comes from (Inbenta publishes no machine-readable spec):
//! - auth, tokens, `apis`, chatbot routes and their error shapes: Inbenta's API Setup and
//!   Authorization pages and Inbenta's PHP client (`../shared/reference/upstream-apis.md` §4);
//! - tracking event types: `rate` and `click` (Inbenta's PHP client, `ChatbotAPIClient::trackEvent`
//!   callers), and for an escalation only the session data keys of Inbenta's "External Chat
//!   Tracking" page (`CHAT_ATTENDED`, `CHAT_ESCALATION_REJECTED`, `CHAT_NO_AGENTS`,
//!   `CHAT_UNATTENDED`). Any other type is refused 400 here so a test sees a key Inbenta does not
//!   document; a real instance may accept keys it was configured with, and what it answers to
//!   others is not documented;
//! - ticketing routes: Inbenta's PHP library (`chatbot_api_connector` 1.4.3,
//!   `MessengerAPIClient::getTicketID` reads `data[0].id`, `surveyStart` posts the form and
//!   reads `response`; errors as `{"error":..}`; `surveySubmit` posts `http_build_query` of
//!   `field_answers` (item id => answer) and `token`, and reads only `errors[0].message`), no
//!   public page of the ticketing API having them. What the submit checks is what the PHP
//!   sends: a form, the token of the survey's start, answers to the survey's own items (not
//!   its header or other layout items), a choice item's answer one of its values (the PHP
//!   submits a choice's `value`, a range's number), none empty (the PHP leaves those out). What
//!   a real submit answers on success is unknown (the PHP ignores it): `{"response":{}}` here.

use std::collections::HashMap;
use std::fmt::Display;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, Method, StatusCode, Uri};
use serde_json::{Value, json};

pub use crate::recording::Recorded;
use crate::recording::{RequestLog, lock};
use crate::server::{Reply, Running, Upstream};

/// A bot answer with one HTML message, shaped like Inbenta's `answers` reply.
///
/// The tracking codes (`rateCode`/`clickCode`) are fixed so tests can assert
/// that the connector echoes them in tracking events.
pub fn answer(html: &str) -> Value {
    json!({
        "answers": [{
            "type": "answer",
            "message": html,
            "messageList": [html],
            "flags": [],
            "attributes": {},
            "parameters": {"contents": {"trackingCode": {"rateCode": "RC", "clickCode": "CC"}}}
        }]
    })
}

/// An answer without tracking codes: nothing to rate, so no rating question follows it.
pub fn unrated(html: &str) -> Value {
    json!({ "answers": [{ "type": "answer", "message": html, "messageList": [html], "flags": [], "attributes": {} }] })
}

/// What the fake bot says to anything it was not scripted for: Inbenta's
/// "no results" answer, flagged `no-results` with click code `NR-CLICK`.
pub fn no_results() -> Value {
    json!({
        "answers": [{
            "type": "answer",
            "message": "Sorry, I couldn't find any answer to your question.",
            "flags": ["no-results"],
            "parameters": {"contents": {"trackingCode": {"clickCode": "NR-CLICK"}}}
        }]
    })
}

/// Handle to a running fake Inbenta. Cheap to clone; the server stops
/// (gracefully) when the last clone is dropped.
#[derive(Clone, Debug)]
pub struct FakeInbenta {
    server: Running<Shared>,
}

/// State shared between the handle and the request handlers.
struct Shared {
    base_url: String,
    log: RequestLog,
    state: Mutex<BotState>,
}

/// A pending injected failure: answer `status` to the next `remaining` requests.
#[derive(Debug, Clone, Copy)]
struct Failures {
    status: u16,
    remaining: usize,
}

impl Failures {
    /// Consumes one injected failure, if any is left.
    fn take(slot: &mut Option<Failures>) -> Option<u16> {
        let f = slot.as_mut()?;
        if f.remaining == 0 {
            *slot = None;
            return None;
        }
        f.remaining -= 1;
        let status = f.status;
        if f.remaining == 0 {
            *slot = None;
        }
        Some(status)
    }
}

struct BotState {
    token_lifetime: Duration,
    /// Access tokens issued and when each stops being valid.
    tokens: HashMap<String, Instant>,
    tokens_issued: u64,
    /// Session tokens issued; `true` once expired.
    sessions: HashMap<String, bool>,
    sessions_issued: u64,
    /// Keyed by trimmed, lower-cased text.
    on_message: HashMap<String, Value>,
    /// Keyed by the option's string form (`1` and `"1"` are the same key).
    on_option: HashMap<String, Value>,
    on_direct_call: HashMap<String, Value>,
    history: Value,
    extra_info: HashMap<String, Value>,
    delay: Duration,
    chatbot_failures: Option<Failures>,
    auth_failures: Option<Failures>,
    /// Messages (trimmed, lower-cased) answered 500 every time.
    poisoned: std::collections::HashSet<String>,
    /// Ticketing: the ticket made of each chat (chat id -> ticket id).
    tickets: HashMap<String, Value>,
    /// Ticketing: each survey's definition, as `/start` answers it under `response`.
    surveys: HashMap<String, Value>,
}

impl Default for BotState {
    fn default() -> Self {
        Self {
            token_lifetime: Duration::from_secs(FakeInbenta::DEFAULT_TOKEN_LIFETIME_SECS),
            tokens: HashMap::new(),
            tokens_issued: 0,
            sessions: HashMap::new(),
            sessions_issued: 0,
            on_message: HashMap::new(),
            on_option: HashMap::new(),
            on_direct_call: HashMap::new(),
            history: json!([]),
            extra_info: HashMap::new(),
            delay: Duration::ZERO,
            chatbot_failures: None,
            auth_failures: None,
            poisoned: std::collections::HashSet::new(),
            tickets: HashMap::new(),
            surveys: HashMap::new(),
        }
    }
}

impl BotState {
    /// Issues a fresh access token; returns (token, lifetime in seconds).
    fn issue_token(&mut self) -> (String, u64) {
        self.tokens_issued += 1;
        let token = format!("AT-{}", self.tokens_issued);
        self.tokens.insert(token.clone(), Instant::now() + self.token_lifetime);
        (token, self.token_lifetime.as_secs())
    }

    fn token_is_valid(&self, token: &str) -> bool {
        self.tokens.get(token).is_some_and(|until| Instant::now() < *until)
    }
}

fn normalize_message(text: &str) -> String {
    text.trim().to_lowercase()
}

impl FakeInbenta {
    /// The only `x-inbenta-key` the fake accepts.
    pub const API_KEY: &'static str = "test-inbenta-key";
    /// The only `secret` `/v1/auth` accepts.
    pub const API_SECRET: &'static str = "test-inbenta-secret";
    /// Access-token lifetime unless changed with [`FakeInbenta::set_token_lifetime`]
    /// (Inbenta's documented default, 20 minutes).
    pub const DEFAULT_TOKEN_LIFETIME_SECS: u64 = 1200;

    /// Starts a fake on `127.0.0.1:<random port>`.
    pub async fn start() -> Self {
        let server = Running::start("FakeInbenta", |addr| Shared {
            base_url: format!("http://{addr}"),
            log: RequestLog::default(),
            state: Mutex::new(BotState::default()),
        })
        .await;
        Self { server }
    }

    /// Socket address the fake listens on.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        self.server.shared.base_url.clone()
    }

    /// The variables that point the connector at this fake, with its credentials.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("INBENTA_AUTH_URL", self.auth_url()),
            ("INBENTA_API_KEY", Self::API_KEY.to_owned()),
            ("INBENTA_API_SECRET", Self::API_SECRET.to_owned()),
        ]
    }

    /// Auth API base: the product calls `{auth_url}/auth` and `{auth_url}/refreshToken`.
    pub fn auth_url(&self) -> String {
        format!("{}/v1", self.server.shared.base_url)
    }

    /// Chatbot API base, as returned in `apis.chatbot` by `/v1/auth`; the
    /// product calls `{chatbot_url}/v1/...`.
    pub fn chatbot_url(&self) -> String {
        format!("{}/prod/chatbot", self.server.shared.base_url)
    }

    /// Ticketing API base, as returned in `apis.ticketing` by `/v1/auth`.
    pub fn ticketing_url(&self) -> String {
        format!("{}/prod/ticketing", self.server.shared.base_url)
    }

    /// HyperChat made ticket `ticket` of chat `chat_id`: `GET /v1/tickets?external_id=<chat>`
    /// finds it.
    pub fn set_chat_ticket(&self, chat_id: &str, ticket: Value) {
        lock(&self.server.shared.state).tickets.insert(chat_id.to_owned(), ticket);
    }

    /// `POST /v1/surveys/{id}/start` answers `{"response": definition}` (else 404).
    pub fn set_survey(&self, id: &str, definition: Value) {
        lock(&self.server.shared.state).surveys.insert(id.to_owned(), definition);
    }

    /// The answers of each submit the fake took (`POST /v1/surveys/{id}/submit`), in order:
    /// the survey's id and its `field_answers` (item id, answer), as posted.
    pub fn survey_submissions(&self) -> Vec<(String, Vec<(String, String)>)> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == "POST" && r.status == Some(200))
            .filter_map(|r| {
                let id = r.path.strip_prefix("/prod/ticketing/v1/surveys/")?.strip_suffix("/submit")?.to_owned();
                let answers = r.form().into_iter().filter_map(|(k, v)| Some((field_answer(&k)?.to_owned(), v))).collect();
                Some((id, answers))
            })
            .collect()
    }

    // ----- script -------------------------------------------------------

    /// When a `{"message": text}` arrives (compared trimmed and
    /// case-insensitively), reply with `response` verbatim (a full body such
    /// as [`answer`]`("...")`). A later call for the same text replaces it.
    pub fn on_message(&self, text: &str, response: Value) {
        lock(&self.server.shared.state).on_message.insert(normalize_message(text), response);
    }

    /// When `{"option": v}` arrives whose string form equals `value`'s
    /// (`1`, `"1"` and the JSON number `1` all match each other), reply with
    /// `response`. Pass a plain integer or `&str`, not a `serde_json::Value`
    /// (whose `Display` adds quotes to strings).
    pub fn on_option(&self, value: impl Display, response: Value) {
        lock(&self.server.shared.state).on_option.insert(value.to_string(), response);
    }

    /// When `{"directCall": name}` arrives (exact match), reply with `response`.
    pub fn on_direct_call(&self, name: &str, response: Value) {
        lock(&self.server.shared.state).on_direct_call.insert(name.to_owned(), response);
    }

    /// Body of `GET .../conversation/history` (default `[]`).
    pub fn set_history(&self, history: Value) {
        lock(&self.server.shared.state).history = history;
    }

    /// `GET .../app/data/{group}` answers `{"results": results}`; groups never
    /// configured answer 404.
    pub fn set_extra_info(&self, group: &str, results: Value) {
        lock(&self.server.shared.state).extra_info.insert(group.to_owned(), results);
    }

    // ----- controls -----------------------------------------------------

    /// Lifetime of access tokens issued from now on (`expires_in`). `0` makes
    /// new tokens unusable immediately, to test that the product re-authenticates.
    pub fn set_token_lifetime(&self, secs: u64) {
        lock(&self.server.shared.state).token_lifetime = Duration::from_secs(secs);
    }

    /// Every session issued so far becomes expired: the next message with it
    /// gets HTTP 400 `Session expired`. Sessions started later are fine.
    pub fn expire_sessions(&self) {
        for expired in lock(&self.server.shared.state).sessions.values_mut() {
            *expired = true;
        }
    }

    /// Every access token issued so far becomes invalid (chatbot routes and
    /// `/v1/refreshToken` answer 401), as if they had all expired.
    pub fn expire_tokens(&self) {
        lock(&self.server.shared.state).tokens.clear();
    }

    /// Every chatbot route waits this long before doing anything else (auth
    /// checks included), to test the product's client timeouts. The auth
    /// routes are not delayed.
    pub fn set_delay(&self, delay: Duration) {
        lock(&self.server.shared.state).delay = delay;
    }

    /// The next `times` requests to chatbot routes (any path under
    /// `/prod/chatbot/`, including `app/data`) get HTTP `status` with body
    /// `{"message":"Internal server error"}`, regardless of their content or
    /// credentials. `/v1/auth` and `/v1/refreshToken` are not affected; use
    /// [`FakeInbenta::fail_auth_with`] for those. An invalid status code is
    /// answered as 500.
    pub fn fail_with(&self, status: u16, times: usize) {
        lock(&self.server.shared.state).chatbot_failures = Some(Failures { status, remaining: times });
    }

    /// The message `text` is answered HTTP 500 every time it is sent: a message no retry gets
    /// through.
    pub fn poison(&self, text: &str) {
        lock(&self.server.shared.state).poisoned.insert(text.trim().to_lowercase());
    }

    /// Like [`FakeInbenta::fail_with`], but for `/v1/auth` and
    /// `/v1/refreshToken` only (a separate counter).
    pub fn fail_auth_with(&self, status: u16, times: usize) {
        lock(&self.server.shared.state).auth_failures = Some(Failures { status, remaining: times });
    }

    // ----- recordings ---------------------------------------------------

    /// Every request received, in arrival order, including rejected ones.
    pub fn requests(&self) -> Vec<Recorded> {
        self.server.shared.log.snapshot()
    }

    /// Number of requests (any method, any outcome) whose path ends with
    /// `path_suffix`, e.g. `count("/v1/auth")`, `count("/conversation/message")`.
    /// Note `count("/conversation")` counts conversation starts only.
    pub fn count(&self, path_suffix: &str) -> usize {
        self.requests().iter().filter(|r| r.path.ends_with(path_suffix)).count()
    }

    /// Every `POST .../conversation/message` request, in order, whatever the
    /// fake answered (see [`Recorded::status`]).
    pub fn message_requests(&self) -> Vec<Recorded> {
        self.requests_to("/prod/chatbot/v1/conversation/message")
    }

    /// JSON bodies of the messages the bot received, in order: one of
    /// `{"message":..}`, `{"option":..}`, `{"directCall":..}` each.
    ///
    /// Requests the fake *rejected* (401, session expired, injected failure,
    /// invalid body) are left out, so a retried input appears once; requests
    /// still being handled, or abandoned by the client during a delay, are
    /// included. Use [`FakeInbenta::message_requests`] to see every attempt.
    pub fn bot_inputs(&self) -> Vec<Value> {
        accepted_json(self.message_requests())
    }

    /// JSON bodies of accepted `POST .../tracking/events`, in order (same
    /// filter as [`FakeInbenta::bot_inputs`]).
    pub fn tracking_events(&self) -> Vec<Value> {
        accepted_json(self.requests_to("/prod/chatbot/v1/tracking/events"))
    }

    /// JSON bodies of accepted `POST .../conversation/variables`, in order.
    pub fn variables(&self) -> Vec<Value> {
        accepted_json(self.requests_to("/prod/chatbot/v1/conversation/variables"))
    }

    /// Every `POST .../conversation` (conversation start) request, in order.
    /// Its body is the conversation config; check `x-inbenta-user-type`,
    /// `x-inbenta-env` and `x-inbenta-source` with [`Recorded::header`].
    pub fn conversation_starts(&self) -> Vec<Recorded> {
        self.requests_to("/prod/chatbot/v1/conversation")
    }

    fn requests_to(&self, path: &str) -> Vec<Recorded> {
        self.requests().into_iter().filter(|r| r.path == path && r.method == "POST").collect()
    }
}

/// Bodies of requests not rejected by the fake (status pending or 2xx).
fn accepted_json(requests: Vec<Recorded>) -> Vec<Value> {
    requests.into_iter().filter(|r| r.status.is_none_or(|s| (200..300).contains(&s))).filter_map(|r| r.try_json()).collect()
}

// ----- HTTP handling ----------------------------------------------------

fn unauthorized() -> Reply {
    (StatusCode::UNAUTHORIZED, json!({"message": "Unauthorized"}))
}

/// Inbenta's chatbot-API error shape.
fn api_error(status: StatusCode, message: &str) -> Reply {
    (status, json!({"errors": [{"message": message, "code": status.as_u16()}]}))
}

fn session_expired() -> Reply {
    api_error(StatusCode::BAD_REQUEST, "Session expired")
}

fn injected(status: u16) -> Reply {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, json!({"message": "Internal server error"}))
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Value after `Bearer ` (scheme case-insensitive), if well-formed.
fn bearer<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let value = header(headers, name)?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

fn now_unix() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Parses a JSON body by hand, because the product may send the malformed
/// `Content-Type: application/json,charset=UTF-8` that axum's `Json`
/// extractor rejects. An empty body counts as `{}`.
fn json_object(body: &[u8]) -> Result<serde_json::Map<String, Value>, Reply> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(api_error(StatusCode::BAD_REQUEST, "Body must be a JSON object")),
        Err(e) => Err(api_error(StatusCode::BAD_REQUEST, &format!("Invalid JSON body: {e}"))),
    }
}

async fn route(shared: &Shared, method: &Method, path: &str, headers: &HeaderMap, body: &[u8]) -> Result<Reply, Reply> {
    match path {
        "/v1/auth" | "/v1/refreshToken" => {
            if method != Method::POST {
                return Err(api_error(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed"));
            }
            if let Some(status) = Failures::take(&mut lock(&shared.state).auth_failures) {
                return Err(injected(status));
            }
            if header(headers, "x-inbenta-key") != Some(FakeInbenta::API_KEY) {
                return Err(unauthorized());
            }
            if path == "/v1/auth" { auth(shared, body) } else { refresh(shared, headers) }
        }
        _ => match path.strip_prefix("/prod/chatbot") {
            Some(rest) if rest.starts_with('/') => chatbot(shared, method, rest, headers, body).await,
            _ => Err(api_error(StatusCode::NOT_FOUND, "Not found")),
        },
    }
}

/// The `secret` from a JSON (`{"secret":..}`) or form (`secret=..`) body.
fn secret_from_body(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?.trim();
    if text.starts_with('{') {
        serde_json::from_str::<Value>(text).ok()?.get("secret")?.as_str().map(str::to_owned)
    } else {
        serde_urlencoded::from_str::<Vec<(String, String)>>(text).ok()?.into_iter().find_map(|(k, v)| (k == "secret").then_some(v))
    }
}

fn auth(shared: &Shared, body: &[u8]) -> Result<Reply, Reply> {
    if secret_from_body(body).as_deref() != Some(FakeInbenta::API_SECRET) {
        return Err(unauthorized());
    }
    let (token, lifetime) = lock(&shared.state).issue_token();
    Ok((
        StatusCode::OK,
        json!({
            "accessToken": token,
            "expiration": now_unix() + lifetime,
            "expires_in": lifetime,
            "apis": {
                "chatbot": format!("{}/prod/chatbot", shared.base_url),
                "ticketing": format!("{}/prod/ticketing", shared.base_url),
            }
        }),
    ))
}

fn refresh(shared: &Shared, headers: &HeaderMap) -> Result<Reply, Reply> {
    let mut state = lock(&shared.state);
    let current = bearer(headers, "authorization").ok_or_else(unauthorized)?;
    if !state.token_is_valid(current) {
        return Err(unauthorized());
    }
    let (token, lifetime) = state.issue_token();
    Ok((StatusCode::OK, json!({"accessToken": token, "expiration": now_unix() + lifetime, "expires_in": lifetime})))
}

/// Everything under `/prod/chatbot`; `rest` starts with `/v1/...`.
async fn chatbot(shared: &Shared, method: &Method, rest: &str, headers: &HeaderMap, body: &[u8]) -> Result<Reply, Reply> {
    let delay = lock(&shared.state).delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }

    let mut state = lock(&shared.state);
    if let Some(status) = Failures::take(&mut state.chatbot_failures) {
        return Err(injected(status));
    }
    if header(headers, "x-inbenta-key") != Some(FakeInbenta::API_KEY) {
        return Err(unauthorized());
    }
    let token = bearer(headers, "authorization").ok_or_else(unauthorized)?;
    if !state.token_is_valid(token) {
        return Err(unauthorized());
    }

    let post = method == Method::POST;
    let get = method == Method::GET;
    match rest {
        "/v1/conversation" if post => {
            json_object(body)?;
            state.sessions_issued += 1;
            let n = state.sessions_issued;
            let session_token = format!("ST-{n}");
            state.sessions.insert(session_token.clone(), false);
            Ok((StatusCode::OK, json!({"sessionToken": session_token, "sessionId": format!("SID-{n}")})))
        }
        "/v1/conversation/message" if post => {
            check_session(&state, headers)?;
            let input = json_object(body)?;
            if input.get("message").and_then(Value::as_str).is_some_and(|text| state.poisoned.contains(&text.trim().to_lowercase())) {
                return Err(injected(500));
            }
            Ok((StatusCode::OK, bot_reply(&state, &input)?))
        }
        "/v1/tracking/events" if post => {
            check_session(&state, headers)?;
            let event = json_object(body)?;
            let kind = event.get("type").and_then(Value::as_str).unwrap_or_default();
            if !TRACKING_TYPES.contains(&kind) {
                return Err(api_error(StatusCode::BAD_REQUEST, &format!("Undocumented tracking event type '{kind}'")));
            }
            Ok((StatusCode::OK, json!({})))
        }
        "/v1/conversation/variables" if post => {
            check_session(&state, headers)?;
            json_object(body)?;
            Ok((StatusCode::OK, json!({"success": true})))
        }
        "/v1/conversation/history" if get => {
            check_session(&state, headers)?;
            Ok((StatusCode::OK, state.history.clone()))
        }
        _ if get && rest.starts_with("/v1/app/data/") => {
            let group = &rest["/v1/app/data/".len()..];
            match state.extra_info.get(group) {
                Some(results) if !group.is_empty() => Ok((StatusCode::OK, json!({"results": results}))),
                _ => Err(api_error(StatusCode::NOT_FOUND, "Not found")),
            }
        }
        "/v1/conversation"
        | "/v1/conversation/message"
        | "/v1/tracking/events"
        | "/v1/conversation/variables"
        | "/v1/conversation/history" => Err(api_error(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed")),
        _ => Err(api_error(StatusCode::NOT_FOUND, "Not found")),
    }
}

/// The tracking event types the fake takes (see the module's sources): the PHP client's
/// `rate` and `click`, and the session data keys Inbenta's "External Chat Tracking" page lists
/// for an escalation to a live chat.
const TRACKING_TYPES: &[&str] = &["rate", "click", "CHAT_ATTENDED", "CHAT_ESCALATION_REJECTED", "CHAT_NO_AGENTS", "CHAT_UNATTENDED"];

/// Everything under `/prod/ticketing`, with the same key and token rules as the chatbot routes.
fn ticketing(shared: &Shared, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Result<Reply, Reply> {
    let rest = uri.path().strip_prefix("/prod/ticketing").unwrap_or_default();
    let state = lock(&shared.state);
    if header(headers, "x-inbenta-key") != Some(FakeInbenta::API_KEY) {
        return Err(unauthorized());
    }
    let token = bearer(headers, "authorization").ok_or_else(unauthorized)?;
    if !state.token_is_valid(token) {
        return Err(unauthorized());
    }
    let form = |text: &[u8]| serde_urlencoded::from_bytes::<Vec<(String, String)>>(text).unwrap_or_default();
    let not_found = |what: &str| (StatusCode::NOT_FOUND, json!({"error": {"code": 404, "message": format!("{what} not found")}}));
    match rest.trim_end_matches('/').split('/').collect::<Vec<_>>().as_slice() {
        ["", "v1", "tickets"] if method == Method::GET => {
            let query = form(uri.query().unwrap_or_default().as_bytes());
            let chat = query.iter().find_map(|(k, v)| (k == "external_id").then_some(v.as_str()));
            let data: Vec<Value> = chat.and_then(|chat| state.tickets.get(chat)).map(|id| json!({"id": id})).into_iter().collect();
            Ok((StatusCode::OK, json!({ "data": data })))
        }
        ["", "v1", "surveys", id, "start"] if method == Method::POST => {
            let input = form(body);
            let field = |name: &str| input.iter().find_map(|(k, v)| (k == name).then_some(v.as_str()));
            if field("sourceType") != Some("ticket") || field("sourceId").is_none_or(str::is_empty) {
                return Err((
                    StatusCode::BAD_REQUEST,
                    json!({"error": {"code": 400, "message": "sourceType=ticket and sourceId are required"}}),
                ));
            }
            let survey = state.surveys.get(*id).ok_or_else(|| not_found("Survey"))?;
            Ok((StatusCode::OK, json!({ "response": survey })))
        }
        ["", "v1", "surveys", id, "submit"] if method == Method::POST => {
            let survey = state.surveys.get(*id).ok_or_else(|| not_found("Survey"))?;
            if !header(headers, "content-type").is_some_and(|t| t.starts_with("application/x-www-form-urlencoded")) {
                return Err(api_error(StatusCode::BAD_REQUEST, "The answers are a form"));
            }
            check_submission(survey, &form(body)).map_err(|message| api_error(StatusCode::BAD_REQUEST, &message))?;
            Ok((StatusCode::OK, json!({"response": {}})))
        }
        _ => Err(not_found("Route")),
    }
}

/// The item id of a `field_answers[<id>]` key.
fn field_answer(key: &str) -> Option<&str> {
    key.strip_prefix("field_answers[")?.strip_suffix(']').filter(|id| !id.is_empty())
}

/// A survey item's id as the start gave it (a number or a string).
fn item_id(item: &Value) -> String {
    match &item["id"] {
        Value::String(id) => id.clone(),
        other => other.to_string(),
    }
}

/// What a survey submit must hold (see the module's sources): the start's token once, and
/// answers to the survey's own non-layout items, each once, not empty, a choice item's among
/// its values (or its `min`..`max`).
fn check_submission(survey: &Value, form: &[(String, String)]) -> Result<(), String> {
    let tokens: Vec<&str> = form.iter().filter(|(k, _)| k == "token").map(|(_, v)| v.as_str()).collect();
    if tokens != [survey["token"].as_str().unwrap_or_default()] {
        return Err(format!("token must be the survey's, once; got {tokens:?}"));
    }
    let items: Vec<&Value> = survey["pages"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|page| page["items"].as_array().into_iter().flatten())
        .filter(|item| item["type"] != "layout")
        .collect();
    let mut answered = std::collections::HashSet::new();
    for (key, value) in form.iter().filter(|(k, _)| k != "token") {
        let id = field_answer(key).ok_or_else(|| format!("unknown field {key:?}"))?;
        let item = items.iter().find(|item| item_id(item) == id).ok_or_else(|| format!("no item {id} in the survey"))?;
        if !answered.insert(id) || value.is_empty() {
            return Err(format!("item {id} answered twice or empty"));
        }
        let settings = item["settings"].as_array().map(Vec::as_slice).unwrap_or_default();
        let choices: Vec<String> = settings
            .iter()
            .skip(1)
            .filter_map(|s| s["value"].as_array())
            .flatten()
            .map(|choice| match &choice["value"] {
                Value::String(v) => v.clone(),
                other => other.to_string(),
            })
            .collect();
        let bound = |name: &str| settings.iter().find(|s| s["subtype"] == name).and_then(|s| s["value"]["value"].as_i64());
        let allowed = match (choices.is_empty(), bound("min"), bound("max")) {
            (false, _, _) => choices.contains(value),
            (true, Some(min), Some(max)) if max > min => value.parse::<i64>().is_ok_and(|n| (min..=max).contains(&n)),
            _ => true,
        };
        if !allowed {
            return Err(format!("{value:?} is no choice of item {id}"));
        }
    }
    Ok(())
}

/// Requires `x-inbenta-session: Bearer <sessionToken>` naming a live session.
fn check_session(state: &BotState, headers: &HeaderMap) -> Result<(), Reply> {
    let token = bearer(headers, "x-inbenta-session").ok_or_else(|| {
        api_error(StatusCode::BAD_REQUEST, "Missing or malformed x-inbenta-session header (expected 'Bearer <sessionToken>')")
    })?;
    match state.sessions.get(token) {
        Some(false) => Ok(()),
        // Unknown and expired sessions look the same to a client, as on Inbenta.
        _ => Err(session_expired()),
    }
}

/// The scripted answer for one `/conversation/message` body.
fn bot_reply(state: &BotState, input: &serde_json::Map<String, Value>) -> Result<Value, Reply> {
    let present: Vec<&str> = ["message", "option", "directCall"].into_iter().filter(|k| input.contains_key(*k)).collect();
    let [kind] = present.as_slice() else {
        return Err(api_error(StatusCode::BAD_REQUEST, "Exactly one of 'message', 'option' or 'directCall' is required"));
    };
    let bad_type = |what: &str| api_error(StatusCode::BAD_REQUEST, &format!("'{kind}' must be {what}"));
    let scripted = match (*kind, input.get(*kind).unwrap_or(&Value::Null)) {
        ("message", Value::String(text)) => state.on_message.get(&normalize_message(text)),
        ("message", _) => return Err(bad_type("a string")),
        ("option", Value::String(s)) => state.on_option.get(s.as_str()),
        ("option", Value::Number(n)) => state.on_option.get(&n.to_string()),
        ("option", _) => return Err(bad_type("a string or a number")),
        ("directCall", Value::String(name)) => state.on_direct_call.get(name.as_str()),
        _ => return Err(bad_type("a string")),
    };
    Ok(scripted.cloned().unwrap_or_else(no_results))
}

impl Upstream for Shared {
    fn log(&self) -> &RequestLog {
        &self.log
    }

    async fn answer(&self, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Result<Reply, Reply> {
        if uri.path().starts_with("/prod/ticketing/") {
            return ticketing(self, method, uri, headers, body);
        }
        route(self, method, uri.path(), headers, body).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raw_http::{self, HttpResponse};

    const KEY: (&str, &str) = ("x-inbenta-key", FakeInbenta::API_KEY);

    async fn post(url: &str, headers: &[(&str, &str)], body: &str) -> HttpResponse {
        raw_http::send("POST", url, headers, body.as_bytes()).await.expect("request to fake")
    }

    async fn token(fake: &FakeInbenta) -> String {
        let resp =
            post(&format!("{}/auth", fake.auth_url()), &[KEY, ("content-type", "application/json")], r#"{"secret":"test-inbenta-secret"}"#)
                .await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        resp.json()["accessToken"].as_str().expect("accessToken").to_owned()
    }

    async fn start_session(fake: &FakeInbenta, token: &str) -> String {
        let auth = format!("Bearer {token}");
        let resp = post(
            &format!("{}/v1/conversation", fake.chatbot_url()),
            &[KEY, ("authorization", &auth), ("content-type", "application/json")],
            "{}",
        )
        .await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        resp.json()["sessionToken"].as_str().expect("sessionToken").to_owned()
    }

    async fn send_message(fake: &FakeInbenta, token: &str, session: &str, body: &str) -> HttpResponse {
        let auth = format!("Bearer {token}");
        let sess = format!("Bearer {session}");
        post(
            &format!("{}/v1/conversation/message", fake.chatbot_url()),
            &[KEY, ("authorization", &auth), ("x-inbenta-session", &sess), ("content-type", "application/json")],
            body,
        )
        .await
    }

    #[tokio::test]
    async fn auth_with_json_secret_returns_a_token_and_the_chatbot_url() {
        let fake = FakeInbenta::start().await;
        let resp =
            post(&format!("{}/auth", fake.auth_url()), &[KEY, ("content-type", "application/json")], r#"{"secret":"test-inbenta-secret"}"#)
                .await;
        assert_eq!(resp.status, 200);
        let body = resp.json();
        assert_eq!(body["accessToken"], "AT-1");
        assert_eq!(body["expires_in"], 1200);
        let expiration = body["expiration"].as_u64().expect("expiration");
        assert!(expiration >= now_unix() + 1190 && expiration <= now_unix() + 1200);
        assert_eq!(body["apis"]["chatbot"], fake.chatbot_url().as_str());
        assert!(fake.chatbot_url().starts_with("http://127.0.0.1:"));
        assert_eq!(fake.count("/v1/auth"), 1);
    }

    #[tokio::test]
    async fn auth_accepts_a_form_secret_without_content_type() {
        let fake = FakeInbenta::start().await;
        let resp = post(&format!("{}/auth", fake.auth_url()), &[KEY], "secret=test-inbenta-secret").await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert_eq!(resp.json()["accessToken"], "AT-1");
    }

    #[tokio::test]
    async fn auth_rejects_a_wrong_key_or_secret() {
        let fake = FakeInbenta::start().await;
        let url = format!("{}/auth", fake.auth_url());
        let wrong_key = post(&url, &[("x-inbenta-key", "nope")], r#"{"secret":"test-inbenta-secret"}"#).await;
        assert_eq!(wrong_key.status, 401);
        assert_eq!(wrong_key.json(), json!({"message": "Unauthorized"}));
        let wrong_secret = post(&url, &[KEY], r#"{"secret":"nope"}"#).await;
        assert_eq!(wrong_secret.status, 401);
        let no_body = post(&url, &[KEY], "").await;
        assert_eq!(no_body.status, 401);
        assert_eq!(fake.count("/v1/auth"), 3, "rejected requests are recorded too");
        assert!(fake.requests().iter().all(|r| r.status == Some(401)));
    }

    #[tokio::test]
    async fn refresh_issues_a_new_token_without_apis_and_needs_a_valid_one() {
        let fake = FakeInbenta::start().await;
        let old = token(&fake).await;
        let url = format!("{}/refreshToken", fake.auth_url());
        let auth = format!("Bearer {old}");
        let resp = post(&url, &[KEY, ("authorization", &auth)], "").await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        let body = resp.json();
        assert_eq!(body["accessToken"], "AT-2");
        assert!(body.get("apis").is_none());
        start_session(&fake, "AT-2").await;

        let bogus = post(&url, &[KEY, ("authorization", "Bearer AT-999")], "").await;
        assert_eq!(bogus.status, 401);
    }

    #[tokio::test]
    async fn chatbot_routes_reject_missing_unknown_and_expired_tokens() {
        let fake = FakeInbenta::start().await;
        let url = format!("{}/v1/conversation", fake.chatbot_url());
        assert_eq!(post(&url, &[KEY], "{}").await.status, 401);
        assert_eq!(post(&url, &[KEY, ("authorization", "Bearer AT-1")], "{}").await.status, 401);

        let tok = token(&fake).await;
        let auth = format!("Bearer {tok}");
        assert_eq!(post(&url, &[("authorization", &auth)], "{}").await.status, 401, "key is required too");
        assert_eq!(post(&url, &[KEY, ("authorization", &auth)], "{}").await.status, 200);

        fake.expire_tokens();
        let resp = post(&url, &[KEY, ("authorization", &auth)], "{}").await;
        assert_eq!(resp.status, 401);
        assert_eq!(resp.json(), json!({"message": "Unauthorized"}));

        fake.set_token_lifetime(0);
        let short = token(&fake).await;
        let auth = format!("Bearer {short}");
        assert_eq!(post(&url, &[KEY, ("authorization", &auth)], "{}").await.status, 401);
    }

    #[tokio::test]
    async fn conversation_start_accepts_the_malformed_json_content_type_and_records_headers() {
        let fake = FakeInbenta::start().await;
        let tok = token(&fake).await;
        let auth = format!("Bearer {tok}");
        let resp = post(
            &format!("{}/v1/conversation", fake.chatbot_url()),
            &[
                KEY,
                ("authorization", &auth),
                ("content-type", "application/json,charset=UTF-8"),
                ("x-inbenta-user-type", "0"),
                ("x-inbenta-env", "development"),
                ("x-inbenta-source", "twilio-sms"),
            ],
            r#"{"lang":"es","answers":{"sideBubbleAttributes":["SIDEBUBBLE_TEXT"]}}"#,
        )
        .await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert_eq!(resp.json(), json!({"sessionToken": "ST-1", "sessionId": "SID-1"}));

        let starts = fake.conversation_starts();
        assert_eq!(starts.len(), 1);
        assert_eq!(starts[0].json()["lang"], "es");
        assert_eq!(starts[0].header("x-inbenta-env"), Some("development"));
        assert_eq!(starts[0].header("X-Inbenta-Source"), Some("twilio-sms"));
        assert_eq!(starts[0].header("x-inbenta-user-type"), Some("0"));
        assert_eq!(starts[0].status, Some(200));

        let bad = post(&format!("{}/v1/conversation", fake.chatbot_url()), &[KEY, ("authorization", &auth)], "{nope").await;
        assert_eq!(bad.status, 400, "invalid JSON is a client error, not a panic");
    }

    #[tokio::test]
    async fn scripted_messages_match_trimmed_and_case_insensitively_and_others_get_no_results() {
        let fake = FakeInbenta::start().await;
        fake.on_message("Hello", answer("<p>Hi there</p>"));
        let tok = token(&fake).await;
        let sess = start_session(&fake, &tok).await;

        let resp = send_message(&fake, &tok, &sess, r#"{"message":"  hELLo "}"#).await;
        assert_eq!(resp.status, 200);
        assert_eq!(resp.json(), answer("<p>Hi there</p>"));

        let other = send_message(&fake, &tok, &sess, r#"{"message":"what?"}"#).await;
        assert_eq!(other.json(), no_results());
        assert_eq!(other.json()["answers"][0]["flags"][0], "no-results");

        assert_eq!(fake.bot_inputs(), vec![json!({"message": "  hELLo "}), json!({"message": "what?"})]);
    }

    #[tokio::test]
    async fn options_match_by_string_form_and_direct_calls_by_name() {
        let fake = FakeInbenta::start().await;
        fake.on_option(1, answer("one"));
        fake.on_option("yes", answer("affirmative"));
        fake.on_direct_call("sys-welcome", answer("welcome"));
        let tok = token(&fake).await;
        let sess = start_session(&fake, &tok).await;

        assert_eq!(send_message(&fake, &tok, &sess, r#"{"option":1}"#).await.json(), answer("one"));
        assert_eq!(send_message(&fake, &tok, &sess, r#"{"option":"1"}"#).await.json(), answer("one"));
        assert_eq!(send_message(&fake, &tok, &sess, r#"{"option":"yes"}"#).await.json(), answer("affirmative"));
        assert_eq!(send_message(&fake, &tok, &sess, r#"{"option":2}"#).await.json(), no_results());
        assert_eq!(send_message(&fake, &tok, &sess, r#"{"directCall":"sys-welcome"}"#).await.json(), answer("welcome"));
    }

    #[tokio::test]
    async fn a_message_body_needs_exactly_one_well_typed_input() {
        let fake = FakeInbenta::start().await;
        let tok = token(&fake).await;
        let sess = start_session(&fake, &tok).await;
        for body in
            ["{}", r#"{"message":"a","option":1}"#, r#"{"message":5}"#, r#"{"option":[1]}"#, r#"{"directCall":null}"#, "not json", "[1]"]
        {
            let resp = send_message(&fake, &tok, &sess, body).await;
            assert_eq!(resp.status, 400, "body {body}: {}", resp.text());
            assert!(resp.json()["errors"][0]["message"].is_string());
        }
        assert!(fake.bot_inputs().is_empty(), "rejected inputs are not bot inputs");
        assert_eq!(fake.message_requests().len(), 7);
    }

    #[tokio::test]
    async fn expired_or_unknown_sessions_get_session_expired_but_new_ones_work() {
        let fake = FakeInbenta::start().await;
        let tok = token(&fake).await;
        let sess = start_session(&fake, &tok).await;
        assert_eq!(send_message(&fake, &tok, &sess, r#"{"message":"hi"}"#).await.status, 200);

        fake.expire_sessions();
        let resp = send_message(&fake, &tok, &sess, r#"{"message":"hi"}"#).await;
        assert_eq!(resp.status, 400);
        assert_eq!(resp.json(), json!({"errors": [{"message": "Session expired", "code": 400}]}));
        assert_eq!(send_message(&fake, &tok, "ST-42", r#"{"message":"hi"}"#).await.status, 400);

        let fresh = start_session(&fake, &tok).await;
        assert_ne!(fresh, sess);
        assert_eq!(send_message(&fake, &tok, &fresh, r#"{"message":"hi"}"#).await.status, 200);
        assert_eq!(fake.bot_inputs().len(), 2);
        assert_eq!(fake.count("/conversation/message"), 4);
    }

    #[tokio::test]
    async fn tracking_variables_and_history_need_a_session_and_are_recorded() {
        let fake = FakeInbenta::start().await;
        fake.set_history(json!([{"user": "hi", "message": "hello"}]));
        let tok = token(&fake).await;
        let sess = start_session(&fake, &tok).await;
        let auth = format!("Bearer {tok}");
        let session = format!("Bearer {sess}");
        let h = [KEY, ("authorization", auth.as_str()), ("x-inbenta-session", session.as_str())];
        let base = fake.chatbot_url();

        let track = post(&format!("{base}/v1/tracking/events"), &h, r#"{"type":"click","data":{"code":"CC"}}"#).await;
        assert_eq!((track.status, track.json()), (200, json!({})));
        let vars = post(&format!("{base}/v1/conversation/variables"), &h, r#"{"name":"phone","value":"1"}"#).await;
        assert_eq!((vars.status, vars.json()), (200, json!({"success": true})));
        let hist = raw_http::get(&format!("{base}/v1/conversation/history"), &h).await.unwrap();
        assert_eq!((hist.status, hist.json()), (200, json!([{"user": "hi", "message": "hello"}])));

        let no_session = post(&format!("{base}/v1/tracking/events"), &h[..2], r#"{"type":"click"}"#).await;
        assert_eq!(no_session.status, 400);

        assert_eq!(fake.tracking_events(), vec![json!({"type": "click", "data": {"code": "CC"}})]);
        assert_eq!(fake.variables(), vec![json!({"name": "phone", "value": "1"})]);
    }

    #[tokio::test]
    async fn tracking_takes_the_documented_escalation_keys_and_refuses_the_old_contact_keys() {
        let fake = FakeInbenta::start().await;
        let tok = token(&fake).await;
        let sess = start_session(&fake, &tok).await;
        let (auth, session) = (format!("Bearer {tok}"), format!("Bearer {sess}"));
        let h = [KEY, ("authorization", auth.as_str()), ("x-inbenta-session", session.as_str())];
        let url = format!("{}/v1/tracking/events", fake.chatbot_url());
        for kind in ["CHAT_ATTENDED", "CHAT_ESCALATION_REJECTED", "CHAT_NO_AGENTS", "CHAT_UNATTENDED"] {
            let body = json!({"type": kind, "data": {"value": "true"}}).to_string();
            assert_eq!(post(&url, &h, &body).await.status, 200, "{kind}");
        }
        for kind in ["CONTACT_ATTENDED", "CONTACT_REJECTED", "CONTACT_UNATTENDED", ""] {
            let refused = post(&url, &h, &json!({"type": kind, "data": {"value": "true"}}).to_string()).await;
            assert_eq!((refused.status, refused.json()["errors"][0]["code"].clone()), (400, json!(400)), "{kind}");
        }
        assert_eq!(fake.tracking_events().len(), 4, "refused events are not recorded");
    }

    #[tokio::test]
    async fn the_ticketing_routes_find_a_chats_ticket_and_start_its_survey_with_a_valid_token() {
        let fake = FakeInbenta::start().await;
        let auth = post(&format!("{}/auth", fake.auth_url()), &[KEY], r#"{"secret":"test-inbenta-secret"}"#).await;
        assert_eq!(auth.json()["apis"]["ticketing"], fake.ticketing_url().as_str());
        fake.set_chat_ticket("C1", json!(42));
        fake.set_survey("7", json!({"id": 7, "token": "tok", "pages": []}));
        let bearer = format!("Bearer {}", token(&fake).await);
        let h = [KEY, ("authorization", bearer.as_str())];
        let base = fake.ticketing_url();

        let found = raw_http::get(&format!("{base}/v1/tickets?external_id=C1"), &h).await.unwrap();
        assert_eq!((found.status, found.json()), (200, json!({"data": [{"id": 42}]})));
        let none = raw_http::get(&format!("{base}/v1/tickets?external_id=C2"), &h).await.unwrap();
        assert_eq!(none.json(), json!({"data": []}));

        let form = [KEY, ("authorization", bearer.as_str()), ("content-type", "application/x-www-form-urlencoded")];
        let started = post(&format!("{base}/v1/surveys/7/start"), &form, "sourceType=ticket&sourceId=42").await;
        assert_eq!((started.status, started.json()["response"]["token"].clone()), (200, json!("tok")));
        assert_eq!(post(&format!("{base}/v1/surveys/8/start"), &form, "sourceType=ticket&sourceId=42").await.status, 404);
        assert_eq!(post(&format!("{base}/v1/surveys/7/start"), &form, "sourceId=42").await.status, 400);
        assert_eq!(raw_http::get(&format!("{base}/v1/tickets?external_id=C1"), &[KEY]).await.unwrap().status, 401);
    }

    #[tokio::test]
    async fn the_survey_submit_takes_the_answers_as_inbentas_php_posts_them_and_refuses_anything_else() {
        let fake = FakeInbenta::start().await;
        fake.set_survey(
            "7",
            json!({"id": 7, "token": "tok", "pages": [{"id": 1, "items": [
                {"id": 10, "type": "layout", "subtype": "header", "settings": [{"value": "Title"}]},
                {"id": 11, "type": "input", "subtype": "radio", "settings": [{"value": "How?"}, {"value": [{"value": "g", "label": "Good"}]}]},
                {"id": 12, "type": "input", "subtype": "rating", "settings": [
                    {"value": "Rate"}, {"subtype": "min", "value": {"value": 1}}, {"subtype": "max", "value": {"value": 5}}]},
                {"id": "13", "type": "input", "subtype": "textarea", "settings": [{"value": "Why?"}]},
            ]}]}),
        );
        let bearer = format!("Bearer {}", token(&fake).await);
        let form = [KEY, ("authorization", bearer.as_str()), ("content-type", "application/x-www-form-urlencoded")];
        let url = format!("{}/v1/surveys/7/submit", fake.ticketing_url());
        let taken =
            post(&url, &form, "field_answers%5B11%5D=g&field_answers%5B12%5D=5&field_answers%5B13%5D=Quick+%26+kind&token=tok").await;
        assert_eq!(taken.status, 200, "{}", taken.text());
        for refused in [
            "field_answers%5B11%5D=g",                                   // no token
            "field_answers%5B11%5D=g&token=other",                       // another token
            "field_answers%5B11%5D=Good&token=tok",                      // the label, not the value
            "field_answers%5B12%5D=6&token=tok",                         // out of the range
            "field_answers%5B10%5D=x&token=tok",                         // the header
            "field_answers%5B99%5D=x&token=tok",                         // no such item
            "field_answers%5B13%5D=&token=tok",                          // empty
            "field_answers%5B13%5D=a&field_answers%5B13%5D=b&token=tok", // twice
            "answers%5B13%5D=a&token=tok",                               // not field_answers
        ] {
            let answer = post(&url, &form, refused).await;
            assert_eq!((answer.status, answer.json()["errors"][0]["code"].clone()), (400, json!(400)), "{refused}");
        }
        let as_json =
            post(&url, &[KEY, ("authorization", bearer.as_str()), ("content-type", "application/json")], r#"{"token":"tok"}"#).await;
        assert_eq!(as_json.status, 400);
        assert_eq!(
            fake.survey_submissions(),
            vec![(
                "7".to_owned(),
                vec![("11".to_owned(), "g".to_owned()), ("12".to_owned(), "5".to_owned()), ("13".to_owned(), "Quick & kind".to_owned()),]
            )]
        );
        assert_eq!(post(&format!("{}/v1/surveys/8/submit", fake.ticketing_url()), &form, "token=tok").await.status, 404);
    }

    #[tokio::test]
    async fn extra_info_serves_configured_groups_and_404s_the_rest() {
        let fake = FakeInbenta::start().await;
        fake.set_extra_info("phones", json!([{"name": "support", "value": "+1"}]));
        let tok = token(&fake).await;
        let auth = format!("Bearer {tok}");
        let h = [KEY, ("authorization", auth.as_str())];
        let ok = raw_http::get(&format!("{}/v1/app/data/phones", fake.chatbot_url()), &h).await.unwrap();
        assert_eq!((ok.status, ok.json()), (200, json!({"results": [{"name": "support", "value": "+1"}]})));
        let missing = raw_http::get(&format!("{}/v1/app/data/other", fake.chatbot_url()), &h).await.unwrap();
        assert_eq!(missing.status, 404);
        assert_eq!(missing.json(), json!({"errors": [{"message": "Not found", "code": 404}]}));
        let anon = raw_http::get(&format!("{}/v1/app/data/phones", fake.chatbot_url()), &[KEY]).await.unwrap();
        assert_eq!(anon.status, 401);
    }

    #[tokio::test]
    async fn injected_failures_hit_exactly_the_next_n_chatbot_requests() {
        let fake = FakeInbenta::start().await;
        fake.fail_with(503, 2);
        let tok = token(&fake).await; // auth is not affected
        let auth = format!("Bearer {tok}");
        let url = format!("{}/v1/conversation", fake.chatbot_url());
        let first = post(&url, &[KEY, ("authorization", &auth)], "{}").await;
        assert_eq!(first.status, 503);
        assert_eq!(first.json(), json!({"message": "Internal server error"}));
        assert_eq!(post(&url, &[KEY, ("authorization", &auth)], "{}").await.status, 503);
        assert_eq!(post(&url, &[KEY, ("authorization", &auth)], "{}").await.status, 200);

        fake.fail_auth_with(500, 1);
        let auth_url = format!("{}/auth", fake.auth_url());
        assert_eq!(post(&auth_url, &[KEY], "secret=test-inbenta-secret").await.status, 500);
        assert_eq!(post(&auth_url, &[KEY], "secret=test-inbenta-secret").await.status, 200);
    }

    #[tokio::test]
    async fn the_delay_holds_back_chatbot_answers_but_not_auth() {
        let fake = FakeInbenta::start().await;
        let tok = token(&fake).await;
        fake.set_delay(Duration::from_millis(300));
        let started = Instant::now();
        let auth = format!("Bearer {tok}");
        let resp = post(&format!("{}/v1/conversation", fake.chatbot_url()), &[KEY, ("authorization", &auth)], "{}").await;
        assert_eq!(resp.status, 200);
        assert!(started.elapsed() >= Duration::from_millis(300), "answered too early");

        let started = Instant::now();
        token(&fake).await;
        assert!(started.elapsed() < Duration::from_millis(300), "auth should not be delayed");
    }

    #[tokio::test]
    async fn unknown_paths_and_wrong_methods_get_json_errors() {
        let fake = FakeInbenta::start().await;
        let resp = raw_http::get(&format!("{}/nope", fake.base_url()), &[]).await.unwrap();
        assert_eq!(resp.status, 404);
        let resp = raw_http::get(&format!("{}/auth", fake.auth_url()), &[]).await.unwrap();
        assert_eq!(resp.status, 405);
        assert_eq!(fake.count("/nope"), 1);
    }

    #[tokio::test]
    async fn dropping_the_last_handle_stops_the_server() {
        let fake = FakeInbenta::start().await;
        let addr = fake.addr();
        let clone = fake.clone();
        drop(fake);
        assert!(raw_http::get(&format!("http://{addr}/x"), &[]).await.is_ok(), "a clone keeps it alive");
        drop(clone);
        let deadline = Instant::now() + Duration::from_secs(5);
        while tokio::net::TcpStream::connect(addr).await.is_ok() {
            assert!(Instant::now() < deadline, "server still accepting after drop");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
