//! A fake of Meta's Graph API for Messenger (the Send API and user profiles),
//! and builders plus a signer for the webhooks Meta posts to us.
//!
//! # The fake ([`FakeGraph`])
//!
//! A real HTTP server on `127.0.0.1:<random port>`, so the connector's real
//! HTTP client, query-string token and JSON bodies are exercised. Routes
//! (`{version}` is a Graph version such as `v27.0`, recorded as asked and as
//! served, see "Versions" below):
//!
//! | route | answers |
//! |---|---|
//! | `POST /{version}/me/messages?access_token=<token>` (also `/{version}/`[`PAGE_ID`]`/messages`) | `{"recipient_id","message_id":"m_..."}`, or `{"recipient_id"}` for a sender action |
//! | `GET  /{version}/{psid}?fields=first_name,last_name&access_token=<token>` | the profile set with [`FakeGraph::set_profile`] |
//!
//! Every error is Graph's envelope
//! `{"error":{"message","type","code","error_subcode"?,"fbtrace_id"}}`, HTTP 400
//! unless a failure was injected. A request is handled in this order: delay,
//! injected failure, route, token, method, body. What is enforced:
//!
//! * the token: `access_token` in the query must be [`PAGE_TOKEN`] (or one
//!   added with [`FakeGraph::add_page_token`]); a wrong one gets code 190
//!   `Invalid OAuth access token.`, a missing one code 2500.
//! * the body must be JSON (`Content-Type: application/json`; Graph would
//!   read anything else as a form and find no `recipient`).
//! * `recipient.id` is required; exactly one of `message` and `sender_action`.
//! * `sender_action` is `typing_on|typing_off|mark_seen`; sender actions are
//!   recorded apart from messages ([`FakeGraph::sender_actions`]).
//! * with `message`: `messaging_type` is `RESPONSE|UPDATE|MESSAGE_TAG`, `tag`
//!   is required with `MESSAGE_TAG` (one of [`MESSAGE_TAGS`]) and refused
//!   otherwise; `notification_type`, if any, is `REGULAR|SILENT_PUSH|NO_PUSH`.
//! * Meta's limits (code 100, type `OAuthException`): exactly one of `text`
//!   (1..=[`MAX_TEXT_CHARS`] characters) and `attachment`; at most
//!   [`MAX_QUICK_REPLIES`] quick replies, `content_type`
//!   `text|user_phone_number|user_email`, a `text` one with a title of
//!   1..=[`MAX_TITLE_CHARS`] characters and a payload of 1..=[`MAX_PAYLOAD_CHARS`];
//!   `metadata` at most [`MAX_METADATA_CHARS`]; attachments `image|audio|video|file`
//!   need `payload.url` (http/https) or `payload.attachment_id`; the button
//!   template needs `text` of 1..=[`MAX_BUTTON_TEXT_CHARS`] characters and
//!   1..=[`MAX_BUTTONS`] buttons; the generic template 1..=10 elements (title
//!   and subtitle at most 80 characters, at most 3 buttons each); a button's
//!   title is 1..=[`MAX_TITLE_CHARS`] characters, a `postback` one needs a
//!   payload (at most [`MAX_PAYLOAD_CHARS`]), a `web_url` one an http/https `url`,
//!   a `phone_number` one a `+` number. Keys the fake does not know inside
//!   `message`, a quick reply or a button are refused too, so a typo in the
//!   product shows up instead of being silently dropped.
//! * the messaging window: per PSID the fake knows when the user last wrote
//!   ([`FakeGraph::user_wrote`], [`FakeGraph::set_window_closed`]; by default
//!   the window is open for everyone). `RESPONSE`/`UPDATE` more than 24 h
//!   after it, and `MESSAGE_TAG` `HUMAN_AGENT` more than 7 days after it, get
//!   code 10, subcode 2018278. The other tags are not limited; nor are sender
//!   actions.
//! * a blocked user ([`FakeGraph::block`]) gets code 551 `This person isn't
//!   available right now.` for messages and sender actions alike.
//! * a page Meta restricted ([`FakeGraph::restrict_page`]) gets code 10,
//!   subcode 1893063 for every message to anyone until it is lifted
//!   ([`FakeGraph::lift_page_restriction`]). Source: Meta's Messenger Platform
//!   changelog, 25 June 2026: "Added Messenger Platform error code 10/1893063
//!   for Pages temporarily restricted from sending messages". The changelog
//!   gives no message text (the fake's is its own; the product never reads
//!   it) and says nothing of sender actions, which the fake still accepts.
//!   [`FakeGraph::refuse_with_subcode`] injects it (or any code and subcode)
//!   for a number of requests instead.
//!
//! ## Versions
//!
//! The version in the path is checked against [`GRAPH_VERSIONS`], Meta's table
//! of Graph API versions with their release and "available until" dates
//! (https://developers.facebook.com/docs/graph-api/changelog/versions, as
//! updated 29 October 2026, with v27.0 of 4 November 2026), on the fake's day
//! ([`FakeGraph::set_today`], by default the real one):
//!
//! * a version released and not past its "available until" date is served as
//!   it is;
//! * a version past that date is **not refused**: Meta's Platform Versioning
//!   page says "For APIs, once a version is no longer usable, any calls made
//!   to it will be defaulted to the next oldest, usable version". The fake
//!   serves it as the oldest usable version and records both
//!   ([`SentMessage::version`], [`SentMessage::served_version`]), so a test
//!   can see that the product asks for a version Meta has retired;
//! * a version Meta never released (by that day) is refused with code 2500
//!   `Unknown path components`, as the fake's other unknown paths are. No
//!   Meta document says what Graph answers there; refusing makes a typo in
//!   the configuration fail a test instead of passing silently.
//!
//! Not enforced: anything about `persona_id`, `/` vs `%2F` in payloads,
//! permissions, behaviour that differs between versions.
//!
//! # Webhooks (Meta calls us)
//!
//! [`Event`] builds one `messaging[]` item (a text, a quick-reply tap, a
//! postback, an attachment, an echo, a delivery or read receipt), [`Entry`]
//! puts several events of one page into one `entry[]` item, and
//! [`webhook_body`] puts entries into the `{"object":"page","entry":[...]}`
//! envelope. Bodies come out exactly as Meta sends them: no whitespace,
//! keys in the documented order, and every non-ASCII character escaped as a
//! lowercase `\uXXXX` (surrogate pairs beyond the BMP), `/` as `\/`. So a
//! product that re-serialises the JSON before checking the signature fails,
//! as it would in production. [`sign`] computes both signature headers with
//! HMAC over the raw bytes, independently of the product; its unit test is
//! the worked example of `upstream-apis.md` §2.3.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, Method, StatusCode, Uri};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Map, Value, json};

pub use crate::recording::Recorded;
use crate::recording::{RequestLog, Subscribers, lock, take_armed};
use crate::server::{Reply, Running, Upstream};

/// The page access token the fake accepts (`?access_token=`).
pub const PAGE_TOKEN: &str = "test-page-access-token";
/// The app secret webhooks are signed with (the value of the worked example
/// in `upstream-apis.md` §2.3).
pub const APP_SECRET: &str = "test_app_secret";
/// The verify token of the webhook subscription (`hub.verify_token`).
pub const VERIFY_TOKEN: &str = "test-verify-token";
/// The page the webhooks come from and the Send API speaks for.
pub const PAGE_ID: &str = "106000000000001";
/// The app id echoes carry by default.
pub const APP_ID: u64 = 1_517_776_481_860_111;

/// Longest `message.text`, in characters (Meta: "under 2000"; 2000 is accepted).
pub const MAX_TEXT_CHARS: usize = 2000;
/// Most quick replies in one message.
pub const MAX_QUICK_REPLIES: usize = 13;
/// Longest quick-reply or button title, in characters.
pub const MAX_TITLE_CHARS: usize = 20;
/// Longest quick-reply or postback payload, in characters.
pub const MAX_PAYLOAD_CHARS: usize = 1000;
/// Longest `text` of a button template, in characters.
pub const MAX_BUTTON_TEXT_CHARS: usize = 640;
/// Most buttons in a button template (or a generic template element).
pub const MAX_BUTTONS: usize = 3;
/// Longest `message.metadata`, in characters.
pub const MAX_METADATA_CHARS: usize = 1000;
/// The tags the fake accepts with `messaging_type: MESSAGE_TAG`.
pub const MESSAGE_TAGS: [&str; 4] = ["CONFIRMED_EVENT_UPDATE", "POST_PURCHASE_UPDATE", "ACCOUNT_UPDATE", "HUMAN_AGENT"];
/// How long after the user's last message `RESPONSE`/`UPDATE` may be sent.
pub const STANDARD_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// How long after the user's last message `HUMAN_AGENT` may be sent.
pub const HUMAN_AGENT_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);

/// A message the fake accepted (answered 200), as the product sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    /// `recipient.id`.
    pub psid: String,
    /// `RESPONSE`, `UPDATE` or `MESSAGE_TAG`.
    pub messaging_type: String,
    pub tag: Option<String>,
    /// The `message` object exactly as sent.
    pub message: Value,
    /// The Graph version of the path, as the product asked for it (`v27.0`).
    pub version: String,
    /// The version Meta would have served it with: [`SentMessage::version`]
    /// itself, or the oldest usable one when that one is retired.
    pub served_version: String,
    /// The `message_id` the fake answered with.
    pub message_id: String,
}

impl SentMessage {
    /// `message.text`, if the message is a text.
    pub fn text(&self) -> Option<&str> {
        self.message.get("text").and_then(Value::as_str)
    }

    /// Titles of the quick replies, in order (empty if there are none).
    pub fn quick_reply_titles(&self) -> Vec<&str> {
        let replies = self.message.get("quick_replies").and_then(Value::as_array);
        replies.into_iter().flatten().filter_map(|q| q.get("title").and_then(Value::as_str)).collect()
    }

    /// The buttons of a button template, in order (empty for anything else).
    pub fn buttons(&self) -> Vec<&Value> {
        let buttons = self.message.pointer("/attachment/payload/buttons").and_then(Value::as_array);
        buttons.into_iter().flatten().collect()
    }
}

/// A sender action the fake accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderAction {
    pub psid: String,
    /// `typing_on`, `typing_off` or `mark_seen`.
    pub action: String,
    /// As for [`SentMessage::version`].
    pub version: String,
    /// As for [`SentMessage::served_version`].
    pub served_version: String,
}

