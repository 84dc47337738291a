//! Facebook Messenger, as a [`Source`] (the page webhook: subscription check, signed event
//! batches) and a [`Sender`] (the Graph Send API). Owns the `messenger` configuration table.
//!
//! - [`signature`]: `X-Hub-Signature-256`, HMAC-SHA256 of the raw body with the app secret.
//! - [`inbound`]: the body's `entry[].messaging[]` events into user messages and taps.
//! - [`render`]: replies into Send API messages (quick replies, button templates, media).
//! - [`client`]: the Send API, Graph's error codes.
//!
//! Decisions:
//! - **The app secret and the verify token come from the configuration only**, never from
//!   ExtraInfo as the PHP connector read them. They decide whether a request is Meta's; read
//!   remotely, every unauthenticated request would cost an Inbenta call (or trust a cached
//!   copy of an answer anyone can trigger). The page token, which only sends, may come from
//!   ExtraInfo (group `facebook`, object `page_tokens`, one per environment) as before, with
//!   `messenger.page_token` as the fallback.
//! - A signed body whose `object` is not `page` is answered 404, as Meta's sample app does:
//!   it is Meta's (the signature says so), but for a subscription this function does not
//!   serve, and Meta's retries and developer alerts make that visible.
//! - Events are handled in the order of the body; Meta may deliver a batch twice, and each
//!   event's `mid` is its dedupe key.
//! - Without a page token anywhere a send fails as [`SendError::NotConfigured`] (logged as an
//!   error, no call made), so Meta's redelivery sends it once the token is set. A refused token
//!   (Graph code 190) is likewise retried, and logged as a configuration error.
//! - The page token travels as the `access_token` query parameter, as Graph documents it; it
//!   stays out of logs and errors (see [`client`]).
//! - One page token per environment, as in the PHP connector: the reply address keeps the
//!   page id, so tokens per page can come later without changing stored addresses.

pub mod client;
pub mod inbound;
pub mod render;
pub mod signature;

pub use client::{GraphClient, GraphError, GraphProblem};
pub use inbound::MessengerInbound;

use connector_config::EnvKey;
use connector_core::credentials::ChannelCredentials;
use connector_core::{
    Event, MAX_WEBHOOK_BODY_BYTES, Occasion, Refusal, SendError, SendTag, Sender, Source, WebhookRequest, WebhookResponse, text_response,
};
use connector_engine::Reply;
use connector_engine::ports::{Chatbot, FileError};
use connector_engine::values::ExtraInfo;
use connector_engine::values::{FileContent, UserFile};
use http::StatusCode;
use render::{OutboundMessage, render};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;
use tokio::time::Instant;

/// The environment variables of this channel and the keys they set.
pub const ENV: &[EnvKey] = &[
    ("GRAPH_API_URL", "messenger.graph_api_url"),
    ("MESSENGER_APP_SECRET", "messenger.app_secret"),
    ("MESSENGER_PAGE_TOKEN", "messenger.page_token"),
    ("MESSENGER_VERIFY_TOKEN", "messenger.verify_token"),
];

/// What a successful webhook is answered with (Meta reads only the status).
pub const EVENT_RECEIVED: &str = "EVENT_RECEIVED";

/// How long agents' messages may still reach a user after their last message: 7 days with the
/// `HUMAN_AGENT` tag (24 hours for anything else, see [`render::STANDARD_WINDOW`]).
pub const HUMAN_AGENT_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);

/// The `messenger` table (`conf/default/messenger.toml`).
#[derive(Debug, Clone, Deserialize)]
pub struct MessengerSettings {
    #[serde(default = "default_graph_api_url")]
    pub graph_api_url: String,
    /// Pinned: Graph versions change behaviour, and Meta serves each until two years after the
    /// next one is released; a call to a retired one is silently answered by the oldest version
    /// still served (Meta's Platform Versioning page), so an old pin changes behaviour unseen.
    #[serde(default = "default_graph_version")]
    pub graph_version: String,
    /// The app's secret (App settings > Basic): webhooks are signed with it.
    #[serde(default = "connector_config::empty_secret")]
    pub app_secret: SecretString,
    /// The token typed in the webhook subscription; Meta's GET check repeats it.
    #[serde(default = "connector_config::empty_secret")]
    pub verify_token: SecretString,
    /// The page access token, when ExtraInfo has none for this environment.
    #[serde(default = "connector_config::empty_secret")]
    pub page_token: SecretString,
    /// Per Graph call.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// The webhook is answered within this (Meta waits 20 s, then delivers again).
    #[serde(default = "default_deadline_ms")]
    pub deadline_ms: u64,
}

