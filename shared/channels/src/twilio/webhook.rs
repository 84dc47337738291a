//! The Twilio webhook: authenticate, parse, run the pipeline, answer with empty TwiML.
//!
//! Order matters: the signature is checked before any state or upstream is touched, so a forged
//! request costs nothing and reveals nothing.

use super::client::TwilioClient;
use super::inbound::TwilioInbound;
use super::render::{RenderOptions, render};
use super::signature;
use crate::{MAX_WEBHOOK_BODY_BYTES, WebhookRequest, WebhookResponse, text_response};
use async_trait::async_trait;
use connector_engine::Reply;
use connector_engine::pipeline::{Outcome, Pipeline};
use connector_engine::ports::{Delivery, ReplySink};
use http::{HeaderValue, Method, StatusCode, header};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;

/// An empty TwiML document: "no reply here", the replies go through the REST API.
pub const EMPTY_TWIML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>";

pub struct TwilioWebhook {
    pipeline: Arc<Pipeline>,
    client: Arc<TwilioClient>,
    auth_token: SecretString,
    webhook_url: String,
    sms_media_as_links: bool,
}

impl TwilioWebhook {
    /// Refuses to run without the auth token and public URL: an empty token would make every
    /// signature computed with an empty key pass.
    pub fn new(
        pipeline: Arc<Pipeline>,
        client: Arc<TwilioClient>,
        auth_token: SecretString,
        webhook_url: String,
        sms_media_as_links: bool,
    ) -> Result<Self, MissingSetting> {
        if auth_token.expose_secret().is_empty() {
            return Err(MissingSetting("TWILIO_AUTH_TOKEN"));
        }
        if webhook_url.is_empty() {
            return Err(MissingSetting("TWILIO_WEBHOOK_URL"));
        }
        Ok(Self { pipeline, client, auth_token, webhook_url, sms_media_as_links })
    }

    pub async fn handle(&self, request: WebhookRequest) -> WebhookResponse {
        let params = match self.authenticate(&request) {
            Ok(params) => params,
            Err((status, reason)) => return text_response(status, reason),
        };
        let message = match TwilioInbound::from_params(&params) {
            Ok(message) => message,
            Err(error) => return text_response(StatusCode::BAD_REQUEST, &error.to_string()),
        };
        let sink = TwilioReplies {
            client: self.client.clone(),
            company: message.to.clone(),
            user: message.from.clone(),
            options: RenderOptions { channel: message.channel(), sms_media_as_links: self.sms_media_as_links },
        };
        match self.pipeline.handle(&message.to_engine(), &sink).await {
            Ok(Outcome::Replied { .. } | Outcome::Duplicate) => twiml(StatusCode::OK),
            // Nothing reached the user and trying again may work: let Twilio's fallback or
            // retry deliver it again (the dedupe claim was released).
            Err(error) if error.is_retryable() => twiml(StatusCode::SERVICE_UNAVAILABLE),
            Err(_) => twiml(StatusCode::OK),
        }
    }

    /// Method, size, content type and signature, in that order; the form params on success, else
    /// the status and reason to answer with.
    fn authenticate(&self, request: &WebhookRequest) -> Result<Vec<(String, String)>, (StatusCode, &'static str)> {
        if request.method() != Method::POST {
            return Err((StatusCode::METHOD_NOT_ALLOWED, "POST only"));
        }
        let body = request.body();
        if body.len() > MAX_WEBHOOK_BODY_BYTES {
            return Err((StatusCode::PAYLOAD_TOO_LARGE, "body too large"));
        }
        let content_type = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
        if !content_type.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded") {
            return Err((StatusCode::UNSUPPORTED_MEDIA_TYPE, "expected application/x-www-form-urlencoded"));
        }
        let Some(signature) = request.headers().get("x-twilio-signature").and_then(|v| v.to_str().ok()) else {
            return Err((StatusCode::FORBIDDEN, "missing X-Twilio-Signature"));
        };
        let Ok(params) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(body) else {
            return Err((StatusCode::BAD_REQUEST, "body is not a form"));
        };
        if !signature::is_valid(self.auth_token.expose_secret().as_bytes(), &self.webhook_url, &params, signature) {
            tracing::warn!("twilio webhook with an invalid signature refused");
            return Err((StatusCode::FORBIDDEN, "invalid X-Twilio-Signature"));
        }
        Ok(params)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0} must be set")]
pub struct MissingSetting(pub &'static str);

fn twiml(status: StatusCode) -> WebhookResponse {
    let mut response = http::Response::new(EMPTY_TWIML.to_owned());
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    response
}

/// Sends one turn's replies to one user, in order, stopping at the first failure.
struct TwilioReplies {
    client: Arc<TwilioClient>,
    company: String,
    user: String,
    options: RenderOptions,
}

#[async_trait]
impl ReplySink for TwilioReplies {
    async fn deliver(&self, replies: &[Reply]) -> Delivery {
        let mut delivery = Delivery::default();
        for message in render(replies, &self.options) {
            if let Err(error) = self.client.send(&self.company, &self.user, &message).await {
                delivery.error = Some(error);
                break;
            }
            delivery.sent += 1;
        }
        delivery
    }
}
