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
//!
//! A local server (an endpoint on loopback, `localhost` or `host.docker.internal`) needs no AWS
//! account: when nothing configures a region or credentials, region `us-east-1` and placeholder
//! credentials are used, said once in one `info` line ([`LOCAL_REGION`]). Without them the
//! chain would ask the EC2 metadata service, which is not there (a wall of warnings), and end
//! with an error that does not say what to set. Anything configured (variables, profiles) is
//! used as it is: DynamoDB Local keeps one database per access key and region.

use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region, SharedHttpClient};

/// The region a local server is called in when nothing configures one.
pub const LOCAL_REGION: &str = "us-east-1";

/// The placeholder access key (and secret) for a local server when nothing configures one.
pub const LOCAL_ACCESS_KEY: &str = "local";

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The DynamoDB client for this process, from its environment.
pub(crate) async fn client(timeouts: TimeoutConfig) -> aws_sdk_dynamodb::Client {
    #[cfg(feature = "sdk-config-chain")]
    {
        aws_sdk_dynamodb::Client::new(&chain(timeouts, "DYNAMODB").await)
    }
    #[cfg(not(feature = "sdk-config-chain"))]
    {
        let config = from_variables(&env_var, timeouts);
        aws_sdk_dynamodb::Client::from_conf(config)
    }
}

/// The SQS client for this process, from its environment.
pub(crate) async fn sqs_client(timeouts: TimeoutConfig) -> aws_sdk_sqs::Client {
    #[cfg(feature = "sdk-config-chain")]
    {
        aws_sdk_sqs::Client::new(&chain(timeouts, "SQS").await)
    }
    #[cfg(not(feature = "sdk-config-chain"))]
    {
        aws_sdk_sqs::Client::from_conf(sqs_from_variables(&env_var, timeouts))
    }
}

/// The SDK's whole provider chain; it reads `AWS_ENDPOINT_URL_<SERVICE>` itself. A local
/// endpoint gets the local region and credentials when neither the variables nor a profile
/// file configure them.
#[cfg(feature = "sdk-config-chain")]
async fn chain(timeouts: TimeoutConfig, service: &str) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(https()).timeout_config(timeouts);
    if let Some(local) = local_defaults(&variables(&env_var, service), &configured_elsewhere().await) {
        if local.region {
            loader = loader.region(Region::from_static(LOCAL_REGION));
        }
        if local.credentials {
            loader = loader.credentials_provider(local_credentials());
        }
        say_once(&local);
    }
    loader.load().await
}

/// What the provider chain would find beyond the variables: a profile's region, and any source
/// of credentials (profile files, a named profile, web identity, container credentials).
#[cfg(feature = "sdk-config-chain")]
async fn configured_elsewhere() -> Elsewhere {
    use aws_config::meta::region::ProvideRegion;
    let var = |name: &str| env_var(name).filter(|value| !value.is_empty());
    let home = var("HOME").map(std::path::PathBuf::from);
    let file = |variable: &str, under_home: &str| {
        var(variable).map(std::path::PathBuf::from).or_else(|| home.as_ref().map(|home| home.join(under_home)))
    };
    let files = [file("AWS_CONFIG_FILE", ".aws/config"), file("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials")]
        .into_iter()
        .flatten()
        .any(|path| path.is_file());
    let region = files && aws_config::profile::ProfileFileRegionProvider::new().region().await.is_some();
    let credentials = files
        || ["AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"]
            .iter()
            .any(|name| var(name).is_some());
    Elsewhere { region, credentials }
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

/// What configures a region or credentials besides the variables (profiles, for the chain).
#[derive(Debug, Default, Clone, Copy)]
struct Elsewhere {
    region: bool,
    credentials: bool,
}

/// The local placeholders a client takes: for a local endpoint, whatever nothing configures.
#[derive(Debug, PartialEq, Eq)]
struct LocalDefaults {
    endpoint: String,
    region: bool,
    credentials: bool,
}

/// `None` unless the endpoint is a local server and a region or credentials are missing.
fn local_defaults(variables: &Variables, elsewhere: &Elsewhere) -> Option<LocalDefaults> {
    let endpoint = variables.endpoint.as_deref().filter(|endpoint| is_local(endpoint))?;
    let region = variables.region.is_none() && !elsewhere.region;
    let credentials = variables.credentials.is_none() && !elsewhere.credentials;
    (region || credentials).then(|| LocalDefaults { endpoint: endpoint.to_owned(), region, credentials })
}

/// An endpoint on this machine (loopback, `localhost`) or on the host of a container
/// (`host.docker.internal`): never AWS, so placeholders cannot reach an account.
fn is_local(endpoint: &str) -> bool {
    let Ok(uri) = endpoint.parse::<http::Uri>() else { return false };
    let Some(host) = uri.host() else { return false };
    let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
    if host == "localhost" || host.ends_with(".localhost") || host == "host.docker.internal" {
        return true;
    }
    host.parse::<std::net::IpAddr>().is_ok_and(|address| address.is_loopback() || address.is_unspecified())
}

fn local_credentials() -> Credentials {
    Credentials::new(LOCAL_ACCESS_KEY, LOCAL_ACCESS_KEY, None, None, "local server defaults")
}

/// One `info` line per process, whichever clients take the placeholders.
fn say_once(local: &LocalDefaults) {
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| {
        let what = match (local.region, local.credentials) {
            (true, true) => format!("region {LOCAL_REGION} and placeholder credentials"),
            (true, false) => format!("region {LOCAL_REGION}"),
            _ => "placeholder credentials".to_owned(),
        };
        tracing::info!(
            endpoint = %local.endpoint,
            "a local AWS endpoint and no AWS set-up: using {what} (AWS_REGION and AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY choose others)"
        );
    });
}

