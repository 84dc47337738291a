//! A fake of Twilio's Messages API (`POST .../Messages.json` to send, `GET` to list, filtered
//! by `To` and `From`, newest first, `PageSize` at most 1000: `twilio_api_v2010.json`
//! operations `CreateMessage` and `ListMessage`), and of the media URLs of
//! inbound messages (`GET .../Messages/{MM}/Media/{ME}`: HTTP Basic auth required, then a
//! redirect to the file's storage, a [`FakeFileHost`] on another port, as Twilio redirects to
//! its CDN).
//!
//! A real HTTP server on `127.0.0.1:<random port>`, so the connector's real
//! HTTP client, Basic auth and form encoding are exercised. It applies the
//! Twilio validation rules the connector could plausibly break (missing
//! fields, 1600-character limit, one media per WhatsApp message, mixed
//! channels) and answers with Twilio's error body shape, so a product bug
//! shows up as the same error it would get in production.
//!
//! Every message create is also checked against Twilio's own schema of its form, the
//! `CreateMessage` request body of `twilio_api_v2010.json` (`twilio/twilio-oai` d50069b,
//! 2026-04-14), vendored in `shared/fakes/specs/twilio_messages_create.json`: each parameter's type
//! (`MediaUrl` a list, `ValidityPeriod` an integer, booleans...), enums, the `ContentSid` pattern
//! and the `uri`/`date-time` formats ([`crate::specs::twilio_message_create`]; answered 400 with
//! code 20001 and the spec's reason). Parameters the spec does not list pass, as Twilio ignores
//! them. Content creates are checked against `ContentCreateRequest` ([`crate::twilio_content`]).

use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, Method, StatusCode, Uri};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::files::FakeFileHost;
pub use crate::recording::Recorded;
use crate::recording::{RequestLog, Subscribers, lock, never_answer, take_armed, take_one};
use crate::server::{RawReply, Reply, Running, Upstream};
use crate::{specs, twilio_content};

/// A message Twilio accepted (answered 201), as the product asked to send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    pub to: String,
    pub from: String,
    /// Empty when the message is media-only.
    pub body: String,
    /// Every `MediaUrl` parameter, in the order sent.
    pub media_urls: Vec<String>,
    /// Where Twilio reports the message's later statuses.
    pub status_callback: Option<String>,
    /// The content it named (`ContentSid`), and that content's `types`.
    pub content: Option<(String, Value)>,
}

impl SentMessage {
    /// The buttons' titles or the list's items of its content, in order.
    pub fn choices(&self) -> Vec<String> {
        let Some((_, types)) = &self.content else { return Vec::new() };
        let quick = types["twilio/quick-reply"]["actions"].as_array().map(|a| a.iter().map(|x| x["title"].clone()).collect::<Vec<_>>());
        let list = types["twilio/list-picker"]["items"].as_array().map(|a| a.iter().map(|x| x["item"].clone()).collect::<Vec<_>>());
        quick.or(list).unwrap_or_default().into_iter().filter_map(|v| v.as_str().map(str::to_owned)).collect()
    }

    /// The tap payload (`id`) of the button or item titled `title`.
    pub fn payload_of(&self, title: &str) -> Option<String> {
        let (_, types) = self.content.as_ref()?;
        ["twilio/quick-reply", "twilio/list-picker"].iter().find_map(|name| {
            let (entries, key) = if *name == "twilio/quick-reply" { ("actions", "title") } else { ("items", "item") };
            types[*name][entries].as_array()?.iter().find(|e| e[key] == title).and_then(|e| e["id"].as_str()).map(str::to_owned)
        })
    }
}

/// A status callback Twilio would post for an accepted message: to `url` (the message's
/// `StatusCallback`, exactly), these form params, signed over `url` with the auth token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCallback {
    pub url: String,
    pub params: Vec<(String, String)>,
}

impl StatusCallback {
    pub fn status(&self) -> &str {
        self.params.iter().find(|(k, _)| k == "MessageStatus").map_or("", |(_, v)| v.as_str())
    }
}

/// Handle to a running fake Twilio. Cheap to clone; the server stops
/// (gracefully) when the last clone is dropped.
#[derive(Clone, Debug)]
pub struct FakeTwilio {
    server: Running<Shared>,
}

struct Shared {
    log: RequestLog,
    state: Mutex<TwilioState>,
    /// Where media URLs redirect to.
    cdn: FakeFileHost,
    /// The only account the fake knows: its SID and auth token.
    account_sid: String,
    auth_token: String,
    /// Told of every accepted message.
    accepted: Subscribers<SentMessage>,
}

/// `remaining` requests fail with `status` (and Twilio `code`) once `after` messages were
/// accepted in all.
#[derive(Clone, Copy)]
struct Failure {
    after: usize,
    status: u16,
    code: Option<u32>,
    remaining: usize,
}

#[derive(Default)]
struct TwilioState {
    messages: Vec<SentMessage>,
    /// The Message resource of each accepted message, as the list returns it.
    resources: Vec<Value>,
    /// Message creates still to take in and never answer nor act on.
    lost: usize,
    /// List requests still to answer 503.
    failing_lists: usize,
    /// Error codes with which the next accepted messages fail after their 201.
    failing_later: Vec<u32>,
    /// Contents made through the Content API: `(sid, types)`.
    contents: Vec<(String, Value)>,
    /// Content creates still to answer 503.
    failing_contents: usize,
    /// The status callbacks of accepted messages, in the order Twilio would post them.
    callbacks: Vec<StatusCallback>,
    /// An injected failure.
    failures: Option<Failure>,
    delay: Duration,
    /// `(hold, remaining)` of accepted sends whose 201 answer is held back.
    late_answers: Option<(Duration, usize)>,
}