fn default_graph_api_url() -> String {
    "https://graph.facebook.com".to_owned()
}

/// Graph's newest version (Meta's Graph API changelog: v27.0, released 4 November 2026, "TBD"
/// end), the one Meta serves longest. Kept equal to `conf/default/messenger.toml`.
fn default_graph_version() -> String {
    "v27.0".to_owned()
}

fn default_timeout_ms() -> u64 {
    5000
}

fn default_deadline_ms() -> u64 {
    15000
}

pub use connector_core::SetupError;

/// Where replies go: a user (PSID) of a page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessengerAddress {
    pub page: String,
    pub psid: String,
}

/// The page webhook.
pub struct MessengerSource {
    app_secret: SecretString,
    verify_token: SecretString,
    budget: Duration,
}

/// The Send API, for replies.
pub struct MessengerSender {
    client: GraphClient,
}

/// Builds both halves. Refuses to run without the app secret (an empty key would make every
/// signature computed with it pass) or the verify token (anyone could subscribe).
///
/// `extra_info`: the chatbot whose ExtraInfo may hold the page tokens (`None` without an
/// Inbenta instance); `environment`: which of them (`development`, `preproduction`,
/// `production`).
pub fn setup(
    settings: &MessengerSettings,
    extra_info: Option<Arc<dyn Chatbot>>,
    environment: &str,
) -> Result<(MessengerSource, MessengerSender), SetupError> {
    if settings.app_secret.expose_secret().is_empty() {
        return Err(SetupError::Missing("MESSENGER_APP_SECRET"));
    }
    if settings.verify_token.expose_secret().is_empty() {
        return Err(SetupError::Missing("MESSENGER_VERIFY_TOKEN"));
    }
    if settings.graph_version.trim().trim_matches('/').is_empty() {
        return Err(SetupError::Missing("messenger.graph_version"));
    }
    let configured = Some(settings.page_token.clone()).filter(|token| !token.expose_secret().trim().is_empty());
    if configured.is_none() && extra_info.is_none() {
        tracing::warn!("no Messenger page token configured and no ExtraInfo to read one from: replies cannot be sent");
    }
    let page_token = ChannelCredentials::new(extra_info, MessengerSender::GROUP, environment, page_token_from_extra_info, configured);
    let client = GraphClient::new(
        &settings.graph_api_url,
        &settings.graph_version,
        Duration::from_millis(settings.timeout_ms),
        page_token,
        environment,
    )?;
    let channel = MessengerSource {
        app_secret: settings.app_secret.clone(),
        verify_token: settings.verify_token.clone(),
        budget: Duration::from_millis(settings.deadline_ms),
    };
    Ok((channel, MessengerSender { client }))
}

/// This environment's page token in the `facebook` group's ExtraInfo (`page_tokens`).
pub fn page_token_from_extra_info(extra_info: &ExtraInfo, environment: &str) -> Option<SecretString> {
    extra_info.page_token(environment).map(|token| SecretString::from(token.to_owned()))
}

/// Meta's subscription check: `hub.mode=subscribe`, the verify token (compared in constant
/// time) and the challenge to say back. Returns the challenge, or why not; a refusal never
/// repeats it.
pub fn verification(params: &[(String, String)], verify_token: &[u8]) -> Result<String, Refusal> {
    let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let token_matches = param("hub.verify_token").is_some_and(|given| bool::from(given.as_bytes().ct_eq(verify_token)));
    if param("hub.mode") != Some("subscribe") || !token_matches {
        return Err(Refusal::forbidden("verification refused"));
    }
    match param("hub.challenge") {
        Some(challenge) if !challenge.is_empty() => Ok(challenge.to_owned()),
        _ => Err(Refusal::bad_request("missing hub.challenge")),
    }
}

impl Source for MessengerSource {
    type Verified = inbound::Body;