/// A client configuration of the SDK crate `$sdk` for `$service` from the variables, our HTTP
/// client and `timeouts`: one body for every service the connector calls.
macro_rules! from_variables_of {
    ($sdk:ident, $service:literal, $var:expr, $timeouts:expr) => {{
        let found = variables($var, $service);
        let local = local_defaults(&found, &Elsewhere::default());
        let Variables { mut region, mut credentials, endpoint } = found;
        if let Some(local) = local {
            if local.region {
                region = Some(Region::from_static(LOCAL_REGION));
            }
            if local.credentials {
                credentials = Some(local_credentials());
            }
            say_once(&local);
        }
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
/// Without a region or a key every call fails with the SDK's own error saying which is missing,
/// except against a local server, which gets the local placeholders.
pub fn from_variables(var: &dyn Fn(&str) -> Option<String>, timeouts: TimeoutConfig) -> aws_sdk_dynamodb::Config {
    from_variables_of!(aws_sdk_dynamodb, "DYNAMODB", var, timeouts)
}

/// The same for SQS, with `AWS_ENDPOINT_URL_SQS` (else `AWS_ENDPOINT_URL`).
pub fn sqs_from_variables(var: &dyn Fn(&str) -> Option<String>, timeouts: TimeoutConfig) -> aws_sdk_sqs::Config {
    from_variables_of!(aws_sdk_sqs, "SQS", var, timeouts)
}

/// The Secrets Manager client for this process, from its environment.
pub(crate) async fn secrets_client(timeouts: TimeoutConfig) -> aws_sdk_secretsmanager::Client {
    #[cfg(feature = "sdk-config-chain")]
    {
        aws_sdk_secretsmanager::Client::new(&chain(timeouts, "SECRETS_MANAGER").await)
    }
    #[cfg(not(feature = "sdk-config-chain"))]
    {
        aws_sdk_secretsmanager::Client::from_conf(from_variables_of!(aws_sdk_secretsmanager, "SECRETS_MANAGER", &env_var, timeouts))
    }
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

    #[test]
    fn a_local_endpoint_without_region_or_keys_gets_the_local_region_and_placeholder_credentials() {
        let config = config_of(&[("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000")]);
        assert_eq!(config.region().map(Region::as_ref), Some(LOCAL_REGION));
        let local =
            local_defaults(&variables(&lookup(&[("AWS_ENDPOINT_URL", "http://localhost:8000")]), "DYNAMODB"), &Elsewhere::default());
        assert_eq!(local, Some(LocalDefaults { endpoint: "http://localhost:8000".to_owned(), region: true, credentials: true }));
    }

    #[test]
    fn what_the_variables_or_a_profile_configure_is_kept_for_a_local_endpoint() {
        let var = lookup(&[("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000"), ("AWS_REGION", "eu-west-1")]);
        let local = local_defaults(&variables(&var, "DYNAMODB"), &Elsewhere::default()).unwrap();
        assert!(!local.region && local.credentials);
        assert_eq!(
            config_of(&[("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000"), ("AWS_REGION", "eu-west-1")]).region().map(Region::as_ref),
            Some("eu-west-1")
        );
        let var =
            lookup(&[("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000"), ("AWS_ACCESS_KEY_ID", "a"), ("AWS_SECRET_ACCESS_KEY", "b")]);
        let local = local_defaults(&variables(&var, "DYNAMODB"), &Elsewhere::default()).unwrap();
        assert!(local.region && !local.credentials);
        let profile = Elsewhere { region: true, credentials: true };
        assert_eq!(local_defaults(&variables(&lookup(&[("AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:1")]), "SQS"), &profile), None);
    }

    #[test]
    fn only_a_local_endpoint_gets_placeholders() {
        for endpoint in [
            "http://127.0.0.1:8000",
            "http://localhost:4566",
            "http://[::1]:8000",
            "http://host.docker.internal:8000",
            "http://0.0.0.0:8000",
        ] {
            assert!(is_local(endpoint), "{endpoint}");
        }
        for endpoint in [
            "https://dynamodb.eu-west-1.amazonaws.com",
            "http://10.0.0.5:8000",
            "https://vpce-1.dynamodb.eu-west-1.vpce.amazonaws.com",
            "not a url",
        ] {
            assert!(!is_local(endpoint), "{endpoint}");
        }
        assert_eq!(local_defaults(&variables(&lookup(&[]), "DYNAMODB"), &Elsewhere::default()), None);
        let remote = lookup(&[("AWS_ENDPOINT_URL_DYNAMODB", "https://dynamodb.eu-west-1.amazonaws.com")]);
        assert_eq!(local_defaults(&variables(&remote, "DYNAMODB"), &Elsewhere::default()), None);
        assert_eq!(config_of(&[("AWS_ENDPOINT_URL_DYNAMODB", "https://dynamodb.eu-west-1.amazonaws.com")]).region(), None);
    }
}
