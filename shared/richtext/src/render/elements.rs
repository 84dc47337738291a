//! The elements the renderer knows by name: formatting markers, links, lists, tables and
//! media, and which tags are blocks or void.

use super::{Gap, Kind, Link, MediaOutput, Renderer};
use crate::tokenizer::Tag;
use crate::{Block, Media, MediaKind, Style, url};
use std::mem;

impl Renderer {
    // ----- formatting -----

    pub(super) fn open_marker(&mut self, name: &str) {
        let marker = marker_for(self.style, name).filter(|c| !self.marker_active(c));
        self.push(name, Kind::Marker { marker, shown: false });
    }

    pub(super) fn marker_active(&self, c: &str) -> bool {
        self.stack.iter().any(|f| matches!(f.kind, Kind::Marker { marker: Some(m), .. } if m == c))
    }

    // ----- links -----

    pub(super) fn open_link(&mut self, tag: &Tag) {
        // Links do not nest; a new one closes the previous.
        self.close_innermost(|k| matches!(k, Kind::Link(_)), |_| false);
        let link = Link { target: tag.attr("href").and_then(url::link_target), text: String::new(), wraps_media: false };
        self.push("a", Kind::Link(link));
    }

    /// `text (URL)`, or just the URL when there is no text or the text
    /// already is the URL.
    pub(super) fn close_link(&mut self, link: Link) {
        let Some(target) = link.target else {
            return;
        };
        if link.text.is_empty() {
            if !link.wraps_media {
                self.write_word(&target, true);
            }
        } else if !url::same_target(&link.text, &target) {
            if self.buf.is_empty() {
                // The text went out before a media block; the URL stands alone.
                self.write_word(&target, true);
            } else {
                self.buf.push_str(" (");
                self.buf.push_str(&target);
                self.buf.push(')');
            }
        }
    }

    // ----- lists -----

    pub(super) fn open_list(&mut self, tag: &Tag) {
        let next = (tag.name == "ol").then(|| tag.attr("start").and_then(|s| s.trim().parse().ok()).unwrap_or(1));
        self.push(&tag.name, Kind::List { next });
    }

    pub(super) fn open_item(&mut self) {
        self.close_innermost(|k| matches!(k, Kind::Item), |k| matches!(k, Kind::List { .. }));
        self.request_break(1);
        let depth = self.stack.iter().filter(|f| matches!(f.kind, Kind::List { .. })).count();
        let indent = "  ".repeat(depth.saturating_sub(1));
        let bullet = self.next_bullet();
        self.prefix = Some(format!("{indent}{bullet}"));
        self.push("li", Kind::Item);
    }

    pub(super) fn next_bullet(&mut self) -> String {
        let list = self.stack.iter_mut().rev().find_map(|f| match &mut f.kind {
            Kind::List { next } => Some(next),
            _ => None,
        });
        match list {
            Some(Some(next)) => {
                let number = *next;
                *next = number.saturating_add(1);
                format!("{number}. ")
            }
            _ => "- ".to_owned(),
        }
    }

    // ----- tables -----

    pub(super) fn open_row(&mut self) {
        self.close_innermost(|k| matches!(k, Kind::Row { .. }), |k| matches!(k, Kind::Table));
        self.request_break(1);
        self.push("tr", Kind::Row { has_content: false });
    }

    pub(super) fn open_cell(&mut self, name: &str) {
        self.close_innermost(|k| matches!(k, Kind::Cell), |k| matches!(k, Kind::Row { .. } | Kind::Table));
        if let Some(Kind::Row { has_content: true }) = self.innermost_table_part() {
            self.gap.cell_separator = true;
        }
        self.push(name, Kind::Cell);
    }

    pub(super) fn innermost_table_part(&mut self) -> Option<&mut Kind> {
        self.stack.iter_mut().rev().map(|f| &mut f.kind).find(|k| matches!(k, Kind::Row { .. } | Kind::Table))
    }

    // ----- media -----

    pub(super) fn image(&mut self, tag: &Tag) {
        if let Some(url) = tag.attr("src").and_then(url::absolute) {
            self.emit_media(Media { url, kind: MediaKind::Image });
        }
    }

