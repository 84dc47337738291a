//! The AWS SDK clients' configuration (DynamoDB, SQS): the product's own HTTP client
//! ([`crate::https`]), timeouts the caller chooses, and where region, credentials and endpoint
//! come from.
//!
//! The Lambda functions read them from the variables Lambda sets (`AWS_REGION`,
//! `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), which is all the SDK's
//! provider chain would find there; leaving `aws-config` (and the STS client it carries) out
//! of the functions makes each zip smaller (docs/design-notes.md, "Build"). With the
//! `sdk-config-chain` feature, which `connector-local` turns on, the whole chain applies
//! (profiles, SSO, `aws configure`). Either way a service's own endpoint variable
//! (`AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL_SQS`), else `AWS_ENDPOINT_URL`, points the
//! client at a local server.

use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region, SharedHttpClient};

/// The DynamoDB client for this process, from its environment.
pub(crate) async fn client(timeouts: TimeoutConfig) -> aws_sdk_dynamodb::Client {
    #[cfg(feature = "sdk-config-chain")]
    {
        aws_sdk_dynamodb::Client::new(&chain(timeouts).await)
    }
    #[cfg(not(feature = "sdk-config-chain"))]
    {
        aws_sdk_dynamodb::Client::from_conf(from_variables(&|name| std::env::var(name).ok(), timeouts))
    }
}

/// The SQS client for this process, from its environment.
pub(crate) async fn sqs_client(timeouts: TimeoutConfig) -> aws_sdk_sqs::Client {
    #[cfg(feature = "sdk-config-chain")]
    {
        aws_sdk_sqs::Client::new(&chain(timeouts).await)
    }
    #[cfg(not(feature = "sdk-config-chain"))]
    {
        aws_sdk_sqs::Client::from_conf(sqs_from_variables(&|name| std::env::var(name).ok(), timeouts))
    }
}

/// The SDK's whole provider chain; it reads `AWS_ENDPOINT_URL_<SERVICE>` itself.
#[cfg(feature = "sdk-config-chain")]
async fn chain(timeouts: TimeoutConfig) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).http_client(https()).timeout_config(timeouts).load().await
}

fn https() -> SharedHttpClient {
    crate::https::client()
}

/// What the variables say for one service.
#[derive(Debug)]
struct Variables {
    region: Option<Region>,
    credentials: Option<Credentials>,
    endpoint: Option<String>,
}

/// From `AWS_REGION` (else `AWS_DEFAULT_REGION`), the access key variables and
/// `AWS_ENDPOINT_URL_<service>` (else `AWS_ENDPOINT_URL`); empty values count as unset.
fn variables(var: &dyn Fn(&str) -> Option<String>, service: &str) -> Variables {
    let var = |name: &str| var(name).filter(|value| !value.is_empty());
    let credentials = match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
        (Some(key), Some(secret)) => Some(Credentials::new(key, secret, var("AWS_SESSION_TOKEN"), None, "environment")),
        _ => None,
    };
    Variables {
        region: var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")).map(Region::new),
        credentials,
        endpoint: var(&format!("AWS_ENDPOINT_URL_{service}")).or_else(|| var("AWS_ENDPOINT_URL")),
    }
}

/// A client configuration of the SDK crate `$sdk` for `$service` from the variables, our HTTP
/// client and `timeouts`: one body for every service the connector calls.
macro_rules! from_variables_of {
    ($sdk:ident, $service:literal, $var:expr, $timeouts:expr) => {{
        let Variables { region, credentials, endpoint } = variables($var, $service);
        let mut config = $sdk::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .http_client(https())
            .timeout_config($timeouts)
            .region(region);
        if let Some(credentials) = credentials {
            config = config.credentials_provider(credentials);
        }
        if let Some(endpoint) = endpoint {
            config = config.endpoint_url(endpoint);
        }
        config.build()
    }};
}

/// A DynamoDB configuration from `AWS_REGION` (else `AWS_DEFAULT_REGION`), the access key
/// variables and `AWS_ENDPOINT_URL_DYNAMODB` (else `AWS_ENDPOINT_URL`), looked up with `var`.
/// Without a region or a key every call fails with the SDK's own error saying which is missing.
pub fn from_variables(var: &dyn Fn(&str) -> Option<String>, timeouts: TimeoutConfig) -> aws_sdk_dynamodb::Config {
    from_variables_of!(aws_sdk_dynamodb, "DYNAMODB", var, timeouts)
}

/// The same for SQS, with `AWS_ENDPOINT_URL_SQS` (else `AWS_ENDPOINT_URL`).
pub fn sqs_from_variables(var: &dyn Fn(&str) -> Option<String>, timeouts: TimeoutConfig) -> aws_sdk_sqs::Config {
    from_variables_of!(aws_sdk_sqs, "SQS", var, timeouts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| vars.get(name).cloned()
    }

    fn config_of(pairs: &[(&str, &str)]) -> aws_sdk_dynamodb::Config {
        from_variables(&lookup(pairs), TimeoutConfig::builder().build())
    }

    #[test]
    fn the_region_comes_from_aws_region_before_the_default_region() {
        let config = config_of(&[("AWS_REGION", "eu-west-1"), ("AWS_DEFAULT_REGION", "us-east-1")]);
        assert_eq!(config.region().map(Region::as_ref), Some("eu-west-1"));
        let config = config_of(&[("AWS_DEFAULT_REGION", "us-east-1")]);
        assert_eq!(config.region().map(Region::as_ref), Some("us-east-1"));
    }

    #[test]
    fn each_service_takes_its_own_endpoint_variable_before_the_shared_one() {
        let var = lookup(&[
            ("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:1"),
            ("AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:2"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:3"),
        ]);
        assert_eq!(variables(&var, "DYNAMODB").endpoint.as_deref(), Some("http://127.0.0.1:1"));
        assert_eq!(variables(&var, "SQS").endpoint.as_deref(), Some("http://127.0.0.1:2"));
        let var = lookup(&[("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:1"), ("AWS_ENDPOINT_URL", "http://127.0.0.1:3")]);
        assert_eq!(variables(&var, "SQS").endpoint.as_deref(), Some("http://127.0.0.1:3"));
        assert_eq!(variables(&lookup(&[("AWS_ENDPOINT_URL_SQS", "")]), "SQS").endpoint, None);
    }

    #[test]
    fn keys_count_only_as_a_pair_and_the_sqs_configuration_has_the_region() {
        let var = lookup(&[("AWS_REGION", "eu-west-1"), ("AWS_ACCESS_KEY_ID", "AKID"), ("AWS_SECRET_ACCESS_KEY", "secret")]);
        assert_eq!(variables(&var, "SQS").credentials.map(|keys| keys.access_key_id().to_owned()).as_deref(), Some("AKID"));
        let config = sqs_from_variables(&var, TimeoutConfig::builder().build());
        assert_eq!(config.region().map(Region::as_ref), Some("eu-west-1"));
        assert!(variables(&lookup(&[("AWS_ACCESS_KEY_ID", "AKID")]), "SQS").credentials.is_none());
    }
}
