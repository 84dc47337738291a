//! HTML character references (`&amp;`, `&#39;`, `&#x27;`, `&eacute;` ...).
//!
//! Inbenta answers are written in a WYSIWYG editor, so accented letters,
//! typographic quotes and the euro sign arrive as entities far more often
//! than as raw characters. Named references must end with `;`: that keeps
//! query strings such as `?a=1&copy=2` intact, which the lenient legacy
//! browser rules would mangle. Unknown references are left exactly as written.

use std::borrow::Cow;

/// Names of U+00A0..=U+00FF in code point order, so the whole Latin-1 upper
/// half (accented letters included) is covered by one table.
const LATIN1: [&str; 96] = [
    "nbsp", "iexcl", "cent", "pound", "curren", "yen", "brvbar", "sect", "uml", "copy", "ordf",
    "laquo", "not", "shy", "reg", "macr", "deg", "plusmn", "sup2", "sup3", "acute", "micro",
    "para", "middot", "cedil", "sup1", "ordm", "raquo", "frac14", "frac12", "frac34", "iquest",
    "Agrave", "Aacute", "Acirc", "Atilde", "Auml", "Aring", "AElig", "Ccedil", "Egrave", "Eacute",
    "Ecirc", "Euml", "Igrave", "Iacute", "Icirc", "Iuml", "ETH", "Ntilde", "Ograve", "Oacute",
    "Ocirc", "Otilde", "Ouml", "times", "Oslash", "Ugrave", "Uacute", "Ucirc", "Uuml", "Yacute",
    "THORN", "szlig", "agrave", "aacute", "acirc", "atilde", "auml", "aring", "aelig", "ccedil",
    "egrave", "eacute", "ecirc", "euml", "igrave", "iacute", "icirc", "iuml", "eth", "ntilde",
    "ograve", "oacute", "ocirc", "otilde", "ouml", "divide", "oslash", "ugrave", "uacute", "ucirc",
    "uuml", "yacute", "thorn", "yuml",
];

/// What browsers show for `&#128;`..`&#159;`: text pasted from Word often
/// carries Windows-1252 numbers such as `&#146;` for a right quote.
const WINDOWS_1252: [char; 32] = [
    '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8D}', 'Ž', '\u{8F}',
    '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9D}', 'ž', 'Ÿ',
];

/// Longest name worth looking up; anything longer cannot be in the tables.
const MAX_NAME_LEN: usize = 8;

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
        match reference(after) {
            Some((decoded, len)) => {
                out.push(decoded);
                rest = after.get(len..).unwrap_or("");
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Parses the reference that follows an `&`: the character and how many
/// bytes of `after` it used.
fn reference(after: &str) -> Option<(char, usize)> {
    match after.strip_prefix('#') {
        Some(number) => numeric(number).map(|(c, len)| (c, len + 1)),
        None => named(after),
    }
}

/// `#39;`, `#x27;` (the `#` already stripped); the `;` is optional, as in browsers.
fn numeric(number: &str) -> Option<(char, usize)> {
    let (radix, prefix) = match number.as_bytes().first() {
        Some(b'x' | b'X') => (16, 1),
        _ => (10, 0),
    };
    let digits_len = number
        .bytes()
        .skip(prefix)
        .take_while(|b| char::from(*b).is_digit(radix))
        .count();
    if digits_len == 0 {
        return None;
    }
    let digits = number.get(prefix..prefix + digits_len)?;
    let value = digits.chars().fold(0_u32, |acc, d| {
        let digit = d.to_digit(radix).unwrap_or(0);
        acc.saturating_mul(radix).saturating_add(digit)
    });
    let semicolon = usize::from(
        number
            .get(prefix + digits_len..)
            .is_some_and(|r| r.starts_with(';')),
    );
    Some((code_point(value), prefix + digits_len + semicolon))
}

/// Maps a numeric reference to a character; impossible values become U+FFFD.
fn code_point(value: u32) -> char {
    match value {
        0 => char::REPLACEMENT_CHARACTER,
        0x80..=0x9F => WINDOWS_1252
            .get((value - 0x80) as usize)
            .copied()
            .unwrap_or(char::REPLACEMENT_CHARACTER),
        _ => char::from_u32(value).unwrap_or(char::REPLACEMENT_CHARACTER),
    }
}

/// `eacute;` and friends; the trailing `;` is required.
fn named(after: &str) -> Option<(char, usize)> {
    let name_len = after
        .bytes()
        .take(MAX_NAME_LEN + 1)
        .take_while(u8::is_ascii_alphanumeric)
        .count();
    let name = after.get(..name_len)?;
    if !after.get(name_len..).is_some_and(|r| r.starts_with(';')) {
        return None;
    }
    lookup(name).map(|c| (c, name_len + 1))
}

fn lookup(name: &str) -> Option<char> {
    if let Some(index) = LATIN1.iter().position(|n| *n == name) {
        return char::from_u32(0xA0 + u32::try_from(index).ok()?);
    }
    let c = match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "OElig" => 'Œ',
        "oelig" => 'œ',
        "Scaron" => 'Š',
        "scaron" => 'š',
        "Yuml" => 'Ÿ',
        "fnof" => 'ƒ',
        "circ" => 'ˆ',
        "tilde" => '˜',
        "ensp" => '\u{2002}',
        "emsp" => '\u{2003}',
        "thinsp" => '\u{2009}',
        "zwnj" => '\u{200C}',
        "zwj" => '\u{200D}',
        "lrm" => '\u{200E}',
        "rlm" => '\u{200F}',
        "ndash" => '–',
        "mdash" => '—',
        "lsquo" => '‘',
        "rsquo" => '’',
        "sbquo" => '‚',
        "ldquo" => '“',
        "rdquo" => '”',
        "bdquo" => '„',
        "dagger" => '†',
        "Dagger" => '‡',
        "bull" => '•',
        "hellip" => '…',
        "permil" => '‰',
        "prime" => '′',
        "Prime" => '″',
        "lsaquo" => '‹',
        "rsaquo" => '›',
        "euro" => '€',
        "trade" => '™',
        "larr" => '←',
        "uarr" => '↑',
        "rarr" => '→',
        "darr" => '↓',
        "harr" => '↔',
        "minus" => '−',
        "hearts" => '♥',
        _ => return None,
    };
    Some(c)
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn the_latin1_table_is_in_code_point_order() {
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
        assert_eq!(
            decode("&#xD800;&#0;&#x110000;&#99999999999999999999;"),
            "\u{FFFD}".repeat(4)
        );
    }

    #[test]
    fn named_references_need_a_semicolon_so_query_strings_survive() {
        assert_eq!(decode("?a=1&copy=2&amp"), "?a=1&copy=2&amp");
    }

    #[test]
    fn references_with_nothing_to_decode_are_left_as_written() {
        assert_eq!(
            decode("& &# &#x; &#; &bogus; &;"),
            "& &# &#x; &#; &bogus; &;"
        );
    }
}
