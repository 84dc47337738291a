//! The production [`StateStore`]: one DynamoDB table, partition key `pk`, TTL on `expires_at`.
//!
//! | `pk`                          | attributes                                                  |
//! |-------------------------------|-------------------------------------------------------------|
//! | `conv#<externalId>`           | `version` N, `conversation` M, `lease_owner` S, `lease_until` N, `expires_at` N |
//! | `seen#<channel>#<message id>` | `expires_at` N                                              |
//! | `cache#<kind>#<key>`          | `value` S, `expires_at` N                                   |
//!
//! Local DynamoDB servers never delete expired items, and DynamoDB itself does it late, so every
//! read compares `expires_at` with the clock.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, ReturnValue, ScalarAttributeType,
    TimeToLiveSpecification,
};
use connector_engine::conversation::{Conversation, ConversationKey};
use connector_engine::ports::{Acquired, Claim, Lease, StateStore, StoreError, Timestamp, Versioned};
use std::collections::HashMap;
use std::time::Duration;

pub struct DynamoStore {
    client: Client,
    table: String,
}

type Item = HashMap<String, AttributeValue>;

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    /// A client from the SDK's own configuration chain (region, credentials, and
    /// `AWS_ENDPOINT_URL_DYNAMODB` for a local server), with timeouts that fit a webhook.
    pub async fn from_env(table: impl Into<String>) -> Self {
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(2))
            .operation_attempt_timeout(Duration::from_secs(2))
            .operation_timeout(Duration::from_secs(6))
            .build();
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest()).timeout_config(timeouts).load().await;
        Self::new(Client::new(&config), table)
    }

    /// Creates the table (pay per request, TTL on `expires_at`) if it does not exist.
    /// For local use and tests; in AWS the SAM template owns the table.
    pub async fn ensure_table(&self) -> Result<(), StoreError> {
        if self.client.describe_table().table_name(&self.table).send().await.is_ok() {
            return Ok(());
        }
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(
                AttributeDefinition::builder().attribute_name("pk").attribute_type(ScalarAttributeType::S).build().map_err(unavailable)?,
            )
            .key_schema(KeySchemaElement::builder().attribute_name("pk").key_type(KeyType::Hash).build().map_err(unavailable)?)
            .send()
            .await;
        if let Err(error) = created {
            if error.code() != Some("ResourceInUseException") {
                return Err(unavailable(error));
            }
        }
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder().attribute_name("expires_at").enabled(true).build().map_err(unavailable)?,
            )
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

fn unavailable(error: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Unavailable(Box::new(error))
}

fn is_condition_failure<E: ProvideErrorMetadata>(error: &SdkError<E>) -> bool {
    error.as_service_error().and_then(ProvideErrorMetadata::code) == Some("ConditionalCheckFailedException")
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn number(item: &Item, name: &str) -> Option<i64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

fn conversation_pk(key: &ConversationKey) -> String {
    format!("conv#{key}")
}

fn read_conversation(item: &Item, now: Timestamp) -> Result<Versioned, StoreError> {
    let version = number(item, "version").and_then(|v| u64::try_from(v).ok()).unwrap_or(0);
    let live = number(item, "expires_at").is_some_and(|at| at > now.0);
    let conversation = match item.get("conversation") {
        Some(stored) if live => serde_dynamo::from_attribute_value(stored.clone()).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        _ => Conversation::default(),
    };
    Ok(Versioned { version, conversation })
}

#[async_trait]
impl StateStore for DynamoStore {
    async fn claim_message(&self, id: &str, expires_at: Timestamp) -> Result<Claim, StoreError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(&format!("seen#{id}")))
            .item("expires_at", n(expires_at.0))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match put {
            Ok(_) => Ok(Claim::New),
            Err(error) if is_condition_failure(&error) => Ok(Claim::Duplicate),
            Err(error) => Err(unavailable(error)),
        }
    }

    async fn release_message(&self, id: &str) -> Result<(), StoreError> {
        self.client.delete_item().table_name(&self.table).key("pk", s(&format!("seen#{id}"))).send().await.map_err(unavailable)?;
        Ok(())
    }

    async fn acquire(&self, key: &ConversationKey, lease: &Lease, now: Timestamp) -> Result<Acquired, StoreError> {
        let updated = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&conversation_pk(key)))
            // A conversation first seen here expires with the lease unless a commit extends it.
            .update_expression("SET lease_owner = :owner, lease_until = :until, expires_at = if_not_exists(expires_at, :until)")
            .condition_expression("attribute_not_exists(lease_owner) OR lease_until <= :now OR lease_owner = :owner")
            .expression_attribute_values(":owner", s(&lease.owner))
            .expression_attribute_values(":until", n(lease.until.0))
            .expression_attribute_values(":now", n(now.0))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match updated {
            Ok(output) => Ok(Acquired::Locked(read_conversation(&output.attributes.unwrap_or_default(), now)?)),
            Err(error) if is_condition_failure(&error) => Ok(Acquired::Busy),
            Err(error) => Err(unavailable(error)),
        }
    }

    async fn commit(
        &self,
        key: &ConversationKey,
        lease: &Lease,
        version: u64,
        conversation: &Conversation,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        let stored: AttributeValue = serde_dynamo::to_attribute_value(conversation).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let version_check = if version == 0 { "attribute_not_exists(version)" } else { "version = :version" };
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&conversation_pk(key)))
            .update_expression("SET version = :next, conversation = :conversation, expires_at = :expires REMOVE lease_owner, lease_until")
            .condition_expression(format!("lease_owner = :owner AND {version_check}"))
            .expression_attribute_values(":owner", s(&lease.owner))
            .expression_attribute_values(":next", n(version + 1))
            .expression_attribute_values(":conversation", stored)
            .expression_attribute_values(":expires", n(expires_at.0));
        if version > 0 {
            update = update.expression_attribute_values(":version", n(version));
        }
        match update.send().await {
            Ok(_) => Ok(()),
            Err(error) if is_condition_failure(&error) => Err(StoreError::Conflict(format!("lease or version {version} lost"))),
            Err(error) => Err(unavailable(error)),
        }
    }

    async fn release(&self, key: &ConversationKey, lease: &Lease) -> Result<(), StoreError> {
        let released = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&conversation_pk(key)))
            .update_expression("REMOVE lease_owner, lease_until")
            .condition_expression("lease_owner = :owner")
            .expression_attribute_values(":owner", s(&lease.owner))
            .send()
            .await;
        match released {
            Ok(_) => Ok(()),
            // Someone else holds it now (ours expired): nothing of ours to release.
            Err(error) if is_condition_failure(&error) => Ok(()),
            Err(error) => Err(unavailable(error)),
        }
    }

    async fn cache_get(&self, key: &str, now: Timestamp) -> Result<Option<String>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(&format!("cache#{key}")))
            .send()
            .await
            .map_err(unavailable)?;
        let Some(item) = output.item else { return Ok(None) };
        if number(&item, "expires_at").is_none_or(|at| at <= now.0) {
            return Ok(None);
        }
        Ok(item.get("value").and_then(|v| v.as_s().ok()).cloned())
    }

    async fn cache_put(&self, key: &str, value: &str, expires_at: Timestamp) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(&format!("cache#{key}")))
            .item("value", s(value))
            .item("expires_at", n(expires_at.0))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}
