//! Layered configuration, loaded once per cold start.
//!
//! Layers, later wins: `conf/default/*.toml` < `conf/custom/*.toml` < environment variables.
//! Each file is a namespace named after it (`chat.toml` -> `chat`), as in the PHP connectors, so
//! the seed guides apply word for word. Tables merge key by key; lists are replaced whole (the
//! PHP merged lists by index, which made a one-entry `ratings` override keep the default's tail).
//!
//! This crate knows no key: every adapter deserialises its own table with [`Config::section`]
//! and declares the environment variables that set its keys ([`EnvKey`]). What the defaults and
//! those variables hold is what is known, so a key of `conf/custom/` outside it is reported
//! with the nearest known one ([`Config::check_keys`], [`keys`]).
#![forbid(unsafe_code)]

pub mod keys;

pub use keys::{UnknownKey, misspelled_variables};

use keys::CustomFile;
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};

/// An environment variable and the dotted configuration key it sets (`TWILIO_API_URL` ->
/// `twilio.api_url`).
pub type EnvKey = (&'static str, &'static str);

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Says where and why, never the file's text (a custom file may hold secrets).
    #[error("{}:{line}:{column}: not valid TOML: {message}", path.display())]
    Parse { path: PathBuf, line: usize, column: usize, message: String },
    /// Names the key and where its value came from (a file, or an environment variable).
    #[error("invalid configuration in [{section}]{}", key.as_ref().map(|(key, origin)| format!(": `{key}` as set in {origin}")).unwrap_or_default())]
    Invalid {
        section: String,
        key: Option<(String, String)>,
        #[source]
        source: Box<toml::de::Error>,
    },
    #[error("missing configuration folder {0}")]
    MissingDefaults(PathBuf),
    /// Keys of `conf/custom/` no default table has, one line each.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    UnknownKeys(Vec<UnknownKey>),
}

/// Where configuration comes from; `from_env` reads `CONF_DIR` (default `conf`).
#[derive(Debug, Clone)]
pub struct Sources {
    pub conf_dir: PathBuf,
    /// `(variable, value)` pairs; in production the process environment.
    pub env: Vec<(String, String)>,
}

impl Sources {
    pub fn from_env() -> Self {
        let conf_dir = std::env::var_os("CONF_DIR").map_or_else(|| PathBuf::from("conf"), PathBuf::from);
        Self { conf_dir, env: std::env::vars().collect() }
    }

    /// The last non-empty value of `name` (callers append overrides).
    pub fn var(&self, name: &str) -> Option<&str> {
        self.env.iter().rev().find(|(k, v)| k == name && !v.is_empty()).map(|(_, v)| v.as_str())
    }
}

/// The merged configuration tree.
#[derive(Debug, Clone)]
pub struct Config {
    root: toml::Table,
    /// Where each value was last set: a file's path or an environment variable, by dotted key.
    origins: std::collections::BTreeMap<String, String>,
    /// The keys that are read: `conf/default/`'s tree with the environment variables' keys.
    known: toml::Table,
    /// The keys each `conf/custom/` file sets.
    custom: Vec<CustomFile>,
}

impl Config {
    /// Merges the files and applies the environment variables of `env_keys`.
    pub fn load(sources: &Sources, env_keys: &[EnvKey]) -> Result<Self, ConfigError> {
        let defaults = sources.conf_dir.join("default");
        if !defaults.is_dir() {
            return Err(ConfigError::MissingDefaults(defaults));
        }
        let mut config =
            Self { root: toml::Table::new(), origins: std::collections::BTreeMap::new(), known: toml::Table::new(), custom: Vec::new() };
        config.merge_folder(&defaults)?;
        config.known = config.root.clone();
        for (_, key) in env_keys {
            if !has_path(&config.known, key) {
                set_path(&mut config.known, key, toml::Value::String(String::new()));
            }
        }
        config.custom = config.merge_folder(&sources.conf_dir.join("custom"))?;
        for (var, key) in env_keys {
            if let Some(value) = sources.var(var) {
                set_path(&mut config.root, key, toml::Value::String(value.to_owned()));
                config.origins.insert((*key).to_owned(), format!("the environment variable {var}"));
            }
        }
        Ok(config)
    }