    fn name(&self) -> &'static str {
        "messenger"
    }

    /// A batch may hold many events; the signature is checked before anything is read.
    fn max_body_bytes(&self) -> usize {
        MAX_WEBHOOK_BODY_BYTES
    }

    fn budget(&self) -> Duration {
        self.budget
    }

    /// Signature over the raw bytes first, then JSON, then `object`.
    fn authenticate(&self, request: &WebhookRequest) -> Result<inbound::Body, Refusal> {
        let Some(header) = request.headers().get(signature::HEADER) else {
            return Err(Refusal::forbidden("missing X-Hub-Signature-256"));
        };
        let header = header.to_str().unwrap_or_default();
        if !signature::is_valid(self.app_secret.expose_secret().as_bytes(), request.body(), header) {
            return Err(Refusal::forbidden("invalid X-Hub-Signature-256"));
        }
        // Its events only split apart, each read on its own by `parse` (see `inbound::Body`).
        let body = match inbound::Body::read(request.body()) {
            Ok(body) => body,
            Err(inbound::BodyError::NotJson) => return Err(Refusal::bad_request("body is not JSON")),
            Err(inbound::BodyError::Object) => return Err(Refusal::bad_request("unreadable object")),
        };
        if !body.is_page() {
            return Err(Refusal::new(StatusCode::NOT_FOUND, "not a page event"));
        }
        Ok(body)
    }

    /// Users' messages and taps; none at all (only receipts or echoes) is fine. An event that
    /// cannot be read is logged and skipped, never the batch.
    fn parse(&self, body: inbound::Body) -> Result<Vec<Event>, Refusal> {
        Ok(inbound::read_body(&body).iter().map(MessengerInbound::to_event).collect())
    }

    fn answer(&self, status: StatusCode) -> WebhookResponse {
        text_response(status, if status.is_success() { EVENT_RECEIVED } else { "retry later" })
    }

    fn verify(&self, request: &WebhookRequest) -> Option<WebhookResponse> {
        let params: Vec<(String, String)> = serde_urlencoded::from_str(request.uri().query().unwrap_or_default()).unwrap_or_default();
        Some(match verification(&params, self.verify_token.expose_secret().as_bytes()) {
            Ok(challenge) => {
                tracing::info!("Messenger webhook subscription verified");
                text_response(StatusCode::OK, &challenge)
            }
            Err(refusal) => {
                tracing::warn!(reason = refusal.reason, "Messenger subscription check refused");
                text_response(refusal.status, refusal.reason)
            }
        })
    }
}

impl Sender for MessengerSender {
    const CHANNEL: &'static str = "messenger";
    const GROUP: &'static str = "facebook";
    type Address = MessengerAddress;
    type Message = OutboundMessage;

    /// The messaging type is decided here, from the occasion: a resumed delivery sends exactly
    /// what the first attempt would have.
    fn render(&self, _to: &MessengerAddress, replies: &[Reply], occasion: &Occasion) -> Vec<OutboundMessage> {
        render(replies, occasion)
    }

    /// The Send API keeps no metadata of ours and Graph lists no page messages by it: a send
    /// whose answer was lost is taken as delivered (at most once), and an agent is told it may
    /// not have arrived.
    async fn send(&self, to: &MessengerAddress, message: &OutboundMessage, _tag: &SendTag, deadline: Instant) -> Result<(), SendError> {
        if to.psid.trim().is_empty() {
            return Err(SendError::BadAddress(Self::CHANNEL));
        }
        self.client.send(&to.psid, message, deadline).await
    }

    async fn typing(&self, to: &MessengerAddress, deadline: Instant) -> Result<(), SendError> {
        if to.psid.trim().is_empty() {
            return Err(SendError::BadAddress(Self::CHANNEL));
        }
        self.client.typing(&to.psid, deadline).await
    }

    async fn display_name(&self, to: &MessengerAddress, deadline: Instant) -> Option<String> {
        self.client.first_name(&to.psid, deadline).await
    }

    async fn fetch_file(&self, file: &UserFile, limit: u64, deadline: Instant) -> Result<FileContent, FileError> {
        self.client.fetch_file(file, limit, deadline).await
    }

