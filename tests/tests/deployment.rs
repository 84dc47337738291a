//! What the SAM template promises must agree with what the code does.
//!
//! `template.yaml` is read as text (the workspace has no YAML parser, and SAM's short forms such
//! as `!GetAtt` are not plain YAML anyway): a resource is the lines indented under its name in
//! `Resources:`, a property the line that starts with its key at its indentation.

use connector_config::{Config, Sources};
use connector_tests::connector::repo_root;

fn template() -> String {
    std::fs::read_to_string(repo_root().join("template.yaml")).unwrap()
}

/// The `Resources:` section of `template.yaml`.
fn resources(template: &str) -> &str {
    let start = template.find("\nResources:\n").expect("a Resources section");
    let rest = &template[start + 1..];
    let end = rest.find("\nOutputs:\n").unwrap_or(rest.len());
    &rest[..end]
}

/// The lines of `resource` in `template.yaml`: those after its name, up to the next resource
/// (the next line indented by exactly two spaces).
fn resource_block(template: &str, resource: &str) -> String {
    let header = format!("  {resource}:");
    let lines: Vec<&str> = resources(template)
        .lines()
        .skip_while(|line| *line != header)
        .skip(1)
        .take_while(|line| !line.starts_with("  ") || line.starts_with("   "))
        .collect();
    assert!(!lines.is_empty(), "{resource} not in template.yaml");
    lines.join("\n")
}

/// The names of the resources of type `kind`, in template order.
fn resources_of_type(template: &str, kind: &str) -> Vec<String> {
    let type_line = format!("    Type: {kind}");
    resources(template)
        .lines()
        .filter_map(|line| line.strip_prefix("  ").and_then(|name| name.strip_suffix(':')))
        .filter(|name| !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric()))
        .filter(|name| resource_block(template, name).lines().any(|line| line.trim_end() == type_line))
        .map(str::to_owned)
        .collect()
}

/// The value of the first `key:` of `block` indented by exactly `indent` spaces, without a
/// trailing comment.
fn field(block: &str, indent: usize, key: &str) -> Option<String> {
    let prefix = format!("{}{key}:", " ".repeat(indent));
    block.lines().find_map(|line| line.strip_prefix(&prefix)).map(|value| value.split(" #").next().unwrap_or_default().trim().to_owned())
}

/// The value of the first `key:` of `block` at any indentation (for keys that occur once).
fn anywhere(block: &str, key: &str) -> Option<String> {
    let prefix = format!("{key}:");
    block
        .lines()
        .find_map(|line| line.trim_start().strip_prefix(&prefix))
        .map(|value| value.split(" #").next().unwrap_or_default().trim().to_owned())
}

fn number(block: &str, key: &str, owner: &str) -> u64 {
    let value = anywhere(block, key).unwrap_or_else(|| panic!("{owner} has no {key}"));
    value.parse().unwrap_or_else(|_| panic!("{owner} {key} {value:?}"))
}

/// The resource's `Condition:`, if it is deployed under one.
fn condition(template: &str, resource: &str) -> Option<String> {
    field(&resource_block(template, resource), 4, "Condition")
}

/// The `Timeout:` of the resource `function` in `template.yaml`.
fn function_timeout_secs(template: &str, function: &str) -> u64 {
    let timeout = field(&resource_block(template, function), 6, "Timeout").unwrap_or_else(|| panic!("{function} has no Timeout"));
    timeout.parse().unwrap_or_else(|_| panic!("{function} Timeout {timeout:?}"))
}

/// The functions that serve a route of the HTTP API: every one of them ingests into a queue.
fn http_functions(template: &str) -> Vec<String> {
    let functions: Vec<String> = resources_of_type(template, "AWS::Serverless::Function")
        .into_iter()
        .filter(|function| resource_block(template, function).lines().any(|line| line.trim() == "Type: HttpApi"))
        .collect();
    assert_eq!(functions, ["TwilioFunction", "SmoochFunction", "MessengerFunction", "HyperChatFunction"], "the webhook functions");
    functions
}

/// The resource a `!Ref X` or `!GetAtt X.Attribute` names.
fn referenced(value: &str) -> &str {
    let value = value.trim();
    let name = value.strip_prefix("!Ref ").or_else(|| value.strip_prefix("!GetAtt ")).unwrap_or_else(|| panic!("not a reference: {value}"));
    name.split('.').next().unwrap_or_default().trim()
}