impl FakeTwilio {
    /// The account [`FakeTwilio::start`] knows.
    pub const ACCOUNT_SID: &'static str = "AC00000000000000000000000000000000";
    /// The account's auth token (Basic auth password, webhook signing key).
    pub const AUTH_TOKEN: &'static str = "test-twilio-auth-token";
    /// Twilio's limit on a message body, in characters.
    pub const MAX_BODY_CHARS: usize = 1600;

    /// Starts a fake on `127.0.0.1:<random port>` knowing the account [`FakeTwilio::ACCOUNT_SID`]
    /// with [`FakeTwilio::AUTH_TOKEN`].
    pub async fn start() -> Self {
        Self::start_for_account(Self::ACCOUNT_SID, Self::AUTH_TOKEN).await
    }

    /// Starts a fake knowing only the account `account_sid`, with `auth_token`.
    pub async fn start_for_account(account_sid: &str, auth_token: &str) -> Self {
        let cdn = FakeFileHost::start().await;
        let server = Running::start("FakeTwilio", |_| Shared {
            log: RequestLog::default(),
            state: Mutex::new(TwilioState::default()),
            cdn,
            account_sid: account_sid.to_owned(),
            auth_token: auth_token.to_owned(),
            accepted: Subscribers::default(),
        })
        .await;
        Self { server }
    }

    /// The SID of the account the fake knows.
    pub fn account_sid(&self) -> &str {
        &self.server.shared.account_sid
    }

    /// Every message accepted from now on (201 answers only), in order, as it is accepted.
    pub fn subscribe(&self) -> tokio::sync::mpsc::UnboundedReceiver<SentMessage> {
        self.server.shared.accepted.subscribe()
    }

    /// The media URL of an inbound message's file, as Twilio puts it in `MediaUrl0`.
    pub fn add_media(&self, content_type: &str, body: &[u8]) -> String {
        static MEDIA: AtomicU64 = AtomicU64::new(0);
        let n = MEDIA.fetch_add(1, Ordering::Relaxed) + 1;
        let media_sid = format!("ME{n:032x}");
        self.server.shared.cdn.put(&media_sid, content_type, body);
        format!("{}/2010-04-01/Accounts/{}/Messages/MM{n:032x}/Media/{media_sid}", self.base_url(), self.account_sid())
    }

    /// The storage media URLs redirect to.
    pub fn cdn(&self) -> &FakeFileHost {
        &self.server.shared.cdn
    }

