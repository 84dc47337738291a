//! The Send API: `POST {graph_api_url}/{graph_version}/me/messages?access_token=<page token>`,
//! JSON, for messages and for the typing indicator.
//!
//! The page token goes in the query string, as Graph documents it and as every Graph client
//! (and the test fake) expects. It never reaches a log or an error: the URL is built for each
//! call and dropped with it, [`Upstream`] drops URLs from transport errors, and a status error
//! keeps only the status and Graph's code.

use crate::render::OutboundMessage;
use connector_core::SendError;
use connector_core::credentials::ChannelCredentials;
use connector_engine::ports::FileError;
use connector_engine::values::{FileContent, UserFile};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::time::Instant;
use upstream::{Answer, ProviderCode, StatusClass, Timeouts, Upstream, UpstreamError};

/// Names the Send API in errors and logs.
pub const SERVICE: &str = "Messenger";

/// A Graph error body, `{"error":{"message","type","code","error_subcode","fbtrace_id"}}`,
/// without its message (it may quote what was sent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphError {
    pub code: i64,
    pub subcode: Option<i64>,
    /// `type`: `OAuthException`, `GraphMethodException`...
    pub kind: String,
    /// Quoted to Meta's support to trace one call.
    pub fbtrace_id: Option<String>,
    /// Graph's own `is_transient` flag.
    pub transient: bool,
}

/// What a Graph error means for the connector
/// (<https://developers.facebook.com/docs/messenger-platform/error-codes>).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphProblem {
    /// Codes 4 and 613 (application and API rate limits).
    RateLimited,
    /// Codes 2 and 1200 ("temporary send message failure"), or any error Graph flags
    /// `is_transient`.
    Temporary,
    /// Code 190: the page token is invalid or expired. A configuration error, not the user's.
    BadToken,
    /// Code 551, or 200 with subcode 1545041: "this person isn't available right now" (they
    /// blocked the page, turned its messages off or left Messenger).
    RecipientUnavailable,
    /// Code 10 with subcode 2018278 (or the older 2018065 and 2018108): the user last wrote
    /// too long ago for this message.
    OutsideWindow,
    /// Code 100 with subcode 2018001: no user with this PSID for this page.
    NoMatchingUser,
    /// Code 10 with subcode 1893063: Meta temporarily restricted the page from sending
    /// messages (Messenger changelog, 25 June 2026). Nothing reaches anyone until Meta lifts it.
    PageRestricted,
    /// Anything else (invalid parameters, permissions, handover): refused, and said so.
    Other,
}

impl GraphError {
    /// Reads an error body; `None` when it is not one (a proxy's page, an empty body).
    pub fn from_body(body: &Value) -> Option<Self> {
        let error = body.get("error")?;
        let number = |name: &str| error.get(name).and_then(ProviderCode::from_json).and_then(|code| code.as_number());
        Some(Self {
            code: number("code")?,
            subcode: number("error_subcode"),
            kind: error.get("type").and_then(Value::as_str).unwrap_or_default().to_owned(),
            fbtrace_id: error.get("fbtrace_id").and_then(Value::as_str).map(str::to_owned),
            transient: error.get("is_transient").and_then(Value::as_bool).unwrap_or(false),
        })
    }

    /// The numbers are Meta's documented ones where the docs render them (4, 613, 2, 1200, 190,
    /// 551, 10/2018278; 10/1893063 from Meta's Messenger changelog of 25 June 2026). Subcodes
    /// 2018001, 1545041, 2018065 and 2018108 come from Meta's error table as quoted by
    /// integrators, not from a page we could read whole; code 200 with subcodes other than
    /// 1545041 (permissions) is deliberately not taken for an unreachable user.
    pub fn problem(&self) -> GraphProblem {
        match (self.code, self.subcode) {
            (4 | 613, _) => GraphProblem::RateLimited,
            (2 | 1200, _) => GraphProblem::Temporary,
            (190, _) => GraphProblem::BadToken,
            (551, _) | (200, Some(1_545_041)) => GraphProblem::RecipientUnavailable,
            (10, Some(2_018_278 | 2_018_065 | 2_018_108)) => GraphProblem::OutsideWindow,
            (100, Some(2_018_001)) => GraphProblem::NoMatchingUser,
            (10, Some(1_893_063)) => GraphProblem::PageRestricted,
            _ if self.transient => GraphProblem::Temporary,
            _ => GraphProblem::Other,
        }
    }

