//! What the SAM template promises must agree with what the code does.

use connector_config::{Config, Sources};
use connector_tests::connector::repo_root;

/// The `Timeout:` of the resource `function` in `template.yaml`: the lines after its name,
/// up to the next resource (the next line indented by exactly two spaces).
fn function_timeout_secs(template: &str, function: &str) -> u64 {
    let header = format!("  {function}:");
    let block: Vec<&str> = template
        .lines()
        .skip_while(|line| *line != header)
        .skip(1)
        .take_while(|line| !line.starts_with("  ") || line.starts_with("   "))
        .collect();
    assert!(!block.is_empty(), "{function} not in template.yaml");
    let timeout = block
        .iter()
        .find_map(|line| line.trim().strip_prefix("Timeout:").map(|v| v.split('#').next().unwrap_or_default().trim().to_owned()))
        .unwrap_or_else(|| panic!("{function} has no Timeout"));
    timeout.parse().unwrap_or_else(|_| panic!("{function} Timeout {timeout:?}"))
}

#[derive(serde::Deserialize)]
struct Deadline {
    deadline_ms: u64,
}

#[test]
fn the_twilio_function_may_run_longer_than_its_webhook_deadline_and_no_longer_than_twilio_waits() {
    let template = std::fs::read_to_string(repo_root().join("template.yaml")).unwrap();
    let timeout_ms = function_timeout_secs(&template, "TwilioFunction") * 1000;
    let sources = Sources { conf_dir: repo_root().join("conf"), env: Vec::new() };
    let twilio: Deadline = Config::load(&sources, &[]).unwrap().section("twilio").unwrap();
    assert!(twilio.deadline_ms + 1000 <= timeout_ms, "deadline {} ms, Lambda timeout {timeout_ms} ms", twilio.deadline_ms);
    assert!(timeout_ms <= 15_000, "Twilio gives up after 15 s; a longer run answers nobody");
}
