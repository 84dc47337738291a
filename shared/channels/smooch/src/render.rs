//! Replies -> Smooch messages: HTML to markdown (Smooch renders it where the channel formats
//! text and strips it elsewhere), images as image messages in order, options as
//! reply actions whose payload is the option's [`Tap`], link buttons as link actions, and text
//! split under Smooch's limit, counted as the API counts it (UTF-16 code units).
//!
//! Smooch turns actions into each channel's own buttons (Messenger quick replies, WhatsApp
//! reply buttons or lists, Telegram keyboards...). Beyond [`MAX_REPLY_ACTIONS`] options the
//! question is numbered text, as on SMS, so every option stays answerable.

use connector_engine::{Reply, Tap};
use richtext::{Block, Media, MediaKind, Style};

/// Smooch refuses longer texts. The spec's `textMessage.text` `maxLength: 4096` is counted by a
/// JavaScript API, in UTF-16 code units (`length`): a character beyond the Basic Multilingual
/// Plane, as most emoji are, counts two.
pub const MAX_TEXT_UNITS: usize = 4096;
/// More reply actions than Messenger shows as quick replies become numbered text.
pub const MAX_REPLY_ACTIONS: usize = 13;

/// One message to post, channel-neutral within Smooch (the API version shapes the body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmoochMessage {
    Text { text: String, actions: Vec<Action> },
    Image { url: String },
    File { url: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A quick reply: tapping it sends its text as the user's message, with the payload.
    Reply {
        text: String,
        payload: String,
    },
    Link {
        text: String,
        uri: String,
    },
}

pub fn render(replies: &[Reply]) -> Vec<SmoochMessage> {
    let mut messages = Vec::new();
    for reply in replies {
        match reply {
            Reply::Text(html) => push_blocks(&mut messages, richtext::html_to_blocks(html, Style::Markdown), Vec::new()),
            Reply::Choice { text, options, first_number, number_hint } if options.len() > MAX_REPLY_ACTIONS => {
                let numbered: Vec<String> = options
                    .iter()
                    .enumerate()
                    .map(|(i, option)| format!("{}) {}", first_number + i, richtext::html_to_text(&option.label, Style::Markdown)))
                    .collect();
                let question = richtext::html_to_text(text, Style::Markdown);
                let hint = number_hint.trim();
                let block = [question.as_str(), hint].iter().filter(|s| !s.is_empty()).copied().collect::<Vec<_>>().join(" ");
                push_blocks(&mut messages, vec![Block::Text(format!("{block}\n{}", numbered.join("\n")).trim().to_owned())], Vec::new());
            }
            Reply::Choice { text, options, first_number, .. } => {
                let actions = Tap::of(*first_number, options)
                    .map(|(tap, option)| Action::Reply {
                        text: richtext::html_to_text(option.title(), Style::Plain),
                        payload: tap.payload(),
                    })
                    .collect();
                push_blocks(&mut messages, richtext::html_to_blocks(text, Style::Markdown), actions);
            }
            Reply::Links { text, links } => {
                let actions = links.iter().map(|link| Action::Link { text: link.title.clone(), uri: link.url.clone() }).collect();
                push_blocks(&mut messages, richtext::html_to_blocks(text, Style::Markdown), actions);
            }
            Reply::File(file) => {
                let media = Media { url: file.url.clone(), kind: MediaKind::of_media_type(&file.media_type) };
                push_blocks(&mut messages, vec![Block::Media(media)], Vec::new());
            }
        }
    }
    messages
}

/// Adds the blocks in order, with the actions on the last text. Actions need a text to sit
/// on: a question that is only an image gets one made of the buttons' titles.
fn push_blocks(messages: &mut Vec<SmoochMessage>, blocks: Vec<Block>, actions: Vec<Action>) {
    let start = messages.len();
    let mut texts: Vec<String> = Vec::new();
    let flush = |texts: &mut Vec<String>, messages: &mut Vec<SmoochMessage>| {
        messages.extend(pack_in_units(texts).into_iter().map(|text| SmoochMessage::Text { text, actions: Vec::new() }));
        texts.clear();
    };
    for block in blocks {
        match block {
            Block::Text(text) if !text.trim().is_empty() => texts.push(text),
            Block::Text(_) => {}
            Block::Media(media) => {
                flush(&mut texts, messages);
                messages.push(match media.kind {
                    MediaKind::Image => SmoochMessage::Image { url: media.url },
                    _ => SmoochMessage::File { url: media.url },
                });
            }
        }
    }
    flush(&mut texts, messages);
    if actions.is_empty() {
        return;
    }
    match messages[start..].last_mut() {
        Some(SmoochMessage::Text { actions: slot, .. }) => *slot = actions,
        _ => {
            let text = actions.iter().map(action_text).collect::<Vec<_>>().join(" / ");
            messages.push(SmoochMessage::Text { text, actions });
        }
    }
}

