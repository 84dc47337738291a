//! The behaviour every [`StateStore`] must have. Run it with [`store_contract_tests!`].

use connector_engine::Reply;
use connector_engine::conversation::{Conversation, ConversationKey, ReplyAddress};
use connector_engine::ports::{
    Acquired, Claim, ClaimRequest, Lease, MessageId, Outbox, StateStore, StoreError, TicketKey, TicketRecipient, Timestamp, Versioned,
};
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

fn message_id() -> MessageId {
    MessageId::new("twilio", &unique("SM"))
}

fn lease(owner: &str, until: Timestamp) -> Lease {
    Lease { owner: owner.to_owned(), until }
}

fn claim_by(owner: &str, now: Timestamp) -> ClaimRequest {
    ClaimRequest { owner: owner.to_owned(), now, hold_until: Timestamp(now.0 + 20), expires_at: LATER }
}

fn outbox(id: &MessageId, texts: &[&str]) -> Outbox {
    Outbox {
        message_id: id.clone(),
        address: ReplyAddress { channel: "twilio".into(), to: serde_json::json!({ "from": "+1", "to": "+2" }) },
        replies: texts.iter().map(|t| Reply::Text((*t).to_owned())).collect(),
        from_agent: false,
        attempted: 1,
    }
}

async fn lock(store: &Store, key: &ConversationKey, owner: &str) -> Versioned {
    match store.acquire(key, &lease(owner, Timestamp(NOW.0 + 30)), NOW).await.unwrap() {
        Acquired::Locked(v) => v,
        Acquired::Busy => panic!("{owner} expected the lease"),
    }
}

/// Lock, commit `conversation` with a one-reply outbox, finish: one whole turn.
async fn turn(store: &Store, key: &ConversationKey, owner: &str, conversation: &Conversation) -> u64 {
    let v = lock(store, key, owner).await;
    let id = message_id();
    let held = lease(owner, NOW);
    store.commit(key, &held, v.version, conversation, &outbox(&id, &["hi"]), None, LATER).await.unwrap();
    store.finish(key, &held, &id, true).await.unwrap();
    v.version + 1
}

pub async fn a_message_id_is_ours_once_and_done_after_its_turn_finished(store: Store) {
    let (id, key) = (message_id(), ConversationKey::new(unique("conv")));
    assert_eq!(store.claim_message(&id, &claim_by("a", NOW)).await.unwrap(), Claim::New);
    let v = lock(&store, &key, "a").await;
    store.commit(&key, &lease("a", NOW), v.version, &v.conversation, &outbox(&id, &["hi"]), None, LATER).await.unwrap();
    store.finish(&key, &lease("a", NOW), &id, true).await.unwrap();
    assert_eq!(store.claim_message(&id, &claim_by("b", NOW)).await.unwrap(), Claim::Done);
    assert_eq!(store.claim_message(&id, &claim_by("a", NOW)).await.unwrap(), Claim::Done);
}

/// The SDK retries a write whose answer came late: the retry must not read as someone else's.
pub async fn a_claim_repeated_by_its_own_request_is_still_ours(store: Store) {
    let id = message_id();
    assert_eq!(store.claim_message(&id, &claim_by("a", NOW)).await.unwrap(), Claim::New);
    assert_eq!(store.claim_message(&id, &claim_by("a", NOW)).await.unwrap(), Claim::New, "not taken over from itself");
}

pub async fn a_claim_held_by_another_request_is_in_progress_until_its_hold_expires(store: Store) {
    let id = message_id();
    assert_eq!(store.claim_message(&id, &claim_by("a", NOW)).await.unwrap(), Claim::New);
    assert_eq!(store.claim_message(&id, &claim_by("b", Timestamp(NOW.0 + 5))).await.unwrap(), Claim::InProgress);
    assert_eq!(store.claim_message(&id, &claim_by("b", Timestamp(NOW.0 + 21))).await.unwrap(), Claim::TakenOver);
    assert_eq!(store.claim_message(&id, &claim_by("a", Timestamp(NOW.0 + 22))).await.unwrap(), Claim::InProgress);
}

pub async fn a_released_claim_can_be_claimed_again_at_once(store: Store) {
    let id = message_id();
    store.claim_message(&id, &claim_by("a", NOW)).await.unwrap();
    store.release_message(&id, "b").await.unwrap();
    assert_eq!(store.claim_message(&id, &claim_by("c", NOW)).await.unwrap(), Claim::InProgress, "only its owner releases it");
    store.release_message(&id, "a").await.unwrap();
    assert_eq!(store.claim_message(&id, &claim_by("c", NOW)).await.unwrap(), Claim::TakenOver, "given up, not forgotten");
}