/// Handle to a running fake Graph API. Cheap to clone; the server stops
/// (gracefully) when the last clone is dropped.
#[derive(Clone, Debug)]
pub struct FakeGraph {
    server: Running<Shared>,
}

struct Shared {
    log: RequestLog,
    state: Mutex<GraphState>,
    /// Told of every accepted message.
    accepted: Subscribers<SentMessage>,
}

/// `remaining` requests fail with `status` (and Graph `code` and `subcode`)
/// once `after` messages were accepted in all.
#[derive(Clone, Copy)]
struct Failure {
    after: usize,
    status: u16,
    code: Option<u32>,
    subcode: Option<u32>,
    remaining: usize,
}

#[derive(Default)]
struct GraphState {
    /// Tokens accepted beside [`PAGE_TOKEN`].
    extra_tokens: Vec<String>,
    messages: Vec<SentMessage>,
    actions: Vec<SenderAction>,
    /// When each PSID last wrote; `None` is "too long ago for any window".
    /// A PSID not in the map has an open window.
    last_wrote: HashMap<String, Option<SystemTime>>,
    blocked: HashSet<String>,
    /// Meta restricted the page from sending messages (10/1893063).
    page_restricted: bool,
    /// The day versions are served for; `None` is the real day.
    today: Option<Day>,
    /// `psid -> (first_name, last_name)`.
    profiles: HashMap<String, (String, String)>,
    failures: Option<Failure>,
    delay: Duration,
    /// `(hold, remaining)` of accepted messages whose 200 answer is held back.
    late_answers: Option<(Duration, usize)>,
}

impl FakeGraph {
    /// Starts a fake on `127.0.0.1:<random port>`: every window open, nobody
    /// blocked, no profiles.
    pub async fn start() -> Self {
        let server = Running::start("FakeGraph", |_| Shared {
            log: RequestLog::default(),
            state: Mutex::new(GraphState::default()),
            accepted: Subscribers::default(),
        })
        .await;
        Self { server }
    }

    /// Every message accepted from now on (not sender actions), in order, as it is accepted.
    pub fn subscribe(&self) -> tokio::sync::mpsc::UnboundedReceiver<SentMessage> {
        self.server.shared.accepted.subscribe()
    }

    /// Socket address the fake listens on.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// The variables that point the connector at this fake, with the app's and page's
    /// credentials.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("GRAPH_API_URL", self.url()),
            ("MESSENGER_APP_SECRET", APP_SECRET.to_owned()),
            ("MESSENGER_VERIFY_TOKEN", VERIFY_TOKEN.to_owned()),
            ("MESSENGER_PAGE_TOKEN", PAGE_TOKEN.to_owned()),
        ]
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash; the product posts to
    /// `{url}/{version}/me/messages?access_token=...`.
    pub fn url(&self) -> String {
        self.server.base_url()
    }

    /// The Send API URL for `version` (`v27.0`) with [`PAGE_TOKEN`].
    pub fn messages_url(&self, version: &str) -> String {
        format!("{}/{version}/me/messages?access_token={PAGE_TOKEN}", self.url())
    }

    /// Accepts `token` too (a second page, a rotated token).
    pub fn add_page_token(&self, token: &str) {
        lock(&self.server.shared.state).extra_tokens.push(token.to_owned());
    }

    /// Messages accepted so far (200 answers only), in arrival order.
    pub fn messages(&self) -> Vec<SentMessage> {
        lock(&self.server.shared.state).messages.clone()
    }

    /// Polls until at least `n` messages were accepted or `timeout` passes,
    /// then returns all accepted messages (possibly fewer than `n`: assert on
    /// the length).
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

    /// Sender actions accepted so far, in arrival order.
    pub fn sender_actions(&self) -> Vec<SenderAction> {
        lock(&self.server.shared.state).actions.clone()
    }

    /// Every request received, in arrival order, including rejected ones.
    pub fn requests(&self) -> Vec<Recorded> {
        self.server.shared.log.snapshot()
    }

    // ----- users ----------------------------------------------------------

    /// `psid` last wrote at `at`: its 24-hour and 7-day windows count from there.
    pub fn user_wrote(&self, psid: &str, at: SystemTime) {
        lock(&self.server.shared.state).last_wrote.insert(psid.to_owned(), Some(at));
    }

    /// `psid` has not written for longer than any window (24 h and 7 days both closed).
    pub fn set_window_closed(&self, psid: &str) {
        lock(&self.server.shared.state).last_wrote.insert(psid.to_owned(), None);
    }

    /// Every send to `psid` gets code 551 (the user blocked the page or deleted the account).
    pub fn block(&self, psid: &str) {
        lock(&self.server.shared.state).blocked.insert(psid.to_owned());
    }

    /// The profile `GET /{version}/{psid}` answers.
    pub fn set_profile(&self, psid: &str, first_name: &str, last_name: &str) {
        lock(&self.server.shared.state).profiles.insert(psid.to_owned(), (first_name.to_owned(), last_name.to_owned()));
    }

    // ----- failures -------------------------------------------------------

    /// The next `times` requests (to any route, before the token and the
    /// body are checked) fail with HTTP `status` and a Graph error body:
    /// code 4 (rate limit) for 429, code 2 (temporary) for 500 and 503,
    /// otherwise code 1. An invalid status is answered as 500.
    pub fn fail_with(&self, status: u16, times: usize) {
        lock(&self.server.shared.state).failures = Some(Failure { after: 0, status, code: None, subcode: None, remaining: times });
    }

    /// Like [`FakeGraph::fail_with`] with this Graph `code` (613: the other rate limit).
    pub fn fail_with_code(&self, status: u16, code: u32, times: usize) {
        lock(&self.server.shared.state).failures = Some(Failure { after: 0, status, code: Some(code), subcode: None, remaining: times });
    }

    /// Like [`FakeGraph::fail_with`], but only once `accepted` messages were
    /// accepted in all (sender actions do not count).
    pub fn fail_after(&self, accepted: usize, status: u16, times: usize) {
        lock(&self.server.shared.state).failures = Some(Failure { after: accepted, status, code: None, subcode: None, remaining: times });
    }

    /// The next `times` requests are refused with HTTP 400 and this Graph
    /// code (190 bad token, 551 unavailable user, 10 outside the window —
    /// with subcode 2018278, 613 rate limit, ...).
    pub fn refuse_with_code(&self, code: u32, times: usize) {
        lock(&self.server.shared.state).failures =
            Some(Failure { after: 0, status: 400, code: Some(code), subcode: None, remaining: times });
    }

    /// Like [`FakeGraph::refuse_with_code`] with this `error_subcode` too
    /// (10 and 1893063: the page is temporarily restricted from sending).
    pub fn refuse_with_subcode(&self, code: u32, subcode: u32, times: usize) {
        let failure = Failure { after: 0, status: 400, code: Some(code), subcode: Some(subcode), remaining: times };
        lock(&self.server.shared.state).failures = Some(failure);
    }

    /// Meta restricts the page from sending messages: every message, to
    /// anyone, gets code 10, subcode 1893063 until
    /// [`FakeGraph::lift_page_restriction`].
    pub fn restrict_page(&self) {
        lock(&self.server.shared.state).page_restricted = true;
    }

    /// Meta lifts the page's restriction.
    pub fn lift_page_restriction(&self) {
        lock(&self.server.shared.state).page_restricted = false;
    }

    /// The day versions are served for (`(2026, 12, 7)`), instead of the real
    /// one: a test of retired versions stays true after the dates pass.
    pub fn set_today(&self, (year, month, day): (i32, u32, u32)) {
        lock(&self.server.shared.state).today = Some(Day::from_civil(year, month, day));
    }

    /// Every request waits this long before being handled (client timeouts).
    pub fn set_delay(&self, delay: Duration) {
        lock(&self.server.shared.state).delay = delay;
    }

    /// The next `times` messages accepted are recorded as sent, exactly as a
    /// normal 200, but the answer is held `delay` before it is returned: the
    /// product times out on a message Meta did deliver. Rejected requests and
    /// sender actions do not use it up.
    pub fn answer_late(&self, delay: Duration, times: usize) {
        lock(&self.server.shared.state).late_answers = Some((delay, times));
    }
}

// ----- HTTP handling ----------------------------------------------------

/// Graph's error envelope.
fn graph_error(status: StatusCode, kind: &str, code: u32, subcode: Option<u32>, message: &str) -> Reply {
    static TRACES: AtomicU64 = AtomicU64::new(0);
    let trace = TRACES.fetch_add(1, Ordering::Relaxed) + 1;
    let mut error = json!({"message": message, "type": kind, "code": code, "fbtrace_id": format!("AFake{trace:07}")});
    if let Some(subcode) = subcode {
        error["error_subcode"] = json!(subcode);
    }
    if matches!(code, 2 | 4 | 17 | 613 | 1200) {
        error["is_transient"] = json!(true);
    }
    (status, json!({ "error": error }))
}

/// Code 100, the answer to every invalid parameter.
fn invalid(message: impl AsRef<str>) -> Reply {
    graph_error(StatusCode::BAD_REQUEST, "OAuthException", 100, None, message.as_ref())
}

/// The message and subcode Graph sends with `code`.
fn known_error(code: u32) -> (String, Option<u32>) {
    let message = match code {
        1 => "An unknown error occurred",
        2 => "An unexpected error has occurred. Please retry your request later.",
        4 => "(#4) Application request limit reached",
        10 => return ("(#10) This message is sent outside of allowed window.".to_owned(), Some(2_018_278)),
        100 => "(#100) Invalid parameter",
        190 => "Invalid OAuth access token.",
        200 => "(#200) Requires pages_messaging permission to manage the object",
        551 => "(#551) This person isn't available right now.",
        613 => "(#613) Calls to this api have exceeded the rate limit.",
        1200 => "Temporary send message failure. Please try again later",
        other => return (format!("(#{other}) Refused by the fake"), None),
    };
    (message.to_owned(), None)
}

/// `code`'s error, with its usual subcode unless `subcode` names another.
fn coded_error(status: StatusCode, code: u32, subcode: Option<u32>) -> Reply {
    let (message, usual) = known_error(code);
    let message = match (code, subcode) {
        // Meta's changelog gives only the number and the meaning; the wording is the fake's.
        (10, Some(PAGE_RESTRICTED_SUBCODE)) => "(#10) This Page is temporarily restricted from sending messages.".to_owned(),
        _ => message,
    };
    graph_error(status, "OAuthException", code, subcode.or(usual), &message)
}