    /// The same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(self.problem(), GraphProblem::RateLimited | GraphProblem::Temporary)
    }

    /// Every further message to this user would be refused the same way. A restricted page
    /// counts: until Meta lifts the restriction (days, not the seconds of a turn) it reaches
    /// nobody, so the rest of the turn is not tried.
    pub fn recipient_unreachable(&self) -> bool {
        matches!(
            self.problem(),
            GraphProblem::RecipientUnavailable | GraphProblem::OutsideWindow | GraphProblem::NoMatchingUser | GraphProblem::PageRestricted
        )
    }

    /// The code an agent reads: `code/subcode` as Meta's error table and changelog write it
    /// (`10/2018278` and `10/1893063` are different problems), or the code alone.
    pub fn provider_code(&self) -> ProviderCode {
        match self.subcode {
            Some(subcode) => ProviderCode::Text(format!("{}/{subcode}", self.code)),
            None => ProviderCode::Number(self.code),
        }
    }
}

pub struct GraphClient {
    upstream: Upstream,
    /// Attachments users send.
    files: Upstream,
    messages_url: String,
    /// `{graph_api_url}/{graph_version}`, for user profiles.
    versioned_url: String,
    page_token: ChannelCredentials<SecretString>,
    /// Named in the log when no page token is found.
    environment: String,
}

impl GraphClient {
    pub fn new(
        graph_api_url: &str,
        graph_version: &str,
        timeout: Duration,
        page_token: ChannelCredentials<SecretString>,
        environment: &str,
    ) -> Result<Self, UpstreamError> {
        let upstream = Upstream::new(SERVICE, Timeouts::overall(timeout))?;
        let files = Upstream::for_files("Messenger attachments", Timeouts::overall(timeout), graph_api_url)?;
        let versioned_url = format!("{}/{}", graph_api_url.trim().trim_end_matches('/'), graph_version.trim().trim_matches('/'));
        Ok(Self {
            upstream,
            files,
            messages_url: messages_url(graph_api_url, graph_version),
            versioned_url,
            page_token,
            environment: environment.to_owned(),
        })
    }

    /// Sends one message to `psid`. Never retried here: a request whose answer was lost may
    /// have delivered it.
    pub async fn send(&self, psid: &str, message: &OutboundMessage, deadline: Instant) -> Result<(), SendError> {
        self.post(&message_body(psid, message), deadline).await
    }

    /// A file a user sent: Meta serves attachments at public CDN URLs (the page token is never
    /// sent there).
    pub async fn fetch_file(&self, file: &UserFile, limit: u64, deadline: Instant) -> Result<FileContent, FileError> {
        connector_core::files::fetch_public(&self.files, file, limit, deadline).await
    }

    /// Shows `psid` the typing indicator (Meta hides it after about 20 s or with the next
    /// message).
    pub async fn typing(&self, psid: &str, deadline: Instant) -> Result<(), SendError> {
        self.post(&typing_body(psid), deadline).await
    }

