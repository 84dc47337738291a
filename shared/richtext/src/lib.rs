//! Inbenta answer HTML → messaging-channel text and media.
//!
//! The Inbenta chatbot answers with HTML fragments written in a WYSIWYG
//! editor (and sometimes with plain text that relies on newlines). Channels
//! such as Twilio SMS and WhatsApp show neither: they take plain text (with
//! WhatsApp's `*bold*`, `_italic_`, `~strike~` dialect), send media as
//! separate attachments, and cap the length of each message. This crate
//! bridges the two:
//!
//! * [`html_to_blocks`] turns an answer into ordered [`Block`]s of text and
//!   media, so a channel can send an image as an attachment between the
//!   text that surrounds it;
//! * [`html_to_text`] flattens an answer to one text for channels (or logs)
//!   that take no attachments, writing each media as its URL;
//! * [`split_text`] and [`pack`] fit text into a channel's size limit.
//!
//! The input is untrusted and often malformed, so none of these functions
//! panics, whatever the input. The HTML tokenizer is hand-written and
//! tolerant instead of a full HTML5 parser: answers are small, the rules we
//! need are few, and keeping the dependencies to two small data crates (the
//! WHATWG entity table and Unicode grapheme rules, both too long to keep by
//! hand) keeps the Lambda binaries small and the behaviour easy to follow.
#![forbid(unsafe_code)]

mod entities;
mod render;
mod split;
mod tokenizer;
mod url;

pub use split::{pack, split_text};

/// Which text dialect the channel understands.
///
/// Chosen per channel because WhatsApp renders `*bold*` while on SMS the
/// same asterisks would just be noise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// No formatting markers at all (SMS).
    Plain,
    /// `*bold*`, `_italic_`, `~strike~`; headings are bold.
    WhatsApp,
    /// `**bold**`, `_italic_`, `~~strike~~` (Smooch renders it on channels that format text
    /// and strips it elsewhere); headings are bold.
    Markdown,
}

/// What a media URL points at, so the channel can pick how to send it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    Image,
    Video,
    Audio,
    /// A document (pdf, office file, csv, txt).
    File,
}

impl MediaKind {
    /// How a file of this media type (`image/png`) is sent: as what channels show inline
    /// (pictures, video and audio in the formats phones play), else as a document.
    pub fn of_media_type(media_type: &str) -> Self {
        let essence = media_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        match essence.as_str() {
            "image/jpeg" | "image/png" | "image/gif" | "image/webp" => Self::Image,
            "video/mp4" | "video/3gpp" => Self::Video,
            audio if audio.starts_with("audio/") => Self::Audio,
            _ => Self::File,
        }
    }
}

/// A media item found in an answer: always an absolute http(s) URL, because
/// channels fetch media themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    pub url: String,
    pub kind: MediaKind,
}

/// One piece of a rendered answer, in document order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// Trimmed, never empty; paragraphs separated by one blank line.
    Text(String),
    Media(Media),
}

/// HTML answer -> ordered text and media blocks.
///
/// Media split the text: `text <img> more` gives a text block, a media
/// block and another text block, so the channel can keep the order the
/// author intended. Only absolute http(s) media are kept; an embedded page
/// that is not a media file (a video-site player) stays in the text as its
/// URL on a line of its own. Plain text without tags keeps its lines.
pub fn html_to_blocks(html: &str, style: Style) -> Vec<Block> {
    render::to_blocks(html, style)
}

/// HTML -> text only, where every media is written as its URL on its own
/// line.
///
/// For channels or fallbacks that cannot send attachments: the user can
/// still open the media from the link.
pub fn html_to_text(html: &str, style: Style) -> String {
    render::to_text(html, style)
}

#[cfg(test)]
mod tests;
