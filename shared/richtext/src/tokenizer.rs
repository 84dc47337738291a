//! A tolerant, single-pass HTML tokenizer.
//!
//! It only knows what the renderer needs: text, start tags with attributes,
//! and end tags. Comments, doctypes and processing instructions are skipped,
//! and the content of raw-text elements (`<script>`, `<style>`, `<iframe>`
//! ...) is discarded here so markup inside them is never seen. A `<` that
//! cannot start a tag is plain text, as in browsers. A tag still open at the
//! end of the input is dropped, again as browsers do. Every step moves
//! forward, so the work is linear in the input size.

use crate::entities;

/// Elements whose content is not markup and is never shown to the user.
const RAW_TEXT: [&str; 6] = ["script", "style", "iframe", "noscript", "template", "title"];

/// A start tag; names are lower-cased, attribute values entity-decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tag {
    pub(crate) name: String,
    pub(crate) attrs: Vec<(String, String)>,
    pub(crate) self_closing: bool,
}

impl Tag {
    /// The first attribute with this (lower-case) name, as in browsers.
    pub(crate) fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token<'a> {
    /// Raw text, entities not yet decoded.
    Text(&'a str),
    Start(Tag),
    /// Lower-cased name of an end tag.
    End(String),
}

pub(crate) struct Tokenizer<'a> {
    src: &'a str,
    pos: usize,
    /// Set after a raw-text start tag: its content is skipped next.
    raw_text_of: Option<String>,
}

impl<'a> Tokenizer<'a> {
    pub(crate) fn new(src: &'a str) -> Self {
        Self { src, pos: 0, raw_text_of: None }
    }

    /// Reads one token at the current position, or skips something and
    /// returns `None` (the caller then tries again).
    fn step(&mut self, rest: &'a str) -> Option<Token<'a>> {
        match rest.as_bytes() {
            [b'<', b'!', b'-', b'-', ..] => self.skip(comment_len(rest)),
            [b'<', b'!' | b'?', ..] => self.skip(rest.find('>').map_or(rest.len(), |i| i + 1)),
            [b'<', b'/', c, ..] if c.is_ascii_alphabetic() => self.end_tag(rest),
            [b'<', c, ..] if c.is_ascii_alphabetic() => self.start_tag(rest),
            [b'<', ..] => self.text(rest, 1),
            _ => self.text(rest, 0),
        }
    }

    fn skip(&mut self, len: usize) -> Option<Token<'a>> {
        self.pos += len;
        None
    }

    /// Text up to the next `<` found at or after `from`.
    fn text(&mut self, rest: &'a str, from: usize) -> Option<Token<'a>> {
        let len = rest.get(from..).and_then(|r| r.find('<')).map_or(rest.len(), |i| i + from);
        self.pos += len;
        rest.get(..len).map(Token::Text)
    }

    fn end_tag(&mut self, rest: &'a str) -> Option<Token<'a>> {
        let mut cursor = Cursor { src: rest, at: 2 };
        let name = cursor.take_until(ends_tag_name).to_ascii_lowercase();
        match cursor.rest().find('>') {
            Some(i) => {
                self.pos += cursor.at + i + 1;
                Some(Token::End(name))
            }
            None => self.skip(rest.len()),
        }
    }

    fn start_tag(&mut self, rest: &'a str) -> Option<Token<'a>> {
        let Some((tag, len)) = parse_start_tag(rest) else {
            return self.skip(rest.len());
        };
        self.pos += len;
        if !tag.self_closing && RAW_TEXT.contains(&tag.name.as_str()) {
            self.raw_text_of = Some(tag.name.clone());
        }
        Some(Token::Start(tag))
    }

    /// Moves to the end tag that closes a raw-text element (or to the end).
    fn skip_raw_text(&mut self, name: &str) {
        let rest = self.src.get(self.pos..).unwrap_or("");
        self.pos += find_end_tag(rest, name).unwrap_or(rest.len());
    }
}

impl<'a> Iterator for Tokenizer<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        loop {
            if let Some(name) = self.raw_text_of.take() {
                self.skip_raw_text(&name);
            }
            let rest = self.src.get(self.pos..).filter(|r| !r.is_empty())?;
            if let Some(token) = self.step(rest) {
                return Some(token);
            }
        }
    }
}

/// Length of a comment starting at `<!--`; `<!-->` and `<!--->` are complete
/// comments, as in browsers, and an unclosed one runs to the end.
fn comment_len(rest: &str) -> usize {
    rest.get(2..).and_then(|r| r.find("-->")).map_or(rest.len(), |i| i + 2 + 3)
}

/// Byte offset of `</name` (any case) followed by a tag delimiter or the end.
fn find_end_tag(hay: &str, name: &str) -> Option<usize> {
    let bytes = hay.as_bytes();
    let mut from = 0;
    while let Some(i) = hay.get(from..).and_then(|r| r.find("</")) {
        let at = from + i;
        let name_end = at + 2 + name.len();
        let same_name = bytes.get(at + 2..name_end).is_some_and(|candidate| candidate.eq_ignore_ascii_case(name.as_bytes()));
        if same_name && bytes.get(name_end).is_none_or(|b| ends_tag_name(*b)) {
            return Some(at);
        }
        from = at + 2;
    }
    None
}

