//! The providers' own contracts, as JSON Schema validators: the fakes check every request the
//! product sends against them, and the webhook builders are checked against them, so a field
//! name, type, enum value or limit that the real API would refuse (or a payload the real provider
//! would never send) fails a test.
//!
//! The schemas are the providers' OpenAPI specs, vendored in `shared/fakes/specs/` by
//! `shared/fakes/specs/extract.py` (each file's `x-vendored` says the repository, file, commit, its date
//! and the spec's `info.version`):
//!
//! | file | source | what |
//! |---|---|---|
//! | `twilio_messages_create.json` | `twilio/twilio-oai` `spec/json/twilio_api_v2010.json` (d50069b, 2026-04-14, 1.0.0) | `CreateMessage`'s form body |
//! | `twilio_content_create.json` | `twilio/twilio-oai` `spec/json/twilio_content_v1.json` (d50069b, 2026-04-14, 1.1.0) | `ContentCreateRequest` and every content type |
//! | `sunshine_v2.json` | `zendesk/sunshine-conversations-api-spec` `openapi.yaml` (81dc589, 2026-06-30, 17.12.1) | `messagePost`, `activityPost`, the webhook body and its events `conversation:message`, `conversation:postback`, `conversation:message:delivery:failure`, `conversation:read`, `switchboard:releaseControl` |
//!
//! The specs are OpenAPI 3.0; [`to_json_schema`] turns them into JSON Schema 2020-12 when they
//! are loaded:
//! * `nullable: true` lets `null` through (JSON Schema has no such keyword: a validator would
//!   ignore it and refuse `null`);
//! * a `oneOf`/`anyOf` with a `discriminator` picks the alternative by the discriminator property
//!   (its `mapping`, else the alternatives' schema names, as OpenAPI defines it) and refuses a
//!   value that names none. Without that, Zendesk's `content` would refuse every message: its
//!   `textMessage` does not constrain `type`, so an image also matches it and `oneOf` fails;
//! * a `oneOf` without a discriminator becomes an `anyOf`: Zendesk's `destination` lists
//!   `{integrationId}` and `{integrationType}` with nothing required, so any value matches both
//!   and a strict `oneOf` would refuse what the API takes;
//! * `x-twilio: {ignoreFormat: true}` (Twilio's own generators skip that `format`) drops it.
//!
//! Formats the validator knows (`uri`, `date-time`, `email`...) are asserted; others
//! (`phone-number`) are ignored. `readOnly`/`writeOnly` are not enforced (no vendored schema
//! requires such a property). Properties a schema does not list pass unless it says
//! `additionalProperties: false` (as Twilio's content types do): the APIs ignore unknown fields
//! as far as their specs tell.
//!
//! Twilio's Messages API takes a form, not JSON: [`twilio_message_create`] turns the parameters
//! into a JSON object by the spec's property types (OpenAPI's form style: a repeated key is an
//! array, as `MediaUrl`; `integer`, `number` and `boolean` values are parsed, and one that does
//! not parse stays a string, so the schema refuses it; a repeated key of a scalar property is an
//! array, and refused as one).

use std::sync::LazyLock;

use jsonschema::{Draft, Validator};
use serde_json::{Map, Value, json};

const TWILIO_MESSAGES: &str = include_str!("../specs/twilio_messages_create.json");
const TWILIO_CONTENT: &str = include_str!("../specs/twilio_content_create.json");
const SUNSHINE: &str = include_str!("../specs/sunshine_v2.json");

/// One vendored spec file: the document as vendored, and a validator for each of its entries.
struct Spec {
    /// `x-vendored.path`, for error messages.
    file: String,
    document: Value,
    validators: Vec<(String, Validator)>,
}

