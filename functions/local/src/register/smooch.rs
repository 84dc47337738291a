//! Smooch / Sunshine Conversations: the custom integration's webhook, and where its secret goes.

use super::*;

impl Run {
    /// The webhook (integration id, webhook) of `integration`, or of the app's custom
    /// integrations, whose target is `url`.
    pub(super) async fn find_smooch_webhook(
        &self,
        base: &str,
        key: &str,
        secret: &str,
        integration: Option<&str>,
        url: &str,
    ) -> Result<Option<(String, Value)>, String> {
        let integrations = match integration {
            Some(id) => vec![id.to_owned()],
            None => {
                let mut ids = Vec::new();
                let mut after: Option<String> = None;
                loop {
                    let mut listed = Request::new(Provider::Smooch, reqwest::Method::GET, format!("{base}/integrations"))
                        .query("filter[types]", "custom")
                        .basic(key, secret);
                    if let Some(cursor) = &after {
                        listed = listed.query("page[after]", cursor);
                    }
                    let Some(page) = self.send(listed).await? else { break };
                    ids.extend(page["integrations"].as_array().into_iter().flatten().filter_map(|i| i["id"].as_str().map(str::to_owned)));
                    after = page["meta"]["afterCursor"].as_str().filter(|_| page["meta"]["hasMore"] == true).map(str::to_owned);
                    if after.is_none() {
                        break;
                    }
                }
                ids
            }
        };
        for id in integrations {
            let listed =
                Request::new(Provider::Smooch, reqwest::Method::GET, format!("{base}/integrations/{id}/webhooks")).basic(key, secret);
            let Some(webhooks) = self.send(listed).await? else { continue };
            if let Some(found) = webhooks["webhooks"].as_array().into_iter().flatten().find(|w| text(&w["target"]) == url) {
                return Ok(Some((id, found.clone())));
            }
        }
        Ok(None)
    }

    /// The webhook's outcome and its secret.
    pub(super) async fn smooch(
        &self,
        base: &str,
        key: &str,
        secret: &str,
        integration: Option<&str>,
        url: &str,
    ) -> (Outcome, Option<String>) {
        let found = match self.find_smooch_webhook(base, key, secret, integration, url).await {
            Ok(found) => found,
            Err(error) => return (Outcome::Failed(error), None),
        };
        let secret_of = |webhook: &Value| webhook["secret"].as_str().filter(|s| !s.is_empty()).map(str::to_owned);
        if let Some((integration, webhook)) = found {
            let triggers = strings(&webhook["triggers"]);
            let lacking = missing(&triggers, SMOOCH_TRIGGERS);
            let id = text(&webhook["id"]).to_owned();
            if lacking.is_empty() {
                let outcome =
                    Outcome::Unchanged(format!("webhook {id} of integration {integration} targets it with {}", triggers.join(", ")));
                return (outcome, secret_of(&webhook));
            }
            let patch = Request::new(Provider::Smooch, reqwest::Method::PATCH, format!("{base}/integrations/{integration}/webhooks/{id}"))
                .json(json!({"triggers": union(&triggers, SMOOCH_TRIGGERS)}))
                .basic(key, secret);
            return match self.send(patch).await {
                Err(error) => (Outcome::Failed(error), None),
                Ok(None) => (Outcome::WouldChange(format!("webhook {id}: add the triggers {}", lacking.join(", "))), None),
                Ok(Some(answer)) => (
                    Outcome::Changed(format!("webhook {id} of integration {integration}: added the triggers {}", lacking.join(", "))),
                    secret_of(&answer["webhook"]).or_else(|| secret_of(&webhook)),
                ),
            };
        }
        let webhook = json!({"target": url, "triggers": SMOOCH_TRIGGERS});
        let created = match integration {
            Some(integration) => {
                let create = Request::new(Provider::Smooch, reqwest::Method::POST, format!("{base}/integrations/{integration}/webhooks"))
                    .json(webhook)
                    .basic(key, secret);
                self.send(create).await.map(|answer| answer.map(|a| (integration.to_owned(), a["webhook"].clone())))
            }
            None => {
                let create = Request::new(Provider::Smooch, reqwest::Method::POST, format!("{base}/integrations"))
                    .json(json!({"type": "custom", "displayName": SMOOCH_INTEGRATION_NAME, "webhooks": [webhook]}))
                    .basic(key, secret);
                self.send(create)
                    .await
                    .map(|answer| answer.map(|a| (text(&a["integration"]["id"]).to_owned(), a["integration"]["webhooks"][0].clone())))
            }
        };
        match created {
            Err(error) => (Outcome::Failed(error), None),
            Ok(None) => (Outcome::WouldChange(format!("a webhook to {url} with the triggers {}", SMOOCH_TRIGGERS.join(", "))), None),
            Ok(Some((integration, webhook))) => {
                // The spec gives the secret in the creation's answer "or through a GET request
                // to the webhook route": ask for it when the answer left it out.
                let secret_now = match secret_of(&webhook) {
                    Some(found) => Some(found),
                    None => match self.find_smooch_webhook(base, key, secret, Some(&integration), url).await {
                        Ok(found) => found.and_then(|(_, w)| secret_of(&w)),
                        Err(error) => return (Outcome::Failed(format!("created, but its secret could not be read: {error}")), None),
                    },
                };
                let outcome = Outcome::Changed(format!(
                    "created webhook {} in integration {integration} with the triggers {}",
                    text(&webhook["id"]),
                    SMOOCH_TRIGGERS.join(", ")
                ));
                match secret_now {
                    Some(found) => (outcome, Some(found)),
                    None => (Outcome::Failed(format!("{} (no secret in Smooch's answers)", outcome_text(&outcome))), None),
                }
            }
        }
    }

