//! The behaviour every [`StateStore`] must have. Run it with [`store_contract_tests!`].

use connector_core::store::{Commit, LastSend, Outbox, Progress, StateStore, StoreError, TicketKey, TicketRecipient};
use connector_engine::Reply;
use connector_engine::conversation::{Conversation, ConversationKey, ReplyAddress};
use connector_engine::values::{MessageId, Timestamp};
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

fn outbox(id: &MessageId, texts: &[&str]) -> Outbox {
    Outbox {
        message_id: id.clone(),
        address: ReplyAddress { channel: "twilio".into(), to: serde_json::json!({ "from": "+1", "to": "+2" }) },
        replies: texts.iter().map(|t| Reply::Text((*t).to_owned())).collect(),
        from_agent: false,
    }
}

async fn commit(
    store: &Store,
    key: &ConversationKey,
    version: u64,
    conversation: &Conversation,
    outbox: &Outbox,
    expires_at: Timestamp,
) -> Result<(), StoreError> {
    store.commit(&Commit { key, version, conversation, outbox, chat_opened: None, expires_at }).await
}

pub async fn a_new_conversation_loads_at_version_zero_with_defaults(store: Store) {
    let v = store.load(&ConversationKey::new(unique("conv")), NOW).await.unwrap();
    assert_eq!((v.version, v.conversation, v.outbox), (0, Conversation::default(), None));
}

pub async fn a_commit_is_loaded_back_with_its_outbox_and_the_next_version(store: Store) {
    let (key, id) = (ConversationKey::new(unique("conv")), message_id());
    let conversation = Conversation { messages_handled: 7, no_results_count: 2, ..Conversation::default() };
    let sent = outbox(&id, &["one", "two"]);
    commit(&store, &key, 0, &conversation, &sent, LATER).await.unwrap();
    let again = store.load(&key, NOW).await.unwrap();
    assert_eq!((again.version, again.conversation, again.outbox), (1, conversation, Some(sent)));
}

pub async fn a_commit_from_a_stale_version_is_refused(store: Store) {
    let key = ConversationKey::new(unique("conv"));
    commit(&store, &key, 0, &Conversation::default(), &outbox(&message_id(), &["a"]), LATER).await.unwrap();
    commit(&store, &key, 1, &Conversation::default(), &outbox(&message_id(), &["b"]), LATER).await.unwrap();
    let stale = commit(&store, &key, 1, &Conversation::default(), &outbox(&message_id(), &["c"]), LATER).await;
    assert!(matches!(stale, Err(StoreError::Conflict(_))), "{stale:?}");
    let first_again =
        commit(&store, &ConversationKey::new(unique("conv")), 3, &Conversation::default(), &outbox(&message_id(), &[]), LATER).await;
    assert!(matches!(first_again, Err(StoreError::Conflict(_))), "a version that never was is refused too: {first_again:?}");
}

/// The SDK repeats a write whose answer came late: the repeat of our own commit is no conflict.
pub async fn a_commit_repeated_after_it_was_applied_is_still_ours(store: Store) {
    let (key, id) = (ConversationKey::new(unique("conv")), message_id());
    let sent = outbox(&id, &["hi"]);
    commit(&store, &key, 0, &Conversation::default(), &sent, LATER).await.unwrap();
    let repeated = commit(&store, &key, 0, &Conversation::default(), &sent, LATER).await;
    // The in-memory store has no lost answers to repeat: it may refuse, but must not apply twice.
    assert!(repeated.is_ok() || matches!(repeated, Err(StoreError::Conflict(_))), "{repeated:?}");
    assert_eq!(store.load(&key, NOW).await.unwrap().version, 1);
}

pub async fn progress_is_absent_until_recorded_then_read_back_with_any_send_in_doubt_until_it_expires(store: Store) {
    let id = message_id();
    assert_eq!(store.progress(&id, NOW).await.unwrap(), None);
    store.record_progress(&id, Progress::attempted(1, 3), Timestamp(NOW.0 + 10)).await.unwrap();
    let read = store.progress(&id, NOW).await.unwrap();
    assert_eq!(read, Some(Progress::attempted(1, 3)));
    assert!(!read.unwrap().is_done());
    let started = Progress { attempted: 2, total: 3, last_send: LastSend::Started(Timestamp(NOW.0 - 2)) };
    store.record_progress(&id, started, Timestamp(NOW.0 + 10)).await.unwrap();
    assert_eq!(store.progress(&id, NOW).await.unwrap(), Some(started), "a send started is kept with its time");
    let last_started = Progress { attempted: 3, total: 3, last_send: LastSend::Started(Timestamp(NOW.0 - 1)) };
    store.record_progress(&id, last_started, Timestamp(NOW.0 + 10)).await.unwrap();
    assert!(store.progress(&id, NOW).await.unwrap().is_some_and(|p| p.is_done()), "a last send started but not in doubt is done");
    let in_doubt = Progress { attempted: 3, total: 3, last_send: LastSend::AnswerLost(Timestamp(NOW.0 - 1)) };
    store.record_progress(&id, in_doubt, Timestamp(NOW.0 + 10)).await.unwrap();
    let read = store.progress(&id, NOW).await.unwrap();
    assert_eq!(read, Some(in_doubt), "a send in doubt is kept with its time");
    assert!(!read.unwrap().is_done(), "a last send in doubt is not done");
    store.record_progress(&id, Progress::attempted(3, 3), Timestamp(NOW.0 + 10)).await.unwrap();
    assert!(store.progress(&id, NOW).await.unwrap().is_some_and(|p| p.is_done()));
    assert_eq!(store.progress(&id, Timestamp(NOW.0 + 10)).await.unwrap(), None, "expired");
}

