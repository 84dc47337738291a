//! The inbound message webhook (`application/x-www-form-urlencoded`).

use crate::{Network, TwilioAddress, TwilioSender};
use connector_core::{Event, Route, Sender};
use connector_engine::ConversationKey;
use connector_engine::ports::{MessageId, UserFile};
use connector_engine::step::{Input, UserInput};

/// Twilio sends at most ten media per message.
const MAX_MEDIA: usize = 10;

/// The fields of a Twilio message webhook the connector uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwilioInbound {
    pub message_sid: String,
    /// The user's address (`+34600...` or `whatsapp:+34600...`).
    pub from: String,
    /// The company's address the user wrote to.
    pub to: String,
    pub body: String,
    pub num_media: usize,
    /// `MediaUrl{N}` with `MediaContentType{N}`, in order.
    pub media: Vec<UserFile>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InboundError {
    #[error("missing or empty field {0}")]
    Missing(&'static str),
}

impl InboundError {
    /// The error as a fixed text for the webhook's answer.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Missing("MessageSid") => "missing or empty field MessageSid",
            Self::Missing("From") => "missing or empty field From",
            Self::Missing("To") => "missing or empty field To",
            Self::Missing(_) => "missing or empty field",
        }
    }
}

impl TwilioInbound {
    pub fn from_params(params: &[(String, String)]) -> Result<Self, InboundError> {
        let field = |name: &'static str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim().to_owned()).filter(|v| !v.is_empty());
        let required = |name: &'static str| field(name).ok_or(InboundError::Missing(name));
        let num_media = field("NumMedia").and_then(|n| n.parse().ok()).unwrap_or(0);
        Ok(Self {
            message_sid: required("MessageSid")?,
            from: required("From")?,
            to: required("To")?,
            body: params.iter().find(|(k, _)| k == "Body").map(|(_, v)| v.clone()).unwrap_or_default(),
            num_media,
            media: (0..num_media.min(MAX_MEDIA))
                .filter_map(|i| {
                    let url = params.iter().find(|(k, _)| *k == format!("MediaUrl{i}")).map(|(_, v)| v.trim().to_owned())?;
                    let media_type = params.iter().find(|(k, _)| *k == format!("MediaContentType{i}")).map(|(_, v)| v.trim().to_owned());
                    Some(UserFile { url, media_type, name: None })
                })
                .collect(),
        })
    }

    pub fn network(&self) -> Network {
        Network::of(&self.from)
    }

    /// The PHP connector's externalId: `twilio-<To>-<From>` without `:+` and `+`, so HyperChat
    /// users it created stay addressable (`twilio-whatsapp14155238886-whatsapp34600111222`).
    pub fn conversation_key(&self) -> ConversationKey {
        ConversationKey::new(format!("twilio-{}-{}", self.to, self.from).replace(":+", "").replace('+', ""))
    }

    /// The reply address: back from the number the user wrote to.
    pub fn reply_address(&self) -> TwilioAddress {
        TwilioAddress { company: self.to.clone(), user: self.from.clone() }
    }

    pub fn to_event(&self) -> Event {
        let input = if self.num_media > 0 {
            UserInput::Media { caption: self.body.clone(), files: self.media.clone() }
        } else {
            UserInput::Text(self.body.clone())
        };
        Event {
            id: MessageId::new("twilio", &self.message_sid),
            route: Route::Conversation(self.conversation_key()),
            address: Some(TwilioSender::address(&self.reply_address())),
            input: Input::User(input),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn the_sms_conversation_key_is_the_php_external_id() {
        let m = TwilioInbound::from_params(&params(&[("MessageSid", "SM1"), ("From", "+34600111222"), ("To", "+12078200470")])).unwrap();
        assert_eq!(m.conversation_key().as_str(), "twilio-12078200470-34600111222");
        assert_eq!(m.network(), Network::Sms);
    }

    #[test]
    fn the_whatsapp_conversation_key_is_the_php_external_id() {
        let m = TwilioInbound::from_params(&params(&[
            ("MessageSid", "SM1"),
            ("From", "whatsapp:+34600111222"),
            ("To", "whatsapp:+14155238886"),
        ]))
        .unwrap();
        assert_eq!(m.conversation_key().as_str(), "twilio-whatsapp14155238886-whatsapp34600111222");
        assert_eq!(m.network(), Network::WhatsApp);
    }

    #[test]
    fn a_message_without_sender_is_refused() {
        let error = TwilioInbound::from_params(&params(&[("MessageSid", "SM1"), ("To", "+1")])).unwrap_err();
        assert_eq!(error, InboundError::Missing("From"));
    }

    #[test]
    fn a_media_message_reaches_the_engine_as_media_with_its_caption_and_every_media_url() {
        let m = TwilioInbound::from_params(&params(&[
            ("MessageSid", "SM1"),
            ("From", "+3"),
            ("To", "+1"),
            ("Body", "look"),
            ("NumMedia", "2"),
            ("MediaUrl0", "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1"),
            ("MediaContentType0", "image/jpeg"),
            ("MediaUrl1", "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME2"),
        ]))
        .unwrap();
        let files = vec![
            UserFile {
                url: "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1".into(),
                media_type: Some("image/jpeg".into()),
                name: None,
            },
            UserFile { url: "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME2".into(), media_type: None, name: None },
        ];
        assert_eq!(m.to_event().input, Input::User(UserInput::Media { caption: "look".into(), files }));
        assert_eq!(m.to_event().id.as_str(), "twilio#SM1");
    }
}
