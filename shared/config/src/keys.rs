//! Unknown keys: a key a `conf/custom/` file sets that nothing reads is a typo (`enabeld`) or a
//! key this version does not have, and an operator expects to hear of it at start rather than
//! to find out later that the setting had no effect.
//!
//! The known keys are those of `conf/default/` (every key a default table has) and those the
//! environment variables set ([`crate::EnvKey`]); a table whose keys are free (sent on as they
//! are, like the body of Inbenta's `POST /v1/conversation`) is named by the caller. Lists of
//! tables (`ratings = [{ id = 1, ... }]`) know the keys their default entries have.

use std::fmt;
use std::path::PathBuf;

/// One step of a key's path in a file: a table's key or a list's index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    Key(String),
    Index(usize),
}

/// A `conf/custom/` file: its path, namespace and every key path it sets (tables included),
/// without the values (a custom file may hold secrets).
#[derive(Debug, Clone)]
pub(crate) struct CustomFile {
    pub path: PathBuf,
    pub namespace: String,
    pub keys: Vec<Vec<Step>>,
}

impl CustomFile {
    pub fn new(path: PathBuf, namespace: String, table: &toml::Table) -> Self {
        let mut keys = Vec::new();
        collect(&toml::Value::Table(table.clone()), &mut Vec::new(), &mut keys);
        Self { path, namespace, keys }
    }
}

fn collect(value: &toml::Value, at: &mut Vec<Step>, keys: &mut Vec<Vec<Step>>) {
    match value {
        toml::Value::Table(table) => {
            for (key, inner) in table {
                at.push(Step::Key(key.clone()));
                keys.push(at.clone());
                collect(inner, at, keys);
                at.pop();
            }
        }
        toml::Value::Array(items) => {
            for (index, item) in items.iter().enumerate().filter(|(_, item)| item.is_table()) {
                at.push(Step::Index(index));
                collect(item, at, keys);
                at.pop();
            }
        }
        _ => {}
    }
}

/// A key (or a whole file) of `conf/custom/` that no default table has.
#[derive(Clone, PartialEq, Eq)]
pub struct UnknownKey {
    /// The custom file, as found (`conf/custom/chat.toml`).
    pub path: PathBuf,
    /// The key within the file (`chat.enabeld`, `content_ratings.ratings[1].isNegativ`); empty
    /// when the file itself is unknown.
    pub key: String,
    /// The nearest known key, as the operator would write it: `"chat.enabled"`, or
    /// `"chat.enabled" in chat.toml` when it lives in another file; for an unknown file, the
    /// nearest file's name.
    pub nearest: Option<String>,
    /// When nothing is near: what is known there (the table's keys, or the files).
    pub known: Vec<String>,
}

impl fmt::Display for UnknownKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        if self.key.is_empty() {
            write!(f, "{path}: unknown configuration file (conf/default has no file of that name)")?;
        } else {
            write!(f, "{path}: unknown key \"{}\"", self.key)?;
        }
        match &self.nearest {
            Some(nearest) if self.key.is_empty() => write!(f, "; did you mean \"{nearest}\"?"),
            Some(nearest) if nearest.starts_with('"') => write!(f, "; did you mean {nearest}?"),
            Some(nearest) => write!(f, "; did you mean \"{nearest}\"?"),
            None if self.known.is_empty() => Ok(()),
            None => write!(f, "; known here: {}", self.known.join(", ")),
        }
    }
}

