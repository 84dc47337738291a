//! The replies and the question of one turn, numbered across the turn.

use crate::conversation::{Awaiting, Conversation, PendingOption, PendingPrompt, PromptKind, RatingChoice};
use crate::labels::{Label, Labels};
use crate::reply::{ChoiceOption, Reply};

/// The replies and options of one turn.
#[derive(Default)]
pub(super) struct Turn {
    pub(super) replies: Vec<Reply>,
    pub(super) options: Vec<PendingOption>,
    kind: PromptKind,
    /// A rating whose reason the user was asked for.
    pub(super) comment: Option<RatingChoice>,
}

impl Turn {
    pub(super) fn text(&mut self, text: &str) {
        if !text.trim().is_empty() {
            self.replies.push(Reply::Text(text.to_owned()));
        }
    }

    /// Adds a choice numbered after every option already offered in this turn.
    pub(super) fn choice(&mut self, text: &str, options: Vec<PendingOption>, kind: PromptKind, labels: &Labels) {
        if options.is_empty() {
            self.text(text);
            return;
        }
        let first_number = self.options.len() + 1;
        let shown = options.iter().map(|o| ChoiceOption { label: o.label.clone(), button: o.button.clone() }).collect();
        self.options.extend(options);
        self.kind = kind;
        self.replies.push(Reply::Choice {
            text: text.to_owned(),
            options: shown,
            first_number,
            number_hint: labels.get(Label::TypeANumber).to_owned(),
        });
    }

    /// Stores what the turn asked, or `otherwise` when it asked nothing, as what the user's next
    /// message answers; returns the turn's replies.
    pub(super) fn finish(self, conv: &mut Conversation, otherwise: Awaiting) -> Vec<Reply> {
        let (asked, replies) = self.asked();
        conv.awaiting = asked.unwrap_or(otherwise);
        replies
    }

    /// Stores what the turn asked, if it asked something; else what was pending stays.
    pub(super) fn finish_keeping(self, conv: &mut Conversation) -> Vec<Reply> {
        let (asked, replies) = self.asked();
        if let Some(asked) = asked {
            conv.awaiting = asked;
        }
        replies
    }

    /// What the turn asked (options, or a rating's reason), and its replies.
    fn asked(self) -> (Option<Awaiting>, Vec<Reply>) {
        let asked = match (self.options.is_empty(), self.comment) {
            (false, _) => Some(Awaiting::Choice(PendingPrompt { kind: self.kind, options: self.options })),
            (true, Some(rating)) => Some(Awaiting::RatingComment(rating)),
            (true, None) => None,
        };
        (asked, self.replies)
    }
}