/// The queue a function ingests into and processes from (its `QUEUE_URL`), and its dead-letter
/// queue (`DEAD_LETTER_QUEUE_URL`), the names the code reads.
fn queues_of(template: &str, function: &str) -> (String, String) {
    let block = resource_block(template, function);
    let queue = field(&block, 10, "QUEUE_URL").unwrap_or_else(|| panic!("{function} is not told QUEUE_URL"));
    let dead = field(&block, 10, "DEAD_LETTER_QUEUE_URL").unwrap_or_else(|| panic!("{function} is not told DEAD_LETTER_QUEUE_URL"));
    (referenced(&queue).to_owned(), referenced(&dead).to_owned())
}

/// The function's `Policies:` list, as text without comments.
fn policies(template: &str, function: &str) -> String {
    let block = resource_block(template, function);
    let lines: Vec<&str> = block
        .lines()
        .skip_while(|line| *line != "      Policies:")
        .skip(1)
        .take_while(|line| line.trim().is_empty() || line.starts_with("       "))
        .filter(|line| !line.trim_start().starts_with('#'))
        .map(|line| line.split(" #").next().unwrap_or_default())
        .collect();
    assert!(!lines.is_empty(), "{function} has no Policies");
    lines.join("\n")
}

/// The identifiers in `text` (what `!Ref` and `!GetAtt` can name).
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_ascii_alphanumeric()).filter(|word| !word.is_empty())
}

#[derive(serde::Deserialize)]
struct QueueBudget {
    processing_budget_ms: u64,
}

#[test]
fn every_function_with_an_http_route_is_also_invoked_by_its_own_queue_and_reports_failed_records_one_by_one() {
    let template = template();
    let mappings = resources_of_type(&template, "AWS::Lambda::EventSourceMapping");
    for function in http_functions(&template) {
        let (queue, _) = queues_of(&template, &function);
        let own: Vec<&String> = mappings
            .iter()
            .filter(|mapping| field(&resource_block(&template, mapping), 6, "FunctionName").as_deref() == Some(&format!("!Ref {function}")))
            .collect();
        assert_eq!(own.len(), 1, "{function}: one event source mapping, got {own:?}");
        let mapping = own[0];
        let block = resource_block(&template, mapping);
        assert_eq!(field(&block, 6, "EventSourceArn"), Some(format!("!GetAtt {queue}.Arn")), "{mapping} reads {function}'s queue");
        assert_eq!(field(&block, 6, "FunctionResponseTypes").as_deref(), Some("[ReportBatchItemFailures]"), "{mapping}");
        assert_eq!(number(&block, "BatchSize", mapping), 10, "{mapping}");
        assert_eq!(field(&block, 8, "MaximumConcurrency").as_deref(), Some("!Ref ProcessingMaxConcurrency"), "{mapping}");
        assert_eq!(condition(&template, mapping), condition(&template, &function), "{mapping} is deployed with {function}");
        assert_eq!(condition(&template, &queue), condition(&template, &function), "{queue} is deployed with {function}");
    }
    let parameters = &template[..template.find("\nResources:\n").unwrap()];
    let concurrency = parameters.split("\n  ProcessingMaxConcurrency:\n").nth(1).expect("a ProcessingMaxConcurrency parameter");
    let concurrency: Vec<&str> = concurrency.lines().take_while(|line| line.starts_with("    ")).collect();
    let concurrency = concurrency.join("\n");
    assert_eq!(number(&concurrency, "Default", "ProcessingMaxConcurrency"), 10);
    assert_eq!(number(&concurrency, "MinValue", "ProcessingMaxConcurrency"), 2, "Lambda's own minimum");
}

/// SAM's `Type: SQS` event attaches AWSLambdaSQSQueueExecutionRole to the function's role:
/// ReceiveMessage and DeleteMessage on every queue of the account.
#[test]
fn no_function_has_a_sam_sqs_event_which_would_let_it_read_every_queue_of_the_account() {
    let template = template();
    for function in resources_of_type(&template, "AWS::Serverless::Function") {
        let block = resource_block(&template, &function);
        assert!(!block.lines().any(|line| line.trim() == "Type: SQS"), "{function} has a SAM SQS event");
    }
}

