//! Fitting text into channel size limits.
//!
//! Limits are counted in Unicode scalar values (`chars().count()`), as Twilio
//! counts them, never in bytes. Channels that count differently (SMS counts
//! UTF-16 units for emoji) should pass a limit with a margin. Cuts fall only
//! between extended grapheme clusters, so a flag, an emoji ZWJ sequence or a
//! letter with its accents is never shown in two halves, and they prefer the
//! most natural boundary that still fills the chunk as much as possible.

use unicode_segmentation::UnicodeSegmentation;

/// The kinds of boundary a chunk may end at, from worst to best.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Boundary {
    Space,
    Sentence,
    Line,
    Paragraph,
}

/// Splits `text` into trimmed, non-empty chunks of at most `max_chars`
/// characters, in order, without losing any non-whitespace character.
///
/// Each chunk ends at the last paragraph break that fits, else the last
/// line break, else the last sentence end (`.`, `!`, `?`, `…` and the CJK
/// full-width marks), else the last space; only a word longer than the limit
/// is cut hard, after its last whole grapheme cluster that fits. A cluster is
/// cut only when it alone is longer than the limit, and then between
/// characters. A `max_chars` of 0 is treated as 1 so no text is ever lost.
pub fn split_text(text: &str, max_chars: usize) -> Vec<String> {
    let max_chars = max_chars.max(1);
    let mut chunks = Vec::new();
    let mut rest = trim_end(trim_start(text));
    while !rest.is_empty() {
        let cut = match rest.char_indices().nth(max_chars) {
            None => rest.len(),
            Some((window_end, _)) => best_cut(rest, window_end),
        };
        let (chunk, tail) = rest.split_at(cut);
        chunks.push(chunk.to_owned());
        rest = trim_start(tail);
    }
    chunks
}

/// Joins consecutive `pieces` with `separator` into as few chunks of at most
/// `max_chars` characters as possible, keeping their order.
///
/// Pieces are trimmed and empty ones skipped; a piece longer than the limit
/// is first cut with [`split_text`] and its parts are packed like pieces.
/// Greedy packing is optimal here because the order is fixed.
pub fn pack(pieces: &[String], separator: &str, max_chars: usize) -> Vec<String> {
    let mut packer = Packer::new(separator, max_chars.max(1));
    for piece in pieces.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        if piece.chars().nth(packer.max_chars).is_none() {
            packer.add(piece);
        } else {
            for part in split_text(piece, packer.max_chars) {
                packer.add(&part);
            }
        }
    }
    packer.finish()
}

struct Packer<'a> {
    separator: &'a str,
    separator_chars: usize,
    max_chars: usize,
    chunks: Vec<String>,
    current: String,
    current_chars: usize,
}

impl<'a> Packer<'a> {
    fn new(separator: &'a str, max_chars: usize) -> Self {
        Self {
            separator,
            separator_chars: separator.chars().count(),
            max_chars,
            chunks: Vec::new(),
            current: String::new(),
            current_chars: 0,
        }
    }

    /// Adds a non-empty part of at most `max_chars` characters.
    fn add(&mut self, part: &str) {
        let part_chars = part.chars().count();
        let joined = self.current_chars.saturating_add(self.separator_chars).saturating_add(part_chars);
        if self.current.is_empty() {
            self.current_chars = part_chars;
        } else if joined <= self.max_chars {
            self.current.push_str(self.separator);
            self.current_chars = joined;
        } else {
            self.chunks.push(std::mem::take(&mut self.current));
            self.current_chars = part_chars;
        }
        self.current.push_str(part);
    }

    fn finish(mut self) -> Vec<String> {
        if !self.current.is_empty() {
            self.chunks.push(self.current);
        }
        self.chunks
    }
}

/// Where to end the chunk that must fit in `text[..window_end]`: a byte
/// offset in `1..=window_end`, between grapheme clusters unless the first
/// cluster alone is too long. `text` starts with a non-blank cluster.
fn best_cut(text: &str, window_end: usize) -> usize {
    let mut best: Option<(Boundary, usize)> = None;
    let mut consider = |boundary: Boundary, at: usize| {
        if at <= window_end && best.is_none_or(|(b, _)| boundary >= b) {
            best = Some((boundary, at));
        }
    };
    let mut last_cluster_start = None;
    let mut previous = None;
    let mut clusters = text.grapheme_indices(true).peekable();
    while let Some((i, cluster)) = clusters.next() {
        if i > window_end {
            break;
        }
        if i > 0 {
            last_cluster_start = Some(i);
        }
        let base = cluster.chars().next();
        if !is_blank(cluster) {
            if base.is_some_and(is_full_width_stop) {
                consider(Boundary::Sentence, i + cluster.len());
            }
            previous = base;
            continue;
        }
        // A blank run starting at `i`: its newlines decide its rank.
        let mut newlines = cluster.matches('\n').count();
        while let Some((_, next)) = clusters.next_if(|(_, next)| is_blank(next)) {
            newlines += next.matches('\n').count();
        }
        let boundary = match newlines {
            0 if previous.is_some_and(ends_sentence) => Boundary::Sentence,
            0 => Boundary::Space,
            1 => Boundary::Line,
            _ => Boundary::Paragraph,
        };
        consider(boundary, i);
        previous = None;
    }
    best.map(|(_, at)| at).or(last_cluster_start).unwrap_or(window_end)
}

