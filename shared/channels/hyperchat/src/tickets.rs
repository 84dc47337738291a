//! Inbenta Messenger's "external ticket source" webhook: an agent's reply to the ticket made of
//! a closed chat, posted to the HyperChat events URL as
//! `{"events":[{"resource":<ticket>,"resource_data":{"creator":{"identifier":<e-mail>}},"action_data":{"text":<reply>}}]}`
//! with the plain shared secret in `X-Hook-Signature` (not an HMAC, unlike HyperChat's events).

use crate::events::short_digest;
use connector_core::{Event, Route};
use connector_engine::step::Input;
use connector_engine::values::MessageId;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;
use subtle::ConstantTimeEq;

/// Whether a body is a ticket webhook's rather than a HyperChat event's: an `events` list and
/// no `trigger`. Only its shape is read (nothing is kept), since it decides which secret
/// authenticates it.
pub fn is_ticket_reply(body: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Shape {
        events: Option<IgnoredAny>,
        trigger: Option<IgnoredAny>,
    }
    serde_json::from_slice::<Shape>(body).is_ok_and(|shape| shape.events.is_some() && shape.trigger.is_none())
}

/// Whether `offered` is the configured shared secret, compared in constant time. An empty
/// configured secret matches nothing: ticket replies are then refused, never open to anyone.
pub fn ticket_secret_matches(configured: &SecretString, offered: Option<&str>) -> bool {
    let configured = configured.expose_secret().as_bytes();
    match offered {
        Some(offered) if !configured.is_empty() => bool::from(configured.ct_eq(offered.trim().as_bytes())),
        _ => false,
    }
}

#[derive(Debug)]
pub struct NotATicketReply;

/// The agents' replies of one ticket webhook. Events without a reply text (other ticket
/// actions) are none; a reply that names no ticket is malformed.
pub fn parse_ticket_replies(body: &[u8]) -> Result<Vec<Event>, NotATicketReply> {
    let payload: Value = serde_json::from_slice(body).map_err(|_| NotATicketReply)?;
    let events = payload.get("events").and_then(Value::as_array).ok_or(NotATicketReply)?;
    let mut replies = Vec::new();
    for event in events {
        if !event.is_object() {
            return Err(NotATicketReply);
        }
        let Some(text) = event.pointer("/action_data/text").and_then(Value::as_str).filter(|t| !t.trim().is_empty()) else { continue };
        let ticket = match event.get("resource") {
            Some(Value::String(ticket)) if !ticket.trim().is_empty() => ticket.trim().to_owned(),
            Some(number @ Value::Number(_)) => number.to_string(),
            _ => return Err(NotATicketReply),
        };
        let contact = event.pointer("/resource_data/creator/identifier").and_then(Value::as_str).filter(|c| !c.trim().is_empty());
        // Messenger gives a reply no id: the same event delivered again is the same reply.
        let identity = format!("{ticket}:{}", short_digest(event.to_string().as_bytes()));
        replies.push(Event {
            id: MessageId::new("ticket", &identity),
            route: Route::Ticket { ticket: ticket.clone(), contact: contact.map(str::to_owned) },
            address: None,
            input: Input::TicketReply { ticket, text: text.to_owned() },
        });
    }
    Ok(replies)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of `php-behavior.md`.
    const BODY: &str =
        r#"{"events":[{"resource":"TCK-123","resource_data":{"creator":{"identifier":"a@b.c"}},"action_data":{"text":"Your answer"}}]}"#;

    #[test]
    fn a_ticket_webhook_body_is_told_from_a_hyperchat_event() {
        assert!(is_ticket_reply(BODY.as_bytes()));
        assert!(!is_ticket_reply(br#"{"trigger":"chats:close","data":{"chatId":"c1"}}"#));
        assert!(!is_ticket_reply(br#"{"trigger":"x","events":[]}"#));
        assert!(!is_ticket_reply(b"garbage"));
    }

    #[test]
    fn only_the_configured_secret_authenticates_and_an_empty_one_authenticates_nothing() {
        let secret = SecretString::from("s3cret".to_owned());
        assert!(ticket_secret_matches(&secret, Some("s3cret")));
        assert!(!ticket_secret_matches(&secret, Some("s3cre")));
        assert!(!ticket_secret_matches(&secret, None));
        let empty = SecretString::from(String::new());
        assert!(!ticket_secret_matches(&empty, Some("")));
        assert!(!ticket_secret_matches(&empty, None));
    }

    #[test]
    fn a_reply_becomes_a_ticket_reply_routed_by_its_ticket_and_creator_with_a_stable_id() {
        let events = parse_ticket_replies(BODY.as_bytes()).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].route, Route::Ticket { ticket: "TCK-123".into(), contact: Some("a@b.c".into()) });
        assert_eq!(events[0].input, Input::TicketReply { ticket: "TCK-123".into(), text: "Your answer".into() });
        assert_eq!(events[0].id, parse_ticket_replies(BODY.as_bytes()).unwrap()[0].id, "a redelivery is the same reply");
        let other = BODY.replace("Your answer", "Another answer");
        assert_ne!(events[0].id, parse_ticket_replies(other.as_bytes()).unwrap()[0].id);
    }

    #[test]
    fn events_without_a_reply_text_are_none_and_a_reply_without_a_ticket_is_malformed() {
        assert!(parse_ticket_replies(br#"{"events":[{"resource":"T1","action_data":{}}]}"#).unwrap().is_empty());
        let numbered = parse_ticket_replies(br#"{"events":[{"resource":7,"action_data":{"text":"hi"}}]}"#).unwrap();
        assert_eq!(numbered[0].route, Route::Ticket { ticket: "7".into(), contact: None });
        for body in [r#"{"events":{}}"#, r#"{"events":[1]}"#, r#"{"events":[{"action_data":{"text":"hi"}}]}"#, "nope"] {
            assert!(parse_ticket_replies(body.as_bytes()).is_err(), "{body}");
        }
    }
}