    /// Socket address the fake listens on.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// The variables that point the connector at this fake (its Messages and Content APIs) and
    /// name the account; the auth token, which also signs webhooks, is the caller's to set.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("TWILIO_API_URL", self.base_url()),
            ("TWILIO_CONTENT_API_URL", self.base_url()),
            ("TWILIO_ACCOUNT_SID", Self::ACCOUNT_SID.to_owned()),
        ]
    }

    /// `http://127.0.0.1:PORT`; the product posts to
    /// `{base_url}/2010-04-01/Accounts/{AccountSid}/Messages.json`.
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// Full URL of the Messages endpoint of the fake's account.
    pub fn messages_url(&self) -> String {
        format!("{}/2010-04-01/Accounts/{}/Messages.json", self.base_url(), self.account_sid())
    }

    /// Messages accepted so far (201 answers only), in arrival order.
    pub fn messages(&self) -> Vec<SentMessage> {
        lock(&self.server.shared.state).messages.clone()
    }

    /// Polls until at least `n` messages were accepted or `timeout` passes,
    /// then returns all accepted messages — possibly fewer than `n`, so assert
    /// on the length. Needed because the connector may answer Twilio's webhook
    /// before its outbound sends finish.
    pub async fn wait_for_messages(&self, n: usize, timeout: Duration) -> Vec<SentMessage> {
        let deadline = Instant::now() + timeout;
        loop {
            let messages = self.messages();
            if messages.len() >= n || Instant::now() >= deadline {
                return messages;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Every request received, in arrival order, including rejected ones.
    pub fn requests(&self) -> Vec<Recorded> {
        self.server.shared.log.snapshot()
    }

    /// The next `times` requests (to any path, before auth and validation)
    /// fail with HTTP `status` and a Twilio error body: code 20429 for 429,
    /// 20500 for 500, 20503 for 503, otherwise the status itself. An invalid
    /// status code is answered as 500.
    pub fn fail_with(&self, status: u16, times: usize) {
        lock(&self.server.shared.state).failures = Some(Failure { after: 0, status, code: None, remaining: times });
    }

    /// Like [`FakeTwilio::fail_with`], but only once `accepted` messages were accepted in all
    /// (so a turn's later messages fail after its first ones went out).
    pub fn fail_after(&self, accepted: usize, status: u16, times: usize) {
        lock(&self.server.shared.state).failures = Some(Failure { after: accepted, status, code: None, remaining: times });
    }

    /// The next `times` requests are refused with HTTP 400 and this Twilio error code
    /// (21610: the user unsubscribed; 63016: outside the WhatsApp window).
    pub fn refuse_with_code(&self, code: u32, times: usize) {
        lock(&self.server.shared.state).failures = Some(Failure { after: 0, status: 400, code: Some(code), remaining: times });
    }

    /// Every request waits this long before being handled (client timeouts).
    pub fn set_delay(&self, delay: Duration) {
        lock(&self.server.shared.state).delay = delay;
    }

    /// The next `times` messages accepted are recorded as sent, exactly as a
    /// normal 201, but the 201 is held `delay` before it is returned: the
    /// product times out on a message Twilio did send (an ambiguous send).
    /// Rejected requests do not use it up. In [`FakeTwilio::requests`] the
    /// status shows once the answer is returned (`None` if the client hung up).
    pub fn answer_late(&self, delay: Duration, times: usize) {
        lock(&self.server.shared.state).late_answers = Some((delay, times));
    }

    /// The next `times` message creates are read and then neither acted on nor answered (the
    /// connection stays open until the client gives up): a send whose outcome the product
    /// cannot know, and that Twilio never got.
    pub fn lose_requests(&self, times: usize) {
        lock(&self.server.shared.state).lost = times;
    }

    /// The next `times` accepted messages fail after their 201, as Twilio reports WhatsApp and
    /// carrier failures: their status callbacks say `undelivered` with `ErrorCode` `code`
    /// (63016: outside the WhatsApp window; 30003-30008: carrier failures).
    pub fn fail_later(&self, code: u32, times: usize) {
        lock(&self.server.shared.state).failing_later.extend(std::iter::repeat_n(code, times));
    }

    /// The status callbacks Twilio would have posted so far, in order: `sent`, then `delivered`
    /// or `undelivered`, for each accepted message that named a `StatusCallback`.
    pub fn status_callbacks(&self) -> Vec<StatusCallback> {
        lock(&self.server.shared.state).callbacks.clone()
    }

    /// Contents made so far through the Content API: `(sid, types)`.
    pub fn contents(&self) -> Vec<(String, Value)> {
        lock(&self.server.shared.state).contents.clone()
    }

    /// The next `times` content creates are answered 503.
    pub fn fail_contents(&self, times: usize) {
        lock(&self.server.shared.state).failing_contents = times;
    }

    /// The next `times` list requests are answered 503 (code 20503).
    pub fn fail_lists(&self, times: usize) {
        lock(&self.server.shared.state).failing_lists = times;
    }

    /// `GET` requests to the Messages list so far.
    pub fn list_requests(&self) -> Vec<Recorded> {
        self.requests().into_iter().filter(|r| r.method == "GET" && r.path.ends_with("/Messages.json")).collect()
    }
}

// ----- HTTP handling ----------------------------------------------------

/// Twilio's REST error body.
fn twilio_error(status: StatusCode, code: u32, message: &str) -> Reply {
    (
        status,
        json!({
            "code": code,
            "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": status.as_u16(),
        }),
    )
}

fn bad_request(code: u32, message: &str) -> Reply {
    twilio_error(StatusCode::BAD_REQUEST, code, message)
}

fn unauthenticated() -> Reply {
    twilio_error(StatusCode::UNAUTHORIZED, 20003, "Authenticate")
}

/// `POST /v1/Content` (JSON, Basic auth of the account): `twilio_content::validate`, then 201
/// with the Content resource (`content.v1.content`: sid, account_sid, friendly_name, language,
/// variables, types, url, dates, links).
fn create_content(shared: &Shared, method: &Method, headers: &HeaderMap, body: &[u8]) -> Result<Reply, Reply> {
    if method != Method::POST {
        return Err(twilio_error(StatusCode::METHOD_NOT_ALLOWED, 20004, "Method not allowed"));
    }
    check_basic_auth(shared, headers, &shared.account_sid)?;
    let json = headers.get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("application/json"));
    let request: Value = serde_json::from_slice(body).ok().filter(|_| json).ok_or_else(|| bad_request(20001, "The body must be JSON"))?;
    let types = twilio_content::validate(&request).map_err(|reason| bad_request(20001, &reason))?;
    let mut state = lock(&shared.state);
    if take_one(&mut state.failing_contents) {
        return Err(twilio_error(StatusCode::SERVICE_UNAVAILABLE, 20503, "Service Unavailable"));
    }
    let sid = format!("HX{:032x}", state.contents.len() + 1 + usize::try_from(std::process::id()).unwrap_or(0) * 1_000_000);
    state.contents.push((sid.clone(), types.clone()));
    let now = rfc2822_now();
    Ok((
        StatusCode::CREATED,
        json!({
            "sid": sid,
            "account_sid": shared.account_sid,
            "friendly_name": request.get("friendly_name").cloned().unwrap_or(Value::Null),
            "language": request["language"],
            "variables": request.get("variables").cloned().unwrap_or_else(|| json!({})),
            "types": types,
            "url": format!("https://content.twilio.com/v1/Content/{sid}"),
            "date_created": now,
            "date_updated": now,
            "links": {},
        }),
    ))
}

/// `ListMessage`: the accepted messages matching the `To` and `From` filters, newest first,
/// `PageSize` (default 50, at most 1000) of them.
fn list(account_sid: &str, state: &TwilioState, query: &str) -> Result<Value, Reply> {
    let params: Vec<(String, String)> = serde_urlencoded::from_str(query).map_err(|_| bad_request(20001, "Invalid query"))?;
    let known = ["To", "From", "DateSent", "DateSent<", "DateSent>", "PageSize", "Page", "PageToken"];
    if let Some((unknown, _)) = params.iter().find(|(k, _)| !known.contains(&k.as_str())) {
        return Err(bad_request(20001, &format!("Unknown parameter {unknown}")));
    }
    let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let page_size = match param("PageSize") {
        None => 50,
        Some(size) => {
            size.parse::<usize>().ok().filter(|n| (1..=1000).contains(n)).ok_or_else(|| bad_request(20001, "Invalid PageSize"))?
        }
    };
    let matches = |resource: &Value, field: &str, filter: Option<&str>| filter.is_none_or(|wanted| resource[field] == wanted);
    let messages: Vec<Value> = state
        .resources
        .iter()
        .rev()
        .filter(|r| matches(r, "to", param("To")) && matches(r, "from", param("From")))
        .take(page_size)
        .cloned()
        .collect();
    Ok(json!({
        "messages": messages,
        "page": 0,
        "page_size": page_size,
        "start": 0,
        "end": messages.len().saturating_sub(1),
        "first_page_uri": format!("/2010-04-01/Accounts/{account_sid}/Messages.json?PageSize={page_size}&Page=0"),
        "next_page_uri": null,
        "previous_page_uri": null,
        "uri": format!("/2010-04-01/Accounts/{account_sid}/Messages.json?PageSize={page_size}&Page=0"),
    }))
}

async fn route(shared: &Shared, method: &Method, path: &str, query: &str, headers: &HeaderMap, body: &[u8]) -> Result<Reply, Reply> {
    let delay = lock(&shared.state).delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if let Some(Failure { status, code, .. }) = take_injected(&mut lock(&shared.state)) {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let code = code.unwrap_or(match status.as_u16() {
            429 => 20429,
            500 => 20500,
            503 => 20503,
            other => u32::from(other),
        });
        let message = status.canonical_reason().unwrap_or("Error");
        return Err(twilio_error(status, code, message));
    }

    if path == "/v1/Content" {
        return create_content(shared, method, headers, body);
    }
    let segments: Vec<&str> = path.split('/').collect();
    let ["", "2010-04-01", "Accounts", sid, "Messages.json"] = segments.as_slice() else {
        return Err(twilio_error(StatusCode::NOT_FOUND, 20404, "The requested resource was not found"));
    };
    if method == Method::GET {
        check_basic_auth(shared, headers, sid)?;
        let mut state = lock(&shared.state);
        if take_one(&mut state.failing_lists) {
            return Err(twilio_error(StatusCode::SERVICE_UNAVAILABLE, 20503, "Service Unavailable"));
        }
        return Ok((StatusCode::OK, list(&shared.account_sid, &state, query)?));
    }
    if method != Method::POST {
        return Err(twilio_error(StatusCode::METHOD_NOT_ALLOWED, 20004, "Method not allowed"));
    }
    check_basic_auth(shared, headers, sid)?;
    let mut message = validate(body)?;
    if let Some((sid, _)) = &message.content {
        let known = lock(&shared.state).contents.iter().find(|(known, _)| known == sid).cloned();
        let (_, types) = known.ok_or_else(|| twilio_error(StatusCode::NOT_FOUND, 20404, "The Content resource was not found"))?;
        // Twilio's content pages: WhatsApp shows at most 3 quick replies in a session message
        // without approval. (The error code is not documented; 21658 is the fake's.)
        if message.to.starts_with("whatsapp:") && twilio_content::quick_replies(&types) > 3 {
            return Err(bad_request(21658, "In-session WhatsApp quick replies allow at most 3 buttons."));
        }
        message.body = twilio_content::shown_body(&types);
        message.content = Some((sid.clone(), types));
    }
    if take_one(&mut lock(&shared.state).lost) {
        never_answer().await;
        return Err(twilio_error(StatusCode::GATEWAY_TIMEOUT, 20504, "lost"));
    }

    // "SM" + 32 hex digits. The counter is process-wide so SIDs are unique
    // across every fake in a test binary, as real SIDs are globally unique.
    static SIDS_ISSUED: AtomicU64 = AtomicU64::new(0);
    let n = SIDS_ISSUED.fetch_add(1, Ordering::Relaxed) + 1;
    let sid_value = format!("SM{:016x}{:016x}", u64::from(std::process::id()), n);
    let reply = created_body(&shared.account_sid, &sid_value, &message);
    let hold = {
        let mut state = lock(&shared.state);
        if let Some(url) = message.status_callback.clone() {
            let failure = (!state.failing_later.is_empty()).then(|| state.failing_later.remove(0));
            let callback = |status: &str, code: Option<u32>| {
                let mut params: Vec<(String, String)> = [
                    ("AccountSid", shared.account_sid.as_str()),
                    ("ApiVersion", "2010-04-01"),
                    ("From", message.from.as_str()),
                    ("MessageSid", sid_value.as_str()),
                    ("MessageStatus", status),
                    ("SmsSid", sid_value.as_str()),
                    ("SmsStatus", status),
                    ("To", message.to.as_str()),
                ]
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
                params.extend(code.map(|code| ("ErrorCode".to_owned(), code.to_string())));
                StatusCallback { url: url.clone(), params }
            };
            let last = match failure {
                Some(code) => callback("undelivered", Some(code)),
                None => callback("delivered", None),
            };
            state.callbacks.extend([callback("sent", None), last]);
        }
        shared.accepted.notify(&message);
        state.messages.push(message);
        state.resources.push(reply.clone());
        take_armed(&mut state.late_answers)
    };
    if let Some(hold) = hold {
        tokio::time::sleep(hold).await;
    }
    Ok((StatusCode::CREATED, reply))
}

/// The injected failure for this request, if one is due.
fn take_injected(state: &mut TwilioState) -> Option<Failure> {
    let failure = state.failures.filter(|f| state.messages.len() >= f.after && f.remaining > 0)?;
    state.failures = Some(Failure { remaining: failure.remaining - 1, ..failure }).filter(|f| f.remaining > 0);
    Some(failure)
}

/// Requires HTTP Basic `AccountSid:AuthToken` of the fake's account and the same SID in the path.
fn check_basic_auth(shared: &Shared, headers: &HeaderMap, path_sid: &str) -> Result<(), Reply> {
    let encoded = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .map(|(_, creds)| creds.trim())
        .ok_or_else(unauthenticated)?;
    let decoded = STANDARD.decode(encoded).map_err(|_| unauthenticated())?;
    let decoded = String::from_utf8(decoded).map_err(|_| unauthenticated())?;
    let (user, password) = decoded.split_once(':').ok_or_else(unauthenticated)?;
    let valid = user == shared.account_sid && password == shared.auth_token && path_sid == user;
    if valid { Ok(()) } else { Err(unauthenticated()) }
}

/// Applies Twilio's send-time validation, in the order Twilio reports errors.
fn validate(body: &[u8]) -> Result<SentMessage, Reply> {
    let params: Vec<(String, String)> =
        serde_urlencoded::from_bytes(body).map_err(|_| bad_request(21600, "The request body could not be parsed as a form"))?;
    let first = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).filter(|v| !v.is_empty());
    let to = first("To").ok_or_else(|| bad_request(21604, "A 'To' phone number is required."))?;
    let from =
        first("From").ok_or_else(|| bad_request(21603, "A 'From' or 'MessagingServiceSid' parameter is required to send a message."))?;
    let body_text = first("Body").unwrap_or_default();
    let media_urls: Vec<String> = params.iter().filter(|(k, v)| k == "MediaUrl" && !v.is_empty()).map(|(_, v)| v.clone()).collect();
    let content = first("ContentSid");
    if let Some(sid) = &content {
        // `^HX[0-9a-fA-F]{32}$` (twilio_api_v2010.json, ContentSid); a content's text is its
        // own: Body and MediaUrl go without it (the 63016 page, "Possible solutions").
        if !(sid.len() == 34 && sid.starts_with("HX") && sid[2..].chars().all(|c| c.is_ascii_hexdigit())) {
            return Err(bad_request(21655, "ContentSid is invalid."));
        }
        if !body_text.is_empty() || !media_urls.is_empty() {
            return Err(bad_request(21619, "Body and MediaUrl are not sent with a ContentSid."));
        }
    } else if body_text.is_empty() && media_urls.is_empty() {
        return Err(bad_request(21602, "Message body is required."));
    }
    if body_text.chars().count() > FakeTwilio::MAX_BODY_CHARS {
        return Err(bad_request(21617, "The concatenated message body exceeds the 1600 character limit."));
    }
    let to_whatsapp = to.starts_with("whatsapp:");
    if to_whatsapp != from.starts_with("whatsapp:") {
        return Err(bad_request(21910, "Invalid From and To pair. From and To should be of the same channel."));
    }
    if to_whatsapp && media_urls.len() > 1 {
        return Err(bad_request(21623, "WhatsApp allows one media per message"));
    }
    let status_callback = first("StatusCallback");
    if let Some(url) = &status_callback {
        let absolute = url.parse::<Uri>().is_ok_and(|u| matches!(u.scheme_str(), Some("http" | "https")) && u.authority().is_some());
        if !absolute {
            return Err(bad_request(21609, "The StatusCallback URL is not a valid URL."));
        }
    }
    // Then Twilio's own schema of the form (`CreateMessage`, shared/fakes/specs/): every parameter's
    // type, enum, pattern and format. The code is the fake's: Twilio documents none for these.
    specs::twilio_message_create(&params).map_err(|reason| bad_request(20001, &reason))?;
    Ok(SentMessage { to, from, body: body_text, media_urls, status_callback, content: content.map(|sid| (sid, Value::Null)) })
}

