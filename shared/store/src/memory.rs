//! An in-process [`StateStore`] with the same semantics as the DynamoDB one.

use async_trait::async_trait;
use connector_core::store::{
    Cache, Commit, Conversations, Dedupe, Indexes, Outbox, Progress, StoreError, TicketKey, TicketRecipient, Versioned,
};
use connector_engine::conversation::{Conversation, ConversationKey};
use connector_engine::values::{MessageId, Timestamp};
use std::collections::HashMap;
use std::sync::Mutex;

/// Expired progress records and cache entries are swept once the maps grow past this many
/// entries (and then past twice what survived), so memory follows the live set, not the
/// history.
const SWEEP_AT_LEAST: usize = 1024;

#[derive(Default)]
pub struct InMemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    progress: HashMap<MessageId, (Progress, Timestamp)>,
    conversations: HashMap<ConversationKey, Entry>,
    cache: HashMap<String, (String, Timestamp)>,
    chats: HashMap<String, (ConversationKey, Timestamp)>,
    tickets: HashMap<TicketKey, (TicketRecipient, Timestamp)>,
    sweep_at: usize,
}

struct Entry {
    version: u64,
    conversation: Conversation,
    outbox: Option<Outbox>,
    expires_at: Timestamp,
}

impl InMemoryStore {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave an entry half-written (all writes are
        // single assignments), so a poisoned lock is still consistent.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Progress records remembered (live or not yet swept): what dedupe costs in memory.
    pub fn remembered_messages(&self) -> usize {
        self.inner().progress.len()
    }
}

impl Inner {
    fn sweep(&mut self, now: Timestamp) {
        if self.progress.len() + self.cache.len() < self.sweep_at.max(SWEEP_AT_LEAST) {
            return;
        }
        self.progress.retain(|_, (_, expires_at)| *expires_at > now);
        self.cache.retain(|_, (_, expires_at)| *expires_at > now);
        self.chats.retain(|_, (_, expires_at)| *expires_at > now);
        self.tickets.retain(|_, (_, expires_at)| *expires_at > now);
        self.conversations.retain(|_, entry| entry.expires_at > now);
        self.sweep_at = 2 * (self.progress.len() + self.cache.len());
    }
}

#[async_trait]
impl Dedupe for InMemoryStore {
    async fn progress(&self, id: &MessageId, now: Timestamp) -> Result<Option<Progress>, StoreError> {
        let mut inner = self.inner();
        inner.sweep(now);
        Ok(inner.progress.get(id).filter(|(_, expires_at)| *expires_at > now).map(|(progress, _)| *progress))
    }

    async fn record_progress(&self, id: &MessageId, progress: Progress, expires_at: Timestamp) -> Result<(), StoreError> {
        self.inner().progress.insert(id.clone(), (progress, expires_at));
        Ok(())
    }
}

#[async_trait]
impl Conversations for InMemoryStore {
    async fn load(&self, key: &ConversationKey, now: Timestamp) -> Result<Versioned, StoreError> {
        let inner = self.inner();
        Ok(match inner.conversations.get(key) {
            Some(entry) if entry.expires_at > now => {
                Versioned { version: entry.version, conversation: entry.conversation.clone(), outbox: entry.outbox.clone() }
            }
            // Expired: a fresh conversation, at the version the next commit must match.
            Some(entry) => Versioned { version: entry.version, ..Versioned::default() },
            None => Versioned::default(),
        })
    }

    async fn commit(&self, commit: &Commit<'_>) -> Result<(), StoreError> {
        let mut inner = self.inner();
        let version = inner.conversations.get(commit.key).map_or(0, |entry| entry.version);
        if version != commit.version {
            return Err(StoreError::Conflict(format!("version moved from {} to {version}", commit.version)));
        }
        let entry = Entry {
            version: version + 1,
            conversation: commit.conversation.clone(),
            outbox: Some(commit.outbox.clone()),
            expires_at: commit.expires_at,
        };
        inner.conversations.insert(commit.key.clone(), entry);
        if let Some(chat_id) = commit.chat_opened {
            inner.chats.insert(chat_id.to_owned(), (commit.key.clone(), commit.expires_at));
        }
        Ok(())
    }

    async fn peek(&self, key: &ConversationKey, now: Timestamp) -> Result<Option<Conversation>, StoreError> {
        let inner = self.inner();
        Ok(inner.conversations.get(key).filter(|entry| entry.version > 0 && entry.expires_at > now).map(|entry| entry.conversation.clone()))
    }
}

#[async_trait]
impl Indexes for InMemoryStore {
    async fn chat_conversation(&self, chat_id: &str, now: Timestamp) -> Result<Option<ConversationKey>, StoreError> {
        Ok(self.inner().chats.get(chat_id).filter(|(_, expires_at)| *expires_at > now).map(|(key, _)| key.clone()))
    }

    async fn index_ticket(&self, key: &TicketKey, recipient: &TicketRecipient, expires_at: Timestamp) -> Result<(), StoreError> {
        self.inner().tickets.insert(key.clone(), (recipient.clone(), expires_at));
        Ok(())
    }

    async fn ticket_recipient(&self, key: &TicketKey, now: Timestamp) -> Result<Option<TicketRecipient>, StoreError> {
        Ok(self.inner().tickets.get(key).filter(|(_, expires_at)| *expires_at > now).map(|(recipient, _)| recipient.clone()))
    }
}

#[async_trait]
impl Cache for InMemoryStore {
    async fn cache_get(&self, key: &str, now: Timestamp) -> Result<Option<String>, StoreError> {
        Ok(self.inner().cache.get(key).filter(|(_, expires_at)| *expires_at > now).map(|(v, _)| v.clone()))
    }

    async fn cache_put(&self, key: &str, value: &str, expires_at: Timestamp) -> Result<(), StoreError> {
        self.inner().cache.insert(key.to_owned(), (value.to_owned(), expires_at));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::store_contract_tests!(std::sync::Arc::new(super::InMemoryStore::default()));

    #[tokio::test]
    async fn expired_progress_records_are_forgotten_so_memory_stays_bounded() {
        let store = InMemoryStore::default();
        for i in 0..20_000_i64 {
            // Each record lives 10 s; the clock moves 1 s per message.
            let id = MessageId::new("t", &i.to_string());
            assert_eq!(store.progress(&id, Timestamp(i)).await.unwrap(), None);
            store.record_progress(&id, Progress::attempted(1, 1), Timestamp(i + 10)).await.unwrap();
        }
        assert!(store.remembered_messages() <= 2 * SWEEP_AT_LEAST, "{} records kept", store.remembered_messages());
    }
}