    /// Puts the webhook's secret in the stack's secret (the `SecretsId` output), where the
    /// functions read `SMOOCH_WEBHOOK_SECRET` (at cold start, and when a signature fails).
    pub(super) async fn put_smooch_secret(&self, secret: &str, secrets_id: &str) -> Outcome {
        self.add_secrets([secret.to_owned()]);
        let source = state_store::secrets::SecretsSource::new(secrets_id).await;
        match source.set("SMOOCH_WEBHOOK_SECRET", &secret.to_owned().into()).await {
            Ok(true) => {
                Outcome::Changed(format!("SMOOCH_WEBHOOK_SECRET put in {secrets_id}: the Smooch function reads it on its next webhook"))
            }
            Ok(false) => Outcome::Unchanged(format!("SMOOCH_WEBHOOK_SECRET in {secrets_id} already holds the webhook's secret")),
            Err(error) => Outcome::Failed(connector_engine::error_chain(&error)),
        }
    }

    /// Without the stack's secret: writes the webhook's secret where the operator can put it,
    /// and prints how.
    pub(super) fn store_smooch_secret(&self, secret: &str, file: &Path, local: Option<&str>) -> Outcome {
        self.add_secrets([secret.to_owned()]);
        if local == Some(secret) {
            return Outcome::Unchanged("SMOOCH_WEBHOOK_SECRET in this environment already holds the webhook's secret".into());
        }
        let unchanged = std::fs::read_to_string(file).is_ok_and(|current| current.trim() == secret);
        if !unchanged {
            if let Err(error) = write_private(file, secret) {
                return Outcome::Failed(format!("cannot write the webhook's secret to {}: {error}", file.display()));
            }
        }
        let path = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
        self.say(
            "  The functions read it as SMOOCH_WEBHOOK_SECRET from the stack's Secrets Manager secret (the SecretsId output; README, \"Secrets\"): put it there (given the stack's outputs, this command does), then delete the file: a later run reads the secret from Smooch again.",
        );
        let written = format!("the webhook's secret is in {} (readable by you only)", path.display());
        if unchanged { Outcome::Unchanged(written) } else { Outcome::Changed(written) }
    }
}

/// Writes `secret` to `file`, readable and writable by its owner only.
pub(super) fn write_private(file: &Path, secret: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut handle = options.open(file)?;
    // A file that existed keeps its mode through open: make it private before writing.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        handle.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    handle.write_all(secret.as_bytes())?;
    handle.write_all(b"\n")
}