/// `texts` joined into as few messages as fit, each at most [`MAX_TEXT_UNITS`] UTF-16 units.
///
/// `richtext` counts characters (Unicode scalar values), so its parts of at most 4096 characters
/// are at most 4096 units unless they hold astral characters. Such a part is cut again, by
/// characters, with a limit lowered by the excess of its longest piece until every piece fits:
/// the same paragraph, line, sentence and grapheme boundaries, and nothing lost. At half the
/// limit every piece fits whatever it holds (no character is more than two units), so the search
/// ends there at the latest.
fn pack_in_units(texts: &[String]) -> Vec<String> {
    let mut messages = Vec::new();
    for part in richtext::pack(texts, "\n\n", MAX_TEXT_UNITS) {
        let mut excess = utf16_len(&part).saturating_sub(MAX_TEXT_UNITS);
        if excess == 0 {
            messages.push(part);
            continue;
        }
        let mut limit = MAX_TEXT_UNITS;
        loop {
            limit = limit.saturating_sub(excess).max(MAX_TEXT_UNITS / 2);
            let pieces = richtext::split_text(&part, limit);
            excess = pieces.iter().map(|piece| utf16_len(piece)).max().unwrap_or(0).saturating_sub(MAX_TEXT_UNITS);
            if excess == 0 || limit == MAX_TEXT_UNITS / 2 {
                messages.extend(pieces);
                break;
            }
        }
    }
    messages
}

/// A text's length as Smooch's API counts it.
fn utf16_len(text: &str) -> usize {
    text.encode_utf16().count()
}