fn ends_sentence(c: char) -> bool {
    matches!(c, '.' | '!' | '?' | '…') || is_full_width_stop(c)
}

/// CJK sentence ends, which are not followed by a space.
fn is_full_width_stop(c: char) -> bool {
    matches!(c, '。' | '！' | '？')
}

/// Whitespace only; a space carrying a combining mark is text.
fn is_blank(cluster: &str) -> bool {
    cluster.chars().all(char::is_whitespace)
}

/// Drops leading blank clusters, never half of one.
fn trim_start(text: &str) -> &str {
    let start = text.grapheme_indices(true).find(|(_, cluster)| !is_blank(cluster)).map_or(text.len(), |(i, _)| i);
    text.get(start..).unwrap_or("")
}

/// Drops trailing blank clusters, never half of one.
fn trim_end(text: &str) -> &str {
    let end = text.grapheme_indices(true).rev().find(|(_, cluster)| !is_blank(cluster)).map_or(0, |(i, cluster)| i + cluster.len());
    text.get(..end).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use unicode_segmentation::UnicodeSegmentation;

    use super::{pack, split_text};

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn text_within_the_limit_is_one_trimmed_chunk() {
        assert_eq!(split_text("  Hello there \n", 20), strings(&["Hello there"]));
    }

    #[test]
    fn empty_or_blank_text_gives_no_chunks() {
        assert!(split_text("", 10).is_empty());
        assert!(split_text(" \n\t ", 10).is_empty());
    }

    #[test]
    fn a_paragraph_break_wins_over_later_lines_sentences_and_spaces() {
        assert_eq!(
            split_text("First paragraph.\n\nSecond one. It goes on\nand on.", 40),
            strings(&["First paragraph.", "Second one. It goes on\nand on."])
        );
    }

    #[test]
    fn a_blank_line_holding_spaces_still_counts_as_a_paragraph_break() {
        assert_eq!(split_text("Uno dos.\n  \nTres cuatro cinco", 20), strings(&["Uno dos.", "Tres cuatro cinco"]));
    }

    #[test]
    fn without_paragraphs_the_last_line_break_that_fits_is_used() {
        assert_eq!(split_text("line one\nline two\nline three", 20), strings(&["line one\nline two", "line three"]));
    }

    #[test]
    fn without_line_breaks_the_last_sentence_end_that_fits_is_used() {
        assert_eq!(
            split_text("One sentence here. Another one follows! Last?", 25),
            strings(&["One sentence here.", "Another one follows!", "Last?"])
        );
    }

    #[test]
    fn ellipsis_and_full_width_stops_end_sentences() {
        assert_eq!(split_text("Espera… vale bien", 12), strings(&["Espera…", "vale bien"]));
        assert_eq!(split_text("今日は晴れ。明日は雨です", 8), strings(&["今日は晴れ。", "明日は雨です"]));
    }

    #[test]
    fn without_sentence_ends_the_last_space_that_fits_is_used() {
        assert_eq!(split_text("alpha beta gamma delta", 11), strings(&["alpha beta", "gamma delta"]));
    }

    #[test]
    fn a_space_right_after_the_limit_is_a_perfect_cut() {
        assert_eq!(split_text("hello world", 5), strings(&["hello", "world"]));
    }

    #[test]
    fn a_single_5000_char_word_is_cut_hard_into_full_chunks() {
        let chunks = split_text(&"a".repeat(5000), 1600);
        let lengths: Vec<usize> = chunks.iter().map(|c| c.chars().count()).collect();
        assert_eq!(lengths, vec![1600, 1600, 1600, 200]);
    }

    #[test]
    fn hard_cuts_count_characters_not_bytes_and_never_split_one() {
        assert_eq!(split_text("ñandú😀😀😀😀", 3), strings(&["ñan", "dú😀", "😀😀😀"]));
    }

    #[test]
    fn hard_cuts_keep_emoji_sequences_and_accents_together_when_possible() {
        let family = "👨\u{200D}👩\u{200D}👧";
        assert_eq!(split_text(&format!("ab{family}"), 5), strings(&["ab", family]));
        assert_eq!(split_text("abcde\u{301}f", 5), strings(&["abcd", "e\u{301}f"]));
    }

    #[test]
    fn a_flag_emoji_is_never_cut_in_two_by_a_hard_cut() {
        assert_eq!(split_text("ab🇪🇸", 3), strings(&["ab", "🇪🇸"]));
        assert_eq!(split_text("🇪🇸🇫🇷🇩🇪", 3), strings(&["🇪🇸", "🇫🇷", "🇩🇪"]));
    }

    #[test]
    fn vowel_signs_and_jamo_stay_with_their_letter_in_a_hard_cut() {
        assert_eq!(split_text("किकिकि", 3), strings(&["कि", "कि", "कि"]));
        let hangul = "\u{1100}\u{1161}\u{11A8}";
        assert_eq!(split_text(&hangul.repeat(2), 4), strings(&[hangul, hangul]));
    }

    #[test]
    fn a_space_carrying_a_combining_mark_is_kept_with_its_mark() {
        assert_eq!(split_text("ab \u{20DD}c", 3), strings(&["ab", " \u{20DD}c"]));
    }

    #[test]
    fn a_cluster_longer_than_the_limit_is_cut_between_characters_losing_nothing() {
        assert_eq!(split_text("👨\u{200D}👩\u{200D}👧", 2), strings(&["👨\u{200D}", "👩\u{200D}", "👧"]));
    }

    #[test]
    fn no_cut_falls_inside_a_grapheme_cluster_that_fits_the_limit() {
        let text = "Hola 🇪🇸🇫🇷🇩🇪 familia👨\u{200D}👩\u{200D}👧\u{200D}👦 cafe\u{301}!\n\n\
                    🇪🇸🇫🇷e\u{301}e\u{301}किकि👍🏽#\u{FE0F}\u{20E3}\u{1100}\u{1161}\u{11A8}🇩🇪 fin.";
        let clusters =
            |s: &str| -> Vec<String> { s.graphemes(true).filter(|g| !g.chars().all(char::is_whitespace)).map(str::to_owned).collect() };
        let longest = text.graphemes(true).map(|g| g.chars().count()).max().unwrap_or(0);
        assert_eq!(longest, 7);
        for max in longest..=40 {
            let chunks = split_text(text, max);
            assert!(chunks.iter().all(|c| c.chars().count() <= max && c.trim() == c));
            let kept: Vec<String> = chunks.iter().flat_map(|c| clusters(c)).collect();
            assert_eq!(kept, clusters(text), "max {max}");
        }
    }

    #[test]
    fn a_zero_limit_is_treated_as_one() {
        assert_eq!(split_text("ab", 0), strings(&["a", "b"]));
    }

    #[test]
    fn no_chunk_is_ever_over_the_limit_and_no_text_is_lost() {
        let text = "Hola, ¿qué tal?\n\nEsto es una prueba… con emojis 😀😀 y palabras_muy_largas_sin_espacios. Fin!";
        for max in 1..=30 {
            let chunks = split_text(text, max);
            assert!(chunks.iter().all(|c| !c.is_empty() && c.chars().count() <= max));
            let kept: String = chunks.concat().chars().filter(|c| !c.is_whitespace()).collect();
            let original: String = text.chars().filter(|c| !c.is_whitespace()).collect();
            assert_eq!(kept, original, "max {max}");
        }
    }

    #[test]
    fn pack_merges_consecutive_pieces_that_fit_together() {
        assert_eq!(
            pack(&strings(&["Hello", "How are you?", "Fine, thanks", "Bye"]), "\n\n", 20),
            strings(&["Hello\n\nHow are you?", "Fine, thanks\n\nBye"])
        );
    }

    #[test]
    fn pack_splits_a_piece_over_the_limit_and_keeps_the_order() {
        let long = "x".repeat(25);
        assert_eq!(pack(&strings(&["Intro", &long, "Bye"]), " ", 10), strings(&["Intro", &"x".repeat(10), &"x".repeat(10), "xxxxx Bye"]));
    }

    #[test]
    fn pack_trims_pieces_and_skips_empty_ones() {
        assert_eq!(pack(&strings(&[" a ", "", "  ", "b"]), "|", 10), strings(&["a|b"]));
        assert!(pack(&[], "|", 10).is_empty());
    }

    #[test]
    fn pack_never_joins_when_the_separator_alone_is_too_long() {
        assert_eq!(pack(&strings(&["a", "b"]), "-----", 3), strings(&["a", "b"]));
    }
}