/// The 201 body, shaped like Twilio's Message resource.
fn created_body(account: &str, sid: &str, m: &SentMessage) -> Value {
    let now = rfc2822_now();
    json!({
        "account_sid": account,
        "api_version": "2010-04-01",
        "body": m.body,
        "date_created": now,
        "date_sent": null,
        "date_updated": now,
        "direction": "outbound-api",
        "error_code": null,
        "error_message": null,
        "from": m.from,
        "messaging_service_sid": null,
        "num_media": m.media_urls.len().to_string(),
        "num_segments": "1",
        "price": null,
        "price_unit": "USD",
        "sid": sid,
        "status": "queued",
        "subresource_uris": {
            "media": format!("/2010-04-01/Accounts/{account}/Messages/{sid}/Media.json")
        },
        "to": m.to,
        "uri": format!("/2010-04-01/Accounts/{account}/Messages/{sid}.json"),
    })
}

/// Current UTC time as Twilio formats dates (`Thu, 30 Jul 2015 20:12:31 +0000`).
fn rfc2822_now() -> String {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    rfc2822(secs)
}

fn rfc2822(unix: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let days = unix / 86_400;
    let rem = unix % 86_400;
    // Civil-from-days (Howard Hinnant), valid for all dates after 1970.
    let z = days as i64 + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} +0000",
        DAYS[(days % 7) as usize],
        day,
        MONTHS[(month - 1) as usize],
        year,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