pub async fn concurrent_claims_of_one_id_have_exactly_one_winner(store: Store) {
    let id = message_id();
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let (store, id) = (store.clone(), id.clone());
            tokio::spawn(async move { store.claim_message(&id, &claim_by(&format!("r{i}"), NOW)).await.unwrap() })
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
    assert_eq!(v.outbox, None);
}

pub async fn a_held_lease_makes_others_wait_until_it_expires(store: Store) {
    let key = ConversationKey::new(unique("conv"));
    lock(&store, &key, "a").await;
    let contender = lease("b", Timestamp(NOW.0 + 60));
    assert!(matches!(store.acquire(&key, &contender, NOW).await.unwrap(), Acquired::Busy));
    let after_expiry = Timestamp(NOW.0 + 31);
    assert!(matches!(store.acquire(&key, &contender, after_expiry).await.unwrap(), Acquired::Locked(_)));
}

pub async fn a_commit_keeps_the_lease_and_is_read_back_with_its_outbox_and_the_next_version(store: Store) {
    let (key, id) = (ConversationKey::new(unique("conv")), message_id());
    let v = lock(&store, &key, "a").await;
    let mut conversation = v.conversation;
    conversation.messages_handled = 7;
    conversation.no_results_count = 2;
    let sent = outbox(&id, &["one", "two"]);
    store.commit(&key, &lease("a", NOW), v.version, &conversation, &sent, None, LATER).await.unwrap();
    assert!(matches!(store.acquire(&key, &lease("b", Timestamp(NOW.0 + 30)), NOW).await.unwrap(), Acquired::Busy), "lease kept");
    store.release(&key, &lease("a", NOW)).await.unwrap();
    let again = lock(&store, &key, "b").await;
    assert_eq!(again.version, v.version + 1);
    assert_eq!(again.conversation, conversation);
    assert_eq!(again.outbox, Some(sent));
}

pub async fn progress_is_recorded_and_finishing_drops_the_outbox_and_frees_the_lease(store: Store) {
    let (key, id) = (ConversationKey::new(unique("conv")), message_id());
    store.claim_message(&id, &claim_by("a", NOW)).await.unwrap();
    let v = lock(&store, &key, "a").await;
    store.commit(&key, &lease("a", NOW), v.version, &v.conversation, &outbox(&id, &["one", "two", "three"]), None, LATER).await.unwrap();
    store.record_progress(&key, &lease("a", NOW), &id, 3).await.unwrap();
    let intruder = store.record_progress(&key, &lease("b", NOW), &id, 1).await;
    assert!(matches!(intruder, Err(StoreError::Conflict(_))), "{intruder:?}");
    store.release(&key, &lease("a", NOW)).await.unwrap();
    let resumed = lock(&store, &key, "c").await;
    assert_eq!(resumed.outbox.map(|o| o.attempted), Some(3));
    store.finish(&key, &lease("c", NOW), &id, true).await.unwrap();
    let after = lock(&store, &key, "d").await;
    assert_eq!((after.version, after.outbox), (v.version + 1, None));
    assert_eq!(store.claim_message(&id, &claim_by("e", NOW)).await.unwrap(), Claim::Done);
}

pub async fn finishing_with_the_lease_kept_leaves_it_held(store: Store) {
    let (key, id) = (ConversationKey::new(unique("conv")), message_id());
    let v = lock(&store, &key, "a").await;
    store.commit(&key, &lease("a", NOW), v.version, &v.conversation, &outbox(&id, &["hi"]), None, LATER).await.unwrap();
    store.finish(&key, &lease("a", NOW), &id, false).await.unwrap();
    assert!(matches!(store.acquire(&key, &lease("b", Timestamp(NOW.0 + 30)), NOW).await.unwrap(), Acquired::Busy));
    let own = lock(&store, &key, "a").await;
    assert_eq!((own.version, own.outbox), (v.version + 1, None));
}

pub async fn a_commit_from_a_stale_version_is_refused(store: Store) {
    let key = ConversationKey::new(unique("conv"));
    let v = lock(&store, &key, "a").await;
    turn(&store, &key, "a", &v.conversation).await;
    lock(&store, &key, "a").await;
    let stale = store.commit(&key, &lease("a", NOW), v.version, &v.conversation, &outbox(&message_id(), &[]), None, LATER).await;
    assert!(matches!(stale, Err(StoreError::Conflict(_))), "{stale:?}");
}

