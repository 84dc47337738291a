//! The webhook body: `{"object":"page","entry":[{"id":<page id>,"time":..,"messaging":[..]}]}`.
//!
//! Read leniently, field by field: one odd event must not make Meta redeliver the whole batch
//! forever, so an event the connector cannot use is skipped, not refused. That holds for JSON
//! too ([`Body`]): an event serde_json cannot read (nested deeper than its limit of 128, a
//! lone surrogate escape such as `"\ud800"`, a number out of range) is logged without its
//! content and skipped, and the others of the batch go on. A body that is not JSON, or whose
//! `object` cannot be read, is still refused as a whole.

use crate::{MessengerAddress, MessengerSender};
use connector_core::{Event, Route, Sender};
use connector_engine::ConversationKey;
use connector_engine::Tap;
use connector_engine::step::{Input, UserInput};
use connector_engine::values::{MessageId, UserFile};
use serde_json::Value;
use serde_json::value::RawValue;
use std::collections::HashMap;

/// Why a body is refused as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// Not JSON text at all (syntax, or not UTF-8).
    #[error("body is not JSON")]
    NotJson,
    /// `object` is JSON that serde_json cannot take (nested too deep, a lone surrogate...).
    #[error("unreadable object")]
    Object,
}

/// A webhook body, read so that each of its events stands alone: `object`, and per entry its
/// page, its time and its `messaging[]` events as raw text, each parsed on its own by
/// [`read_body`].
///
/// serde_json skips over a [`RawValue`] iteratively (`ignore_value`, a heap stack of
/// brackets): that checks the syntax of the whole body without its recursion limit and without
/// recursing, whatever the depth, and it does not decode escapes, so a lone surrogate passes.
/// Both are found when an event is parsed into a [`Value`] on its own, its depth counted from
/// the event. Members the connector does not read (`standby`...) are never parsed.
#[derive(Debug, Default)]
pub struct Body {
    object: Option<Value>,
    entries: Vec<Entry>,
}

#[derive(Debug)]
struct Entry {
    page: Option<String>,
    time: Option<i64>,
    messaging: Vec<Box<RawValue>>,
}

impl Body {
    /// Refuses a body that is not JSON (syntax, UTF-8) or whose `object` cannot be read. JSON
    /// that is not an object is a body with no `object`; an entry that is not an object, or
    /// whose `messaging` is not an array, has no events (as before: read leniently).
    pub fn read(bytes: &[u8]) -> Result<Self, BodyError> {
        let members: HashMap<String, &RawValue> = match serde_json::from_slice(bytes) {
            Ok(members) => members,
            // A type error comes before the rest is read: JSON only if all of it is.
            Err(error) if error.classify() == serde_json::error::Category::Data && is_json(bytes) => return Ok(Self::default()),
            Err(_) => return Err(BodyError::NotJson),
        };
        let object = members.get("object").map(|raw| serde_json::from_str(raw.get())).transpose().map_err(|_| BodyError::Object)?;
        let entries = members.get("entry").map(|raw| elements(raw)).unwrap_or_default();
        Ok(Self { object, entries: entries.into_iter().filter_map(Entry::read).collect() })
    }

    /// Whether the body is a page's (`"object":"page"`).
    pub fn is_page(&self) -> bool {
        self.object.as_ref().and_then(Value::as_str) == Some("page")
    }
}

impl Entry {
    fn read(raw: &RawValue) -> Option<Self> {
        let members: HashMap<String, &RawValue> = serde_json::from_str(raw.get()).ok()?;
        // An entry's own fields: one serde_json cannot read counts as absent.
        let field = |name: &str| members.get(name).and_then(|raw| serde_json::from_str::<Value>(raw.get()).ok());
        let messaging = members.get("messaging").map(|raw| elements(raw)).unwrap_or_default();
        Some(Self {
            page: id_of(field("id").as_ref()),
            time: field("time").as_ref().and_then(number_of),
            messaging: messaging.into_iter().map(ToOwned::to_owned).collect(),
        })
    }
}

/// Whether `bytes` are JSON text, at any depth: serde_json skips over an ignored value as over
/// a raw one, iteratively.
fn is_json(bytes: &[u8]) -> bool {
    serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok()
}

