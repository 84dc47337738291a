//! Escalation to a person: what triggers an offer of an agent, the offer, the bot's escalation
//! form, opening the live chat, and whether agents are available.

use super::{Engine, Turn};
use crate::answer::Answer;
use crate::conversation::{ChatStage, Conversation, Mode, OptionAction, PendingOption, PromptKind};
use crate::labels::Label;
use crate::ports::{BotInput, ChatRequest, ChatbotError, HistoryLine, LiveChatError};
use crate::values::Timestamp;
use serde_json::{Value, json};

/// Why an escalation is being offered.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Trigger {
    /// The bot flagged the answer (`escalate` flag or `ESCALATE` setting).
    ApiFlag,
    NoResults,
    NegativeRatings,
    /// The content is an escalation offer (`DIRECT_CALL`/`DYNAMIC_REDIRECT` = `escalationOffer`).
    Offer,
    /// The bot asks to start its escalation form (`escalationStart` callback).
    Direct,
    /// The escalation form is complete (`escalateToAgent` callback with the form's data).
    FormDone(serde_json::Map<String, Value>),
}

pub(super) const DIRECT_CALL_ESCALATION_START: &str = "escalationStart";

/// The session data keys Inbenta documents for an escalation to a live chat ("External Chat
/// Tracking", developers.inbenta.io/chatbot/chatbot-api/external-chat-tracking): they feed the
/// Sessions graph of the chatbot's dashboard. The PHP connector's older `CONTACT_ATTENDED` /
/// `CONTACT_REJECTED` are not among them.
pub(super) mod tracked {
    /// The user accepted, agents were available, the chat was opened (with the chat's id, app
    /// and region, as Inbenta's PHP connector sends it).
    pub const CHAT_ATTENDED: &str = "CHAT_ATTENDED";
    /// The user said no to the offer of an agent.
    pub const CHAT_ESCALATION_REJECTED: &str = "CHAT_ESCALATION_REJECTED";
    /// The user wanted an agent and none was available.
    pub const CHAT_NO_AGENTS: &str = "CHAT_NO_AGENTS";
    /// A chat was opened but no agent took it (HyperChat's `forever:alone`).
    pub const CHAT_UNATTENDED: &str = "CHAT_UNATTENDED";
}

