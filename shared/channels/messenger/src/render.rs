//! Replies -> Send API messages: HTML to plain text with images (and other media) as
//! attachments in their place, choices as quick replies, links as button templates, every
//! text within Meta's limits, and the messaging type decided here so rendering stays pure.
//!
//! Limits (<https://developers.facebook.com/docs/messenger-platform/reference/send-api/>):
//! text under 2000 characters, at most 13 quick replies, titles of 20 characters, payloads of
//! 1000, button templates with 1-3 buttons and a text of 640. Counted in characters; cuts fall
//! between grapheme clusters only.

use connector_core::Occasion;
use connector_engine::{ChoiceOption, Link, Reply, Tap};
use richtext::{Block, MediaKind, Style};
use serde::Serialize;
use std::time::Duration;
use unicode_segmentation::UnicodeSegmentation;

/// Meta's limit is 2000 characters, "under 2000" in the Send API reference: one less.
pub const MAX_TEXT_CHARS: usize = 1999;
pub const MAX_QUICK_REPLIES: usize = 13;
/// Quick reply and button titles.
pub const MAX_TITLE_CHARS: usize = 20;
/// Quick reply and postback payloads.
pub const MAX_PAYLOAD_CHARS: usize = 1000;
/// The text of a button template.
pub const MAX_BUTTON_TEXT_CHARS: usize = 640;
pub const MAX_BUTTONS: usize = 3;
/// Standard messages reach the user within 24 hours of their last message; a human agent's
/// may go out with the `HUMAN_AGENT` tag after that, up to 7 days.
pub const STANDARD_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// One Send API call: how it is sent and what it shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundMessage {
    pub delivery: Delivery,
    pub content: Content,
}

/// `messaging_type` (and `tag`) of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// `RESPONSE`: within 24 hours of the user's last message.
    Response,
    /// `MESSAGE_TAG` with `HUMAN_AGENT`: an agent's reply after 24 hours (never the bot's).
    HumanAgent,
}

impl Delivery {
    pub fn of(occasion: &Occasion) -> Self {
        if occasion.from_agent && occasion.since_user_wrote > STANDARD_WINDOW { Self::HumanAgent } else { Self::Response }
    }

    pub fn messaging_type(self) -> &'static str {
        match self {
            Self::Response => "RESPONSE",
            Self::HumanAgent => "MESSAGE_TAG",
        }
    }

    pub fn tag(self) -> Option<&'static str> {
        match self {
            Self::Response => None,
            Self::HumanAgent => Some("HUMAN_AGENT"),
        }
    }
}

/// The Send API's `message` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Content {
    Text {
        text: String,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        quick_replies: Vec<QuickReply>,
    },
    Attachment {
        attachment: Attachment,
    },
}

