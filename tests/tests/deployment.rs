//! What the SAM template promises must agree with what the code does.

use connector_config::{Config, Sources};
use connector_tests::connector::repo_root;

/// The lines of `resource` in `template.yaml`: those after its name, up to the next resource
/// (the next line indented by exactly two spaces).
fn resource_block(template: &str, resource: &str) -> String {
    let header = format!("  {resource}:");
    let lines: Vec<&str> = template
        .lines()
        .skip_while(|line| *line != header)
        .skip(1)
        .take_while(|line| !line.starts_with("  ") || line.starts_with("   "))
        .collect();
    assert!(!lines.is_empty(), "{resource} not in template.yaml");
    lines.join("\n")
}

/// The `Timeout:` of the resource `function` in `template.yaml`.
fn function_timeout_secs(template: &str, function: &str) -> u64 {
    let timeout = resource_block(template, function)
        .lines()
        .find_map(|line| line.trim().strip_prefix("Timeout:").map(|v| v.split('#').next().unwrap_or_default().trim().to_owned()))
        .unwrap_or_else(|| panic!("{function} has no Timeout"));
    timeout.parse().unwrap_or_else(|_| panic!("{function} Timeout {timeout:?}"))
}

#[derive(serde::Deserialize)]
struct Deadline {
    deadline_ms: u64,
}

/// The function `function` may run at least a second longer than the deadline of its table,
/// and no longer than `provider_waits_ms`.
fn assert_timeout_fits(function: &str, table: &str, provider_waits_ms: u64) {
    let template = std::fs::read_to_string(repo_root().join("template.yaml")).unwrap();
    let timeout_ms = function_timeout_secs(&template, function) * 1000;
    let sources = Sources { conf_dir: repo_root().join("conf"), env: Vec::new() };
    let own: Deadline = Config::load(&sources, &[]).unwrap().section(table).unwrap();
    assert!(own.deadline_ms + 1000 <= timeout_ms, "{function}: deadline {} ms, Lambda timeout {timeout_ms} ms", own.deadline_ms);
    assert!(timeout_ms <= provider_waits_ms, "{function}: a run longer than the provider waits answers nobody");
}

#[test]
fn the_twilio_function_may_run_longer_than_its_webhook_deadline_and_no_longer_than_twilio_waits() {
    assert_timeout_fits("TwilioFunction", "twilio", 15_000);
}

/// HyperChat's webhook timeout is not documented; the function keeps within 15 s like Twilio's.
#[test]
fn the_hyperchat_function_may_run_longer_than_its_event_deadline() {
    assert_timeout_fits("HyperChatFunction", "hyperchat", 15_000);
}

/// Smooch v2 counts a call as failed without a reply within 20 s.
#[test]
fn the_smooch_function_may_run_longer_than_its_webhook_deadline_and_no_longer_than_smooch_waits() {
    assert_timeout_fits("SmoochFunction", "smooch", 20_000);
}

/// Meta resends an event not answered with 200 within 20 s.
#[test]
fn the_messenger_function_may_run_longer_than_its_webhook_deadline_and_no_longer_than_meta_waits() {
    assert_timeout_fits("MessengerFunction", "messenger", 20_000);
}

#[test]
fn the_api_sends_file_links_to_the_hyperchat_function_which_knows_its_public_url() {
    let template = std::fs::read_to_string(repo_root().join("template.yaml")).unwrap();
    let api = resource_block(&template, "ConnectorHttpApi");
    let route = api.split("/hyperchat/files/{link+}:").nth(1).expect("a route for file links");
    let integration = route.lines().find(|line| line.contains("invocations")).expect("an integration");
    assert!(integration.contains("-hyperchat/invocations"), "{integration}");
    let function = resource_block(&template, "HyperChatFunction");
    assert!(function.contains("HYPERCHAT_WEBHOOK_URL:"), "the function is told its public URL");
    assert!(function.contains("Path: /hyperchat/files/{link+}"), "the function may be invoked for file links");
}

/// A Lambda answer through API Gateway holds 6 MB, and a file goes base64-encoded in it.
#[test]
fn the_largest_agents_file_a_link_serves_fits_a_lambda_answer_once_base64_encoded() {
    #[derive(serde::Deserialize)]
    struct Files {
        max_file_bytes: u64,
    }
    let sources = Sources { conf_dir: repo_root().join("conf"), env: Vec::new() };
    let files: Files = Config::load(&sources, &[]).unwrap().section("hyperchat").unwrap();
    let encoded = files.max_file_bytes.div_ceil(3) * 4;
    assert!(encoded + 64 * 1024 <= 6 * 1024 * 1024, "{} bytes encode to {encoded}", files.max_file_bytes);
}
