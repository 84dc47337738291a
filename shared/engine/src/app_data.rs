//! ExtraInfo (`GET /v1/app/data/<group>`): the per-instance settings operators edit in
//! Backstage. Read leniently: a missing or odd object means "use the files".

use serde_json::Value;
use std::collections::HashMap;

/// What the connector reads from a channel group's ExtraInfo.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppData {
    /// Labels of the conversation's language that replace the `lang/` files' ones.
    pub translations: HashMap<String, String>,
    /// `settings.only_chat_mode`; when present it wins over the configuration.
    pub only_chat_mode: Option<bool>,
}

impl AppData {
    /// Reads `{"results":[{"name":"translations","value":{"<lang>":[{label: text}]}},
    /// {"name":"settings","value":{"only_chat_mode":"true"}}]}`.
    pub fn parse(body: &Value, lang: &str) -> Self {
        let object = |name: &str| object(body, name);
        let translations = object("translations")
            .and_then(|t| t.get(lang))
            .map(first_of_multiple)
            .and_then(Value::as_object)
            .map(|labels| labels.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect())
            .unwrap_or_default();
        let only_chat_mode = object("settings").and_then(|s| s.get("only_chat_mode")).and_then(|flag| match flag {
            Value::Bool(b) => Some(*b),
            Value::String(s) => Some(s.eq_ignore_ascii_case("true")),
            _ => None,
        });
        Self { translations, only_chat_mode }
    }
}

/// The `value` of the ExtraInfo object `name` in a group's body
/// (`{"results":[{"name":..,"value":..}]}`).
pub fn object<'a>(body: &'a Value, name: &str) -> Option<&'a Value> {
    body.get("results")?.as_array()?.iter().find(|r| r.get("name").and_then(Value::as_str) == Some(name))?.get("value")
}

/// A "Multiple" ExtraInfo property arrives as a list whose first element holds the values.
pub fn first_of_multiple(value: &Value) -> &Value {
    value.as_array().and_then(|list| list.first()).unwrap_or(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn translations_of_the_conversation_language_are_read_from_the_first_list_element() {
        let body = json!({"results":[{"name":"translations","value":{"en":[{"thanks":"Cheers!"}],"es":[{"thanks":"¡Gracias!"}]}}]});
        assert_eq!(AppData::parse(&body, "en").translations.get("thanks").map(String::as_str), Some("Cheers!"));
    }

    #[test]
    fn only_chat_mode_is_read_from_settings_as_text_or_boolean() {
        let text = json!({"results":[{"name":"settings","value":{"only_chat_mode":"true"}}]});
        let boolean = json!({"results":[{"name":"settings","value":{"only_chat_mode":false}}]});
        assert_eq!(AppData::parse(&text, "en").only_chat_mode, Some(true));
        assert_eq!(AppData::parse(&boolean, "en").only_chat_mode, Some(false));
    }

    #[test]
    fn an_empty_or_odd_body_means_nothing_overridden() {
        for body in [json!({}), json!({"results":"x"}), json!({"results":[{"name":"translations","value":3}]})] {
            assert_eq!(AppData::parse(&body, "en"), AppData::default());
        }
    }
}
