//! The Messages API: `POST {api}/2010-04-01/Accounts/{sid}/Messages.json` to send, `GET` on the
//! same URL to list (`twilio_api_v2010.json`, operations `CreateMessage` and `ListMessage`), Basic
//! auth.

use super::render::OutboundMessage;
use connector_core::SendError;
use connector_engine::ports::FileError;
use connector_engine::values::{FileContent, UserFile};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::time::Duration;
use tokio::time::Instant;
use upstream::{ProviderCode, StatusClass, Timeouts, Upstream, UpstreamError};

/// The Twilio error codes the connector acts on
/// (<https://www.twilio.com/docs/api/errors>).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TwilioError {
    /// 21211: the `To` number is not a valid phone number.
    InvalidRecipient,
    /// 21610: the user replied STOP; Twilio blocks every message to them.
    Unsubscribed,
    /// 21614: the `To` number cannot receive SMS (a landline).
    NotMobile,
    /// 63016: WhatsApp, more than 24 hours since the user last wrote: only approved templates
    /// can be sent.
    OutsideWhatsAppWindow,
    /// 21617: the body is longer than 1600 characters.
    BodyTooLong,
    Other(i64),
}

impl TwilioError {
    pub fn from_code(code: &ProviderCode) -> Self {
        match code.as_number() {
            Some(21211) => Self::InvalidRecipient,
            Some(21610) => Self::Unsubscribed,
            Some(21614) => Self::NotMobile,
            Some(63016) => Self::OutsideWhatsAppWindow,
            Some(21617) => Self::BodyTooLong,
            Some(other) => Self::Other(other),
            None => Self::Other(0),
        }
    }

    /// Every further message to this user would be refused the same way.
    pub fn recipient_unreachable(self) -> bool {
        matches!(self, Self::InvalidRecipient | Self::Unsubscribed | Self::NotMobile | Self::OutsideWhatsAppWindow)
    }
}

/// How much earlier than our clock Twilio may date a message we created (both are NTP-synced;
/// its dates have whole seconds).
const CLOCK_SKEW_SECS: i64 = 5;

/// A page of `ListMessage`: the fields a look-up compares.
#[derive(Deserialize)]
struct MessagePage {
    #[serde(default)]
    messages: Vec<ListedMessage>,
}

#[derive(Deserialize)]
struct ListedMessage {
    body: Option<String>,
    /// RFC 2822, e.g. `Thu, 30 Jul 2015 20:12:31 +0000`.
    date_created: Option<String>,
    num_media: Option<String>,
}

impl ListedMessage {
    /// The same content, created at or after `since` (Unix seconds).
    fn is(&self, message: &OutboundMessage, since: i64) -> bool {
        let created = self
            .date_created
            .as_deref()
            .and_then(|date| time::OffsetDateTime::parse(date, &time::format_description::well_known::Rfc2822).ok())
            .map(time::OffsetDateTime::unix_timestamp);
        let has_media = self.num_media.as_deref().is_some_and(|n| n != "0");
        let body = self.body.as_deref().unwrap_or_default().trim();
        let interactive_body = match &message.interactive {
            Some(crate::interactive::Interactive::QuickReply { body, .. } | crate::interactive::Interactive::ListPicker { body, .. }) => {
                Some(body.trim())
            }
            None => None,
        };
        (body == message.body.trim() || Some(body) == interactive_body)
            && has_media == message.media_url.is_some()
            && created.is_some_and(|at| at >= since - CLOCK_SKEW_SECS)
    }
}

/// Where the client's requests go.
pub struct Endpoints<'a> {
    /// The REST API (`https://api.twilio.com`).
    pub api: &'a str,
    /// The Content API (`https://content.twilio.com`).
    pub content: &'a str,
    /// Where Twilio reports each message's later outcome.
    pub status_callback: String,
    /// Which messages ask for it.
    pub status_callbacks: StatusCallbacks,
}

/// Which sent messages name a status callback: each costs Twilio's two or three posts
/// (`sent`, `delivered`, `read`) to the function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusCallbacks {
    /// Every message: an agent hears of theirs that failed, a bot reply's failure is logged.
    All,
    /// Agents' messages only.
    Agent,
}

pub struct TwilioClient {
    upstream: Upstream,
    /// Media of inbound messages.
    files: Upstream,
    /// The REST API's origin: only media URLs there get the account's credentials.
    api: upstream::Url,
    messages_url: String,
    /// `POST {content}/v1/Content`.
    contents_url: String,
    account_sid: String,
    auth_token: SecretString,
    /// Where Twilio reports each message's later outcome.
    status_url: String,
    status_callbacks: StatusCallbacks,
}

