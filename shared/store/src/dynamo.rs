//! The production [`StateStore`]: one DynamoDB table, partition key `pk`, TTL on `expires_at`.
//!
//! | `pk`                          | attributes                                                  |
//! |-------------------------------|-------------------------------------------------------------|
//! | `conv#<externalId>`           | `version` N, `conversation` M, `outbox` M, `lease_owner` S, `lease_until` N, `expires_at` N |
//! | `seen#<channel>#<message id>` | `claim_state` S (`in_progress`/`done`), `claim_owner` S, `hold_until` N, `expires_at` N |
//! | `chat#<hyperchat chat id>`    | `conversation` S (the externalId), `expires_at` N           |
//! | `ticket#<ticket number>`, `contact#<e-mail>` | `conversation` S, `address` M (who ticket replies reach), `expires_at` N |
//! | `cache#<kind>#<key>`          | `value` S, `expires_at` N                                   |
//!
//! Every conditional write whose condition fails is read back before it is believed: the SDK
//! retries a write whose answer came late, and the retry then fails the condition the first
//! attempt satisfied. Local DynamoDB servers never delete expired items, and DynamoDB itself
//! does it late, so every read compares `expires_at` with the clock.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, Put, ReturnValue, ScalarAttributeType,
    TimeToLiveSpecification, TransactWriteItem, Update,
};
use connector_engine::conversation::{Conversation, ConversationKey};
use connector_engine::ports::{
    Acquired, Claim, ClaimRequest, Lease, MessageId, Outbox, StateStore, StoreError, TicketKey, TicketRecipient, Timestamp, Versioned,
};
use std::collections::HashMap;
use std::time::Duration;

const IN_PROGRESS: &str = "in_progress";
const DONE: &str = "done";
/// A claim that `finish` has to recreate (it was given up meanwhile) is remembered this long.
const DONE_CLAIM_TTL: Duration = Duration::from_secs(86_400);

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

fn claim_pk(id: &MessageId) -> String {
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
    /// Writes all `items` or none; `false` when a condition failed. The SDK gives the call an
    /// idempotency token, so its own retries are safe.
    async fn transact(&self, items: [TransactWriteItem; 2]) -> Result<bool, StoreError> {
        match self.client.transact_write_items().set_transact_items(Some(items.into())).send().await {
            Ok(_) => Ok(true),
            Err(error) if error.code() == Some("TransactionCanceledException") => Ok(false),
            Err(error) => Err(unavailable(error)),
        }
    }

    async fn read(&self, pk: String) -> Result<Option<Item>, StoreError> {
        let output =
            self.client.get_item().table_name(&self.table).key("pk", s(&pk)).consistent_read(true).send().await.map_err(unavailable)?;
        Ok(output.item)
    }

    /// `Ok(None)`: the condition failed. `Ok(Some(owner))`: claimed, over `owner`'s claim if any.
    async fn try_claim(&self, id: &MessageId, claim: &ClaimRequest) -> Result<Option<Option<String>>, StoreError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(&claim_pk(id)))
            .item("claim_state", s(IN_PROGRESS))
            .item("claim_owner", s(&claim.owner))
            .item("hold_until", n(claim.hold_until.0))
            .item("expires_at", n(claim.expires_at.0))
            .condition_expression(
                "attribute_not_exists(pk) OR expires_at <= :now \
                 OR (claim_state = :in_progress AND (claim_owner = :owner OR hold_until <= :now))",
            )
            .expression_attribute_values(":now", n(claim.now.0))
            .expression_attribute_values(":owner", s(&claim.owner))
            .expression_attribute_values(":in_progress", s(IN_PROGRESS))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match put {
            Ok(output) => {
                let old = output.attributes.unwrap_or_default();
                let live = number(&old, "expires_at").is_some_and(|at| at > claim.now.0);
                Ok(Some(old.get("claim_owner").and_then(|v| v.as_s().ok()).filter(|_| live).cloned()))
            }
            Err(error) if is_condition_failure(&error) => Ok(None),
            Err(error) => Err(unavailable(error)),
        }
    }
}

