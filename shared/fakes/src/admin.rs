//! A fake of the providers' administration endpoints that `connector-local register` calls:
//! one HTTP server on `127.0.0.1:<random port>` with every route, so one ordered log shows the
//! command's requests across providers. Each route follows its provider's document, cited here;
//! what no document says is the fake's choice and is marked so.
//!
//! * **Twilio** (`twilio_api_v2010.json` of twilio/twilio-oai): `GET /2010-04-01/Accounts/{sid}/
//!   IncomingPhoneNumbers.json` filtered by `PhoneNumber` (the query is form-decoded, so a `+`
//!   sent unencoded is a space and matches nothing, as at Twilio), and `POST …/
//!   IncomingPhoneNumbers/{PN sid}.json` (`UpdateIncomingPhoneNumberRequest`: `SmsMethod` and
//!   `StatusCallbackMethod` GET or POST, URLs absolute; unlisted parameters are ignored, as
//!   Twilio does) answering the updated resource. HTTP Basic `AccountSid:AuthToken`; errors are
//!   Twilio's body (`code` 20003 refused credentials, 20404 no such number, 20001 invalid
//!   parameter: the last is the fake's choice of code).
//! * **Twilio Messaging v2** (`twilio_messaging_v2.json`): `GET /v2/Channels/Senders?Channel=
//!   whatsapp` (`Channel` required) and `POST /v2/Channels/Senders/{XE sid}` with a JSON
//!   `configuration`/`webhook`/`profile` (`callback_method` POST or PUT), answered 202. That a
//!   `webhook` given in part keeps its other fields is the fake's assumption.
//! * **Sunshine Conversations v2** (`openapi.yaml` of zendesk/sunshine-conversations-api-spec):
//!   `GET|POST /v2/apps/{app}/integrations` (`filter[types]`, `page[after]`/`page[size]` cursor
//!   pagination, default 25; a `custom` integration needs exactly one webhook with `target` and
//!   `triggers`, answered 201 with the webhook's `secret`), `GET|POST …/integrations/{id}/
//!   webhooks` and `PATCH …/webhooks/{id}`; 10 webhooks per app. HTTP Basic with the app's key;
//!   errors `{"errors":[{"code","title"}]}`. List integrations does not include the webhooks
//!   (the spec's example shows none), so a client must ask each integration.
//! * **Graph** (Meta's references of `/{app-id}/subscriptions` and `/{page-id}/subscribed_apps`):
//!   the app's subscriptions need the app access token (the configured one or `APP_ID|APP_SECRET`),
//!   the page's the page token (`me` is the token's page); `POST` answers `{"success":true}`.
//!   Errors are Graph's (`code` 190 for a token Graph does not take). Meta checks a new callback
//!   URL with a GET at once; the fake does not, and records the verify token instead. Whether a
//!   `POST` adds fields or replaces them is not documented: the fake adds for the app and
//!   replaces for the page, the less forgiving reading of each.
//! * **HyperChat**: `GET /v1/webhooks` with `x-hyper-appid` and `x-hyper-secret` (the route is in
//!   Inbenta's PHP client, `Resources/Webhooks.php`; its answer's shape is documented nowhere we
//!   know of: `{"webhooks":[{"id","target","events"}]}` is the fake's).

use std::sync::Mutex;

use axum::http::{HeaderMap, Method, StatusCode, Uri};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

pub use crate::recording::Recorded;
use crate::recording::{RequestLog, lock};
use crate::server::{Reply, Running, Upstream};

/// What the fake accepts as each provider's credentials and ids.
#[derive(Debug, Clone)]
pub struct AdminCredentials {
    pub twilio_sid: String,
    pub twilio_token: String,
    pub smooch_app: String,
    pub smooch_key: String,
    pub smooch_secret: String,
    pub meta_app_id: String,
    pub meta_app_secret: String,
    pub page_id: String,
    pub page_token: String,
    pub hyperchat_app: String,
    pub hyperchat_secret: String,
}