impl Engine<'_> {
    pub(super) fn trigger(&self, answer: &Answer, conv: &Conversation) -> Option<Trigger> {
        let callback = answer.actions.first().and_then(|a| a.parameters.as_ref());
        if let Some(parameters) = callback.filter(|p| p.callback.as_deref() == Some("escalateToAgent")) {
            let form = parameters.data.as_ref().and_then(Value::as_object).cloned().unwrap_or_default();
            return Some(Trigger::FormDone(form));
        }
        let policy = &self.policy.escalation;
        if requests_agent(answer) {
            Some(Trigger::ApiFlag)
        } else if policy.tries_before_escalation > 0 && conv.no_results_count >= policy.tries_before_escalation {
            Some(Trigger::NoResults)
        } else if answer.attribute("DIRECT_CALL") == "escalationOffer" || answer.attribute("DYNAMIC_REDIRECT") == "escalationOffer" {
            Some(Trigger::Offer)
        } else if callback.and_then(|p| p.callback.as_deref()) == Some(DIRECT_CALL_ESCALATION_START) {
            Some(Trigger::Direct)
        } else {
            None
        }
    }

    /// Asks "Do you want to talk to an agent?" when one is available; otherwise says so (or,
    /// for the bot's own offer, lets the bot's escalation flow handle "no agents").
    pub(super) async fn offer_escalation(
        &self,
        conv: &mut Conversation,
        trigger: Trigger,
        now: Timestamp,
        turn: &mut Turn,
    ) -> Result<(), ChatbotError> {
        let offer = trigger == Trigger::Offer;
        if self.agents_available().await {
            let yes_no =
                [(self.labels.get(Label::Yes), "yes", true), (self.labels.get(Label::No), "no", false)].map(|(label, key, accept)| {
                    PendingOption {
                        label: label.to_owned(),
                        aliases: vec![key.to_owned()],
                        action: OptionAction::Escalate { accept, offer },
                        button: None,
                        click_code: None,
                    }
                });
            turn.choice(self.labels.get(Label::AskToEscalate), yes_no.into(), PromptKind::Escalation, self.labels);
            return Ok(());
        }
        if offer {
            return self.start_escalation_form(conv, now, turn).await;
        }
        turn.text(self.labels.get(Label::NoAgents));
        // The next failure offers again instead of waiting for a whole new series.
        match trigger {
            Trigger::NoResults => conv.no_results_count = conv.no_results_count.saturating_sub(1),
            Trigger::NegativeRatings => conv.negative_ratings_count = conv.negative_ratings_count.saturating_sub(1),
            _ => {}
        }
        self.track_quietly(conv, tracked::CHAT_NO_AGENTS, json!({ "value": "true" })).await;
        Ok(())
    }

    /// Lets the bot run its escalation form: tells it whether agents are available, then sends
    /// the `escalationStart` direct call and shows its answer (the first form question).
    pub(super) async fn start_escalation_form(&self, conv: &mut Conversation, now: Timestamp, turn: &mut Turn) -> Result<(), ChatbotError> {
        let available = self.agents_available().await;
        let session = self.session(conv, now).await?;
        let value = if available { "true" } else { "false" };
        if let Err(error) = self.bot(self.chatbot.set_variable(&session, "agents_available", value)).await {
            tracing::warn!(error = %crate::error_chain(&error), "agents_available variable not set");
        }
        let response = self.ask(conv, &BotInput::DirectCall(DIRECT_CALL_ESCALATION_START.into()), now).await?;
        if !available {
            self.track_quietly(conv, tracked::CHAT_NO_AGENTS, json!({ "value": "true" })).await;
        }
        Box::pin(self.present(conv, response, now, turn, false)).await
    }

    /// Opens the live chat with what the escalation form collected, if anything.
    pub(super) async fn open_chat(&self, conv: &mut Conversation, form: Option<serde_json::Map<String, Value>>, turn: &mut Turn) {
        if !self.agents_available().await {
            turn.text(self.labels.get(Label::NoAgents));
            self.track_quietly(conv, tracked::CHAT_NO_AGENTS, json!({ "value": "true" })).await;
            return;
        }
        turn.text(self.labels.get(Label::CreatingChat));
        let mut request = chat_request(self.external_id, form.unwrap_or_default());
        if request.name.is_empty() {
            request.name = self.display_name().await.unwrap_or_default();
        }
        request.history = self.transcript(conv).await;
        match self.agent(self.live_chat.open_chat(&request)).await {
            Ok(chat) => {
                conv.contact = Some(request.contact.clone()).filter(|c| !c.trim().is_empty());
                let origin = self.live_chat.origin();
                let value = json!({ "chatId": chat.chat_id, "appId": origin.app_id, "region": origin.region });
                self.track_quietly(conv, tracked::CHAT_ATTENDED, json!({ "value": value })).await;
                conv.mode = Mode::LiveChat { chat, stage: ChatStage::Queued, ticket: None };
            }
            Err(LiveChatError::NoAgents) => {
                turn.text(self.labels.get(Label::NoAgents));
                self.track_quietly(conv, tracked::CHAT_NO_AGENTS, json!({ "value": "true" })).await;
            }
            Err(error) => {
                tracing::warn!(error = %crate::error_chain(&error), "live chat not opened");
                turn.text(self.labels.get(Label::ErrorCreatingChat));
            }
        }
    }

    /// The bot conversation so far, for the agent; none when it cannot be read.
    async fn transcript(&self, conv: &Conversation) -> Vec<HistoryLine> {
        let Some(session) = conv.bot_session.as_ref() else { return Vec::new() };
        self.bot(self.chatbot.history(session)).await.unwrap_or_else(|error| {
            tracing::warn!(error = %crate::error_chain(&error), "bot transcript unavailable; the chat opens without it");
            Vec::new()
        })
    }

    /// The channel's name for the user, never past the deadline.
    async fn display_name(&self) -> Option<String> {
        // A name that comes too late is no name.
        self.by_deadline(async { Ok::<_, ()>(self.channel.display_name().await) }, || ()).await.ok().flatten()
    }

    async fn agents_available(&self) -> bool {
        self.agent(self.live_chat.agents_available()).await.unwrap_or_else(|error| {
            tracing::warn!(error = %crate::error_chain(&error), "agent availability unknown, assuming none");
            false
        })
    }
}

pub(super) fn reset_escalation_counters(conv: &mut Conversation) {
    conv.no_results_count = 0;
    conv.negative_ratings_count = 0;
}

/// The bot's answer passes the user on to a person (its `escalate` flag or `ESCALATE` setting).
pub(super) fn requests_agent(answer: &Answer) -> bool {
    answer.has_flag("escalate") || answer.attribute("ESCALATE").eq_ignore_ascii_case("true")
}

/// The escalation form's standard fields become the chat user's name and contact; the rest
/// travels as extra information.
fn chat_request(external_id: &str, mut form: serde_json::Map<String, Value>) -> ChatRequest {
    let mut take = |key: &str| form.remove(key).and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    let name = format!("{} {}", take("FIRST_NAME"), take("LAST_NAME")).trim().to_owned();
    let contact = take("EMAIL_ADDRESS");
    ChatRequest { external_id: external_id.to_owned(), name, contact, extra: form, history: Vec::new() }
}