#[test]
fn each_queue_is_fifo_and_dead_letters_into_a_fifo_queue_that_keeps_messages_at_least_a_week() {
    let template = template();
    for function in http_functions(&template) {
        let (queue, dead) = queues_of(&template, &function);
        let block = resource_block(&template, &queue);
        assert_eq!(field(&block, 4, "Type").as_deref(), Some("AWS::SQS::Queue"), "{queue}");
        assert_eq!(field(&block, 6, "FifoQueue").as_deref(), Some("true"), "{queue}");
        assert_eq!(field(&block, 6, "ContentBasedDeduplication").as_deref(), Some("false"), "{queue}: the code sets the provider's id");
        assert_eq!(field(&block, 6, "DeduplicationScope").as_deref(), Some("messageGroup"), "{queue}: high-throughput mode");
        assert_eq!(field(&block, 6, "FifoThroughputLimit").as_deref(), Some("perMessageGroupId"), "{queue}: high-throughput mode");
        assert_eq!(
            field(&block, 8, "deadLetterTargetArn"),
            Some(format!("!GetAtt {dead}.Arn")),
            "{queue} dead-letters into {function}'s DLQ"
        );
        let receives = number(&block, "maxReceiveCount", &queue);
        assert!(receives >= 5, "{queue}: maxReceiveCount {receives}; AWS advises at least 5 for Lambda sources");
        let name = field(&block, 6, "QueueName").unwrap_or_else(|| panic!("{queue} has no QueueName"));
        assert!(name.ends_with(".fifo\""), "{queue}: {name}");

        let block = resource_block(&template, &dead);
        assert_eq!(field(&block, 4, "Type").as_deref(), Some("AWS::SQS::Queue"), "{dead}");
        assert_eq!(field(&block, 6, "FifoQueue").as_deref(), Some("true"), "{dead}: a FIFO queue's DLQ must be FIFO");
        let retention = number(&block, "MessageRetentionPeriod", &dead);
        assert!(retention >= 7 * 24 * 3600, "{dead} keeps messages {retention} s");
        assert_eq!(condition(&template, &dead), condition(&template, &function), "{dead} is deployed with {function}");
    }
}

/// AWS's rule for a queue that is a Lambda function's event source.
#[test]
fn each_queue_hides_a_received_record_for_at_least_six_times_its_function_timeout() {
    let template = template();
    for function in http_functions(&template) {
        let (queue, _) = queues_of(&template, &function);
        let visibility = number(&resource_block(&template, &queue), "VisibilityTimeout", &queue);
        let timeout = function_timeout_secs(&template, &function);
        assert!(visibility >= 6 * timeout, "{queue}: visibility timeout {visibility} s, {function} timeout {timeout} s");
    }
}

/// The handler starts a record only while `queue.processing_budget_ms` + 5 s for its queue
/// calls + 0.5 s remain before the invocation's deadline: with a shorter timeout no record
/// would ever start.
#[test]
fn each_function_may_run_longer_than_one_records_processing_budget_its_queue_calls_and_the_half_second_kept_before_its_deadline() {
    let file = repo_root().join("conf/default/queue.toml");
    assert!(file.is_file(), "{} does not exist: the queue's defaults (processing_budget_ms) are read from it", file.display());
    let sources = Sources { conf_dir: repo_root().join("conf"), env: Vec::new() };
    let queue: QueueBudget = Config::load(&sources, &[]).unwrap().section("queue").unwrap();
    let template = template();
    for function in http_functions(&template) {
        let timeout_ms = function_timeout_secs(&template, &function) * 1000;
        assert!(
            timeout_ms > queue.processing_budget_ms + 5_500,
            "{function}: Lambda timeout {timeout_ms} ms, processing budget {} ms + 5.5 s",
            queue.processing_budget_ms
        );
    }
}