/// `vNN.N`.
fn is_version(segment: &str) -> bool {
    let Some((major, minor)) = segment.strip_prefix('v').and_then(|v| v.split_once('.')) else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(major) && digits(minor)
}

/// The subcode of code 10 for a page Meta temporarily restricted from sending
/// messages (Messenger Platform changelog, 25 June 2026).
pub const PAGE_RESTRICTED_SUBCODE: u32 = 1_893_063;

/// A day, as days since 1970-01-01.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Day(i64);

impl Day {
    /// From a calendar date (the days-from-civil algorithm of H. Hinnant's
    /// "chrono-Compatible Low-Level Date Algorithms").
    const fn from_civil(year: i32, month: u32, day: u32) -> Self {
        let year = if month <= 2 { year as i64 - 1 } else { year as i64 };
        let era = if year >= 0 { year } else { year - 399 } / 400;
        let year_of_era = year - era * 400;
        let month = month as i64;
        let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day as i64 - 1;
        let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
        Self(era * 146_097 + day_of_era - 719_468)
    }

    fn today() -> Self {
        let seconds = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        Self(i64::try_from(seconds / 86_400).unwrap_or(i64::MAX))
    }
}

/// One row of Meta's "Available Graph API Versions" table.
#[derive(Debug, Clone, Copy)]
pub struct GraphVersion {
    /// `v27.0`.
    pub name: &'static str,
    /// Released (Meta's "Date Introduced"), `(year, month, day)`.
    pub released: (i32, u32, u32),
    /// Meta's "Available Until": from that day on, calls to it are served by
    /// the oldest usable version. `None` is Meta's "TBD".
    pub available_until: Option<(i32, u32, u32)>,
}

const fn version(name: &'static str, released: (i32, u32, u32), available_until: Option<(i32, u32, u32)>) -> GraphVersion {
    GraphVersion { name, released, available_until }
}

/// Meta's table of Graph API versions, newest first: "Available Graph API
/// Versions" of https://developers.facebook.com/docs/graph-api/changelog
/// (the copy updated 29 October 2026) and the older rows of
/// https://developers.facebook.com/docs/graph-api/changelog/versions. Meta's
/// Platform Versioning page: "A version will no longer be usable two years
/// after the date that the subsequent version is released" (so v26.0, "TBD"
/// here, should last until 4 November 2028). Add a row when Meta releases a
/// version: until then the fake refuses it.
pub const GRAPH_VERSIONS: &[GraphVersion] = &[
    version("v27.0", (2026, 11, 4), None),
    version("v26.0", (2026, 7, 29), None),
    version("v25.0", (2026, 2, 18), Some((2028, 7, 29))),
    version("v24.0", (2025, 10, 8), Some((2028, 2, 18))),
    version("v23.0", (2025, 5, 29), Some((2027, 10, 8))),
    version("v22.0", (2025, 1, 21), Some((2027, 5, 20))),
    version("v21.0", (2024, 10, 2), Some((2027, 1, 21))),
    version("v20.0", (2024, 5, 21), Some((2026, 9, 24))),
    version("v19.0", (2024, 1, 23), Some((2026, 5, 21))),
    version("v18.0", (2023, 9, 12), Some((2026, 1, 26))),
    version("v17.0", (2023, 5, 23), Some((2025, 9, 12))),
    version("v16.0", (2023, 2, 2), Some((2025, 5, 14))),
    version("v15.0", (2022, 9, 15), Some((2024, 11, 20))),
    version("v14.0", (2022, 5, 25), Some((2024, 9, 17))),
    version("v13.0", (2022, 2, 8), Some((2024, 5, 28))),
    version("v12.0", (2021, 9, 14), Some((2024, 2, 8))),
    version("v11.0", (2021, 6, 8), Some((2023, 9, 14))),
    version("v10.0", (2021, 2, 23), Some((2023, 6, 8))),
    version("v9.0", (2020, 11, 10), Some((2023, 2, 23))),
    version("v8.0", (2020, 8, 4), Some((2022, 11, 1))),
    version("v7.0", (2020, 5, 5), Some((2022, 8, 4))),
    version("v6.0", (2020, 2, 3), Some((2022, 5, 5))),
    version("v5.0", (2019, 10, 29), Some((2022, 2, 3))),
    version("v4.0", (2019, 7, 29), Some((2021, 11, 2))),
    version("v3.3", (2019, 4, 30), Some((2021, 8, 3))),
    version("v3.2", (2018, 10, 23), Some((2021, 5, 4))),
    version("v3.1", (2018, 7, 26), Some((2020, 10, 27))),
    version("v3.0", (2018, 5, 1), Some((2020, 7, 28))),
    version("v2.12", (2018, 1, 30), Some((2020, 5, 5))),
    version("v2.11", (2017, 11, 7), Some((2020, 1, 28))),
    version("v2.10", (2017, 7, 18), Some((2019, 11, 7))),
    version("v2.9", (2017, 4, 18), Some((2019, 7, 22))),
    version("v2.8", (2016, 10, 5), Some((2019, 4, 18))),
    version("v2.7", (2016, 7, 13), Some((2018, 10, 5))),
    version("v2.6", (2016, 4, 12), Some((2018, 7, 13))),
    version("v2.5", (2015, 10, 7), Some((2018, 4, 12))),
    version("v2.4", (2015, 7, 8), Some((2017, 10, 9))),
    version("v2.3", (2015, 3, 25), Some((2017, 7, 10))),
    version("v2.2", (2014, 10, 30), Some((2017, 3, 27))),
    version("v2.1", (2014, 8, 7), Some((2016, 10, 31))),
    version("v2.0", (2014, 4, 30), Some((2016, 8, 8))),
];

impl GraphVersion {
    fn released_by(&self, day: Day) -> bool {
        let (year, month, date) = self.released;
        Day::from_civil(year, month, date) <= day
    }

    /// Released and not yet past its "available until" day.
    fn usable_on(&self, day: Day) -> bool {
        self.released_by(day) && self.available_until.is_none_or(|(year, month, date)| day < Day::from_civil(year, month, date))
    }
}

/// The versions Meta serves on `(year, month, day)`, newest first.
pub fn usable_versions((year, month, day): (i32, u32, u32)) -> Vec<&'static str> {
    let day = Day::from_civil(year, month, day);
    GRAPH_VERSIONS.iter().filter(|v| v.usable_on(day)).map(|v| v.name).collect()
}

/// The version Meta serves a call to `asked` with on `day` (see "Versions" in
/// the module's documentation); `None` for a version Meta never released.
fn served_version(asked: &str, day: Day) -> Option<&'static str> {
    let known = GRAPH_VERSIONS.iter().find(|v| v.name == asked && v.released_by(day))?;
    if known.usable_on(day) {
        return Some(known.name);
    }
    // The table is newest first: the last usable row is the oldest usable version.
    GRAPH_VERSIONS.iter().rev().find(|v| v.usable_on(day)).map(|v| v.name)
}

async fn route(shared: &Shared, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Result<Reply, Reply> {
    let delay = lock(&shared.state).delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if let Some(Failure { status, code, subcode, .. }) = take_injected(&mut lock(&shared.state)) {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let code = code.unwrap_or(match status.as_u16() {
            429 => 4,
            500 | 503 => 2,
            _ => 1,
        });
        return Err(coded_error(status, code, subcode));
    }

    let path = uri.path();
    let query: Vec<(String, String)> = serde_urlencoded::from_str(uri.query().unwrap_or_default()).unwrap_or_default();
    let param = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let segments: Vec<&str> = path.split('/').collect();
    let unknown_path = || graph_error(StatusCode::BAD_REQUEST, "OAuthException", 2500, None, &format!("Unknown path components: {path}"));
    let today = lock(&shared.state).today.unwrap_or_else(Day::today);
    let versions = |asked: &str| served_version(asked, today).map(|served| Version { asked: asked.to_owned(), served });
    match segments.as_slice() {
        ["", version, node, "messages"] if is_version(version) && (*node == "me" || *node == PAGE_ID) => {
            let version = versions(version).ok_or_else(unknown_path)?;
            check_token(shared, param("access_token"))?;
            if method != Method::POST {
                return Err(invalid(format!("(#100) Unsupported {method} request on {path}")));
            }
            send(shared, &version, headers, body).await
        }
        ["", version, psid] if is_version(version) && !psid.is_empty() => {
            versions(version).ok_or_else(unknown_path)?;
            check_token(shared, param("access_token"))?;
            if method != Method::GET {
                return Err(invalid(format!("(#100) Unsupported {method} request on {path}")));
            }
            profile(shared, psid, param("fields"))
        }
        _ => Err(unknown_path()),
    }
}

/// The version a call asked for and the one Meta serves it with.
struct Version {
    asked: String,
    served: &'static str,
}

/// The injected failure for this request, if one is due (uses it up).
fn take_injected(state: &mut GraphState) -> Option<Failure> {
    let failure = state.failures.filter(|f| state.messages.len() >= f.after && f.remaining > 0)?;
    state.failures = Some(Failure { remaining: failure.remaining - 1, ..failure }).filter(|f| f.remaining > 0);
    Some(failure)
}

fn check_token(shared: &Shared, token: Option<&str>) -> Result<(), Reply> {
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Err(graph_error(
            StatusCode::BAD_REQUEST,
            "OAuthException",
            2500,
            None,
            "An active access token must be used to query information about the current user.",
        ));
    };
    let known = token == PAGE_TOKEN || lock(&shared.state).extra_tokens.iter().any(|t| t == token);
    if known { Ok(()) } else { Err(coded_error(StatusCode::BAD_REQUEST, 190, None)) }
}

