//! The behaviour every [`StateStore`] must have. Run it with [`store_contract_tests!`].

use connector_engine::conversation::{Conversation, ConversationKey};
use connector_engine::ports::{Acquired, Claim, Lease, StateStore, StoreError, Timestamp, Versioned};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub type Store = Arc<dyn StateStore>;

const NOW: Timestamp = Timestamp(1_800_000_000);
const LATER: Timestamp = Timestamp(1_800_086_400);

/// Keys unique per test run, so suites can share one table.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{prefix}-{nanos:x}-{}", COUNTER.fetch_add(1, Ordering::Relaxed))
}

fn lease(owner: &str, until: Timestamp) -> Lease {
    Lease { owner: owner.to_owned(), until }
}

async fn lock(store: &Store, key: &ConversationKey, owner: &str) -> Versioned {
    match store.acquire(key, &lease(owner, Timestamp(NOW.0 + 30)), NOW).await.unwrap() {
        Acquired::Locked(v) => v,
        Acquired::Busy => panic!("{owner} expected the lease"),
    }
}

pub async fn a_message_id_is_new_once_and_then_a_duplicate(store: Store) {
    let id = unique("twilio#SM");
    assert_eq!(store.claim_message(&id, LATER).await.unwrap(), Claim::New);
    assert_eq!(store.claim_message(&id, LATER).await.unwrap(), Claim::Duplicate);
}

pub async fn a_released_claim_can_be_claimed_again(store: Store) {
    let id = unique("twilio#SM");
    store.claim_message(&id, LATER).await.unwrap();
    store.release_message(&id).await.unwrap();
    assert_eq!(store.claim_message(&id, LATER).await.unwrap(), Claim::New);
}

pub async fn concurrent_claims_of_one_id_have_exactly_one_winner(store: Store) {
    let id = unique("twilio#SM");
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let (store, id) = (store.clone(), id.clone());
            tokio::spawn(async move { store.claim_message(&id, LATER).await.unwrap() })
        })
        .collect();
    let mut winners = 0;
    for task in tasks {
        winners += usize::from(task.await.unwrap() == Claim::New);
    }
    assert_eq!(winners, 1);
}

pub async fn a_new_conversation_is_locked_at_version_zero_with_defaults(store: Store) {
    let key = ConversationKey::new(unique("conv"));
    let v = lock(&store, &key, "a").await;
    assert_eq!(v.version, 0);
    assert_eq!(v.conversation, Conversation::default());
}

pub async fn a_held_lease_makes_others_wait_until_it_expires(store: Store) {
    let key = ConversationKey::new(unique("conv"));
    lock(&store, &key, "a").await;
    let contender = lease("b", Timestamp(NOW.0 + 60));
    assert!(matches!(store.acquire(&key, &contender, NOW).await.unwrap(), Acquired::Busy));
    let after_expiry = Timestamp(NOW.0 + 31);
    assert!(matches!(store.acquire(&key, &contender, after_expiry).await.unwrap(), Acquired::Locked(_)));
}

pub async fn a_commit_is_read_back_with_the_next_version(store: Store) {
    let key = ConversationKey::new(unique("conv"));
    let v = lock(&store, &key, "a").await;
    let mut conversation = v.conversation;
    conversation.messages_handled = 7;
    conversation.no_results_count = 2;
    store.commit(&key, &lease("a", NOW), v.version, &conversation, LATER).await.unwrap();
    let again = lock(&store, &key, "b").await;
    assert_eq!(again.version, v.version + 1);
    assert_eq!(again.conversation, conversation);
}

pub async fn a_commit_from_a_stale_version_is_refused(store: Store) {
    let key = ConversationKey::new(unique("conv"));
    let v = lock(&store, &key, "a").await;
    store.commit(&key, &lease("a", NOW), v.version, &v.conversation, LATER).await.unwrap();
    lock(&store, &key, "a").await;
    let stale = store.commit(&key, &lease("a", NOW), v.version, &v.conversation, LATER).await;
    assert!(matches!(stale, Err(StoreError::Conflict(_))), "{stale:?}");
}