    /// The table at a dotted path (`chat.chat`), deserialised; a missing table reads as empty,
    /// so its struct's own defaults (or its missing-field error) decide.
    pub fn section<T: DeserializeOwned>(&self, path: &str) -> Result<T, ConfigError> {
        let mut value = toml::Value::Table(self.root.clone());
        for part in path.split('.').filter(|p| !p.is_empty()) {
            value = match value {
                toml::Value::Table(mut table) => table.remove(part).unwrap_or_else(|| toml::Value::Table(toml::Table::new())),
                _ => toml::Value::Table(toml::Table::new()),
            };
        }
        value.try_into().map_err(|source: toml::de::Error| {
            // toml names the failing key at the end of its message: "... in `a.b`".
            let message = source.to_string();
            let key =
                message.trim_end().rsplit_once("in `").and_then(|(_, rest)| rest.strip_suffix('`')).map(|key| format!("{path}.{key}"));
            let key = key.and_then(|key| self.origins.get(&key).map(|origin| (key.clone(), origin.clone())));
            ConfigError::Invalid { section: path.to_owned(), key, source: Box::new(source) }
        })
    }

    /// Every key the `conf/custom/` files set that no default table has (nor an environment
    /// variable sets), with the nearest known key; `open` names the tables whose keys are free
    /// (dotted with the file's namespace: `conversation.default`).
    pub fn unknown_keys(&self, open: &[&str]) -> Vec<UnknownKey> {
        keys::unknown_keys(&self.known, &self.custom, open)
    }

    /// [`Config::unknown_keys`] as an error, when there is any.
    pub fn check_keys(&self, open: &[&str]) -> Result<(), ConfigError> {
        let unknown = self.unknown_keys(open);
        if unknown.is_empty() { Ok(()) } else { Err(ConfigError::UnknownKeys(unknown)) }
    }

    /// Whether the merged tree has a value (or a table) at a dotted path.
    pub fn has_key(&self, dotted: &str) -> bool {
        has_path(&self.root, dotted)
    }

    /// Whether the value at a dotted path is set, and not to an empty string (a default's
    /// placeholder for a secret).
    pub fn is_set(&self, dotted: &str) -> bool {
        let mut value = None;
        let mut table = Some(&self.root);
        for part in dotted.split('.') {
            value = table.and_then(|table| table.get(part));
            table = value.and_then(toml::Value::as_table);
        }
        match value {
            Some(toml::Value::String(text)) => !text.trim().is_empty(),
            Some(_) => true,
            None => false,
        }
    }

    /// Merges a folder's files; the keys each set.
    fn merge_folder(&mut self, folder: &Path) -> Result<Vec<CustomFile>, ConfigError> {
        let mut merged = Vec::new();
        let Ok(entries) = std::fs::read_dir(folder) else { return Ok(merged) };
        let mut files: Vec<PathBuf> =
            entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "toml")).collect();
        files.sort();
        for path in files {
            let table = read_table(&path)?;
            let namespace = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_owned();
            record_origins(&mut self.origins, &namespace, &table, &path.display().to_string());
            merged.push(CustomFile::new(path, namespace.clone(), &table));
            let slot = self.root.entry(namespace).or_insert_with(|| toml::Value::Table(toml::Table::new()));
            merge_value(slot, toml::Value::Table(table));
        }
        Ok(merged)
    }
}

/// Every leaf key of `table`, under `prefix`, as set by `origin`.
fn record_origins(origins: &mut std::collections::BTreeMap<String, String>, prefix: &str, table: &toml::Table, origin: &str) {
    for (key, value) in table {
        let path = format!("{prefix}.{key}");
        match value {
            toml::Value::Table(inner) => record_origins(origins, &path, inner, origin),
            _ => {
                origins.insert(path, origin.to_owned());
            }
        }
    }
}

/// A file's table; a syntax error says where, never the file's text.
fn read_table(path: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
    text.parse().map_err(|error: toml::de::Error| {
        let mut at = error.span().map_or(0, |span| span.start).min(text.len());
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        let before = &text[..at];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        ConfigError::Parse { path: path.to_owned(), line, column, message: error.message().to_owned() }
    })
}