/// `POST /{version}/me/messages`.
async fn send(shared: &Shared, version: &Version, headers: &HeaderMap, body: &[u8]) -> Result<Reply, Reply> {
    let json_body = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().to_ascii_lowercase().starts_with("application/json"));
    if !json_body {
        return Err(invalid("(#100) The parameter recipient is required (the body is not application/json)"));
    }
    let request: Map<String, Value> =
        serde_json::from_slice(body).map_err(|e| invalid(format!("(#100) The request body is not a JSON object: {e}")))?;
    let psid = match request.get("recipient").and_then(|r| r.get("id")) {
        Some(Value::String(id)) if !id.is_empty() => id.clone(),
        Some(Value::Number(id)) => id.to_string(),
        _ => return Err(invalid("(#100) The parameter recipient is required")),
    };
    let present = |key: &str| request.get(key).filter(|v| !v.is_null());
    match (present("message"), present("sender_action")) {
        (Some(_), Some(_)) => Err(invalid("(#100) Only one of message and sender_action may be specified")),
        (None, None) => Err(invalid("(#100) Either message or sender_action must be specified")),
        (None, Some(action)) => {
            let action = action.as_str().filter(|a| matches!(*a, "typing_on" | "typing_off" | "mark_seen"));
            let action = action.ok_or_else(|| invalid("(#100) Param sender_action must be one of {typing_on, typing_off, mark_seen}"))?;
            let mut state = lock(&shared.state);
            if state.blocked.contains(&psid) {
                return Err(coded_error(StatusCode::BAD_REQUEST, 551, None));
            }
            let (asked, served) = (version.asked.clone(), version.served.to_owned());
            state.actions.push(SenderAction { psid: psid.clone(), action: action.to_owned(), version: asked, served_version: served });
            Ok((StatusCode::OK, json!({ "recipient_id": psid })))
        }
        (Some(message), None) => {
            let (messaging_type, tag) = check_messaging_type(&request)?;
            if let Some(kind) = present("notification_type") {
                if !matches!(kind.as_str(), Some("REGULAR" | "SILENT_PUSH" | "NO_PUSH")) {
                    return Err(invalid("(#100) Param notification_type must be one of {REGULAR, SILENT_PUSH, NO_PUSH}"));
                }
            }
            check_message(message)?;
            accept(shared, version, psid, messaging_type, tag, message.clone()).await
        }
    }
}

/// `messaging_type` and `tag` of a message.
fn check_messaging_type(request: &Map<String, Value>) -> Result<(String, Option<String>), Reply> {
    let messaging_type = match request.get("messaging_type") {
        None | Some(Value::Null) => return Err(invalid("(#100) The parameter messaging_type is required")),
        Some(Value::String(t)) if matches!(t.as_str(), "RESPONSE" | "UPDATE" | "MESSAGE_TAG") => t.clone(),
        Some(_) => return Err(invalid("(#100) Param messaging_type must be one of {RESPONSE, UPDATE, MESSAGE_TAG}")),
    };
    let tag = request.get("tag").filter(|v| !v.is_null());
    let tag = match (messaging_type.as_str(), tag) {
        ("MESSAGE_TAG", None) => return Err(invalid("(#100) The parameter tag is required with messaging_type MESSAGE_TAG")),
        ("MESSAGE_TAG", Some(tag)) => match tag.as_str() {
            Some(tag) if MESSAGE_TAGS.contains(&tag) => Some(tag.to_owned()),
            _ => return Err(invalid(format!("(#100) Param tag must be one of {{{}}}", MESSAGE_TAGS.join(", ")))),
        },
        (_, Some(_)) => return Err(invalid("(#100) Param tag is only allowed with messaging_type MESSAGE_TAG")),
        (_, None) => None,
    };
    Ok((messaging_type, tag))
}

/// Records an accepted message after the user and window checks.
async fn accept(
    shared: &Shared,
    version: &Version,
    psid: String,
    messaging_type: String,
    tag: Option<String>,
    message: Value,
) -> Result<Reply, Reply> {
    // Process-wide so ids are unique across every fake in a test binary.
    static MIDS_ISSUED: AtomicU64 = AtomicU64::new(0);
    let (reply, hold) = {
        let mut state = lock(&shared.state);
        if state.page_restricted {
            return Err(coded_error(StatusCode::BAD_REQUEST, 10, Some(PAGE_RESTRICTED_SUBCODE)));
        }
        if state.blocked.contains(&psid) {
            return Err(coded_error(StatusCode::BAD_REQUEST, 551, None));
        }
        let window = match (messaging_type.as_str(), tag.as_deref()) {
            ("MESSAGE_TAG", Some("HUMAN_AGENT")) => Some(HUMAN_AGENT_WINDOW),
            ("MESSAGE_TAG", _) => None,
            _ => Some(STANDARD_WINDOW),
        };
        if let Some(window) = window {
            if !window_open(state.last_wrote.get(&psid), window) {
                return Err(coded_error(StatusCode::BAD_REQUEST, 10, None));
            }
        }
        let n = MIDS_ISSUED.fetch_add(1, Ordering::Relaxed) + 1;
        let message_id = format!("m_AFake{:08x}{n:012x}", std::process::id());
        let reply = json!({ "recipient_id": psid, "message_id": message_id });
        let (asked, served) = (version.asked.clone(), version.served.to_owned());
        let sent = SentMessage { psid, messaging_type, tag, message, version: asked, served_version: served, message_id };
        shared.accepted.notify(&sent);
        state.messages.push(sent);
        (reply, take_armed(&mut state.late_answers))
    };
    if let Some(hold) = hold {
        tokio::time::sleep(hold).await;
    }
    Ok((StatusCode::OK, reply))
}

/// Whether a window of `length` from the user's last message is still open.
fn window_open(last_wrote: Option<&Option<SystemTime>>, length: Duration) -> bool {
    match last_wrote {
        None => true,
        Some(None) => false,
        Some(Some(at)) => match SystemTime::now().duration_since(*at) {
            Ok(age) => age <= length,
            // Written "in the future": the window is open.
            Err(_) => true,
        },
    }
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// Refuses keys of `object` outside `known` (`what` names it in the error).
fn only_known_keys(object: &Map<String, Value>, known: &[&str], what: &str) -> Result<(), Reply> {
    match object.keys().find(|k| !known.contains(&k.as_str())) {
        Some(key) => Err(invalid(format!("(#100) Param {what}[{key}] is not a valid parameter"))),
        None => Ok(()),
    }
}

/// A string field of 1..=`max` characters.
fn bounded<'a>(object: &'a Map<String, Value>, key: &str, max: usize, what: &str) -> Result<&'a str, Reply> {
    match object.get(key).and_then(Value::as_str) {
        None | Some("") => Err(invalid(format!("(#100) Param {what}[{key}] must be a non-empty string"))),
        Some(s) if chars(s) > max => Err(invalid(format!("(#100) Length of param {what}[{key}] must be less than or equal to {max}"))),
        Some(s) => Ok(s),
    }
}

fn is_http_url(s: &str) -> bool {
    s.strip_prefix("https://").or_else(|| s.strip_prefix("http://")).is_some_and(|rest| !rest.is_empty())
}

/// Meta's rules for the `message` object.
fn check_message(message: &Value) -> Result<(), Reply> {
    let message = message.as_object().ok_or_else(|| invalid("(#100) Param message must be a JSON object"))?;
    only_known_keys(message, &["text", "attachment", "quick_replies", "metadata"], "message")?;
    let has = |key: &str| message.get(key).is_some_and(|v| !v.is_null());
    match (has("text"), has("attachment")) {
        (true, true) => return Err(invalid("(#100) Only one of message[text] and message[attachment] may be specified")),
        (false, false) => return Err(invalid("(#100) Message must have either message[text] or message[attachment]")),
        (true, false) => {
            bounded(message, "text", MAX_TEXT_CHARS, "message")?;
        }
        (false, true) => check_attachment(&message["attachment"])?,
    }
    if let Some(metadata) = message.get("metadata").filter(|v| !v.is_null()) {
        match metadata.as_str() {
            Some(m) if chars(m) <= MAX_METADATA_CHARS => {}
            _ => {
                return Err(invalid(format!("(#100) Param message[metadata] must be a string of at most {MAX_METADATA_CHARS} characters")));
            }
        }
    }
    if let Some(replies) = message.get("quick_replies").filter(|v| !v.is_null()) {
        let replies = replies.as_array().ok_or_else(|| invalid("(#100) Param message[quick_replies] must be an array"))?;
        if replies.len() > MAX_QUICK_REPLIES {
            return Err(invalid(format!("(#100) Param message[quick_replies] must have at most {MAX_QUICK_REPLIES} elements")));
        }
        replies.iter().try_for_each(check_quick_reply)?;
    }
    Ok(())
}

fn check_quick_reply(reply: &Value) -> Result<(), Reply> {
    const WHAT: &str = "message[quick_replies][]";
    let reply = reply.as_object().ok_or_else(|| invalid(format!("(#100) Param {WHAT} must be a JSON object")))?;
    only_known_keys(reply, &["content_type", "title", "payload", "image_url"], WHAT)?;
    match reply.get("content_type").and_then(Value::as_str) {
        Some("text") => {
            bounded(reply, "title", MAX_TITLE_CHARS, WHAT)?;
            bounded(reply, "payload", MAX_PAYLOAD_CHARS, WHAT)?;
            Ok(())
        }
        Some("user_phone_number" | "user_email") => Ok(()),
        _ => Err(invalid(format!("(#100) Param {WHAT}[content_type] must be one of {{text, user_phone_number, user_email}}"))),
    }
}

fn check_attachment(attachment: &Value) -> Result<(), Reply> {
    const WHAT: &str = "message[attachment]";
    let attachment = attachment.as_object().ok_or_else(|| invalid(format!("(#100) Param {WHAT} must be a JSON object")))?;
    let payload = attachment
        .get("payload")
        .and_then(Value::as_object)
        .ok_or_else(|| invalid(format!("(#100) Param {WHAT}[payload] must be a JSON object")))?;
    match attachment.get("type").and_then(Value::as_str) {
        Some("image" | "audio" | "video" | "file") => {
            let url = payload.get("url").and_then(Value::as_str).is_some_and(is_http_url);
            let id = payload.get("attachment_id").and_then(Value::as_str).is_some_and(|id| !id.is_empty());
            if url || id {
                Ok(())
            } else {
                Err(invalid(format!("(#100) Param {WHAT}[payload][url] must be a valid URL (or give attachment_id)")))
            }
        }
        Some("template") => match payload.get("template_type").and_then(Value::as_str) {
            Some("button") => {
                const BUTTON: &str = "message[attachment][payload]";
                bounded(payload, "text", MAX_BUTTON_TEXT_CHARS, BUTTON)?;
                let buttons = payload.get("buttons").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
                if buttons.is_empty() || buttons.len() > MAX_BUTTONS {
                    return Err(invalid(format!("(#100) Param {BUTTON}[buttons] must have between 1 and {MAX_BUTTONS} elements")));
                }
                buttons.iter().try_for_each(check_button)
            }
            Some("generic") => check_generic(payload),
            other => Err(invalid(format!("(#100) Param {WHAT}[payload][template_type] {other:?} is not supported by the fake"))),
        },
        _ => Err(invalid(format!("(#100) Param {WHAT}[type] must be one of {{image, audio, video, file, template}}"))),
    }
}

