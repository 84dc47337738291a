//! The connector's conversation engine: every decision, no I/O.
//!
//! Layout:
//! - [`settings`]: the engine's own configuration tables (ratings, escalation, only-chat mode).
//! - [`labels`]: user-facing texts, parsed from the text of `lang/<lang>.toml` (composition
//!   reads the file).
//! - [`answer`]: the Inbenta Chatbot API response model, read leniently.
//! - [`conversation`]: the per-user state persisted between messages.
//! - [`extra_info`]: ExtraInfo over the label files and the configuration, for one turn.
//! - [`values`]: the values the engine, its ports and the store share (time, message ids,
//!   chats, files, ExtraInfo); they depend on no other module.
//! - [`ports`]: the engine's ports, the narrow traits it talks through (chatbot, live chat,
//!   surveys, the user's channel, clock). The store port is `connector_core::store`: the
//!   engine never touches the store.
//! - [`step`]: one user message or live-chat event -> new state + channel-neutral replies.
//!   - `step/mod.rs`: the inputs, [`step::Engine`], its policy, one turn, the deadline helper.
//!   - `step/live_chat.rs`: the chat's events, relaying to the agent (text, files), the chat's end.
//!   - `step/escalation.rs`: triggers, the offer of an agent, the escalation form, opening a chat.
//!   - `step/bot.rs`: the bot session, asking, responding to a reply, presenting, tracking.
//!   - `step/ratings.rs`: the rating question and the ratings given.
//!   - `step/presentation.rs`: answers as replies and options (pure, synchronous).
//!   - `step/survey_flow.rs`: the survey after a chat, offered, answered, submitted.
//!   - `step/turn.rs`: the replies and the question of one turn.
//! - [`survey`]: Inbenta's satisfaction survey after a chat, asked question by question.
//! - [`undelivered`]: a message the channel reported later as not delivered, told to the agent.
#![forbid(unsafe_code)]

pub mod answer;
pub mod conversation;
pub mod extra_info;
pub mod labels;
pub mod matching;
pub mod ports;
pub mod reply;
pub mod settings;
pub mod step;
pub mod survey;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;
pub mod undelivered;
pub mod values;

pub use conversation::{Conversation, ConversationKey, ReplyAddress};
pub use ports::{Chatbot, Clock, LiveChat, SystemClock};
pub use reply::{ChoiceOption, Link, Reply, SharedFile, Tap};
pub use values::{MessageId, Timestamp};

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
