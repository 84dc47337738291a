//! The production [`StateStore`]: one DynamoDB table, partition key `pk`, TTL on `expires_at`.
//!
//! | `pk`                          | attributes                                                  |
//! |-------------------------------|-------------------------------------------------------------|
//! | `conv#<externalId>`           | `version` N, `conversation` M, `outbox` M, `expires_at` N  |
//! | `seen#<channel>#<message id>` | `attempted` N, `total` N (how far its delivery got), `started_at` N (the last send started, not known ended) or `unconfirmed_at` N (its answer lost), `expires_at` N |
//! | `chat#<hyperchat chat id>`    | `conversation` S (the externalId), `expires_at` N           |
//! | `ticket#<ticket number>`, `contact#<e-mail>` | `conversation` S, `address` M (who ticket replies reach), `expires_at` N |
//! | `cache#<kind>#<key>`          | `value` S, `expires_at` N                                   |
//!
//! A commit whose condition fails is read back before it is believed: the SDK retries a write
//! whose answer came late, and the retry then fails the condition the first attempt satisfied.
//! Local DynamoDB servers never delete expired items, and DynamoDB itself does it late, so
//! every read compares `expires_at` with the clock.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, Put, ScalarAttributeType, TimeToLiveSpecification,
    TransactWriteItem, Update,
};
use connector_core::store::{
    Cache, Commit, Conversations, Dedupe, Indexes, LastSend, Progress, StoreError, TicketKey, TicketRecipient, Versioned,
};
use connector_engine::conversation::{Conversation, ConversationKey};
use connector_engine::values::{MessageId, Timestamp};
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

    /// A client configured from the environment (region, credentials, and
    /// `AWS_ENDPOINT_URL_DYNAMODB` for a local server: [`crate::sdk_config`]), with timeouts
    /// that fit a webhook.
    pub async fn from_env(table: impl Into<String>) -> Self {
        let timeouts = aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(2))
            .operation_attempt_timeout(Duration::from_secs(2))
            .operation_timeout(Duration::from_secs(6))
            .build();
        Self::new(crate::sdk_config::client(timeouts).await, table)
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
            .map_err(failed)?;
        Ok(())
    }
}

fn unavailable(error: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Unavailable(Box::new(error))
}

/// A failed call: refused as such (a key over the size limit, a malformed request) or not.
fn failed<E>(error: SdkError<E>) -> StoreError
where
    SdkError<E>: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if error.code() == Some("ValidationException") { StoreError::Invalid(Box::new(error)) } else { unavailable(error) }
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

fn progress_pk(id: &MessageId) -> String {
    format!("seen#{id}")
}

/// Reads a stored conversation. An item written by an older or broken version is replaced by a
/// fresh conversation (and said loudly), so it never leaves the user without answers.
fn read_conversation(item: &Item, now: Timestamp) -> Versioned {
    let version = number(item, "version").and_then(|v| u64::try_from(v).ok()).unwrap_or(0);
    let live = number(item, "expires_at").is_some_and(|at| at > now.0);
    let conversation = match item.get("conversation").filter(|_| live) {
        Some(stored) => serde_dynamo::from_attribute_value(stored.clone()).unwrap_or_else(|error| {
            // The request's span names the conversation (by its keyed fingerprint).
            tracing::error!(%error, "stored conversation unreadable, starting a fresh one");
            Conversation::default()
        }),
        None => Conversation::default(),
    };
    let outbox = match item.get("outbox").filter(|_| live) {
        Some(stored) => serde_dynamo::from_attribute_value(stored.clone())
            .map_err(|error| tracing::error!(%error, "stored outbox unreadable, dropped"))
            .ok(),
        None => None,
    };
    Versioned { version, conversation, outbox }
}

impl DynamoStore {
    async fn read(&self, pk: String) -> Result<Option<Item>, StoreError> {
        let output = self.client.get_item().table_name(&self.table).key("pk", s(&pk)).consistent_read(true).send().await.map_err(failed)?;
        Ok(output.item)
    }
}

#[async_trait]
impl Dedupe for DynamoStore {
    async fn progress(&self, id: &MessageId, now: Timestamp) -> Result<Option<Progress>, StoreError> {
        let Some(item) = self.read(progress_pk(id)).await? else { return Ok(None) };
        if number(&item, "expires_at").is_none_or(|at| at <= now.0) {
            return Ok(None);
        }
        let count = |name| number(&item, name).and_then(|n| usize::try_from(n).ok()).unwrap_or(0);
        let last_send = match (number(&item, "unconfirmed_at"), number(&item, "started_at")) {
            (Some(at), _) => LastSend::AnswerLost(Timestamp(at)),
            (None, Some(at)) => LastSend::Started(Timestamp(at)),
            (None, None) => LastSend::Settled,
        };
        Ok(Some(Progress { attempted: count("attempted"), total: count("total"), last_send }))
    }

    async fn record_progress(&self, id: &MessageId, progress: Progress, expires_at: Timestamp) -> Result<(), StoreError> {
        // A plain put: one writer per message at a time (the queue's order), and the same put
        // repeated by the SDK's retry changes nothing.
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(&progress_pk(id)))
            .item("attempted", n(progress.attempted))
            .item("total", n(progress.total))
            .item("expires_at", n(expires_at.0));
        match progress.last_send {
            LastSend::Settled => {}
            LastSend::Started(at) => put = put.item("started_at", n(at.0)),
            LastSend::AnswerLost(at) => put = put.item("unconfirmed_at", n(at.0)),
        }
        put.send().await.map_err(failed)?;
        Ok(())
    }
}

