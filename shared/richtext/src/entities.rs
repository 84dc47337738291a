//! HTML character references (`&amp;`, `&#39;`, `&#x27;`, `&eacute;` ...).
//!
//! Inbenta answers are written in a WYSIWYG editor, so accented letters,
//! typographic quotes and the euro sign arrive as entities far more often
//! than as raw characters. Named references must end with `;`: that keeps
//! query strings such as `?a=1&copy=2` intact, which the lenient legacy
//! browser rules would mangle. Unknown references are left exactly as written.
//!
//! Names are looked up in the full WHATWG table that `html-escape` carries, so
//! no list is kept by hand; numbers are decoded here, because browsers map
//! `&#128;`..`&#159;` through Windows-1252 and show U+FFFD for impossible
//! values, which that crate's own decoder does not do.

use std::borrow::Cow;

use html_escape::NAMED_ENTITIES;

/// What browsers show for `&#128;`..`&#159;`: text pasted from Word often
/// carries Windows-1252 numbers such as `&#146;` for a right quote.
const WINDOWS_1252: [char; 32] = [
    '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8D}', 'Ž', '\u{8F}', '\u{90}', '‘', '’', '“', '”', '•', '–',
    '—', '˜', '™', 'š', '›', 'œ', '\u{9D}', 'ž', 'Ÿ',
];

/// Decodes every character reference in `text`; borrows when there is none.
pub(crate) fn decode(text: &str) -> Cow<'_, str> {
    if !text.contains('&') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let used = match after.strip_prefix('#') {
            Some(number) => numeric(number).map(|(c, len)| {
                out.push(c);
                len + 1
            }),
            None => named(after).map(|(decoded, len)| {
                out.push_str(decoded);
                len
            }),
        };
        match used {
            Some(len) => rest = after.get(len..).unwrap_or(""),
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// `#39;`, `#x27;` (the `#` already stripped); the `;` is optional, as in browsers.
fn numeric(number: &str) -> Option<(char, usize)> {
    let (radix, prefix) = match number.as_bytes().first() {
        Some(b'x' | b'X') => (16, 1),
        _ => (10, 0),
    };
    let digits_len = number.bytes().skip(prefix).take_while(|b| char::from(*b).is_digit(radix)).count();
    if digits_len == 0 {
        return None;
    }
    let digits = number.get(prefix..prefix + digits_len)?;
    let value = digits.chars().fold(0_u32, |acc, d| {
        let digit = d.to_digit(radix).unwrap_or(0);
        acc.saturating_mul(radix).saturating_add(digit)
    });
    let semicolon = usize::from(number.get(prefix + digits_len..).is_some_and(|r| r.starts_with(';')));
    Some((code_point(value), prefix + digits_len + semicolon))
}

/// Maps a numeric reference to a character; impossible values become U+FFFD.
fn code_point(value: u32) -> char {
    match value {
        0 => char::REPLACEMENT_CHARACTER,
        0x80..=0x9F => WINDOWS_1252.get((value - 0x80) as usize).copied().unwrap_or(char::REPLACEMENT_CHARACTER),
        _ => char::from_u32(value).unwrap_or(char::REPLACEMENT_CHARACTER),
    }
}

/// `eacute;`, `NotEqualTilde;` (two code points) and the rest of the WHATWG
/// table, with the bytes of `after` used; the trailing `;` is required.
fn named(after: &str) -> Option<(&'static str, usize)> {
    let name_len = after.bytes().take_while(u8::is_ascii_alphanumeric).count();
    if !after.get(name_len..).is_some_and(|r| r.starts_with(';')) {
        return None;
    }
    let name = after.get(..name_len)?.as_bytes();
    let index = NAMED_ENTITIES.binary_search_by(|(known, _)| known.cmp(&name)).ok()?;
    NAMED_ENTITIES.get(index).map(|(_, decoded)| (*decoded, name_len + 1))
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::{NAMED_ENTITIES, decode};

    #[test]
    fn latin1_names_decode_across_their_whole_range() {
        assert_eq!(decode("&nbsp;&times;&Agrave;&divide;&yuml;"), "\u{A0}×À÷ÿ");
    }

    #[test]
    fn windows_1252_numbers_become_the_characters_browsers_show() {
        assert_eq!(decode("it&#146;s &#150; &#128;"), "it’s – €");
    }

    #[test]
    fn numeric_references_without_semicolon_are_decoded() {
        assert_eq!(decode("&#65&#x42;C"), "ABC");
    }

    #[test]
    fn surrogates_zero_and_huge_numbers_become_the_replacement_character() {
        assert_eq!(decode("&#xD800;&#0;&#x110000;&#99999999999999999999;"), "\u{FFFD}".repeat(4));
    }

    #[test]
    fn named_references_need_a_semicolon_so_query_strings_survive() {
        assert_eq!(decode("?a=1&copy=2&amp"), "?a=1&copy=2&amp");
    }

    #[test]
    fn references_with_nothing_to_decode_are_left_as_written() {
        assert_eq!(decode("& &# &#x; &#; &bogus; &;"), "& &# &#x; &#; &bogus; &;");
    }

    #[test]
    fn the_table_holds_every_whatwg_name_with_a_semicolon_sorted_for_lookup() {
        assert_eq!(NAMED_ENTITIES.len(), 2125);
        assert!(NAMED_ENTITIES.windows(2).all(|pair| pair[0].0 < pair[1].0));
    }

    #[test]
    fn common_names_decode() {
        assert_eq!(decode("&hellip;&nbsp;&eacute;&amp;&euro;"), "…\u{A0}é&€");
    }

    #[test]
    fn names_missing_from_the_old_hand_list_decode() {
        assert_eq!(decode("&check; &alpha;&Omega; &NotNestedGreaterGreater; &CounterClockwiseContourIntegral;"), "✓ αΩ \u{2AA2}\u{338} ∳");
    }

    #[test]
    fn a_name_can_stand_for_two_code_points() {
        assert_eq!(decode("a&NotEqualTilde;b"), "a\u{2242}\u{338}b");
    }

    #[test]
    fn names_are_case_sensitive() {
        assert_eq!(decode("&Eacute;&AMP;&EACUTE;"), "É&&EACUTE;");
    }

    #[test]
    fn decoded_text_is_not_decoded_a_second_time() {
        assert_eq!(decode("&amp;lt; &amp;#39;"), "&lt; &#39;");
    }

    #[test]
    fn text_without_an_ampersand_is_borrowed() {
        assert!(matches!(decode("no references"), Cow::Borrowed("no references")));
    }
}
