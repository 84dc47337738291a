//! A later report that a message did not reach the user. An agent's is reported to the agent in
//! their chat, in the conversation's language, with the reason; a bot reply's is logged with the
//! provider's code (the user cannot be told through the channel that failed).

use super::{AgentNote, Engine};
use crate::conversation::{Conversation, Mode};
use crate::labels::Label;
use crate::undelivered::Undelivered;

impl Engine<'_> {
    /// The note that tells the agent of the user's live chat that their message did not
    /// arrive, posted by the pipeline after the turn is committed (so a retried turn tells
    /// them once); nothing changes in the conversation and the user is sent nothing.
    pub(crate) fn on_undelivered(&self, conv: &Conversation, report: &Undelivered) -> Option<AgentNote> {
        let code = report.code.as_deref().unwrap_or("none");
        if !report.from_agent {
            tracing::warn!(code, reason = ?report.reason, "a bot reply the channel accepted was not delivered");
            return None;
        }
        let Mode::LiveChat { chat, .. } = &conv.mode else {
            tracing::warn!(code, reason = ?report.reason, "an agent's message was not delivered, after the chat ended");
            return None;
        };
        let mut reason = self.labels.get(report.reason.label()).to_owned();
        if let Some(code) = &report.code {
            reason.push_str(&format!(" ({code})"));
        }
        let text = self.labels.get(Label::AgentMessageUndelivered).replace("$reason", &reason);
        Some(AgentNote { chat: chat.clone(), text })
    }
}