#[async_trait]
impl Conversations for DynamoStore {
    async fn load(&self, key: &ConversationKey, now: Timestamp) -> Result<Versioned, StoreError> {
        Ok(self.read(conversation_pk(key)).await?.map(|item| read_conversation(&item, now)).unwrap_or_default())
    }

    async fn commit(&self, commit: &Commit<'_>) -> Result<(), StoreError> {
        let Commit { key, version, conversation, outbox, chat_opened, expires_at } = *commit;
        let stored: AttributeValue = serde_dynamo::to_attribute_value(conversation).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let stored_outbox: AttributeValue = serde_dynamo::to_attribute_value(outbox).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let condition = if version == 0 { "attribute_not_exists(version)" } else { "version = :version" };
        let mut values = HashMap::from([
            (":next".to_owned(), n(version + 1)),
            (":conversation".to_owned(), stored),
            (":outbox".to_owned(), stored_outbox),
            (":expires".to_owned(), n(expires_at.0)),
        ]);
        if version > 0 {
            values.insert(":version".to_owned(), n(version));
        }
        let update_expression = "SET version = :next, conversation = :conversation, outbox = :outbox, expires_at = :expires";
        match chat_opened {
            None => {
                let written = self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .key("pk", s(&conversation_pk(key)))
                    .update_expression(update_expression)
                    .condition_expression(condition)
                    .set_expression_attribute_values(Some(values))
                    .send()
                    .await;
                match written {
                    Ok(_) => return Ok(()),
                    Err(error) if !is_condition_failure(&error) => return Err(failed(error)),
                    Err(_) => {}
                }
            }
            // The chat's index in the same transaction: its events find the conversation as
            // soon as the chat is known to be ours.
            Some(chat_id) => {
                let update = Update::builder()
                    .table_name(&self.table)
                    .key("pk", s(&conversation_pk(key)))
                    .update_expression(update_expression)
                    .condition_expression(condition)
                    .set_expression_attribute_values(Some(values))
                    .build()
                    .map_err(unavailable)?;
                let index = Put::builder()
                    .table_name(&self.table)
                    .item("pk", s(&format!("chat#{chat_id}")))
                    .item("conversation", s(key.as_str()))
                    .item("expires_at", n(expires_at.0))
                    .build()
                    .map_err(unavailable)?;
                let items = vec![TransactWriteItem::builder().update(update).build(), TransactWriteItem::builder().put(index).build()];
                // The SDK gives the call an idempotency token, so its own retries are safe.
                match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
                    Ok(_) => return Ok(()),
                    Err(error) if error.code() == Some("TransactionCanceledException") => {}
                    Err(error) => return Err(failed(error)),
                }
            }
        }
        // The condition failed: our own first attempt may have been applied and answered late.
        let item = self.read(conversation_pk(key)).await?.unwrap_or_default();
        let ours = number(&item, "version") == i64::try_from(version + 1).ok()
            && item.get("outbox").and_then(|o| o.as_m().ok()).and_then(|o| o.get("message_id")).and_then(|v| v.as_s().ok())
                == Some(&outbox.message_id.to_string());
        if ours { Ok(()) } else { Err(StoreError::Conflict(format!("version {version} moved"))) }
    }

    async fn peek(&self, key: &ConversationKey, now: Timestamp) -> Result<Option<Conversation>, StoreError> {
        let Some(item) = self.read(conversation_pk(key)).await? else { return Ok(None) };
        if number(&item, "expires_at").is_none_or(|at| at <= now.0) {
            return Ok(None);
        }
        Ok(Some(read_conversation(&item, now).conversation))
    }
}

#[async_trait]
impl Indexes for DynamoStore {
    async fn chat_conversation(&self, chat_id: &str, now: Timestamp) -> Result<Option<ConversationKey>, StoreError> {
        let Some(item) = self.read(format!("chat#{chat_id}")).await? else { return Ok(None) };
        if number(&item, "expires_at").is_none_or(|at| at <= now.0) {
            return Ok(None);
        }
        Ok(item.get("conversation").and_then(|v| v.as_s().ok()).map(ConversationKey::new))
    }

    async fn index_ticket(&self, key: &TicketKey, recipient: &TicketRecipient, expires_at: Timestamp) -> Result<(), StoreError> {
        let address: AttributeValue =
            serde_dynamo::to_attribute_value(&recipient.address).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(&key.stored()))
            .item("conversation", s(recipient.conversation.as_str()))
            .item("address", address)
            .item("expires_at", n(expires_at.0))
            .send()
            .await
            .map_err(failed)?;
        Ok(())
    }

    async fn ticket_recipient(&self, key: &TicketKey, now: Timestamp) -> Result<Option<TicketRecipient>, StoreError> {
        let Some(item) = self.read(key.stored()).await? else { return Ok(None) };
        if number(&item, "expires_at").is_none_or(|at| at <= now.0) {
            return Ok(None);
        }
        let Some(conversation) = item.get("conversation").and_then(|v| v.as_s().ok()).map(ConversationKey::new) else { return Ok(None) };
        let Some(stored) = item.get("address") else { return Ok(None) };
        let address = serde_dynamo::from_attribute_value(stored.clone()).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(Some(TicketRecipient { conversation, address }))
    }
}

#[async_trait]
impl Cache for DynamoStore {
    async fn cache_get(&self, key: &str, now: Timestamp) -> Result<Option<String>, StoreError> {
        let Some(item) = self.read(format!("cache#{key}")).await? else { return Ok(None) };
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
            .map_err(failed)?;
        Ok(())
    }
}
