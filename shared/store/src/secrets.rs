//! The deployment's secrets in AWS Secrets Manager: one secret whose value is a JSON object of
//! environment variable names and their values (`{"INBENTA_API_SECRET": "…", "TWILIO_AUTH_TOKEN":
//! "…"}`), named by `SECRETS_ID` (the template's `ConnectorSecrets`). Functions read it at cold
//! start, so secrets are set after a deploy (or rotated) without one, and never appear in
//! CloudFormation parameters; a webhook whose signature fails reads it again (a secret set after
//! the first requests, as Smooch's webhook secret must be).

use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use secrecy::SecretString;
use std::time::Duration;

/// The environment variable that names the secret (its ARN or name).
pub const SECRETS_ID: &str = "SECRETS_ID";

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("the secret {id} could not be read (does the function's role allow secretsmanager:GetSecretValue on it?)")]
    Unreadable {
        id: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A value that is not a JSON object of strings: said without quoting it.
    #[error("the secret {id} is not a JSON object of environment variable names to strings ({reason})")]
    NotAnObject { id: String, reason: &'static str },
}

/// Where the secrets are read from.
pub struct SecretsSource {
    client: aws_sdk_secretsmanager::Client,
    id: String,
}

impl SecretsSource {
    /// The secret `id`, through this process's AWS configuration.
    pub async fn new(id: &str) -> Self {
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(2))
            .operation_attempt_timeout(Duration::from_secs(3))
            .operation_timeout(Duration::from_secs(8))
            .build();
        Self { client: crate::sdk_config::secrets_client(timeouts).await, id: id.to_owned() }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The secret's variables, as stored now. Values stay wrapped: they never print.
    pub async fn read(&self) -> Result<Vec<(String, SecretString)>, SecretsError> {
        let answer = self
            .client
            .get_secret_value()
            .secret_id(&self.id)
            .send()
            .await
            .map_err(|error| SecretsError::Unreadable { id: self.id.clone(), source: Box::new(error.into_service_error()) })?;
        parse(&self.id, answer.secret_string().unwrap_or("{}"))
    }
}

impl SecretsSource {
    /// Sets one variable in the secret, keeping the others (`connector-local register` stores
    /// Smooch's webhook secret so). Whether it changed anything.
    pub async fn set(&self, name: &str, value: &SecretString) -> Result<bool, SecretsError> {
        use secrecy::ExposeSecret as _;
        let unreadable = |error: Box<dyn std::error::Error + Send + Sync>| SecretsError::Unreadable { id: self.id.clone(), source: error };
        let current =
            self.client.get_secret_value().secret_id(&self.id).send().await.map_err(|e| unreadable(Box::new(e.into_service_error())))?;
        let mut object: serde_json::Map<String, serde_json::Value> = match current.secret_string() {
            None | Some("") => serde_json::Map::new(),
            Some(text) => {
                serde_json::from_str(text).map_err(|_| SecretsError::NotAnObject { id: self.id.clone(), reason: "not a JSON object" })?
            }
        };
        if object.get(name).and_then(serde_json::Value::as_str) == Some(value.expose_secret()) {
            return Ok(false);
        }
        object.insert(name.to_owned(), serde_json::Value::from(value.expose_secret()));
        let text = serde_json::Value::Object(object).to_string();
        self.client
            .put_secret_value()
            .secret_id(&self.id)
            .secret_string(text)
            .send()
            .await
            .map_err(|e| unreadable(Box::new(e.into_service_error())))?;
        Ok(true)
    }
}

/// The variables of a secret's JSON object; an empty string sets nothing.
pub fn parse(id: &str, text: &str) -> Result<Vec<(String, SecretString)>, SecretsError> {
    let not_an_object = |reason| SecretsError::NotAnObject { id: id.to_owned(), reason };
    let value: serde_json::Value = serde_json::from_str(text).map_err(|_| not_an_object("not JSON"))?;
    let object = value.as_object().ok_or_else(|| not_an_object("not an object"))?;
    object
        .iter()
        .filter(|(_, value)| value.as_str() != Some(""))
        .map(|(name, value)| match value.as_str() {
            Some(text) => Ok((name.clone(), SecretString::from(text.to_owned()))),
            None => Err(not_an_object("a value is not a string")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn a_secret_is_read_as_variables_and_empty_values_set_nothing() {
        let read = parse("s", r#"{"TWILIO_AUTH_TOKEN":"t0k","SMOOCH_WEBHOOK_SECRET":""}"#).unwrap();
        let read: Vec<(&str, &str)> = read.iter().map(|(k, v)| (k.as_str(), v.expose_secret())).collect();
        assert_eq!(read, [("TWILIO_AUTH_TOKEN", "t0k")]);
    }

    #[test]
    fn a_secret_that_is_no_object_of_strings_is_refused_without_quoting_it() {
        for (text, reason) in
            [("hunter2", "not JSON"), ("[\"hunter2\"]", "not an object"), (r#"{"A":{"hunter2":1}}"#, "a value is not a string")]
        {
            let error = parse("s", text).unwrap_err().to_string();
            assert!(error.contains(reason) && !error.contains("hunter2"), "{error}");
        }
    }
}