impl Upstream for Shared {
    fn log(&self) -> &RequestLog {
        &self.log
    }

    async fn answer(&self, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Result<Reply, Reply> {
        route(self, method, uri.path(), uri.query().unwrap_or_default(), headers, body).await
    }

    /// A media URL: the account's Basic auth, then a redirect to the storage.
    fn file(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> Option<RawReply> {
        let segments: Vec<&str> = uri.path().split('/').collect();
        let ["", "2010-04-01", "Accounts", sid, "Messages", _, "Media", media_sid] = segments.as_slice() else { return None };
        if method != Method::GET {
            return None;
        }
        Some(match check_basic_auth(self, headers, sid) {
            Ok(()) => RawReply::redirect(self.cdn.url_of(media_sid)),
            Err((status, body)) => RawReply { status, headers: Vec::new(), body: body.to_string().into() },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raw_http::{self, HttpResponse};

    fn basic(user: &str, password: &str) -> String {
        format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
    }

    fn form(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    async fn send(fake: &FakeTwilio, params: &[(&str, &str)]) -> HttpResponse {
        let auth = basic(FakeTwilio::ACCOUNT_SID, FakeTwilio::AUTH_TOKEN);
        raw_http::post_form(&fake.messages_url(), &[("authorization", &auth)], &form(params)).await.expect("request to fake")
    }

    #[tokio::test]
    async fn a_valid_sms_is_accepted_with_a_twilio_shaped_body_and_recorded() {
        let fake = FakeTwilio::start().await;
        let resp = send(&fake, &[("To", "+34600000001"), ("From", "+15550001111"), ("Body", "Hola ñ & co")]).await;
        assert_eq!(resp.status, 201, "{}", resp.text());
        let body = resp.json();
        assert_eq!(body["status"], "queued");
        assert_eq!(body["to"], "+34600000001");
        assert_eq!(body["from"], "+15550001111");
        assert_eq!(body["body"], "Hola ñ & co");
        assert_eq!(body["num_media"], "0");
        let sid = body["sid"].as_str().expect("sid");
        assert!(sid.starts_with("SM") && sid.len() == 34, "{sid}");
        assert_eq!(
            fake.messages(),
            vec![SentMessage {
                to: "+34600000001".into(),
                from: "+15550001111".into(),
                body: "Hola ñ & co".into(),
                media_urls: vec![],
                status_callback: None,
                content: None
            }]
        );
        let second = send(&fake, &[("To", "+3"), ("From", "+1"), ("Body", "x")]).await;
        assert_ne!(second.json()["sid"], body["sid"], "sids are unique");
    }

    /// A fake started for another account knows that one only: its SID in the path and Basic
    /// auth with its token.
    #[tokio::test]
    async fn a_fake_for_another_account_takes_that_account_only() {
        const SID: &str = "AC22222222222222222222222222222222";
        let fake = FakeTwilio::start_for_account(SID, "another-token").await;
        assert_eq!(fake.account_sid(), SID);
        assert!(fake.messages_url().contains(SID));
        let params = form(&[("To", "+3"), ("From", "+1"), ("Body", "x")]);
        let ours = raw_http::post_form(&fake.messages_url(), &[("authorization", &basic(SID, "another-token"))], &params).await.unwrap();
        assert_eq!(ours.status, 201, "{}", ours.text());
        assert_eq!(ours.json()["account_sid"], SID);
        assert_eq!(send(&fake, &[("To", "+3"), ("From", "+1"), ("Body", "x")]).await.status, 401, "the default account is unknown");
    }

    /// Subscribers get each accepted message as it is accepted; refused requests and messages
    /// accepted before subscribing are not sent, and a dropped subscription is forgotten.
    #[tokio::test]
    async fn subscribers_are_told_of_each_accepted_message() {
        let fake = FakeTwilio::start().await;
        assert_eq!(send(&fake, &[("To", "+3"), ("From", "+1"), ("Body", "before")]).await.status, 201);
        let (mut first, mut second) = (fake.subscribe(), fake.subscribe());
        assert_eq!(send(&fake, &[("To", "+3"), ("From", "+1")]).await.status, 400);
        assert_eq!(send(&fake, &[("To", "+3"), ("From", "+1"), ("Body", "after")]).await.status, 201);
        for subscription in [&mut first, &mut second] {
            let told = subscription.try_recv().expect("told before the 201");
            assert_eq!((told.to.as_str(), told.body.as_str()), ("+3", "after"));
            assert!(subscription.try_recv().is_err(), "one message only");
        }
        drop(first);
        assert_eq!(send(&fake, &[("To", "+3"), ("From", "+1"), ("Body", "again")]).await.status, 201);
        assert_eq!(second.try_recv().expect("still subscribed").body, "again");
    }

    #[tokio::test]
    async fn wrong_credentials_or_account_get_twilios_20003_error() {
        let fake = FakeTwilio::start().await;
        let params = form(&[("To", "+3"), ("From", "+1"), ("Body", "x")]);
        for auth in [
            basic(FakeTwilio::ACCOUNT_SID, "wrong"),
            basic("AC11111111111111111111111111111111", FakeTwilio::AUTH_TOKEN),
            "Bearer abc".to_owned(),
            "Basic !!!notbase64".to_owned(),
        ] {
            let resp = raw_http::post_form(&fake.messages_url(), &[("authorization", &auth)], &params).await.unwrap();
            assert_eq!(resp.status, 401, "{auth}");
            assert_eq!(
                resp.json(),
                json!({"code": 20003, "message": "Authenticate",
                       "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401})
            );
        }
        let no_auth = raw_http::post_form(&fake.messages_url(), &[], &params).await.unwrap();
        assert_eq!(no_auth.status, 401);

        // Right credentials, but another account's URL.
        let other = fake.messages_url().replace(FakeTwilio::ACCOUNT_SID, "AC11111111111111111111111111111111");
        let auth = basic(FakeTwilio::ACCOUNT_SID, FakeTwilio::AUTH_TOKEN);
        let resp = raw_http::post_form(&other, &[("authorization", &auth)], &params).await.unwrap();
        assert_eq!(resp.status, 401);
        assert!(fake.messages().is_empty());
        assert_eq!(fake.requests().len(), 6);
    }

    #[tokio::test]
    async fn missing_fields_get_twilios_validation_codes() {
        let fake = FakeTwilio::start().await;
        let cases: [(&[(&str, &str)], u64); 4] = [
            (&[("From", "+1"), ("Body", "x")], 21604),
            (&[("To", "+3"), ("Body", "x")], 21603),
            (&[("To", "+3"), ("From", "+1")], 21602),
            (&[("To", "+3"), ("From", "+1"), ("Body", "")], 21602),
        ];
        for (params, code) in cases {
            let resp = send(&fake, params).await;
            assert_eq!(resp.status, 400, "{params:?}");
            let body = resp.json();
            assert_eq!(body["code"], code, "{params:?}: {body}");
            assert_eq!(body["status"], 400);
            assert!(body["message"].is_string() && body["more_info"].is_string());
        }
        assert!(fake.messages().is_empty());
    }

    #[tokio::test]
    async fn bodies_are_limited_to_1600_characters_not_bytes() {
        let fake = FakeTwilio::start().await;
        let exactly = "ñ".repeat(1600); // 3200 bytes
        let ok = send(&fake, &[("To", "+3"), ("From", "+1"), ("Body", &exactly)]).await;
        assert_eq!(ok.status, 201);
        let over = "a".repeat(1601);
        let resp = send(&fake, &[("To", "+3"), ("From", "+1"), ("Body", &over)]).await;
        assert_eq!(resp.status, 400);
        assert_eq!(resp.json()["code"], 21617);
        assert_eq!(fake.messages().len(), 1);
    }

    #[tokio::test]
    async fn repeated_media_urls_are_kept_for_sms_but_whatsapp_allows_only_one() {
        let fake = FakeTwilio::start().await;
        let sms = send(&fake, &[("To", "+3"), ("From", "+1"), ("MediaUrl", "https://a/1.png"), ("MediaUrl", "https://a/2.png")]).await;
        assert_eq!(sms.status, 201, "{}", sms.text());
        assert_eq!(sms.json()["num_media"], "2");
        assert_eq!(fake.messages()[0].media_urls, vec!["https://a/1.png", "https://a/2.png"]);
        assert_eq!(fake.messages()[0].body, "");

        let wa = [("To", "whatsapp:+3"), ("From", "whatsapp:+1"), ("MediaUrl", "https://a/1.png"), ("MediaUrl", "https://a/2.png")];
        let resp = send(&fake, &wa).await;
        assert_eq!(resp.status, 400);
        assert_eq!(resp.json()["code"], 21623);
        let one = send(&fake, &wa[..3]).await;
        assert_eq!(one.status, 201);

        let mixed = send(&fake, &[("To", "whatsapp:+3"), ("From", "+1"), ("Body", "x")]).await;
        assert_eq!(mixed.status, 400);
        assert_eq!(mixed.json()["code"], 21910);
        assert_eq!(fake.messages().len(), 2);
    }

    #[tokio::test]
    async fn injected_failures_hit_the_next_n_sends_then_stop() {
        let fake = FakeTwilio::start().await;
        fake.fail_with(429, 1);
        let params = [("To", "+3"), ("From", "+1"), ("Body", "x")];
        let first = send(&fake, &params).await;
        assert_eq!(first.status, 429);
        assert_eq!(first.json()["code"], 20429);
        assert_eq!(first.json()["status"], 429);
        assert_eq!(send(&fake, &params).await.status, 201);
        assert_eq!(fake.messages().len(), 1);
        let statuses: Vec<Option<u16>> = fake.requests().iter().map(|r| r.status).collect();
        assert_eq!(statuses, vec![Some(429), Some(201)]);
    }

    #[tokio::test]
    async fn wait_for_messages_returns_once_enough_arrived_or_at_the_timeout() {
        let fake = FakeTwilio::start().await;
        let sender = fake.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            send(&sender, &[("To", "+3"), ("From", "+1"), ("Body", "late")]).await;
        });
        let got = fake.wait_for_messages(1, Duration::from_secs(5)).await;
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].body, "late");

        let started = Instant::now();
        let got = fake.wait_for_messages(2, Duration::from_millis(150)).await;
        assert_eq!(got.len(), 1);
        assert!(started.elapsed() >= Duration::from_millis(150));
    }

    #[tokio::test]
    async fn the_delay_holds_back_answers() {
        let fake = FakeTwilio::start().await;
        fake.set_delay(Duration::from_millis(200));
        let started = Instant::now();
        assert_eq!(send(&fake, &[("To", "+3"), ("From", "+1"), ("Body", "x")]).await.status, 201);
        assert!(started.elapsed() >= Duration::from_millis(200));
    }

    #[tokio::test]
    async fn a_late_answer_is_still_a_sent_message_and_only_the_next_n_are_late() {
        let fake = FakeTwilio::start().await;
        fake.answer_late(Duration::from_millis(500), 1);
        let params = [("To", "+3"), ("From", "+1"), ("Body", "x")];

        // A rejected request does not use up the late answer.
        let rejected = send(&fake, &[("To", "+3"), ("From", "+1")]).await;
        assert_eq!(rejected.status, 400);

        let gave_up = tokio::time::timeout(Duration::from_millis(150), send(&fake, &params)).await;
        assert!(gave_up.is_err(), "the 201 should have been held");
        assert_eq!(fake.messages().len(), 1, "accepted before the answer was held");
        assert_eq!(fake.messages()[0].body, "x");

        let started = Instant::now();
        let next = send(&fake, &params).await;
        assert_eq!(next.status, 201);
        assert!(started.elapsed() < Duration::from_millis(400));
        assert_eq!(fake.messages().len(), 2);
    }

    #[tokio::test]
    async fn a_client_that_waits_gets_the_late_201_after_the_delay() {
        let fake = FakeTwilio::start().await;
        fake.answer_late(Duration::from_millis(200), 2);
        for _ in 0..2 {
            let started = Instant::now();
            let resp = send(&fake, &[("To", "+3"), ("From", "+1"), ("Body", "x")]).await;
            assert_eq!(resp.status, 201);
            assert!(resp.json()["sid"].is_string());
            assert!(started.elapsed() >= Duration::from_millis(200));
        }
        let statuses: Vec<Option<u16>> = fake.requests().iter().map(|r| r.status).collect();
        assert_eq!(statuses, vec![Some(201), Some(201)]);
    }

    #[tokio::test]
    async fn other_paths_get_404_and_malformed_forms_get_400() {
        let fake = FakeTwilio::start().await;
        let resp = raw_http::get(&format!("{}/2010-04-01/Accounts", fake.base_url()), &[]).await.unwrap();
        assert_eq!(resp.status, 404);
        let auth = basic(FakeTwilio::ACCOUNT_SID, FakeTwilio::AUTH_TOKEN);
        let resp = raw_http::send("POST", &fake.messages_url(), &[("authorization", &auth)], b"To=%ZZ&\xff=1").await.unwrap();
        assert_eq!(resp.status / 100, 4, "{}", resp.text());
    }

    #[tokio::test]
    async fn a_message_twilios_own_schema_refuses_gets_a_400_naming_the_parameter() {
        let fake = FakeTwilio::start().await;
        let base = [("To", "+3"), ("From", "+1"), ("Body", "x")];
        for (extra, field) in [
            (("ValidityPeriod", "soon"), "/ValidityPeriod"),
            (("ProvideFeedback", "yes"), "/ProvideFeedback"),
            (("TrafficType", "bulk"), "/TrafficType"),
            (("SendAt", "tomorrow"), "/SendAt"),
            (("Body", "again"), "/Body"),
        ] {
            let resp = send(&fake, &[base[0], base[1], base[2], extra]).await;
            assert_eq!(resp.status, 400, "{extra:?}");
            let body = resp.json();
            assert_eq!(body["code"], 20001, "{extra:?}: {body}");
            assert!(body["message"].as_str().is_some_and(|m| m.contains("twilio_api_v2010.json") && m.contains(field)), "{body}");
        }
        // What the spec allows, and parameters it does not list (Twilio ignores them), pass.
        let resp = send(&fake, &[base[0], base[1], base[2], ("ValidityPeriod", "600"), ("ShortenUrls", "true"), ("Unlisted", "1")]).await;
        assert_eq!(resp.status, 201, "{}", resp.text());
        assert_eq!(fake.messages().len(), 1);
    }

    #[test]
    fn dates_are_formatted_like_twilios() {
        assert_eq!(rfc2822(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(rfc2822(1_438_287_151), "Thu, 30 Jul 2015 20:12:31 +0000");
        assert_eq!(rfc2822(951_782_400), "Tue, 29 Feb 2000 00:00:00 +0000");
    }
}
