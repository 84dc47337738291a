//! HyperChat's event payloads (`{"trigger","appId","data","created_at"}`) and signatures.

use crate::FileLinks;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use connector_core::{Event, Route};
use connector_engine::step::{ChatEvent, Input};
use connector_engine::values::MessageId;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Whether `signature` is the HMAC-SHA256 of `body` keyed with `secret`. Its encoding is not
/// documented: lowercase (or uppercase) hex and base64 are accepted, nothing else.
pub fn signature_matches(secret: &[u8], body: &[u8], signature: &str) -> bool {
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(secret) else { return false };
    mac.update(body);
    let expected = mac.finalize().into_bytes();
    let signature = signature.trim().strip_prefix("sha256=").unwrap_or(signature.trim());
    let given = if signature.len() == 64 && signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        (0..32).map(|i| u8::from_str_radix(&signature[2 * i..2 * i + 2], 16).unwrap_or_default()).collect::<Vec<u8>>()
    } else {
        match STANDARD.decode(signature) {
            Ok(bytes) => bytes,
            Err(_) => return false,
        }
    };
    given.len() == expected.len() && bool::from(expected.as_slice().ct_eq(&given))
}

/// 16 hex digits of the SHA-256 of `bytes`: the identity of a payload that carries no id.
pub(crate) fn short_digest(bytes: &[u8]) -> String {
    use sha2::Digest;
    Sha256::digest(bytes)[..8].iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Debug)]
pub struct NotAnEvent;