pub async fn a_commit_without_the_lease_is_refused(store: Store) {
    let key = ConversationKey::new(unique("conv"));
    let v = lock(&store, &key, "a").await;
    let intruder = store.commit(&key, &lease("b", NOW), v.version, &v.conversation, &outbox(&message_id(), &[]), None, LATER).await;
    assert!(matches!(intruder, Err(StoreError::Conflict(_))), "{intruder:?}");
}

pub async fn releasing_frees_the_lease_and_keeps_the_state(store: Store) {
    let key = ConversationKey::new(unique("conv"));
    let conversation = Conversation { messages_handled: 3, ..Conversation::default() };
    let version = turn(&store, &key, "a", &conversation).await;
    lock(&store, &key, "a").await;
    store.release(&key, &lease("a", NOW)).await.unwrap();
    let next = lock(&store, &key, "b").await;
    assert_eq!(next.version, version);
    assert_eq!(next.conversation.messages_handled, 3);
}

pub async fn an_expired_conversation_reads_as_a_new_one(store: Store) {
    let key = ConversationKey::new(unique("conv"));
    let (v, id) = (lock(&store, &key, "a").await, message_id());
    let mut conversation = v.conversation;
    conversation.messages_handled = 5;
    store.commit(&key, &lease("a", NOW), v.version, &conversation, &outbox(&id, &["hi"]), None, Timestamp(NOW.0 + 10)).await.unwrap();
    store.finish(&key, &lease("a", NOW), &id, true).await.unwrap();
    let much_later = Timestamp(NOW.0 + 100);
    let Acquired::Locked(read) = store.acquire(&key, &lease("b", Timestamp(much_later.0 + 30)), much_later).await.unwrap() else {
        panic!("expected the lease")
    };
    assert_eq!(read.conversation, Conversation::default());
    store.commit(&key, &lease("b", NOW), read.version, &read.conversation, &outbox(&message_id(), &[]), None, LATER).await.unwrap();
}

pub async fn cache_entries_are_absent_once_expired(store: Store) {
    let key = unique("token");
    store.cache_put(&key, "value", Timestamp(NOW.0 + 10)).await.unwrap();
    assert_eq!(store.cache_get(&key, NOW).await.unwrap().as_deref(), Some("value"));
    assert_eq!(store.cache_get(&key, Timestamp(NOW.0 + 10)).await.unwrap(), None);
    assert_eq!(store.cache_get(&unique("missing"), NOW).await.unwrap(), None);
}

pub async fn a_chat_opened_by_a_commit_leads_to_its_conversation_until_the_index_expires(store: Store) {
    let (chat, key, id) = (unique("chat"), ConversationKey::new(unique("conv")), message_id());
    assert_eq!(store.chat_conversation(&chat, NOW).await.unwrap(), None);
    let v = lock(&store, &key, "a").await;
    store
        .commit(&key, &lease("a", NOW), v.version, &v.conversation, &outbox(&id, &["hi"]), Some(&chat), Timestamp(NOW.0 + 10))
        .await
        .unwrap();
    assert_eq!(store.chat_conversation(&chat, NOW).await.unwrap(), Some(key));
    assert_eq!(store.chat_conversation(&chat, Timestamp(NOW.0 + 10)).await.unwrap(), None);
}

pub async fn a_ticket_or_contact_leads_to_its_recipient_until_the_index_expires_and_a_later_write_replaces_it(store: Store) {
    let recipient = |conversation: &str| TicketRecipient {
        conversation: ConversationKey::new(conversation),
        address: ReplyAddress { channel: "twilio".into(), to: serde_json::json!({ "from": "+1", "to": "+2" }) },
    };
    let (ticket, contact) = (TicketKey::Ticket(unique("TCK")), TicketKey::contact(&format!(" {}@Example.COM ", unique("Ann"))));
    assert_eq!(store.ticket_recipient(&ticket, NOW).await.unwrap(), None);
    store.index_ticket(&ticket, &recipient("conv-a"), Timestamp(NOW.0 + 10)).await.unwrap();
    store.index_ticket(&contact, &recipient("conv-b"), Timestamp(NOW.0 + 10)).await.unwrap();
    assert_eq!(store.ticket_recipient(&ticket, NOW).await.unwrap(), Some(recipient("conv-a")));
    let TicketKey::Contact(email) = &contact else { unreachable!() };
    assert_eq!(store.ticket_recipient(&TicketKey::contact(&email.to_uppercase()), NOW).await.unwrap(), Some(recipient("conv-b")));
    assert_eq!(store.ticket_recipient(&ticket, Timestamp(NOW.0 + 10)).await.unwrap(), None);
    store.index_ticket(&ticket, &recipient("conv-c"), LATER).await.unwrap();
    assert_eq!(store.ticket_recipient(&ticket, NOW).await.unwrap(), Some(recipient("conv-c")));
}

