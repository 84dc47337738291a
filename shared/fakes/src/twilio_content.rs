//! The fake Twilio's Content API (`POST /v1/Content`).
//!
//! A request is first checked against Twilio's own schema: `ContentCreateRequest` of
//! `twilio_content_v1.json` (`twilio/twilio-oai` d50069b, 2026-04-14, info.version 1.1.0),
//! vendored with its source in `shared/fakes/specs/twilio_content_create.json` and applied by
//! [`crate::specs::twilio_content_create`]. That covers field names (every content type has
//! `additionalProperties: false`), types, enums and required fields: `language` and `types`;
//! `twilioText`: body; `twilioQuickReply`: body, actions; `quickReplyAction`: title, `type` only
//! `QUICK_REPLY`; `twilioListPicker`: body, button, items; `listItem`: id, item; `variables` a map
//! of strings.
//!
//! The spec states no lengths or counts. Those below come from Twilio's content pages and Meta's
//! (`../shared/reference/providers-2026.md` §1.1) and are checked after the schema: quick-reply
//! 1-10 actions, title ≤ 20 and id ≤ 256 characters; list-picker body ≤ 1024, 1-10 items,
//! item ≤ 24, id ≤ 200, description ≤ 72, button ≤ 20; any body ≤ 1024 (text 1600); titles,
//! items and bodies not blank. The fake's own: `language` ≤ 16 and `friendly_name` ≤ 64
//! characters, at least one content type, and only the types the spec lists under `types` (the
//! spec's `types` does not forbid others; what Twilio answers to one is not documented).

use serde_json::Value;

use crate::specs;

fn string_at_most(what: &str, value: &Value, max: usize) -> Result<(), String> {
    let text = value.as_str().ok_or(format!("{what} must be a string"))?;
    if text.trim().is_empty() {
        return Err(format!("{what} must be a non-empty string"));
    }
    if text.chars().count() > max {
        return Err(format!("{what} is longer than {max} characters"));
    }
    Ok(())
}

fn entries<'a>(what: &str, value: &'a Value, max: usize) -> Result<&'a [Value], String> {
    let items = value.as_array().map(Vec::as_slice).unwrap_or_default();
    if items.is_empty() || items.len() > max {
        return Err(format!("{what} must have 1 to {max} entries"));
    }
    Ok(items)
}

/// The request's `types`, if it is a valid `ContentCreateRequest` within the documented limits.
pub fn validate(request: &Value) -> Result<Value, String> {
    specs::twilio_content_create(request)?;
    string_at_most("language", &request["language"], 16)?;
    if let Some(name) = request.get("friendly_name") {
        string_at_most("friendly_name", name, 64)?;
    }
    let types = request["types"].as_object().ok_or("types must be an object")?;
    if types.is_empty() {
        return Err("types must hold at least one content type".into());
    }
    let known = specs::twilio_content_types();
    for (name, content) in types {
        if !known.contains(name) {
            return Err(format!("unknown content type {name:?} (twilio_content_v1.json lists {})", known.join(", ")));
        }
        match name.as_str() {
            "twilio/text" if !content.is_null() => string_at_most("twilio/text body", &content["body"], 1600)?,
            "twilio/quick-reply" if !content.is_null() => {
                string_at_most("twilio/quick-reply body", &content["body"], 1024)?;
                for action in entries("twilio/quick-reply actions", &content["actions"], 10)? {
                    string_at_most("quickReplyAction title", &action["title"], 20)?;
                    if let Some(id) = action.get("id") {
                        string_at_most("quickReplyAction id", id, 256)?;
                    }
                }
            }
            "twilio/list-picker" if !content.is_null() => {
                string_at_most("twilio/list-picker body", &content["body"], 1024)?;
                string_at_most("twilio/list-picker button", &content["button"], 20)?;
                for item in entries("twilio/list-picker items", &content["items"], 10)? {
                    string_at_most("listItem item", &item["item"], 24)?;
                    string_at_most("listItem id", &item["id"], 200)?;
                    if let Some(description) = item.get("description") {
                        string_at_most("listItem description", description, 72)?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(Value::Object(types.clone()))
}

/// The text a WhatsApp user sees of a content: its buttons' or list's body, else its text.
pub fn shown_body(types: &Value) -> String {
    ["twilio/quick-reply", "twilio/list-picker", "twilio/text"]
        .iter()
        .find_map(|name| types[*name]["body"].as_str())
        .unwrap_or_default()
        .to_owned()
}

/// How many buttons a quick reply has (WhatsApp shows at most 3 in a session without approval).
pub fn quick_replies(types: &Value) -> usize {
    types["twilio/quick-reply"]["actions"].as_array().map_or(0, Vec::len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_quick_reply_with_its_text_fallback_is_valid() {
        let request = json!({"language": "en", "friendly_name": "x", "types": {
            "twilio/quick-reply": {"body": "Which?", "actions": [{"type": "QUICK_REPLY", "title": "Debit", "id": "1"}]},
            "twilio/text": {"body": "Which? 1) Debit"}}});
        assert!(validate(&request).is_ok());
    }

    #[test]
    fn unknown_fields_missing_fields_and_limits_are_refused() {
        let refused = |types: Value| validate(&json!({"language": "en", "types": types})).unwrap_err();
        // The documented limits, which the spec does not state.
        assert!(refused(json!({"twilio/quick-reply": {"body": "b", "actions": [{"title": "A title of over twenty"}]}})).contains("20"));
        assert!(
            refused(json!({"twilio/list-picker": {"body": "b", "button": "B", "items": [{"id": "1", "item": "x".repeat(25)}]}}))
                .contains("24")
        );
        assert!(refused(json!({"twilio/quick-reply": {"body": "b", "actions": []}})).contains("1 to 10"));
        assert!(refused(json!({"twilio/cards": {"body": "b"}})).contains("unknown content type"));
        // The spec's field names, required fields and enums.
        assert!(
            refused(json!({"twilio/quick-reply": {"body": "b", "actions": [{"text": "t", "title": "a"}]}}))
                .contains("'text' was unexpected")
        );
        assert!(
            refused(json!({"twilio/list-picker": {"body": "b", "items": [{"id": "1", "item": "a"}]}}))
                .contains("\"button\" is a required property")
        );
        assert!(refused(json!({"twilio/quick-reply": {"body": "b", "actions": [{"type": "URL", "title": "a"}]}})).contains("QUICK_REPLY"));
        assert!(
            refused(json!({"twilio/list-picker": {"body": "b", "button": "B", "items": [{"item": "a"}]}}))
                .contains("\"id\" is a required property")
        );
        assert!(validate(&json!({"types": {"twilio/text": {"body": "b"}}})).unwrap_err().contains("language"));
        assert!(
            validate(&json!({"language": "en", "variables": {"1": 2}, "types": {"twilio/text": {"body": "b"}}}))
                .unwrap_err()
                .contains("/variables/1")
        );
    }

    #[test]
    fn a_type_the_spec_knows_beyond_the_three_the_product_uses_is_taken() {
        let card = json!({"language": "en", "types": {"twilio/card": {"title": "Hi", "actions": [{"type": "QUICK_REPLY", "title": "Yes", "id": "y"}]}}});
        assert!(validate(&card).is_ok(), "{:?}", validate(&card));
    }
}