impl TwilioClient {
    pub fn new(endpoints: &Endpoints<'_>, account_sid: &str, auth_token: SecretString, timeout: Duration) -> Result<Self, UpstreamError> {
        let api_url = endpoints.api;
        let upstream = Upstream::new("Twilio", Timeouts::overall(timeout))?;
        let messages_url = format!("{}/2010-04-01/Accounts/{account_sid}/Messages.json", api_url.trim_end_matches('/'));
        let contents_url = format!("{}/v1/Content", endpoints.content.trim_end_matches('/'));
        let api = upstream::Url::parse(api_url).map_err(|_| UpstreamError::InvalidUrl { service: "Twilio" })?;
        let files = Upstream::for_files("Twilio media", Timeouts::overall(timeout), api_url)?;
        let status_url = endpoints.status_callback.clone();
        let status_callbacks = endpoints.status_callbacks;
        Ok(Self {
            upstream,
            files,
            api,
            messages_url,
            contents_url,
            account_sid: account_sid.to_owned(),
            auth_token,
            status_url,
            status_callbacks,
        })
    }

    /// Creates a content (`ContentCreateRequest`: `friendly_name`, `language`, `types`) and
    /// returns its SID (`HX` + 32 hex digits).
    pub async fn create_content(
        &self,
        types: &serde_json::Value,
        language: &str,
        name: &str,
        deadline: Instant,
    ) -> Result<String, UpstreamError> {
        // Twilio's friendly names are at most 64 characters; the key's digest is the tail.
        let friendly_name: String = name.chars().rev().take(64).collect::<Vec<_>>().into_iter().rev().collect();
        let body = serde_json::json!({ "friendly_name": friendly_name, "language": language, "types": types });
        let request = self
            .upstream
            .request(upstream::Method::POST, &self.contents_url)
            .basic_auth(&self.account_sid, Some(self.auth_token.expose_secret()))
            .json(&body);
        let answer = self.upstream.send(request, Some(deadline)).await?;
        if answer.class() != StatusClass::Success {
            return Err(self.upstream.status_error(&answer, error_code));
        }
        answer
            .json()
            .get("sid")
            .and_then(serde_json::Value::as_str)
            .filter(|sid| sid.starts_with("HX"))
            .map(str::to_owned)
            .ok_or(UpstreamError::InvalidResponse { service: "Twilio Content", reason: "no content sid" })
    }

    /// A media file of an inbound message. Twilio's media URLs may require the account's Basic
    /// auth (an account setting), so it is sent, but only to Twilio's own API origin; the
    /// redirect to the file's storage is followed without it.
    pub async fn fetch_file(&self, file: &UserFile, limit: u64, deadline: Instant) -> Result<FileContent, FileError> {
        let url = connector_core::files::file_url(file)?;
        let mut request = self.files.request(upstream::Method::GET, url.clone());
        if url.origin() == self.api.origin() {
            request = request.basic_auth(&self.account_sid, Some(self.auth_token.expose_secret()));
        }
        connector_core::files::fetch(&self.files, request, file, limit, deadline).await
    }

    /// Sends one message from the company address `from` to the user address `to`: its
    /// content `content` (buttons or a list) when given, else its text and media.
    /// `from_agent` marks its status callback, so a later failure reaches the agent.
    ///
    /// Never retried here: a request whose answer was lost may have created the message.
    pub async fn send(
        &self,
        from: &str,
        to: &str,
        message: &OutboundMessage,
        content: Option<&str>,
        from_agent: bool,
        deadline: Instant,
    ) -> Result<(), SendError> {
        let callback = match (from_agent, self.status_callbacks) {
            (true, _) => Some(format!("{}?{}", self.status_url, crate::AGENT_QUERY)),
            (false, StatusCallbacks::All) => Some(self.status_url.clone()),
            (false, StatusCallbacks::Agent) => None,
        };
        let mut form = vec![("To", to), ("From", from)];
        if let Some(callback) = &callback {
            form.push(("StatusCallback", callback));
        }
        match content {
            // A content's text is its own: no Body with it.
            Some(sid) => form.push(("ContentSid", sid)),
            None => {
                form.push(("Body", message.body.as_str()));
                if let Some(url) = &message.media_url {
                    form.push(("MediaUrl", url));
                }
            }
        }
        let request = self
            .upstream
            .request(upstream::Method::POST, &self.messages_url)
            .basic_auth(&self.account_sid, Some(self.auth_token.expose_secret()))
            .form(&form);
        let unreachable = |code: &ProviderCode| TwilioError::from_code(code).recipient_unreachable();
        let answer = self.upstream.send(request, Some(deadline)).await.map_err(|e| SendError::from_upstream(e, unreachable))?;
        if answer.class() == StatusClass::Success {
            return Ok(());
        }
        // Refused credentials say nothing about the message: once they are fixed, the provider's
        // redelivery sends it.
        if answer.class() == StatusClass::Unauthorized {
            tracing::error!(status = answer.status.as_u16(), "Twilio refused the account's credentials");
            return Err(SendError::Unavailable(self.upstream.status_error(&answer, |_| None)));
        }
        // Twilio's message text may quote the phone number: only the status and code are kept.
        let error = self.upstream.status_error(&answer, error_code);
        if let Some(TwilioError::OutsideWhatsAppWindow) = error.code().map(TwilioError::from_code) {
            tracing::warn!("WhatsApp refused a message: more than 24 hours since the user wrote (63016); only templates can reach them");
        }
        Err(SendError::from_upstream(error, unreachable))
    }