/// Each function receives from, and sends to, its own queue and dead-letter queue; the HyperChat
/// function also sends to the queue of each channel deployed (an agent's event joins its
/// conversation there). No SQS permission is on every resource.
#[test]
fn each_function_may_use_only_its_own_queues_and_the_hyperchat_function_also_the_channels_queues() {
    let template = template();
    let queues = resources_of_type(&template, "AWS::SQS::Queue");
    let functions = http_functions(&template);
    let channel_queues: Vec<String> = functions.iter().filter(|f| *f != "HyperChatFunction").map(|f| queues_of(&template, f).0).collect();
    for function in &functions {
        let (queue, dead) = queues_of(&template, function);
        let mut allowed = vec![queue.clone(), dead.clone()];
        if function == "HyperChatFunction" {
            allowed.extend(channel_queues.iter().cloned());
        }
        let policies = policies(&template, function);
        let mut named: Vec<&str> = words(&policies).filter(|word| queues.iter().any(|queue| queue == word)).collect();
        named.sort_unstable();
        named.dedup();
        let mut expected: Vec<&str> = allowed.iter().map(String::as_str).collect();
        expected.sort_unstable();
        assert_eq!(named, expected, "{function}'s policies name these queues");

        for line in policies.lines().map(str::trim) {
            assert!(!line.replace(['"', '\''], "").ends_with("Resource: *"), "{function}: {line}");
        }
        // Receiving (the event source mapping) and the backoff: its own queue only.
        let consumer = policies.split("- Sid: QueueConsumer").nth(1).unwrap_or_else(|| panic!("{function} has no QueueConsumer statement"));
        let consumer = consumer.split("- Sid:").next().unwrap_or_default();
        assert_eq!(anywhere(consumer, "Resource"), Some(format!("!GetAtt {queue}.Arn")), "{function} receives from its own queue only");
        for action in ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"] {
            assert!(consumer.contains(action), "{function} may not {action}");
        }
        // Every other SQS action comes from SQSSendMessagePolicy (sqs:SendMessage*), each on one queue.
        let sqs_actions: Vec<&str> = policies
            .split("sqs:")
            .skip(1)
            .map(|rest| rest.split(|c: char| !(c.is_ascii_alphanumeric() || c == '*')).next().unwrap_or_default())
            .collect();
        assert!(
            sqs_actions
                .iter()
                .all(|action| ["ReceiveMessage", "DeleteMessage", "GetQueueAttributes", "ChangeMessageVisibility"].contains(action)),
            "{function}: {sqs_actions:?}"
        );
        for (index, send) in policies.split("SQSSendMessagePolicy:").enumerate().skip(1) {
            let queue_name =
                anywhere(send, "QueueName").unwrap_or_else(|| panic!("{function}: SQSSendMessagePolicy #{index} names no queue"));
            assert!(
                allowed.iter().any(|allowed| queue_name == format!("!GetAtt {allowed}.QueueName")),
                "{function} may send to {queue_name}"
            );
        }
        assert!(policies.contains(&format!("QueueName: !GetAtt {queue}.QueueName")), "{function} may not ingest into {queue}");
        assert!(policies.contains(&format!("QueueName: !GetAtt {dead}.QueueName")), "{function} may not dead-letter into {dead}");
    }
}

/// The HyperChat function forwards an agent's event to the queue of the conversation's channel.
#[test]
fn the_hyperchat_function_is_told_the_queue_of_each_channel_that_is_deployed() {
    let template = template();
    let block = resource_block(&template, "HyperChatFunction");
    for (variable, function) in
        [("TWILIO_QUEUE_URL", "TwilioFunction"), ("SMOOCH_QUEUE_URL", "SmoochFunction"), ("MESSENGER_QUEUE_URL", "MessengerFunction")]
    {
        let (queue, _) = queues_of(&template, function);
        let channel = condition(&template, function).unwrap_or_else(|| panic!("{function} is deployed under a condition"));
        assert_eq!(field(&block, 10, variable), Some(format!("!If [{channel}, !Ref {queue}, \"\"]")), "{variable}");
        assert!(
            policies(&template, "HyperChatFunction")
                .contains(&format!("- {channel}\n          - SQSSendMessagePolicy:\n              QueueName: !GetAtt {queue}.QueueName")),
            "HyperChatFunction may send to {queue} when {channel}"
        );
    }
}