/// The elements of an array, unparsed; none when it is not one.
fn elements(raw: &RawValue) -> Vec<&RawValue> {
    serde_json::from_str(raw.get()).unwrap_or_default()
}

/// One message or tap of a user, as the connector reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessengerInbound {
    /// Meta's id for it, the dedupe key: the message's `mid`, the postback's `mid`, or
    /// `postback:<psid>:<timestamp>` for postbacks without one.
    pub id: String,
    /// The page the user wrote to (`entry[].id`).
    pub page: String,
    /// The user's page-scoped id (`sender.id`).
    pub psid: String,
    pub input: UserInput,
}

impl MessengerInbound {
    /// The PHP connector's externalId, `fb-<page id>-<PSID>`, so HyperChat users it created stay
    /// addressable.
    pub fn conversation_key(&self) -> ConversationKey {
        ConversationKey::new(format!("fb-{}-{}", self.page, self.psid))
    }

    pub fn reply_address(&self) -> MessengerAddress {
        MessengerAddress { page: self.page.clone(), psid: self.psid.clone() }
    }

    pub fn to_event(&self) -> Event {
        Event {
            id: MessageId::new("messenger", &self.id),
            route: Route::Conversation(self.conversation_key()),
            address: Some(MessengerSender::address(&self.reply_address())),
            input: Input::User(self.input.clone()),
        }
    }
}

/// The users' messages and taps of a webhook body, in the order of `entry[]` and, within each,
/// of `messaging[]`. Echoes of the page's own messages, delivery and read receipts, reactions,
/// opt-ins, referrals and handover (`standby`) events give none. An event serde_json cannot
/// read is logged, by position and serde_json's reason (which never quotes the input: user
/// text is personal data), and skipped.
pub fn read_body(body: &Body) -> Vec<MessengerInbound> {
    let mut inbound = Vec::new();
    for (entry_position, entry) in body.entries.iter().enumerate() {
        for (position, raw) in entry.messaging.iter().enumerate() {
            let event = match serde_json::from_str::<Value>(raw.get()) {
                Ok(event) => event,
                Err(error) => {
                    tracing::warn!(
                        channel = "messenger",
                        entry = entry_position,
                        position,
                        error = %error,
                        "an unreadable event was skipped; the others of the batch go on"
                    );
                    continue;
                }
            };
            if let Some(message) = read_event(entry.page.as_deref(), entry.time, &event) {
                inbound.push(message);
            }
        }
    }
    inbound
}

fn read_event(entry_page: Option<&str>, entry_time: Option<i64>, event: &Value) -> Option<MessengerInbound> {
    let psid = id_of(event.pointer("/sender/id"))?;
    let page = entry_page.map(str::to_owned).or_else(|| id_of(event.pointer("/recipient/id")))?;
    // The page's own messages (echoes, even without their flag) are not the user's.
    if psid == page {
        return None;
    }
    let timestamp = event.get("timestamp").and_then(number_of).or(entry_time);
    let derived = |kind: &str| timestamp.map(|t| format!("{kind}:{psid}:{t}"));
    if let Some(message) = event.get("message").filter(|m| m.is_object()) {
        if message.get("is_echo").and_then(Value::as_bool) == Some(true) {
            return None;
        }
        let id = text_of(message.get("mid")).or_else(|| derived("message"))?;
        return Some(MessengerInbound { id, page, psid, input: message_input(message) });
    }
    if let Some(postback) = event.get("postback").filter(|p| p.is_object()) {
        let id = text_of(postback.get("mid")).or_else(|| derived("postback"))?;
        let payload = postback.get("payload").and_then(Value::as_str).unwrap_or_default();
        // A "Get Started" or persistent-menu button carries a payload of its own: its title
        // is what the user meant to say.
        let input = match Tap::from_payload(payload) {
            Some(tap) => UserInput::Pick(tap),
            None => UserInput::Text(postback.get("title").and_then(Value::as_str).unwrap_or_default().to_owned()),
        };
        return Some(MessengerInbound { id, page, psid, input });
    }
    None
}

