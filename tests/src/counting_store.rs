//! A [`StateStore`] decorator that counts calls: each call is one DynamoDB request on the
//! DynamoDB store, so tests and the benchmark can report store calls per message.

use async_trait::async_trait;
use connector_core::store::{
    Cache, Commit, Conversations, Dedupe, Indexes, Progress, StateStore, StoreError, TicketKey, TicketRecipient, Versioned,
};
use connector_engine::conversation::{Conversation, ConversationKey};
use connector_engine::values::{MessageId, Timestamp};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

pub struct CountingStore {
    inner: Arc<dyn StateStore>,
    calls: AtomicUsize,
    writes: AtomicUsize,
    write_units: AtomicUsize,
    read_units: AtomicUsize,
}

/// DynamoDB bills a write per started KiB of the item (the larger of before and after for an
/// update; a transaction twice), a strongly consistent read per started 4 KiB. The item's size
/// is estimated from its JSON, close to DynamoDB's own count (names plus values).
const WRITE_UNIT: usize = 1024;
const READ_UNIT: usize = 4096;

/// Attribute names and numbers every item carries beside its payload (`pk`, `version`,
/// `expires_at`...).
const ITEM_OVERHEAD: usize = 80;

fn units(bytes: usize, unit: usize) -> usize {
    (bytes + ITEM_OVERHEAD).div_ceil(unit).max(1)
}

fn json_len(value: &impl serde::Serialize) -> usize {
    serde_json::to_vec(value).map_or(0, |json| json.len())
}

impl CountingStore {
    pub fn new(inner: Arc<dyn StateStore>) -> Self {
        Self {
            inner,
            calls: AtomicUsize::new(0),
            writes: AtomicUsize::new(0),
            write_units: AtomicUsize::new(0),
            read_units: AtomicUsize::new(0),
        }
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Calls that write (each a DynamoDB write request, billed by the item's size).
    pub fn writes(&self) -> usize {
        self.writes.load(Ordering::SeqCst)
    }

    /// Write units billed so far (estimated: see [`WRITE_UNIT`]).
    pub fn write_units(&self) -> usize {
        self.write_units.load(Ordering::SeqCst)
    }

    /// Strongly consistent read units billed so far (estimated).
    pub fn read_units(&self) -> usize {
        self.read_units.load(Ordering::SeqCst)
    }

    /// A read of a small item.
    fn count(&self) {
        self.count_read(0);
    }

    fn count_read(&self, bytes: usize) {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.read_units.fetch_add(units(bytes, READ_UNIT), Ordering::SeqCst);
    }

    /// A write of a small item.
    fn count_write(&self) {
        self.count_write_of(0);
    }

    fn count_write_of(&self, units_billed: usize) {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.write_units.fetch_add(units_billed.max(1), Ordering::SeqCst);
    }
}

#[async_trait]
impl Dedupe for CountingStore {
    async fn progress(&self, id: &MessageId, now: Timestamp) -> Result<Option<Progress>, StoreError> {
        self.count();
        self.inner.progress(id, now).await
    }

    async fn record_progress(&self, id: &MessageId, progress: Progress, expires_at: Timestamp) -> Result<(), StoreError> {
        self.count_write();
        self.inner.record_progress(id, progress, expires_at).await
    }
}

#[async_trait]
impl Conversations for CountingStore {
    async fn load(&self, key: &ConversationKey, now: Timestamp) -> Result<Versioned, StoreError> {
        let loaded = self.inner.load(key, now).await;
        let bytes = loaded.as_ref().map_or(0, |v| json_len(&v.conversation) + v.outbox.as_ref().map_or(0, json_len));
        self.count_read(bytes);
        loaded
    }

    async fn commit(&self, commit: &Commit<'_>) -> Result<(), StoreError> {
        let item = units(json_len(commit.conversation) + json_len(commit.outbox), WRITE_UNIT);
        // A commit that opens a chat is a transaction with the chat's index: twice the units.
        let billed = if commit.chat_opened.is_some() { 2 * (item + 1) } else { item };
        self.count_write_of(billed);
        self.inner.commit(commit).await
    }

    async fn peek(&self, key: &ConversationKey, now: Timestamp) -> Result<Option<Conversation>, StoreError> {
        self.count();
        self.inner.peek(key, now).await
    }
}

#[async_trait]
impl Indexes for CountingStore {
    async fn chat_conversation(&self, chat_id: &str, now: Timestamp) -> Result<Option<ConversationKey>, StoreError> {
        self.count();
        self.inner.chat_conversation(chat_id, now).await
    }

    async fn index_ticket(&self, key: &TicketKey, recipient: &TicketRecipient, expires_at: Timestamp) -> Result<(), StoreError> {
        self.count_write();
        self.inner.index_ticket(key, recipient, expires_at).await
    }

    async fn ticket_recipient(&self, key: &TicketKey, now: Timestamp) -> Result<Option<TicketRecipient>, StoreError> {
        self.count();
        self.inner.ticket_recipient(key, now).await
    }
}

#[async_trait]
impl Cache for CountingStore {
    async fn cache_get(&self, key: &str, now: Timestamp) -> Result<Option<String>, StoreError> {
        self.count();
        self.inner.cache_get(key, now).await
    }

    async fn cache_put(&self, key: &str, value: &str, expires_at: Timestamp) -> Result<(), StoreError> {
        self.count_write();
        self.inner.cache_put(key, value, expires_at).await
    }
}