#[test]
fn each_dead_letter_queue_has_an_alarm_on_its_first_message() {
    let template = template();
    let alarms = resources_of_type(&template, "AWS::CloudWatch::Alarm");
    for function in http_functions(&template) {
        let (_, dead) = queues_of(&template, &function);
        let dimension = format!("!GetAtt {dead}.QueueName");
        let own: Vec<&String> =
            alarms.iter().filter(|alarm| anywhere(&resource_block(&template, alarm), "Value").as_deref() == Some(&dimension)).collect();
        assert_eq!(own.len(), 1, "{dead}: one alarm, got {own:?}");
        let alarm = own[0];
        let block = resource_block(&template, alarm);
        assert_eq!(field(&block, 6, "Namespace").as_deref(), Some("AWS/SQS"), "{alarm}");
        assert_eq!(field(&block, 6, "MetricName").as_deref(), Some("ApproximateNumberOfMessagesVisible"), "{alarm}");
        assert_eq!(field(&block, 6, "ComparisonOperator").as_deref(), Some("GreaterThanOrEqualToThreshold"), "{alarm}");
        assert_eq!(number(&block, "Threshold", alarm), 1, "{alarm}");
        assert_eq!(
            field(&block, 6, "AlarmActions").as_deref(),
            Some("!If [HasAlarmEmail, [!Ref AlarmTopic], !Ref AWS::NoValue]"),
            "{alarm}"
        );
        assert_eq!(condition(&template, alarm), condition(&template, &function), "{alarm} is deployed with {function}");
    }
    let topic = resource_block(&template, "AlarmTopic");
    assert_eq!(field(&topic, 4, "Condition").as_deref(), Some("HasAlarmEmail"));
    assert_eq!(anywhere(&topic, "Endpoint").as_deref(), Some("!Ref AlarmEmail"));
}

#[derive(serde::Deserialize)]
struct Deadline {
    deadline_ms: u64,
}

/// API Gateway's HTTP API answers 503 to a request its integration has not answered within 30 s
/// (its maximum), whatever the function's own timeout.
const HTTP_API_INTEGRATION_TIMEOUT_MS: u64 = 30_000;

/// The webhook (authenticate, parse, enqueue) is answered within the `deadline_ms` of its table:
/// before the provider gives up, before the HTTP API does, and at least a second before the
/// function's timeout (which is set for processing, far longer).
fn assert_ingest_deadline_fits(function: &str, table: &str, provider_waits_ms: u64) {
    let template = template();
    let timeout_ms = function_timeout_secs(&template, function) * 1000;
    let sources = Sources { conf_dir: repo_root().join("conf"), env: Vec::new() };
    let own: Deadline = Config::load(&sources, &[]).unwrap().section(table).unwrap();
    assert!(own.deadline_ms + 1000 <= timeout_ms, "{function}: deadline {} ms, Lambda timeout {timeout_ms} ms", own.deadline_ms);
    assert!(own.deadline_ms < provider_waits_ms, "{function}: an answer later than the provider waits answers nobody");
    assert!(own.deadline_ms < HTTP_API_INTEGRATION_TIMEOUT_MS, "{function}: the HTTP API would answer 503 first");
}

#[test]
fn the_twilio_webhook_is_answered_before_twilio_gives_up_and_before_the_function_times_out() {
    assert_ingest_deadline_fits("TwilioFunction", "twilio", 15_000);
}

/// HyperChat's webhook timeout is not documented; its events are answered within 15 s like Twilio's.
#[test]
fn the_hyperchat_webhook_is_answered_within_fifteen_seconds_and_before_the_function_times_out() {
    assert_ingest_deadline_fits("HyperChatFunction", "hyperchat", 15_000);
}

/// Smooch v2 counts a call as failed without a reply within 20 s.
#[test]
fn the_smooch_webhook_is_answered_before_smooch_gives_up_and_before_the_function_times_out() {
    assert_ingest_deadline_fits("SmoochFunction", "smooch", 20_000);
}

/// Meta resends an event not answered with 200 within 20 s.
#[test]
fn the_messenger_webhook_is_answered_before_meta_resends_it_and_before_the_function_times_out() {
    assert_ingest_deadline_fits("MessengerFunction", "messenger", 20_000);
}