fn check_generic(payload: &Map<String, Value>) -> Result<(), Reply> {
    const WHAT: &str = "message[attachment][payload][elements][]";
    let elements = payload.get("elements").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
    if elements.is_empty() || elements.len() > 10 {
        return Err(invalid("(#100) Param message[attachment][payload][elements] must have between 1 and 10 elements"));
    }
    for element in elements {
        let element = element.as_object().ok_or_else(|| invalid(format!("(#100) Param {WHAT} must be a JSON object")))?;
        bounded(element, "title", 80, WHAT)?;
        if element.get("subtitle").is_some_and(|s| !s.is_null()) {
            bounded(element, "subtitle", 80, WHAT)?;
        }
        let buttons = element.get("buttons").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
        if buttons.len() > MAX_BUTTONS {
            return Err(invalid(format!("(#100) Param {WHAT}[buttons] must have at most {MAX_BUTTONS} elements")));
        }
        buttons.iter().try_for_each(check_button)?;
    }
    Ok(())
}

fn check_button(button: &Value) -> Result<(), Reply> {
    const WHAT: &str = "buttons[]";
    let button = button.as_object().ok_or_else(|| invalid(format!("(#100) Param {WHAT} must be a JSON object")))?;
    let known = ["type", "title", "payload", "url", "webview_height_ratio", "messenger_extensions", "fallback_url", "webview_share_button"];
    only_known_keys(button, &known, WHAT)?;
    bounded(button, "title", MAX_TITLE_CHARS, WHAT)?;
    match button.get("type").and_then(Value::as_str) {
        Some("postback") => bounded(button, "payload", MAX_PAYLOAD_CHARS, WHAT).map(drop),
        Some("web_url") => match button.get("url").and_then(Value::as_str) {
            Some(url) if is_http_url(url) => Ok(()),
            _ => Err(invalid(format!("(#100) Param {WHAT}[url] must be a valid URL"))),
        },
        Some("phone_number") => match button.get("payload").and_then(Value::as_str) {
            Some(number) if number.starts_with('+') && number.len() > 1 => Ok(()),
            _ => Err(invalid(format!("(#100) Param {WHAT}[payload] must be a phone number starting with +"))),
        },
        other => Err(invalid(format!("(#100) Param {WHAT}[type] {other:?} is not supported by the fake"))),
    }
}

/// `GET /{version}/{psid}?fields=...`.
fn profile(shared: &Shared, psid: &str, fields: Option<&str>) -> Result<Reply, Reply> {
    let Some((first, last)) = lock(&shared.state).profiles.get(psid).cloned() else {
        let message = format!(
            "Unsupported get request. Object with ID '{psid}' does not exist, cannot be loaded due to missing permissions, \
             or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api"
        );
        return Err(graph_error(StatusCode::BAD_REQUEST, "GraphMethodException", 100, Some(33), &message));
    };
    let mut answer = Map::new();
    for field in fields.unwrap_or("name").split(',').map(str::trim).filter(|f| !f.is_empty()) {
        let value = match field {
            "first_name" => first.clone(),
            "last_name" => last.clone(),
            "name" => format!("{first} {last}"),
            "id" => psid.to_owned(),
            other => return Err(invalid(format!("(#100) Tried accessing nonexisting field ({other}) on node type (User)"))),
        };
        answer.insert(field.to_owned(), Value::String(value));
    }
    answer.insert("id".to_owned(), Value::String(psid.to_owned()));
    Ok((StatusCode::OK, Value::Object(answer)))
}

impl Upstream for Shared {
    fn log(&self) -> &RequestLog {
        &self.log
    }

    async fn answer(&self, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Result<Reply, Reply> {
        route(self, method, uri, headers, body).await
    }
}

// ----- webhooks -----------------------------------------------------------

/// JSON with keys kept in the order given, written the way Meta writes it.
#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    /// A number, as its literal text.
    Number(String),
    Str(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

fn s(value: &str) -> Json {
    Json::Str(value.to_owned())
}

fn n(value: u64) -> Json {
    Json::Number(value.to_string())
}

fn obj<const N: usize>(fields: [(&str, Json); N]) -> Json {
    Json::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

impl Json {
    fn from_value(value: &Value) -> Self {
        match value {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Number(n) => Json::Number(n.to_string()),
            Value::String(s) => Json::Str(s.clone()),
            Value::Array(items) => Json::Array(items.iter().map(Json::from_value).collect()),
            Value::Object(map) => Json::Object(map.iter().map(|(k, v)| (k.clone(), Json::from_value(v))).collect()),
        }
    }

    fn write(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Number(n) => out.push_str(n),
            Json::Str(s) => out.push_str(&ascii_json_string(s)),
            Json::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            Json::Object(fields) => {
                out.push('{');
                for (i, (key, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&ascii_json_string(key));
                    out.push(':');
                    value.write(out);
                }
                out.push('}');
            }
        }
    }
}

/// `text` as a JSON string literal (quotes included) the way Meta writes it:
/// pure ASCII, every non-ASCII character as a lowercase `\uXXXX` (a surrogate
/// pair beyond the BMP), `/` as `\/`, control characters escaped.
pub fn ascii_json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' => out.push_str("\\/"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
    out
}

/// Any JSON value written the way Meta writes it (see [`ascii_json_string`];
/// object keys in the value's own order).
pub fn to_ascii_json(value: &Value) -> String {
    let mut out = String::new();
    Json::from_value(value).write(&mut out);
    out
}

/// One `entry[].messaging[]` item of a webhook. The page's id (its
/// `recipient.id`, or `sender.id` for an echo) comes from the [`Entry`] it is
/// put in.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    psid: String,
    /// An echo is sent by the page to the user.
    from_page: bool,
    timestamp: Option<u64>,
    /// The event's own field (`message`, `postback`, `delivery`, ...) and body.
    field: String,
    body: Json,
}

impl Event {
    fn new(psid: &str, timestamp: Option<u64>, field: &str, body: Json) -> Self {
        Self { psid: psid.to_owned(), from_page: false, timestamp, field: field.to_owned(), body }
    }

    /// The user wrote `text`: `"message":{"mid","text"}`.
    pub fn text(psid: &str, mid: &str, text: &str, timestamp_ms: u64) -> Self {
        Self::new(psid, Some(timestamp_ms), "message", obj([("mid", s(mid)), ("text", s(text))]))
    }

    /// The user tapped a quick reply: `"message":{"mid","text":title,"quick_reply":{"payload"}}`.
    pub fn quick_reply(psid: &str, mid: &str, title: &str, payload: &str, timestamp_ms: u64) -> Self {
        let body = obj([("mid", s(mid)), ("text", s(title)), ("quick_reply", obj([("payload", s(payload))]))]);
        Self::new(psid, Some(timestamp_ms), "message", body)
    }

    /// The user tapped a postback button: `"postback":{"mid"?,"title","payload"}`
    /// (older webhooks and "Get Started" taps have no `mid`).
    pub fn postback(psid: &str, title: &str, payload: &str, mid: Option<&str>, timestamp_ms: u64) -> Self {
        let mut fields = Vec::new();
        if let Some(mid) = mid {
            fields.push(("mid".to_owned(), s(mid)));
        }
        fields.extend([("title".to_owned(), s(title)), ("payload".to_owned(), s(payload))]);
        Self::new(psid, Some(timestamp_ms), "postback", Json::Object(fields))
    }

    /// The user sent an image: `"message":{"mid","attachments":[{"type":"image","payload":{"url"}}]}`.
    pub fn image(psid: &str, mid: &str, url: &str, timestamp_ms: u64) -> Self {
        Self::attachment(psid, mid, "image", url, timestamp_ms)
    }

    /// The user sent one attachment of `kind` (`image|audio|video|file|...`) at `url`.
    pub fn attachment(psid: &str, mid: &str, kind: &str, url: &str, timestamp_ms: u64) -> Self {
        let attachment = obj([("type", s(kind)), ("payload", obj([("url", s(url))]))]);
        Self::new(psid, Some(timestamp_ms), "message", obj([("mid", s(mid)), ("attachments", Json::Array(vec![attachment]))]))
    }

    /// The user sent a sticker, as Meta sends one since 30 August 2026: one
    /// `sticker` attachment, its picture at `payload.url`, with its
    /// `sticker_id`. Source: Meta's messages webhook reference ("Sticker
    /// attachment type transition") and Messenger changelog of 1 June 2026.
    /// The reference's example shows `payload.url`; that `sticker_id` sits in
    /// the payload beside it is our reading of "with sticker_id metadata".
    pub fn sticker(psid: &str, mid: &str, url: &str, sticker_id: u64, timestamp_ms: u64) -> Self {
        let body = obj([("mid", s(mid)), ("attachments", Json::Array(vec![sticker_attachment(url, sticker_id)]))]);
        Self::new(psid, Some(timestamp_ms), "message", body)
    }

    /// A sticker as Meta sent one from 1 June to 30 August 2026: the old
    /// `image` attachment of the same sticker (with `sticker_id` in its payload
    /// and on the message, as before) beside the new `sticker` one.
    pub fn sticker_in_transition(psid: &str, mid: &str, url: &str, sticker_id: u64, timestamp_ms: u64) -> Self {
        let image = obj([("type", s("image")), ("payload", obj([("url", s(url)), ("sticker_id", n(sticker_id))]))]);
        let attachments = Json::Array(vec![image, sticker_attachment(url, sticker_id)]);
        let body = obj([("mid", s(mid)), ("sticker_id", n(sticker_id)), ("attachments", attachments)]);
        Self::new(psid, Some(timestamp_ms), "message", body)
    }

    /// The echo of a message the page (app `app_id`, e.g. [`APP_ID`]) sent to
    /// `psid`: sender is the page, recipient the user,
    /// `"message":{"is_echo":true,"app_id","mid","text"}`.
    pub fn echo(psid: &str, mid: &str, text: &str, app_id: u64, timestamp_ms: u64) -> Self {
        let body = obj([("is_echo", Json::Bool(true)), ("app_id", n(app_id)), ("mid", s(mid)), ("text", s(text))]);
        Self { from_page: true, ..Self::new(psid, Some(timestamp_ms), "message", body) }
    }

