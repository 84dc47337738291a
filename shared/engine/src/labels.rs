//! User-facing texts: `lang/<lang>.toml`, one `key = "text"` per label.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Labels {
    texts: HashMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum LabelsError {
    #[error("cannot read label file {path}")]
    Read { path: PathBuf, #[source] source: std::io::Error },
    #[error("label file {path} is not a flat TOML table of strings")]
    Parse { path: PathBuf, #[source] source: toml::de::Error },
}

impl Labels {
    /// Loads `<dir>/<lang>.toml`. A missing file is an error: operators must ship their language.
    pub fn load(dir: &Path, lang: &str) -> Result<Self, LabelsError> {
        let path = dir.join(format!("{lang}.toml"));
        let text = std::fs::read_to_string(&path).map_err(|source| LabelsError::Read { path: path.clone(), source })?;
        let texts = toml::from_str(&text).map_err(|source| LabelsError::Parse { path, source })?;
        Ok(Self { texts })
    }

    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self { texts: pairs.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect() }
    }

    /// The text of `key`, or `key` itself when unknown (so a typo shows, rather than nothing).
    pub fn get<'a>(&'a self, key: &'a str) -> &'a str {
        self.texts.get(key).map_or(key, String::as_str)
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

    #[test]
    fn an_unknown_key_reads_as_itself() {
        assert_eq!(Labels::default().get("thanks"), "thanks");
    }


    #[test]
    fn every_shipped_language_has_the_same_keys_as_english() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../lang");
        let english = Labels::load(&dir, "en").unwrap();
        for lang in ["es", "it"] {
            let other = Labels::load(&dir, lang).unwrap();
            let mut missing: Vec<_> = english.texts.keys().filter(|k| !other.texts.contains_key(*k)).collect();
            missing.sort();
            assert!(missing.is_empty(), "{lang} lacks {missing:?}");
            assert_eq!(english.texts.len(), other.texts.len(), "{lang} has extra keys");
        }
    }
}