pub async fn an_expired_conversation_reads_as_a_new_one_that_can_be_committed(store: Store) {
    let key = ConversationKey::new(unique("conv"));
    let conversation = Conversation { messages_handled: 5, ..Conversation::default() };
    commit(&store, &key, 0, &conversation, &outbox(&message_id(), &["hi"]), Timestamp(NOW.0 + 10)).await.unwrap();
    let much_later = Timestamp(NOW.0 + 100);
    let read = store.load(&key, much_later).await.unwrap();
    assert_eq!((&read.conversation, &read.outbox), (&Conversation::default(), &None));
    commit(&store, &key, read.version, &read.conversation, &outbox(&message_id(), &[]), LATER).await.unwrap();
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
    let sent = outbox(&id, &["hi"]);
    let opening = Commit {
        key: &key,
        version: 0,
        conversation: &Conversation::default(),
        outbox: &sent,
        chat_opened: Some(&chat),
        expires_at: Timestamp(NOW.0 + 10),
    };
    store.commit(&opening).await.unwrap();
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

pub async fn a_conversation_is_peeked_until_it_expires(store: Store) {
    let key = ConversationKey::new(unique("conv"));
    assert_eq!(store.peek(&key, NOW).await.unwrap(), None);
    let conversation = Conversation { messages_handled: 3, ..Conversation::default() };
    commit(&store, &key, 0, &conversation, &outbox(&message_id(), &["hi"]), Timestamp(NOW.0 + 10)).await.unwrap();
    assert_eq!(store.peek(&key, NOW).await.unwrap().map(|c| c.messages_handled), Some(3));
    assert_eq!(store.peek(&key, Timestamp(NOW.0 + 10)).await.unwrap(), None, "expired");
}

/// Twenty writers of one conversation, each load -> increment -> commit, retrying on a
/// conflict: the version check alone loses no update (the queue's order makes conflicts rare;
/// this is what protects the state when they happen).
pub async fn concurrent_writers_of_one_conversation_lose_no_update(store: Store) {
    let key = ConversationKey::new(unique("conv"));
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (store, key) = (store.clone(), key.clone());
            tokio::spawn(async move {
                loop {
                    let mut v = store.load(&key, NOW).await.unwrap();
                    v.conversation.messages_handled += 1;
                    match commit(&store, &key, v.version, &v.conversation, &outbox(&message_id(), &["x"]), LATER).await {
                        Ok(()) => return,
                        Err(StoreError::Conflict(_)) => tokio::time::sleep(std::time::Duration::from_millis(2)).await,
                        Err(error) => panic!("{error}"),
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let v = store.load(&key, NOW).await.unwrap();
    assert_eq!((v.conversation.messages_handled, v.version), (20, 20));
}

/// Declares one `#[tokio::test]` per contract case for the store built by `$make`.
#[macro_export]
macro_rules! store_contract_tests {
    ($make:expr) => {
        $crate::store_contract_tests!(@cases $make;
            a_new_conversation_loads_at_version_zero_with_defaults,
            a_commit_is_loaded_back_with_its_outbox_and_the_next_version,
            a_commit_from_a_stale_version_is_refused,
            a_commit_repeated_after_it_was_applied_is_still_ours,
            progress_is_absent_until_recorded_then_read_back_with_any_send_in_doubt_until_it_expires,
            an_expired_conversation_reads_as_a_new_one_that_can_be_committed,
            cache_entries_are_absent_once_expired,
            a_chat_opened_by_a_commit_leads_to_its_conversation_until_the_index_expires,
            a_ticket_or_contact_leads_to_its_recipient_until_the_index_expires_and_a_later_write_replaces_it,
            a_conversation_is_peeked_until_it_expires,
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