    /// Agents' messages go out with `HUMAN_AGENT` up to 7 days after the user last wrote;
    /// after that the agent is told instead.
    fn reply_window(&self, _to: &MessengerAddress) -> Option<Duration> {
        Some(HUMAN_AGENT_WINDOW)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector_config::{Config, Sources};
    use connector_engine::step::{Input, UserInput};
    use serde_json::json;
    use std::collections::HashMap;

    const SECRET: &str = "test_app_secret";
    const VERIFY: &str = "test-verify-token";

    /// The shipped `conf/default` with these environment variables.
    fn settings_with(env: &[(&str, &str)]) -> MessengerSettings {
        let conf_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../conf");
        let env = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Config::load(&Sources { conf_dir, env }, ENV).unwrap().section("messenger").unwrap()
    }

    fn settings() -> MessengerSettings {
        settings_with(&[("MESSENGER_APP_SECRET", SECRET), ("MESSENGER_VERIFY_TOKEN", VERIFY)])
    }

    fn channel() -> MessengerSource {
        setup(&settings(), None, "production").map(|(channel, _)| channel).unwrap()
    }

    fn post(body: &str, signature: Option<&str>) -> WebhookRequest {
        let mut request = http::Request::builder().method("POST").uri("/messenger");
        if let Some(signature) = signature {
            request = request.header("X-Hub-Signature-256", signature);
        }
        request.body(body.to_owned().into()).unwrap()
    }

    fn signed(body: &str) -> WebhookRequest {
        post(body, Some(&signature::header_value(SECRET.as_bytes(), body.as_bytes())))
    }

    fn get(query: &str) -> WebhookRequest {
        http::Request::builder().method("GET").uri(format!("/messenger?{query}")).body(Default::default()).unwrap()
    }

    #[test]
    fn setup_refuses_to_run_without_app_secret_or_verify_token() {
        let missing = |env: &[(&str, &str)]| setup(&settings_with(env), None, "production").err().map(|e| e.to_string());
        assert_eq!(missing(&[("MESSENGER_VERIFY_TOKEN", VERIFY)]), Some("MESSENGER_APP_SECRET must be set".into()));
        assert_eq!(missing(&[("MESSENGER_APP_SECRET", SECRET)]), Some("MESSENGER_VERIFY_TOKEN must be set".into()));
        assert!(setup(&settings(), None, "production").is_ok(), "a page token is not needed to start");
    }

    #[test]
    fn the_shipped_configuration_and_its_environment_variables_fill_every_key() {
        let shipped = settings();
        // Graph's newest version (Meta's changelog: v27.0, 4 November 2026): served the longest.
        assert_eq!((shipped.graph_api_url.as_str(), shipped.graph_version.as_str()), ("https://graph.facebook.com", "v27.0"));
        assert_eq!((shipped.timeout_ms, shipped.deadline_ms), (5000, 15000));
        assert_eq!(channel().budget(), Duration::from_millis(15000));
        let set = settings_with(&[
            ("GRAPH_API_URL", "http://127.0.0.1:9"),
            ("MESSENGER_APP_SECRET", SECRET),
            ("MESSENGER_PAGE_TOKEN", "EAA-config"),
            ("MESSENGER_VERIFY_TOKEN", VERIFY),
        ]);
        assert_eq!(set.graph_api_url, "http://127.0.0.1:9");
        assert_eq!(
            (set.app_secret.expose_secret(), set.verify_token.expose_secret(), set.page_token.expose_secret()),
            (SECRET, VERIFY, "EAA-config")
        );
        let defaults: MessengerSettings = serde_json::from_value(json!({})).unwrap();
        assert_eq!((defaults.graph_api_url.as_str(), defaults.deadline_ms), ("https://graph.facebook.com", 15000));
        assert_eq!(defaults.graph_version, shipped.graph_version, "the built-in default is the shipped one");
    }

    #[test]
    fn the_subscription_check_is_answered_with_exactly_the_challenge() {
        let query = format!("hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token={VERIFY}");
        let response = channel().verify(&get(&query)).unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.body(), "1158201444");
        assert!(response.headers()[http::header::CONTENT_TYPE].to_str().unwrap().starts_with("text/plain"));
    }

    #[test]
    fn a_wrong_token_or_mode_is_refused_without_repeating_the_challenge() {
        for query in [
            "hub.mode=subscribe&hub.challenge=CHALLENGE_4711&hub.verify_token=wrong",
            "hub.mode=subscribe&hub.challenge=CHALLENGE_4711",
            &format!("hub.mode=unsubscribe&hub.challenge=CHALLENGE_4711&hub.verify_token={VERIFY}"),
            &format!("hub.mode=subscribe&hub.challenge=CHALLENGE_4711&hub.verify_token={VERIFY}x"),
            "",
        ] {
            let response = channel().verify(&get(query)).unwrap();
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{query}");
            assert!(!String::from_utf8_lossy(response.body()).contains("CHALLENGE_4711"));
            assert_eq!(response.body(), "verification refused");
        }
    }

    #[test]
    fn an_unsigned_forged_or_garbled_request_is_refused_before_its_body_is_read() {
        let body = r#"{"object":"page","entry":[]}"#;
        let forged = signature::header_value(b"not the secret", body.as_bytes());
        for request in [post(body, None), post(body, Some(&forged)), post(body, Some("sha256=zz")), post("{not json", None)] {
            assert_eq!(channel().authenticate(&request).unwrap_err().status, StatusCode::FORBIDDEN);
        }
        let mut tampered = signed(body);
        *tampered.body_mut() = r#"{"object":"page","entry":[{}]}"#.into();
        assert_eq!(channel().authenticate(&tampered).unwrap_err().status, StatusCode::FORBIDDEN);
    }

