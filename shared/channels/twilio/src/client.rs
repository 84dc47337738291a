//! The Messages API: `POST {api}/2010-04-01/Accounts/{sid}/Messages.json`, Basic auth.

use super::render::OutboundMessage;
use connector_core::SendError;
use connector_engine::ports::{FileContent, FileError, UserFile};
use secrecy::{ExposeSecret, SecretString};
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

pub struct TwilioClient {
    upstream: Upstream,
    /// Media of inbound messages.
    files: Upstream,
    /// The REST API's origin: only media URLs there get the account's credentials.
    api: upstream::Url,
    messages_url: String,
    account_sid: String,
    auth_token: SecretString,
}

impl TwilioClient {
    pub fn new(api_url: &str, account_sid: &str, auth_token: SecretString, timeout: Duration) -> Result<Self, UpstreamError> {
        let upstream = Upstream::new("Twilio", Timeouts::overall(timeout))?;
        let messages_url = format!("{}/2010-04-01/Accounts/{account_sid}/Messages.json", api_url.trim_end_matches('/'));
        let api = upstream::Url::parse(api_url).map_err(|_| UpstreamError::InvalidUrl { service: "Twilio" })?;
        let files = Upstream::for_files("Twilio media", Timeouts::overall(timeout), api_url)?;
        Ok(Self { upstream, files, api, messages_url, account_sid: account_sid.to_owned(), auth_token })
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

    /// Sends one message from the company address `from` to the user address `to`.
    ///
    /// Never retried here: a request whose answer was lost may have created the message.
    pub async fn send(&self, from: &str, to: &str, message: &OutboundMessage, deadline: Instant) -> Result<(), SendError> {
        let mut form = vec![("To", to), ("From", from), ("Body", message.body.as_str())];
        if let Some(url) = &message.media_url {
            form.push(("MediaUrl", url));
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
        let error = self.upstream.status_error(&answer, |body| body.get("code").and_then(ProviderCode::from_json));
        if let Some(TwilioError::OutsideWhatsAppWindow) = error.code().map(TwilioError::from_code) {
            tracing::warn!("WhatsApp refused a message: more than 24 hours since the user wrote (63016); only templates can reach them");
        }
        Err(SendError::from_upstream(error, unreachable))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