impl Spec {
    fn load(text: &str) -> Self {
        let document: Value = serde_json::from_str(text).expect("a vendored spec is JSON");
        let file = document["x-vendored"]["path"].as_str().unwrap_or("spec").rsplit('/').next().unwrap_or("spec").to_owned();
        let mut converted = document.clone();
        let entries = converted.get_mut("entries").and_then(Value::as_object_mut).expect("a vendored spec has entries");
        for schema in entries.values_mut() {
            to_json_schema(schema);
        }
        if let Some(schemas) = converted.pointer_mut("/components/schemas").and_then(Value::as_object_mut) {
            for schema in schemas.values_mut() {
                to_json_schema(schema);
            }
        }
        let names: Vec<String> = converted["entries"].as_object().map(|e| e.keys().cloned().collect()).unwrap_or_default();
        let validators = names
            .into_iter()
            .map(|name| {
                let root = json!({
                    "$ref": format!("#/entries/{name}"),
                    "entries": converted["entries"],
                    "components": converted["components"],
                });
                let validator = jsonschema::options()
                    .with_draft(Draft::Draft202012)
                    .should_validate_formats(true)
                    .build(&root)
                    .unwrap_or_else(|e| panic!("{file} entry {name} is not a valid schema: {e}"));
                (name, validator)
            })
            .collect();
        Self { file, document, validators }
    }

    /// Every error of `instance` against entry `name`, one per line, each at its JSON pointer.
    fn check(&self, name: &str, instance: &Value) -> Result<(), String> {
        let (_, validator) = self.validators.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("{} has no entry {name}", self.file));
        let errors: Vec<String> = validator
            .iter_errors(instance)
            .map(|e| {
                let at = e.instance_path().to_string();
                // A long value (a 5000-character text) is left out of the message.
                let text = e.to_string();
                let text = if text.chars().count() > 300 { e.masked().to_string() } else { text };
                format!("{}: {text}", if at.is_empty() { "(body)".to_owned() } else { at })
            })
            .collect();
        if errors.is_empty() { Ok(()) } else { Err(format!("refused by {} ({name}): {}", self.file, errors.join("; "))) }
    }

    /// The vendored (unconverted) schema at `pointer`, following one `$ref` if it is one.
    fn schema_at(&self, pointer: &str) -> Option<&Value> {
        let schema = self.document.pointer(pointer)?;
        match schema.get("$ref").and_then(Value::as_str) {
            Some(reference) => self.document.pointer(reference.strip_prefix('#')?),
            None => Some(schema),
        }
    }
}

static TWILIO_MESSAGES_SPEC: LazyLock<Spec> = LazyLock::new(|| Spec::load(TWILIO_MESSAGES));
static TWILIO_CONTENT_SPEC: LazyLock<Spec> = LazyLock::new(|| Spec::load(TWILIO_CONTENT));
static SUNSHINE_SPEC: LazyLock<Spec> = LazyLock::new(|| Spec::load(SUNSHINE));

/// Twilio `CreateMessage` (`POST /2010-04-01/Accounts/{AccountSid}/Messages.json`): the form's
/// parameters, as the spec types them.
pub fn twilio_message_create(params: &[(String, String)]) -> Result<(), String> {
    let spec = &*TWILIO_MESSAGES_SPEC;
    spec.check("CreateMessage", &form_as_json(spec, "/entries/CreateMessage", params))
}

/// Twilio Content API `POST /v1/Content`: the JSON body (`ContentCreateRequest`).
pub fn twilio_content_create(request: &Value) -> Result<(), String> {
    TWILIO_CONTENT_SPEC.check("ContentCreateRequest", request)
}

/// The content types Twilio's Content API spec knows (`types`' properties: `twilio/text`,
/// `twilio/quick-reply`, `twilio/list-picker`, ...).
pub fn twilio_content_types() -> Vec<String> {
    TWILIO_CONTENT_SPEC
        .schema_at("/components/schemas/ContentCreateRequest/properties/types")
        .and_then(|types| types["properties"].as_object())
        .map(|properties| properties.keys().cloned().collect())
        .unwrap_or_default()
}

/// Sunshine Conversations v2 `PostMessage` body (`messagePost`).
pub fn sunshine_message_post(body: &Value) -> Result<(), String> {
    SUNSHINE_SPEC.check("messagePost", body)
}

