//! The bot: its session (started, renewed when idle or expired), asking it, responding to the
//! user's reply (a pick of a pending option or a question), presenting what it answers and
//! deciding what follows, tracking.

use super::escalation::{Trigger, requests_agent, reset_escalation_counters, tracked};
use super::presentation::Presenter;
use super::ratings::rate_code;
use super::{Engine, Turn};
use crate::answer::{AnswerKind, BotResponse, FLAG_NO_RESULTS};
use crate::conversation::{BotSession, Conversation, OptionAction, PendingPrompt, PromptKind};
use crate::labels::Label;
use crate::matching;
use crate::ports::{BotInput, ChatbotError, TrackingEvent};
use crate::reply::Tap;
use crate::values::Timestamp;
use serde_json::{Value, json};

impl Engine<'_> {
    /// A text message outside the special states: a pick of a pending option, or a question.
    /// A tap picks its option when that option is still pending; a tap on an older question's
    /// button counts as its label typed.
    pub(super) async fn respond(
        &self,
        conv: &mut Conversation,
        text: &str,
        tap: Option<&Tap>,
        pending: Option<PendingPrompt>,
        now: Timestamp,
        turn: &mut Turn,
    ) -> Result<(), ChatbotError> {
        let Some(prompt) = pending else {
            return self.ask_and_present(conv, &BotInput::Message(text.to_owned()), now, turn).await;
        };
        let options = &prompt.options;
        let tapped = tap.and_then(|tap| matching::tapped(tap, options.len(), |i| [options[i].label.as_str()]));
        let picked = tapped.or_else(|| {
            matching::pick(text, options.len(), |i| {
                let option = &options[i];
                std::iter::once(option.label.as_str()).chain(option.aliases.iter().map(String::as_str)).chain(option.button.as_deref())
            })
        });
        let Some(option) = picked.map(|i| options[i].clone()) else {
            match prompt.kind {
                PromptKind::Rating => turn.text(self.labels.get(Label::NoRatingGiven)),
                PromptKind::Escalation => reset_escalation_counters(conv),
                PromptKind::Options => {}
            }
            return self.ask_and_present(conv, &BotInput::Message(text.to_owned()), now, turn).await;
        };
        if let Some(code) = &option.click_code {
            self.track_quietly(conv, "click", json!({ "code": code })).await;
        }
        match option.action {
            OptionAction::BotOption(value) => self.ask_and_present(conv, &BotInput::Option(value), now, turn).await,
            OptionAction::BotMessage(message) => self.ask_and_present(conv, &BotInput::Message(message), now, turn).await,
            OptionAction::Show(text) => {
                turn.text(&text);
                Ok(())
            }
            OptionAction::Rate { rating, comment, negative } => self.rate(conv, rating, comment, negative, now, turn).await,
            OptionAction::Escalate { accept, offer } => {
                reset_escalation_counters(conv);
                if !accept {
                    turn.text(self.labels.get(Label::EscalationRejected));
                    self.track_quietly(conv, tracked::CHAT_ESCALATION_REJECTED, json!({ "value": "true" })).await;
                    Ok(())
                } else if offer {
                    self.start_escalation_form(conv, now, turn).await
                } else {
                    self.open_chat(conv, None, turn).await;
                    Ok(())
                }
            }
        }
    }

    async fn ask_and_present(
        &self,
        conv: &mut Conversation,
        input: &BotInput,
        now: Timestamp,
        turn: &mut Turn,
    ) -> Result<(), ChatbotError> {
        let response = self.ask(conv, input, now).await?;
        self.present(conv, response, now, turn, true).await
    }

    /// Sends to the bot, (re)starting its session when absent, idle too long, or expired upstream.
    pub(super) async fn ask(&self, conv: &mut Conversation, input: &BotInput, now: Timestamp) -> Result<BotResponse, ChatbotError> {
        let session = self.session(conv, now).await?;
        let response = match self.bot(self.chatbot.send(&session, input)).await {
            Err(ChatbotError::SessionExpired) => {
                let renewed = self.start_session(conv, now).await?;
                self.bot(self.chatbot.send(&renewed, input)).await?
            }
            other => other?,
        };
        if let Some(session) = conv.bot_session.as_mut() {
            session.last_used_at = now;
        }
        Ok(response)
    }

    pub(super) async fn session(&self, conv: &mut Conversation, now: Timestamp) -> Result<BotSession, ChatbotError> {
        let fresh = conv.bot_session.as_ref().filter(|s| now.seconds_since(s.last_used_at) < self.policy.bot_session_idle_secs).cloned();
        match fresh {
            Some(session) => Ok(session),
            None => self.start_session(conv, now).await,
        }
    }

    async fn start_session(&self, conv: &mut Conversation, now: Timestamp) -> Result<BotSession, ChatbotError> {
        let token = self.bot(self.chatbot.start_conversation()).await?;
        let session = BotSession { token, started_at: now, last_used_at: now };
        conv.bot_session = Some(session.clone());
        Ok(session)
    }

    pub(super) async fn track_quietly(&self, conv: &Conversation, kind: &str, data: Value) {
        let Some(session) = conv.bot_session.as_ref() else { return };
        let event = TrackingEvent { kind: kind.to_owned(), data };
        if let Err(error) = self.bot(self.chatbot.track(session, &event)).await {
            tracing::warn!(error = %crate::error_chain(&error), kind, "tracking event not recorded");
        }
    }

    /// Turns the bot's answers into replies and options, then decides what follows: an
    /// escalation (offer, form, chat) or a rating question. `may_escalate` is false for the
    /// answer to our own `escalationStart`, so a misconfigured bot cannot loop.
    pub(super) async fn present(
        &self,
        conv: &mut Conversation,
        response: BotResponse,
        now: Timestamp,
        turn: &mut Turn,
        may_escalate: bool,
    ) -> Result<(), ChatbotError> {
        let mut answers = response.answers;
        let mut trigger = None;
        for answer in &answers {
            conv.no_results_count = if answer.has_flag(FLAG_NO_RESULTS) { conv.no_results_count + 1 } else { 0 };
            if trigger.is_none() && self.policy.escalation.enabled {
                trigger = self.trigger(answer, conv);
            }
        }
        // The bot follows an offer with its own yes/no question; ours replaces it.
        if trigger == Some(Trigger::Offer) && answers.last().is_some_and(|a| a.kind == AnswerKind::PolarQuestion) {
            answers.pop();
        }
        let rate_code = rate_code(&answers);
        let presenter = Presenter { labels: self.labels, digester: &self.policy.digester };
        for answer in &answers {
            presenter.present_answer(answer, turn);
        }
        // The bot passes the user on, but no live chat is configured: say so, not silence.
        if !self.policy.escalation.enabled && answers.iter().any(requests_agent) {
            turn.text(self.labels.get(Label::NoAgents));
            return Ok(());
        }
        match trigger {
            Some(Trigger::FormDone(form)) => self.open_chat(conv, Some(form), turn).await,
            Some(Trigger::Direct) if may_escalate => self.start_escalation_form(conv, now, turn).await?,
            Some(Trigger::Direct) => {}
            Some(trigger) => self.offer_escalation(conv, trigger, now, turn).await?,
            None => self.offer_rating(rate_code, turn),
        }
        Ok(())
    }
}