fn action_text(action: &Action) -> &str {
    match action {
        Action::Reply { text, .. } | Action::Link { text, .. } => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector_engine::{ChoiceOption, Link};

    fn text(t: &str) -> SmoochMessage {
        SmoochMessage::Text { text: t.into(), actions: Vec::new() }
    }

    fn choice(options: &[&str], first_number: usize) -> Reply {
        Reply::Choice {
            text: "<p>Which one?</p>".into(),
            options: options.iter().map(|o| ChoiceOption::new(*o)).collect(),
            first_number,
            number_hint: "(type a number)".into(),
        }
    }

    #[test]
    fn options_become_reply_actions_carrying_their_tap() {
        let out = render(&[choice(&["Opening hours", "Prices"], 3)]);
        let [SmoochMessage::Text { text, actions }] = out.as_slice() else { panic!("{out:?}") };
        assert_eq!(text, "Which one?");
        assert_eq!(
            actions,
            &vec![
                Action::Reply { text: "Opening hours".into(), payload: Tap { number: 3, label: "Opening hours".into() }.payload() },
                Action::Reply { text: "Prices".into(), payload: Tap { number: 4, label: "Prices".into() }.payload() },
            ]
        );
    }

    #[test]
    fn a_button_title_is_shown_and_the_tap_keeps_the_label() {
        let reply = Reply::Choice {
            text: "Which?".into(),
            options: vec![ChoiceOption { label: "Opening hours of every office".into(), button: Some("Hours".into()) }],
            first_number: 1,
            number_hint: String::new(),
        };
        let out = render(&[reply]);
        let [SmoochMessage::Text { actions, .. }] = out.as_slice() else { panic!("{out:?}") };
        let Action::Reply { text, payload } = &actions[0] else { panic!("not a reply") };
        assert_eq!(text, "Hours");
        assert_eq!(Tap::from_payload(payload).unwrap().label, "Opening hours of every office");
    }

    #[test]
    fn more_options_than_quick_replies_hold_are_numbered_text() {
        let labels: Vec<String> = (1..=14).map(|i| format!("Option {i}")).collect();
        let refs: Vec<&str> = labels.iter().map(String::as_str).collect();
        let out = render(&[choice(&refs, 1)]);
        let [SmoochMessage::Text { text, actions }] = out.as_slice() else { panic!("{out:?}") };
        assert!(actions.is_empty());
        assert!(text.starts_with("Which one? (type a number)\n1) Option 1\n"), "{text}");
        assert!(text.ends_with("14) Option 14"));
    }

    #[test]
    fn images_are_image_messages_between_the_texts_around_them() {
        let out = render(&[Reply::Text("<p>Look</p><img src=\"https://x.test/a.png\"><p>Done</p>".into())]);
        assert_eq!(out, vec![text("Look"), SmoochMessage::Image { url: "https://x.test/a.png".into() }, text("Done")]);
    }

    #[test]
    fn an_agents_picture_is_an_image_message_and_another_file_a_file_message() {
        let file = |name: &str, media_type: &str| {
            Reply::File(connector_engine::SharedFile {
                url: format!("https://c.test/files/t/{name}"),
                name: name.into(),
                media_type: media_type.into(),
            })
        };
        let out = render(&[file("a.png", "image/png"), file("b.pdf", "application/pdf")]);
        assert_eq!(
            out,
            vec![
                SmoochMessage::Image { url: "https://c.test/files/t/a.png".into() },
                SmoochMessage::File { url: "https://c.test/files/t/b.pdf".into() }
            ]
        );
    }

    #[test]
    fn link_buttons_are_link_actions_on_the_text() {
        let out =
            render(&[Reply::Links { text: "See".into(), links: vec![Link { title: "Shop".into(), url: "https://shop.test".into() }] }]);
        assert_eq!(
            out,
            vec![SmoochMessage::Text {
                text: "See".into(),
                actions: vec![Action::Link { text: "Shop".into(), uri: "https://shop.test".into() }]
            }]
        );
    }

    /// Found against the spec: `maxLength: 4096` counts UTF-16 units, and a part of 4096
    /// characters with emoji was longer than that.
    #[test]
    fn a_4096_character_text_with_astral_emoji_is_split_into_parts_of_at_most_4096_utf16_units() {
        let long = "Fine 😀. ".repeat(511) + "Fine 😀.!";
        assert_eq!((long.chars().count(), utf16_len(&long)), (4096, 4608));
        let emoji_only = "😀".repeat(4096);
        for text in [long, emoji_only] {
            let out = render(&[Reply::Text(text.clone())]);
            assert!(out.len() >= 2, "{} messages", out.len());
            let mut kept = String::new();
            for message in &out {
                let SmoochMessage::Text { text: part, .. } = message else { panic!("{message:?}") };
                assert!(utf16_len(part) <= MAX_TEXT_UNITS, "{} units", utf16_len(part));
                kept.extend(part.chars().filter(|c| !c.is_whitespace()));
            }
            assert_eq!(kept, text.chars().filter(|c| !c.is_whitespace()).collect::<String>(), "nothing lost");
        }
        let fits = "😀".repeat(2048);
        assert_eq!(render(&[Reply::Text(fits.clone())]), vec![text(&fits)], "exactly 4096 units is one message");
    }

    #[test]
    fn long_text_is_split_under_the_limit_and_the_actions_go_on_the_last_part() {
        let long = "A sentence that repeats. ".repeat(400);
        let reply = Reply::Choice { text: long, options: vec![ChoiceOption::new("Yes")], first_number: 1, number_hint: String::new() };
        let out = render(&[reply]);
        assert!(out.len() >= 3);
        for (i, message) in out.iter().enumerate() {
            let SmoochMessage::Text { text, actions } = message else { panic!("{message:?}") };
            assert!(utf16_len(text) <= MAX_TEXT_UNITS);
            assert_eq!(actions.is_empty(), i + 1 < out.len());
        }
    }

    #[test]
    fn a_question_that_is_only_an_image_still_gets_its_buttons_on_a_text() {
        let reply = Reply::Choice {
            text: "<img src=\"https://x.test/a.png\">".into(),
            options: vec![ChoiceOption::new("Yes"), ChoiceOption::new("No")],
            first_number: 1,
            number_hint: String::new(),
        };
        let out = render(&[reply]);
        assert_eq!(out.len(), 2);
        let SmoochMessage::Text { text, actions } = &out[1] else { panic!("{out:?}") };
        assert_eq!((text.as_str(), actions.len()), ("Yes / No", 2));
    }
}