/// Sunshine Conversations v2 `PostActivity` body (`activityPost`).
pub fn sunshine_activity_post(body: &Value) -> Result<(), String> {
    SUNSHINE_SPEC.check("activityPost", body)
}

/// The Smooch fake's hook: a v2 `POST` to `path` (`.../messages` or `.../activity`) with this
/// JSON body, checked against the spec's body for that route. Other paths pass.
pub fn sunshine_v2_post(path: &str, body: &Value) -> Result<(), String> {
    if path.ends_with("/messages") {
        sunshine_message_post(body)
    } else if path.ends_with("/activity") {
        sunshine_activity_post(body)
    } else {
        Ok(())
    }
}

/// A v2 webhook body (what Sunshine Conversations posts to the connector): the spec's webhook
/// body with the vendored events; an event of another type is refused.
pub fn sunshine_webhook(body: &Value) -> Result<(), String> {
    SUNSHINE_SPEC.check("webhook", body)
}

/// The spec's own example webhook bodies of the vendored events, by event type.
pub fn sunshine_webhook_examples() -> Vec<(String, Value)> {
    SUNSHINE_SPEC.document["examples"].as_object().map(|e| e.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default()
}

/// Form parameters as the JSON object the spec at `pointer` describes (OpenAPI form style,
/// `explode: true`): by the vendored property's `type`, a repeated key or an `array` property is
/// an array, `integer`/`number`/`boolean` are parsed when they parse; everything else, and
/// every parameter the spec does not list, is a string.
fn form_as_json(spec: &Spec, pointer: &str, params: &[(String, String)]) -> Value {
    let mut object = Map::new();
    let mut names: Vec<&str> = Vec::new();
    for (name, _) in params {
        if !names.contains(&name.as_str()) {
            names.push(name);
        }
    }
    for name in names {
        let values: Vec<&str> = params.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect();
        let escaped = name.replace('~', "~0").replace('/', "~1");
        let kind = spec.schema_at(&format!("{pointer}/properties/{escaped}")).and_then(|s| s["type"].as_str()).unwrap_or("string");
        let scalar = |value: &str| -> Value {
            let parsed = match kind {
                "integer" => value.parse::<i64>().ok().map(Value::from),
                "number" => value.parse::<f64>().ok().and_then(|n| serde_json::Number::from_f64(n).map(Value::Number)),
                "boolean" => match value.to_ascii_lowercase().as_str() {
                    "true" => Some(Value::Bool(true)),
                    "false" => Some(Value::Bool(false)),
                    _ => None,
                },
                _ => None,
            };
            parsed.unwrap_or_else(|| Value::String(value.to_owned()))
        };
        let value =
            if kind == "array" || values.len() > 1 { Value::Array(values.iter().map(|v| scalar(v)).collect()) } else { scalar(values[0]) };
        object.insert(name.to_owned(), value);
    }
    Value::Object(object)
}

/// Turns one OpenAPI 3.0 schema (and every schema inside it) into JSON Schema 2020-12; see the
/// module's documentation for the rules.
pub fn to_json_schema(schema: &mut Value) {
    let Some(object) = schema.as_object_mut() else { return };
    // Subschemas first, so a rewrite below wraps converted schemas.
    for keyword in ["items", "additionalProperties", "not"] {
        if let Some(sub) = object.get_mut(keyword) {
            to_json_schema(sub);
        }
    }
    if let Some(properties) = object.get_mut("properties").and_then(Value::as_object_mut) {
        properties.values_mut().for_each(to_json_schema);
    }
    for keyword in ["allOf", "anyOf", "oneOf"] {
        if let Some(list) = object.get_mut(keyword).and_then(Value::as_array_mut) {
            list.iter_mut().for_each(to_json_schema);
        }
    }

    if object.get("x-twilio").and_then(|x| x.get("ignoreFormat")) == Some(&Value::Bool(true)) {
        object.remove("format");
    }

    if let Some(discriminator) = object.remove("discriminator") {
        let alternatives =
            object.remove("oneOf").or_else(|| object.remove("anyOf")).and_then(|a| a.as_array().cloned()).unwrap_or_default();
        let property = discriminator["propertyName"].as_str().unwrap_or("type").to_owned();
        let mapping: Vec<(String, String)> = match discriminator["mapping"].as_object() {
            Some(mapping) => mapping.iter().filter_map(|(value, r)| Some((value.clone(), r.as_str()?.to_owned()))).collect(),
            None => alternatives
                .iter()
                .filter_map(|a| a["$ref"].as_str())
                .map(|r| (r.rsplit('/').next().unwrap_or(r).to_owned(), r.to_owned()))
                .collect(),
        };
        let values: Vec<&str> = mapping.iter().map(|(value, _)| value.as_str()).collect();
        let mut all = object.remove("allOf").and_then(|a| a.as_array().cloned()).unwrap_or_default();
        all.push(json!({"required": [property], "properties": {property.as_str(): {"enum": values}}}));
        for (value, reference) in &mapping {
            all.push(json!({
                "if": {"required": [property], "properties": {property.as_str(): {"const": value}}},
                "then": {"$ref": reference},
            }));
        }
        object.insert("allOf".into(), Value::Array(all));
    } else if let Some(one_of) = object.remove("oneOf") {
        object.insert("anyOf".into(), one_of);
    }

    match object.remove("nullable") {
        Some(Value::Bool(true)) => {}
        _ => return,
    }
    match object.get("type").cloned() {
        Some(Value::String(kind)) => {
            object.insert("type".into(), json!([kind, "null"]));
            if let Some(values) = object.get_mut("enum").and_then(Value::as_array_mut) {
                values.push(Value::Null);
            }
        }
        _ => {
            let inner = Value::Object(std::mem::take(object));
            *schema = json!({"anyOf": [{"type": "null"}, inner]});
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smooch;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn every_vendored_file_names_its_source_and_version() {
        for text in [TWILIO_MESSAGES, TWILIO_CONTENT, SUNSHINE] {
            let document: Value = serde_json::from_str(text).unwrap();
            let source = &document["x-vendored"];
            for field in ["repository", "path", "commit", "commit_date", "info_version"] {
                assert!(source[field].as_str().is_some_and(|s| !s.is_empty()), "{field} in {source}");
            }
            assert_eq!(source["commit"].as_str().unwrap().len(), 40);
        }
    }

    #[test]
    fn nullable_and_discriminators_become_json_schema() {
        let mut nullable = json!({"type": "string", "enum": ["a"], "nullable": true});
        to_json_schema(&mut nullable);
        assert_eq!(nullable, json!({"type": ["string", "null"], "enum": ["a", null]}));

        let mut wrapped = json!({"allOf": [{"type": "object"}], "nullable": true});
        to_json_schema(&mut wrapped);
        assert_eq!(wrapped, json!({"anyOf": [{"type": "null"}, {"allOf": [{"type": "object"}]}]}));

        let mut picked = json!({"oneOf": [{"$ref": "#/components/schemas/buy"}], "discriminator": {"propertyName": "type"}});
        to_json_schema(&mut picked);
        assert_eq!(picked["allOf"][0], json!({"required": ["type"], "properties": {"type": {"enum": ["buy"]}}}));
        assert_eq!(picked["allOf"][1]["then"], json!({"$ref": "#/components/schemas/buy"}));
    }

    // ----- Twilio Messages create -----

    #[test]
    fn a_twilio_message_as_the_product_sends_it_is_valid() {
        let sms = pairs(&[
            ("To", "+34600000001"),
            ("From", "+15550001111"),
            ("StatusCallback", "https://a.example/twilio/status?agent=1"),
            ("Body", "Hola"),
        ]);
        assert_eq!(twilio_message_create(&sms), Ok(()));
        let media = pairs(&[("To", "+3"), ("From", "+1"), ("MediaUrl", "https://a/1.png"), ("MediaUrl", "https://a/2.png")]);
        assert_eq!(twilio_message_create(&media), Ok(()));
        let content = pairs(&[("To", "whatsapp:+3"), ("From", "whatsapp:+1"), ("ContentSid", &format!("HX{}", "0".repeat(32)))]);
        assert_eq!(twilio_message_create(&content), Ok(()));
        // Twilio ignores parameters it does not know.
        assert_eq!(twilio_message_create(&pairs(&[("To", "+3"), ("Body", "x"), ("SomethingNew", "1")])), Ok(()));
    }

    #[test]
    fn twilio_refuses_what_its_spec_does_not_allow() {
        let refused = |params: &[(&str, &str)]| twilio_message_create(&pairs(params)).unwrap_err();
        assert!(refused(&[("Body", "x")]).contains("\"To\" is a required property"));
        assert!(refused(&[("To", "+3"), ("ContentSid", "HX123")]).contains("/ContentSid"));
        assert!(refused(&[("To", "+3"), ("ValidityPeriod", "soon")]).contains("/ValidityPeriod"));
        assert!(refused(&[("To", "+3"), ("ProvideFeedback", "yes")]).contains("/ProvideFeedback"));
        assert!(refused(&[("To", "+3"), ("TrafficType", "bulk")]).contains("/TrafficType"));
        assert!(refused(&[("To", "+3"), ("StatusCallback", "/relative/path")]).contains("/StatusCallback"));
        assert!(refused(&[("To", "+3"), ("SendAt", "tomorrow")]).contains("/SendAt"));
        assert!(refused(&[("To", "+3"), ("Body", "a"), ("Body", "b")]).contains("/Body"));
        assert_eq!(twilio_message_create(&pairs(&[("To", "+3"), ("ValidityPeriod", "60"), ("ProvideFeedback", "true")])), Ok(()));
    }

    // ----- Twilio Content create -----

    #[test]
    fn the_content_spec_checks_field_names_types_and_required_fields() {
        let ok = json!({"friendly_name": "x", "language": "en", "types": {
            "twilio/quick-reply": {"body": "Which?", "actions": [{"type": "QUICK_REPLY", "title": "Debit", "id": "1"}]},
            "twilio/list-picker": {"body": "b", "button": "B", "items": [{"id": "1", "item": "a", "description": "d"}]},
            "twilio/text": {"body": "Which? 1) Debit"}}});
        assert_eq!(twilio_content_create(&ok), Ok(()));
        let refused = |request: Value| twilio_content_create(&request).unwrap_err();
        assert!(refused(json!({"types": {"twilio/text": {"body": "b"}}})).contains("\"language\" is a required property"));
        assert!(refused(json!({"language": "en", "types": {"twilio/text": {"text": "b"}}})).contains("'text' was unexpected"));
        assert!(
            refused(json!({"language": "en", "types": {"twilio/quick-reply": {"body": "b", "actions": [{"type": "URL", "title": "a"}]}}}))
                .contains("/types/twilio~1quick-reply/actions/0/type")
        );
        assert!(refused(json!({"language": "en", "types": {"twilio/list-picker": {"body": "b", "items": []}}})).contains("\"button\""));
        assert!(refused(json!({"language": "en", "variables": {"1": 1}, "types": {}})).contains("/variables/1"));
        assert!(twilio_content_types().iter().any(|t| t == "twilio/list-picker"));
        assert!(twilio_content_types().iter().any(|t| t == "whatsapp/card"));
    }

    // ----- Sunshine Conversations v2 -----

    fn business() -> Value {
        json!({"type": "business"})
    }

    #[test]
    fn messages_as_the_product_posts_them_are_valid() {
        for content in [
            json!({"type": "text", "text": "Hola"}),
            json!({"type": "text", "text": "Which?", "actions": [
                {"type": "reply", "text": "Debit", "payload": "1"},
                {"type": "link", "text": "More", "uri": "https://example.com/more"}]}),
            json!({"type": "image", "mediaUrl": "https://example.com/a.png"}),
            json!({"type": "file", "mediaUrl": "https://example.com/a.pdf"}),
        ] {
            for metadata in [Value::Null, json!({"lang": "en"})] {
                let body = json!({"author": business(), "content": content, "metadata": metadata});
                assert_eq!(sunshine_message_post(&body), Ok(()), "{body}");
            }
        }
    }

    #[test]
    fn the_sunshine_spec_refuses_bad_types_enums_and_limits() {
        let refused = |content: Value| sunshine_message_post(&json!({"author": business(), "content": content})).unwrap_err();
        assert!(refused(json!({"type": "video", "mediaUrl": "https://x/y"})).contains("/content/type"));
        assert!(refused(json!({"type": "text", "text": "x".repeat(4097)})).contains("/content/text"));
        assert!(refused(json!({"type": "text", "text": 12})).contains("/content/text"));
        assert!(refused(json!({"type": "image", "mediaUrl": "not a url"})).contains("/content/mediaUrl"));
        assert!(refused(json!({"type": "text", "text": "t", "actions": [{"type": "reply", "text": "a"}]})).contains("payload"));
        assert!(
            refused(json!({"type": "text", "text": "t", "actions": [{"type": "tap", "text": "a"}]})).contains("/content/actions/0/type")
        );
        assert!(refused(json!({"type": "carousel", "items": [{"title": "t"}]})).contains("actions"));
        let no_author = sunshine_message_post(&json!({"content": {"type": "text", "text": "x"}})).unwrap_err();
        assert!(no_author.contains("\"author\" is a required property"), "{no_author}");
        let robot = sunshine_message_post(&json!({"author": {"type": "robot"}, "content": {"type": "text", "text": "x"}})).unwrap_err();
        assert!(robot.contains("/author/type"), "{robot}");
        // `destination` lists alternatives without a discriminator: either one is taken.
        let targeted =
            json!({"author": business(), "content": {"type": "text", "text": "x"}, "destination": {"integrationType": "whatsapp"}});
        assert_eq!(sunshine_message_post(&targeted), Ok(()));
    }

    #[test]
    fn activities_are_checked_against_activity_post() {
        for kind in ["typing:start", "typing:stop", "conversation:read"] {
            assert_eq!(sunshine_activity_post(&json!({"author": business(), "type": kind})), Ok(()));
        }
        assert!(sunshine_activity_post(&json!({"author": business(), "type": "typing"})).unwrap_err().contains("/type"));
        assert!(sunshine_activity_post(&json!({"type": "typing:start"})).unwrap_err().contains("\"author\""));
        assert!(sunshine_v2_post("/v2/apps/a/conversations/c/activity", &json!({"type": "typing:start"})).is_err());
        assert!(sunshine_v2_post("/v2/apps/a/conversations/c/messages", &json!({"author": business()})).is_err());
    }

    /// The Smooch fake applies the spec to every v2 message and activity post (its one call to
    /// [`sunshine_v2_post`]), before its own rules, and answers Sunshine's 400.
    #[tokio::test]
    async fn the_smooch_fake_refuses_what_the_spec_refuses() {
        let fake = smooch::FakeSmooch::start().await;
        let auth = format!("Bearer {}", smooch::app_jwt(smooch::FakeSmooch::KEY_ID, smooch::FakeSmooch::SECRET));
        let conversation = format!("{}/v2/apps/{}/conversations/c1", fake.url(), smooch::FakeSmooch::APP_ID);
        let post = |path: &str, body: Value| {
            let (url, auth) = (format!("{conversation}/{path}"), auth.clone());
            async move { crate::raw_http::post_json(&url, &[("authorization", &auth)], &body).await.expect("request to fake") }
        };
        // A link action without its `uri` (`link.required`), `blockChatInput` not a boolean.
        let link = json!({"author": business(), "content": {"type": "text", "text": "t", "actions": [{"type": "link", "text": "a"}]}});
        let flag = json!({"author": business(), "content": {"type": "text", "text": "t", "blockChatInput": "yes"}});
        for body in [link, flag] {
            let resp = post("messages", body.clone()).await;
            assert_eq!(resp.status, 400, "{body}");
            assert!(
                resp.json()["errors"][0]["title"].as_str().is_some_and(|t| t.contains("openapi.yaml (messagePost)")),
                "{}",
                resp.text()
            );
        }
        let resp = post("activity", json!({"author": business(), "type": "typing:started"})).await;
        assert_eq!(resp.status, 400);
        assert!(resp.text().contains("activityPost"), "{}", resp.text());
        assert!(fake.messages().is_empty() && fake.activities().is_empty());
        assert_eq!(post("messages", json!({"author": business(), "content": {"type": "text", "text": "ok"}})).await.status, 201);
    }

    #[test]
    fn the_specs_own_webhook_examples_are_valid() {
        let examples = sunshine_webhook_examples();
        assert_eq!(examples.len(), 5, "{:?}", examples.iter().map(|(k, _)| k).collect::<Vec<_>>());
        for (event, body) in examples {
            assert_eq!(sunshine_webhook(&body), Ok(()), "the spec's {event} example");
        }
    }

    #[test]
    fn the_webhook_builders_send_only_what_sunshine_sends() {
        let bodies = [
            smooch::v2_message("app1", "conv1", "user1", "msg1", "hola"),
            smooch::v2_reply("app1", "conv1", "user1", "msg2", "Debit", "opt:1"),
            smooch::v2_postback("app1", "conv1", "user1", "MENU"),
            smooch::v2_user_content("app1", "conv1", "user1", "msg3", json!({"type": "image", "mediaUrl": "https://x.example/a.png"})),
            smooch::v2_user_content("app1", "conv1", "user1", "msg4", json!({"type": "file", "mediaUrl": "https://x.example/a.pdf"})),
            smooch::v2_business_echo("app1", "conv1", "msg5", "our own"),
            smooch::v2_delivery_failure("app1", "conv1", "user1", "msg6", "uncategorized_error"),
            smooch::v2_release_control("app1", "conv1"),
            smooch::held_by(smooch::v2_message("app1", "conv1", "user1", "msg7", "hi"), smooch::agent_workspace()),
            smooch::v2_event("app1", "conversation:read", json!({"conversation": {"id": "conv1"}})),
            smooch::v2_batch([
                smooch::v2_message("app1", "conv1", "user1", "msg8", "a"),
                smooch::v2_postback("app1", "conv2", "user2", "B"),
            ]),
        ];
        for body in bodies {
            assert_eq!(sunshine_webhook(&body), Ok(()), "{body}");
        }
    }

    #[test]
    fn a_webhook_sunshine_would_not_send_is_refused() {
        let mut wrong_author = smooch::v2_message("app1", "conv1", "user1", "msg1", "hola");
        wrong_author["events"][0]["payload"]["message"]["author"]["type"] = json!("customer");
        assert!(sunshine_webhook(&wrong_author).unwrap_err().contains("/events/0/payload/message/author/type"));
        let mut numeric_payload = smooch::v2_postback("app1", "conv1", "user1", "MENU");
        numeric_payload["events"][0]["payload"]["postback"]["payload"] = json!(7);
        assert!(sunshine_webhook(&numeric_payload).unwrap_err().contains("/events/0/payload/postback/payload"));
        let unknown = smooch::v2_event("app1", "conversation:unknown", json!({}));
        assert!(sunshine_webhook(&unknown).unwrap_err().contains("/events/0/type"));
        let mut no_media = smooch::v2_user_content("app1", "c", "u", "m", json!({"type": "image", "mediaUrl": "a.png"}));
        assert!(sunshine_webhook(&no_media).unwrap_err().contains("mediaUrl"));
        no_media["events"][0]["payload"]["message"]["content"] = json!({"type": "sticker"});
        assert!(sunshine_webhook(&no_media).is_err());
    }
}