    /// Embedded files become media; anything else (a video-site player, a
    /// form) is shown as its URL on a line of its own.
    pub(super) fn iframe(&mut self, tag: &Tag) {
        let Some(url) = tag.attr("src").and_then(url::absolute) else {
            return;
        };
        match url::kind_by_extension(&url) {
            Some(kind) => self.emit_media(Media { url, kind }),
            None => self.write_url_line(&url),
        }
    }

    pub(super) fn open_media_box(&mut self, tag: &Tag, kind: MediaKind) {
        let url = tag.attr("src").and_then(url::absolute);
        let found = url.is_some();
        if let Some(url) = url {
            self.emit_media(Media { url, kind });
        }
        self.push(&tag.name, Kind::MediaBox { kind, found });
    }

    /// `<source src>` inside `<video>`/`<audio>`: the first usable one wins.
    pub(super) fn source(&mut self, tag: &Tag) {
        let Some(url) = tag.attr("src").and_then(url::absolute) else {
            return;
        };
        let Some(Kind::MediaBox { kind, found }) = self.stack.last_mut().map(|f| &mut f.kind) else {
            return;
        };
        if mem::replace(found, true) {
            return;
        }
        let kind = *kind;
        self.emit_media(Media { url, kind });
    }

    pub(super) fn emit_media(&mut self, media: Media) {
        self.note_media_in_link(&media.url);
        match self.media_output {
            MediaOutput::Blocks => {
                self.end_text_block();
                self.blocks.push(Block::Media(media));
            }
            MediaOutput::Urls => self.write_url_line(&media.url),
        }
    }

    pub(super) fn note_media_in_link(&mut self, media_url: &str) {
        let link = self.stack.iter_mut().rev().find_map(|f| match &mut f.kind {
            Kind::Link(link) => Some(link),
            _ => None,
        });
        if let Some(link) = link {
            link.wraps_media |= link.target.as_deref() == Some(media_url);
        }
    }

    pub(super) fn write_url_line(&mut self, url: &str) {
        self.force_break(1);
        self.write_word(url, false);
        self.force_break(1);
    }

    /// Ends the current text block (before a media block or at the end).
    pub(super) fn end_text_block(&mut self) {
        self.close_markers();
        if !self.buf.is_empty() {
            self.blocks.push(Block::Text(mem::take(&mut self.buf)));
        }
        self.gap = Gap::default();
    }
}

/// Elements that start and end a paragraph.
pub(super) fn is_block(name: &str) -> bool {
    matches!(
        name,
        "p" | "div"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "ul"
            | "ol"
            | "table"
            | "blockquote"
            | "pre"
            | "hr"
            | "section"
            | "article"
            | "header"
            | "footer"
            | "aside"
            | "nav"
            | "main"
            | "figure"
            | "figcaption"
            | "address"
            | "dl"
            | "form"
            | "fieldset"
            | "details"
            | "summary"
            | "center"
    )
}

/// Elements that never have content, so `<br/>` is not also an end tag.
pub(super) fn is_void(name: &str) -> bool {
    matches!(
        name,
        "area" | "base" | "br" | "col" | "embed" | "hr" | "img" | "input" | "link" | "meta" | "param" | "source" | "track" | "wbr"
    )
}

/// The style's marker of a formatting element (headings are bold); `None` in plain style or
/// for elements the style cannot show.
pub(super) fn marker_for(style: Style, name: &str) -> Option<&'static str> {
    let bold = matches!(name, "b" | "strong" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6");
    let italic = matches!(name, "i" | "em");
    let strike = matches!(name, "s" | "strike" | "del");
    match style {
        Style::Plain => None,
        Style::WhatsApp if bold => Some("*"),
        Style::WhatsApp if italic => Some("_"),
        Style::WhatsApp if strike => Some("~"),
        Style::Markdown if bold => Some("**"),
        Style::Markdown if italic => Some("_"),
        Style::Markdown if strike => Some("~~"),
        Style::WhatsApp | Style::Markdown => None,
    }
}
