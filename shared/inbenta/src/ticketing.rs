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

use crate::gateway::{Gateway, Product};
use crate::token::TokenKeeper;
use async_trait::async_trait;
use connector_config::{Config, ConfigError};
use connector_core::store::Cache;
use connector_engine::ports::{ChatbotError, Clock, LiveChatError, Surveys};
use connector_engine::survey::{Expects, PageJump, Question, Survey, SurveyAnswer, SurveyChoice};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use upstream::{Timeouts, Upstream};

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

/// `chat.toml`'s `[chat]` as far as the survey goes: Inbenta's post-chat survey, offered after
/// a closed chat's ticket and run in the chat (the engine's `survey` module); it needs the
/// ticketing key.
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
    gateway: Gateway,
}

impl TicketingClient {
    /// `cache` keeps the access token across cold starts, apart from the Chatbot API's.
    pub fn new(config: TicketingConfig, cache: Option<Arc<dyn Cache>>, clock: Arc<dyn Clock>) -> Result<Self, ChatbotError> {
        let upstream = Upstream::new("Inbenta ticketing", Timeouts::overall(config.timeout)).map_err(crate::chatbot_error)?;
        let tokens = TokenKeeper::for_product(cache, clock, &config.api_key, PRODUCT);
        let product = Product { name: "Inbenta ticketing", apis: &[PRODUCT], refreshes: false };
        Ok(Self { gateway: Gateway::new(upstream, &config.api_key, config.api_secret, &config.auth_url, tokens, product) })
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
            .gateway
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
            .gateway
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
        self.gateway
            .call(|http, access| {
                http.request(upstream::Method::POST, format!("{}{path}", access.chatbot_url))
                    .form(&form)
                    .bearer_auth(access.token.expose_secret())
            })
            .await
            .map(drop)
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
mod tests;