pub async fn a_commit_without_the_lease_is_refused(store: Store) {
    let key = ConversationKey::new(unique("conv"));
    let v = lock(&store, &key, "a").await;
    let intruder = store.commit(&key, &lease("b", NOW), v.version, &v.conversation, LATER).await;
    assert!(matches!(intruder, Err(StoreError::Conflict(_))), "{intruder:?}");
}

pub async fn releasing_frees_the_lease_and_keeps_the_state(store: Store) {
    let key = ConversationKey::new(unique("conv"));
    let v = lock(&store, &key, "a").await;
    let mut conversation = v.conversation;
    conversation.messages_handled = 3;
    store.commit(&key, &lease("a", NOW), v.version, &conversation, LATER).await.unwrap();
    let held = lock(&store, &key, "a").await;
    store.release(&key, &lease("a", NOW)).await.unwrap();
    let next = lock(&store, &key, "b").await;
    assert_eq!(next.version, held.version);
    assert_eq!(next.conversation.messages_handled, 3);
}

pub async fn an_expired_conversation_reads_as_a_new_one(store: Store) {
    let key = ConversationKey::new(unique("conv"));
    let v = lock(&store, &key, "a").await;
    let mut conversation = v.conversation;
    conversation.messages_handled = 5;
    store.commit(&key, &lease("a", NOW), v.version, &conversation, Timestamp(NOW.0 + 10)).await.unwrap();
    let much_later = Timestamp(NOW.0 + 100);
    let Acquired::Locked(read) = store.acquire(&key, &lease("b", Timestamp(much_later.0 + 30)), much_later).await.unwrap() else {
        panic!("expected the lease")
    };
    assert_eq!(read.conversation, Conversation::default());
    store.commit(&key, &lease("b", NOW), read.version, &read.conversation, LATER).await.unwrap();
}

pub async fn cache_entries_are_absent_once_expired(store: Store) {
    let key = unique("token");
    store.cache_put(&key, "value", Timestamp(NOW.0 + 10)).await.unwrap();
    assert_eq!(store.cache_get(&key, NOW).await.unwrap().as_deref(), Some("value"));
    assert_eq!(store.cache_get(&key, Timestamp(NOW.0 + 10)).await.unwrap(), None);
    assert_eq!(store.cache_get(&unique("missing"), NOW).await.unwrap(), None);
}

/// Twenty writers of one conversation, each lock -> increment -> commit, retrying while busy:
/// no increment may be lost.
pub async fn concurrent_writers_of_one_conversation_lose_no_update(store: Store) {
    let key = ConversationKey::new(unique("conv"));
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let (store, key) = (store.clone(), key.clone());
            tokio::spawn(async move {
                let me = lease(&format!("writer-{i}"), Timestamp(NOW.0 + 30));
                loop {
                    match store.acquire(&key, &me, NOW).await.unwrap() {
                        Acquired::Busy => tokio::time::sleep(std::time::Duration::from_millis(2)).await,
                        Acquired::Locked(mut v) => {
                            v.conversation.messages_handled += 1;
                            store.commit(&key, &me, v.version, &v.conversation, LATER).await.unwrap();
                            return;
                        }
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let v = lock(&store, &key, "reader").await;
    assert_eq!(v.conversation.messages_handled, 20);
    assert_eq!(v.version, 20);
}

/// Declares one `#[tokio::test]` per contract case for the store built by `$make`.
#[macro_export]
macro_rules! store_contract_tests {
    ($make:expr) => {
        $crate::store_contract_tests!(@cases $make;
            a_message_id_is_new_once_and_then_a_duplicate,
            a_released_claim_can_be_claimed_again,
            concurrent_claims_of_one_id_have_exactly_one_winner,
            a_new_conversation_is_locked_at_version_zero_with_defaults,
            a_held_lease_makes_others_wait_until_it_expires,
            a_commit_is_read_back_with_the_next_version,
            a_commit_from_a_stale_version_is_refused,
            a_commit_without_the_lease_is_refused,
            releasing_frees_the_lease_and_keeps_the_state,
            an_expired_conversation_reads_as_a_new_one,
            cache_entries_are_absent_once_expired,
            concurrent_writers_of_one_conversation_lose_no_update,
        );
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                $crate::contract::$case($make).await;
            }
        )*
    };
}
