//! The Messages API: `POST {api}/2010-04-01/Accounts/{sid}/Messages.json`, Basic auth.

use super::render::OutboundMessage;
use connector_engine::ports::SendError;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use std::time::Duration;

pub struct TwilioClient {
    http: reqwest::Client,
    messages_url: String,
    account_sid: String,
    auth_token: SecretString,
}

impl TwilioClient {
    pub fn new(api_url: &str, account_sid: &str, auth_token: SecretString, timeout: Duration) -> Result<Self, SendError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(3)))
            .build()
            .map_err(|e| SendError::Transport(Box::new(e)))?;
        let messages_url = format!("{}/2010-04-01/Accounts/{account_sid}/Messages.json", api_url.trim_end_matches('/'));
        Ok(Self { http, messages_url, account_sid: account_sid.to_owned(), auth_token })
    }

    /// Sends one message from the company address `from` to the user address `to`.
    ///
    /// Not retried here: a 5xx may still have created the message, and a second copy is worse
    /// than a missing one.
    pub async fn send(&self, from: &str, to: &str, message: &OutboundMessage) -> Result<(), SendError> {
        let mut form = vec![("To", to), ("From", from), ("Body", message.body.as_str())];
        if let Some(url) = &message.media_url {
            form.push(("MediaUrl", url));
        }
        let response = self
            .http
            .post(&self.messages_url)
            .basic_auth(&self.account_sid, Some(self.auth_token.expose_secret()))
            .form(&form)
            .send()
            .await
            .map_err(|e| SendError::Transport(Box::new(e)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let code = body.get("code").and_then(Value::as_i64).unwrap_or_default();
        // Twilio's message text may quote the phone number: only the code is kept (it is logged).
        let reason = format!("HTTP {} code {code}", status.as_u16());
        if status.is_server_error() || status.as_u16() == 429 {
            Err(SendError::Unavailable(reason))
        } else {
            Err(SendError::Rejected(reason))
        }
    }
}