    /// Messages `mids` were delivered to `psid`: `"delivery":{"mids":[...],"watermark"}`.
    /// Like Meta's documented example, the event has no `timestamp`.
    pub fn delivery(psid: &str, mids: &[&str], watermark_ms: u64) -> Self {
        let body = obj([("mids", Json::Array(mids.iter().map(|m| s(m)).collect())), ("watermark", n(watermark_ms))]);
        Self::new(psid, None, "delivery", body)
    }

    /// `psid` read everything sent up to `watermark_ms`: `"read":{"watermark"}`.
    pub fn read(psid: &str, watermark_ms: u64, timestamp_ms: u64) -> Self {
        Self::new(psid, Some(timestamp_ms), "read", obj([("watermark", n(watermark_ms))]))
    }

    /// Any other event (`standby`, `referral`, `reaction`, ...): `field` with
    /// `body` (keys in `body`'s order).
    pub fn other(psid: &str, field: &str, body: &Value, timestamp_ms: u64) -> Self {
        Self::new(psid, Some(timestamp_ms), field, Json::from_value(body))
    }

    fn to_json(&self, page_id: &str) -> Json {
        let (sender, recipient) = if self.from_page { (page_id, self.psid.as_str()) } else { (self.psid.as_str(), page_id) };
        let mut fields = vec![("sender".to_owned(), obj([("id", s(sender))])), ("recipient".to_owned(), obj([("id", s(recipient))]))];
        if let Some(timestamp) = self.timestamp {
            fields.push(("timestamp".to_owned(), n(timestamp)));
        }
        fields.push((self.field.clone(), self.body.clone()));
        Json::Object(fields)
    }

    /// A whole webhook body with just this event, for [`PAGE_ID`]; the entry's
    /// `time` is the event's timestamp (or its watermark's time for a delivery).
    pub fn body(&self) -> String {
        let time = self.timestamp.unwrap_or_else(now_ms);
        Entry::new(time).event(self.clone()).body()
    }
}

/// `{"type":"sticker","payload":{"url","sticker_id"}}`.
fn sticker_attachment(url: &str, sticker_id: u64) -> Json {
    obj([("type", s("sticker")), ("payload", obj([("url", s(url)), ("sticker_id", n(sticker_id))]))])
}

/// One `entry[]` item: a page, a time, and its events in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    page_id: String,
    time: u64,
    events: Vec<Event>,
}

impl Entry {
    /// An entry of [`PAGE_ID`] at `time_ms`, with no events yet.
    pub fn new(time_ms: u64) -> Self {
        Self::for_page(PAGE_ID, time_ms)
    }

    /// An entry of another page.
    pub fn for_page(page_id: &str, time_ms: u64) -> Self {
        Self { page_id: page_id.to_owned(), time: time_ms, events: Vec::new() }
    }

    /// Appends an event to `messaging`.
    pub fn event(mut self, event: Event) -> Self {
        self.events.push(event);
        self
    }

    /// A webhook body with just this entry.
    pub fn body(&self) -> String {
        webhook_body(std::slice::from_ref(self))
    }

    fn to_json(&self) -> Json {
        let messaging = Json::Array(self.events.iter().map(|e| e.to_json(&self.page_id)).collect());
        obj([("id", s(&self.page_id)), ("time", n(self.time)), ("messaging", messaging)])
    }
}

/// `{"object":"page","entry":[...]}`: the exact bytes Meta would post, as a String.
pub fn webhook_body(entries: &[Entry]) -> String {
    let body = obj([("object", s("page")), ("entry", Json::Array(entries.iter().map(Entry::to_json).collect()))]);
    let mut out = String::new();
    body.write(&mut out);
    out
}

/// Milliseconds since the Unix epoch, as webhook timestamps are.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)).unwrap_or(0)
}

/// `(X-Hub-Signature-256, X-Hub-Signature)` values of `body` signed with [`APP_SECRET`]:
/// `("sha256=<hex>", "sha1=<hex>")`.
pub fn sign(body: &str) -> (String, String) {
    sign_with(APP_SECRET, body.as_bytes())
}

/// Like [`sign`] with another app secret, over raw bytes.
pub fn sign_with(app_secret: &str, body: &[u8]) -> (String, String) {
    let mut sha256 =
        <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(app_secret.as_bytes()).expect("HMAC-SHA256 accepts keys of any length");
    sha256.update(body);
    let mut sha1 = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(app_secret.as_bytes()).expect("HMAC-SHA1 accepts keys of any length");
    sha1.update(body);
    (format!("sha256={}", hex(&sha256.finalize().into_bytes())), format!("sha1={}", hex(&sha1.finalize().into_bytes())))
}

/// The headers Meta posts `body` with (signed with [`APP_SECRET`]):
/// `content-type`, `x-hub-signature-256`, `x-hub-signature`.
pub fn signed_headers(body: &str) -> Vec<(&'static str, String)> {
    let (sha256, sha1) = sign(body);
    vec![("content-type", "application/json".to_owned()), ("x-hub-signature-256", sha256), ("x-hub-signature", sha1)]
}

