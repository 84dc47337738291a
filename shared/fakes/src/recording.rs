//! What the fakes remember about each request they received.
//!
//! Requests are recorded the moment they arrive (before any delay, injected
//! failure or auth check) so that a request the client abandoned — e.g.
//! because of a client-side timeout — still shows up, with `status: None`.

use std::sync::Mutex;

use axum::http::{HeaderMap, Method, Uri};
use serde_json::Value;
use tokio::sync::mpsc;

/// One request received by a fake server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// HTTP method, upper-case (`"POST"`).
    pub method: String,
    /// Request path without the query string (`"/prod/chatbot/v1/conversation"`).
    pub path: String,
    /// Raw query string, if any (without the `?`).
    pub query: Option<String>,
    /// All headers, names lower-case, in arrival order (repeats kept).
    pub headers: Vec<(String, String)>,
    /// Body as text (lossy UTF-8; every upstream we fake speaks text).
    pub body: String,
    /// Status the fake answered with; `None` while the request is still being
    /// handled or if the client hung up before the answer was ready.
    pub status: Option<u16>,
}

impl Recorded {
    /// First value of header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON; `None` if it is empty or not JSON.
    pub fn try_json(&self) -> Option<Value> {
        serde_json::from_str(&self.body).ok()
    }

    /// The body parsed as JSON, for assertions.
    ///
    /// An empty body gives `Value::Null`. Panics (with the body in the
    /// message) if the body is not JSON: in a test that is an assertion
    /// failure, and the message says what was actually sent.
    pub fn json(&self) -> Value {
        if self.body.trim().is_empty() {
            return Value::Null;
        }
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body of {} {} is not JSON ({e}): {:?}", self.method, self.path, self.body))
    }

    /// The body parsed as `application/x-www-form-urlencoded` pairs (repeats
    /// kept, in order); empty if it does not parse.
    pub fn form(&self) -> Vec<(String, String)> {
        serde_urlencoded::from_str(&self.body).unwrap_or_default()
    }
}

/// Append-only, thread-safe request log shared by a fake's handlers and its
/// test-facing handle.
#[derive(Debug, Default)]
pub struct RequestLog {
    entries: Mutex<Vec<Recorded>>,
}

/// Position of a request in its [`RequestLog`], used to fill in the status later.
#[derive(Debug, Clone, Copy)]
pub struct EntryId(usize);

impl RequestLog {
    pub fn record(&self, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> EntryId {
        let entry = Recorded {
            method: method.as_str().to_owned(),
            path: uri.path().to_owned(),
            query: uri.query().map(str::to_owned),
            headers: headers
                .iter()
                .map(|(k, v)| (k.as_str().to_ascii_lowercase(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                .collect(),
            body: String::from_utf8_lossy(body).into_owned(),
            status: None,
        };
        let mut entries = lock(&self.entries);
        entries.push(entry);
        EntryId(entries.len() - 1)
    }

    pub fn set_status(&self, id: EntryId, status: u16) {
        if let Some(entry) = lock(&self.entries).get_mut(id.0) {
            entry.status = Some(status);
        }
    }

    pub fn snapshot(&self) -> Vec<Recorded> {
        lock(&self.entries).clone()
    }
}

/// Locks a mutex, ignoring poisoning.
///
/// A panicking test thread (a failed assertion while holding a snapshot, say)
/// must not turn every later request to the fake into a second, confusing panic.
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Uses up one of a fault's `remaining` requests: whether this request gets the fault.
pub(crate) fn take_one(remaining: &mut usize) -> bool {
    let due = *remaining > 0;
    *remaining = remaining.saturating_sub(1);
    due
}

/// A request a fake takes in and then neither acts on nor answers: it holds the connection until
/// the client gives up (every client of the product does within seconds).
pub(crate) async fn never_answer() {
    tokio::time::sleep(std::time::Duration::from_secs(60)).await;
}

/// Whom a fake tells of each message it accepts: every open subscription gets each one, in the
/// order accepted, as it is accepted (a program showing replies as they arrive; tests poll the
/// fake's lists instead). A dropped receiver is forgotten at the next message.
pub(crate) struct Subscribers<T> {
    senders: Mutex<Vec<mpsc::UnboundedSender<T>>>,
}

impl<T> Default for Subscribers<T> {
    fn default() -> Self {
        Self { senders: Mutex::default() }
    }
}

impl<T: Clone> Subscribers<T> {
    /// Every message accepted from now on.
    pub(crate) fn subscribe(&self) -> mpsc::UnboundedReceiver<T> {
        let (sender, receiver) = mpsc::unbounded_channel();
        lock(&self.senders).push(sender);
        receiver
    }

    /// Tells every open subscription of `accepted`.
    pub(crate) fn notify(&self, accepted: &T) {
        lock(&self.senders).retain(|sender| sender.send(accepted.clone()).is_ok());
    }
}

/// One use of a fault armed for `remaining` more requests: its value while uses are left (the
/// slot empties with the last one); `None` when nothing is armed. Armed for 0 uses, it is off.
pub(crate) fn take_armed<T: Copy>(slot: &mut Option<(T, usize)>) -> Option<T> {
    let (value, remaining) = (*slot)?;
    *slot = (remaining > 1).then_some((value, remaining - 1));
    (remaining > 0).then_some(value)
}