/// Parses `<name attr=value ...>` at the start of `src`; `None` when the
/// input ends before the tag does. Returns the tag and its length in bytes.
fn parse_start_tag(src: &str) -> Option<(Tag, usize)> {
    let mut cursor = Cursor { src, at: 1 };
    let name = cursor.take_until(ends_tag_name).to_ascii_lowercase();
    let mut attrs = Vec::new();
    let mut self_closing = false;
    loop {
        cursor.skip_whitespace();
        match cursor.peek()? {
            b'>' => {
                cursor.at += 1;
                let tag = Tag { name, attrs, self_closing };
                return Some((tag, cursor.at));
            }
            b'/' => {
                cursor.at += 1;
                self_closing = cursor.peek() == Some(b'>');
            }
            _ => {
                attrs.push(parse_attribute(&mut cursor)?);
                self_closing = false;
            }
        }
    }
}

/// Parses `name`, `name=value`, `name="value"` or `name='value'`; `None`
/// when the input ends inside the attribute. An unclosed quote ends at the
/// next `>` so one typo does not swallow the rest of the answer.
fn parse_attribute(cursor: &mut Cursor<'_>) -> Option<(String, String)> {
    let start = cursor.at;
    // The first byte always belongs to the name (even `=`), which
    // guarantees progress on inputs such as `<a =x>`.
    cursor.at += 1;
    cursor.take_until(|b| ends_tag_name(b) || b == b'=');
    let name = cursor.src.get(start..cursor.at).unwrap_or("").to_ascii_lowercase();
    cursor.skip_whitespace();
    if cursor.peek() != Some(b'=') {
        return Some((name, String::new()));
    }
    cursor.at += 1;
    cursor.skip_whitespace();
    let value = match cursor.peek()? {
        quote @ (b'"' | b'\'') => {
            cursor.at += 1;
            quoted_value(cursor, char::from(quote))?
        }
        _ => cursor.take_until(|b| b.is_ascii_whitespace() || b == b'>'),
    };
    Some((name, entities::decode(value).into_owned()))
}

fn quoted_value<'a>(cursor: &mut Cursor<'a>, quote: char) -> Option<&'a str> {
    let rest = cursor.rest();
    match rest.find(quote) {
        Some(end) => {
            cursor.at += end + 1;
            rest.get(..end)
        }
        None => {
            let end = rest.find('>')?;
            cursor.at += end;
            rest.get(..end)
        }
    }
}

fn ends_tag_name(b: u8) -> bool {
    b.is_ascii_whitespace() || b == b'/' || b == b'>'
}

/// A byte position in a tag. It only ever stops on ASCII bytes, so every
/// slice it hands out falls on character boundaries.
struct Cursor<'a> {
    src: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.src.as_bytes().get(self.at).copied()
    }

    fn rest(&self) -> &'a str {
        self.src.get(self.at..).unwrap_or("")
    }

    fn skip_whitespace(&mut self) {
        self.take_until(|b| !b.is_ascii_whitespace());
    }

    /// Advances to the first byte matching `stop` (which must only match
    /// ASCII bytes) and returns what it passed over.
    fn take_until(&mut self, stop: impl Fn(u8) -> bool) -> &'a str {
        let start = self.at;
        while self.peek().is_some_and(|b| !stop(b)) {
            self.at += 1;
        }
        self.src.get(start..self.at).unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::{Tag, Token, Tokenizer};

    fn tokens(html: &str) -> Vec<Token<'_>> {
        Tokenizer::new(html).collect()
    }

    fn start(name: &str, attrs: &[(&str, &str)], self_closing: bool) -> Token<'static> {
        Token::Start(Tag {
            name: name.to_owned(),
            attrs: attrs.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect(),
            self_closing,
        })
    }

    #[test]
    fn attributes_may_use_any_quoting_and_case() {
        assert_eq!(
            tokens(r#"<A HREF = "x&amp;y" data-x='1 2' target=_blank hidden/>"#),
            vec![start("a", &[("href", "x&y"), ("data-x", "1 2"), ("target", "_blank"), ("hidden", "")], true)]
        );
    }

    #[test]
    fn a_slash_inside_an_unquoted_value_does_not_make_the_tag_self_closing() {
        assert_eq!(tokens("<a href=https://x.es/>"), vec![start("a", &[("href", "https://x.es/")], false)]);
    }

    #[test]
    fn a_quoted_value_may_contain_a_greater_than_sign() {
        assert_eq!(tokens(r#"<img alt="a>b">t"#), vec![start("img", &[("alt", "a>b")], false), Token::Text("t")]);
    }

    #[test]
    fn an_unclosed_quote_ends_at_the_next_greater_than_sign() {
        assert_eq!(
            tokens(r#"<a href="x>go</a>"#),
            vec![start("a", &[("href", "x")], false), Token::Text("go"), Token::End("a".to_owned())]
        );
    }

    #[test]
    fn raw_text_content_is_skipped_up_to_its_own_end_tag() {
        assert_eq!(
            tokens("<script>if (a</b) {}</SCRIPT >x"),
            vec![start("script", &[], false), Token::End("script".to_owned()), Token::Text("x")]
        );
    }

    #[test]
    fn comments_doctypes_and_processing_instructions_are_skipped() {
        assert_eq!(
            tokens("<!DOCTYPE html><?xml x?>a<!-->b<!-- <p> -->c<!-- open"),
            vec![Token::Text("a"), Token::Text("b"), Token::Text("c")]
        );
    }
}
