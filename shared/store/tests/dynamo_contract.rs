//! The store contract against a real DynamoDB-API server (moto, started by `scripts/test.sh`,
//! which sets `AWS_ENDPOINT_URL_DYNAMODB`).

use state_store::DynamoStore;
use std::sync::Arc;
use tokio::sync::OnceCell;

/// One table per test binary; keys are unique per test, so tests share it.
async fn store() -> Arc<DynamoStore> {
    static TABLE: OnceCell<()> = OnceCell::const_new();
    assert!(
        std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_some(),
        "AWS_ENDPOINT_URL_DYNAMODB is not set: run the tests with scripts/test.sh, which starts a local DynamoDB-API server"
    );
    let table = std::env::var("TEST_TABLE_NAME").unwrap_or_else(|_| "connector-store-contract".into());
    let store = Arc::new(DynamoStore::from_env(&table).await);
    TABLE.get_or_init(|| async { store.ensure_table().await.expect("table created") }).await;
    store
}

state_store::store_contract_tests!(store().await);

/// The same contract through a client configured only from the variables Lambda sets, as the
/// functions build it (`state_store::sdk_config`), whichever features this build has.
mod configured_from_lambda_variables {
    use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
    use state_store::DynamoStore;
    use std::sync::Arc;

    async fn store() -> Arc<DynamoStore> {
        super::store().await; // makes sure the table exists
        let config = state_store::sdk_config::from_variables(&|name| std::env::var(name).ok(), TimeoutConfig::builder().build());
        let table = std::env::var("TEST_TABLE_NAME").unwrap_or_else(|_| "connector-store-contract".into());
        Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(config), table))
    }

    state_store::store_contract_tests!(store().await);
}

/// An item written by an older or broken version: its `conversation` no longer reads as one.
#[tokio::test]
async fn an_unreadable_stored_conversation_is_replaced_by_a_fresh_one_that_can_be_committed() {
    use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
    use aws_sdk_dynamodb::types::AttributeValue;
    use connector_core::store::{Commit, Conversations, Outbox};
    use connector_engine::ConversationKey;
    use connector_engine::values::{MessageId, Timestamp};
    let store = store().await;
    let table = std::env::var("TEST_TABLE_NAME").unwrap_or_else(|_| "connector-store-contract".into());
    let key = ConversationKey::new(state_store::contract::unique("corrupt"));
    let config = state_store::sdk_config::from_variables(&|name| std::env::var(name).ok(), TimeoutConfig::builder().build());
    aws_sdk_dynamodb::Client::from_conf(config)
        .put_item()
        .table_name(&table)
        .item("pk", AttributeValue::S(format!("conv#{key}")))
        .item("version", AttributeValue::N("4".into()))
        .item("expires_at", AttributeValue::N("4000000000".into()))
        .item("conversation", AttributeValue::M([("mode".to_owned(), AttributeValue::N("7".into()))].into()))
        .send()
        .await
        .unwrap();
    let now = Timestamp(1_800_000_000);
    let read = store.load(&key, now).await.unwrap();
    assert_eq!((read.version, &read.conversation), (4, &connector_engine::Conversation::default()));
    let outbox = Outbox {
        message_id: MessageId::new("twilio", "SM1"),
        address: connector_engine::ReplyAddress { channel: "twilio".into(), to: serde_json::json!({}) },
        replies: Vec::new(),
        from_agent: false,
    };
    let commit = Commit {
        key: &key,
        version: read.version,
        conversation: &read.conversation,
        outbox: &outbox,
        chat_opened: None,
        expires_at: Timestamp(now.0 + 100),
    };
    store.commit(&commit).await.unwrap();
}

/// A key DynamoDB can never store (over its 2048-byte partition key limit) is refused as
/// such, not retried as if the store were down.
#[tokio::test]
async fn a_key_over_dynamodbs_limit_is_an_invalid_request_not_an_outage() {
    use connector_core::store::{Commit, Conversations, Outbox, StoreError};
    use connector_engine::ConversationKey;
    use connector_engine::values::{MessageId, Timestamp};
    let store = store().await;
    let key = ConversationKey::new("x".repeat(3000));
    let outbox = Outbox {
        message_id: MessageId::new("twilio", "SM-long"),
        address: connector_engine::ReplyAddress { channel: "twilio".into(), to: serde_json::json!({}) },
        replies: Vec::new(),
        from_agent: false,
    };
    let conversation = connector_engine::Conversation::default();
    let commit = Commit {
        key: &key,
        version: 0,
        conversation: &conversation,
        outbox: &outbox,
        chat_opened: None,
        expires_at: Timestamp(1_900_000_000),
    };
    let error = store.commit(&commit).await.unwrap_err();
    assert!(matches!(error, StoreError::Invalid(_)), "{error:?}");
    assert!(!error.is_retryable());
}
