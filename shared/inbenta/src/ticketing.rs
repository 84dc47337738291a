//! Inbenta's ticketing API (Inbenta Messenger, now Case Management: `apis.ticketing` of the
//! `/auth` answer), for the satisfaction survey of a closed chat, called as Inbenta's own PHP
//! library calls it (`chatbot_api_connector` 1.4.3, `MessengerAPIClient::getSurveyData`,
//! `getTicketID`, `surveyStart`, `surveySubmit`):
//!
//! 1. `GET {apis.ticketing}/v1/tickets?external_id={chat id}`: the ticket HyperChat made of the
//!    chat is `data[0].id`;
//! 2. `POST {apis.ticketing}/v1/surveys/{survey id}/start`, form `sourceType=ticket&sourceId={ticket}`:
//!    the survey to run, `{"response":{"id","token","pages","settings"}}`;
//! 3. `POST {apis.ticketing}/v1/surveys/{survey id}/submit`, form
//!    `field_answers[{item id}]={value}&...&token={token}` (PHP's `http_build_query`).
//!
//! All with `x-inbenta-key` and `Authorization: Bearer <access token>`, the token of the
//! ticketing key's own `/auth` (the PHP's `chat.messenger` key and secret).
//!
//! What the start answers is a form, not a link: the engine asks the user its questions
//! (`connector_engine::survey`) through [`ChatSurveys`], the engine's
//! [`Surveys`](connector_engine::ports::Surveys).

use crate::token::{AccessToken, TokenKeeper};
use async_trait::async_trait;
use connector_config::{Config, ConfigError};
use connector_core::store::Cache;
use connector_engine::ports::{ChatbotError, Clock, LiveChatError, Surveys};
use connector_engine::survey::{Expects, PageJump, Question, Survey, SurveyAnswer, SurveyChoice};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use upstream::{RequestBuilder, StatusClass, Timeouts, Upstream};

/// The `apis` key of the ticketing API's URL in the `/auth` answer.
const PRODUCT: &str = "ticketing";

#[derive(Debug, Clone)]
pub struct TicketingConfig {
    /// The ticketing API key and secret (the PHP's `chat.messenger.key` / `secret`).
    pub api_key: String,
    pub api_secret: SecretString,
    /// Inbenta's auth API (`https://api.inbenta.io/v1`), without a trailing `/`.
    pub auth_url: String,
    pub timeout: Duration,
}

/// The survey after a chat: which one (`chat.surveyId`) and the ticketing key it runs with.
#[derive(Debug, Clone)]
pub struct SurveyConfig {
    pub survey_id: String,
    pub ticketing: TicketingConfig,
}

/// `chat.toml`'s `[chat]` as far as the survey goes.
#[derive(Deserialize)]
struct SurveySettings {
    #[serde(default, rename = "surveyId")]
    survey_id: String,
    #[serde(default)]
    messenger: MessengerKey,
}

/// `[chat.messenger]`: the ticketing key and secret, as the PHP names them.
#[derive(Deserialize)]
struct MessengerKey {
    #[serde(default)]
    key: String,
    #[serde(default = "connector_config::empty_secret")]
    secret: SecretString,
}

impl Default for MessengerKey {
    fn default() -> Self {
        Self { key: String::new(), secret: connector_config::empty_secret() }
    }
}

impl SurveyConfig {
    /// The survey of `chat.surveyId`, run with the `chat.messenger` key and secret and the
    /// `api` table's auth URL and timeout; `None` (said, when a survey is set) when any of them
    /// is missing.
    pub fn from_config(config: &Config) -> Result<Option<Self>, ConfigError> {
        let chat: SurveySettings = config.section("chat.chat")?;
        let survey_id = chat.survey_id.trim().to_owned();
        if survey_id.is_empty() {
            return Ok(None);
        }
        if chat.messenger.key.trim().is_empty() || chat.messenger.secret.expose_secret().is_empty() {
            tracing::warn!(
                %survey_id,
                "chat.surveyId is set but not chat.messenger's key and secret, which Inbenta's ticketing API needs to start it: no survey is offered"
            );
            return Ok(None);
        }
        let api: crate::ApiSettings = config.section("api")?;
        let ticketing = TicketingConfig {
            api_key: chat.messenger.key.trim().to_owned(),
            api_secret: chat.messenger.secret,
            auth_url: api.auth_url.trim_end_matches('/').to_owned(),
            timeout: Duration::from_millis(api.timeout_ms),
        };
        Ok(Some(Self { survey_id, ticketing }))
    }
}

