//! Turns tokens into chat text.
//!
//! Text is written word by word. Whitespace, line breaks, list bullets,
//! table separators and formatting markers are only *requested* between
//! words and written when the next word arrives. That single rule is what
//! makes the output tidy without a clean-up pass: nothing dangles at the end
//! of a line or block, markers hug their words, empty elements leave no
//! trace, and breaks requested by several tags at once merge into one.

use std::mem;

mod elements;

use crate::tokenizer::{Tag, Token, Tokenizer};
use crate::{Block, MediaKind, Style, entities};
use elements::{is_block, is_void};

/// Open elements tracked at most; deeper ones only contribute their text.
/// Bounds the per-word work on hostile input such as a million `<b>`s.
const MAX_DEPTH: usize = 64;

/// Renders `html` into text and media blocks, in document order.
pub(crate) fn to_blocks(html: &str, style: Style) -> Vec<Block> {
    let mut renderer = Renderer::new(style, MediaOutput::Blocks);
    renderer.run(html);
    renderer.end_text_block();
    renderer.blocks
}

/// Renders `html` into one text where each media is its URL on a line.
pub(crate) fn to_text(html: &str, style: Style) -> String {
    let mut renderer = Renderer::new(style, MediaOutput::Urls);
    renderer.run(html);
    renderer.buf
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MediaOutput {
    /// Media become separate blocks, splitting the text around them.
    Blocks,
    /// Media are written as their URL on a line of their own.
    Urls,
}

/// Separation requested before the next word.
#[derive(Debug, Default)]
struct Gap {
    /// 0 = same line, 1 = new line, 2 = blank line (never more).
    newlines: u8,
    space: bool,
    /// A table cell follows one with content on the same row.
    cell_separator: bool,
    /// A tag just ended the line, so one source newline right after it is
    /// layout of the HTML source (`<br>\n`), not another line break.
    absorb_newline: bool,
}

/// An element that is open and affects what follows it.
struct Frame {
    tag: String,
    kind: Kind,
}

enum Kind {
    /// Inline formatting; `marker` is `None` in plain style or when the same
    /// marker is already active (WhatsApp does not nest `**`).
    Marker {
        marker: Option<&'static str>,
        shown: bool,
    },
    Link(Link),
    /// `next` is the next number of an ordered list, `None` when unordered.
    List {
        next: Option<u64>,
    },
    Item,
    Table,
    Row {
        has_content: bool,
    },
    Cell,
    /// `<head>`: nothing inside is shown.
    Silent,
    /// `<video>`/`<audio>`: the fallback text inside is not shown, but a
    /// `<source>` inside gives the URL when the element has no `src`.
    MediaBox {
        kind: MediaKind,
        found: bool,
    },
}

struct Link {
    target: Option<String>,
    /// The words of the link text, to compare with the target.
    text: String,
    /// The link wraps media with the same URL, so the URL is already shown.
    wraps_media: bool,
}

/// Where the next content lands, as far as layout is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Context {
    Top,
    Item,
    /// Inside a list but outside its items.
    ListBody,
    /// Inside a table but outside its cells.
    TableBody,
    Cell,
}

struct Renderer {
    style: Style,
    media_output: MediaOutput,
    stack: Vec<Frame>,
    gap: Gap,
    /// Bullet of a list item, written before its first word.
    prefix: Option<String>,
    buf: String,
    blocks: Vec<Block>,
}

impl Renderer {
    fn new(style: Style, media_output: MediaOutput) -> Self {
        Self { style, media_output, stack: Vec::new(), gap: Gap::default(), prefix: None, buf: String::new(), blocks: Vec::new() }
    }

    fn run(&mut self, html: &str) {
        for token in Tokenizer::new(html) {
            match token {
                Token::Text(text) => self.text(text),
                Token::Start(tag) => self.start(&tag),
                Token::End(name) => self.end(&name),
            }
        }
        // Unclosed elements still end properly: markers close, links show their URL.
        self.pop_to(0);
    }

    // ----- text -----