    /// Whether Twilio has `message` from `from` to `to`, created since `since` (Unix seconds):
    /// the pair's latest messages, newest first, are compared by content and date.
    pub async fn has_message(
        &self,
        from: &str,
        to: &str,
        message: &OutboundMessage,
        since: i64,
        deadline: Instant,
    ) -> Result<bool, SendError> {
        let url = upstream::Url::parse_with_params(&self.messages_url, [("To", to), ("From", from), ("PageSize", "50")])
            .map_err(|_| SendError::BadAddress("twilio"))?;
        let request =
            self.upstream.request(upstream::Method::GET, url).basic_auth(&self.account_sid, Some(self.auth_token.expose_secret()));
        let answer = self.upstream.send(request, Some(deadline)).await.map_err(SendError::Unavailable)?;
        if answer.class() != StatusClass::Success {
            return Err(SendError::Unavailable(self.upstream.status_error(&answer, error_code)));
        }
        let page: MessagePage = serde_json::from_value(answer.json())
            .map_err(|_| SendError::Unavailable(UpstreamError::InvalidResponse { service: "Twilio", reason: "not a message list" }))?;
        Ok(page.messages.iter().any(|listed| listed.is(message, since)))
    }
}

/// The Twilio error code of an error body (`{"code": 21610, ...}`).
fn error_code(body: &serde_json::Value) -> Option<ProviderCode> {
    body.get("code").and_then(ProviderCode::from_json)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(body: &str, date: &str, media: &str) -> ListedMessage {
        ListedMessage { body: Some(body.into()), date_created: Some(date.into()), num_media: Some(media.into()) }
    }

    #[test]
    fn a_listed_message_is_ours_only_with_the_same_content_created_since_the_send_less_the_clock_skew() {
        let text = OutboundMessage::text("Hello".into());
        // Thu, 30 Jul 2015 20:12:31 +0000
        let at = 1_438_287_151;
        assert!(listed("Hello", "Thu, 30 Jul 2015 20:12:31 +0000", "0").is(&text, at));
        assert!(listed("Hello", "Thu, 30 Jul 2015 20:12:27 +0000", "0").is(&text, at), "4 s of skew");
        assert!(!listed("Hello", "Thu, 30 Jul 2015 20:12:20 +0000", "0").is(&text, at), "an earlier one");
        assert!(!listed("Hello!", "Thu, 30 Jul 2015 20:12:31 +0000", "0").is(&text, at));
        assert!(!listed("Hello", "not a date", "0").is(&text, at));
        let image = OutboundMessage::media("https://cdn.example/a.png".into());
        assert!(listed("", "Thu, 30 Jul 2015 20:12:31 +0000", "1").is(&image, at));
        assert!(!listed("", "Thu, 30 Jul 2015 20:12:31 +0000", "0").is(&image, at));
    }

    #[test]
    fn unsubscribed_invalid_and_out_of_window_recipients_are_told_apart_and_unreachable() {
        let of = |n| TwilioError::from_code(&ProviderCode::Number(n));
        assert_eq!(of(21610), TwilioError::Unsubscribed);
        assert_eq!(of(21211), TwilioError::InvalidRecipient);
        assert_eq!(of(63016), TwilioError::OutsideWhatsAppWindow);
        assert!([21610, 21211, 63016].into_iter().all(|n| of(n).recipient_unreachable()));
        assert!(!of(21617).recipient_unreachable(), "a too long body says nothing about the user");
    }
}
