//! Messages of ours the channel accepted and later reported as never delivered (Twilio's status
//! callbacks, Smooch's `conversation:message:delivery:failure`), as the channels report them.
//! What the engine does with a report is `step::undelivered`'s.

use crate::labels::Label;
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
    /// The label that says it to an agent.
    pub(crate) fn label(self) -> Label {
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
