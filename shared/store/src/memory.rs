//! An in-process [`StateStore`] with the same semantics as the DynamoDB one.

use async_trait::async_trait;
use connector_engine::conversation::{Conversation, ConversationKey};
use connector_engine::ports::{Acquired, Claim, Lease, StateStore, StoreError, Timestamp, Versioned};
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Default)]
pub struct InMemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    seen: HashMap<String, Timestamp>,
    conversations: HashMap<ConversationKey, Entry>,
    cache: HashMap<String, (String, Timestamp)>,
}

struct Entry {
    version: u64,
    conversation: Conversation,
    lease: Option<Lease>,
    expires_at: Timestamp,
}

impl InMemoryStore {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave an entry half-written (all writes are
        // single assignments), so a poisoned lock is still consistent.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl StateStore for InMemoryStore {
    async fn claim_message(&self, id: &str, expires_at: Timestamp) -> Result<Claim, StoreError> {
        let mut inner = self.inner();
        if inner.seen.contains_key(id) {
            return Ok(Claim::Duplicate);
        }
        inner.seen.insert(id.to_owned(), expires_at);
        Ok(Claim::New)
    }

    async fn release_message(&self, id: &str) -> Result<(), StoreError> {
        self.inner().seen.remove(id);
        Ok(())
    }

    async fn acquire(&self, key: &ConversationKey, lease: &Lease, now: Timestamp) -> Result<Acquired, StoreError> {
        let mut inner = self.inner();
        let entry = inner.conversations.entry(key.clone()).or_insert_with(|| Entry {
            version: 0,
            conversation: Conversation::default(),
            lease: None,
            expires_at: Timestamp(0),
        });
        if entry.lease.as_ref().is_some_and(|held| held.until > now && held.owner != lease.owner) {
            return Ok(Acquired::Busy);
        }
        entry.lease = Some(lease.clone());
        let conversation = if entry.version > 0 && entry.expires_at > now { entry.conversation.clone() } else { Conversation::default() };
        Ok(Acquired::Locked(Versioned { version: entry.version, conversation }))
    }

    async fn commit(
        &self,
        key: &ConversationKey,
        lease: &Lease,
        version: u64,
        conversation: &Conversation,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut inner = self.inner();
        let entry = inner.conversations.get_mut(key).ok_or_else(|| StoreError::Conflict("conversation vanished".into()))?;
        if entry.lease.as_ref().is_none_or(|held| held.owner != lease.owner) {
            return Err(StoreError::Conflict("lease lost".into()));
        }
        if entry.version != version {
            return Err(StoreError::Conflict(format!("version moved from {version} to {}", entry.version)));
        }
        entry.version += 1;
        entry.conversation = conversation.clone();
        entry.lease = None;
        entry.expires_at = expires_at;
        Ok(())
    }

    async fn release(&self, key: &ConversationKey, lease: &Lease) -> Result<(), StoreError> {
        let mut inner = self.inner();
        if let Some(entry) = inner.conversations.get_mut(key) {
            if entry.lease.as_ref().is_some_and(|held| held.owner == lease.owner) {
                entry.lease = None;
            }
        }
        Ok(())
    }

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
    crate::store_contract_tests!(std::sync::Arc::new(super::InMemoryStore::default()));
}
