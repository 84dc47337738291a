//! The offline demo bot: answers from `demo/knowledge.json` (Inbenta-shaped responses), so the
//! connector can be tried without Inbenta credentials.

use async_trait::async_trait;
use connector_engine::answer::BotResponse;
use connector_engine::conversation::BotSession;
use connector_engine::matching::fold;
use connector_engine::ports::{BotInput, Chatbot, ChatbotError, HistoryLine, TrackingEvent};
use connector_engine::values::ExtraInfo;
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

const KNOWLEDGE: &str = include_str!("../demo/knowledge.json");

#[derive(Deserialize)]
struct Knowledge {
    entries: Vec<Entry>,
    /// Option value -> title of the entry it leads to.
    options: HashMap<String, String>,
    no_results: Value,
}

#[derive(Deserialize)]
struct Entry {
    title: String,
    keywords: Vec<String>,
    response: Value,
}

pub struct DemoBot {
    knowledge: Knowledge,
    sessions: AtomicU64,
}

impl DemoBot {
    pub fn new() -> Result<Self, serde_json::Error> {
        Ok(Self { knowledge: serde_json::from_str(KNOWLEDGE)?, sessions: AtomicU64::new(0) })
    }

    fn entry(&self, title: &str) -> Option<&Entry> {
        self.knowledge.entries.iter().find(|e| fold(&e.title) == fold(title))
    }

    /// An entry whose title is the text, a date (the booking form's last field), else the one
    /// with most keywords in it.
    fn lookup(&self, text: &str) -> Option<&Entry> {
        if let Some(entry) = self.entry(text) {
            return Some(entry);
        }
        if is_date(text) {
            return self.entry("Booking confirmed");
        }
        let words: String = fold(text).chars().map(|c| if c.is_alphanumeric() { c } else { ' ' }).collect();
        let padded = format!(" {} ", words.split_whitespace().collect::<Vec<_>>().join(" "));
        self.knowledge
            .entries
            .iter()
            .map(|e| (e.keywords.iter().filter(|k| padded.contains(&format!(" {} ", fold(k)))).count(), e))
            .filter(|(hits, _)| *hits > 0)
            .max_by_key(|(hits, _)| *hits)
            .map(|(_, e)| e)
    }

    fn respond(&self, input: &BotInput) -> Value {
        let entry = match input {
            BotInput::Message(text) => self.lookup(text),
            BotInput::Option(value) => {
                let key = value.as_str().map_or_else(|| value.to_string(), str::to_owned);
                self.knowledge.options.get(&key).and_then(|title| self.entry(title))
            }
            BotInput::DirectCall(_) => None,
        };
        entry.map_or_else(|| self.knowledge.no_results.clone(), |e| e.response.clone())
    }
}

/// `12/24/2026`, `24-12-2026`, `2026.12.24`: three groups of digits (as the bot's date picker
/// asks); the demo does not check the calendar.
fn is_date(text: &str) -> bool {
    let parts: Vec<&str> = text.trim().split(['/', '-', '.']).collect();
    parts.len() == 3 && parts.iter().all(|p| (1..=4).contains(&p.len()) && p.chars().all(|c| c.is_ascii_digit()))
}

#[async_trait]
impl Chatbot for DemoBot {
    async fn start_conversation(&self) -> Result<String, ChatbotError> {
        Ok(format!("demo-session-{}", self.sessions.fetch_add(1, Ordering::Relaxed) + 1))
    }

    async fn send(&self, _session: &BotSession, input: &BotInput) -> Result<BotResponse, ChatbotError> {
        BotResponse::from_json(self.respond(input)).map_err(|e| ChatbotError::Protocol(e.to_string()))
    }

    async fn track(&self, _session: &BotSession, event: &TrackingEvent) -> Result<(), ChatbotError> {
        tracing::debug!(kind = %event.kind, "demo bot ignores tracking events");
        Ok(())
    }

    async fn set_variable(&self, _session: &BotSession, name: &str, _value: &str) -> Result<(), ChatbotError> {
        tracing::debug!(name, "demo bot ignores variables");
        Ok(())
    }

    /// No ExtraInfo offline: the label files apply.
    async fn app_data(&self, _group: &str) -> Result<ExtraInfo, ChatbotError> {
        Ok(ExtraInfo::default())
    }

    /// The demo keeps no transcript: an agent sees the chat from its first message.
    async fn history(&self, _session: &BotSession) -> Result<Vec<HistoryLine>, ChatbotError> {
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_booking_form_completes_with_a_date() {
        let bot = DemoBot::new().unwrap();
        let answer = bot.respond(&BotInput::Message("12/24/2026".into()));
        assert!(answer["answers"][0]["message"].as_str().unwrap().starts_with("<p>Booked!"), "{answer}");
        assert!(!is_date("2abc/3/4") && !is_date("12/24") && is_date("2026-12-24"));
    }

    #[test]
    fn no_to_ordering_a_card_is_a_polite_end_not_a_document_list() {
        let bot = DemoBot::new().unwrap();
        let answer = bot.respond(&BotInput::Option(json!("no")));
        assert!(answer["answers"][0]["message"].as_str().unwrap().starts_with("No problem"), "{answer}");
    }

    fn kinds_and_features(bot: &DemoBot) -> Vec<String> {
        bot.knowledge
            .entries
            .iter()
            .flat_map(|e| BotResponse::from_json(e.response.clone()).unwrap().answers)
            .flat_map(|a| {
                let mut features = vec![format!("{:?}", a.kind)];
                if a.related().is_some() {
                    features.push("related".into());
                }
                if let Some(field) = &a.action_field {
                    features.push(field.field_type.clone());
                }
                if !a.attribute("SIDEBUBBLE_TEXT").is_empty() {
                    features.push("sidebubble".into());
                }
                if a.message.contains("<img") {
                    features.push("image".into());
                }
                if a.message.chars().count() > 1600 {
                    features.push("long".into());
                }
                features
            })
            .collect()
    }

    #[test]
    fn the_knowledge_base_covers_every_answer_type_the_connector_renders() {
        let bot = DemoBot::new().unwrap();
        let seen = kinds_and_features(&bot);
        for wanted in [
            "Answer",
            "MultipleChoiceQuestion",
            "PolarQuestion",
            "ExtendedContentsAnswer",
            "related",
            "list",
            "datePicker",
            "sidebubble",
            "image",
            "long",
        ] {
            assert!(seen.iter().any(|s| s == wanted), "no demo answer shows {wanted}");
        }
        assert!(
            bot.knowledge.entries.iter().any(|e| BotResponse::from_json(e.response.clone()).unwrap().answers.len() > 1),
            "no chained answer"
        );
    }

    #[test]
    fn every_option_leads_to_an_existing_entry() {
        let bot = DemoBot::new().unwrap();
        for title in bot.knowledge.options.values() {
            assert!(bot.entry(title).is_some(), "option leads to missing entry {title}");
        }
    }

    #[test]
    fn a_keyword_anywhere_in_the_question_finds_its_entry() {
        let bot = DemoBot::new().unwrap();
        let response = bot.respond(&BotInput::Message("When are you OPEN?".into()));
        assert!(response.to_string().contains("Monday to Friday"));
    }

    #[test]
    fn an_option_value_leads_to_its_entry_and_unknown_text_to_no_results() {
        let bot = DemoBot::new().unwrap();
        assert!(bot.respond(&BotInput::Option(json!(104))).to_string().contains("Terms and conditions"));
        assert!(bot.respond(&BotInput::Message("xyzzy".into())).to_string().contains("no-results"));
    }
}
