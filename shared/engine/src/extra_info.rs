//! ExtraInfo over the label files and the configuration: what a channel group's ExtraInfo says
//! wins for the turn, what it leaves unsaid (or could not be read) falls back to the files.

use crate::labels::Labels;
use crate::values::ExtraInfo;
use std::sync::Arc;

/// The texts and the mode of one turn.
#[derive(Debug, Clone)]
pub struct TurnSettings {
    /// The label files, with the conversation language's ExtraInfo translations over them.
    pub labels: Arc<Labels>,
    /// Only-chat mode: ExtraInfo's `settings.only_chat_mode` when it has one, else the
    /// configuration's.
    pub only_chat: bool,
}

impl TurnSettings {
    /// The turn's labels and mode from the group's ExtraInfo (empty when it could not be read),
    /// the `lang/` file of the conversation language and the configured only-chat mode.
    pub fn new(extra_info: &ExtraInfo, lang: &str, files: &Arc<Labels>, configured_only_chat: bool) -> Self {
        let labels = match extra_info.translations_of(lang) {
            Some(translations) => Arc::new((**files).clone().overridden_by(translations.clone())),
            None => Arc::clone(files),
        };
        Self { labels, only_chat: extra_info.only_chat_mode.unwrap_or(configured_only_chat) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::Label;
    use std::collections::HashMap;

    fn files() -> Arc<Labels> {
        Arc::new(Labels::from_pairs([("thanks", "Thank you"), ("yes", "Yes")]))
    }

    fn translated(lang: &str, pairs: &[(&str, &str)]) -> ExtraInfo {
        let labels = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        ExtraInfo { translations: HashMap::from([(lang.to_owned(), labels)]), ..ExtraInfo::default() }
    }

    #[test]
    fn translations_of_the_conversation_language_replace_the_files_labels_and_leave_the_others() {
        let settings = TurnSettings::new(&translated("en", &[("thanks", "Cheers!")]), "en", &files(), false);
        assert_eq!(settings.labels.get(Label::Thanks), "Cheers!");
        assert_eq!(settings.labels.get(Label::Yes), "Yes");
    }

    #[test]
    fn translations_of_another_language_change_nothing() {
        let files = files();
        let settings = TurnSettings::new(&translated("es", &[("thanks", "¡Gracias!")]), "en", &files, false);
        assert_eq!(settings.labels.get(Label::Thanks), "Thank you");
        assert!(Arc::ptr_eq(&settings.labels, &files), "the files' labels are shared, not copied");
    }

    #[test]
    fn only_chat_mode_from_extra_info_wins_over_the_configuration_either_way() {
        for (extra, configured) in [(true, false), (false, true)] {
            let extra_info = ExtraInfo { only_chat_mode: Some(extra), ..ExtraInfo::default() };
            assert_eq!(TurnSettings::new(&extra_info, "en", &files(), configured).only_chat, extra);
        }
    }

    #[test]
    fn extra_info_that_says_nothing_leaves_the_files_and_the_configured_mode() {
        for configured in [true, false] {
            let settings = TurnSettings::new(&ExtraInfo::default(), "en", &files(), configured);
            assert_eq!((settings.labels.get(Label::Thanks), settings.only_chat), ("Thank you", configured));
        }
    }
}