/// The query string of Meta's subscription check (`GET <callback>?...`):
/// `hub.mode=subscribe&hub.challenge=<challenge>&hub.verify_token=<verify_token>`.
pub fn verification_query(verify_token: &str, challenge: &str) -> String {
    serde_urlencoded::to_string([("hub.mode", "subscribe"), ("hub.challenge", challenge), ("hub.verify_token", verify_token)])
        .expect("string pairs always form-encode")
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    bytes.iter().flat_map(|b| [char::from(DIGITS[usize::from(b >> 4)]), char::from(DIGITS[usize::from(b & 0xf)])]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raw_http::{self, HttpResponse};

    /// A version Meta serves until 29 July 2028.
    const VERSION: &str = "v25.0";

    const WORKED_EXAMPLE: &str = r#"{"object":"page","entry":[{"id":"PAGE_ID","time":1458692752478,"messaging":[{"sender":{"id":"USER_PSID"},"recipient":{"id":"PAGE_ID"},"timestamp":1458692752478,"message":{"mid":"mid.1457764197618:41d102a3e1ae206a38","text":"hello, world!"}}]}]}"#;

    async fn post(fake: &FakeGraph, body: &Value) -> HttpResponse {
        raw_http::post_json(&fake.messages_url(VERSION), &[], body).await.expect("request to fake")
    }

    /// Subscribers get each accepted message (not sender actions, not refused posts) as it is
    /// accepted.
    #[tokio::test]
    async fn subscribers_are_told_of_each_accepted_message() {
        let fake = FakeGraph::start().await;
        fake.add_page_token("local-token");
        let mut accepted = fake.subscribe();
        let url = format!("{}/{VERSION}/me/messages?access_token=local-token", fake.url());
        let typing = json!({"recipient": {"id": "P1"}, "sender_action": "typing_on"});
        assert_eq!(raw_http::post_json(&url, &[], &typing).await.unwrap().status, 200);
        assert_eq!(raw_http::post_json(&url.replace("local-token", "wrong"), &[], &text("P1", "no")).await.unwrap().status, 400);
        assert_eq!(raw_http::post_json(&url, &[], &text("P1", "Hola")).await.unwrap().status, 200);
        let told = accepted.try_recv().expect("told before the answer");
        assert_eq!((told.psid.as_str(), told.text()), ("P1", Some("Hola")));
        assert!(accepted.try_recv().is_err(), "one message only");
    }

    fn text(psid: &str, text: &str) -> Value {
        json!({"recipient": {"id": psid}, "messaging_type": "RESPONSE", "message": {"text": text}})
    }

    fn with_message(message: Value) -> Value {
        json!({"recipient": {"id": "P1"}, "messaging_type": "RESPONSE", "message": message})
    }

    fn buttons(text: &str, buttons: Value) -> Value {
        with_message(json!({"attachment": {"type": "template", "payload": {"template_type": "button", "text": text, "buttons": buttons}}}))
    }

    #[track_caller]
    fn assert_error(resp: &HttpResponse, status: u16, code: u64) {
        assert_eq!(resp.status, status, "{}", resp.text());
        let error = &resp.json()["error"];
        assert_eq!(error["code"], code, "{}", resp.text());
        assert!(error["message"].is_string() && error["type"].is_string() && error["fbtrace_id"].is_string(), "{}", resp.text());
    }

    #[test]
    fn the_builders_and_signer_reproduce_the_worked_example_of_the_reference() {
        let event = Event::text("USER_PSID", "mid.1457764197618:41d102a3e1ae206a38", "hello, world!", 1_458_692_752_478);
        let body = Entry::for_page("PAGE_ID", 1_458_692_752_478).event(event).body();
        assert_eq!(body, WORKED_EXAMPLE);
        assert_eq!(body.len(), 244);
        let (sha256, sha1) = sign_with("test_app_secret", body.as_bytes());
        assert_eq!(sha256, "sha256=71faf239f0f86b907318c0729704f0b2c372f3a00220fc39ad26845aac9cc056");
        assert_eq!(sha1, "sha1=3ab0615402b7320912e34a7d67c80c6a041a50d7");
        assert_eq!(sign(&body), (sha256, sha1), "APP_SECRET is the worked example's secret");
    }

    #[test]
    fn non_ascii_is_escaped_as_lowercase_unicode_and_the_body_still_parses() {
        assert_eq!(ascii_json_string("äöå"), r#""\u00e4\u00f6\u00e5""#);
        assert_eq!(ascii_json_string("a😀b"), r#""a\ud83d\ude00b""#);
        assert_eq!(ascii_json_string("\"q\" \\ https://x/y\n\t\u{1}"), r#""\"q\" \\ https:\/\/x\/y\n\t\u0001""#);
        let body = Event::text("P1", "m_1", "¿Qué tal? 😀 https://a/b", 5).body();
        assert!(body.is_ascii(), "{body}");
        let parsed: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(parsed["entry"][0]["messaging"][0]["message"]["text"], "¿Qué tal? 😀 https://a/b");
        assert_ne!(serde_json::to_string(&parsed).unwrap(), body, "re-serialising must not give the signed bytes");
        assert_eq!(to_ascii_json(&json!({"a": ["é", 1, true, null]})), r#"{"a":["\u00e9",1,true,null]}"#);
    }

    #[test]
    fn every_event_builder_has_the_documented_shape() {
        let item = |event: Event| serde_json::from_str::<Value>(&event.body()).unwrap()["entry"][0]["messaging"][0].clone();
        let quick = item(Event::quick_reply("P1", "m_q", "Yes", "OPT_1", 7));
        assert_eq!(quick["sender"]["id"], "P1");
        assert_eq!(quick["recipient"]["id"], PAGE_ID);
        assert_eq!(quick["timestamp"], 7);
        assert_eq!(quick["message"], json!({"mid": "m_q", "text": "Yes", "quick_reply": {"payload": "OPT_1"}}));

        assert_eq!(item(Event::postback("P1", "Yes", "{\"a\":1}", None, 7))["postback"], json!({"title": "Yes", "payload": "{\"a\":1}"}));
        assert_eq!(item(Event::postback("P1", "Yes", "X", Some("m_p"), 7))["postback"]["mid"], "m_p");

        let image = item(Event::image("P1", "m_i", "https://cdn/x.png", 7));
        assert_eq!(image["message"]["attachments"], json!([{"type": "image", "payload": {"url": "https://cdn/x.png"}}]));
        let sticker = item(Event::sticker("P1", "m_s", "https://cdn/s.png", 369_239_263_222_822, 7));
        let sticker_attachment = json!({"type": "sticker", "payload": {"url": "https://cdn/s.png", "sticker_id": 369_239_263_222_822_u64}});
        assert_eq!(sticker["message"], json!({"mid": "m_s", "attachments": [sticker_attachment]}));
        let both = item(Event::sticker_in_transition("P1", "m_t", "https://cdn/s.png", 369_239_263_222_822, 7));
        let legacy = json!({"type": "image", "payload": {"url": "https://cdn/s.png", "sticker_id": 369_239_263_222_822_u64}});
        assert_eq!(both["message"]["attachments"], json!([legacy, sticker_attachment]));
        assert_eq!(both["message"]["sticker_id"], 369_239_263_222_822_u64);

        let echo = item(Event::echo("P1", "m_e", "hi", APP_ID, 7));
        assert_eq!((echo["sender"]["id"].clone(), echo["recipient"]["id"].clone()), (json!(PAGE_ID), json!("P1")));
        assert_eq!(echo["message"], json!({"is_echo": true, "app_id": APP_ID, "mid": "m_e", "text": "hi"}));

        let delivery = item(Event::delivery("P1", &["m_1", "m_2"], 9));
        assert_eq!(delivery["delivery"], json!({"mids": ["m_1", "m_2"], "watermark": 9}));
        assert!(delivery.get("timestamp").is_none());
        assert_eq!(item(Event::read("P1", 9, 10))["read"], json!({"watermark": 9}));
        assert_eq!(item(Event::other("P1", "standby", &json!({"x": 1}), 3))["standby"], json!({"x": 1}));
    }

    #[test]
    fn several_events_and_entries_go_into_one_body() {
        let first = Entry::new(100).event(Event::text("P1", "m_1", "a", 90)).event(Event::read("P1", 80, 95));
        let second = Entry::for_page("999", 200).event(Event::text("P2", "m_2", "b", 190));
        let body: Value = serde_json::from_str(&webhook_body(&[first, second])).unwrap();
        assert_eq!(body["object"], "page");
        assert_eq!(body["entry"].as_array().unwrap().len(), 2);
        assert_eq!(body["entry"][0]["messaging"].as_array().unwrap().len(), 2);
        assert_eq!(body["entry"][0]["id"], PAGE_ID);
        assert_eq!(body["entry"][1]["time"], 200);
        assert_eq!(body["entry"][1]["messaging"][0]["recipient"]["id"], "999");
        let headers = signed_headers("{}");
        assert_eq!(headers[1], ("x-hub-signature-256", sign("{}").0));
        assert_eq!(
            verification_query(VERIFY_TOKEN, "1158201444"),
            format!("hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token={VERIFY_TOKEN}")
        );
    }

    #[tokio::test]
    async fn a_text_with_the_page_token_is_accepted_and_recorded_with_its_version() {
        let fake = FakeGraph::start().await;
        let resp = post(&fake, &text("P1", "hello")).await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert_eq!(resp.json()["recipient_id"], "P1");
        let message_id = resp.json()["message_id"].as_str().unwrap().to_owned();
        assert!(message_id.starts_with("m_"));
        let sent = fake.messages();
        assert_eq!(sent.len(), 1);
        assert_eq!((sent[0].psid.as_str(), sent[0].text(), sent[0].version.as_str()), ("P1", Some("hello"), VERSION));
        assert_eq!(sent[0].served_version, VERSION);
        assert_eq!(
            (sent[0].messaging_type.as_str(), sent[0].tag.as_deref(), sent[0].message_id.as_str()),
            ("RESPONSE", None, &*message_id)
        );
        let requests = fake.requests();
        assert_eq!(requests[0].path, format!("/{VERSION}/me/messages"));
        assert_eq!(requests[0].query.as_deref(), Some(&*format!("access_token={PAGE_TOKEN}")));
        let on_page = format!("{}/{VERSION}/{PAGE_ID}/messages?access_token={PAGE_TOKEN}", fake.url());
        assert_eq!(raw_http::post_json(&on_page, &[], &text("P1", "x")).await.unwrap().status, 200);
        assert_eq!(fake.messages().len(), 2);
    }

    #[test]
    fn the_version_table_is_metas_newest_first_and_its_days_are_calendar_days() {
        assert_eq!(Day::from_civil(1970, 1, 1), Day(0));
        assert_eq!(Day::from_civil(2000, 3, 1), Day(11_017));
        assert_eq!(Day::from_civil(2026, 12, 7), Day(20_794));
        assert!(Day::from_civil(2024, 2, 29) < Day::from_civil(2024, 3, 1));
        let released: Vec<Day> = GRAPH_VERSIONS.iter().map(|v| Day::from_civil(v.released.0, v.released.1, v.released.2)).collect();
        assert!(released.windows(2).all(|pair| pair[0] > pair[1]), "newest first");
        assert_eq!(usable_versions((2026, 12, 7)), ["v27.0", "v26.0", "v25.0", "v24.0", "v23.0", "v22.0", "v21.0"]);
        assert_eq!(usable_versions((2027, 1, 21)).last(), Some(&"v22.0"), "v21.0 is available until 21 January 2027");
    }

    #[tokio::test]
    async fn a_retired_version_is_served_as_the_oldest_usable_one_and_a_version_meta_never_released_is_refused() {
        let fake = FakeGraph::start().await;
        fake.set_today((2026, 12, 7));
        let at = |version: &str| format!("{}/{version}/me/messages?access_token={PAGE_TOKEN}", fake.url());
        for (asked, served) in [("v27.0", "v27.0"), ("v21.0", "v21.0"), ("v20.0", "v21.0"), ("v4.0", "v21.0")] {
            let resp = raw_http::post_json(&at(asked), &[], &text("P1", asked)).await.unwrap();
            assert_eq!(resp.status, 200, "{asked}: {}", resp.text());
            let sent = fake.messages().pop().unwrap();
            assert_eq!((sent.version.as_str(), sent.served_version.as_str()), (asked, served));
        }
        for never in ["v28.0", "v25.1", "v1.0", "v99.0"] {
            let resp = raw_http::post_json(&at(never), &[], &text("P1", "x")).await.unwrap();
            assert_error(&resp, 400, 2500);
            assert_eq!(resp.json()["error"]["message"], format!("Unknown path components: /{never}/me/messages"));
        }
        fake.set_profile("P1", "Ana", "García");
        let profile = |version: &str| format!("{}/{version}/P1?fields=first_name&access_token={PAGE_TOKEN}", fake.url());
        assert_eq!(raw_http::get(&profile("v20.0"), &[]).await.unwrap().status, 200);
        assert_error(&raw_http::get(&profile("v28.0"), &[]).await.unwrap(), 400, 2500);
        fake.set_today((2026, 7, 1));
        assert_error(&raw_http::post_json(&at("v26.0"), &[], &text("P1", "x")).await.unwrap(), 400, 2500);
        assert_eq!(fake.messages().len(), 4, "only the served calls were sent");
    }

    #[tokio::test]
    async fn a_restricted_page_gets_10_1893063_for_every_message_to_anyone_until_meta_lifts_it() {
        let fake = FakeGraph::start().await;
        fake.restrict_page();
        for psid in ["P1", "P2"] {
            let resp = post(&fake, &text(psid, "x")).await;
            assert_error(&resp, 400, 10);
            assert_eq!(resp.json()["error"]["error_subcode"], PAGE_RESTRICTED_SUBCODE);
            assert!(resp.json()["error"].get("is_transient").is_none(), "no retry makes it pass");
        }
        let typing = post(&fake, &json!({"recipient": {"id": "P1"}, "sender_action": "typing_on"})).await;
        assert_eq!(typing.status, 200, "the changelog speaks of messages only");
        assert!(fake.messages().is_empty());
        fake.lift_page_restriction();
        assert_eq!(post(&fake, &text("P1", "x")).await.status, 200);
        assert_eq!(fake.messages().len(), 1);
    }

    #[tokio::test]
    async fn a_wrong_or_missing_token_is_refused_and_an_added_token_is_accepted() {
        let fake = FakeGraph::start().await;
        let url = |token: &str| format!("{}/{VERSION}/me/messages?access_token={token}", fake.url());
        let wrong = raw_http::post_json(&url("nope"), &[], &text("P1", "x")).await.unwrap();
        assert_error(&wrong, 400, 190);
        assert_eq!(wrong.json()["error"]["message"], "Invalid OAuth access token.");
        assert_eq!(wrong.json()["error"]["type"], "OAuthException");
        let missing = raw_http::post_json(&format!("{}/{VERSION}/me/messages", fake.url()), &[], &text("P1", "x")).await.unwrap();
        assert_error(&missing, 400, 2500);
        fake.add_page_token("second");
        assert_eq!(raw_http::post_json(&url("second"), &[], &text("P1", "x")).await.unwrap().status, 200);
        let unversioned = format!("{}/me/messages?access_token={PAGE_TOKEN}", fake.url());
        assert_error(&raw_http::post_json(&unversioned, &[], &text("P1", "x")).await.unwrap(), 400, 2500);
        let form_type = [("content-type", "application/x-www-form-urlencoded")];
        assert_error(&raw_http::send("POST", &fake.messages_url(VERSION), &form_type, b"a=1").await.unwrap(), 400, 100);
        assert_eq!(fake.messages().len(), 1);
    }

    #[tokio::test]
    async fn meta_limits_are_enforced_with_code_100() {
        let fake = FakeGraph::start().await;
        let quick = |n: usize, title: &str, payload: &str| {
            let replies: Vec<Value> = (0..n).map(|_| json!({"content_type": "text", "title": title, "payload": payload})).collect();
            with_message(json!({"text": "pick", "quick_replies": replies}))
        };
        let postback = |title: &str| json!({"type": "postback", "title": title, "payload": "P"});
        let accepted = [
            text("P1", &"ñ".repeat(MAX_TEXT_CHARS)),
            quick(13, &"t".repeat(20), &"p".repeat(1000)),
            buttons(&"b".repeat(640), json!([postback("a"), postback("b"), {"type": "web_url", "title": "More", "url": "https://x"}])),
            with_message(json!({"attachment": {"type": "image", "payload": {"url": "https://cdn/x.png", "is_reusable": true}}})),
            with_message(json!({"attachment": {"type": "file", "payload": {"attachment_id": "123"}}})),
        ];
        for body in &accepted {
            let resp = post(&fake, body).await;
            assert_eq!(resp.status, 200, "{body} -> {}", resp.text());
        }
        let refused = [
            text("P1", &"a".repeat(MAX_TEXT_CHARS + 1)),
            text("P1", ""),
            quick(14, "t", "p"),
            quick(1, &"t".repeat(21), "p"),
            quick(1, "t", &"p".repeat(1001)),
            quick(1, "t", ""),
            with_message(json!({"text": "x", "quick_replies": [{"content_type": "location"}]})),
            with_message(json!({"text": "x", "quick_reply": []})),
            buttons(&"b".repeat(641), json!([postback("a")])),
            buttons("b", json!([])),
            buttons("b", json!([postback("a"), postback("b"), postback("c"), postback("d")])),
            buttons("b", json!([postback(&"a".repeat(21))])),
            buttons("b", json!([{"type": "postback", "title": "a"}])),
            buttons("b", json!([{"type": "web_url", "title": "a"}])),
            with_message(json!({"attachment": {"type": "image", "payload": {}}})),
            with_message(json!({})),
            with_message(json!({"text": "x", "attachment": {"type": "image", "payload": {"url": "https://x"}}})),
        ];
        for body in &refused {
            assert_error(&post(&fake, body).await, 400, 100);
        }
        assert_eq!(fake.messages().len(), accepted.len());
        assert_eq!(fake.messages()[1].quick_reply_titles().len(), 13);
        assert_eq!(fake.messages()[2].buttons().len(), 3);
    }

    #[tokio::test]
    async fn messaging_type_tag_and_sender_action_rules_are_enforced() {
        let fake = FakeGraph::start().await;
        let refused = [
            json!({"recipient": {"id": "P1"}, "message": {"text": "x"}}),
            json!({"recipient": {"id": "P1"}, "messaging_type": "NOW", "message": {"text": "x"}}),
            json!({"recipient": {"id": "P1"}, "messaging_type": "MESSAGE_TAG", "message": {"text": "x"}}),
            json!({"recipient": {"id": "P1"}, "messaging_type": "MESSAGE_TAG", "tag": "ISSUE_RESOLUTION", "message": {"text": "x"}}),
            json!({"recipient": {"id": "P1"}, "messaging_type": "RESPONSE", "tag": "HUMAN_AGENT", "message": {"text": "x"}}),
            json!({"recipient": {"id": "P1"}, "messaging_type": "RESPONSE", "notification_type": "LOUD", "message": {"text": "x"}}),
            json!({"messaging_type": "RESPONSE", "message": {"text": "x"}}),
            json!({"recipient": {"id": "P1"}, "messaging_type": "RESPONSE", "message": {"text": "x"}, "sender_action": "typing_on"}),
            json!({"recipient": {"id": "P1"}, "messaging_type": "RESPONSE"}),
            json!({"recipient": {"id": "P1"}, "sender_action": "dancing"}),
        ];
        for body in &refused {
            assert_error(&post(&fake, body).await, 400, 100);
        }
        for action in ["typing_on", "mark_seen", "typing_off"] {
            let resp = post(&fake, &json!({"recipient": {"id": "P1"}, "sender_action": action})).await;
            assert_eq!(resp.status, 200, "{}", resp.text());
            assert_eq!(resp.json(), json!({"recipient_id": "P1"}));
        }
        let actions: Vec<String> = fake.sender_actions().into_iter().map(|a| a.action).collect();
        assert_eq!(actions, ["typing_on", "mark_seen", "typing_off"]);
        assert!(fake.messages().is_empty());
        let tagged = json!({"recipient": {"id": "P1"}, "messaging_type": "MESSAGE_TAG", "tag": "ACCOUNT_UPDATE", "message": {"text": "x"}});
        assert_eq!(post(&fake, &tagged).await.status, 200);
        assert_eq!(fake.messages()[0].tag.as_deref(), Some("ACCOUNT_UPDATE"));
    }

    #[tokio::test]
    async fn outside_24_hours_only_human_agent_goes_through_and_only_within_7_days() {
        let fake = FakeGraph::start().await;
        let day = Duration::from_secs(24 * 3600);
        let human = |psid: &str| json!({"recipient": {"id": psid}, "messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT", "message": {"text": "agent here"}});
        fake.user_wrote("P1", SystemTime::now() - 2 * day);
        let resp = post(&fake, &text("P1", "late")).await;
        assert_error(&resp, 400, 10);
        assert_eq!(resp.json()["error"]["error_subcode"], 2_018_278);
        assert_eq!(post(&fake, &human("P1")).await.status, 200);

        fake.user_wrote("P2", SystemTime::now() - 8 * day);
        assert_error(&post(&fake, &human("P2")).await, 400, 10);
        fake.set_window_closed("P3");
        assert_error(&post(&fake, &human("P3")).await, 400, 10);
        assert_error(&post(&fake, &text("P3", "x")).await, 400, 10);

        fake.user_wrote("P4", SystemTime::now() - Duration::from_secs(3600));
        assert_eq!(post(&fake, &text("P4", "fresh")).await.status, 200);
        assert_eq!(post(&fake, &text("P5", "never seen: open by default")).await.status, 200);
        let psids: Vec<String> = fake.messages().into_iter().map(|m| m.psid).collect();
        assert_eq!(psids, ["P1", "P4", "P5"]);
    }

    #[tokio::test]
    async fn a_blocked_user_gets_551_for_messages_and_sender_actions() {
        let fake = FakeGraph::start().await;
        fake.block("P1");
        let resp = post(&fake, &text("P1", "x")).await;
        assert_error(&resp, 400, 551);
        assert_eq!(resp.json()["error"]["message"], "(#551) This person isn't available right now.");
        assert_error(&post(&fake, &json!({"recipient": {"id": "P1"}, "sender_action": "typing_on"})).await, 400, 551);
        assert_eq!(post(&fake, &text("P2", "x")).await.status, 200);
        assert!(fake.sender_actions().is_empty());
    }

    #[tokio::test]
    async fn profiles_answer_the_asked_fields_and_unknown_users_get_code_100() {
        let fake = FakeGraph::start().await;
        fake.set_profile("P1", "Ana", "García");
        let url = |psid: &str, fields: &str| format!("{}/{VERSION}/{psid}?fields={fields}&access_token={PAGE_TOKEN}", fake.url());
        let resp = raw_http::get(&url("P1", "first_name,last_name"), &[]).await.unwrap();
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert_eq!(resp.json(), json!({"first_name": "Ana", "last_name": "García", "id": "P1"}));
        assert_error(&raw_http::get(&url("P9", "first_name"), &[]).await.unwrap(), 400, 100);
        assert_error(&raw_http::get(&url("P1", "shoe_size"), &[]).await.unwrap(), 400, 100);
        let no_token = raw_http::get(&format!("{}/{VERSION}/P1?fields=first_name&access_token=bad", fake.url()), &[]).await.unwrap();
        assert_error(&no_token, 400, 190);
    }

    #[tokio::test]
    async fn injected_failures_carry_graph_codes_and_stop_after_n() {
        let fake = FakeGraph::start().await;
        fake.fail_with(429, 1);
        let limited = post(&fake, &text("P1", "x")).await;
        assert_error(&limited, 429, 4);
        assert_eq!(limited.json()["error"]["is_transient"], true);
        assert_eq!(post(&fake, &text("P1", "x")).await.status, 200);

        fake.fail_after(2, 503, 1);
        assert_eq!(post(&fake, &text("P1", "x")).await.status, 200);
        assert_error(&post(&fake, &text("P1", "x")).await, 503, 2);
        fake.fail_with(500, 1);
        assert_error(&post(&fake, &text("P1", "x")).await, 500, 2);
        fake.fail_with_code(429, 613, 1);
        assert_error(&post(&fake, &text("P1", "x")).await, 429, 613);
        fake.refuse_with_code(10, 1);
        let refused = post(&fake, &text("P1", "x")).await;
        assert_error(&refused, 400, 10);
        assert_eq!(refused.json()["error"]["error_subcode"], 2_018_278);
        assert_eq!(post(&fake, &text("P1", "x")).await.status, 200);
        fake.refuse_with_subcode(10, PAGE_RESTRICTED_SUBCODE, 2);
        for _ in 0..2 {
            let restricted = post(&fake, &text("P1", "x")).await;
            assert_error(&restricted, 400, 10);
            assert_eq!(restricted.json()["error"]["error_subcode"], 1_893_063);
            assert_eq!(restricted.json()["error"]["message"], "(#10) This Page is temporarily restricted from sending messages.");
        }
        assert_eq!(post(&fake, &text("P1", "x")).await.status, 200);
        assert_eq!(fake.messages().len(), 4);
        let statuses: Vec<Option<u16>> = fake.requests().iter().map(|r| r.status).collect();
        let expected = [429, 200, 200, 503, 500, 429, 400, 200, 400, 400, 200].map(Some);
        assert_eq!(statuses, expected);
    }

    #[tokio::test]
    async fn a_late_answer_is_still_a_sent_message() {
        let fake = FakeGraph::start().await;
        fake.answer_late(Duration::from_millis(500), 1);
        assert_eq!(post(&fake, &json!({"recipient": {"id": "P1"}, "sender_action": "typing_on"})).await.status, 200);
        let gave_up = tokio::time::timeout(Duration::from_millis(150), post(&fake, &text("P1", "x"))).await;
        assert!(gave_up.is_err(), "the 200 should have been held");
        assert_eq!(fake.messages().len(), 1);
        let started = Instant::now();
        assert_eq!(post(&fake, &text("P1", "y")).await.status, 200);
        assert!(started.elapsed() < Duration::from_millis(400));
        assert_eq!(fake.wait_for_messages(2, Duration::from_secs(1)).await.len(), 2);
    }
}
