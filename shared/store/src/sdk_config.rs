//! The DynamoDB client's configuration: the product's own HTTP client ([`crate::https`]),
//! timeouts that fit a webhook, and where region, credentials and endpoint come from.
//!
//! The Lambda functions read them from the variables Lambda sets (`AWS_REGION`,
//! `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), which is all the SDK's
//! provider chain would find there; leaving `aws-config` (and the STS client it carries) out
//! of the functions makes each zip smaller (docs/design-notes.md, "Build"). With the
//! `sdk-config-chain` feature, which `connector-local` turns on, the whole chain applies
//! (profiles, SSO, `aws configure`).

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region, SharedHttpClient};

/// The client for this process, from its environment.
pub(crate) async fn client(timeouts: TimeoutConfig) -> Client {
    #[cfg(feature = "sdk-config-chain")]
    {
        let config = aws_config::defaults(BehaviorVersion::latest()).http_client(https()).timeout_config(timeouts).load().await;
        Client::new(&config)
    }
    #[cfg(not(feature = "sdk-config-chain"))]
    {
        Client::from_conf(from_variables(&|name| std::env::var(name).ok(), timeouts))
    }
}

fn https() -> SharedHttpClient {
    crate::https::client()
}

/// A configuration from `AWS_REGION` (else `AWS_DEFAULT_REGION`), the access key variables and
/// `AWS_ENDPOINT_URL_DYNAMODB` (else `AWS_ENDPOINT_URL`), looked up with `var`. Without a region
/// or a key every call fails with the SDK's own error saying which is missing.
pub fn from_variables(var: &dyn Fn(&str) -> Option<String>, timeouts: TimeoutConfig) -> aws_sdk_dynamodb::Config {
    let var = |name: &str| var(name).filter(|value| !value.is_empty());
    let mut config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(https())
        .timeout_config(timeouts)
        .region(var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")).map(Region::new));
    if let (Some(key), Some(secret)) = (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
        config = config.credentials_provider(Credentials::new(key, secret, var("AWS_SESSION_TOKEN"), None, "environment"));
    }
    if let Some(endpoint) = var("AWS_ENDPOINT_URL_DYNAMODB").or_else(|| var("AWS_ENDPOINT_URL")) {
        config = config.endpoint_url(endpoint);
    }
    config.build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config_of(pairs: &[(&str, &str)]) -> aws_sdk_dynamodb::Config {
        let vars: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        from_variables(&|name| vars.get(name).cloned(), TimeoutConfig::builder().build())
    }

    #[test]
    fn the_region_comes_from_aws_region_before_the_default_region() {
        let config = config_of(&[("AWS_REGION", "eu-west-1"), ("AWS_DEFAULT_REGION", "us-east-1")]);
        assert_eq!(config.region().map(Region::as_ref), Some("eu-west-1"));
        let config = config_of(&[("AWS_DEFAULT_REGION", "us-east-1")]);
        assert_eq!(config.region().map(Region::as_ref), Some("us-east-1"));
    }
}
