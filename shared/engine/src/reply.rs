//! Channel-neutral replies. Channels decide how they look (numbered text, buttons...).

use serde::{Deserialize, Serialize};

/// One thing to tell the user, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// An answer or a label. May contain HTML (bot answers do; labels usually don't).
    Text(String),
    /// A question with choices the user answers by number, by label or by tapping a button.
    ///
    /// All choices of one turn share one numbering space: `first_number` is the number of the
    /// first option, so a related-contents list followed by a yes/no question reads 1-2, 3-4
    /// and every option shown stays answerable. A button's payload is its [`Tap`].
    Choice {
        text: String,
        options: Vec<ChoiceOption>,
        first_number: usize,
        /// Said next to numbered options ("(type a number)"); channels with buttons ignore it.
        number_hint: String,
    },
    /// A text with buttons that open web pages (the answer's url-button attribute).
    Links { text: String, links: Vec<Link> },
    /// A file an agent shared.
    File(SharedFile),
}

/// A file for the user, at a link their channel can fetch: a short-lived signed link of this
/// connector's, never one that holds credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedFile {
    pub url: String,
    pub name: String,
    /// Its media type (`image/png`), which decides how channels show it.
    pub media_type: String,
}

/// Text from outside (a ticket number, a file's name) placed in an HTML reply as text, never
/// as markup.
pub fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// One option of a [`Reply::Choice`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StoredOption")]
pub struct ChoiceOption {
    pub label: String,
    /// A shorter title for buttons (`digester.button_title`; Messenger cuts titles at 20
    /// characters); the label when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub button: Option<String>,
}

impl ChoiceOption {
    pub fn new(label: impl Into<String>) -> Self {
        Self { label: label.into(), button: None }
    }

    /// What a button shows.
    pub fn title(&self) -> &str {
        self.button.as_deref().unwrap_or(&self.label)
    }
}

/// Outboxes written before options had button titles hold bare labels.
#[derive(Deserialize)]
#[serde(untagged)]
enum StoredOption {
    Label(String),
    Option {
        label: String,
        #[serde(default)]
        button: Option<String>,
    },
}

impl From<StoredOption> for ChoiceOption {
    fn from(stored: StoredOption) -> Self {
        match stored {
            StoredOption::Label(label) => Self::new(label),
            StoredOption::Option { label, button } => Self { label, button },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub title: String,
    pub url: String,
}

/// What a tapped option button carries back: the option's number in its turn and its label,
/// so a tap on a button of an older question is never taken for another option with the
/// same number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tap {
    #[serde(rename = "n")]
    pub number: usize,
    #[serde(rename = "l")]
    pub label: String,
}

impl Tap {
    /// The payload put on a button (compact: Messenger allows 1000 characters).
    pub fn payload(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a payload; `None` for payloads this connector did not write.
    pub fn from_payload(payload: &str) -> Option<Self> {
        serde_json::from_str(payload).ok()
    }

    /// The taps of a choice's options, in order.
    pub fn of(first_number: usize, options: &[ChoiceOption]) -> impl Iterator<Item = (Tap, &ChoiceOption)> {
        options.iter().enumerate().map(move |(i, option)| (Tap { number: first_number + i, label: option.label.clone() }, option))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outbox_written_with_bare_labels_still_reads() {
        let stored = r#"{"Choice":{"text":"Pick","options":["Yes","No"],"first_number":1,"number_hint":""}}"#;
        let reply: Reply = serde_json::from_str(stored).unwrap();
        let Reply::Choice { options, .. } = reply else { panic!("not a choice") };
        assert_eq!(options, vec![ChoiceOption::new("Yes"), ChoiceOption::new("No")]);
    }

    #[test]
    fn a_tap_payload_reads_back_and_foreign_payloads_do_not() {
        let tap = Tap { number: 3, label: "Sí".into() };
        assert_eq!(Tap::from_payload(&tap.payload()), Some(tap));
        assert_eq!(Tap::from_payload("GET_STARTED"), None);
        assert_eq!(Tap::from_payload(r#"{"option":2}"#), None);
    }
}
