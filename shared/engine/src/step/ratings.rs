//! Content ratings: "Was this answer helpful?" after a rateable answer, the rating (and its
//! reason) tracked, and enough negative ones in a row offering an agent.

use super::escalation::{DIRECT_CALL_ESCALATION_START, Trigger};
use super::{Engine, Turn};
use crate::answer::{Answer, AnswerKind};
use crate::conversation::{Conversation, OptionAction, PendingOption, PromptKind, RatingChoice};
use crate::labels::Label;
use crate::ports::ChatbotError;
use crate::values::Timestamp;
use serde_json::{Value, json};

impl Engine<'_> {
    /// Asks "Was this answer helpful?" after a rateable answer, unless another question is
    /// already pending (its numbers would collide with the ratings').
    pub(super) fn offer_rating(&self, rate_code: Option<String>, turn: &mut Turn) {
        let ratings = &self.policy.ratings;
        let Some(code) = rate_code.filter(|_| ratings.enabled && turn.options.is_empty()) else { return };
        let options = ratings
            .ratings
            .iter()
            .map(|r| PendingOption {
                label: self.labels.translate_or_keep(&r.label).to_owned(),
                aliases: vec![r.label.clone()],
                action: OptionAction::Rate {
                    rating: RatingChoice { code: code.clone(), id: r.id },
                    comment: r.comment,
                    negative: r.is_negative,
                },
                button: None,
                click_code: None,
            })
            .collect();
        turn.choice(self.labels.get(Label::RateContentIntro), options, PromptKind::Rating, self.labels);
    }

    /// Records a rating. A rating that asks for a reason is tracked once the reason arrives
    /// (one event with its comment, not two); enough negative ratings in a row offer an agent.
    pub(super) async fn rate(
        &self,
        conv: &mut Conversation,
        rating: RatingChoice,
        comment: bool,
        negative: bool,
        now: Timestamp,
        turn: &mut Turn,
    ) -> Result<(), ChatbotError> {
        conv.negative_ratings_count = if negative { conv.negative_ratings_count + 1 } else { 0 };
        let policy = &self.policy.escalation;
        let threshold = policy.negative_ratings_before_escalation;
        let escalate = policy.enabled && threshold > 0 && conv.negative_ratings_count >= threshold;
        if comment && !escalate {
            turn.text(self.labels.get(Label::AskRatingComment));
            turn.comment = Some(rating);
            return Ok(());
        }
        self.track_quietly(conv, "rate", json!({ "code": rating.code, "value": rating.id, "comment": Value::Null })).await;
        turn.text(self.labels.get(Label::Thanks));
        if escalate {
            self.offer_escalation(conv, Trigger::NegativeRatings, now, turn).await?;
        }
        Ok(())
    }
}

/// The rate code of the last rateable answer: an `answer` with a `rateCode` that is neither
/// flagged `no-rating`/`escalate` nor part of an escalation.
pub(super) fn rate_code(answers: &[Answer]) -> Option<String> {
    answers
        .iter()
        .rev()
        .find(|a| {
            a.kind == AnswerKind::Answer
                && !a.has_flag("no-rating")
                && !a.has_flag("escalate")
                && a.attribute("DIRECT_CALL") != "escalationOffer"
                && a.actions.first().and_then(|x| x.parameters.as_ref()).and_then(|p| p.callback.as_deref())
                    != Some(DIRECT_CALL_ESCALATION_START)
        })
        .and_then(|a| a.tracking_code()?.rate_code.clone())
}
