//! One user message -> new conversation state + channel-neutral replies.
//!
//! Every decision lives here: how a reply maps onto pending options, when the bot session is
//! renewed, how each answer type is presented, what the user hears when the bot fails.

use crate::answer::{Answer, AnswerKind, BotResponse, FLAG_NO_RESULTS};
use crate::conversation::{BotSession, Conversation, OptionAction, PendingOption, PendingPrompt};
use crate::labels::Labels;
use crate::matching;
use crate::ports::{BotInput, Chatbot, ChatbotError, Timestamp, TrackingEvent};
use crate::reply::Reply;
use serde_json::json;

/// What the user sent, channel-neutral.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserInput {
    Text(String),
    /// A picture, voice note, file... (with its caption, if any).
    Media { caption: String },
}

/// Engine knobs that are not texts.
#[derive(Debug, Clone)]
pub struct Policy {
    /// A bot session idle longer than this is replaced before sending.
    pub bot_session_idle_secs: i64,
}

pub struct Engine<'a> {
    pub chatbot: &'a dyn Chatbot,
    pub labels: &'a Labels,
    pub policy: &'a Policy,
}

/// What the user's input means for the bot.
enum Intent {
    Ask(BotInput),
    /// A choice answered locally (a federated sub-answer): no bot call.
    Show { text: String, click_code: Option<String> },
    /// Nothing the bot can read (media outside a live chat, empty message).
    Unreadable,
}

