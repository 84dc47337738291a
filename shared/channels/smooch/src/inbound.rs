//! Webhook payloads, told apart by their shape: v2 `{app, webhook, events[]}` or v1.1
//! `{trigger, app, appUser, messages[] | postbacks[]}`. Every message of a batch becomes an
//! event, in order; one payload may carry several users. Messages the business wrote
//! (`business` / `appMaker`, our own replies included) and other event types are no events.
//!
//! Each event stands alone ([`Payload`]): one that serde_json cannot read (nested deeper than
//! its limit of 128, as a web client's `metadata` can be; a lone surrogate escape such as
//! `"\ud800"` in its text; a number out of range) is logged without its content and skipped,
//! and the others of the batch go on. Smooch does not retry a 400, so refusing the whole batch
//! would lose every other user's message. A body that is not JSON, or whose envelope cannot be
//! read, is still refused as a whole.
//!
//! Two more v2 rules come from Zendesk's Sunshine Conversations spec (`openapi.yaml` 17.12.1):
//! a `conversation:postback` carries only `postback.payload` (`postbackWebhook`), so a postback
//! that is none of our buttons is no event (see [`postback_input`]); and a conversation that
//! another switchboard integration holds (`conversation.activeSwitchboardIntegration`, a Zendesk
//! agent) is not the bot's to answer (see [`Switchboard`]).

use crate::{SmoochAddress, SmoochSender};
use connector_core::{Event, Route, Sender};
use connector_engine::ConversationKey;
use connector_engine::Tap;
use connector_engine::step::{Input, UserInput};
use connector_engine::undelivered::{Undelivered, UndeliveredReason};
use connector_engine::values::{MessageId, UserFile};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::collections::HashMap;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InboundError {
    #[error("missing {0}")]
    Missing(&'static str),
    /// Not JSON text at all (syntax, or not UTF-8).
    #[error("body is not JSON")]
    NotJson,
    #[error("body is not a JSON object")]
    NotObject,
    /// A member of the envelope that the connector reads (`app`, `webhook`, ...) is JSON that
    /// serde_json cannot take (nested too deep, a lone surrogate...).
    #[error("unreadable envelope member {0}")]
    Envelope(&'static str),
}

impl InboundError {
    /// The error as a fixed text for the webhook's answer.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Missing("events") => "v2 payload without events",
            Self::Missing("appUser._id") => "v1.1 payload without appUser._id",
            Self::Missing(_) => "incomplete Smooch payload",
            Self::NotJson => "body is not JSON",
            Self::NotObject => "body is not a JSON object",
            Self::Envelope(_) => "unreadable Smooch payload",
        }
    }
}

/// The envelope's members the connector reads, parsed when the body is read.
const ENVELOPE: [&str; 6] = ["app", "webhook", "trigger", "appUser", "conversation", "timestamp"];
/// The lists of events (v2 `events`, v1.1 `messages` and `postbacks`): kept raw, each element
/// parsed on its own.
const LISTS: [&str; 3] = ["events", "messages", "postbacks"];

/// A webhook body, read so that each of its events stands alone: the envelope as JSON, the
/// lists of events as raw text.
///
/// serde_json skips over a [`RawValue`] iteratively (`ignore_value`, a heap stack of
/// brackets): that checks the syntax of the whole body without its recursion limit and without
/// recursing, whatever the depth, and it does not decode escapes, so a lone surrogate passes.
/// Both are found when an event is parsed into a [`Value`] on its own, its depth counted from
/// the event; other members are never parsed.
#[derive(Debug)]
pub struct Payload {
    /// The members of [`ENVELOPE`] that are present.
    envelope: Value,
    /// The members of [`LISTS`] that are present, unparsed (not necessarily arrays).
    lists: HashMap<&'static str, Box<RawValue>>,
}