impl AdminCredentials {
    /// Test values, each long and distinct, so an output can be searched for every one.
    pub fn example() -> Self {
        Self {
            twilio_sid: format!("AC{}", "1".repeat(32)),
            twilio_token: "twilio-auth-token-0123456789".into(),
            smooch_app: "5e4af71a81966cfff3ef6550".into(),
            smooch_key: "app_5e4af71a81966cfff3ef6551".into(),
            smooch_secret: "smooch-app-key-secret-0123456789".into(),
            meta_app_id: "123456789012345".into(),
            meta_app_secret: "meta-app-secret-0123456789".into(),
            page_id: "998877665544".into(),
            page_token: "EAAB-page-access-token-0123456789".into(),
            hyperchat_app: "hyperchat-app-id".into(),
            hyperchat_secret: "hyperchat-app-secret-0123456789".into(),
        }
    }

    /// The app access token Meta takes without asking for one: `APP_ID|APP_SECRET`.
    pub fn app_token(&self) -> String {
        format!("{}|{}", self.meta_app_id, self.meta_app_secret)
    }
}

/// The fake; cheap to clone, stops with its last clone.
#[derive(Clone, Debug)]
pub struct FakeAdmin {
    running: Running<Shared>,
}

struct Shared {
    log: RequestLog,
    credentials: AdminCredentials,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    next_id: u64,
    numbers: Vec<Value>,
    senders: Vec<Value>,
    /// Custom integrations, each with its `webhooks` (secrets included).
    integrations: Vec<Value>,
    /// The app's subscriptions (`object`, `callback_url`, `active`, `fields`).
    app_subscriptions: Vec<Value>,
    verify_tokens: Vec<String>,
    /// The page's subscribed apps (`id`, `name`, `subscribed_fields`).
    page_apps: Vec<Value>,
    hyperchat_webhooks: Vec<Value>,
}

impl State {
    fn id(&mut self, width: usize) -> String {
        self.next_id += 1;
        format!("{:0width$x}", self.next_id)
    }
}

/// The v2 triggers of the spec's "Webhook Triggers" table.
const SMOOCH_TRIGGERS: &[&str] = &[
    "client:add",
    "client:remove",
    "client:update",
    "conversation:create",
    "conversation:join",
    "conversation:leave",
    "conversation:remove",
    "conversation:message",
    "conversation:message:delivery:channel",
    "conversation:message:delivery:failure",
    "conversation:message:delivery:user",
    "conversation:postback",
    "conversation:read",
    "conversation:referral",
    "passthrough:messaging",
    "conversation:typing",
    "switchboard:acceptControl",
    "switchboard:acceptControl:failure",
    "switchboard:offerControl",
    "switchboard:offerControl:failure",
    "switchboard:passControl",
    "switchboard:passControl:failure",
    "switchboard:releaseControl",
    "user:merge",
    "user:update",
    "user:remove",
];

/// Page webhook fields of Messenger (Meta's Messenger webhook reference); others are refused,
/// the fake's way of catching a misspelt field.
const PAGE_FIELDS: &[&str] = &[
    "messages",
    "messaging_postbacks",
    "messaging_optins",
    "messaging_referrals",
    "messaging_handovers",
    "messaging_policy_enforcement",
    "message_deliveries",
    "message_reads",
    "message_echoes",
    "message_reactions",
    "messaging_account_linking",
    "standby",
];

/// `UpdateIncomingPhoneNumberRequest`'s parameters.
const NUMBER_PARAMETERS: &[&str] = &[
    "AccountSid",
    "ApiVersion",
    "FriendlyName",
    "SmsApplicationSid",
    "SmsFallbackMethod",
    "SmsFallbackUrl",
    "SmsMethod",
    "SmsUrl",
    "StatusCallback",
    "StatusCallbackMethod",
    "VoiceApplicationSid",
    "VoiceCallerIdLookup",
    "VoiceFallbackMethod",
    "VoiceFallbackUrl",
    "VoiceMethod",
    "VoiceUrl",
    "EmergencyStatus",
    "EmergencyAddressSid",
    "TrunkSid",
    "VoiceReceiveMode",
    "IdentitySid",
    "AddressSid",
    "BundleSid",
];