impl Content {
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text { text: text.into(), quick_replies: Vec::new() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuickReply {
    /// Always `text`.
    pub content_type: &'static str,
    pub title: String,
    pub payload: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", content = "payload", rename_all = "lowercase")]
pub enum Attachment {
    Image(MediaPayload),
    Video(MediaPayload),
    Audio(MediaPayload),
    File(MediaPayload),
    Template(ButtonTemplate),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MediaPayload {
    pub url: String,
    /// Answers' media are not uploaded once for reuse: Meta fetches each URL when it is sent.
    pub is_reusable: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ButtonTemplate {
    /// Always `button`.
    pub template_type: &'static str,
    pub text: String,
    pub buttons: Vec<Button>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Button {
    WebUrl { title: String, url: String },
    Postback { title: String, payload: String },
}

/// The messages for `replies`, in order, all sent as `occasion` requires.
pub fn render(replies: &[Reply], occasion: &Occasion) -> Vec<OutboundMessage> {
    let delivery = Delivery::of(occasion);
    let mut out = Out::default();
    for (index, reply) in replies.iter().enumerate() {
        match reply {
            Reply::Text(html) => out.blocks(richtext::html_to_blocks(html, Style::Plain)),
            Reply::Choice { text, options, first_number, number_hint } => {
                let last = index + 1 == replies.len();
                out.choice(text, options, *first_number, number_hint, last);
            }
            Reply::Links { text, links } => out.links(text, links),
            Reply::File(file) => out.push(media_message(MediaKind::of_media_type(&file.media_type), file.url.clone())),
        }
    }
    out.finish().into_iter().map(|content| OutboundMessage { delivery, content }).collect()
}

/// Messages so far, and the text not yet sent, merged into as few messages as fit.
#[derive(Default)]
struct Out {
    run: Vec<String>,
    messages: Vec<Content>,
}

impl Out {
    fn text(&mut self, text: String) {
        if !text.trim().is_empty() {
            self.run.push(text);
        }
    }

    fn blocks(&mut self, blocks: Vec<Block>) {
        for block in blocks {
            match block {
                Block::Text(text) => self.text(text),
                Block::Media(media) => self.push(media_message(media.kind, media.url)),
            }
        }
    }

    /// Sends the text so far, then `message`.
    fn push(&mut self, message: Content) {
        self.flush();
        self.messages.push(message);
    }

    fn flush(&mut self) {
        for chunk in self.take_run() {
            self.messages.push(Content::text(chunk));
        }
    }

    /// The text so far, in chunks that fit a message.
    fn take_run(&mut self) -> Vec<String> {
        let chunks = richtext::pack(&self.run, "\n\n", MAX_TEXT_CHARS);
        self.run.clear();
        chunks
    }

    fn finish(mut self) -> Vec<Content> {
        self.flush();
        self.messages
    }

    /// The blocks before the question go out as they are; the question is returned.
    fn lead_in(&mut self, html: &str) -> String {
        let mut blocks = richtext::html_to_blocks(html, Style::Plain);
        let question = match blocks.last() {
            Some(Block::Text(_)) => match blocks.pop() {
                Some(Block::Text(question)) => question,
                _ => String::new(),
            },
            _ => String::new(),
        };
        self.blocks(blocks);
        question
    }

    /// Quick replies on the question when they fit and nothing follows them (Messenger shows
    /// quick replies only under the conversation's last message: a later message would take
    /// them away); postback buttons, which stay, when a later message follows and three are
    /// enough; else numbered text, so every option stays answerable.
    fn choice(&mut self, html: &str, options: &[ChoiceOption], first_number: usize, hint: &str, last: bool) {
        let question = self.lead_in(html);
        if options.is_empty() {
            self.text(question);
            return;
        }
        let taps: Vec<(Tap, &ChoiceOption)> = Tap::of(first_number, options).collect();
        let payloads: Vec<String> = taps.iter().map(|(tap, _)| tap.payload()).collect();
        let payloads_fit = payloads.iter().all(|p| p.chars().count() <= MAX_PAYLOAD_CHARS);
        let titles = taps.iter().map(|(tap, option)| button_title(option.title(), tap.number));
        if last && options.len() <= MAX_QUICK_REPLIES && payloads_fit {
            let quick_replies: Vec<QuickReply> =
                titles.zip(payloads).map(|(title, payload)| QuickReply { content_type: "text", title, payload }).collect();
            // The number hint is for typing; with buttons it is not shown.
            self.text(question);
            let mut chunks = self.take_run();
            let text = chunks.pop().unwrap_or_else(|| numbered(options, first_number));
            self.messages.extend(chunks.into_iter().map(Content::text));
            self.messages.push(Content::Text { text, quick_replies });
        } else if options.len() <= MAX_BUTTONS && payloads_fit {
            let buttons = titles.zip(payloads).map(|(title, payload)| Button::Postback { title, payload }).collect();
            let question = if question.trim().is_empty() { numbered(options, first_number) } else { question };
            self.template(&question, buttons);
        } else {
            let list = numbered(options, first_number);
            let hint = hint.trim();
            self.text(match (question.trim().is_empty(), hint.is_empty()) {
                (true, true) => list,
                (true, false) => format!("{hint}\n{list}"),
                (false, true) => format!("{question}\n{list}"),
                (false, false) => format!("{question} {hint}\n{list}"),
            });
        }
    }

    /// A button template with the first three links that are web pages; any further links as
    /// `title: url` lines after it.
    fn links(&mut self, html: &str, links: &[Link]) {
        let question = self.lead_in(html);
        let (web, other): (Vec<&Link>, Vec<&Link>) = links.iter().partition(|link| is_web_url(&link.url));
        let rest = web.iter().skip(MAX_BUTTONS).chain(other.iter());
        let lines: Vec<String> = rest.map(|link| format!("{}: {}", link.title.trim(), link.url.trim())).collect();
        if web.is_empty() {
            self.text(question);
        } else {
            let shown = &web[..web.len().min(MAX_BUTTONS)];
            let buttons = shown.iter().map(|link| Button::WebUrl { title: link_title(link), url: link.url.trim().to_owned() }).collect();
            let text = if question.trim().is_empty() {
                shown.iter().map(|link| link.title.trim()).filter(|t| !t.is_empty()).collect::<Vec<_>>().join("\n")
            } else {
                question
            };
            self.template(&text, buttons);
        }
        for line in lines {
            self.text(line);
        }
    }

    /// A button template after the text so far. A text too long for the template goes out
    /// before it, so the template keeps the last part; an empty one becomes "…" (Meta refuses
    /// templates without text).
    fn template(&mut self, text: &str, buttons: Vec<Button>) {
        self.flush();
        let mut chunks = richtext::split_text(text, MAX_TEXT_CHARS);
        let last = chunks.pop().unwrap_or_default();
        let mut tail = richtext::split_text(&last, MAX_BUTTON_TEXT_CHARS);
        let text = tail.pop().unwrap_or_else(|| "…".to_owned());
        self.messages.extend(chunks.into_iter().chain(tail).map(Content::text));
        let template = ButtonTemplate { template_type: "button", text, buttons };
        self.messages.push(Content::Attachment { attachment: Attachment::Template(template) });
    }
}

fn media_message(kind: MediaKind, url: String) -> Content {
    let payload = MediaPayload { url, is_reusable: false };
    let attachment = match kind {
        MediaKind::Image => Attachment::Image(payload),
        MediaKind::Video => Attachment::Video(payload),
        MediaKind::Audio => Attachment::Audio(payload),
        MediaKind::File => Attachment::File(payload),
    };
    Content::Attachment { attachment }
}

/// `1) label` lines, as on channels without buttons.
fn numbered(options: &[ChoiceOption], first_number: usize) -> String {
    options
        .iter()
        .enumerate()
        .map(|(i, option)| format!("{}) {}", first_number + i, richtext::html_to_text(&option.label, Style::Plain)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// An option's button title: its plain text on one line, cut to fit; its number when it has
/// no text (Meta refuses empty titles).
fn button_title(title: &str, number: usize) -> String {
    let title = fit_title(&richtext::html_to_text(title, Style::Plain));
    if title.is_empty() { number.to_string() } else { title }
}

fn link_title(link: &Link) -> String {
    let title = fit_title(&link.title);
    if title.is_empty() { fit_title(&link.url) } else { title }
}

/// `title` on one line in at most [`MAX_TITLE_CHARS`] characters: a longer one is cut after
/// its last whole grapheme cluster that fits, followed by an ellipsis.
pub fn fit_title(title: &str) -> String {
    let title = title.split_whitespace().collect::<Vec<_>>().join(" ");
    if title.chars().count() <= MAX_TITLE_CHARS {
        return title;
    }
    let mut cut = String::new();
    let mut chars = 0;
    for grapheme in title.graphemes(true) {
        let width = grapheme.chars().count();
        if chars + width > MAX_TITLE_CHARS - 1 {
            break;
        }
        cut.push_str(grapheme);
        chars += width;
    }
    format!("{}…", cut.trim_end())
}

/// Meta opens only http(s) pages from `web_url` buttons.
fn is_web_url(url: &str) -> bool {
    let url = url.trim();
    ["https://", "http://"]
        .iter()
        .any(|scheme| url.get(..scheme.len()).is_some_and(|s| s.eq_ignore_ascii_case(scheme)) && url.len() > scheme.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bot() -> Occasion {
        Occasion::default()
    }

    fn choice(text: &str, labels: &[&str], first_number: usize) -> Reply {
        Reply::Choice {
            text: text.into(),
            options: labels.iter().map(|l| ChoiceOption::new(*l)).collect(),
            first_number,
            number_hint: "(type a number)".into(),
        }
    }

    fn contents(replies: &[Reply]) -> Vec<Content> {
        render(replies, &bot()).into_iter().map(|m| m.content).collect()
    }

    fn json_of(content: &Content) -> serde_json::Value {
        serde_json::to_value(content).unwrap()
    }

    fn text_of(content: &Content) -> &str {
        match content {
            Content::Text { text, .. } => text,
            Content::Attachment { attachment: Attachment::Template(template) } => &template.text,
            Content::Attachment { .. } => "",
        }
    }

    #[test]
    fn consecutive_answers_are_merged_into_one_text() {
        let out = contents(&[Reply::Text("<p>One</p>".into()), Reply::Text("Two".into())]);
        assert_eq!(out, [Content::text("One\n\nTwo")]);
        assert_eq!(json_of(&out[0]), json!({"text": "One\n\nTwo"}));
    }

    #[test]
    fn images_are_attachments_between_the_texts_around_them() {
        let html = "<p>Look</p><img src=\"https://x.test/a.png\"><p>Then</p><img src=\"https://x.test/b.png\"><p>Done</p>";
        let out = contents(&[Reply::Text(html.into())]);
        let image = |url: &str| json!({"attachment": {"type": "image", "payload": {"url": url, "is_reusable": false}}});
        let as_json: Vec<_> = out.iter().map(json_of).collect();
        assert_eq!(
            as_json,
            [
                json!({"text": "Look"}),
                image("https://x.test/a.png"),
                json!({"text": "Then"}),
                image("https://x.test/b.png"),
                json!({"text": "Done"})
            ]
        );
    }

    #[test]
    fn an_agents_file_is_an_attachment_of_its_kind_after_the_text_before_it() {
        let file = connector_engine::SharedFile {
            url: "https://c.test/files/t/a.mp4".into(),
            name: "a.mp4".into(),
            media_type: "video/mp4".into(),
        };
        let out = contents(&[Reply::Text("Watch".into()), Reply::File(file)]);
        let as_json: Vec<_> = out.iter().map(json_of).collect();
        assert_eq!(
            as_json,
            [
                json!({"text": "Watch"}),
                json!({"attachment": {"type": "video", "payload": {"url": "https://c.test/files/t/a.mp4", "is_reusable": false}}})
            ]
        );
    }

    #[test]
    fn a_long_text_is_split_under_2000_characters_at_sentence_ends() {
        let long = "This sentence is about forty characters. ".repeat(120);
        let out = contents(&[Reply::Text(long.clone())]);
        assert!(out.len() >= 3);
        for content in &out {
            let text = text_of(content);
            assert!(text.chars().count() < 2000, "{}", text.chars().count());
            assert!(text.ends_with('.'), "cut inside a sentence: …{}", &text[text.len() - 20..]);
        }
        let joined: String = out.iter().map(text_of).collect::<Vec<_>>().join(" ");
        assert_eq!(joined.split_whitespace().count(), long.split_whitespace().count(), "nothing lost");
    }

    #[test]
    fn a_choice_becomes_quick_replies_with_tap_payloads_under_its_question() {
        let out = contents(&[choice("<p>Was it useful?</p>", &["Yes", "No"], 3)]);
        assert_eq!(
            json_of(&out[0]),
            json!({"text": "Was it useful?", "quick_replies": [
                {"content_type": "text", "title": "Yes", "payload": Tap { number: 3, label: "Yes".into() }.payload()},
                {"content_type": "text", "title": "No", "payload": Tap { number: 4, label: "No".into() }.payload()},
            ]})
        );
        assert_eq!(out.len(), 1, "the number hint is not shown with buttons");
    }

    #[test]
    fn thirteen_options_fit_as_quick_replies_with_titles_of_at_most_20_characters() {
        let labels: Vec<String> = (1..=13).map(|i| format!("Option number {i} with a long label")).collect();
        let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
        let out = contents(&[choice("Pick one", &labels, 1)]);
        let Content::Text { quick_replies, .. } = &out[0] else { panic!("not a text") };
        assert_eq!(quick_replies.len(), 13);
        assert!(quick_replies.iter().all(|q| q.title.chars().count() <= MAX_TITLE_CHARS));
        assert_eq!(quick_replies[0].title, "Option number 1 wit…");
        assert_eq!(Tap::from_payload(&quick_replies[12].payload).unwrap(), Tap { number: 13, label: labels[12].into() });
    }

    #[test]
    fn a_button_title_prefers_the_shorter_button_text_and_never_splits_a_grapheme() {
        let option = ChoiceOption { label: "A very long label that would be cut".into(), button: Some("Short".into()) };
        let out = contents(&[Reply::Choice { text: "Q".into(), options: vec![option], first_number: 1, number_hint: String::new() }]);
        let Content::Text { quick_replies, .. } = &out[0] else { panic!("not a text") };
        assert_eq!(quick_replies[0].title, "Short");
        let flags = "🇪🇸".repeat(12);
        let cut = fit_title(&flags);
        assert!(cut.chars().count() <= MAX_TITLE_CHARS);
        assert_eq!(cut, format!("{}…", "🇪🇸".repeat(9)));
    }

    #[test]
    fn more_than_13_options_are_numbered_text_with_the_hint() {
        let labels: Vec<String> = (1..=14).map(|i| format!("L{i}")).collect();
        let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
        let out = contents(&[choice("Which?", &labels, 1)]);
        assert_eq!(out.len(), 1);
        let text = text_of(&out[0]);
        assert!(text.starts_with("Which? (type a number)\n1) L1\n2) L2"), "{text}");
        assert!(text.ends_with("14) L14"));
        assert!(matches!(&out[0], Content::Text { quick_replies, .. } if quick_replies.is_empty()));
    }

    #[test]
    fn a_choice_followed_by_another_message_gets_postback_buttons_that_stay() {
        let out = contents(&[choice("Related", &["Shipping", "Returns"], 1), choice("Useful?", &["Yes", "No"], 3)]);
        assert_eq!(out.len(), 2);
        let tap = Tap { number: 1, label: "Shipping".into() };
        assert_eq!(
            json_of(&out[0]),
            json!({"attachment": {"type": "template", "payload": {"template_type": "button", "text": "Related", "buttons": [
                {"type": "postback", "title": "Shipping", "payload": tap.payload()},
                {"type": "postback", "title": "Returns", "payload": Tap { number: 2, label: "Returns".into() }.payload()},
            ]}}})
        );
        assert!(matches!(&out[1], Content::Text { quick_replies, .. } if quick_replies.len() == 2));
        // Too many for a template: numbered, so the options stay answerable.
        let out = contents(&[choice("Related", &["a", "b", "c", "d"], 1), Reply::Text("More".into())]);
        assert_eq!(text_of(&out[0]), "Related (type a number)\n1) a\n2) b\n3) c\n4) d\n\nMore");
    }

    #[test]
    fn an_empty_question_still_gives_a_text_meta_accepts() {
        for text in ["", "   ", "<p></p>"] {
            let out = contents(&[choice(text, &["Yes", "No"], 1)]);
            assert_eq!(out.len(), 1);
            assert_eq!(text_of(&out[0]), "1) Yes\n2) No");
            let out = contents(&[choice(text, &["Yes", "No"], 1), Reply::Text("after".into())]);
            assert_eq!(text_of(&out[0]), "1) Yes\n2) No");
            let out = contents(&[Reply::Links {
                text: text.into(),
                links: vec![Link { title: "Shop".into(), url: "https://shop.test".into() }],
            }]);
            assert_eq!(text_of(&out[0]), "Shop");
        }
    }

    #[test]
    fn a_choice_without_options_is_just_its_text() {
        assert_eq!(contents(&[choice("Nothing to pick", &[], 1)]), [Content::text("Nothing to pick")]);
        assert!(contents(&[choice("", &[], 1)]).is_empty());
    }

    #[test]
    fn the_text_before_a_question_shares_its_message_and_an_image_stays_in_place() {
        let out = contents(&[Reply::Text("Answer.".into()), choice("<img src=\"https://x.test/a.png\"><p>Useful?</p>", &["Yes"], 1)]);
        assert_eq!(out.len(), 3);
        assert_eq!(text_of(&out[0]), "Answer.");
        assert!(matches!(&out[1], Content::Attachment { attachment: Attachment::Image(_) }));
        assert!(matches!(&out[2], Content::Text { text, quick_replies } if text == "Useful?" && quick_replies.len() == 1));
        let out = contents(&[Reply::Text("Answer.".into()), choice("Useful?", &["Yes"], 1)]);
        assert!(matches!(&out[..], [Content::Text { text, quick_replies }] if text == "Answer.\n\nUseful?" && quick_replies.len() == 1));
    }

    #[test]
    fn links_become_a_button_template_of_at_most_three_and_the_rest_text_lines() {
        let links: Vec<Link> = (1..=5).map(|i| Link { title: format!("Page {i}"), url: format!("https://x.test/{i}") }).collect();
        let mut links = links;
        links.push(Link { title: "Call us".into(), url: "tel:+34900".into() });
        let out = contents(&[Reply::Links { text: "<p>See these</p>".into(), links }]);
        assert_eq!(out.len(), 2);
        let Content::Attachment { attachment: Attachment::Template(template) } = &out[0] else { panic!("not a template") };
        assert_eq!(template.text, "See these");
        assert_eq!(template.buttons.len(), MAX_BUTTONS);
        assert_eq!(
            serde_json::to_value(&template.buttons[0]).unwrap(),
            json!({"type": "web_url", "title": "Page 1", "url": "https://x.test/1"})
        );
        assert_eq!(text_of(&out[1]), "Page 4: https://x.test/4\n\nPage 5: https://x.test/5\n\nCall us: tel:+34900");
    }

    #[test]
    fn a_template_text_longer_than_640_characters_goes_out_before_it() {
        let long = "Twenty characters!! ".repeat(40);
        let out = contents(&[Reply::Links {
            text: long,
            links: vec![Link { title: "A long link title here".into(), url: "https://x.test".into() }],
        }]);
        assert_eq!(out.len(), 2);
        let Content::Attachment { attachment: Attachment::Template(template) } = &out[1] else { panic!("not a template") };
        assert!(template.text.chars().count() <= MAX_BUTTON_TEXT_CHARS);
        assert!(matches!(&template.buttons[0], Button::WebUrl { title, .. } if title == "A long link title h…"));
        assert!(text_of(&out[0]).chars().count() <= MAX_BUTTON_TEXT_CHARS);
    }

    #[test]
    fn human_agent_is_used_only_for_agent_messages_after_24_hours() {
        let hours = |h: u64| Duration::from_secs(h * 3600);
        let of = |from_agent, since| render(&[Reply::Text("x".into())], &Occasion { from_agent, since_user_wrote: since })[0].delivery;
        assert_eq!(of(true, hours(25)), Delivery::HumanAgent);
        assert_eq!(of(true, hours(23)), Delivery::Response);
        assert_eq!(of(false, hours(25)), Delivery::Response, "never for the bot");
        assert_eq!(of(false, hours(200)), Delivery::Response);
        assert_eq!((Delivery::HumanAgent.messaging_type(), Delivery::HumanAgent.tag()), ("MESSAGE_TAG", Some("HUMAN_AGENT")));
        assert_eq!((Delivery::Response.messaging_type(), Delivery::Response.tag()), ("RESPONSE", None));
    }

    #[test]
    fn rendering_is_pure() {
        let replies = [Reply::Text("<p>a</p><img src=\"https://x.test/a.png\">".into()), choice("q", &["1", "2"], 1)];
        assert_eq!(render(&replies, &bot()), render(&replies, &bot()));
    }
}