impl Engine<'_> {
    pub async fn step(&self, conv: &mut Conversation, input: &UserInput, now: Timestamp) -> Vec<Reply> {
        conv.messages_handled += 1;
        conv.last_inbound_at = now;
        let pending_before = conv.pending.clone();
        match self.interpret(conv, input) {
            Intent::Unreadable => {
                conv.pending = pending_before;
                vec![Reply::Text(self.labels.get("unsupported_message").to_owned())]
            }
            Intent::Show { text, click_code } => {
                if let Some(code) = click_code {
                    self.track_quietly(conv, "click", json!({ "code": code })).await;
                }
                vec![Reply::Text(text)]
            }
            Intent::Ask(bot_input) => match self.ask(conv, &bot_input, now).await {
                Ok(response) => self.present(conv, response),
                Err(error) => {
                    tracing::warn!(error = %crate::error_chain(&error), retryable = error.is_retryable(), "chatbot call failed");
                    conv.pending = pending_before;
                    vec![Reply::Text(self.labels.get(failure_label(&error)).to_owned())]
                }
            },
        }
    }

    /// Consumes the pending prompt: a pick becomes its action, anything else is a new question.
    fn interpret(&self, conv: &mut Conversation, input: &UserInput) -> Intent {
        let text = match input {
            UserInput::Text(text) | UserInput::Media { caption: text } => text.trim(),
        };
        if text.is_empty() {
            return Intent::Unreadable;
        }
        if let Some(prompt) = conv.pending.take() {
            let options = &prompt.options;
            let picked = matching::pick(text, options.len(), |i| {
                std::iter::once(options[i].label.as_str()).chain(options[i].aliases.iter().map(String::as_str))
            });
            if let Some(index) = picked {
                return match options[index].action.clone() {
                    OptionAction::BotOption(value) => Intent::Ask(BotInput::Option(value)),
                    OptionAction::BotMessage(message) => Intent::Ask(BotInput::Message(message)),
                    OptionAction::Show { text, click_code } => Intent::Show { text, click_code },
                };
            }
        }
        Intent::Ask(BotInput::Message(text.to_owned()))
    }

    /// Sends to the bot, (re)starting its session when absent, idle too long, or expired upstream.
    async fn ask(&self, conv: &mut Conversation, input: &BotInput, now: Timestamp) -> Result<BotResponse, ChatbotError> {
        let fresh = conv
            .bot_session
            .as_ref()
            .filter(|s| now.seconds_since(s.last_used_at) < self.policy.bot_session_idle_secs)
            .cloned();
        let session = match fresh {
            Some(session) => session,
            None => self.start_session(conv, now).await?,
        };
        let response = match self.chatbot.send(&session, input).await {
            Err(ChatbotError::SessionExpired) => {
                let renewed = self.start_session(conv, now).await?;
                self.chatbot.send(&renewed, input).await?
            }
            other => other?,
        };
        if let Some(session) = conv.bot_session.as_mut() {
            session.last_used_at = now;
        }
        Ok(response)
    }

    async fn start_session(&self, conv: &mut Conversation, now: Timestamp) -> Result<BotSession, ChatbotError> {
        let token = self.chatbot.start_conversation().await?;
        let session = BotSession { token, started_at: now, last_used_at: now };
        conv.bot_session = Some(session.clone());
        Ok(session)
    }

    async fn track_quietly(&self, conv: &Conversation, kind: &str, data: serde_json::Value) {
        let Some(session) = conv.bot_session.as_ref() else { return };
        let event = TrackingEvent { kind: kind.to_owned(), data };
        if let Err(error) = self.chatbot.track(session, &event).await {
            tracing::warn!(error = %crate::error_chain(&error), kind, "tracking event not recorded");
        }
    }

    /// Turns the bot's answers into replies and the options they offer into the pending prompt.
    fn present(&self, conv: &mut Conversation, response: BotResponse) -> Vec<Reply> {
        let mut out = Presentation::default();
        for answer in &response.answers {
            conv.no_results_count = if answer.has_flag(FLAG_NO_RESULTS) { conv.no_results_count + 1 } else { 0 };
            self.present_answer(answer, &mut out);
        }
        conv.pending = (!out.options.is_empty()).then_some(PendingPrompt { options: out.options });
        out.replies
    }

    fn present_answer(&self, answer: &Answer, out: &mut Presentation) {
        match answer.kind {
            AnswerKind::Answer | AnswerKind::Other => self.present_plain(answer, out),
            AnswerKind::MultipleChoiceQuestion | AnswerKind::PolarQuestion => {
                let options = answer
                    .options
                    .iter()
                    .map(|o| {
                        let shown = self.labels.translate_or_keep(&o.label).to_owned();
                        let title = o.attributes.get("title").and_then(|t| t.as_str()).unwrap_or_default();
                        let aliases = [o.label.as_str(), title]
                            .into_iter()
                            .filter(|a| !a.is_empty() && *a != shown)
                            .map(str::to_owned)
                            .collect();
                        PendingOption { label: shown, aliases, action: OptionAction::BotOption(o.value.clone()) }
                    })
                    .collect();
                out.choice(answer.message.clone(), options);
            }
            AnswerKind::ExtendedContentsAnswer => self.present_federated(answer, out),
        }
    }

    fn present_plain(&self, answer: &Answer, out: &mut Presentation) {
        let mut text = answer.display_text();
        let field = answer.action_field.as_ref();
        if field.is_some_and(|f| f.field_type == "datePicker") {
            text = format!("{} {}", text.trim_end(), self.labels.get("date_format_hint"));
        }
        let list = field.and_then(|f| f.list_values.as_ref()).filter(|l| !l.values.is_empty());
        match list {
            Some(list) => {
                let options = list
                    .values
                    .iter()
                    .map(|v| PendingOption {
                        label: v.option.clone(),
                        aliases: v.label.clone(),
                        action: OptionAction::BotMessage(v.option.clone()),
                    })
                    .collect();
                out.choice(text, options);
            }
            None if !text.trim().is_empty() => out.replies.push(Reply::Text(text)),
            None => {}
        }
        if let Some(related) = answer.related() {
            let options = related
                .related_contents
                .iter()
                .map(|c| PendingOption {
                    label: c.title.clone(),
                    aliases: Vec::new(),
                    action: OptionAction::BotMessage(c.title.clone()),
                })
                .collect();
            out.choice(related.related_title.clone(), options);
        }
    }

    /// Federated bot results: one is shown directly; several become a numbered choice whose pick
    /// is shown without asking the bot again; results that are links are listed with their URL.
    fn present_federated(&self, answer: &Answer, out: &mut Presentation) {
        let intro = answer.message.trim();
        let subs = &answer.sub_answers;
        let url_of = |a: &Answer| a.contents().and_then(|c| c.url.as_ref()).map(|u| u.value.clone()).filter(|u| !u.is_empty());
        if subs.iter().any(|a| url_of(a).is_some()) {
            let listed: Vec<String> = subs
                .iter()
                .map(|a| match url_of(a) {
                    Some(url) => format!("<p>{} <a href=\"{url}\">{url}</a></p>", a.message.trim()),
                    None => format!("<p>{}</p>", a.message.trim()),
                })
                .collect();
            out.replies.push(Reply::Text(format!("<p>{intro}</p>{}", listed.concat())));
        } else if let [only] = subs.as_slice() {
            if !intro.is_empty() {
                out.replies.push(Reply::Text(intro.to_owned()));
            }
            self.present_plain(only, out);
        } else {
            let options = subs
                .iter()
                .map(|a| {
                    let title = a.attribute("title");
                    let label = if title.is_empty() { a.message.clone() } else { title.to_owned() };
                    PendingOption {
                        label,
                        aliases: Vec::new(),
                        action: OptionAction::Show {
                            text: a.display_text(),
                            click_code: a.tracking_code().and_then(|t| t.click_code.clone()),
                        },
                    }
                })
                .collect();
            out.choice(intro.to_owned(), options);
        }
    }
}

fn failure_label(error: &ChatbotError) -> &'static str {
    match error {
        ChatbotError::Timeout => "api_timeout",
        _ => "api_error",
    }
}

#[derive(Default)]
struct Presentation {
    replies: Vec<Reply>,
    options: Vec<PendingOption>,
}

impl Presentation {
    /// Adds a choice numbered after every option already offered in this turn.
    fn choice(&mut self, text: String, options: Vec<PendingOption>) {
        if options.is_empty() {
            if !text.trim().is_empty() {
                self.replies.push(Reply::Text(text));
            }
            return;
        }
        let first_number = self.options.len() + 1;
        let labels = options.iter().map(|o| o.label.clone()).collect();
        self.options.extend(options);
        self.replies.push(Reply::Choice { text, options: labels, first_number });
    }
}

#[cfg(test)]
#[path = "step_tests.rs"]
mod tests;