    /// The user's first name from their Graph profile (`GET /{psid}?fields=first_name`), for the
    /// agent; `None` when Graph does not give it (no token, no permission, an error).
    pub async fn first_name(&self, psid: &str, deadline: Instant) -> Option<String> {
        let token = self.page_token.get(deadline).await.filter(|t| !t.expose_secret().trim().is_empty())?;
        let mut url = upstream::Url::parse(&self.versioned_url).ok()?;
        // One path segment, escaped: a PSID can never reach another path.
        url.path_segments_mut().ok()?.push(psid);
        url.query_pairs_mut().append_pair("fields", "first_name").append_pair("access_token", token.expose_secret());
        match self.upstream.send(self.upstream.request(upstream::Method::GET, url), Some(deadline)).await {
            Ok(answer) if answer.class() == StatusClass::Success => {
                answer.json().get("first_name").and_then(Value::as_str).map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned)
            }
            Ok(answer) => {
                let graph = GraphError::from_body(&answer.json());
                tracing::warn!(status = answer.status.as_u16(), code = graph.as_ref().map(|g| g.code), "Messenger profile not read");
                None
            }
            Err(error) => {
                tracing::warn!(error = %error, "Messenger profile not read");
                None
            }
        }
    }

    /// Without a page token in ExtraInfo or the configuration nothing is called: the send fails
    /// as [`SendError::NotConfigured`], which Meta's redelivery retries once it is set.
    async fn post(&self, body: &Value, deadline: Instant) -> Result<(), SendError> {
        let Some(token) = self.page_token.get(deadline).await.filter(|t| !t.expose_secret().trim().is_empty()) else {
            tracing::error!(
                environment = %self.environment,
                "no Messenger page token: set facebook.page_tokens.{} in ExtraInfo or MESSENGER_PAGE_TOKEN; nothing is sent",
                self.environment
            );
            return Err(SendError::NotConfigured("no Messenger page token for this environment"));
        };
        let query = serde_urlencoded::to_string([("access_token", token.expose_secret())]).unwrap_or_default();
        let request = self.upstream.request(upstream::Method::POST, format!("{}?{query}", self.messages_url)).json(body);
        let answer = self.upstream.send(request, Some(deadline)).await.map_err(|e| SendError::from_upstream(e, |_| false))?;
        outcome(&self.upstream, &answer)
    }
}

/// `{graph_api_url}/{graph_version}/me/messages`.
pub fn messages_url(graph_api_url: &str, graph_version: &str) -> String {
    format!("{}/{}/me/messages", graph_api_url.trim().trim_end_matches('/'), graph_version.trim().trim_matches('/'))
}

/// `{"recipient":{"id":..},"messaging_type":..,"tag"?:..,"message":..}`.
pub fn message_body(psid: &str, message: &OutboundMessage) -> Value {
    let mut body = json!({
        "recipient": {"id": psid},
        "messaging_type": message.delivery.messaging_type(),
        "message": message.content,
    });
    if let Some(tag) = message.delivery.tag() {
        body["tag"] = json!(tag);
    }
    body
}

/// A sender action goes alone, with only `recipient` beside it.
pub fn typing_body(psid: &str) -> Value {
    json!({"recipient": {"id": psid}, "sender_action": "typing_on"})
}

