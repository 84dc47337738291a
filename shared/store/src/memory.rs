//! An in-process [`StateStore`] with the same semantics as the DynamoDB one.

use async_trait::async_trait;
use connector_engine::conversation::{Conversation, ConversationKey};
use connector_engine::ports::{
    Acquired, Claim, ClaimRequest, Lease, MessageId, Outbox, StateStore, StoreError, TicketKey, TicketRecipient, Timestamp, Versioned,
};
use std::collections::HashMap;
use std::sync::Mutex;

/// Expired claims and cache entries are swept once the maps grow past this many entries (and
/// then past twice what survived), so memory follows the live set, not the history.
const SWEEP_AT_LEAST: usize = 1024;

/// A claim that `finish` has to recreate is remembered this long (as in the DynamoDB store).
const DONE_CLAIM_TTL: std::time::Duration = std::time::Duration::from_secs(86_400);

#[derive(Default)]
pub struct InMemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    claims: HashMap<MessageId, ClaimEntry>,
    conversations: HashMap<ConversationKey, Entry>,
    cache: HashMap<String, (String, Timestamp)>,
    chats: HashMap<String, (ConversationKey, Timestamp)>,
    tickets: HashMap<TicketKey, (TicketRecipient, Timestamp)>,
    sweep_at: usize,
}

struct ClaimEntry {
    owner: String,
    done: bool,
    hold_until: Timestamp,
    expires_at: Timestamp,
}

struct Entry {
    version: u64,
    conversation: Conversation,
    outbox: Option<Outbox>,
    lease: Option<Lease>,
    expires_at: Timestamp,
}

impl InMemoryStore {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave an entry half-written (all writes are
        // single assignments), so a poisoned lock is still consistent.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Claims remembered (live or not yet swept): what dedupe costs in memory.
    pub fn remembered_claims(&self) -> usize {
        self.inner().claims.len()
    }
}

impl Inner {
    fn sweep(&mut self, now: Timestamp) {
        if self.claims.len() + self.cache.len() < self.sweep_at.max(SWEEP_AT_LEAST) {
            return;
        }
        self.claims.retain(|_, claim| claim.expires_at > now);
        self.cache.retain(|_, (_, expires_at)| *expires_at > now);
        self.chats.retain(|_, (_, expires_at)| *expires_at > now);
        self.tickets.retain(|_, (_, expires_at)| *expires_at > now);
        self.conversations.retain(|_, entry| entry.expires_at > now || entry.lease.as_ref().is_some_and(|l| l.until > now));
        self.sweep_at = 2 * (self.claims.len() + self.cache.len());
    }

    fn leased(&mut self, key: &ConversationKey, lease: &Lease) -> Result<&mut Entry, StoreError> {
        let entry = self.conversations.get_mut(key).ok_or_else(|| StoreError::Conflict("conversation vanished".into()))?;
        if entry.lease.as_ref().is_none_or(|held| held.owner != lease.owner) {
            return Err(StoreError::Conflict("lease lost".into()));
        }
        Ok(entry)
    }
}

#[async_trait]
impl StateStore for InMemoryStore {
    async fn claim_message(&self, id: &MessageId, claim: &ClaimRequest) -> Result<Claim, StoreError> {
        let mut inner = self.inner();
        inner.sweep(claim.now);
        let mut taken_over = false;
        if let Some(held) = inner.claims.get(id).filter(|held| held.expires_at > claim.now) {
            if held.done {
                return Ok(Claim::Done);
            }
            if held.owner != claim.owner && held.hold_until > claim.now {
                return Ok(Claim::InProgress);
            }
            taken_over = held.owner != claim.owner;
        }
        let entry = ClaimEntry { owner: claim.owner.clone(), done: false, hold_until: claim.hold_until, expires_at: claim.expires_at };
        inner.claims.insert(id.clone(), entry);
        Ok(if taken_over { Claim::TakenOver } else { Claim::New })
    }

    async fn release_message(&self, id: &MessageId, owner: &str) -> Result<(), StoreError> {
        if let Some(held) = self.inner().claims.get_mut(id).filter(|held| held.owner == owner && !held.done) {
            held.hold_until = Timestamp(0);
        }
        Ok(())
    }

