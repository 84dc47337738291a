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
mod tests;
