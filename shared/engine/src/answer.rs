//! The Inbenta Chatbot API answer model, read leniently: every field but `type` may be missing,
//! attribute values may be strings, lists or objects, option values may be numbers or strings.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Body of `POST /v1/conversation/message`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BotResponse {
    #[serde(default)]
    pub answers: Vec<Answer>,
}

impl BotResponse {
    /// Parses a response; a body without `answers` is itself one answer (as the API sometimes does).
    pub fn from_json(body: Value) -> Result<Self, serde_json::Error> {
        if body.get("answers").is_some() { serde_json::from_value(body) } else { Ok(Self { answers: vec![serde_json::from_value(body)?] }) }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Answer {
    #[serde(rename = "type", default)]
    pub kind: AnswerKind,
    #[serde(default, deserialize_with = "lenient_string")]
    pub message: String,
    #[serde(default)]
    pub options: Vec<BotOption>,
    #[serde(default)]
    pub flags: Vec<String>,
    #[serde(default, deserialize_with = "lenient_map")]
    pub attributes: BTreeMap<String, Value>,
    #[serde(default)]
    pub parameters: Option<Parameters>,
    #[serde(default)]
    pub action_field: Option<ActionField>,
    #[serde(default)]
    pub actions: Vec<Action>,
    #[serde(default)]
    pub sub_answers: Vec<Answer>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum AnswerKind {
    #[default]
    #[serde(rename = "answer")]
    Answer,
    #[serde(rename = "polarQuestion")]
    PolarQuestion,
    #[serde(rename = "multipleChoiceQuestion")]
    MultipleChoiceQuestion,
    #[serde(rename = "extendedContentsAnswer")]
    ExtendedContentsAnswer,
    /// A type this connector does not know: its message is still shown.
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BotOption {
    #[serde(default, deserialize_with = "lenient_string")]
    pub label: String,
    #[serde(default)]
    pub value: Value,
    #[serde(default, deserialize_with = "lenient_map")]
    pub attributes: BTreeMap<String, Value>,
    #[serde(default)]
    pub parameters: Option<Parameters>,
}

impl BotOption {
    /// The option's `clickCode`, when the bot gives one.
    pub fn click_code(&self) -> Option<String> {
        self.parameters.as_ref()?.contents.as_ref()?.tracking_code.as_ref()?.click_code.clone()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Parameters {
    #[serde(default)]
    pub contents: Option<Contents>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Contents {
    #[serde(default)]
    pub tracking_code: Option<TrackingCode>,
    #[serde(default)]
    pub related: Option<Related>,
    #[serde(default)]
    pub url: Option<ContentUrl>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrackingCode {
    #[serde(default)]
    pub rate_code: Option<String>,
    #[serde(default)]
    pub click_code: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Related {
    #[serde(default, deserialize_with = "lenient_string")]
    pub related_title: String,
    #[serde(default)]
    pub related_contents: Vec<RelatedContent>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RelatedContent {
    #[serde(default, deserialize_with = "lenient_string")]
    pub title: String,
    #[serde(default)]
    pub tracking_code: Option<TrackingCode>,
}

impl RelatedContent {
    pub fn click_code(&self) -> Option<String> {
        self.tracking_code.as_ref()?.click_code.clone()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentUrl {
    #[serde(default, deserialize_with = "lenient_string")]
    pub value: String,
}

/// A form field the bot is asking for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionField {
    #[serde(default, deserialize_with = "lenient_string")]
    pub field_type: String,
    #[serde(default)]
    pub list_values: Option<ListValues>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ListValues {
    #[serde(default)]
    pub values: Vec<ListValue>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ListValue {
    /// The canonical value sent back to the bot.
    #[serde(default, deserialize_with = "lenient_string")]
    pub option: String,
    /// Synonyms the user may type.
    #[serde(default)]
    pub label: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Action {
    #[serde(default)]
    pub parameters: Option<ActionParameters>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ActionParameters {
    #[serde(default)]
    pub callback: Option<String>,
    #[serde(default)]
    pub data: Option<Value>,
}

pub const FLAG_NO_RESULTS: &str = "no-results";

impl Answer {
    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }

    /// A string attribute (`SIDEBUBBLE_TEXT`, `DIRECT_CALL`...), empty when absent or not text.
    pub fn attribute(&self, name: &str) -> &str {
        self.attributes.get(name).and_then(Value::as_str).unwrap_or("")
    }

    pub fn tracking_code(&self) -> Option<&TrackingCode> {
        self.contents()?.tracking_code.as_ref()
    }

    pub fn related(&self) -> Option<&Related> {
        self.contents()?.related.as_ref().filter(|r| !r.related_contents.is_empty())
    }

    pub fn contents(&self) -> Option<&Contents> {
        self.parameters.as_ref()?.contents.as_ref()
    }

    /// The text shown for this answer: the message, then the side-bubble text when asked for.
    pub fn display_text(&self) -> String {
        let side = self.attribute("SIDEBUBBLE_TEXT").trim();
        if side.is_empty() {
            self.message.clone()
        } else if self.message.trim().is_empty() {
            side.to_owned()
        } else {
            format!("{}\n{side}", self.message)
        }
    }
}

fn lenient_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => s,
        Value::Null => String::new(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => other.to_string(),
    })
}

fn lenient_map<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<String, Value>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Object(map) => map.into_iter().collect(),
        // PHP-serialised empty objects arrive as `[]`.
        _ => BTreeMap::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_body_without_answers_is_read_as_one_answer() {
        let r = BotResponse::from_json(json!({"type":"answer","message":"Hi"})).unwrap();
        assert_eq!(r.answers.len(), 1);
        assert_eq!(r.answers[0].message, "Hi");
    }

    #[test]
    fn unknown_types_and_odd_field_shapes_do_not_fail_parsing() {
        let r = BotResponse::from_json(json!({"answers":[{
            "type":"somethingNew","message":null,"attributes":[],
            "options":[{"label":3,"value":"x"}]
        }]}))
        .unwrap();
        assert_eq!(r.answers[0].kind, AnswerKind::Other);
        assert_eq!(r.answers[0].message, "");
        assert_eq!(r.answers[0].options[0].label, "3");
    }

    #[test]
    fn side_bubble_text_follows_the_message() {
        let a: Answer = serde_json::from_value(json!({"type":"answer","message":"Main","attributes":{"SIDEBUBBLE_TEXT":"Side"}})).unwrap();
        assert_eq!(a.display_text(), "Main\nSide");
    }
}
