//! Mapping a user's free-text reply onto a pending numbered option (one place, every channel).

use crate::Tap;
use unicode_normalization::{UnicodeNormalization, char::is_combining_mark};

/// Lower-cased, accent-free, whitespace-collapsed form used to compare labels.
pub fn fold(text: &str) -> String {
    let folded: String = text.nfd().filter(|c| !is_combining_mark(*c)).flat_map(char::to_lowercase).collect();
    folded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Index of the option the reply picks, if the whole reply is an option number (1-based) or,
/// ignoring case and accents, one of the option's accepted labels.
///
/// `labels(i)` yields every text that selects option `i` (shown label, raw bot label...).
/// "2abc" or "2.0" is not option 2: only a reply made of digits is a number.
pub fn pick<'a, F, I>(reply: &str, option_count: usize, labels: F) -> Option<usize>
where
    F: Fn(usize) -> I,
    I: IntoIterator<Item = &'a str>,
{
    let reply = reply.trim();
    if reply.is_empty() {
        return None;
    }
    if reply.chars().all(|c| c.is_ascii_digit()) {
        return reply.parse::<usize>().ok().filter(|n| (1..=option_count).contains(n)).map(|n| n - 1);
    }
    let wanted = fold(reply);
    (0..option_count).find(|&i| labels(i).into_iter().any(|label| fold(label) == wanted))
}

/// Index of the option a tap on a button picks: the option at the tap's number, when the tap's
/// label is one of that option's labels (a tap on an older question's button names another).
pub fn tapped<'a, F, I>(tap: &Tap, option_count: usize, labels: F) -> Option<usize>
where
    F: Fn(usize) -> I,
    I: IntoIterator<Item = &'a str>,
{
    let index = tap.number.checked_sub(1).filter(|&index| index < option_count)?;
    let wanted = fold(&tap.label);
    labels(index).into_iter().any(|label| fold(label) == wanted).then_some(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pick_from(reply: &str, labels: &[&str]) -> Option<usize> {
        pick(reply, labels.len(), |i| [labels[i]])
    }

    #[test]
    fn a_number_picks_the_option_with_that_position() {
        assert_eq!(pick_from("2", &["Madrid", "Roma"]), Some(1));
        assert_eq!(pick_from(" 1 ", &["Madrid", "Roma"]), Some(0));
    }

    #[test]
    fn a_number_out_of_range_picks_nothing() {
        assert_eq!(pick_from("0", &["a", "b"]), None);
        assert_eq!(pick_from("3", &["a", "b"]), None);
        assert_eq!(pick_from("99999999999999999999999", &["a", "b"]), None);
    }

    #[test]
    fn a_number_followed_by_other_text_is_not_a_pick() {
        assert_eq!(pick_from("2abc", &["a", "b"]), None);
        assert_eq!(pick_from("2.0", &["a", "b"]), None);
    }

    #[test]
    fn a_label_matches_regardless_of_case_and_accents() {
        assert_eq!(pick_from("informacion UTIL", &["Otro", "Información útil"]), Some(1));
        assert_eq!(pick_from("  Roma  ", &["Madrid", "roma"]), Some(1));
    }

    #[test]
    fn a_label_must_match_the_whole_reply() {
        assert_eq!(pick_from("I want Roma", &["Madrid", "Roma"]), None);
    }

    #[test]
    fn a_tap_picks_the_option_at_its_number_only_when_its_label_is_that_options() {
        let tap = |number, label: &str| Tap { number, label: label.into() };
        let labels = ["Madrid", "Roma"];
        assert_eq!(tapped(&tap(2, "ROMA"), 2, |i| [labels[i]]), Some(1));
        assert_eq!(tapped(&tap(2, "Madrid"), 2, |i| [labels[i]]), None, "an older question's button");
        assert_eq!(tapped(&tap(3, "Roma"), 2, |i| [labels[i]]), None);
        assert_eq!(tapped(&tap(0, "Roma"), 2, |i| [labels[i]]), None);
    }

    #[test]
    fn an_empty_reply_picks_nothing() {
        assert_eq!(pick_from("   ", &["a"]), None);
    }
}