/// Shown as the message it is (a Lambda function that stops at start prints its error with
/// `Debug`).
impl fmt::Debug for UnknownKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Every unknown key of `files`, checked against `known` (the namespaces of `conf/default/`
/// with the environment's keys), except within the free tables `open` (dotted, with the
/// namespace: `conversation.default`).
pub(crate) fn unknown_keys(known: &toml::Table, files: &[CustomFile], open: &[&str]) -> Vec<UnknownKey> {
    let mut found = Vec::new();
    for file in files {
        let Some(root) = known.get(&file.namespace) else {
            let names: Vec<String> = known.keys().map(|namespace| format!("{namespace}.toml")).collect();
            let nearest = nearest(&file.namespace, known.keys().map(String::as_str)).map(|namespace| format!("{namespace}.toml"));
            let known = if nearest.is_some() { Vec::new() } else { names };
            found.push(UnknownKey { path: file.path.clone(), key: String::new(), nearest, known });
            continue;
        };
        for key in &file.keys {
            let Some((depth, parent)) = unknown_at(root, &file.namespace, key, open) else { continue };
            let shown = show(&key[..=depth]);
            if found.iter().any(|unknown: &UnknownKey| unknown.path == file.path && unknown.key == shown) {
                continue;
            }
            let Step::Key(name) = &key[depth] else { continue };
            let siblings: Vec<&str> = parent.keys().map(String::as_str).collect();
            let nearest = match nearest(name, siblings.iter().copied()) {
                Some(sibling) => Some(show(&[&key[..depth], &[Step::Key(sibling.to_owned())]].concat())),
                None => elsewhere(known, &file.namespace, name),
            };
            let known = if nearest.is_some() { Vec::new() } else { siblings.iter().map(|s| (*s).to_owned()).collect() };
            found.push(UnknownKey { path: file.path.clone(), key: shown, nearest, known });
        }
    }
    found
}

/// Where `key` leaves the known tree: the index of its first unknown step and the table that
/// lacks it. `None` when it is known, inside a free table, or of another shape than the
/// default's (a type the adapter's deserialisation names).
fn unknown_at(root: &toml::Value, namespace: &str, key: &[Step], open: &[&str]) -> Option<(usize, toml::Table)> {
    let mut node = root.clone();
    let mut dotted = namespace.to_owned();
    for (depth, step) in key.iter().enumerate() {
        if open.contains(&dotted.as_str()) {
            return None;
        }
        node = match (node, step) {
            (toml::Value::Table(table), Step::Key(name)) => match table.get(name) {
                Some(inner) => {
                    dotted = format!("{dotted}.{name}");
                    inner.clone()
                }
                None => return Some((depth, table)),
            },
            // A list of tables knows the keys of all its default entries.
            (toml::Value::Array(items), Step::Index(_)) => {
                let mut merged = toml::Table::new();
                for item in items {
                    if let toml::Value::Table(entry) = item {
                        merged.extend(entry.clone());
                    }
                }
                if merged.is_empty() {
                    return None;
                }
                toml::Value::Table(merged)
            }
            _ => return None,
        };
    }
    None
}

/// A known key named like `name` in another table or file, as `"key" in file.toml`.
fn elsewhere(known: &toml::Table, namespace: &str, name: &str) -> Option<String> {
    let mut leaves = Vec::new();
    for (file, root) in known {
        paths(root, &mut vec![], &mut |path: &[String]| leaves.push((file.clone(), path.to_vec())));
    }
    let last = |path: &Vec<String>| path.last().cloned().unwrap_or_default();
    let names: Vec<String> = leaves.iter().map(|(_, path)| last(path)).collect();
    let found = nearest(name, names.iter().map(String::as_str))?;
    let (file, path) = leaves.iter().find(|(_, path)| last(path) == found)?;
    let key = path.join(".");
    Some(if file == namespace { key } else { format!("\"{key}\" in {file}.toml") })
}

fn paths(value: &toml::Value, at: &mut Vec<String>, each: &mut dyn FnMut(&[String])) {
    if let toml::Value::Table(table) = value {
        for (key, inner) in table {
            at.push(key.clone());
            each(at);
            paths(inner, at, each);
            at.pop();
        }
    }
}

/// A key path as written in a file: `chat.queue.active`, `ratings[1].label`.
fn show(key: &[Step]) -> String {
    let mut shown = String::new();
    for step in key {
        match step {
            Step::Key(name) if shown.is_empty() => shown.push_str(name),
            Step::Key(name) => {
                shown.push('.');
                shown.push_str(name);
            }
            Step::Index(index) => shown.push_str(&format!("[{index}]")),
        }
    }
    shown
}

/// The candidate nearest to `word`: the same but for case, `_` and `-` (`room_id`, `roomId`),
/// else the fewest edits (a swap of two neighbours is one), at most a third of the word's
/// length (two for `enabeld`), or one that starts with the other (`timeout` for `timeout_ms`).
pub(crate) fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let fold = |s: &str| s.chars().filter(|c| *c != '_' && *c != '-').flat_map(char::to_lowercase).collect::<String>();
    let folded = fold(word);
    let mut best: Option<(usize, &str)> = None;
    for candidate in candidates {
        let other = fold(candidate);
        let distance = edits(&folded, &other);
        let within = distance <= (folded.chars().count() / 3).max(1)
            || (folded.chars().count().min(other.chars().count()) >= 4 && (other.starts_with(&folded) || folded.starts_with(&other)));
        if within && best.is_none_or(|(least, _)| distance < least) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, candidate)| candidate)
}

/// Edits from `a` to `b`: insertions, deletions, substitutions and swaps of two neighbours
/// (optimal string alignment).
fn edits(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut rows = vec![vec![0_usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    rows[0] = (0..=b.len()).collect();
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut least = (rows[i - 1][j] + 1).min(rows[i][j - 1] + 1).min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                least = least.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = least;
        }
    }
    rows[a.len()][b.len()]
}

/// An environment variable no adapter reads whose name is near one they read
/// (`TWILIO_AUTH_TOKN`): `(variable, the variable it is probably meant as)`. Only variables
/// that share the first word of a read one (`TWILIO_`) are considered; any other is some other
/// program's.
pub fn misspelled_variables(env: &[(String, String)], env_keys: &[crate::EnvKey]) -> Vec<(String, &'static str)> {
    let first_word = |name: &str| name.split('_').next().unwrap_or_default().to_owned();
    let mut found: Vec<(String, &'static str)> = Vec::new();
    for (name, value) in env {
        if value.is_empty() || env_keys.iter().any(|(read, _)| read == name) || found.iter().any(|(seen, _)| seen == name) {
            continue;
        }
        let word = first_word(name);
        let kin = env_keys.iter().map(|(read, _)| *read).filter(|read| first_word(read) == word);
        let mut best: Option<(usize, &'static str)> = None;
        for read in kin {
            let distance = edits(name, read);
            if distance <= 2 && best.is_none_or(|(least, _)| distance < least) {
                best = Some((distance, read));
            }
        }
        if let Some((_, read)) = best {
            found.push((name.clone(), read));
        }
    }
    found
}
