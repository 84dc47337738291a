//! Messages of ours the channel accepted and later reported as never delivered (Twilio's status
//! callbacks, Smooch's `conversation:message:delivery:failure`). An agent's is reported to the
//! agent in their chat, in the conversation's language, with the reason; a bot reply's is
//! logged with the provider's code (the user cannot be told through the channel that failed).

use crate::conversation::{Conversation, Mode};
use crate::labels::Label;
use crate::step::Engine;
use serde::{Deserialize, Serialize};

/// A later report that a message did not reach the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Undelivered {
    /// An agent's message (else the bot's).
    pub from_agent: bool,
    pub reason: UndeliveredReason,
    /// The provider's error code, for the agent and the logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// Why, in terms an agent can act on; each channel sorts its own codes into these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UndeliveredReason {
    /// The channel's reply window is closed (WhatsApp: 24 hours since the user last wrote).
    WindowClosed,
    /// The user's phone or account could not be reached.
    Unreachable,
    /// The user or their carrier blocked it.
    Blocked,
    /// The address does not exist on the channel.
    UnknownAddress,
    /// The number cannot receive messages (a landline).
    NotMobile,
    /// The carrier or platform filtered it as unwanted.
    Filtered,
    Other,
}

impl UndeliveredReason {
    fn label(self) -> Label {
        match self {
            Self::WindowClosed => Label::UndeliveredWindowClosed,
            Self::Unreachable => Label::UndeliveredUnreachable,
            Self::Blocked => Label::UndeliveredBlocked,
            Self::UnknownAddress => Label::UndeliveredUnknownAddress,
            Self::NotMobile => Label::UndeliveredNotMobile,
            Self::Filtered => Label::UndeliveredFiltered,
            Self::Other => Label::UndeliveredOther,
        }
    }
}

impl Engine<'_> {
    /// Tells the agent of the user's live chat that their message did not arrive; nothing
    /// changes in the conversation and the user is sent nothing.
    pub(crate) async fn on_undelivered(&self, conv: &Conversation, report: &Undelivered) {
        let code = report.code.as_deref().unwrap_or("none");
        if !report.from_agent {
            tracing::warn!(code, reason = ?report.reason, "a bot reply the channel accepted was not delivered");
            return;
        }
        let Mode::LiveChat { chat, .. } = &conv.mode else {
            tracing::warn!(code, reason = ?report.reason, "an agent's message was not delivered, after the chat ended");
            return;
        };
        let mut reason = self.labels.get(report.reason.label()).to_owned();
        if let Some(code) = &report.code {
            reason.push_str(&format!(" ({code})"));
        }
        let note = self.labels.get(Label::AgentMessageUndelivered).replace("$reason", &reason);
        if let Err(error) = self.agent(self.live_chat.send_message(chat, &note)).await {
            tracing::warn!(error = %crate::error_chain(&error), code, "the agent could not be told their message was not delivered");
        }
    }
}