impl Payload {
    /// Refuses a body that is not JSON (syntax, UTF-8), not an object, or whose envelope
    /// cannot be read; the events are only split apart here, not read.
    pub fn read(body: &[u8]) -> Result<Self, InboundError> {
        let members: HashMap<String, &RawValue> = serde_json::from_slice(body).map_err(|error| match error.classify() {
            // A type error comes before the rest is read: JSON only if all of it is (serde_json
            // skips over an ignored value as over a raw one, iteratively).
            serde_json::error::Category::Data if serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok() => InboundError::NotObject,
            _ => InboundError::NotJson,
        })?;
        let mut envelope = Map::new();
        let mut lists = HashMap::new();
        for (name, raw) in members {
            if let Some(list) = LISTS.into_iter().find(|list| *list == name) {
                lists.insert(list, raw.to_owned());
            } else if let Some(member) = ENVELOPE.into_iter().find(|member| *member == name) {
                let value = serde_json::from_str(raw.get()).map_err(|_| InboundError::Envelope(member))?;
                envelope.insert(name, value);
            }
        }
        Ok(Self { envelope: Value::Object(envelope), lists })
    }

    /// The payload's app: v2 `app.id`, v1.1 `app._id`.
    pub fn app_id(&self) -> Option<&str> {
        app_id(&self.envelope)
    }

    /// The elements of list `name`, unparsed; `None` when it is absent or not an array.
    fn list(&self, name: &str) -> Option<Vec<&RawValue>> {
        serde_json::from_str(self.lists.get(name)?.get()).ok()
    }
}

/// The elements of a list that serde_json can read, with their positions in the list. Each
/// one it cannot read is logged, by position and serde_json's reason (which never quotes the
/// input: user text is personal data), and skipped.
fn readable<'a>(list: &'static str, items: &'a [&RawValue]) -> impl Iterator<Item = (usize, Value)> + 'a {
    items.iter().enumerate().filter_map(move |(position, raw)| match serde_json::from_str::<Value>(raw.get()) {
        Ok(value) => Some((position, value)),
        Err(error) => {
            tracing::warn!(channel = "smooch", list, position, error = %error, "an unreadable event was skipped; the others of the batch go on");
            None
        }
    })
}

/// The payload's app: v2 `app.id`, v1.1 `app._id`.
fn app_id(body: &Value) -> Option<&str> {
    body.pointer("/app/id").or_else(|| body.pointer("/app/_id")).and_then(Value::as_str).filter(|id| !id.is_empty())
}

/// Who may answer a Sunshine v2 conversation when the app has a switchboard (Zendesk's: the
/// bot, the Agent Workspace where a human agent answers, ...): the bot answers a conversation
/// that no switchboard integration controls, or that ours controls; while another one holds it
/// its users' messages are no events (the bot neither answers nor shows it is typing over the
/// agent).
///
/// Every v2 event names the conversation's `activeSwitchboardIntegration` (spec
/// `conversationTruncated`: omitted, or null, when none is active), so nothing is stored: once
/// the holder releases control (`switchboard:releaseControl`, whose conversation has no active
/// integration) or passes it to us, the next message shows it, and that event itself needs no
/// handling. v1.1 payloads carry no switchboard and are always answered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Switchboard {
    /// Our switchboard integration (`smooch.switchboard_integration`): the `integrationId` it
    /// delivers to, or its own `id` or `name`. Empty: the deployment names none, and only a
    /// human agents' integration ([`AGENT_INTEGRATION_TYPES`]) is taken as another's, so a
    /// deployment whose own integration is in the switchboard keeps answering.
    ours: String,
}

/// Integration types where human agents answer: while one holds a conversation the bot is
/// silent, even when no integration is configured as ours (the spec's example and Zendesk's
/// Agent Workspace).
const AGENT_INTEGRATION_TYPES: &[&str] = &["zd:agentWorkspace"];

impl Switchboard {
    pub fn new(ours: &str) -> Self {
        Self { ours: ours.trim().to_owned() }
    }

    /// The integration holding `conversation` (a v2 event's), unless it is ours or none is.
    fn held_by_another<'a>(&self, conversation: Option<&'a Value>) -> Option<&'a Value> {
        let active = conversation?.get("activeSwitchboardIntegration").filter(|active| active.is_object())?;
        let held = if self.ours.is_empty() {
            str_at(active, "/integrationType").is_some_and(|kind| AGENT_INTEGRATION_TYPES.contains(&kind))
        } else {
            !["/integrationId", "/id", "/name"].iter().any(|at| str_at(active, at) == Some(self.ours.as_str()))
        };
        held.then_some(active)
    }

    /// Says why a user's message got no answer: ids and names of integrations only, no content.
    fn log_held(&self, active: &Value) {
        let (kind, name) = (str_at(active, "/integrationType").unwrap_or("?"), str_at(active, "/name").unwrap_or("?"));
        let integration = str_at(active, "/integrationId").unwrap_or("?");
        tracing::info!(
            channel = "smooch",
            integration_type = kind,
            name,
            integration,
            "another switchboard integration holds the conversation: the bot stays silent"
        );
    }
}

