//! A [`StateStore`] decorator that counts calls: each call is one DynamoDB request on the
//! DynamoDB store, so tests and the benchmark can report store calls per message.

use async_trait::async_trait;
use connector_engine::conversation::{Conversation, ConversationKey};
use connector_engine::ports::{
    Acquired, Claim, ClaimRequest, Lease, MessageId, Outbox, StateStore, StoreError, TicketKey, TicketRecipient, Timestamp,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

pub struct CountingStore {
    inner: Arc<dyn StateStore>,
    calls: AtomicUsize,
}

impl CountingStore {
    pub fn new(inner: Arc<dyn StateStore>) -> Self {
        Self { inner, calls: AtomicUsize::new(0) }
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn count(&self) {
        self.calls.fetch_add(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl StateStore for CountingStore {
    async fn claim_message(&self, id: &MessageId, claim: &ClaimRequest) -> Result<Claim, StoreError> {
        self.count();
        self.inner.claim_message(id, claim).await
    }

    async fn release_message(&self, id: &MessageId, owner: &str) -> Result<(), StoreError> {
        self.count();
        self.inner.release_message(id, owner).await
    }

    async fn acquire(&self, key: &ConversationKey, lease: &Lease, now: Timestamp) -> Result<Acquired, StoreError> {
        self.count();
        self.inner.acquire(key, lease, now).await
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
        self.count();
        self.inner.commit(key, lease, version, conversation, outbox, chat_opened, expires_at).await
    }

    async fn record_progress(&self, key: &ConversationKey, lease: &Lease, outbox: &MessageId, attempted: usize) -> Result<(), StoreError> {
        self.count();
        self.inner.record_progress(key, lease, outbox, attempted).await
    }

    async fn finish(&self, key: &ConversationKey, lease: &Lease, message: &MessageId, release_lease: bool) -> Result<(), StoreError> {
        self.count();
        self.inner.finish(key, lease, message, release_lease).await
    }

    async fn release(&self, key: &ConversationKey, lease: &Lease) -> Result<(), StoreError> {
        self.count();
        self.inner.release(key, lease).await
    }

    async fn chat_conversation(&self, chat_id: &str, now: Timestamp) -> Result<Option<ConversationKey>, StoreError> {
        self.count();
        self.inner.chat_conversation(chat_id, now).await
    }

    async fn peek(&self, key: &ConversationKey, now: Timestamp) -> Result<Option<Conversation>, StoreError> {
        self.count();
        self.inner.peek(key, now).await
    }

    async fn index_ticket(&self, key: &TicketKey, recipient: &TicketRecipient, expires_at: Timestamp) -> Result<(), StoreError> {
        self.count();
        self.inner.index_ticket(key, recipient, expires_at).await
    }

    async fn ticket_recipient(&self, key: &TicketKey, now: Timestamp) -> Result<Option<TicketRecipient>, StoreError> {
        self.count();
        self.inner.ticket_recipient(key, now).await
    }

    async fn cache_get(&self, key: &str, now: Timestamp) -> Result<Option<String>, StoreError> {
        self.count();
        self.inner.cache_get(key, now).await
    }

    async fn cache_put(&self, key: &str, value: &str, expires_at: Timestamp) -> Result<(), StoreError> {
        self.count();
        self.inner.cache_put(key, value, expires_at).await
    }
}