/// Reads a `/start` answer as `ChatbotConnector::processSurveyData` and the digester's
/// `nextSurveyQuestion` read it: the survey under `response` (or `data`), with a `token` and
/// `pages`; anything else (an `error`) is no survey. Of each page's items, the header and the
/// other `layout` items are not asked (the PHP skips them); an item's text is its first
/// setting's value, its choices the `{value, label}` lists of its other settings, else the
/// numbers of its `min`..`max` settings (integers, max above min); an item without choices is
/// answered with free text (the PHP asks only `text` and `textarea` inputs that way, and ends
/// the survey at any other); an item without a text cannot be asked and is left out.
pub fn survey_of_start(body: &Value) -> Option<Survey> {
    if body.get("error").is_some() {
        return None;
    }
    let survey = body.get("response").or_else(|| body.get("data"))?;
    let token = text(survey.get("token")?)?;
    let pages = survey.get("pages")?.as_array()?;
    let settings = survey.get("settings").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let of_subtype = |subtype: &str| settings.iter().find(|s| s.get("subtype").and_then(Value::as_str) == Some(subtype));
    let thanks = of_subtype("thankyoupage").and_then(|s| s.pointer("/value/message")).and_then(text);
    let jumps = of_subtype("navigatepage")
        .and_then(|s| s.get("value"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|jump| Some(PageJump { value: text(jump.get("value")?)?, page: text(jump.get("page")?)? }))
        .collect();
    let questions = pages
        .iter()
        .flat_map(|page| {
            let page_id = page.get("id").and_then(text).unwrap_or_default();
            page.get("items").and_then(Value::as_array).into_iter().flatten().map(move |item| (page_id.clone(), item))
        })
        .filter(|(_, item)| item.get("type").and_then(Value::as_str) != Some("layout"))
        .filter_map(|(page, item)| question(page, item))
        .collect();
    Some(Survey { token, thanks, questions, jumps })
}

/// One item of a page, as the user is asked it.
fn question(page: String, item: &Value) -> Option<Question> {
    let settings = item.get("settings").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let (first, rest) = settings.split_first()?;
    let shown = first.get("value").and_then(text)?;
    let mut choices: Vec<SurveyChoice> = rest
        .iter()
        .filter_map(|s| s.get("value").and_then(Value::as_array))
        .flatten()
        .filter_map(|choice| {
            let value = choice.get("value").and_then(text);
            let label = choice.get("label").and_then(text);
            let value = value.clone().or_else(|| label.clone())?;
            Some(SurveyChoice { label: label.unwrap_or_else(|| value.clone()), value })
        })
        .collect();
    if choices.is_empty() {
        let bound = |name: &str| {
            rest.iter()
                .find(|s| s.get("subtype").and_then(Value::as_str) == Some(name))
                .and_then(|s| s.pointer("/value/value"))
                .and_then(Value::as_i64)
        };
        if let (Some(min), Some(max)) = (bound("min"), bound("max")) {
            if max > min {
                choices = (min..=max).map(|n| SurveyChoice { value: n.to_string(), label: n.to_string() }).collect();
            }
        }
    }
    Some(Question {
        id: item.get("id").and_then(text)?,
        page,
        text: shown,
        expects: if choices.is_empty() { Expects::Text } else { Expects::Choice(choices) },
    })
}

/// A string, or a number written out (ids come as either).
fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

pub struct TicketingClient {
    upstream: Upstream,
    config: TicketingConfig,
    tokens: TokenKeeper,
}

impl TicketingClient {
    /// `cache` keeps the access token across cold starts, apart from the Chatbot API's.
    pub fn new(config: TicketingConfig, cache: Option<Arc<dyn Cache>>, clock: Arc<dyn Clock>) -> Result<Self, ChatbotError> {
        let upstream = Upstream::new("Inbenta ticketing", Timeouts::overall(config.timeout)).map_err(crate::chatbot_error)?;
        let tokens = TokenKeeper::for_product(cache, clock, &config.api_key, PRODUCT);
        Ok(Self { upstream, config, tokens })
    }

    /// The survey `survey_id` started for the ticket made of chat `chat_id` (`ticket_id`, the
    /// chat's event's, when the ticketing API finds none by the chat); none when there is no
    /// ticket or it did not start.
    pub async fn survey_of_chat(&self, survey_id: &str, chat_id: &str, ticket_id: &str) -> Result<Option<Survey>, ChatbotError> {
        let found = self.ticket_of_chat(chat_id).await?;
        match found.as_deref().or(Some(ticket_id).filter(|t| !t.trim().is_empty())) {
            Some(ticket) => self.start_survey(survey_id, ticket).await,
            None => Ok(None),
        }
    }

    /// `GET /v1/tickets?external_id={chat}`: `data[0].id`.
    pub async fn ticket_of_chat(&self, chat_id: &str) -> Result<Option<String>, ChatbotError> {
        let body = self
            .call(|http, token| {
                let chat = crate::url_path_segment(chat_id);
                http.request(upstream::Method::GET, format!("{}/v1/tickets?external_id={chat}", token.chatbot_url))
                    .bearer_auth(token.token.expose_secret())
            })
            .await?;
        Ok(body.pointer("/data/0/id").and_then(text))
    }

    /// `POST /v1/surveys/{id}/start`, form `sourceType=ticket&sourceId={ticket}`.
    pub async fn start_survey(&self, survey_id: &str, ticket_id: &str) -> Result<Option<Survey>, ChatbotError> {
        let path = format!("/v1/surveys/{}/start", crate::url_path_segment(survey_id));
        let body = self
            .call(|http, token| {
                http.request(upstream::Method::POST, format!("{}{path}", token.chatbot_url))
                    .form(&[("sourceType", "ticket"), ("sourceId", ticket_id)])
                    .bearer_auth(token.token.expose_secret())
            })
            .await?;
        Ok(survey_of_start(&body))
    }

    /// `POST /v1/surveys/{id}/submit`, form `field_answers[{item}]={value}`... then `token`, as
    /// PHP's `http_build_query` writes it; an answer without a value is left out, as the PHP
    /// leaves it.
    pub async fn submit_survey(&self, survey_id: &str, token: &str, answers: &[SurveyAnswer]) -> Result<(), ChatbotError> {
        let path = format!("/v1/surveys/{}/submit", crate::url_path_segment(survey_id));
        let mut form: Vec<(String, &str)> =
            answers.iter().filter(|a| !a.value.is_empty()).map(|a| (format!("field_answers[{}]", a.question), a.value.as_str())).collect();
        form.push(("token".to_owned(), token));
        self.call(|http, access| {
            http.request(upstream::Method::POST, format!("{}{path}", access.chatbot_url))
                .form(&form)
                .bearer_auth(access.token.expose_secret())
        })
        .await
        .map(drop)
    }

    /// A ticketing call with a valid token; a token the gateway refuses (401/403) is dropped
    /// and the call made once more with a new one.
    async fn call(&self, build: impl Fn(&Upstream, &AccessToken) -> RequestBuilder) -> Result<Value, ChatbotError> {
        let token = self.tokens.current(|| self.authenticate(), |_| self.authenticate()).await?;
        match self.execute(build(&self.upstream, &token)).await {
            Some(result) => result,
            None => {
                self.tokens.forget(&token).await;
                let token = self.tokens.current(|| self.authenticate(), |_| self.authenticate()).await?;
                self.execute(build(&self.upstream, &token))
                    .await
                    .unwrap_or_else(|| Err(ChatbotError::Rejected { code: 401, message: "ticketing access token refused".into() }))
            }
        }
    }

    /// The answer, or `None` when the gateway refused the token.
    async fn execute(&self, request: RequestBuilder) -> Option<Result<Value, ChatbotError>> {
        let request = request.header("x-inbenta-key", &self.config.api_key);
        let answer = match self.upstream.send(request, None).await {
            Ok(answer) => answer,
            Err(e) => return Some(Err(crate::chatbot_error(e))),
        };
        if answer.class() == StatusClass::Unauthorized {
            return None;
        }
        Some(crate::interpret(answer.status, answer.json()))
    }

    /// `POST {auth}/auth` with the ticketing key and secret; the token's URL is `apis.ticketing`.
    async fn authenticate(&self) -> Result<AccessToken, ChatbotError> {
        let request = self
            .upstream
            .request(upstream::Method::POST, format!("{}/auth", self.config.auth_url))
            .header("x-inbenta-key", &self.config.api_key)
            .json(&json!({ "secret": self.config.api_secret.expose_secret() }));
        let answer = self.upstream.send(request, None).await.map_err(crate::chatbot_error)?;
        if answer.class() == StatusClass::Unauthorized {
            let code = i64::from(answer.status.as_u16());
            return Err(ChatbotError::Rejected { code, message: "Invalid Inbenta ticketing key or secret".into() });
        }
        AccessToken::from_auth_of(&crate::interpret(answer.status, answer.json())?, None, &[PRODUCT])
    }
}

/// The survey of `chat.surveyId` after every chat, on the ticketing API: the engine's
/// [`Surveys`].
pub struct ChatSurveys {
    client: TicketingClient,
    survey_id: String,
}

impl ChatSurveys {
    /// `cache` keeps the ticketing access token across cold starts.
    pub fn new(config: SurveyConfig, cache: Option<Arc<dyn Cache>>, clock: Arc<dyn Clock>) -> Result<Self, ChatbotError> {
        tracing::info!(survey_id = %config.survey_id, "the survey after a chat is offered through Inbenta's ticketing API");
        Ok(Self { client: TicketingClient::new(config.ticketing, cache, clock)?, survey_id: config.survey_id })
    }
}

#[async_trait]
impl Surveys for ChatSurveys {
    async fn start(&self, chat_id: &str, ticket_id: &str) -> Result<Option<Survey>, LiveChatError> {
        self.client.survey_of_chat(&self.survey_id, chat_id, ticket_id).await.map_err(live_chat_error)
    }

    async fn submit(&self, survey: &Survey, answers: &[SurveyAnswer]) -> Result<(), LiveChatError> {
        self.client.submit_survey(&self.survey_id, &survey.token, answers).await.map_err(live_chat_error)
    }
}

/// A ticketing failure in the live chat's terms: worth another attempt, or not.
fn live_chat_error(error: ChatbotError) -> LiveChatError {
    let text = connector_engine::error_chain(&error);
    if error.is_retryable() { LiveChatError::Unavailable(text) } else { LiveChatError::Rejected(text) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector_engine::ports::SystemClock;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::Mutex;

    /// One request as the server below read it: its head (lower case) and body.
    type Seen = Arc<Mutex<Vec<(String, String)>>>;

    /// A server on 127.0.0.1 answering as Inbenta would, by the request line: `/v1/auth` with a
    /// token whose `apis.ticketing` is this server, chat `C1`'s ticket 42, survey 7 started
    /// (shapes as Inbenta's PHP reads them; the fakes in `shared/fakes/src/inbenta.rs` hold the same
    /// rules with their sources).
    fn inbenta() -> (Seen, String) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let seen: Seen = Arc::default();
        let (log, me) = (seen.clone(), base.clone());
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).to_lowercase();
                let length = head.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|n| n.trim().parse().ok()).unwrap_or(0);
                let mut body = vec![0u8; length];
                let _ = stream.read_exact(&mut body);
                let line = head.lines().next().unwrap_or_default().to_owned();
                let mut status = "200 OK";
                let answer = if line.starts_with("post /v1/auth ") {
                    json!({"accessToken": "AT", "expiration": 4_000_000_000_u64, "apis": {"ticketing": format!("{me}/prod/ticketing")}})
                } else if line.starts_with("get /prod/ticketing/v1/tickets?external_id=c1 ") {
                    json!({"data": [{"id": 42}]})
                } else if line.starts_with("get /prod/ticketing/v1/tickets?") {
                    json!({"data": []})
                } else if line.starts_with("post /prod/ticketing/v1/surveys/7/start ") {
                    json!({"response": {"id": 7, "token": "tok", "pages": [{"id": 1, "items": [{"id": 11, "type": "input", "subtype": "text", "settings": [{"value": "How was it?"}]}]}]}})
                } else if line.starts_with("post /prod/ticketing/v1/surveys/7/submit ") {
                    json!({"response": {"success": true}})
                } else {
                    status = "404 Not Found";
                    json!({"error": {"code": 404, "message": "not found"}})
                };
                log.lock().unwrap().push((head, String::from_utf8_lossy(&body).into_owned()));
                let answer = answer.to_string();
                let _ = stream.write_all(
                    format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                        answer.len()
                    )
                    .as_bytes(),
                );
            }
        });
        (seen, base)
    }

    fn surveys_at(base: &str) -> ChatSurveys {
        let ticketing = TicketingConfig {
            api_key: "ticketing-key".into(),
            api_secret: SecretString::from("ticketing-secret".to_owned()),
            auth_url: format!("{base}/v1"),
            timeout: Duration::from_secs(5),
        };
        ChatSurveys::new(SurveyConfig { survey_id: "7".into(), ticketing }, None, Arc::new(SystemClock)).unwrap()
    }

    #[tokio::test]
    async fn a_chats_survey_is_started_for_its_ticket_and_submitted_with_the_ticketing_key_and_token_as_inbentas_php_does() {
        let (seen, base) = inbenta();
        let surveys = surveys_at(&base);
        let survey = surveys.start("C1", "T-event").await.unwrap().expect("a survey");
        assert_eq!((survey.token.as_str(), survey.questions[0].text.as_str()), ("tok", "How was it?"));
        assert!(surveys.start("C2", " ").await.unwrap().is_none(), "no ticket found, none in the event: no survey");
        assert!(surveys.start("C2", "T9").await.unwrap().is_some(), "none found: the event's ticket");
        let answers = [
            SurveyAnswer { question: "11".into(), value: "Quick & kind".into() },
            SurveyAnswer { question: "12".into(), value: String::new() },
            SurveyAnswer { question: "13".into(), value: "4".into() },
        ];
        surveys.submit(&survey, &answers).await.unwrap();

        let seen = seen.lock().unwrap().clone();
        let lines: Vec<&str> = seen.iter().map(|(head, _)| head.lines().next().unwrap_or_default()).collect();
        assert_eq!(
            lines,
            vec![
                "post /v1/auth http/1.1",
                "get /prod/ticketing/v1/tickets?external_id=c1 http/1.1",
                "post /prod/ticketing/v1/surveys/7/start http/1.1",
                "get /prod/ticketing/v1/tickets?external_id=c2 http/1.1",
                "get /prod/ticketing/v1/tickets?external_id=c2 http/1.1",
                "post /prod/ticketing/v1/surveys/7/start http/1.1",
                "post /prod/ticketing/v1/surveys/7/submit http/1.1",
            ],
            "one /auth for every call"
        );
        assert_eq!(seen[0].1, r#"{"secret":"ticketing-secret"}"#);
        for (head, _) in &seen {
            assert!(head.contains("x-inbenta-key: ticketing-key"), "{head}");
        }
        let (start, form) = &seen[2];
        assert!(start.contains("authorization: bearer at") && start.contains("content-type: application/x-www-form-urlencoded"), "{start}");
        assert_eq!(form, "sourceType=ticket&sourceId=42", "the ticket the ticketing API found for the chat");
        assert_eq!(seen[5].1, "sourceType=ticket&sourceId=T9");
        let (submit, form) = &seen[6];
        assert!(
            submit.contains("authorization: bearer at") && submit.contains("content-type: application/x-www-form-urlencoded"),
            "{submit}"
        );
        assert_eq!(form, "field_answers%5B11%5D=Quick+%26+kind&field_answers%5B13%5D=4&token=tok", "PHP's http_build_query");
    }

    #[tokio::test]
    async fn a_ticketing_failure_is_a_live_chat_outage_only_when_worth_another_attempt() {
        assert!(live_chat_error(ChatbotError::Unavailable { status: 503 }).is_retryable());
        assert!(live_chat_error(ChatbotError::Timeout).is_retryable());
        assert!(!live_chat_error(ChatbotError::Rejected { code: 400, message: "bad token".into() }).is_retryable());
        let (_, base) = inbenta();
        let refused = surveys_at(&base).client.submit_survey("8", "tok", &[]).await.map_err(live_chat_error);
        assert!(matches!(refused, Err(LiveChatError::Rejected(_))), "{refused:?}");
    }

    /// The shape `ChatbotConnector::processSurveyData` reads (chatbot_api_connector 1.4.3).
    #[test]
    fn a_started_survey_is_read_as_inbentas_php_reads_it_and_anything_else_is_none() {
        let body = json!({"response": {
            "id": 7, "token": "tok-1",
            "settings": [{"subtype": "navigatepage", "value": []}, {"subtype": "thankyoupage", "value": {"message": "Thank you!"}}],
            "pages": [
                {"id": 1, "items": [
                    {"id": 10, "type": "layout", "subtype": "header", "settings": [{"value": "Title"}]},
                    {"id": 11, "type": "input", "subtype": "radio", "settings": [{"value": "How was it?"}, {"value": [{"value": "1", "label": "Good"}]}]},
                ]},
                {"id": 2, "items": [{"id": "12", "type": "input", "subtype": "textarea", "settings": [{"value": "Why?"}]}]},
            ],
        }});
        let survey = survey_of_start(&body).expect("a survey");
        assert_eq!((survey.token.as_str(), survey.thanks.as_deref()), ("tok-1", Some("Thank you!")));
        let good = SurveyChoice { value: "1".into(), label: "Good".into() };
        let asked: Vec<(&str, &str, &str, &Expects)> =
            survey.questions.iter().map(|q| (q.id.as_str(), q.page.as_str(), q.text.as_str(), &q.expects)).collect();
        assert_eq!(
            asked,
            vec![("11", "1", "How was it?", &Expects::Choice(vec![good])), ("12", "2", "Why?", &Expects::Text)],
            "headers skipped"
        );

        let under_data = json!({"data": {"token": "t", "pages": []}});
        assert_eq!(survey_of_start(&under_data).map(|s| s.token), Some("t".to_owned()));
        for nothing in
            [json!({"error": {"message": "no"}, "response": {"token": "t", "pages": []}}), json!({"response": {"pages": []}}), json!([])]
        {
            assert_eq!(survey_of_start(&nothing), None, "{nothing}");
        }
    }

    /// What the digester's `nextSurveyQuestion` makes of an item's settings, and what it does
    /// not ask.
    #[test]
    fn ranges_are_choices_of_their_numbers_layout_items_are_not_asked_and_page_jumps_are_kept() {
        let body = json!({"response": {
            "token": "tok",
            "settings": [{"subtype": "navigatepage", "value": [{"value": "v-bad", "page": 3}]}],
            "pages": [{"id": 1, "items": [
                {"id": 20, "type": "layout", "subtype": "paragraph", "settings": [{"value": "Some words"}]},
                {"id": 21, "type": "input", "subtype": "rating", "settings": [
                    {"value": "Rate us"}, {"subtype": "min", "value": {"value": 1}}, {"subtype": "max", "value": {"value": 3}}]},
                {"id": 22, "type": "input", "subtype": "rating", "settings": [
                    {"value": "Broken range"}, {"subtype": "min", "value": {"value": 3}}, {"subtype": "max", "value": {"value": 3}}]},
                {"id": 23, "type": "input", "subtype": "email", "settings": [{"value": "Your e-mail?"}]},
                {"id": 24, "type": "input", "subtype": "text", "settings": []},
            ]}],
        }});
        let survey = survey_of_start(&body).expect("a survey");
        let numbers = |range: std::ops::RangeInclusive<i32>| {
            Expects::Choice(range.map(|n| SurveyChoice { value: n.to_string(), label: n.to_string() }).collect())
        };
        let asked: Vec<(&str, &Expects)> = survey.questions.iter().map(|q| (q.id.as_str(), &q.expects)).collect();
        assert_eq!(
            asked,
            vec![("21", &numbers(1..=3)), ("22", &Expects::Text), ("23", &Expects::Text)],
            "no paragraph, no item without a text; a range whose max is not above its min and any other input are free text"
        );
        assert_eq!(survey.jumps, vec![PageJump { value: "v-bad".into(), page: "3".into() }]);
    }
}