/// The events of a webhook body; `switchboard` says which v2 conversations are the bot's.
pub fn events(body: &Payload, switchboard: &Switchboard) -> Result<Vec<Event>, InboundError> {
    let app = body.app_id().ok_or(InboundError::Missing("app id"))?;
    if body.lists.contains_key("events") || body.envelope.pointer("/webhook/version").is_some() {
        let events = body.list("events").ok_or(InboundError::Missing("events"))?;
        return Ok(readable("events", &events).filter_map(|(_, event)| v2_event(app, &event, switchboard)).collect());
    }
    match body.envelope.get("trigger").and_then(Value::as_str) {
        Some("message:appUser") => v1_messages(app, body),
        Some("postback") => v1_postbacks(app, body),
        // Other triggers (delivery, read, conversation:start...) ask for no answer.
        _ => Ok(Vec::new()),
    }
}

/// The PHP connector's externalId, `smooch-<app>-<appUser>`, so HyperChat users it created
/// stay addressable.
fn conversation_key(app: &str, user: &str) -> ConversationKey {
    ConversationKey::new(format!("smooch-{app}-{user}"))
}

fn event(id: String, address: SmoochAddress, input: UserInput) -> Event {
    Event {
        id: MessageId::new("smooch", &id),
        route: Route::Conversation(conversation_key(&address.app, &address.user)),
        address: Some(SmoochSender::address(&address)),
        input: Input::User(input),
    }
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// What a user's message (v2 `content`, v1.1 message) says: a tap on one of our buttons, text,
/// or media with its caption and file.
fn user_input(message: &Value) -> UserInput {
    let text = message.get("text").and_then(Value::as_str).unwrap_or_default();
    if let Some(tap) = message.get("payload").and_then(Value::as_str).and_then(Tap::from_payload) {
        return UserInput::Pick(tap);
    }
    match message.get("type").and_then(Value::as_str).unwrap_or("text") {
        "text" | "location" => UserInput::Text(text.to_owned()),
        // Images, files, carousels... the caption is what the bot can read, the file what an
        // agent can.
        _ => {
            let file = str_at(message, "/mediaUrl").map(|url| UserFile {
                url: url.to_owned(),
                media_type: str_at(message, "/mediaType").map(str::to_owned),
                name: None,
            });
            UserInput::Media { caption: text.to_owned(), files: file.into_iter().collect() }
        }
    }
}

/// A tapped postback button: ours carries a [`Tap`] and picks its option. Another one (Get
/// Started, a persistent menu) counts as its text typed when the webhook says what the user saw
/// (v1.1's `action.text`, as Messenger's `title`), and is no input otherwise: Sunshine v2 sends
/// only the payload (spec `postbackWebhook`: `payload`, `metadata`), and a payload is the
/// business's code (`GET_STARTED`), not words of the user's that the bot could answer. It is not
/// turned into a greeting either: the engine has no greeting input, and words made up here would
/// be in no particular language. Logged, with the start of the payload (the business's, not the
/// user's), so an operator can see a menu the bot does not serve.
fn postback_input(text: &str, payload: &str) -> Option<UserInput> {
    if let Some(tap) = Tap::from_payload(payload) {
        return Some(UserInput::Pick(tap));
    }
    if !text.trim().is_empty() {
        return Some(UserInput::Text(text.to_owned()));
    }
    let payload: String = payload.chars().take(64).collect();
    tracing::info!(channel = "smooch", payload, "a postback that is none of our buttons and carries no text was not answered");
    None
}

fn v2_event(app: &str, raw: &Value, switchboard: &Switchboard) -> Option<Event> {
    let payload = raw.get("payload")?;
    let conversation = str_at(payload, "/conversation/id").map(str::to_owned);
    let kind = raw.get("type").and_then(Value::as_str)?;
    if matches!(kind, "conversation:message" | "conversation:postback")
        && let Some(active) = switchboard.held_by_another(payload.get("conversation"))
    {
        // Our own messages echoed back are no events anyway: say nothing of them.
        if kind == "conversation:postback" || payload.pointer("/message/author/type").and_then(Value::as_str) == Some("user") {
            switchboard.log_held(active);
        }
        return None;
    }
    match kind {
        "conversation:message" => {
            let message = payload.get("message")?;
            if message.pointer("/author/type").and_then(Value::as_str) != Some("user") {
                return None;
            }
            let user = str_at(message, "/author/userId").or_else(|| str_at(message, "/author/user/id"))?;
            let input = user_input(message.get("content")?);
            let address = SmoochAddress { app: app.to_owned(), user: user.to_owned(), conversation };
            Some(event(str_at(message, "/id")?.to_owned(), address, input))
        }
        // One of our messages did not reach the user (spec
        // `conversationMessageDeliveryFailureEvent`): it names only the message's id and the
        // error, not whose message it was. While the user is in a live chat, what we send them is
        // the chat's, so it is reported as an agent's: the engine tells the agent of an open
        // chat, and only logs it otherwise. A failure that is not final is retried by Smooch.
        "conversation:message:delivery:failure" => {
            if payload.get("isFinalEvent").and_then(Value::as_bool) == Some(false) {
                return None;
            }
            let user = str_at(payload, "/user/id")?;
            let code = str_at(payload, "/error/code").map(str::to_owned);
            Some(Event {
                id: MessageId::new("smooch-failure", str_at(raw, "/id")?),
                route: Route::Conversation(conversation_key(app, user)),
                address: None,
                input: Input::Undelivered(Undelivered { from_agent: true, reason: UndeliveredReason::Other, code }),
            })
        }
        "conversation:postback" => {
            let user = str_at(payload, "/user/id")?;
            // No `text` in a v2 postback: only ours, by their payload, are input.
            let input = postback_input("", payload.pointer("/postback/payload").and_then(Value::as_str).unwrap_or_default())?;
            let address = SmoochAddress { app: app.to_owned(), user: user.to_owned(), conversation };
            // A postback has no message id: the event's id is the one Smooch keeps on retries.
            Some(event(str_at(raw, "/id")?.to_owned(), address, input))
        }
        _ => None,
    }
}

fn v1_address(app: &str, body: &Value) -> Result<SmoochAddress, InboundError> {
    let user = str_at(body, "/appUser/_id").ok_or(InboundError::Missing("appUser._id"))?;
    Ok(SmoochAddress { app: app.to_owned(), user: user.to_owned(), conversation: str_at(body, "/conversation/_id").map(str::to_owned) })
}

fn v1_messages(app: &str, body: &Payload) -> Result<Vec<Event>, InboundError> {
    let address = v1_address(app, &body.envelope)?;
    let messages = body.list("messages").unwrap_or_default();
    Ok(readable("messages", &messages)
        .filter(|(_, m)| m.get("role").and_then(Value::as_str).unwrap_or("appUser") == "appUser")
        .filter_map(|(_, m)| {
            let input = user_input(&m);
            Some(event(str_at(&m, "/_id")?.to_owned(), address.clone(), input))
        })
        .collect())
}

/// v1.1 postbacks carry no id of their own: the tapped action's and its message's ids, with
/// the payload's timestamp when there is one, tell retries (the same) from a second tap.
fn v1_postbacks(app: &str, body: &Payload) -> Result<Vec<Event>, InboundError> {
    let address = v1_address(app, &body.envelope)?;
    let postbacks = body.list("postbacks").unwrap_or_default();
    let timestamp = body.envelope.get("timestamp").map(Value::to_string).unwrap_or_default();
    // The position in the list, unreadable postbacks counted: the same on Smooch's retries.
    Ok(readable("postbacks", &postbacks)
        .filter_map(|(i, postback)| {
            let action = postback.get("action")?;
            let text = action.get("text").and_then(Value::as_str).unwrap_or_default();
            let input = postback_input(text, action.get("payload").and_then(Value::as_str).unwrap_or_default())?;
            let action_id = str_at(action, "/_id").unwrap_or_default();
            let message_id = str_at(&postback, "/message/_id").unwrap_or_default();
            let id = format!("postback:{}:{action_id}:{message_id}:{timestamp}:{i}", address.user);
            Some(event(id, address.clone(), input))
        })
        .collect())
}

#[cfg(test)]
mod tests;
