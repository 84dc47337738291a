//! Webhook payloads, told apart by their shape: v2 `{app, webhook, events[]}` or v1.1
//! `{trigger, app, appUser, messages[] | postbacks[]}`. Every message of a batch becomes an
//! event, in order; one payload may carry several users. Messages the business wrote
//! (`business` / `appMaker`, our own replies included) and other event types are no events.

use crate::{SmoochAddress, SmoochSender};
use connector_core::{Event, Route, Sender};
use connector_engine::ConversationKey;
use connector_engine::Tap;
use connector_engine::ports::{MessageId, UserFile};
use connector_engine::step::{Input, UserInput};
use serde_json::Value;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InboundError {
    #[error("missing {0}")]
    Missing(&'static str),
}

impl InboundError {
    /// The error as a fixed text for the webhook's answer.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Missing("events") => "v2 payload without events",
            Self::Missing("appUser._id") => "v1.1 payload without appUser._id",
            Self::Missing(_) => "incomplete Smooch payload",
        }
    }
}

/// The payload's app: v2 `app.id`, v1.1 `app._id`.
pub fn app_id(body: &Value) -> Option<&str> {
    body.pointer("/app/id").or_else(|| body.pointer("/app/_id")).and_then(Value::as_str).filter(|id| !id.is_empty())
}

