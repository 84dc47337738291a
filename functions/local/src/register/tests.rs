use super::hyperchat::collect_registered;
use super::*;

#[test]
fn describe_stacks_output_a_single_stack_and_a_bare_output_list_all_give_the_outputs() {
    let full = r#"{"Stacks":[{"StackName":"prod","Outputs":[{"OutputKey":"TwilioWebhookUrl","OutputValue":"https://x/twilio"}]}]}"#;
    let stack = parse_stack(full).unwrap();
    assert_eq!(stack.name.as_deref(), Some("prod"));
    assert_eq!(stack.outputs["TwilioWebhookUrl"], "https://x/twilio");
    let bare = r#"[{"OutputKey":"SmoochWebhookUrl","OutputValue":"https://x/smooch"}]"#;
    assert_eq!(parse_stack(bare).unwrap().outputs["SmoochWebhookUrl"], "https://x/smooch");
    assert!(parse_stack(r#"{"Stacks":[{"StackName":"p"}]}"#).unwrap_err().contains("Outputs"));
    assert!(parse_stack(r#"{"Stacks":[{},{}]}"#).unwrap_err().contains("2 stacks"));
}

#[test]
fn a_registration_is_found_in_any_shape_that_names_the_url_with_its_events() {
    let url = "https://x/hyperchat";
    let per_event = json!({"webhooks": [{"id": 1, "event": "messages:new", "target": url}, {"id": 2, "event": "chats:close", "target": "https://other"}]});
    let mut events = Vec::new();
    assert!(collect_registered(&per_event, url, &mut events));
    assert!(events.contains(&"messages:new".to_owned()) && !events.contains(&"chats:close".to_owned()), "{events:?}");
    let mut events = Vec::new();
    assert!(!collect_registered(&json!({"webhooks": []}), url, &mut events));
}

#[test]
fn secrets_in_query_strings_and_bodies_are_shown_as_stars() {
    let request = Request::new(Provider::Graph, reqwest::Method::POST, "https://g/v27.0/1/subscriptions".into())
        .query("access_token", "1|abcdef")
        .form(&[("verify_token", "tok-123456"), ("object", "page")]);
    assert_eq!(Run::shown_url(&request), "https://g/v27.0/1/subscriptions?access_token=***");
    assert_eq!(Run::shown_body(&request.body).unwrap(), "verify_token=***&object=page");
    let body = Body::Json(json!({"webhook": {"secret": "s3cr3t-value", "target": "https://x"}}));
    assert_eq!(Run::shown_body(&body).unwrap(), r#"{"webhook":{"secret":"***","target":"https://x"}}"#);
}
