//! The bot's answers as replies and options: plain answers (with their date hint, list values,
//! link buttons and related contents), questions with options, federated results; and the note
//! an agent gets when their messages may not have reached the user. Pure synchronous functions
//! of the answer (or what was missed), the labels and the digester settings.

use super::Turn;
use crate::answer::{Answer, AnswerKind};
use crate::conversation::{OptionAction, PendingOption, PromptKind};
use crate::labels::{Label, Labels};
use crate::reply::{Link, Reply};
use crate::settings::Digester;
use serde_json::Value;
use std::collections::BTreeMap;

/// What presenting needs: the turn's labels and the instance's digester settings. No I/O.
pub(super) struct Presenter<'a> {
    pub(super) labels: &'a Labels,
    pub(super) digester: &'a Digester,
}

impl Presenter<'_> {
    /// One answer of the bot, as replies and options of `turn`.
    pub(super) fn present_answer(&self, answer: &Answer, turn: &mut Turn) {
        match answer.kind {
            AnswerKind::Answer | AnswerKind::Other => self.present_plain(answer, turn),
            AnswerKind::MultipleChoiceQuestion | AnswerKind::PolarQuestion => {
                let options = answer
                    .options
                    .iter()
                    .map(|o| {
                        let shown = self.labels.translate_or_keep(&o.label).to_owned();
                        let title = o.attributes.get("title").and_then(Value::as_str).unwrap_or_default();
                        let aliases =
                            [o.label.as_str(), title].into_iter().filter(|a| !a.is_empty() && *a != shown).map(str::to_owned).collect();
                        PendingOption {
                            label: shown,
                            aliases,
                            action: OptionAction::BotOption(o.value.clone()),
                            button: self.button_title(&o.attributes),
                            click_code: o.click_code(),
                        }
                    })
                    .collect();
                turn.choice(&answer.message, options, PromptKind::Options, self.labels);
            }
            AnswerKind::ExtendedContentsAnswer => self.present_federated(answer, turn),
        }
    }

    fn present_plain(&self, answer: &Answer, turn: &mut Turn) {
        let mut text = answer.display_text();
        let field = answer.action_field.as_ref();
        if field.is_some_and(|f| f.field_type == "datePicker") {
            text = format!("{} {}", text.trim_end(), self.labels.get(Label::DateFormatHint));
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
                        button: None,
                        click_code: None,
                    })
                    .collect();
                turn.choice(&text, options, PromptKind::Options, self.labels);
            }
            None => match self.link_buttons(answer) {
                Some(links) => turn.replies.push(Reply::Links { text, links }),
                None => turn.text(&text),
            },
        }
        if let Some(related) = answer.related() {
            let options = related
                .related_contents
                .iter()
                .map(|c| PendingOption {
                    label: c.title.clone(),
                    aliases: Vec::new(),
                    action: OptionAction::BotMessage(c.title.clone()),
                    button: None,
                    click_code: c.click_code(),
                })
                .collect();
            turn.choice(&related.related_title, options, PromptKind::Options, self.labels);
        }
    }

    /// Federated bot results: one is shown directly; several become a numbered choice whose pick
    /// is shown without asking the bot again; results that are links are listed with their URL.
    fn present_federated(&self, answer: &Answer, turn: &mut Turn) {
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
            turn.text(&format!("<p>{intro}</p>{}", listed.concat()));
        } else if let [only] = subs.as_slice() {
            turn.text(intro);
            self.present_plain(only, turn);
        } else {
            let options = subs
                .iter()
                .map(|a| {
                    let title = a.attribute("title");
                    PendingOption {
                        label: if title.is_empty() { a.message.clone() } else { title.to_owned() },
                        aliases: Vec::new(),
                        action: OptionAction::Show(a.display_text()),
                        button: self.button_title(&a.attributes),
                        click_code: a.tracking_code().and_then(|t| t.click_code.clone()),
                    }
                })
                .collect();
            turn.choice(intro, options, PromptKind::Options, self.labels);
        }
    }

    /// The option's short button title, when the instance sets `digester.button_title`.
    fn button_title(&self, attributes: &BTreeMap<String, Value>) -> Option<String> {
        let name = &self.digester.button_title;
        if name.is_empty() {
            return None;
        }
        attributes.get(name).and_then(Value::as_str).map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned)
    }

    /// The answer's link buttons (`digester.url_buttons`): one object or a list of them, each
    /// with a title and a URL; `None` when any is incomplete, so a half-configured attribute
    /// leaves the plain answer.
    fn link_buttons(&self, answer: &Answer) -> Option<Vec<Link>> {
        let config = &self.digester.url_buttons;
        if config.attribute_name.is_empty() {
            return None;
        }
        let value = answer.attributes.get(&config.attribute_name)?;
        let items = match value {
            Value::Array(items) => items.iter().collect(),
            Value::Object(_) => vec![value],
            _ => return None,
        };
        let field =
            |item: &Value, name: &str| item.get(name).and_then(Value::as_str).map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
        let links: Option<Vec<Link>> = items
            .into_iter()
            .map(|item| Some(Link { title: field(item, &config.button_title_var)?, url: field(item, &config.button_url_var)? }))
            .collect();
        links.filter(|links| !links.is_empty())
    }
}

/// Why some of an agent's messages may not have reached the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missed {
    /// The user's reply window was closed: they were held back.
    WindowClosed,
    /// The channel did not deliver them, for this reason (the channel's words).
    Undelivered(String),
    /// The channel did not confirm one, and cannot be asked.
    Unconfirmed,
}

/// Why the agent's messages were held back, as the agent reads it.
const WINDOW_CLOSED: &str = "the user last wrote too long ago for the channel to deliver it";

/// What the agent of the user's chat is told when some of their messages may not have reached
/// the user.
pub fn agent_note(labels: &Labels, missed: &Missed) -> String {
    let undelivered = |reason: &str| labels.get(Label::UserUnreachable).replace("$reason", reason);
    match missed {
        Missed::WindowClosed => undelivered(WINDOW_CLOSED),
        Missed::Undelivered(reason) => undelivered(reason),
        Missed::Unconfirmed => labels.get(Label::UserMaybeUnreachable).to_owned(),
    }
}
