//! The survey after a chat (see [`crate::survey`] for the survey itself): offered once the
//! chat is over and its ticket made, answered question by question, submitted.

use super::{Engine, OnOutage, Turn};
use crate::conversation::{Awaiting, Conversation};
use crate::labels::Label;
use crate::reply::Tap;
use crate::survey::{Outcome as SurveyOutcome, Survey, SurveyAnswer, SurveyRun};

impl Engine<'_> {
    /// Asks the user whether to take the survey of a closed chat whose ticket is made, when a
    /// survey is configured and starts (as Inbenta's PHP, once the chat is over).
    pub(super) async fn offer_survey(&self, conv: &mut Conversation, chat_id: &str, ticket_id: &str, turn: &mut Turn) {
        let Some(surveys) = self.live_chat.surveys() else { return };
        match self.agent(surveys.start(chat_id, ticket_id)).await {
            Ok(Some(survey)) => match SurveyRun::offer(survey, self.labels) {
                Some((offer, run)) => {
                    turn.replies.push(offer);
                    conv.awaiting = Awaiting::Survey(run);
                }
                None => tracing::info!("the chat's survey asks nothing: not offered"),
            },
            Ok(None) => tracing::info!("no survey could be started for the chat's ticket"),
            Err(error) => tracing::warn!(error = %crate::error_chain(&error), "the chat's survey could not be started"),
        }
    }

    /// The user's reply to the survey under way. `None` when it is no answer to it: the survey
    /// is dropped and the bot answers the reply. `Err` (its cause) when the answers could not
    /// be submitted and the turn waits for a retry.
    pub(super) async fn answer_survey(
        &self,
        run: SurveyRun,
        text: &str,
        tap: Option<&Tap>,
        turn: &mut Turn,
    ) -> Option<Result<Awaiting, String>> {
        match run.reply(text, tap, self.labels) {
            SurveyOutcome::Asked { replies, run } => {
                turn.replies.extend(replies);
                Some(Ok(Awaiting::Survey(run)))
            }
            SurveyOutcome::Ended(replies) => {
                turn.replies.extend(replies);
                Some(Ok(Awaiting::Nothing))
            }
            SurveyOutcome::Answered { survey, answers } => {
                if let Err(cause) = self.submit_survey(&survey, &answers).await {
                    return Some(Err(cause));
                }
                turn.text(survey.thanks.as_deref().unwrap_or(self.labels.get(Label::Thanks)));
                Some(Ok(Awaiting::Nothing))
            }
            SurveyOutcome::NotAnswered => {
                tracing::info!("a reply that is no answer to the survey: the survey is dropped and the bot answers");
                None
            }
        }
    }

    /// Submits a survey's answers. A failure is logged and the user thanked all the same, as
    /// Inbenta's PHP does, unless the service is out and another attempt will come: then `Err`
    /// (its cause), and the turn waits for it.
    async fn submit_survey(&self, survey: &Survey, answers: &[SurveyAnswer]) -> Result<(), String> {
        let Some(surveys) = self.live_chat.surveys() else {
            tracing::warn!("a survey was answered but surveys are no longer configured: its answers are not submitted");
            return Ok(());
        };
        match self.agent(surveys.submit(survey, answers)).await {
            Ok(()) => Ok(()),
            Err(error) if error.is_retryable() && self.on_outage == OnOutage::Postpone => Err(crate::error_chain(&error)),
            Err(error) => {
                tracing::warn!(error = %crate::error_chain(&error), "the survey's answers were not submitted");
                Ok(())
            }
        }
    }
}
