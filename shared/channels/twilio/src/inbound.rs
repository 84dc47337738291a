//! The inbound message webhook (`application/x-www-form-urlencoded`).

use crate::{Network, TwilioAddress, TwilioSender};
use connector_core::{Event, Route, Sender};
use connector_engine::step::{Input, UserInput};
use connector_engine::values::{MessageId, UserFile};
use connector_engine::{ConversationKey, Tap};

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
    /// What a tapped WhatsApp button (`ButtonPayload`) or list item (`ListId`) carries: one of
    /// our options' taps, or a payload of someone else's (a template's button).
    pub tapped: Option<String>,
    /// WhatsApp's business-scoped user id (2026), when Twilio names it beside a phone number
    /// (`ExternalUserId`, or `ExternalUserIdentifier` as Twilio's changelog calls it).
    pub external_user_id: Option<String>,
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
            Self::Missing("MessageStatus") => "missing or empty field MessageStatus",
            Self::Missing(_) => "missing or empty field",
        }
    }
}

/// The conversation between the company's address and the user's.
pub fn conversation_key(company: &str, user: &str) -> ConversationKey {
    ConversationKey::new(format!("twilio-{company}-{user}").replace(":+", "").replace('+', ""))
}

/// Whose conversation a message between `company` and `user` is. A WhatsApp user may be known
/// by their number and by a business-scoped user id (a username, 2026, e.g.
/// `whatsapp:US.13491208655302741918`): a message naming both links the id to the number's
/// conversation, so one naming only the id later finds the same conversation.
pub fn route_of(company: &str, user: &str, external_user_id: Option<&str>) -> Route {
    let bare = user.strip_prefix("whatsapp:").unwrap_or(user);
    let whatsapp = bare.len() != user.len();
    match external_user_id {
        _ if whatsapp && !bare.starts_with('+') => Route::Alias(conversation_key(company, user)),
        Some(id) if whatsapp && !id.is_empty() && id != bare => {
            Route::Linked { key: conversation_key(company, user), alias: conversation_key(company, &format!("whatsapp:{id}")) }
        }
        _ => Route::Conversation(conversation_key(company, user)),
    }
}

/// A form field, trimmed; `None` when absent or empty.
pub(crate) fn field(params: &[(String, String)], name: &str) -> Option<String> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim().to_owned()).filter(|v| !v.is_empty())
}

pub(crate) fn required(params: &[(String, String)], name: &'static str) -> Result<String, InboundError> {
    field(params, name).ok_or(InboundError::Missing(name))
}

impl TwilioInbound {
    pub fn from_params(params: &[(String, String)]) -> Result<Self, InboundError> {
        let num_media = field(params, "NumMedia").and_then(|n| n.parse().ok()).unwrap_or(0);
        Ok(Self {
            message_sid: required(params, "MessageSid")?,
            from: required(params, "From")?,
            to: required(params, "To")?,
            body: params.iter().find(|(k, _)| k == "Body").map(|(_, v)| v.clone()).unwrap_or_default(),
            num_media,
            external_user_id: field(params, "ExternalUserIdentifier").or_else(|| field(params, "ExternalUserId")),
            tapped: field(params, "ButtonPayload").or_else(|| field(params, "ListId")),
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
        conversation_key(&self.to, &self.from)
    }

    /// The reply address: back from the number the user wrote to.
    pub fn reply_address(&self) -> TwilioAddress {
        TwilioAddress { company: self.to.clone(), user: self.from.clone() }
    }

    pub fn to_event(&self) -> Event {
        // A tap on one of our buttons picks its option; Body then holds only its title.
        let tap = self.tapped.as_deref().and_then(Tap::from_payload);
        let input = match tap {
            Some(tap) => UserInput::Pick(tap),
            None if self.num_media > 0 => UserInput::Media { caption: self.body.clone(), files: self.media.clone() },
            None => UserInput::Text(self.body.clone()),
        };
        Event {
            id: MessageId::new("twilio", &self.message_sid),
            route: route_of(&self.to, &self.from, self.external_user_id.as_deref()),
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
    fn a_whatsapp_user_known_by_number_and_username_links_them_and_a_username_alone_is_an_alias() {
        let company = "whatsapp:+14155238886";
        let both = TwilioInbound::from_params(&params(&[
            ("MessageSid", "SM1"),
            ("From", "whatsapp:+34600111222"),
            ("To", company),
            ("ExternalUserId", "US.13491208655302741918"),
        ]))
        .unwrap();
        let alias = conversation_key(company, "whatsapp:US.13491208655302741918");
        assert_eq!(both.to_event().route, Route::Linked { key: both.conversation_key(), alias: alias.clone() });
        let username =
            TwilioInbound::from_params(&params(&[("MessageSid", "SM2"), ("From", "whatsapp:US.13491208655302741918"), ("To", company)]))
                .unwrap();
        assert_eq!(username.to_event().route, Route::Alias(alias.clone()));
        assert_eq!(alias.as_str(), "twilio-whatsapp14155238886-whatsapp:US.13491208655302741918");
        let renamed = TwilioInbound::from_params(&params(&[
            ("MessageSid", "SM3"),
            ("From", "whatsapp:+34600111222"),
            ("To", company),
            ("ExternalUserIdentifier", "US.13491208655302741918"),
        ]))
        .unwrap();
        assert_eq!(renamed.to_event().route, both.to_event().route, "Twilio's changelog name is read too");
        let sms = TwilioInbound::from_params(&params(&[("MessageSid", "SM4"), ("From", "+34600111222"), ("To", "+1")])).unwrap();
        assert_eq!(sms.to_event().route, Route::Conversation(sms.conversation_key()));
    }

    #[test]
    fn a_tapped_button_or_list_item_of_ours_picks_its_option_and_a_foreign_payload_is_text() {
        let tap = Tap { number: 2, label: "Credit".into() };
        let base = [("MessageSid", "SM1"), ("From", "whatsapp:+3"), ("To", "whatsapp:+1"), ("Body", "Credit")];
        for field in ["ButtonPayload", "ListId"] {
            let payload = tap.payload();
            let mut pairs = base.to_vec();
            pairs.push((field, payload.as_str()));
            let m = TwilioInbound::from_params(&params(&pairs)).unwrap();
            assert_eq!(m.to_event().input, Input::User(UserInput::Pick(tap.clone())), "{field}");
        }
        let mut pairs = base.to_vec();
        pairs.push(("ButtonPayload", "TEMPLATE_BUTTON_1"));
        let foreign = TwilioInbound::from_params(&params(&pairs)).unwrap();
        assert_eq!(foreign.to_event().input, Input::User(UserInput::Text("Credit".into())));
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