#[async_trait]
impl StateStore for DynamoStore {
    async fn claim_message(&self, id: &MessageId, claim: &ClaimRequest) -> Result<Claim, StoreError> {
        // Twice: the item read back may have been released or expired in between.
        for _ in 0..2 {
            match self.try_claim(id, claim).await? {
                Some(Some(earlier)) if earlier != claim.owner => return Ok(Claim::TakenOver),
                Some(_) => return Ok(Claim::New),
                None => {}
            }
            let Some(item) = self.read(claim_pk(id)).await? else { continue };
            if number(&item, "expires_at").is_none_or(|at| at <= claim.now.0) {
                continue;
            }
            let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).map(String::as_str);
            if text("claim_state") == Some(DONE) {
                return Ok(Claim::Done);
            }
            if text("claim_owner") == Some(claim.owner.as_str()) {
                return Ok(Claim::New);
            }
            if number(&item, "hold_until").is_some_and(|until| until > claim.now.0) {
                return Ok(Claim::InProgress);
            }
        }
        Ok(Claim::InProgress)
    }

    async fn release_message(&self, id: &MessageId, owner: &str) -> Result<(), StoreError> {
        let released = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&claim_pk(id)))
            .update_expression("SET hold_until = :zero")
            .condition_expression("claim_owner = :owner AND claim_state = :in_progress")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":in_progress", s(IN_PROGRESS))
            .send()
            .await;
        match released {
            Ok(_) => Ok(()),
            // Not ours any more (taken over, or done): nothing of ours to give up.
            Err(error) if is_condition_failure(&error) => Ok(()),
            Err(error) => Err(unavailable(error)),
        }
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
            Ok(output) => Ok(Acquired::Locked(read_conversation(&output.attributes.unwrap_or_default(), now))),
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
        outbox: &Outbox,
        chat_opened: Option<&str>,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        let stored: AttributeValue = serde_dynamo::to_attribute_value(conversation).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let stored_outbox: AttributeValue = serde_dynamo::to_attribute_value(outbox).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let version_check = if version == 0 { "attribute_not_exists(version)" } else { "version = :version" };
        let mut values = HashMap::from([
            (":owner".to_owned(), s(&lease.owner)),
            (":next".to_owned(), n(version + 1)),
            (":conversation".to_owned(), stored),
            (":outbox".to_owned(), stored_outbox),
            (":expires".to_owned(), n(expires_at.0)),
        ]);
        if version > 0 {
            values.insert(":version".to_owned(), n(version));
        }
        let update_expression = "SET version = :next, conversation = :conversation, outbox = :outbox, expires_at = :expires";
        let condition = format!("lease_owner = :owner AND {version_check}");
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
                    Err(error) if !is_condition_failure(&error) => return Err(unavailable(error)),
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
                let items = [TransactWriteItem::builder().update(update).build(), TransactWriteItem::builder().put(index).build()];
                if self.transact(items).await? {
                    return Ok(());
                }
            }
        }
        // The condition failed: our own first attempt may have been applied and answered late.
        let item = self.read(conversation_pk(key)).await?.unwrap_or_default();
        let ours = item.get("lease_owner").and_then(|v| v.as_s().ok()) == Some(&lease.owner)
            && number(&item, "version") == i64::try_from(version + 1).ok()
            && item.get("outbox").and_then(|o| o.as_m().ok()).and_then(|o| o.get("message_id")).and_then(|v| v.as_s().ok())
                == Some(&outbox.message_id.to_string());
        if ours { Ok(()) } else { Err(StoreError::Conflict(format!("lease or version {version} lost"))) }
    }

    async fn record_progress(&self, key: &ConversationKey, lease: &Lease, message: &MessageId, attempted: usize) -> Result<(), StoreError> {
        let updated = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&conversation_pk(key)))
            .update_expression("SET outbox.attempted = :attempted")
            .condition_expression("lease_owner = :owner AND outbox.message_id = :id")
            .expression_attribute_values(":attempted", n(attempted))
            .expression_attribute_values(":owner", s(&lease.owner))
            .expression_attribute_values(":id", s(message.as_str()))
            .send()
            .await;
        match updated {
            Ok(_) => Ok(()),
            Err(error) if is_condition_failure(&error) => Err(StoreError::Conflict(format!("lease or outbox of {message} lost"))),
            Err(error) => Err(unavailable(error)),
        }
    }

    async fn finish(&self, key: &ConversationKey, lease: &Lease, message: &MessageId, release_lease: bool) -> Result<(), StoreError> {
        let done = Update::builder()
            .table_name(&self.table)
            .key("pk", s(&claim_pk(message)))
            .update_expression("SET claim_state = :done, expires_at = if_not_exists(expires_at, :expires) REMOVE hold_until")
            .expression_attribute_values(":done", s(DONE))
            .expression_attribute_values(":expires", n(lease.until.plus(DONE_CLAIM_TTL).0))
            .build()
            .map_err(unavailable)?;
        let remove = if release_lease { "REMOVE outbox, lease_owner, lease_until" } else { "REMOVE outbox" };
        let delivered = Update::builder()
            .table_name(&self.table)
            .key("pk", s(&conversation_pk(key)))
            .update_expression(remove)
            .condition_expression("lease_owner = :owner")
            .expression_attribute_values(":owner", s(&lease.owner))
            .build()
            .map_err(unavailable)?;
        // One transaction: a claim marked done without its outbox dropped, or the reverse,
        // cannot be seen.
        let items = [TransactWriteItem::builder().update(done).build(), TransactWriteItem::builder().update(delivered).build()];
        if self.transact(items).await? { Ok(()) } else { Err(StoreError::Conflict(format!("lease lost before {message} was finished"))) }
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

    async fn chat_conversation(&self, chat_id: &str, now: Timestamp) -> Result<Option<ConversationKey>, StoreError> {
        let Some(item) = self.read(format!("chat#{chat_id}")).await? else { return Ok(None) };
        if number(&item, "expires_at").is_none_or(|at| at <= now.0) {
            return Ok(None);
        }
        Ok(item.get("conversation").and_then(|v| v.as_s().ok()).map(ConversationKey::new))
    }

    async fn peek(&self, key: &ConversationKey, now: Timestamp) -> Result<Option<Conversation>, StoreError> {
        let Some(item) = self.read(conversation_pk(key)).await? else { return Ok(None) };
        if number(&item, "expires_at").is_none_or(|at| at <= now.0) {
            return Ok(None);
        }
        Ok(Some(read_conversation(&item, now).conversation))
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
            .map_err(unavailable)?;
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
            .map_err(unavailable)?;
        Ok(())
    }
}