pub fn events(body: &Value) -> Result<Vec<Event>, InboundError> {
    let app = app_id(body).ok_or(InboundError::Missing("app id"))?;
    if body.get("events").is_some() || body.pointer("/webhook/version").is_some() {
        let events = body.get("events").and_then(Value::as_array).ok_or(InboundError::Missing("events"))?;
        return Ok(events.iter().filter_map(|event| v2_event(app, event)).collect());
    }
    match body.get("trigger").and_then(Value::as_str) {
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

/// A tapped postback button: ours carries a [`Tap`]; another (a persistent menu) counts as its
/// text typed.
fn postback_input(text: &str, payload: &str) -> UserInput {
    Tap::from_payload(payload).map_or_else(|| UserInput::Text(if text.is_empty() { payload } else { text }.to_owned()), UserInput::Pick)
}

fn v2_event(app: &str, raw: &Value) -> Option<Event> {
    let payload = raw.get("payload")?;
    let conversation = str_at(payload, "/conversation/id").map(str::to_owned);
    match raw.get("type").and_then(Value::as_str)? {
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
        "conversation:postback" => {
            let user = str_at(payload, "/user/id")?;
            let postback = payload.get("postback")?;
            let text = postback.get("text").and_then(Value::as_str).unwrap_or_default();
            let input = postback_input(text, postback.get("payload").and_then(Value::as_str).unwrap_or_default());
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

fn v1_messages(app: &str, body: &Value) -> Result<Vec<Event>, InboundError> {
    let address = v1_address(app, body)?;
    let messages = body.get("messages").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    Ok(messages
        .iter()
        .filter(|m| m.get("role").and_then(Value::as_str).unwrap_or("appUser") == "appUser")
        .filter_map(|m| {
            let input = user_input(m);
            Some(event(str_at(m, "/_id")?.to_owned(), address.clone(), input))
        })
        .collect())
}

/// v1.1 postbacks carry no id of their own: the tapped action's and its message's ids, with
/// the payload's timestamp when there is one, tell retries (the same) from a second tap.
fn v1_postbacks(app: &str, body: &Value) -> Result<Vec<Event>, InboundError> {
    let address = v1_address(app, body)?;
    let postbacks = body.get("postbacks").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let timestamp = body.get("timestamp").map(Value::to_string).unwrap_or_default();
    Ok(postbacks
        .iter()
        .enumerate()
        .filter_map(|(i, postback)| {
            let action = postback.get("action")?;
            let text = action.get("text").and_then(Value::as_str).unwrap_or_default();
            let input = postback_input(text, action.get("payload").and_then(Value::as_str).unwrap_or_default());
            let action_id = str_at(action, "/_id").unwrap_or_default();
            let message_id = str_at(postback, "/message/_id").unwrap_or_default();
            let id = format!("postback:{}:{action_id}:{message_id}:{timestamp}:{i}", address.user);
            Some(event(id, address.clone(), input))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn v2(events: Value) -> Value {
        json!({"app":{"id":"app1"},"webhook":{"id":"wh1","version":"v2"},"events":events})
    }

    fn v2_message(id: &str, user: &str, author: &str, content: Value) -> Value {
        json!({"id":format!("ev-{id}"),"type":"conversation:message","createdAt":"2026-12-01T00:00:00Z","payload":{
            "conversation":{"id":format!("conv-{user}"),"type":"personal"},
            "message":{"id":id,"author":{"type":author,"userId":user},"content":content}}})
    }

    fn inputs(events: &[Event]) -> Vec<Input> {
        events.iter().map(|e| e.input.clone()).collect()
    }

    #[test]
    fn every_v2_message_of_a_batch_is_an_event_of_its_own_user_in_order() {
        let body = v2(json!([
            v2_message("m1", "u1", "user", json!({"type":"text","text":"hello"})),
            v2_message("m2", "u2", "user", json!({"type":"text","text":"hi"})),
        ]));
        let events = events(&body).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].id, MessageId::new("smooch", "m1"));
        assert_eq!(events[0].route, Route::Conversation(ConversationKey::new("smooch-app1-u1")));
        assert_eq!(events[1].route, Route::Conversation(ConversationKey::new("smooch-app1-u2")));
        let address: SmoochAddress = serde_json::from_value(events[1].address.clone().unwrap().to).unwrap();
        assert_eq!(address, SmoochAddress { app: "app1".into(), user: "u2".into(), conversation: Some("conv-u2".into()) });
        assert_eq!(inputs(&events), vec![Input::User(UserInput::Text("hello".into())), Input::User(UserInput::Text("hi".into()))]);
    }

    #[test]
    fn business_messages_and_other_event_types_are_no_events() {
        let body = v2(json!([
            v2_message("m1", "u1", "business", json!({"type":"text","text":"our reply"})),
            {"id":"ev2","type":"conversation:read","payload":{}},
        ]));
        assert!(events(&body).unwrap().is_empty());
    }

    #[test]
    fn a_reply_or_postback_with_our_tap_is_a_pick_and_a_foreign_postback_is_its_text() {
        let tap = Tap { number: 2, label: "No".into() };
        let body = v2(json!([
            v2_message("m1", "u1", "user", json!({"type":"text","text":"No","payload":tap.payload()})),
            {"id":"ev2","type":"conversation:postback","payload":{"conversation":{"id":"c"},"user":{"id":"u1"},
                "postback":{"text":"Yes","payload":Tap { number: 1, label: "Yes".into() }.payload()}}},
            {"id":"ev3","type":"conversation:postback","payload":{"conversation":{"id":"c"},"user":{"id":"u1"},
                "postback":{"text":"Get started","payload":"GET_STARTED"}}},
        ]));
        let events = events(&body).unwrap();
        assert_eq!(
            inputs(&events),
            vec![
                Input::User(UserInput::Pick(tap)),
                Input::User(UserInput::Pick(Tap { number: 1, label: "Yes".into() })),
                Input::User(UserInput::Text("Get started".into())),
            ]
        );
        assert_eq!(events[1].id, MessageId::new("smooch", "ev2"));
    }

    #[test]
    fn an_image_is_media_with_its_caption_and_its_file() {
        let body = v2(json!([
            v2_message("m1", "u1", "user", json!({"type":"image","mediaUrl":"https://x.test/a.png","mediaType":"image/png","text":"mine"})),
            v2_message("m2", "u1", "user", json!({"type":"carousel","items":[]})),
        ]));
        let file = UserFile { url: "https://x.test/a.png".into(), media_type: Some("image/png".into()), name: None };
        assert_eq!(
            inputs(&events(&body).unwrap()),
            vec![
                Input::User(UserInput::Media { caption: "mine".into(), files: vec![file] }),
                Input::User(UserInput::Media { caption: String::new(), files: vec![] })
            ]
        );
    }

    #[test]
    fn v1_messages_of_the_app_user_are_events_and_app_maker_echoes_are_not() {
        let body = json!({"trigger":"message:appUser","app":{"_id":"app1"},"appUser":{"_id":"au1"},"messages":[
            {"_id":"m1","type":"text","text":"hello","role":"appUser"},
            {"_id":"m2","type":"text","text":"echo","role":"appMaker"},
            {"_id":"m3","type":"text","text":"Yes","role":"appUser","payload":Tap { number: 1, label: "Yes".into() }.payload()}
        ]});
        let events = events(&body).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].route, Route::Conversation(ConversationKey::new("smooch-app1-au1")));
        assert_eq!(events[1].input, Input::User(UserInput::Pick(Tap { number: 1, label: "Yes".into() })));
    }

    #[test]
    fn a_v1_postback_id_is_the_same_on_a_retry() {
        let body = json!({"trigger":"postback","app":{"_id":"app1"},"appUser":{"_id":"au1"},"timestamp":1480349392.103,
            "postbacks":[{"message":{"_id":"m1"},"action":{"_id":"a1","type":"postback","text":"Yes","payload":"YES"}}]});
        let first = events(&body).unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].id, events(&body.clone()).unwrap()[0].id);
        assert_eq!(first[0].input, Input::User(UserInput::Text("Yes".into())));
    }

    #[test]
    fn unknown_triggers_are_no_events_and_a_v1_message_without_user_is_refused() {
        assert!(events(&json!({"trigger":"delivery:success","app":{"_id":"a"}})).unwrap().is_empty());
        assert_eq!(
            events(&json!({"trigger":"message:appUser","app":{"_id":"a"},"messages":[]})).unwrap_err(),
            InboundError::Missing("appUser._id")
        );
    }
}