pub async fn a_conversation_is_peeked_without_taking_its_lease(store: Store) {
    let key = ConversationKey::new(unique("conv"));
    assert_eq!(store.peek(&key, NOW).await.unwrap(), None);
    let conversation = Conversation { messages_handled: 3, ..Conversation::default() };
    let (id, v) = (message_id(), lock(&store, &key, "a").await);
    store.commit(&key, &lease("a", NOW), v.version, &conversation, &outbox(&id, &["hi"]), None, Timestamp(NOW.0 + 10)).await.unwrap();
    assert_eq!(store.peek(&key, NOW).await.unwrap().map(|c| c.messages_handled), Some(3));
    assert!(
        matches!(store.acquire(&key, &lease("b", Timestamp(NOW.0 + 30)), NOW).await.unwrap(), Acquired::Busy),
        "a's lease is still a's"
    );
    assert_eq!(store.peek(&key, Timestamp(NOW.0 + 10)).await.unwrap(), None, "expired");
}

/// A turn given up after its commit and finished by the user's next message: the message is
/// done, whoever claimed it in between.
pub async fn a_turn_finished_for_a_given_up_claim_leaves_it_done(store: Store) {
    let (key, id) = (ConversationKey::new(unique("conv")), message_id());
    store.claim_message(&id, &claim_by("a", NOW)).await.unwrap();
    let v = lock(&store, &key, "a").await;
    store.commit(&key, &lease("a", NOW), v.version, &v.conversation, &outbox(&id, &["hi"]), None, LATER).await.unwrap();
    store.release(&key, &lease("a", NOW)).await.unwrap();
    store.release_message(&id, "a").await.unwrap();
    assert_eq!(store.claim_message(&id, &claim_by("b", NOW)).await.unwrap(), Claim::TakenOver);
    lock(&store, &key, "c").await;
    store.finish(&key, &lease("c", NOW), &id, true).await.unwrap();
    assert_eq!(store.claim_message(&id, &claim_by("b", NOW)).await.unwrap(), Claim::Done);
}

/// Twenty writers of one conversation, each lock -> increment -> commit -> finish, retrying
/// while busy: no increment may be lost.
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
                            let id = message_id();
                            store.commit(&key, &me, v.version, &v.conversation, &outbox(&id, &["x"]), None, LATER).await.unwrap();
                            store.finish(&key, &me, &id, true).await.unwrap();
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
            a_message_id_is_ours_once_and_done_after_its_turn_finished,
            a_claim_repeated_by_its_own_request_is_still_ours,
            a_claim_held_by_another_request_is_in_progress_until_its_hold_expires,
            a_released_claim_can_be_claimed_again_at_once,
            concurrent_claims_of_one_id_have_exactly_one_winner,
            a_new_conversation_is_locked_at_version_zero_with_defaults,
            a_held_lease_makes_others_wait_until_it_expires,
            a_commit_keeps_the_lease_and_is_read_back_with_its_outbox_and_the_next_version,
            progress_is_recorded_and_finishing_drops_the_outbox_and_frees_the_lease,
            finishing_with_the_lease_kept_leaves_it_held,
            a_commit_from_a_stale_version_is_refused,
            a_commit_without_the_lease_is_refused,
            releasing_frees_the_lease_and_keeps_the_state,
            an_expired_conversation_reads_as_a_new_one,
            cache_entries_are_absent_once_expired,
            a_chat_opened_by_a_commit_leads_to_its_conversation_until_the_index_expires,
            a_ticket_or_contact_leads_to_its_recipient_until_the_index_expires_and_a_later_write_replaces_it,
            a_conversation_is_peeked_without_taking_its_lease,
            a_turn_finished_for_a_given_up_claim_leaves_it_done,
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
