//! Status callbacks: Twilio posts each message's later outcome to the `StatusCallback` URL it was
//! sent with (form-encoded, signed like the message webhook): `MessageSid`, `MessageStatus`
//! (`queued`, `sent`, `delivered`, `read`, `failed`, `undelivered`...), `ErrorCode` when it
//! failed, `To` (the user) and `From` (the company). Only failures become events
//! (<https://www.twilio.com/docs/messaging/guides/track-outbound-message-status>).

use crate::inbound::{InboundError, field, required, route_of};
use connector_core::Event;
use connector_engine::step::Input;
use connector_engine::undelivered::{Undelivered, UndeliveredReason};
use connector_engine::values::MessageId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReport {
    pub message_sid: String,
    pub status: String,
    pub error_code: Option<String>,
    /// The user's address.
    pub to: String,
    /// The company's address.
    pub from: String,
}

impl StatusReport {
    pub fn from_params(params: &[(String, String)]) -> Result<Self, InboundError> {
        Ok(Self {
            message_sid: required(params, "MessageSid")?,
            status: required(params, "MessageStatus")?,
            error_code: field(params, "ErrorCode"),
            to: required(params, "To")?,
            from: required(params, "From")?,
        })
    }

    /// A failure as an event of the user's conversation; `None` for every other status.
    pub fn to_event(&self, from_agent: bool) -> Option<Event> {
        if !matches!(self.status.as_str(), "failed" | "undelivered") {
            return None;
        }
        let reason = self.error_code.as_deref().and_then(|code| code.parse().ok()).map_or(UndeliveredReason::Other, reason_of);
        Some(Event {
            id: MessageId::new("twilio-status", &format!("{}#{}", self.message_sid, self.status)),
            route: route_of(&self.from, &self.to, None),
            address: None,
            input: Input::Undelivered(Undelivered { from_agent, reason, code: self.error_code.clone() }),
        })
    }
}

/// Twilio's delivery error codes (<https://www.twilio.com/docs/api/errors>), sorted for the agent.
fn reason_of(code: u32) -> UndeliveredReason {
    match code {
        // WhatsApp: outside the 24-hour window; a template is needed.
        63016 => UndeliveredReason::WindowClosed,
        // Unreachable destination handset; WhatsApp: invalid message recipient.
        30003 | 63024 => UndeliveredReason::Unreachable,
        30004 => UndeliveredReason::Blocked,
        // Unknown destination handset; WhatsApp: the channel could not find the To address.
        30005 | 63003 => UndeliveredReason::UnknownAddress,
        30006 => UndeliveredReason::NotMobile,
        30007 => UndeliveredReason::Filtered,
        _ => UndeliveredReason::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn report(status: &str, code: Option<&str>) -> StatusReport {
        let mut pairs =
            vec![("MessageSid", "SM1"), ("MessageStatus", status), ("To", "whatsapp:+34600111222"), ("From", "whatsapp:+14155238886")];
        pairs.extend(code.map(|code| ("ErrorCode", code)));
        StatusReport::from_params(&params(&pairs)).unwrap()
    }

    #[test]
    fn only_failed_and_undelivered_statuses_become_events_of_the_users_conversation() {
        for status in ["queued", "sent", "delivered", "read"] {
            assert_eq!(report(status, None).to_event(true), None, "{status}");
        }
        let event = report("undelivered", Some("63016")).to_event(true).unwrap();
        assert_eq!(
            event.route,
            connector_core::Route::Conversation(crate::inbound::conversation_key("whatsapp:+14155238886", "whatsapp:+34600111222"))
        );
        assert_eq!(event.id.as_str(), "twilio-status#SM1#undelivered");
        let expected = Undelivered { from_agent: true, reason: UndeliveredReason::WindowClosed, code: Some("63016".into()) };
        assert_eq!(event.input, Input::Undelivered(expected));
    }

    #[test]
    fn codes_are_sorted_into_reasons_and_an_unknown_or_missing_code_is_other() {
        let reason = |code| match report("failed", code).to_event(false).unwrap().input {
            Input::Undelivered(report) => report.reason,
            other => panic!("{other:?}"),
        };
        assert_eq!(reason(Some("30004")), UndeliveredReason::Blocked);
        assert_eq!(reason(Some("30007")), UndeliveredReason::Filtered);
        assert_eq!(reason(Some("99999")), UndeliveredReason::Other);
        assert_eq!(reason(None), UndeliveredReason::Other);
    }

    #[test]
    fn a_status_without_its_message_sid_is_refused() {
        let error = StatusReport::from_params(&params(&[("MessageStatus", "failed"), ("To", "+3"), ("From", "+1")])).unwrap_err();
        assert_eq!(error.reason(), "missing or empty field MessageSid");
    }
}
