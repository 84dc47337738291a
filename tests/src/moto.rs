//! Calls to the moto server `scripts/test.sh` starts, for tests that set up what AWS would hold
//! (a Secrets Manager secret). Moto checks no signature.

use serde_json::Value;

/// One call of moto's Secrets Manager (`AWS_ENDPOINT_URL_SECRETS_MANAGER`, JSON protocol):
/// `target` is the operation (`CreateSecret`, `PutSecretValue`, `GetSecretValue`).
pub async fn secrets_manager(target: &str, body: Value) -> Value {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_SECRETS_MANAGER").expect("scripts/test.sh sets AWS_ENDPOINT_URL_SECRETS_MANAGER");
    let target = format!("secretsmanager.{target}");
    let headers = [
        ("x-amz-target", target.as_str()),
        ("content-type", "application/x-amz-json-1.1"),
        (
            "authorization",
            "AWS4-HMAC-SHA256 Credential=test/20261207/us-east-1/secretsmanager/aws4_request, SignedHeaders=host, Signature=0",
        ),
    ];
    let url = format!("{}/", endpoint.trim_end_matches('/'));
    let answer = crate::raw_http::send("POST", &url, &headers, body.to_string().as_bytes()).await.expect("moto answers");
    assert!((200..300).contains(&answer.status), "{target}: {} {}", answer.status, answer.text());
    answer.json()
}