    async fn acquire(&self, key: &ConversationKey, lease: &Lease, now: Timestamp) -> Result<Acquired, StoreError> {
        let mut inner = self.inner();
        let entry = inner.conversations.entry(key.clone()).or_insert_with(|| Entry {
            version: 0,
            conversation: Conversation::default(),
            outbox: None,
            lease: None,
            expires_at: Timestamp(0),
        });
        if entry.lease.as_ref().is_some_and(|held| held.until > now && held.owner != lease.owner) {
            return Ok(Acquired::Busy);
        }
        entry.lease = Some(lease.clone());
        let live = entry.version > 0 && entry.expires_at > now;
        let conversation = if live { entry.conversation.clone() } else { Conversation::default() };
        let outbox = if live { entry.outbox.clone() } else { None };
        Ok(Acquired::Locked(Versioned { version: entry.version, conversation, outbox }))
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
        let mut inner = self.inner();
        let entry = inner.leased(key, lease)?;
        if entry.version != version {
            return Err(StoreError::Conflict(format!("version moved from {version} to {}", entry.version)));
        }
        entry.version += 1;
        entry.conversation = conversation.clone();
        entry.outbox = Some(outbox.clone());
        entry.expires_at = expires_at;
        if let Some(chat_id) = chat_opened {
            inner.chats.insert(chat_id.to_owned(), (key.clone(), expires_at));
        }
        Ok(())
    }

    async fn record_progress(&self, key: &ConversationKey, lease: &Lease, message: &MessageId, attempted: usize) -> Result<(), StoreError> {
        let mut inner = self.inner();
        let entry = inner.leased(key, lease)?;
        match entry.outbox.as_mut().filter(|o| &o.message_id == message) {
            Some(outbox) => {
                outbox.attempted = attempted;
                Ok(())
            }
            None => Err(StoreError::Conflict(format!("no outbox of {message}"))),
        }
    }

    async fn finish(&self, key: &ConversationKey, lease: &Lease, message: &MessageId, release_lease: bool) -> Result<(), StoreError> {
        let mut inner = self.inner();
        inner.leased(key, lease)?;
        // A claim given up and then expired is remembered as done all the same.
        let done =
            ClaimEntry { owner: lease.owner.clone(), done: true, hold_until: Timestamp(0), expires_at: lease.until.plus(DONE_CLAIM_TTL) };
        inner.claims.entry(message.clone()).and_modify(|claim| claim.done = true).or_insert(done);
        let entry = inner.leased(key, lease)?;
        if entry.outbox.as_ref().is_some_and(|o| &o.message_id == message) {
            entry.outbox = None;
        }
        if release_lease {
            entry.lease = None;
        }
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

    async fn chat_conversation(&self, chat_id: &str, now: Timestamp) -> Result<Option<ConversationKey>, StoreError> {
        Ok(self.inner().chats.get(chat_id).filter(|(_, expires_at)| *expires_at > now).map(|(key, _)| key.clone()))
    }

    async fn peek(&self, key: &ConversationKey, now: Timestamp) -> Result<Option<Conversation>, StoreError> {
        let inner = self.inner();
        Ok(inner.conversations.get(key).filter(|entry| entry.version > 0 && entry.expires_at > now).map(|entry| entry.conversation.clone()))
    }

    async fn index_ticket(&self, key: &TicketKey, recipient: &TicketRecipient, expires_at: Timestamp) -> Result<(), StoreError> {
        self.inner().tickets.insert(key.clone(), (recipient.clone(), expires_at));
        Ok(())
    }

    async fn ticket_recipient(&self, key: &TicketKey, now: Timestamp) -> Result<Option<TicketRecipient>, StoreError> {
        Ok(self.inner().tickets.get(key).filter(|(_, expires_at)| *expires_at > now).map(|(recipient, _)| recipient.clone()))
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
    use super::*;

    crate::store_contract_tests!(std::sync::Arc::new(super::InMemoryStore::default()));

    #[tokio::test]
    async fn expired_dedupe_claims_are_forgotten_so_memory_stays_bounded() {
        let store = InMemoryStore::default();
        for i in 0..20_000_i64 {
            // Each claim lives 10 s; the clock moves 1 s per message.
            let claim = ClaimRequest { owner: "o".into(), now: Timestamp(i), hold_until: Timestamp(i + 5), expires_at: Timestamp(i + 10) };
            assert_eq!(store.claim_message(&MessageId::new("t", &i.to_string()), &claim).await.unwrap(), Claim::New);
        }
        assert!(store.remembered_claims() <= 2 * SWEEP_AT_LEAST, "{} claims kept", store.remembered_claims());
    }
}
