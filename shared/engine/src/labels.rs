//! User-facing texts: `lang/<lang>.toml`, one `key = "text"` per label, parsed here from the
//! file's text (composition, `connector_app::load_labels`, reads the file).
//!
//! The code names labels through [`Label`], never through loose strings, so a test can check
//! that every label it may show exists in every shipped language.

use std::collections::HashMap;

macro_rules! labels {
    ($($variant:ident => $key:literal),* $(,)?) => {
        /// A label the engine shows.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Label { $($variant),* }

        impl Label {
            pub const ALL: &'static [Label] = &[$(Label::$variant),*];

            /// Its key in the label files and in ExtraInfo translations.
            pub fn key(self) -> &'static str {
                match self { $(Label::$variant => $key),* }
            }
        }
    };
}

labels! {
    AgentJoined => "agent_joined",
    ApiError => "api_error",
    ApiTimeout => "api_timeout",
    AskForSurvey => "ask_for_survey",
    AskRatingComment => "ask_rating_comment",
    AskToContinueSurvey => "ask_to_continue_survey",
    AskToEscalate => "ask_to_escalate",
    ChatClosed => "chat_closed",
    ChatMessageNotDelivered => "chat_message_not_delivered",
    CloseChatKeyWord => "close_chat_key_word",
    CreatingChat => "creating_chat",
    DateFormatHint => "date_format_hint",
    ErrorCreatingChat => "error_creating_chat",
    EscalationRejected => "escalation_rejected",
    FileNotDelivered => "file_not_delivered",
    FileTooLarge => "file_too_large",
    No => "no",
    NoAgents => "no_agents",
    NoRatingGiven => "no_rating_given",
    QueueEstimation => "queue_estimation",
    QueueEstimationFirst => "queue_estimation_first",
    RateContentIntro => "rate_content_intro",
    Thanks => "thanks",
    TicketResponseEnd => "ticket_response_end",
    TicketResponseInfo => "ticket_response_info",
    TicketResponseIntro => "ticket_response_intro",
    TypeANumber => "type_a_number",
    UnsupportedMessage => "unsupported_message",
    UserFileNotRelayed => "user_file_not_relayed",
    UserFileTooLarge => "user_file_too_large",
    UserMaybeUnreachable => "user_maybe_unreachable",
    AgentMessageUndelivered => "agent_message_undelivered",
    UndeliveredWindowClosed => "undelivered_window_closed",
    UndeliveredUnreachable => "undelivered_unreachable",
    UndeliveredBlocked => "undelivered_blocked",
    UndeliveredUnknownAddress => "undelivered_unknown_address",
    UndeliveredNotMobile => "undelivered_not_mobile",
    UndeliveredFiltered => "undelivered_filtered",
    UndeliveredOther => "undelivered_other",
    UserUnreachable => "user_unreachable",
    Yes => "yes",
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Labels {
    texts: HashMap<String, String>,
}

/// A label file's text that is not a flat TOML table of strings (composition names the file).
#[derive(Debug, thiserror::Error)]
#[error("not a flat TOML table of strings")]
pub struct LabelsError(#[source] pub toml::de::Error);

impl Labels {
    /// Labels from the text of a label file (`lang/<lang>.toml`, one `key = "text"` per label).
    /// Reading the file is the caller's: the engine does no I/O.
    pub fn parse(text: &str) -> Result<Self, LabelsError> {
        let texts = toml::from_str(text).map_err(LabelsError)?;
        Ok(Self { texts })
    }

    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self { texts: pairs.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect() }
    }

    /// The text of `label`, or its key when a custom label file lacks it.
    pub fn get(&self, label: Label) -> &str {
        self.texts.get(label.key()).map_or(label.key(), String::as_str)
    }

    /// The text of `key` if it is a label, else `text` as given (bot labels like "yes" or "Yes").
    pub fn translate_or_keep<'a>(&'a self, text: &'a str) -> &'a str {
        self.texts.get(text).map_or(text, String::as_str)
    }

    /// Labels from `other` replace ours (ExtraInfo translations over the files).
    pub fn overridden_by(mut self, other: impl IntoIterator<Item = (String, String)>) -> Self {
        self.texts.extend(other);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// A shipped label file, read as composition reads it.
    fn shipped(dir: &Path, lang: &str) -> Labels {
        Labels::parse(&std::fs::read_to_string(dir.join(format!("{lang}.toml"))).unwrap()).unwrap()
    }

    #[test]
    fn a_file_that_is_no_table_of_strings_is_refused() {
        assert!(Labels::parse("thanks = 3").is_err());
        assert_eq!(Labels::parse("thanks = \"Thank you\"").unwrap().get(Label::Thanks), "Thank you");
    }

    #[test]
    fn a_label_missing_from_the_files_reads_as_its_key() {
        assert_eq!(Labels::default().get(Label::Thanks), "thanks");
    }

    #[test]
    fn every_label_the_code_shows_exists_in_every_shipped_language() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../lang");
        let mut langs: Vec<String> =
            std::fs::read_dir(&dir).unwrap().filter_map(|e| e.ok()?.path().file_stem()?.to_str().map(str::to_owned)).collect();
        langs.sort();
        assert!(langs.len() >= 3, "{langs:?}");
        for lang in &langs {
            let labels = shipped(&dir, lang);
            let missing: Vec<&str> = Label::ALL.iter().map(|l| l.key()).filter(|k| !labels.texts.contains_key(*k)).collect();
            assert!(missing.is_empty(), "lang/{lang}.toml lacks {missing:?}");
        }
    }

    #[test]
    fn every_shipped_language_has_the_same_keys_as_english() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../lang");
        let english = shipped(&dir, "en");
        for lang in ["es", "it"] {
            let other = shipped(&dir, lang);
            let mut missing: Vec<_> = english.texts.keys().filter(|k| !other.texts.contains_key(*k)).collect();
            missing.sort();
            assert!(missing.is_empty(), "{lang} lacks {missing:?}");
            assert_eq!(english.texts.len(), other.texts.len(), "{lang} has extra keys");
        }
    }
}
