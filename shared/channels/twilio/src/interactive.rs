//! WhatsApp buttons and lists through Twilio's Content API (`twilio_content_v1.json`): a
//! question's options become a `twilio/quick-reply` (up to 3 buttons in a session, titles of at
//! most 20 characters) or a `twilio/list-picker` (up to 10 items: text ≤ 24, id ≤ 200,
//! description ≤ 72, body ≤ 1024, button ≤ 20), each with a `twilio/text` fallback. Whatever
//! does not fit stays numbered text, which is also what is sent if the Content API fails.
//! A tap comes back as `ButtonPayload` (quick reply) or `ListId` (list): the option's [`Tap`].

use connector_engine::{ChoiceOption, Tap};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Limits of the content types, as Twilio and Meta document them (`providers-2026.md` §1.1).
pub const MAX_BODY_CHARS: usize = 1024;
pub const MAX_QUICK_REPLIES: usize = 3;
pub const MAX_BUTTON_TITLE_CHARS: usize = 20;
pub const MAX_BUTTON_ID_CHARS: usize = 256;
pub const MAX_LIST_ITEMS: usize = 10;
pub const MAX_ITEM_CHARS: usize = 24;
pub const MAX_ITEM_ID_CHARS: usize = 200;
pub const MAX_DESCRIPTION_CHARS: usize = 72;

/// A question as WhatsApp shows it with buttons or a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Interactive {
    QuickReply { body: String, actions: Vec<Action> },
    ListPicker { body: String, button: String, items: Vec<Item> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    pub title: String,
    /// The option's tap payload, back as `ButtonPayload`.
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The option's tap payload, back as `ListId`.
    pub id: String,
    pub item: String,
    pub description: Option<String>,
}

fn chars(text: &str) -> usize {
    text.chars().count()
}

fn plain(html: &str) -> String {
    richtext::html_to_text(html, richtext::Style::Plain).trim().to_owned()
}

impl Interactive {
    /// The question with these options as buttons (up to three short titles) or a list (up to
    /// ten); `None` when they fit neither and numbered text must do. `list_button` opens the list.
    pub fn of(body: &str, options: &[ChoiceOption], first_number: usize, list_button: &str) -> Option<Self> {
        let body = body.trim();
        if body.is_empty() || chars(body) > MAX_BODY_CHARS || options.is_empty() {
            return None;
        }
        // Titles and labels may be HTML: WhatsApp shows plain text, and the limits count it.
        let taps: Vec<(Tap, String, String)> =
            Tap::of(first_number, options).map(|(tap, option)| (tap, plain(option.title()), plain(&option.label))).collect();
        let buttons = taps.len() <= MAX_QUICK_REPLIES
            && taps.iter().all(|(tap, title, _)| {
                chars(title) <= MAX_BUTTON_TITLE_CHARS && !title.is_empty() && chars(&tap.payload()) <= MAX_BUTTON_ID_CHARS
            });
        if buttons {
            let actions = taps.into_iter().map(|(tap, title, _)| Action { title, id: tap.payload() }).collect();
            return Some(Self::QuickReply { body: body.to_owned(), actions });
        }
        let list = taps.len() <= MAX_LIST_ITEMS
            && chars(list_button) <= MAX_BUTTON_TITLE_CHARS
            && taps
                .iter()
                .all(|(tap, title, _)| chars(title) <= MAX_ITEM_CHARS && !title.is_empty() && chars(&tap.payload()) <= MAX_ITEM_ID_CHARS);
        if !list {
            return None;
        }
        let items = taps
            .into_iter()
            .map(|(tap, title, label)| Item {
                id: tap.payload(),
                // The full label under a shortened title, when it fits.
                description: Some(label).filter(|label| *label != title && chars(label) <= MAX_DESCRIPTION_CHARS),
                item: title,
            })
            .collect();
        Some(Self::ListPicker { body: body.to_owned(), button: list_button.to_owned(), items })
    }

    /// The Content API's `types`, with `fallback` as the `twilio/text` for channels without
    /// buttons.
    pub fn types(&self, fallback: &str) -> Value {
        let interactive = match self {
            Self::QuickReply { body, actions } => {
                let actions: Vec<Value> = actions.iter().map(|a| json!({ "type": "QUICK_REPLY", "title": a.title, "id": a.id })).collect();
                json!({ "twilio/quick-reply": { "body": body, "actions": actions } })
            }
            Self::ListPicker { body, button, items } => {
                let items: Vec<Value> = items
                    .iter()
                    .map(|i| match &i.description {
                        Some(description) => json!({ "id": i.id, "item": i.item, "description": description }),
                        None => json!({ "id": i.id, "item": i.item }),
                    })
                    .collect();
                json!({ "twilio/list-picker": { "body": body, "button": button, "items": items } })
            }
        };
        let mut types = interactive;
        types["twilio/text"] = json!({ "body": fallback });
        types
    }
}