    fn text(&mut self, raw: &str) {
        if self.silent() {
            return;
        }
        let text = entities::decode(raw);
        let context = self.context();
        let between_structure = matches!(context, Context::ListBody | Context::TableBody);
        if between_structure && text.trim().is_empty() {
            return;
        }
        let in_cell = context == Context::Cell;
        let mut word_start = None;
        let mut chars = text.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if !c.is_whitespace() {
                word_start.get_or_insert(i);
                continue;
            }
            if let Some(start) = word_start.take() {
                self.write_word(&text[start..i], true);
            }
            match c {
                '\r' if chars.peek().is_some_and(|&(_, next)| next == '\n') => {}
                '\n' | '\r' => self.source_newline(in_cell),
                _ => self.gap.space = true,
            }
        }
        if let Some(start) = word_start {
            self.write_word(&text[start..], true);
        }
    }

    /// A newline typed in the answer is a line break (Inbenta answers mix
    /// HTML with plain newlines), except inside a table cell, which must stay
    /// on its row.
    fn source_newline(&mut self, in_cell: bool) {
        if in_cell {
            self.gap.space = true;
        } else if !mem::take(&mut self.gap.absorb_newline) {
            self.gap.newlines = (self.gap.newlines + 1).min(2);
        }
    }

    /// Writes one word (no whitespace inside) after whatever separation,
    /// bullet and markers are pending. `decorated` is false for media URLs,
    /// which get no formatting markers and do not count as link text.
    fn write_word(&mut self, word: &str, decorated: bool) {
        let separated = self.flush_gap();
        if let Some(prefix) = self.prefix.take() {
            // A block never starts with indentation, even a nested item's.
            let prefix = if self.buf.is_empty() { prefix.trim_start() } else { &prefix };
            self.buf.push_str(prefix);
        }
        if decorated {
            self.open_markers();
            self.record_link_text(word, separated);
        }
        self.mark_row_content();
        self.buf.push_str(word);
    }

    /// Writes the pending separation; returns whether there was any.
    fn flush_gap(&mut self) -> bool {
        let gap = mem::take(&mut self.gap);
        let separated = gap.newlines > 0 || gap.space || gap.cell_separator;
        if self.buf.is_empty() {
            return separated;
        }
        if gap.newlines > 0 {
            // WhatsApp formatting does not span lines: close now, reopen after.
            self.close_markers();
            for _ in 0..gap.newlines {
                self.buf.push('\n');
            }
        } else if gap.cell_separator {
            self.buf.push_str(" | ");
        } else if gap.space {
            self.buf.push(' ');
        }
        separated
    }

    fn open_markers(&mut self) {
        for frame in &mut self.stack {
            if let Kind::Marker { marker: Some(c), shown } = &mut frame.kind {
                if !*shown {
                    self.buf.push_str(c);
                    *shown = true;
                }
            }
        }
    }

    fn close_markers(&mut self) {
        for frame in self.stack.iter_mut().rev() {
            if let Kind::Marker { marker: Some(c), shown } = &mut frame.kind {
                if *shown {
                    self.buf.push_str(c);
                    *shown = false;
                }
            }
        }
    }

    fn record_link_text(&mut self, word: &str, separated: bool) {
        for frame in &mut self.stack {
            if let Kind::Link(link) = &mut frame.kind {
                if separated && !link.text.is_empty() {
                    link.text.push(' ');
                }
                link.text.push_str(word);
            }
        }
    }

    fn mark_row_content(&mut self) {
        if let Some(Kind::Row { has_content }) = self.innermost_table_part() {
            *has_content = true;
        }
    }

    // ----- breaks -----

    /// A break asked for by structure: `2` for a paragraph, `1` for a line.
    /// Inside lists and tables paragraphs shrink to lines; inside a cell
    /// any break is only a space, so the row stays on one line.
    fn request_break(&mut self, newlines: u8) {
        match self.context() {
            Context::Cell => self.gap.space = true,
            Context::Top => self.force_break(newlines),
            Context::Item | Context::ListBody | Context::TableBody => {
                self.force_break(newlines.min(1));
            }
        }
    }

    fn force_break(&mut self, newlines: u8) {
        self.gap.newlines = self.gap.newlines.max(newlines);
        self.gap.absorb_newline = true;
    }

    /// `<br>`: breaks add up, so `<br><br>` leaves a blank line.
    fn line_break(&mut self) {
        self.gap.newlines = (self.gap.newlines + 1).min(2);
        self.gap.absorb_newline = true;
    }

    // ----- tags -----

    fn start(&mut self, tag: &Tag) {
        let name = tag.name.as_str();
        if name == "body" {
            self.close_innermost(|k| matches!(k, Kind::Silent), |_| false);
            return;
        }
        if self.silent() {
            if name == "source" {
                self.source(tag);
            }
            return;
        }
        if is_block(name) {
            self.request_break(2);
        }
        match name {
            "br" => self.line_break(),
            "img" => self.image(tag),
            "iframe" => self.iframe(tag),
            "video" => self.open_media_box(tag, MediaKind::Video),
            "audio" => self.open_media_box(tag, MediaKind::Audio),
            "head" => self.push(name, Kind::Silent),
            "a" => self.open_link(tag),
            "ul" | "ol" => self.open_list(tag),
            "li" => self.open_item(),
            "table" => self.push(name, Kind::Table),
            "tr" => self.open_row(),
            "td" | "th" => self.open_cell(name),
            "dt" | "dd" => self.request_break(1),
            _ => self.open_marker(name),
        }
        if tag.self_closing && !is_void(name) {
            self.end(name);
        }
    }

    fn end(&mut self, name: &str) {
        let silent = self.silent();
        if let Some(index) = self.stack.iter().rposition(|f| f.tag == name) {
            self.pop_to(index);
        }
        if silent {
            return;
        }
        match name {
            // Browsers read a stray `</br>` as `<br>`.
            "br" => self.line_break(),
            "li" | "tr" | "dt" | "dd" => self.request_break(1),
            _ if is_block(name) => self.request_break(2),
            _ => {}
        }
    }

    fn push(&mut self, tag: &str, kind: Kind) {
        if self.stack.len() < MAX_DEPTH {
            self.stack.push(Frame { tag: tag.to_owned(), kind });
        }
    }

    /// Closes every element from the top of the stack down to `index`.
    fn pop_to(&mut self, index: usize) {
        while self.stack.len() > index {
            if let Some(frame) = self.stack.pop() {
                self.close(frame.kind);
            }
        }
    }

    fn close(&mut self, kind: Kind) {
        match kind {
            Kind::Marker { marker: Some(c), shown: true } => self.buf.push_str(c),
            Kind::Link(link) => self.close_link(link),
            // An empty item must not lend its bullet to what follows.
            Kind::Item => self.prefix = None,
            _ => {}
        }
    }

    /// Implicitly closes the innermost `target` element (an open `<li>` when
    /// the next `<li>` starts), unless a `boundary` element comes first.
    fn close_innermost(&mut self, target: fn(&Kind) -> bool, boundary: fn(&Kind) -> bool) {
        let found = self.stack.iter().rposition(|f| target(&f.kind) || boundary(&f.kind));
        if let Some(index) = found {
            if self.stack.get(index).is_some_and(|f| target(&f.kind)) {
                self.pop_to(index);
            }
        }
    }

    fn silent(&self) -> bool {
        self.stack.iter().any(|f| matches!(f.kind, Kind::Silent | Kind::MediaBox { .. }))
    }

    fn context(&self) -> Context {
        self.stack
            .iter()
            .rev()
            .find_map(|f| match f.kind {
                Kind::Cell => Some(Context::Cell),
                Kind::Item => Some(Context::Item),
                Kind::List { .. } => Some(Context::ListBody),
                Kind::Table | Kind::Row { .. } => Some(Context::TableBody),
                _ => None,
            })
            .unwrap_or(Context::Top)
    }
}