#[test]
fn the_api_sends_file_links_to_the_hyperchat_function_which_knows_its_public_url() {
    let template = template();
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

/// The names of the template's parameters.
fn parameters(template: &str) -> Vec<String> {
    let block = &template[template.find("\nParameters:\n").expect("Parameters") + 1..template.find("\nConditions:\n").expect("Conditions")];
    block
        .lines()
        .filter_map(|line| line.strip_prefix("  "))
        .filter(|line| !line.starts_with(' ') && !line.starts_with('#'))
        .filter_map(|line| line.strip_suffix(':'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn no_parameter_is_a_secret_so_a_guided_deploy_never_asks_one_twice_and_every_one_has_a_default() {
    let template = template();
    let block = &template[template.find("\nParameters:\n").unwrap()..template.find("\nConditions:\n").unwrap()];
    assert!(!block.contains("NoEcho"), "a NoEcho parameter is asked again on every empty answer");
    let names = parameters(&template);
    assert!(names.len() > 10 && names.iter().any(|n| n == "DeployTwilio"), "{names:?}");
    for parameter in names {
        let start = block.find(&format!("\n  {parameter}:\n")).unwrap() + 1;
        let body: Vec<&str> = block[start..].lines().skip(1).take_while(|line| line.starts_with("    ")).collect();
        assert!(body.iter().any(|line| line.trim_start().starts_with("Default:")), "{parameter} has no default: {body:?}");
    }
}

#[test]
fn each_channel_is_deployed_by_its_own_yes_or_no_parameter() {
    let template = template();
    for (channel, function) in [("Twilio", "TwilioFunction"), ("Smooch", "SmoochFunction"), ("Messenger", "MessengerFunction")] {
        let has = format!("Has{channel}");
        assert_eq!(condition(&template, function).as_deref(), Some(has.as_str()));
        assert!(template.contains(&format!("  {has}: !Equals [!Ref Deploy{channel}, \"yes\"]")), "{has} follows Deploy{channel}");
    }
}

#[test]
fn every_function_reads_the_stacks_secret_and_may_read_that_one_secret_only() {
    let template = template();
    assert!(template.contains("        SECRETS_ID: !Ref ConnectorSecrets"), "every function is told SECRETS_ID (Globals)");
    assert_eq!(field(&resource_block(&template, "ConnectorSecrets"), 4, "Type").as_deref(), Some("AWS::SecretsManager::Secret"));
    for function in resources_of_type(&template, "AWS::Serverless::Function") {
        let policies = policies(&template, &function);
        let read = policies.split("- Sid: ReadSecrets").nth(1).unwrap_or_else(|| panic!("{function} cannot read the secret"));
        let statement: String = read.lines().take_while(|line| !line.trim_start().starts_with("- Sid:")).collect::<Vec<_>>().join("\n");
        assert!(
            statement.contains("secretsmanager:GetSecretValue") && statement.contains("Resource: !Ref ConnectorSecrets"),
            "{function}: {statement}"
        );
        assert!(!policies.contains("secretsmanager:*") && !statement.contains("PutSecretValue"), "{function} may only read it");
    }
}

#[test]
fn samconfig_names_only_parameters_the_template_has() {
    let samconfig = std::fs::read_to_string(repo_root().join("samconfig.toml")).unwrap();
    let config: toml::Table = samconfig.parse().expect("samconfig.toml is TOML");
    let overrides = config["default"]["deploy"]["parameters"]["parameter_overrides"].as_str().expect("parameter_overrides");
    let known = parameters(&template());
    for pair in overrides.split_whitespace() {
        let name = pair.split('=').next().unwrap();
        assert!(known.iter().any(|k| k == name), "{name} is no parameter of template.yaml");
    }
    assert_eq!(config["default"]["deploy"]["parameters"]["capabilities"].as_str(), Some("CAPABILITY_IAM"));
}

/// `infra/sam-local/env.py` run on a file of these fakes' variables.
fn run_sam_local_env(fakes: &str) -> std::process::Output {
    let dir = std::env::temp_dir().join(format!("sam-local-env-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fakes_file = dir.join(format!("fakes-{}.env", fakes.len()));
    std::fs::write(&fakes_file, fakes).unwrap();
    std::process::Command::new("python3")
        .arg(repo_root().join("infra/sam-local/env.py"))
        .arg("--fakes")
        .arg(&fakes_file)
        .output()
        .expect("python3 runs infra/sam-local/env.py")
}

/// `infra/sam-local/env.py`'s file for these fakes' variables.
fn sam_local_env(fakes: &str) -> serde_json::Value {
    let output = run_sam_local_env(fakes);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("the env file is JSON")
}

/// Found in review: run as the README said, `env.py` could read `fakes.env` before the fakes had
/// printed it, and wrote an environment without them, silently.
#[test]
fn the_sam_local_env_file_is_refused_from_fakes_output_that_is_not_whole_yet() {
    let output = run_sam_local_env("INBENTA_AUTH_URL=http://127.0.0.1:9/v1\nINBENTA_API_KEY=k\n");
    assert!(!output.status.success(), "an incomplete fakes.env gives no env file");
    assert!(String::from_utf8_lossy(&output.stderr).contains("HYPERCHAT_SECRET"), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(run_sam_local_env("").stdout.is_empty(), "nothing is written from an empty one");
}

#[test]
fn the_sam_local_env_file_names_every_function_sets_only_declared_variables_and_signs_like_the_sample_events() {
    let template = template();
    let env = sam_local_env(
        "INBENTA_AUTH_URL=http://127.0.0.1:9/v1\nINBENTA_API_KEY=k\nINBENTA_API_SECRET=s\nTWILIO_API_URL=http://127.0.0.1:9\nSMOOCH_API_URL=http://127.0.0.1:9\nHYPERCHAT_SECRET=h\n",
    );
    let functions = resources_of_type(&template, "AWS::Serverless::Function");
    let named: Vec<String> = env.as_object().unwrap().keys().cloned().collect();
    let mut expected = functions.clone();
    expected.sort();
    assert_eq!(named, expected, "one entry per function of template.yaml");
    let globals = &template[template.find("\nGlobals:\n").unwrap()..template.find("\nResources:\n").unwrap()];
    for function in &functions {
        let block = resource_block(&template, function);
        for (variable, _) in env[function].as_object().unwrap() {
            let declared = format!("\n        {variable}:");
            let own = format!("\n          {variable}:");
            assert!(
                globals.contains(&declared) || block.contains(&own),
                "{function}: {variable} is not declared, so sam local would ignore it"
            );
        }
        assert_eq!(env[function]["SECRETS_ID"], "", "{function} reads its secrets from the file, not Secrets Manager");
        assert_eq!(env[function]["QUEUE_URL"], "", "{function} processes in the invocation");
    }
    // The values infra/events/*.json are signed for (infra/events/generate.py).
    let generator = std::fs::read_to_string(repo_root().join("infra/events/generate.py")).unwrap();
    let token = env["TwilioFunction"]["TWILIO_AUTH_TOKEN"].as_str().unwrap();
    let url = env["TwilioFunction"]["TWILIO_WEBHOOK_URL"].as_str().unwrap();
    assert!(generator.contains(&format!("\"{token}\"")) && generator.contains(&format!("\"{url}\"")), "{token} {url}");
    assert_eq!(env["SmoochFunction"]["SMOOCH_API_URL"], "http://127.0.0.1:9", "the fakes' addresses are passed on");
}

/// SAM's `rust-cargolambda` runs `cargo lambda build --bin <Binary>` in `CodeUri`. From the
/// workspace root Cargo would select every function and unify their features, linking every
/// channel into every binary; from the function's own package directory it selects that package
/// alone.
#[test]
fn each_function_is_built_from_its_own_package_whose_binary_links_only_the_channel_it_serves() {
    let template = template();
    for function in http_functions(&template) {
        let block = resource_block(&template, &function);
        let binary = anywhere(&block, "Binary").unwrap_or_else(|| panic!("{function} has no BuildProperties.Binary"));
        let code_uri = field(&block, 6, "CodeUri").unwrap_or_else(|| panic!("{function} has no CodeUri"));
        assert_eq!(code_uri, format!("functions/{binary}"), "{function} is built from its package's directory");
        let manifest: toml::Table = std::fs::read_to_string(repo_root().join(&code_uri).join("Cargo.toml"))
            .unwrap_or_else(|error| panic!("{code_uri}/Cargo.toml: {error}"))
            .parse()
            .expect("Cargo.toml is TOML");
        let bins = manifest["bin"].as_array().expect("[[bin]]");
        assert!(bins.iter().any(|bin| bin["name"].as_str() == Some(binary.as_str())), "{code_uri} builds the binary {binary}");
        let app = &manifest["dependencies"]["connector-app"];
        assert_eq!(app.get("default-features").and_then(toml::Value::as_bool), Some(false), "{code_uri}: no default (every) channel");
        let features: Vec<&str> = app["features"].as_array().expect("features").iter().filter_map(toml::Value::as_str).collect();
        let channels: Vec<&str> = features.into_iter().filter(|feature| *feature != "lambda").collect();
        assert_eq!(channels, [binary.as_str()], "{code_uri} names only its own channel");
    }
}
