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