fn message_input(message: &Value) -> UserInput {
    let text = message.get("text").and_then(Value::as_str).unwrap_or_default().to_owned();
    if let Some(payload) = message.pointer("/quick_reply/payload").and_then(Value::as_str) {
        // A quick reply of ours carries its option; anyone else's is its title typed (Meta
        // sends the title as the text).
        return Tap::from_payload(payload).map_or(UserInput::Text(text), UserInput::Pick);
    }
    let attachments: Vec<&Value> = items(message.get("attachments")).collect();
    if attachments.is_empty() {
        return UserInput::Text(text);
    }
    // A shared location is readable text; a picture, sticker, voice note or file is not.
    let locations: Option<Vec<String>> = attachments.iter().map(|a| location_line(a)).collect();
    match locations {
        Some(lines) => UserInput::Text(std::iter::once(text).filter(|t| !t.trim().is_empty()).chain(lines).collect::<Vec<_>>().join("\n")),
        None => UserInput::Media { caption: text, files: files_of(message, &attachments) },
    }
}

/// The files of a message's attachments, each URL once, in order.
///
/// A sticker is a picture the bot cannot read and an agent can see. Meta's messages webhook
/// reference: from 1 June 2026 a sticker comes as a `sticker` attachment (its picture at
/// `payload.url`, with `sticker_id`); until 30 August 2026 the old `image` attachment of the same
/// sticker came beside it, and after that only the `sticker` one. So when a message has a
/// `sticker` attachment, an `image` one that names a sticker (`sticker_id` on it or on the
/// message, as the old format put it) is that same sticker again, not a second file.
fn files_of(message: &Value, attachments: &[&Value]) -> Vec<UserFile> {
    let has_sticker = attachments.iter().any(|a| kind_of(a) == Some("sticker"));
    let message_names_a_sticker = message.get("sticker_id").is_some_and(|id| !id.is_null());
    let mut files: Vec<UserFile> = Vec::new();
    for attachment in attachments {
        let legacy_copy = has_sticker && kind_of(attachment) == Some("image") && (message_names_a_sticker || names_a_sticker(attachment));
        if legacy_copy {
            continue;
        }
        if let Some(file) = file_of(attachment).filter(|file| files.iter().all(|seen| seen.url != file.url)) {
            files.push(file);
        }
    }
    files
}

/// The file of a picture, sticker, voice note, video or document.
fn file_of(attachment: &Value) -> Option<UserFile> {
    if !matches!(kind_of(attachment)?, "image" | "sticker" | "audio" | "video" | "file") {
        return None;
    }
    let url = text_of(attachment.pointer("/payload/url"))?;
    Some(UserFile { url, media_type: None, name: None })
}

fn kind_of(attachment: &Value) -> Option<&str> {
    attachment.get("type").and_then(Value::as_str)
}

/// Whether an attachment carries a `sticker_id` (in its payload, or beside it).
fn names_a_sticker(attachment: &Value) -> bool {
    [attachment.pointer("/payload/sticker_id"), attachment.get("sticker_id")].into_iter().flatten().any(|id| !id.is_null())
}

/// `"<title>: <url>"` for a location attachment that has both (at the attachment's top level,
/// as Meta sent them, or in its payload).
fn location_line(attachment: &Value) -> Option<String> {
    if attachment.get("type").and_then(Value::as_str) != Some("location") {
        return None;
    }
    let field = |name: &str| text_of(attachment.get(name)).or_else(|| text_of(attachment.get("payload").and_then(|p| p.get(name))));
    Some(format!("{}: {}", field("title")?, field("url")?))
}

fn items(value: Option<&Value>) -> impl Iterator<Item = &Value> {
    value.and_then(Value::as_array).into_iter().flatten()
}

/// A non-empty string.
fn text_of(value: Option<&Value>) -> Option<String> {
    value.and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
}

/// An id Meta sends as a string (sometimes as a number in older payloads).
fn id_of(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::Number(n) => Some(n.to_string()),
        other => text_of(Some(other)),
    }
}

fn number_of(value: &Value) -> Option<i64> {
    value.as_i64().or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
}

#[cfg(test)]
mod tests;