/// Tables merge recursively; anything else (lists included) is replaced.
fn merge_value(base: &mut toml::Value, over: toml::Value) {
    match (base, over) {
        (toml::Value::Table(base), toml::Value::Table(over)) => {
            for (k, v) in over {
                match base.get_mut(&k) {
                    Some(slot) => merge_value(slot, v),
                    None => {
                        base.insert(k, v);
                    }
                }
            }
        }
        (slot, over) => *slot = over,
    }
}

fn has_path(root: &toml::Table, dotted: &str) -> bool {
    let mut table = Some(root);
    let mut found = false;
    for part in dotted.split('.') {
        let value = table.and_then(|table| table.get(part));
        found = value.is_some();
        table = value.and_then(toml::Value::as_table);
    }
    found
}

fn set_path(root: &mut toml::Table, dotted: &str, value: toml::Value) {
    let mut parts: Vec<&str> = dotted.split('.').collect();
    let Some(last) = parts.pop() else { return };
    let mut table = root;
    for part in parts {
        let slot = table.entry(part).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !slot.is_table() {
            *slot = toml::Value::Table(toml::Table::new());
        }
        let toml::Value::Table(inner) = slot else { return };
        table = inner;
    }
    table.insert(last.to_owned(), value);
}

/// The value of a secret the configuration does not set (`#[serde(default = ...)]`): empty, so
/// that setup can refuse to run without it.
pub fn empty_secret() -> secrecy::SecretString {
    secrecy::SecretString::from(String::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_custom_list_replaces_the_default_list_instead_of_merging_by_index() {
        let mut base: toml::Value = "ratings = [1, 2]\nkeep = true".parse::<toml::Table>().unwrap().into();
        merge_value(&mut base, "ratings = [9]".parse::<toml::Table>().unwrap().into());
        assert_eq!(base["ratings"].as_array().unwrap().len(), 1);
        assert_eq!(base["keep"].as_bool(), Some(true));
    }

    #[test]
    fn a_dotted_path_creates_missing_tables() {
        let mut root = toml::Table::new();
        set_path(&mut root, "twilio.credentials.sid", toml::Value::String("AC1".into()));
        assert_eq!(root["twilio"]["credentials"]["sid"].as_str(), Some("AC1"));
    }

    #[test]
    fn a_toml_syntax_error_names_the_file_line_and_column_and_never_shows_its_text() {
        let dir = std::env::temp_dir().join(format!("config-syntax-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("default")).unwrap();
        std::fs::create_dir_all(dir.join("custom")).unwrap();
        std::fs::write(dir.join("default/api.toml"), "timeout_ms = 1\n").unwrap();
        std::fs::write(dir.join("custom/api.toml"), "key = \"k\"\nsecret = \"s3cr3t-value\n").unwrap();
        let error = Config::load(&Sources { conf_dir: dir.clone(), env: Vec::new() }, &[]).unwrap_err();
        let shown = error.to_string();
        assert!(shown.contains("custom/api.toml:2:"), "{shown}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn a_section_is_read_from_its_dotted_path_and_a_bad_type_names_the_section() {
        #[derive(serde::Deserialize)]
        struct Queue {
            active: bool,
        }
        let config = Config {
            root: "[chat.queue]\nactive = true\n[bad]\nactive = 3".parse().unwrap(),
            origins: Default::default(),
            known: Default::default(),
            custom: Vec::new(),
        };
        assert!(config.section::<Queue>("chat.queue").unwrap().active);
        let error = config.section::<Queue>("bad").err().unwrap();
        assert!(error.to_string().contains("[bad]"), "{error}");
    }

    #[test]
    fn a_bad_type_names_the_key_and_the_custom_file_or_variable_that_set_it() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Chat {
            tries: u32,
            name: u32,
        }
        let dir = std::env::temp_dir().join(format!("config-type-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("default")).unwrap();
        std::fs::create_dir_all(dir.join("custom")).unwrap();
        std::fs::write(dir.join("default/chat.toml"), "[chat]\ntries = 1\nname = 2\n").unwrap();
        std::fs::write(dir.join("custom/chat.toml"), "[chat]\ntries = \"three\"\n").unwrap();
        let sources = Sources { conf_dir: dir.clone(), env: Vec::new() };
        let error = Config::load(&sources, &[]).unwrap().section::<Chat>("chat.chat").unwrap_err().to_string();
        assert!(error.contains("`chat.chat.tries` as set in ") && error.contains("custom/chat.toml"), "{error}");
        let env = Sources { conf_dir: dir.clone(), env: vec![("CHAT_NAME".into(), "x".into())] };
        let error = Config::load(&env, &[("CHAT_NAME", "chat.chat.name")]).unwrap().section::<Chat>("chat.chat").unwrap_err().to_string();
        assert!(error.contains("the environment variable CHAT_NAME"), "{error}");
        std::fs::remove_dir_all(dir).ok();
    }

    /// A fresh `conf/` with these `default/` and `custom/` files.
    fn conf(default: &[(&str, &str)], custom: &[(&str, &str)]) -> PathBuf {
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("config-keys-{}-{n}", std::process::id()));
        for (folder, files) in [("default", default), ("custom", custom)] {
            std::fs::create_dir_all(dir.join(folder)).unwrap();
            for (name, text) in files {
                std::fs::write(dir.join(folder).join(name), text).unwrap();
            }
        }
        dir
    }

    const DEFAULTS: &[(&str, &str)] = &[
        ("chat.toml", "[chat]\nenabled = false\nroomId = 1\nappId = \"\"\n[chat.queue]\nactive = false\n"),
        ("hyperchat.toml", "webhook_url = \"\"\ndeadline_ms = 10000\n"),
        (
            "conversation.toml",
            "user_type = 0\n[default]\nlang = \"en\"\n[content_ratings]\nratings = [{ id = 1, label = \"yes\", isNegative = false }]\n",
        ),
        ("smooch.toml", "key_id = \"\"\n"),
    ];

    fn unknown(custom: &[(&str, &str)], env_keys: &[EnvKey]) -> Vec<String> {
        let dir = conf(DEFAULTS, custom);
        let config = Config::load(&Sources { conf_dir: dir.clone(), env: Vec::new() }, env_keys).unwrap();
        let found = config.unknown_keys(&["conversation.default"]).iter().map(ToString::to_string).collect();
        std::fs::remove_dir_all(dir).ok();
        found
    }

    #[test]
    fn a_misspelled_key_in_a_custom_file_is_reported_with_the_file_the_key_and_the_nearest_known_key() {
        let found = unknown(&[("chat.toml", "[chat]\nenabeld = true\n")], &[]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].ends_with("custom/chat.toml: unknown key \"chat.enabeld\"; did you mean \"chat.enabled\"?"), "{found:?}");
    }

    #[test]
    fn a_key_written_in_the_wrong_file_or_table_is_pointed_to_where_it_is_known() {
        let found = unknown(&[("hyperchat.toml", "enabeld = true\n"), ("chat.toml", "[chat]\nactive = true\n")], &[]);
        assert!(
            found
                .iter()
                .any(|line| line.ends_with("custom/hyperchat.toml: unknown key \"enabeld\"; did you mean \"chat.enabled\" in chat.toml?")),
            "{found:?}"
        );
        assert!(
            found.iter().any(|line| line.ends_with("custom/chat.toml: unknown key \"chat.active\"; did you mean \"chat.queue.active\"?")),
            "{found:?}"
        );
    }

    #[test]
    fn a_snake_case_spelling_of_a_camel_case_key_is_matched_whatever_its_length() {
        let found = unknown(&[("chat.toml", "[chat]\nroom_id = 2\n")], &[]);
        assert!(found.len() == 1 && found[0].ends_with("did you mean \"chat.roomId\"?"), "{found:?}");
    }

    #[test]
    fn a_custom_file_no_default_has_is_reported_with_the_nearest_file_name() {
        let found = unknown(&[("hyperchta.toml", "webhook_url = \"x\"\n")], &[]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].ends_with("custom/hyperchta.toml: unknown configuration file (conf/default has no file of that name); did you mean \"hyperchat.toml\"?"), "{found:?}");
    }

    #[test]
    fn a_key_with_nothing_near_lists_what_its_table_knows() {
        let found = unknown(&[("hyperchat.toml", "colour = \"blue\"\n")], &[]);
        assert!(found.len() == 1 && found[0].ends_with("unknown key \"colour\"; known here: deadline_ms, webhook_url"), "{found:?}");
    }

    #[test]
    fn keys_set_by_environment_variables_free_tables_and_list_entries_like_the_defaults_are_known() {
        let custom = [
            ("smooch.toml", "secret = \"s\"\nkey_id = \"k\"\n"),
            (
                "conversation.toml",
                "[default]\nanything = 1\n[default.answers]\nmaxOptions = 3\n[content_ratings]\nratings = [{ id = 2, label = \"no\", isNegative = true }]\n",
            ),
            ("chat.toml", "[chat]\nenabled = true\n[chat.queue]\nactive = true\n"),
        ];
        assert_eq!(unknown(&custom, &[("SMOOCH_SECRET", "smooch.secret")]), Vec::<String>::new());
        // The same secret without the variable that declares it is unknown.
        assert_eq!(unknown(&custom[..1], &[]).len(), 1);
    }

    #[test]
    fn a_misspelled_key_in_a_list_entry_is_reported_at_its_index() {
        let found = unknown(
            &[(
                "conversation.toml",
                "[content_ratings]\nratings = [{ id = 1, label = \"a\" }, { id = 2, label = \"b\", isNegativ = true }]\n",
            )],
            &[],
        );
        assert!(
            found.len() == 1
                && found[0].contains("\"content_ratings.ratings[1].isNegativ\"; did you mean \"content_ratings.ratings[1].isNegative\"?"),
            "{found:?}"
        );
    }

    #[test]
    fn check_keys_refuses_with_one_line_per_unknown_key_and_accepts_known_ones() {
        let dir = conf(DEFAULTS, &[("chat.toml", "[chat]\nenabeld = true\nromId = 3\n")]);
        let config = Config::load(&Sources { conf_dir: dir.clone(), env: Vec::new() }, &[]).unwrap();
        let shown = config.check_keys(&[]).unwrap_err().to_string();
        assert_eq!(shown.lines().count(), 2, "{shown}");
        assert!(shown.contains("\"chat.romId\"; did you mean \"chat.roomId\"?"), "{shown}");
        std::fs::remove_dir_all(dir).ok();
        let dir = conf(DEFAULTS, &[("chat.toml", "[chat]\nenabled = true\n")]);
        let config = Config::load(&Sources { conf_dir: dir.clone(), env: Vec::new() }, &[]).unwrap();
        assert!(config.check_keys(&[]).is_ok());
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn an_unread_environment_variable_near_a_read_one_is_named_with_it_and_others_are_left_alone() {
        let keys: &[EnvKey] = &[("TWILIO_AUTH_TOKEN", "twilio.credentials.auth_token"), ("TWILIO_ACCOUNT_SID", "twilio.credentials.sid")];
        let env: Vec<(String, String)> = [
            ("TWILIO_AUTH_TOKN", "t"),
            ("TWILIO_ACCOUNT_SID", "AC1"),
            ("TWILIO_PHONE_NUMBER", "+1"),
            ("PATH", "/bin"),
            ("TWILIO_ACOUNT_SID", ""),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        assert_eq!(misspelled_variables(&env, keys), vec![("TWILIO_AUTH_TOKN".to_owned(), "TWILIO_AUTH_TOKEN")]);
    }

    #[test]
    fn is_set_is_false_for_a_missing_key_and_an_empty_string() {
        let dir = conf(DEFAULTS, &[]);
        let env = vec![("SID".to_owned(), "AC1".to_owned())];
        let config = Config::load(&Sources { conf_dir: dir.clone(), env }, &[("SID", "twilio.credentials.sid")]).unwrap();
        assert!(config.is_set("twilio.credentials.sid"));
        assert!(config.is_set("chat.chat.roomId"));
        assert!(!config.is_set("chat.chat.appId"));
        assert!(!config.is_set("chat.chat.nothing"));
        std::fs::remove_dir_all(dir).ok();
    }
}