/// Sorts the Send API's answer: Graph's code first, then the HTTP status.
fn outcome(upstream: &Upstream, answer: &Answer) -> Result<(), SendError> {
    if answer.class() == StatusClass::Success {
        return Ok(());
    }
    let graph = GraphError::from_body(&answer.json());
    let error = upstream.status_error(answer, |body| GraphError::from_body(body).map(|g| ProviderCode::Number(g.code)));
    let Some(graph) = graph else {
        // Refused credentials say nothing about the message: once they are fixed, the
        // provider's redelivery sends it.
        if answer.class() == StatusClass::Unauthorized {
            tracing::error!(status = answer.status.as_u16(), "Messenger refused the request's credentials");
            return Err(SendError::Unavailable(error));
        }
        return Err(SendError::from_upstream(error, |_| false));
    };
    let (code, subcode, trace) = (graph.code, graph.subcode, graph.fbtrace_id.as_deref().unwrap_or_default());
    match graph.problem() {
        GraphProblem::BadToken => {
            tracing::error!(
                code,
                subcode,
                fbtrace_id = trace,
                "Messenger refused the page token (190): renew it in ExtraInfo or MESSENGER_PAGE_TOKEN"
            );
            Err(SendError::Unavailable(error))
        }
        _ if graph.is_retryable() || error.is_retryable() => {
            tracing::warn!(code, subcode, fbtrace_id = trace, status = answer.status.as_u16(), "Messenger asked to try again later");
            Err(SendError::Unavailable(error))
        }
        problem => {
            match problem {
                GraphProblem::OutsideWindow => {
                    tracing::warn!(code, subcode, "Messenger refused a message: the user last wrote too long ago for it")
                }
                // Every user of the page is affected: the operator must act (the page's Support
                // Inbox says why and until when).
                GraphProblem::PageRestricted => tracing::error!(
                    code,
                    subcode,
                    fbtrace_id = trace,
                    "Messenger refused a message: Meta temporarily restricted the page from sending messages"
                ),
                _ => tracing::info!(code, subcode, fbtrace_id = trace, ?problem, "Messenger refused a message"),
            }
            Err(SendError::Refused {
                code: Some(graph.provider_code()),
                recipient_unreachable: graph.recipient_unreachable(),
                source: error,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::{Content, Delivery};
    use upstream::StatusCode;

    fn graph(code: i64, subcode: Option<i64>) -> GraphError {
        GraphError { code, subcode, kind: "OAuthException".into(), fbtrace_id: None, transient: false }
    }

    fn answer(status: u16, body: Value) -> Answer {
        Answer { status: StatusCode::from_u16(status).unwrap(), body: body.to_string().into_bytes().into() }
    }

    fn upstream() -> Upstream {
        Upstream::new(SERVICE, Timeouts::overall(Duration::from_secs(1))).unwrap()
    }

    fn error_body(code: i64, subcode: Option<i64>) -> Value {
        let mut error = json!({"message": "(#x) quoted text", "type": "OAuthException", "code": code, "fbtrace_id": "AbC"});
        if let Some(subcode) = subcode {
            error["error_subcode"] = json!(subcode);
        }
        json!({ "error": error })
    }

    #[test]
    fn a_graph_error_body_keeps_code_subcode_type_and_trace_but_not_the_message() {
        let read = GraphError::from_body(&error_body(10, Some(2_018_278))).unwrap();
        assert_eq!(
            read,
            GraphError {
                code: 10,
                subcode: Some(2_018_278),
                kind: "OAuthException".into(),
                fbtrace_id: Some("AbC".into()),
                transient: false
            }
        );
        assert_eq!(GraphError::from_body(&json!({"error": {"message": "no code"}})), None);
        assert_eq!(GraphError::from_body(&Value::Null), None);
    }

    #[test]
    fn rate_limits_and_temporary_failures_are_retryable() {
        for code in [4, 613, 2, 1200] {
            assert!(graph(code, None).is_retryable(), "{code}");
        }
        assert!(GraphError { transient: true, ..graph(1, None) }.is_retryable());
        assert!(!graph(100, None).is_retryable());
    }

    #[test]
    fn blocked_out_of_window_and_unknown_users_are_unreachable_but_a_bad_token_is_not() {
        assert!(graph(551, None).recipient_unreachable());
        assert!(graph(200, Some(1_545_041)).recipient_unreachable());
        assert!(graph(10, Some(2_018_278)).recipient_unreachable());
        assert!(graph(100, Some(2_018_001)).recipient_unreachable());
        assert_eq!(graph(190, None).problem(), GraphProblem::BadToken);
        assert!(!graph(190, None).recipient_unreachable());
        assert!(!graph(10, Some(2_018_300)).recipient_unreachable(), "another app holds the thread");
        assert!(!graph(200, Some(2_018_028)).recipient_unreachable(), "a permission the page lacks");
        assert!(!graph(100, None).recipient_unreachable());
    }

    /// Meta's Messenger changelog, 25 June 2026: "error code 10/1893063 for Pages temporarily
    /// restricted from sending messages". The page, not the user: every message fails until
    /// Meta lifts it, so the rest of the turn is not tried, and it is no rate limit to retry.
    #[test]
    fn a_page_temporarily_restricted_from_sending_is_refused_for_every_user_until_lifted() {
        let restricted = graph(10, Some(1_893_063));
        assert_eq!(restricted.problem(), GraphProblem::PageRestricted);
        assert!(restricted.recipient_unreachable(), "every further message of the turn would fail the same way");
        assert!(!restricted.is_retryable(), "not a rate limit: Meta lifts it, not time");
        let refused = outcome(&upstream(), &answer(400, error_body(10, Some(1_893_063)))).unwrap_err();
        assert!(matches!(refused, SendError::Refused { recipient_unreachable: true, .. }), "{refused:?}");
        assert_eq!(refused.reason(), "the channel refused it (error 10/1893063)", "the agent reads Meta's code and subcode");
    }

    #[test]
    fn answers_are_sorted_into_send_errors() {
        let upstream = upstream();
        assert!(outcome(&upstream, &answer(200, json!({"recipient_id": "U1", "message_id": "m_1"}))).is_ok());
        let of = |status, body| outcome(&upstream, &answer(status, body)).unwrap_err();
        assert!(matches!(of(400, error_body(613, None)), SendError::Unavailable(_)), "a rate limit sent as 400");
        assert!(matches!(of(429, error_body(4, None)), SendError::Unavailable(_)));
        assert!(matches!(of(500, error_body(1, None)), SendError::Unavailable(_)), "a 5xx whatever its code");
        assert!(matches!(of(400, error_body(190, None)), SendError::Unavailable(_)), "fixed by renewing the token");
        assert!(matches!(of(401, json!("<html>")), SendError::Unavailable(_)));
        assert!(matches!(
            of(400, error_body(551, None)),
            SendError::Refused { code: Some(ProviderCode::Number(551)), recipient_unreachable: true, .. }
        ));
        assert!(matches!(of(400, error_body(100, None)), SendError::Refused { recipient_unreachable: false, .. }));
        assert!(matches!(of(400, json!("not graph")), SendError::Refused { code: None, recipient_unreachable: false, .. }));
        let refused = of(400, error_body(10, Some(2_018_278)));
        assert_eq!(refused.reason(), "the channel refused it (error 10/2018278)", "code and subcode, as Meta's table lists them");
        assert!(!format!("{refused:?}").contains("quoted text"), "Graph's message is not kept");
    }

    #[test]
    fn the_request_bodies_have_the_send_api_shape() {
        let message = OutboundMessage { delivery: Delivery::HumanAgent, content: Content::text("hi") };
        assert_eq!(
            message_body("U1", &message),
            json!({"recipient": {"id": "U1"}, "messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT", "message": {"text": "hi"}})
        );
        let message = OutboundMessage { delivery: Delivery::Response, content: Content::text("hi") };
        assert_eq!(
            message_body("U1", &message),
            json!({"recipient": {"id": "U1"}, "messaging_type": "RESPONSE", "message": {"text": "hi"}})
        );
        assert_eq!(typing_body("U1"), json!({"recipient": {"id": "U1"}, "sender_action": "typing_on"}));
    }

    #[test]
    fn the_messages_url_is_built_from_the_configured_api_url_and_version() {
        assert_eq!(messages_url("https://graph.facebook.com", "v27.0"), "https://graph.facebook.com/v27.0/me/messages");
        assert_eq!(messages_url("http://127.0.0.1:9/ ", "/v19.0/"), "http://127.0.0.1:9/v19.0/me/messages");
    }

    #[tokio::test]
    async fn without_any_page_token_a_send_fails_as_not_configured_without_a_call() {
        let credentials = ChannelCredentials::new(None, "facebook", "production", |_, _| None, None);
        // Nothing listens there: a call would fail to connect instead.
        let client = GraphClient::new("http://127.0.0.1:9", "v27.0", Duration::from_secs(1), credentials, "production").unwrap();
        let message = OutboundMessage { delivery: Delivery::Response, content: Content::text("hi") };
        let error = client.send("U1", &message, Instant::now() + Duration::from_secs(1)).await.unwrap_err();
        assert!(matches!(error, SendError::NotConfigured(_)), "{error:?}");
        let typing = client.typing("U1", Instant::now() + Duration::from_secs(1)).await;
        assert!(matches!(typing, Err(SendError::NotConfigured(_))));
    }
}