/// The content's identity: the same types always give the same key, so each is created once.
pub fn content_key(types: &Value, language: &str) -> String {
    let digest = Sha256::digest(format!("{language}\n{types}").as_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(labels: &[&str]) -> Vec<ChoiceOption> {
        labels.iter().map(|l| ChoiceOption::new(*l)).collect()
    }

    #[test]
    fn options_written_in_html_become_plain_titles_and_descriptions_counted_without_their_markup() {
        let made = Interactive::of("Which?", &options(&["<p>Fish &amp; chips</p>", "<b>Tea</b>"]), 1, "Options").unwrap();
        let Interactive::QuickReply { actions, .. } = &made else { panic!("{made:?}") };
        assert_eq!(actions.iter().map(|a| a.title.as_str()).collect::<Vec<_>>(), ["Fish & chips", "Tea"]);
        // 20 characters of text, 27 with its markup: within a list item's 24 all the same.
        let long = options(&["<p>A plain item's title</p>", "a", "b", "c"]);
        let made = Interactive::of("Which?", &long, 1, "Options").unwrap();
        let Interactive::ListPicker { items, .. } = &made else { panic!("{made:?}") };
        assert_eq!((items[0].item.as_str(), items[0].description.as_deref()), ("A plain item's title", None));
    }

    #[test]
    fn up_to_three_short_options_are_buttons_whose_ids_are_their_taps() {
        let made = Interactive::of("Which card?", &options(&["Debit", "Credit"]), 3, "Options").unwrap();
        let Interactive::QuickReply { body, actions } = &made else { panic!("{made:?}") };
        assert_eq!(body, "Which card?");
        assert_eq!(actions[1].title, "Credit");
        assert_eq!(Tap::from_payload(&actions[1].id), Some(Tap { number: 4, label: "Credit".into() }));
    }

    #[test]
    fn four_options_or_a_long_title_make_a_list_with_the_full_label_as_description() {
        let four = Interactive::of("Pick", &options(&["a", "b", "c", "d"]), 1, "Options").unwrap();
        assert!(matches!(four, Interactive::ListPicker { ref items, .. } if items.len() == 4));
        // A button title over 20 characters but within a list item's 24.
        let mut long = options(&["I lost my card while abroad"]);
        long[0].button = Some("Lost card while abroad".into());
        let made = Interactive::of("Pick", &long, 1, "Options").unwrap();
        let Interactive::ListPicker { items, .. } = made else { panic!("{made:?}") };
        assert_eq!(
            (items[0].item.as_str(), items[0].description.as_deref()),
            ("Lost card while abroad", Some("I lost my card while abroad"))
        );
    }

    #[test]
    fn what_fits_neither_buttons_nor_a_list_stays_text() {
        let eleven: Vec<String> = (1..=11).map(|i| format!("o{i}")).collect();
        let eleven: Vec<&str> = eleven.iter().map(String::as_str).collect();
        assert_eq!(Interactive::of("Pick", &options(&eleven), 1, "Options"), None, "more than ten");
        assert_eq!(Interactive::of("Pick", &options(&["A title far longer than a list allows"]), 1, "Options"), None);
        assert_eq!(Interactive::of(&"x".repeat(1025), &options(&["a"]), 1, "Options"), None, "body over 1024");
        assert_eq!(Interactive::of("", &options(&["a"]), 1, "Options"), None, "no body");
    }

    #[test]
    fn the_types_hold_the_interactive_content_and_its_text_fallback_and_their_key_is_stable() {
        let made = Interactive::of("Which card?", &options(&["Debit"]), 1, "Options").unwrap();
        let types = made.types("Which card?\n1) Debit");
        assert_eq!(types["twilio/quick-reply"]["actions"][0]["type"], "QUICK_REPLY");
        assert_eq!(types["twilio/text"]["body"], "Which card?\n1) Debit");
        assert_eq!(content_key(&types, "en"), content_key(&made.types("Which card?\n1) Debit"), "en"));
        assert_ne!(content_key(&types, "en"), content_key(&types, "es"));
    }
}