fn pairs(text: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str(text).unwrap_or_default()
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// `SmsUrl` -> `sms_url`.
fn snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn basic(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get("authorization")?.to_str().ok()?.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(value).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

fn absolute_url(value: &str) -> bool {
    value.starts_with("https://") || value.starts_with("http://")
}

fn twilio_error(status: StatusCode, code: u32, message: &str) -> Reply {
    (
        status,
        json!({"code": code, "message": message, "more_info": format!("https://www.twilio.com/docs/errors/{code}"), "status": status.as_u16()}),
    )
}

fn smooch_error(status: StatusCode, code: &str, title: &str) -> Reply {
    (status, json!({"errors": [{"code": code, "title": title}]}))
}

fn graph_error(code: u32, message: &str) -> Reply {
    let kind = if code == 190 { "OAuthException" } else { "GraphMethodException" };
    (StatusCode::BAD_REQUEST, json!({"error": {"message": message, "type": kind, "code": code, "fbtrace_id": "AfakeTrace"}}))
}

fn hyperchat_error(status: StatusCode, message: &str) -> Reply {
    (status, json!({"error": {"code": status.as_u16(), "message": message}}))
}

impl FakeAdmin {
    pub async fn start(credentials: AdminCredentials) -> Self {
        let running = Running::start("FakeAdmin", |_| Shared { log: RequestLog::default(), credentials, state: Mutex::default() }).await;
        Self { running }
    }

    /// `http://127.0.0.1:PORT`: the base of every provider's API here.
    pub fn url(&self) -> String {
        self.running.base_url()
    }

    pub fn credentials(&self) -> AdminCredentials {
        self.running.shared.credentials.clone()
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.running.shared.log.snapshot()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        lock(&self.running.shared.state)
    }

    /// A phone number of the account, with `fields` over Twilio's defaults; its `PN` sid.
    pub fn add_number(&self, phone: &str, fields: Value) -> String {
        let account = self.running.shared.credentials.twilio_sid.clone();
        let mut state = self.state();
        let sid = format!("PN{}", state.id(32));
        let mut number = json!({
            "account_sid": account, "sid": sid, "phone_number": phone, "friendly_name": phone,
            "capabilities": {"voice": true, "sms": true, "mms": false, "fax": false},
            "sms_application_sid": "", "sms_url": "", "sms_method": "POST", "sms_fallback_url": "", "sms_fallback_method": "POST",
            "status_callback": "", "status_callback_method": "POST", "voice_url": null, "voice_method": "POST",
            "uri": format!("/2010-04-01/Accounts/{account}/IncomingPhoneNumbers/{sid}.json"), "status": "in-use", "type": "local",
        });
        if let (Some(number), Some(fields)) = (number.as_object_mut(), fields.as_object()) {
            number.extend(fields.clone());
        }
        state.numbers.push(number);
        sid
    }

    pub fn number(&self, phone: &str) -> Option<Value> {
        self.state().numbers.iter().find(|n| n["phone_number"] == phone).cloned()
    }

    /// A WhatsApp sender (`whatsapp:+E164`) with `webhook`; its `XE` sid.
    pub fn add_whatsapp_sender(&self, sender_id: &str, webhook: Value) -> String {
        let mut state = self.state();
        let sid = format!("XE{}", state.id(32));
        state
            .senders
            .push(json!({"sid": sid, "status": "ONLINE", "sender_id": sender_id, "webhook": webhook, "configuration": {}, "profile": {}}));
        sid
    }

    pub fn sender(&self, sender_id: &str) -> Option<Value> {
        self.state().senders.iter().find(|s| s["sender_id"] == sender_id).cloned()
    }

    /// A custom integration with webhooks (`target`, `triggers`); its id and its webhooks as
    /// stored (ids and secrets given).
    pub fn add_custom_integration(&self, webhooks: &[Value]) -> (String, Vec<Value>) {
        let mut state = self.state();
        let id = state.id(24);
        let webhooks: Vec<Value> = webhooks.iter().map(|w| new_webhook(&mut state, w)).collect();
        state.integrations.push(json!({"id": id, "type": "custom", "status": "active", "displayName": "existing", "webhooks": webhooks}));
        (id, webhooks)
    }

    /// Every webhook of the app: (integration id, webhook).
    pub fn smooch_webhooks(&self) -> Vec<(String, Value)> {
        let state = self.state();
        state
            .integrations
            .iter()
            .flat_map(|i| {
                let id = i["id"].as_str().unwrap_or_default().to_owned();
                i["webhooks"].as_array().cloned().unwrap_or_default().into_iter().map(move |w| (id.clone(), w))
            })
            .collect()
    }

    pub fn integrations(&self) -> usize {
        self.state().integrations.len()
    }

    /// The app's `page` subscription.
    pub fn app_subscription(&self) -> Option<Value> {
        self.state().app_subscriptions.iter().find(|s| s["object"] == "page").cloned()
    }

    /// Every verify token the app's subscriptions were created with.
    pub fn verify_tokens(&self) -> Vec<String> {
        self.state().verify_tokens.clone()
    }

    /// The fields the page sends the app, if the app is subscribed.
    pub fn page_fields(&self) -> Option<Vec<String>> {
        let app = self.running.shared.credentials.meta_app_id.clone();
        let state = self.state();
        state.page_apps.iter().find(|a| a["id"] == app.as_str()).map(|a| strings(&a["subscribed_fields"]))
    }

    pub fn add_hyperchat_webhook(&self, target: &str, events: &[&str]) {
        let mut state = self.state();
        let id = state.id(8);
        state.hyperchat_webhooks.push(json!({"id": id, "target": target, "events": events}));
    }
}

fn strings(value: &Value) -> Vec<String> {
    value.as_array().map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect()).unwrap_or_default()
}

fn new_webhook(state: &mut State, body: &Value) -> Value {
    let id = state.id(24);
    let secret = format!("whsec{}", state.id(27));
    json!({
        "id": id, "version": "v2", "target": body["target"], "triggers": body["triggers"], "secret": secret,
        "includeFullUser": body.get("includeFullUser").cloned().unwrap_or(json!(false)),
        "includeFullSource": body.get("includeFullSource").cloned().unwrap_or(json!(false)),
    })
}

/// `webhookBody`: only its fields, a string `target`, known `triggers`; `create` needs both.
fn check_webhook(body: &Value, create: bool) -> Result<(), Reply> {
    let bad = |title: &str| smooch_error(StatusCode::BAD_REQUEST, "bad_request", title);
    let object = body.as_object().ok_or_else(|| bad("the webhook must be an object"))?;
    if let Some(unknown) = object.keys().find(|k| !["target", "triggers", "includeFullUser", "includeFullSource"].contains(&k.as_str())) {
        return Err(bad(&format!("unknown webhook field {unknown}")));
    }
    if create && (!object.contains_key("target") || !object.contains_key("triggers")) {
        return Err(bad("target and triggers are required"));
    }
    if let Some(target) = object.get("target") {
        if !target.as_str().is_some_and(absolute_url) {
            return Err(bad("target must be a URL"));
        }
    }
    if let Some(triggers) = object.get("triggers") {
        let names = triggers.as_array().ok_or_else(|| bad("triggers must be an array"))?;
        if names.is_empty() {
            return Err(bad("triggers must not be empty"));
        }
        if let Some(unknown) = names.iter().find(|t| !t.as_str().is_some_and(|t| SMOOCH_TRIGGERS.contains(&t))) {
            return Err(bad(&format!("unknown trigger {unknown}")));
        }
    }
    Ok(())
}

impl Shared {
    fn twilio(
        &self,
        method: &Method,
        segments: &[&str],
        query: &[(String, String)],
        headers: &HeaderMap,
        body: &str,
    ) -> Result<Reply, Reply> {
        let c = &self.credentials;
        let authorised = basic(headers).is_some_and(|(user, password)| user == c.twilio_sid && password == c.twilio_token);
        if !authorised {
            return Err(twilio_error(StatusCode::UNAUTHORIZED, 20003, "Authenticate"));
        }
        let mut state = lock(&self.state);
        match (method.as_str(), segments) {
            ("GET", ["2010-04-01", "Accounts", account, "IncomingPhoneNumbers.json"]) if *account == c.twilio_sid => {
                let wanted = param(query, "PhoneNumber");
                let numbers: Vec<Value> = state.numbers.iter().filter(|n| wanted.is_none_or(|w| n["phone_number"] == w)).cloned().collect();
                let end = numbers.len().saturating_sub(1);
                Ok((
                    StatusCode::OK,
                    json!({"incoming_phone_numbers": numbers, "page": 0, "page_size": 50, "start": 0, "end": end, "next_page_uri": null,
                           "previous_page_uri": null, "uri": format!("/2010-04-01/Accounts/{account}/IncomingPhoneNumbers.json")}),
                ))
            }
            ("POST", ["2010-04-01", "Accounts", account, "IncomingPhoneNumbers", file]) if *account == c.twilio_sid => {
                let sid: &str = file.strip_suffix(".json").unwrap_or(file);
                let form = pairs(body);
                for (name, value) in &form {
                    if (name.ends_with("Method")) && !["GET", "POST"].contains(&value.as_str()) {
                        return Err(twilio_error(StatusCode::BAD_REQUEST, 20001, &format!("{name} must be GET or POST")));
                    }
                    if (name.ends_with("Url") || name == "StatusCallback") && !value.is_empty() && !absolute_url(value) {
                        return Err(twilio_error(StatusCode::BAD_REQUEST, 20001, &format!("{name} must be a URL")));
                    }
                }
                let number = state
                    .numbers
                    .iter_mut()
                    .find(|n| n["sid"] == *sid)
                    .ok_or_else(|| twilio_error(StatusCode::NOT_FOUND, 20404, "The requested resource was not found"))?;
                for (name, value) in form.iter().filter(|(name, _)| NUMBER_PARAMETERS.contains(&name.as_str())) {
                    number[snake(name)] = json!(value);
                }
                Ok((StatusCode::OK, number.clone()))
            }
            ("GET", ["v2", "Channels", "Senders"]) => {
                let Some(channel) = param(query, "Channel") else {
                    return Err(twilio_error(StatusCode::BAD_REQUEST, 20001, "Channel is required"));
                };
                let senders: Vec<Value> = if channel == "whatsapp" { state.senders.clone() } else { Vec::new() };
                Ok((
                    StatusCode::OK,
                    json!({"senders": senders, "meta": {"page": 0, "page_size": 50, "key": "senders", "next_page_url": null}}),
                ))
            }
            ("POST", ["v2", "Channels", "Senders", sid]) => {
                let update: Value =
                    serde_json::from_str(body).map_err(|_| twilio_error(StatusCode::BAD_REQUEST, 20001, "the body must be JSON"))?;
                let update = update.as_object().cloned().unwrap_or_default();
                if let Some(unknown) = update.keys().find(|k| !["configuration", "webhook", "profile"].contains(&k.as_str())) {
                    return Err(twilio_error(StatusCode::BAD_REQUEST, 20001, &format!("unknown field {unknown}")));
                }
                let webhook = update.get("webhook").and_then(Value::as_object).cloned().unwrap_or_default();
                let allowed =
                    ["callback_url", "callback_method", "fallback_url", "fallback_method", "status_callback_url", "status_callback_method"];
                if let Some(unknown) = webhook.keys().find(|k| !allowed.contains(&k.as_str())) {
                    return Err(twilio_error(StatusCode::BAD_REQUEST, 20001, &format!("unknown webhook field {unknown}")));
                }
                if webhook.get("callback_method").is_some_and(|m| m != "POST" && m != "PUT") {
                    return Err(twilio_error(StatusCode::BAD_REQUEST, 20001, "callback_method must be POST or PUT"));
                }
                let sender = state
                    .senders
                    .iter_mut()
                    .find(|s| s["sid"] == *sid)
                    .ok_or_else(|| twilio_error(StatusCode::NOT_FOUND, 20404, "The requested resource was not found"))?;
                let mut merged: Map<String, Value> = sender["webhook"].as_object().cloned().unwrap_or_default();
                merged.extend(webhook);
                sender["webhook"] = Value::Object(merged);
                Ok((StatusCode::ACCEPTED, sender.clone()))
            }
            _ => Err(twilio_error(StatusCode::NOT_FOUND, 20404, "The requested resource was not found")),
        }
    }

    fn smooch(
        &self,
        method: &Method,
        segments: &[&str],
        query: &[(String, String)],
        headers: &HeaderMap,
        body: &str,
    ) -> Result<Reply, Reply> {
        let c = &self.credentials;
        let authorised = basic(headers).is_some_and(|(user, password)| user == c.smooch_key && password == c.smooch_secret);
        if !authorised {
            return Err(smooch_error(StatusCode::UNAUTHORIZED, "unauthorized", "Authorization is required"));
        }
        if segments.get(2) != Some(&c.smooch_app.as_str()) {
            return Err(smooch_error(StatusCode::FORBIDDEN, "forbidden", "Forbidden"));
        }
        let json_body =
            || serde_json::from_str::<Value>(body).map_err(|_| smooch_error(StatusCode::BAD_REQUEST, "bad_request", "Invalid JSON"));
        let mut state = lock(&self.state);
        let not_found = || smooch_error(StatusCode::NOT_FOUND, "integration_not_found", "Integration not found");
        match (method.as_str(), &segments[3..]) {
            ("GET", ["integrations"]) => {
                let types: Option<Vec<&str>> = param(query, "filter[types]").map(|t| t.split(',').collect());
                let size: usize = param(query, "page[size]").map_or(Ok(25), str::parse).unwrap_or(0);
                if !(1..=100).contains(&size) {
                    return Err(smooch_error(StatusCode::BAD_REQUEST, "bad_request", "Invalid page query parameters"));
                }
                let listed: Vec<Value> = state
                    .integrations
                    .iter()
                    .filter(|i| types.as_ref().is_none_or(|t| t.contains(&i["type"].as_str().unwrap_or_default())))
                    .map(|i| json!({"id": i["id"], "type": i["type"], "status": i["status"], "displayName": i["displayName"]}))
                    .collect();
                let start = match param(query, "page[after]") {
                    Some(after) => listed.iter().position(|i| i["id"] == after).map_or(listed.len(), |p| p + 1),
                    None => 0,
                };
                let page: Vec<Value> = listed.iter().skip(start).take(size).cloned().collect();
                let has_more = start + page.len() < listed.len();
                let mut meta = json!({"hasMore": has_more});
                if has_more {
                    meta["afterCursor"] = page.last().map_or(Value::Null, |i| i["id"].clone());
                }
                Ok((StatusCode::OK, json!({"integrations": page, "meta": meta})))
            }
            ("POST", ["integrations"]) => {
                let created = json_body()?;
                let bad = |title: &str| smooch_error(StatusCode::BAD_REQUEST, "bad_request", title);
                let object = created.as_object().ok_or_else(|| bad("the integration must be an object"))?;
                if object.get("type").and_then(Value::as_str) != Some("custom") {
                    return Err(bad("Invalid integration type"));
                }
                if let Some(unknown) = object.keys().find(|k| !["type", "displayName", "webhooks"].contains(&k.as_str())) {
                    return Err(bad(&format!("unknown integration field {unknown}")));
                }
                if object.get("displayName").is_some_and(|n| n.as_str().is_none_or(|n| n.chars().count() > 100)) {
                    return Err(bad("displayName must be a string of at most 100 characters"));
                }
                let webhooks = object
                    .get("webhooks")
                    .and_then(Value::as_array)
                    .filter(|w| w.len() == 1)
                    .ok_or_else(|| bad("webhooks must hold exactly one webhook"))?;
                check_webhook(&webhooks[0], true)?;
                if state.integrations.iter().map(|i| i["webhooks"].as_array().map_or(0, Vec::len)).sum::<usize>() >= 10 {
                    return Err(bad("An app is limited to 10 webhooks"));
                }
                let id = state.id(24);
                let webhook = new_webhook(&mut state, &webhooks[0]);
                let integration = json!({"id": id, "type": "custom", "status": "active", "displayName": object.get("displayName").cloned().unwrap_or(Value::Null), "webhooks": [webhook]});
                state.integrations.push(integration.clone());
                Ok((StatusCode::CREATED, json!({"integration": integration})))
            }
            ("GET", ["integrations", id, "webhooks"]) => {
                let integration = state.integrations.iter().find(|i| i["id"] == *id).ok_or_else(not_found)?;
                Ok((StatusCode::OK, json!({"webhooks": integration["webhooks"]})))
            }
            ("POST", ["integrations", id, "webhooks"]) => {
                let created = json_body()?;
                check_webhook(&created, true)?;
                if state.integrations.iter().map(|i| i["webhooks"].as_array().map_or(0, Vec::len)).sum::<usize>() >= 10 {
                    return Err(smooch_error(StatusCode::BAD_REQUEST, "bad_request", "An app is limited to 10 webhooks"));
                }
                let webhook = new_webhook(&mut state, &created);
                let integration = state.integrations.iter_mut().find(|i| i["id"] == *id).ok_or_else(not_found)?;
                if let Some(webhooks) = integration["webhooks"].as_array_mut() {
                    webhooks.push(webhook.clone());
                }
                Ok((StatusCode::CREATED, json!({"webhook": webhook})))
            }
            ("PATCH", ["integrations", id, "webhooks", webhook_id]) => {
                let update = json_body()?;
                check_webhook(&update, false)?;
                let integration = state.integrations.iter_mut().find(|i| i["id"] == *id).ok_or_else(not_found)?;
                let webhook = integration["webhooks"]
                    .as_array_mut()
                    .and_then(|w| w.iter_mut().find(|w| w["id"] == *webhook_id))
                    .ok_or_else(|| smooch_error(StatusCode::NOT_FOUND, "not_found", "Resource not found"))?;
                for (key, value) in update.as_object().into_iter().flatten() {
                    webhook[key] = value.clone();
                }
                Ok((StatusCode::OK, json!({"webhook": webhook})))
            }
            _ => Err(smooch_error(StatusCode::NOT_FOUND, "not_found", "Resource not found")),
        }
    }

    fn graph(&self, method: &Method, segments: &[&str], query: &[(String, String)], body: &str) -> Result<Reply, Reply> {
        let c = &self.credentials;
        let form = pairs(body);
        let get = |name: &str| param(query, name).or_else(|| param(&form, name)).map(str::to_owned);
        let token = get("access_token").unwrap_or_default();
        let [_, id, edge] = segments else { return Err(graph_error(100, "Unknown path components")) };
        let mut state = lock(&self.state);
        match (method.as_str(), *edge) {
            (_, "subscriptions") => {
                if token != c.app_token() {
                    return Err(graph_error(190, "Invalid OAuth access token - Cannot parse access token"));
                }
                if *id != c.meta_app_id {
                    return Err(graph_error(100, "Unsupported request: the token's app is another one"));
                }
                if method == Method::GET {
                    return Ok((StatusCode::OK, json!({"data": state.app_subscriptions})));
                }
                let (Some(object), Some(callback), Some(verify), Some(fields)) =
                    (get("object"), get("callback_url"), get("verify_token"), get("fields"))
                else {
                    return Err(graph_error(100, "object, callback_url, verify_token and fields are required"));
                };
                if !callback.starts_with("https://") {
                    return Err(graph_error(100, "callback_url must be an https URL"));
                }
                let fields: Vec<&str> = fields.split(',').map(str::trim).filter(|f| !f.is_empty()).collect();
                if let Some(unknown) = fields.iter().find(|f| object == "page" && !PAGE_FIELDS.contains(f)) {
                    return Err(graph_error(100, &format!("Invalid field {unknown}")));
                }
                state.verify_tokens.push(verify);
                let existing = state.app_subscriptions.iter().position(|s| s["object"] == object.as_str());
                let mut have: Vec<Value> =
                    existing.map(|p| state.app_subscriptions[p]["fields"].as_array().cloned().unwrap_or_default()).unwrap_or_default();
                for field in fields {
                    if !have.iter().any(|f| f["name"] == field) {
                        have.push(json!({"name": field, "version": segments[0]}));
                    }
                }
                let subscription = json!({"object": object, "callback_url": callback, "active": true, "fields": have});
                match existing {
                    Some(p) => state.app_subscriptions[p] = subscription,
                    None => state.app_subscriptions.push(subscription),
                }
                Ok((StatusCode::OK, json!({"success": true})))
            }
            (_, "subscribed_apps") => {
                if token != c.page_token {
                    return Err(graph_error(190, "Invalid OAuth access token - Cannot parse access token"));
                }
                if *id != "me" && *id != c.page_id {
                    return Err(graph_error(100, "Unsupported request: the token's page is another one"));
                }
                if method == Method::GET {
                    return Ok((StatusCode::OK, json!({"data": state.page_apps})));
                }
                let Some(fields) = get("subscribed_fields") else {
                    return Err(graph_error(100, "(#100) The parameter subscribed_fields is required"));
                };
                let fields: Vec<&str> = fields.split(',').map(str::trim).filter(|f| !f.is_empty()).collect();
                if let Some(unknown) = fields.iter().find(|f| !PAGE_FIELDS.contains(f)) {
                    return Err(graph_error(100, &format!("(#100) Param subscribed_fields[{unknown}] must be one of the page's fields")));
                }
                let app = json!({"category": "Business", "link": "https://example.com", "name": "Connector app", "id": c.meta_app_id, "subscribed_fields": fields});
                match state.page_apps.iter().position(|a| a["id"] == c.meta_app_id.as_str()) {
                    Some(p) => state.page_apps[p] = app,
                    None => state.page_apps.push(app),
                }
                Ok((StatusCode::OK, json!({"success": true})))
            }
            _ => Err(graph_error(100, "Unknown path components")),
        }
    }

    fn hyperchat(&self, method: &Method, headers: &HeaderMap) -> Result<Reply, Reply> {
        let c = &self.credentials;
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        if header("x-hyper-appid") != c.hyperchat_app || header("x-hyper-secret") != c.hyperchat_secret {
            return Err(hyperchat_error(StatusCode::UNAUTHORIZED, "Unauthorized"));
        }
        if method != Method::GET {
            return Err(hyperchat_error(StatusCode::NOT_FOUND, "Not found"));
        }
        Ok((StatusCode::OK, json!({"webhooks": lock(&self.state).hyperchat_webhooks})))
    }
}

impl Upstream for Shared {
    fn log(&self) -> &RequestLog {
        &self.log
    }

    async fn answer(&self, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Result<Reply, Reply> {
        let body = String::from_utf8_lossy(body);
        let query = pairs(uri.query().unwrap_or_default());
        let segments: Vec<&str> = uri.path().trim_start_matches('/').split('/').collect();
        let is_graph_version = |s: &str| {
            s.strip_prefix('v')
                .is_some_and(|v| v.split_once('.').is_some_and(|(a, b)| a.parse::<u32>().is_ok() && b.parse::<u32>().is_ok()))
        };
        match segments.as_slice() {
            ["2010-04-01", ..] | ["v2", "Channels", ..] => self.twilio(method, &segments, &query, headers, &body),
            ["v2", "apps", _, ..] => self.smooch(method, &segments, &query, headers, &body),
            ["v1", "webhooks"] => self.hyperchat(method, headers),
            [version, ..] if is_graph_version(version) => self.graph(method, &segments, &query, &body),
            _ => Err((StatusCode::NOT_FOUND, json!({"error": "no such route in the fake"}))),
        }
    }
}
