//! The connector's conversation engine: every decision, no I/O.
//!
//! Layout:
//! - [`config`]: typed settings, loaded once (`conf/default` < `conf/custom` < environment).
//! - [`labels`]: user-facing texts from `lang/<lang>.toml`.
//! - [`answer`]: the Inbenta Chatbot API response model, read leniently.
//! - [`conversation`]: the per-user state persisted between messages.
//! - [`ports`]: the narrow traits the engine talks through (chatbot, store, reply sink, clock).
//! - [`step`]: one user message -> new state + channel-neutral replies.
//! - [`pipeline`]: dedupe, per-conversation lease, step, delivery and commit, in that order.
#![forbid(unsafe_code)]

pub mod answer;
pub mod app_data;
pub mod config;
pub mod conversation;
pub mod labels;
pub mod matching;
pub mod pipeline;
pub mod ports;
pub mod reply;
pub mod step;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;

pub use conversation::{Conversation, ConversationKey};
pub use ports::{Chatbot, Clock, LiveChat, ReplySink, StateStore, SystemClock, Timestamp};
pub use reply::Reply;

/// A stable, non-reversible name for an identifier that must not appear in clear (conversation
/// keys hold phone numbers; cache keys would hold API keys).
pub fn fingerprint(text: &str) -> String {
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    format!("{hash:016x}")
}

/// An error and its causes on one line (`outer: cause: root cause`), for logs.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