    #[test]
    fn a_signed_body_that_is_not_json_or_not_a_page_event_is_refused() {
        assert_eq!(channel().authenticate(&signed("{not json")).unwrap_err().status, StatusCode::BAD_REQUEST);
        assert_eq!(channel().authenticate(&signed(r#"{"object":"instagram","entry":[]}"#)).unwrap_err().status, StatusCode::NOT_FOUND);
    }

    #[test]
    fn a_signed_batch_gives_every_user_event_in_order_and_receipts_give_none() {
        let body = json!({"object":"page","entry":[
            {"id":"PAGE","time":1,"messaging":[
                {"sender":{"id":"U1"},"recipient":{"id":"PAGE"},"timestamp":1,"message":{"mid":"m_1","text":"first"}},
                {"sender":{"id":"U1"},"recipient":{"id":"PAGE"},"timestamp":2,"read":{"watermark":1}},
            ]},
            {"id":"PAGE","time":2,"messaging":[
                {"sender":{"id":"U2"},"recipient":{"id":"PAGE"},"timestamp":3,"message":{"mid":"m_2","text":"second"}},
            ]},
        ]})
        .to_string();
        let channel = channel();
        let events = channel.parse(channel.authenticate(&signed(&body)).unwrap()).unwrap();
        let read: Vec<(&str, &Input)> = events.iter().map(|e| (e.id.as_str(), &e.input)).collect();
        assert_eq!(
            read,
            [
                ("messenger#m_1", &Input::User(UserInput::Text("first".into()))),
                ("messenger#m_2", &Input::User(UserInput::Text("second".into())))
            ]
        );
        let receipts_only = r#"{"object":"page","entry":[{"id":"PAGE","time":1,"messaging":[{"sender":{"id":"U1"},"recipient":{"id":"PAGE"},"delivery":{"watermark":1}}]}]}"#;
        assert!(channel.parse(channel.authenticate(&signed(receipts_only)).unwrap()).unwrap().is_empty());
    }

    #[test]
    fn a_signed_batch_with_an_unreadable_event_gives_the_others_and_a_body_that_is_not_json_is_refused_whole() {
        let body = r#"{"object":"page","entry":[{"id":"PAGE","time":1,"messaging":[
            {"sender":{"id":"U1"},"recipient":{"id":"PAGE"},"timestamp":1,"message":{"mid":"m_1","text":"\ud800"}},
            {"sender":{"id":"U2"},"recipient":{"id":"PAGE"},"timestamp":2,"message":{"mid":"m_2","text":"fine"}}]}]}"#;
        let channel = channel();
        let events = channel.parse(channel.authenticate(&signed(body)).unwrap()).unwrap();
        let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["messenger#m_2"]);
        let unclosed = "[".repeat(100_000);
        for broken in [unclosed.as_str(), r#"{"object":"\ud800","entry":[]}"#, &body.replace("\"fine\"", "fine")] {
            assert_eq!(channel.authenticate(&signed(broken)).unwrap_err().status, StatusCode::BAD_REQUEST);
        }
    }

    #[test]
    fn the_answer_is_event_received_when_all_went_well() {
        assert_eq!(channel().answer(StatusCode::OK).body(), EVENT_RECEIVED);
        let retry = channel().answer(StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!((retry.status(), &retry.body()[..]), (StatusCode::SERVICE_UNAVAILABLE, &b"retry later"[..]));
    }

    /// Reading ExtraInfo's body is the Inbenta client's (its `app_data` tests).
    #[test]
    fn the_page_token_of_the_environment_is_taken_from_extra_info() {
        let page_tokens = HashMap::from([("development".into(), "EAA-dev".into()), ("production".into(), "EAA-prod".into())]);
        let extra_info = ExtraInfo { page_tokens, ..ExtraInfo::default() };
        let read = |extra_info: &ExtraInfo, env: &str| page_token_from_extra_info(extra_info, env).map(|t| t.expose_secret().to_owned());
        assert_eq!(read(&extra_info, "production").as_deref(), Some("EAA-prod"));
        assert_eq!(read(&extra_info, "development").as_deref(), Some("EAA-dev"));
        assert_eq!(read(&extra_info, "staging"), None);
        assert_eq!(read(&ExtraInfo::default(), "production"), None);
    }

    #[test]
    fn replies_reach_agents_users_for_7_days() {
        let (_, sender) = setup(&settings(), None, "production").unwrap();
        let to = MessengerAddress { page: "PAGE".into(), psid: "U1".into() };
        assert_eq!(sender.reply_window(&to), Some(Duration::from_secs(7 * 24 * 3600)));
        assert_eq!(MessengerSender::address(&to).to, json!({"page":"PAGE","psid":"U1"}));
    }
}