/// The live-chat events of one payload: none for the triggers the connector does not act on.
/// An agent's file becomes a link of `links`; without links, or for a file HyperChat names
/// oddly, the user gets its name.
pub fn parse_events(body: &[u8], links: Option<&FileLinks>) -> Result<Vec<Event>, NotAnEvent> {
    let payload: Value = serde_json::from_slice(body).map_err(|_| NotAnEvent)?;
    let trigger = payload.get("trigger").and_then(Value::as_str).ok_or(NotAnEvent)?;
    let data = payload.get("data").filter(|d| d.is_object()).ok_or(NotAnEvent)?;
    let created = payload.get("created_at").map(Value::to_string).unwrap_or_default();
    let text = |pointer: &str| data.pointer(pointer).and_then(Value::as_str).map(str::to_owned);
    let chat_id = text("/chatId").or_else(|| text("/message/chat")).ok_or(NotAnEvent)?;
    let event = match trigger {
        // Only `text` and `media` messages, what Inbenta's PHP passes on to users
        // (`ChatExternalService::sendMessageFromAgent`); system messages and any other type are
        // not for them.
        "messages:new" => {
            let sender = text("/message/sender").unwrap_or_default();
            match (text("/message/type").as_deref(), data.pointer("/message/message")) {
                (Some("text"), Some(Value::String(text))) => Some(ChatEvent::Message { sender, text: text.clone() }),
                // A file: `{"url":"/media/...","type":"image/png","name":"..."}`.
                (Some("media"), Some(file)) if file.is_object() => {
                    let field = |name: &str| file.get(name).and_then(Value::as_str).unwrap_or_default();
                    let name = Some(field("name")).filter(|n| !n.trim().is_empty()).unwrap_or("file");
                    match links.and_then(|links| links.link(field("url"), field("type"), name)) {
                        Some(file) => Some(ChatEvent::File { sender, file }),
                        None => Some(ChatEvent::Message { sender, text: format!("[{}]", connector_engine::reply::escape_html(name)) }),
                    }
                }
                _ => None,
            }
        }
        "invitations:accept" => text("/userId").map(|agent_id| ChatEvent::AgentJoined { agent_id }),
        "chats:close" => Some(ChatEvent::Closed),
        "forever:alone" => Some(ChatEvent::NoAgentLeft),
        "queues:update" => data
            .pointer("/data/queuePosition")
            .and_then(Value::as_u64)
            .map(|p| ChatEvent::QueuePosition(u32::try_from(p).unwrap_or(u32::MAX))),
        // Only someone starting to write: HyperChat has no indicator to switch off on the
        // channels, which stop showing it by themselves.
        "users:activity" => text("/type").filter(|kind| kind == "writing").and(text("/userId")).map(|writer| ChatEvent::Writing { writer }),
        "system:info" => data
            .pointer("/data/ticketId")
            .map(|t| ChatEvent::TicketCreated { ticket_id: t.as_str().map_or_else(|| t.to_string(), str::to_owned) }),
        _ => None,
    };
    let Some(event) = event else { return Ok(Vec::new()) };
    // HyperChat may deliver an event more than once: the same message, or the same trigger with
    // the same data at the same time, is one event.
    let identity = match (&event, text("/message/id")) {
        (ChatEvent::Message { .. } | ChatEvent::File { .. }, Some(message_id)) => format!("message:{message_id}"),
        _ => format!("{trigger}:{chat_id}:{created}:{}", short_digest(data.to_string().as_bytes())),
    };
    Ok(vec![Event {
        id: MessageId::new("hyperchat", &identity),
        route: Route::Chat(chat_id.clone()),
        address: None,
        input: Input::Chat { chat_id, event },
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of `upstream-apis.md` §5.3.
    const BODY: &str = r#"{"trigger":"messages:new","appId":"APP_ID","data":{"message":{"id":"m1","chat":"c1","sender":"agent1","type":"text","message":"Hello"}},"created_at":1600000000}"#;
    const HEX: &str = "ba1141b130f6f537eed8b457eb656b1049efa609983150699c5be30680a711d3";

    #[test]
    fn a_signature_in_lowercase_hex_or_base64_of_the_hmac_over_the_raw_body_is_accepted() {
        let raw: Vec<u8> = (0..32).map(|i| u8::from_str_radix(&HEX[2 * i..2 * i + 2], 16).unwrap()).collect();
        assert!(signature_matches(b"hook_secret_123", BODY.as_bytes(), HEX));
        assert!(signature_matches(b"hook_secret_123", BODY.as_bytes(), &STANDARD.encode(raw)));
    }

    #[test]
    fn a_signature_of_another_body_or_secret_or_in_another_form_is_refused() {
        assert!(!signature_matches(b"hook_secret_123", format!("{BODY} ").as_bytes(), HEX));
        assert!(!signature_matches(b"other", BODY.as_bytes(), HEX));
        assert!(!signature_matches(b"hook_secret_123", BODY.as_bytes(), &HEX[..63]));
        assert!(!signature_matches(b"hook_secret_123", BODY.as_bytes(), ""));
    }

    #[test]
    fn an_agents_message_becomes_a_chat_message_routed_by_its_chat() {
        let events = parse_events(BODY.as_bytes(), None).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].route, Route::Chat("c1".into()));
        assert_eq!(events[0].id.as_str(), "hyperchat#message:m1");
        let expected = Input::Chat { chat_id: "c1".into(), event: ChatEvent::Message { sender: "agent1".into(), text: "Hello".into() } };
        assert_eq!(events[0].input, expected);
    }

    #[test]
    fn each_trigger_the_connector_acts_on_becomes_its_event_and_the_others_none() {
        let event = |trigger: &str, data: &str| {
            let body = format!(r#"{{"trigger":"{trigger}","appId":"A","data":{data},"created_at":1}}"#);
            parse_events(body.as_bytes(), None).unwrap().into_iter().next().map(|e| e.input)
        };
        let chat = |event| Some(Input::Chat { chat_id: "c1".into(), event });
        assert_eq!(event("invitations:accept", r#"{"chatId":"c1","userId":"a1"}"#), chat(ChatEvent::AgentJoined { agent_id: "a1".into() }));
        assert_eq!(event("chats:close", r#"{"chatId":"c1","userId":"system"}"#), chat(ChatEvent::Closed));
        assert_eq!(event("forever:alone", r#"{"chatId":"c1"}"#), chat(ChatEvent::NoAgentLeft));
        assert_eq!(event("queues:update", r#"{"chatId":"c1","data":{"queuePosition":2}}"#), chat(ChatEvent::QueuePosition(2)));
        assert_eq!(
            event("system:info", r#"{"chatId":"c1","data":{"ticketId":123}}"#),
            chat(ChatEvent::TicketCreated { ticket_id: "123".into() })
        );
        assert_eq!(event("invitations:new", r#"{"chatId":"c1"}"#), None);
        assert_eq!(
            event("users:activity", r#"{"chatId":"c1","userId":"a1","type":"writing"}"#),
            chat(ChatEvent::Writing { writer: "a1".into() })
        );
        assert_eq!(event("users:activity", r#"{"chatId":"c1","userId":"a1","type":"not-writing"}"#), None);
        assert_eq!(event("users:activity", r#"{"chatId":"c1","type":"writing"}"#), None);
    }

    #[test]
    fn an_agents_file_is_a_link_of_this_connector_or_without_links_its_name_as_text() {
        struct Fixed;
        impl connector_engine::Clock for Fixed {
            fn now(&self) -> connector_engine::Timestamp {
                connector_engine::Timestamp(1_800_000_000)
            }
        }
        let secret = secrecy::SecretString::from("app-secret".to_owned());
        let links =
            FileLinks::new("https://fn.test/hyperchat", &secret, std::time::Duration::from_secs(60), std::sync::Arc::new(Fixed)).unwrap();
        let body = r#"{"trigger":"messages:new","appId":"A","created_at":1,"data":{"message":{"id":"m7","chat":"c1","sender":"a1","type":"media",
            "message":{"url":"/media/F7","type":"image/png","name":"<map> &.png"}}}}"#;
        let event = |links| parse_events(body.as_bytes(), links).unwrap().remove(0);
        let linked = event(Some(&links));
        assert_eq!(linked.id.as_str(), "hyperchat#message:m7");
        let Input::Chat { event: ChatEvent::File { sender, file }, .. } = linked.input else { panic!("{:?}", linked.input) };
        assert_eq!((sender.as_str(), file.name.as_str(), file.media_type.as_str()), ("a1", "map &.png", "image/png"));
        assert!(file.url.starts_with("https://fn.test/hyperchat/files/"), "{}", file.url);
        let named =
            Input::Chat { chat_id: "c1".into(), event: ChatEvent::Message { sender: "a1".into(), text: "[&lt;map&gt; &amp;.png]".into() } };
        assert_eq!(event(None).input, named);
    }

    #[test]
    fn only_text_and_media_messages_become_events_and_system_messages_of_other_types_none() {
        let message = |kind: &str, message: &str| {
            let body = format!(
                r#"{{"trigger":"messages:new","appId":"A","created_at":1,"data":{{"message":{{"id":"m1","chat":"c1","sender":"a1","type":"{kind}","message":{message}}}}}}}"#
            );
            parse_events(body.as_bytes(), None).unwrap().into_iter().next().map(|e| e.input)
        };
        let text = Input::Chat { chat_id: "c1".into(), event: ChatEvent::Message { sender: "a1".into(), text: "Hi".into() } };
        assert_eq!(message("text", r#""Hi""#), Some(text));
        let file = Input::Chat { chat_id: "c1".into(), event: ChatEvent::Message { sender: "a1".into(), text: "[a.png]".into() } };
        assert_eq!(message("media", r#"{"url":"/media/F1","type":"image/png","name":"a.png"}"#), Some(file));
        for (kind, body) in
            [("system", r#""Chat transferred to Bob""#), ("info", r#""x""#), ("", r#""x""#), ("text", r#"{"url":"/media/F1"}"#)]
        {
            assert_eq!(message(kind, body), None, "{kind} {body}");
        }
        let untyped = br#"{"trigger":"messages:new","appId":"A","created_at":1,"data":{"message":{"id":"m1","chat":"c1","sender":"a1","message":"Hi"}}}"#;
        assert!(parse_events(untyped, None).unwrap().is_empty(), "no type: not relayed, as by the PHP");
    }

    #[test]
    fn a_body_that_is_not_an_event_is_refused() {
        for body in ["", "[]", r#"{"trigger":"chats:close"}"#, r#"{"trigger":"chats:close","data":{}}"#, "\u{0}garbage"] {
            assert!(parse_events(body.as_bytes(), None).is_err(), "{body:?}");
        }
    }
}
