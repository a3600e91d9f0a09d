//! Reading a parsed TOML tree with positions: typed getters that record an error (with file,
//! line, column and key path) instead of stopping, and unknown-key detection.
//!
//! Why not `#[derive(Deserialize)]` with `deny_unknown_fields`: serde stops at the first error
//! and cannot check cross-field rules; users fixing a file want every problem at once.
//!
//! Invariants: getters never put a value into a message unless the caller says the key is not
//! secret; every key of a table that no getter asked for is reported as unknown when the table
//! is [`TableReader::finish`]ed.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};

use super::error::{line_col, ConfigError, ErrorKind};

/// A byte range in the configuration text.
pub(crate) type Span = Range<usize>;

/// Where environment variables come from: the process, or a fixed map (tests, tools).
#[derive(Debug, Clone, Default)]
pub struct Env {
    fixed: Option<HashMap<String, String>>,
}

impl Env {
    /// The process environment.
    pub fn process() -> Self {
        Env { fixed: None }
    }

    /// Exactly these variables and no others.
    pub fn fixed<K: Into<String>, V: Into<String>>(vars: impl IntoIterator<Item = (K, V)>) -> Self {
        Env {
            fixed: Some(
                vars.into_iter()
                    .map(|(k, v)| (k.into(), v.into()))
                    .collect(),
            ),
        }
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<String> {
        match &self.fixed {
            Some(map) => map.get(name).cloned(),
            None => std::env::var(name).ok(),
        }
    }
}

/// The state of one load: the text (for positions) and the errors found so far.
pub(crate) struct Ctx<'a> {
    pub file: &'a Path,
    pub text: &'a str,
    /// Relative paths in the file (secret files, `data_dir`) are resolved against this.
    pub base_dir: PathBuf,
    pub env: &'a Env,
    errors: Vec<(usize, ConfigError)>,
    pub warnings: Vec<String>,
}

/// A value with its place and key path.
pub(crate) struct Item<'t, 'i> {
    pub value: &'t DeValue<'i>,
    pub span: Span,
    pub path: String,
}

/// A table being read: hands out values by key, and remembers which keys were asked for so
/// that the others can be reported as unknown.
pub(crate) struct TableReader<'t, 'i> {
    table: &'t DeTable<'i>,
    /// Where "missing key" errors point: the table's header.
    pub span: Span,
    pub path: String,
    known: Vec<&'static str>,
}

impl<'a> Ctx<'a> {
    pub fn new(file: &'a Path, text: &'a str, env: &'a Env) -> Self {
        let base_dir = match file.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Ctx {
            file,
            text,
            base_dir,
            env,
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Records an error at `span` (or nowhere in particular when `span` is `None`).
    pub fn error(
        &mut self,
        span: Option<&Span>,
        key: &str,
        kind: ErrorKind,
        message: impl Into<String>,
    ) {
        let (line, column, offset) = match span {
            Some(span) => {
                let (l, c) = line_col(self.text, span.start);
                (Some(l), Some(c), span.start)
            }
            None => (None, None, usize::MAX),
        };
        self.errors.push((
            offset,
            ConfigError {
                file: self.file.to_path_buf(),
                line,
                column,
                key: key.to_string(),
                kind,
                message: message.into(),
            },
        ));
    }

    /// The errors, in file order (stable for errors at the same place).
    pub fn into_errors(mut self) -> (Vec<ConfigError>, Vec<String>) {
        self.errors.sort_by_key(|(offset, _)| *offset);
        (
            self.errors.into_iter().map(|(_, e)| e).collect(),
            self.warnings,
        )
    }

    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// Reports a value of the wrong TOML type (never quoting it).
    pub fn wrong_type(&mut self, item: &Item, expected: &str) {
        let found = type_name(item.value);
        self.error(
            Some(&item.span),
            &item.path,
            ErrorKind::WrongType,
            format!("expected {expected}, found {found}"),
        );
    }

    /// The string at `item`, or a type error.
    pub fn as_str<'t>(&mut self, item: &Item<'t, '_>) -> Option<&'t str> {
        match item.value {
            DeValue::String(s) => Some(s.as_ref()),
            _ => {
                self.wrong_type(item, "a string");
                None
            }
        }
    }

    /// Optional string key.
    pub fn opt_str<'t, 'i>(
        &mut self,
        t: &mut TableReader<'t, 'i>,
        key: &'static str,
    ) -> Option<(String, Item<'t, 'i>)> {
        let item = t.get(key)?;
        let s = self.as_str(&item)?.to_string();
        Some((s, item))
    }

    /// Required string key; `expected` says what belongs there.
    pub fn req_str<'t, 'i>(
        &mut self,
        t: &mut TableReader<'t, 'i>,
        key: &'static str,
        expected: &str,
    ) -> Option<(String, Item<'t, 'i>)> {
        if !t.contains(key) {
            self.missing(t, key, expected);
        }
        self.opt_str(t, key)
    }

    /// Reports a required key as missing from `t`.
    pub fn missing(&mut self, t: &TableReader, key: &str, expected: &str) {
        let path = t.child_path(key);
        let span = t.span.clone();
        self.error(
            Some(&span),
            &path,
            ErrorKind::Missing,
            format!("required key is missing; expected {expected}"),
        );
    }

    /// Optional boolean key.
    pub fn opt_bool(&mut self, t: &mut TableReader, key: &'static str) -> Option<bool> {
        let item = t.get(key)?;
        match item.value {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                self.wrong_type(&item, "true or false");
                None
            }
        }
    }

    /// Optional integer key within `range` (inclusive); the message names the range.
    pub fn opt_int(
        &mut self,
        t: &mut TableReader,
        key: &'static str,
        range: std::ops::RangeInclusive<i64>,
    ) -> Option<Result<i64, ()>> {
        let item = t.get(key)?;
        let expected = format!("an integer from {} to {}", range.start(), range.end());
        let DeValue::Integer(i) = item.value else {
            self.wrong_type(&item, &expected);
            return Some(Err(()));
        };
        match i64::from_str_radix(i.as_str(), i.radix()) {
            Ok(v) if range.contains(&v) => Some(Ok(v)),
            _ => {
                let shown = i.to_string();
                self.error(
                    Some(&item.span),
                    &item.path,
                    ErrorKind::Invalid,
                    format!("{shown} is out of range; expected {expected}"),
                );
                Some(Err(()))
            }
        }
    }

    /// Optional array of strings; each element with its span and path.
    #[allow(clippy::type_complexity)]
    pub fn opt_str_list<'t, 'i>(
        &mut self,
        t: &mut TableReader<'t, 'i>,
        key: &'static str,
    ) -> Option<(Vec<(String, Item<'t, 'i>)>, Item<'t, 'i>)> {
        let item = t.get(key)?;
        let DeValue::Array(array) = item.value else {
            self.wrong_type(&item, "an array of strings");
            return None;
        };
        let mut out = Vec::new();
        for (i, element) in array.iter().enumerate() {
            let el = Item {
                value: element.get_ref(),
                span: element.span(),
                path: format!("{}[{i}]", item.path),
            };
            if let Some(s) = self.as_str(&el) {
                out.push((s.to_string(), el));
            }
        }
        Some((out, item))
    }

    /// Optional sub-table.
    pub fn opt_table<'t, 'i>(
        &mut self,
        t: &mut TableReader<'t, 'i>,
        key: &'static str,
    ) -> Option<TableReader<'t, 'i>> {
        let item = t.get(key)?;
        match item.value {
            DeValue::Table(table) => Some(TableReader::new(table, item.span, item.path)),
            _ => {
                self.wrong_type(&item, "a table");
                None
            }
        }
    }

    /// Reports every key of `t` that nobody asked for.
    pub fn finish(&mut self, t: TableReader) {
        for (key, _) in t.table.iter() {
            let name: &str = key.get_ref().as_ref();
            if t.known.contains(&name) {
                continue;
            }
            // A near miss names the intended key; otherwise list what is allowed.
            let hint = match suggestion(name, &t.known) {
                hint if hint.is_empty() => {
                    format!("; the keys allowed here are: {}", t.known.join(", "))
                }
                hint => hint,
            };
            self.error(
                Some(&key.span()),
                &t.child_path(name),
                ErrorKind::UnknownKey,
                format!("unknown key `{name}`{hint}"),
            );
        }
    }
}

impl<'t, 'i> TableReader<'t, 'i> {
    pub fn new(table: &'t DeTable<'i>, span: Span, path: String) -> Self {
        TableReader {
            table,
            span,
            path,
            known: Vec::new(),
        }
    }

    /// `path.key`.
    pub fn child_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// Declares `key` as known without reading it (for keys read some other way).
    pub fn allow(&mut self, key: &'static str) {
        if !self.known.contains(&key) {
            self.known.push(key);
        }
    }

    /// True when the key is present.
    pub fn contains(&self, key: &str) -> bool {
        self.table.get(key).is_some()
    }

    /// The value at `key`, marking the key as known.
    pub fn get(&mut self, key: &'static str) -> Option<Item<'t, 'i>> {
        self.allow(key);
        let value = self.table.get(key)?;
        Some(Item {
            value: value.get_ref(),
            span: value.span(),
            path: self.child_path(key),
        })
    }

    /// Every entry (for free-form tables such as `user_map`).
    pub fn entries(&self) -> impl Iterator<Item = (&'t str, Span, Item<'t, 'i>)> + '_ {
        self.table.iter().map(|(k, v)| {
            let key: &'t str = k.get_ref().as_ref();
            (
                key,
                k.span(),
                Item {
                    value: v.get_ref(),
                    span: v.span(),
                    path: format!("{}.\"{key}\"", self.path),
                },
            )
        })
    }
}

/// The TOML type of a value, for "expected X, found Y".
fn type_name(value: &DeValue) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// Keys that belong in a sub-table, and where: a user writing `classification = ...` directly
/// under `[[connector]]` is told about `on_close.classification`.
const MOVED: &[(&str, &str)] = &[
    ("classification", "on_close.classification"),
    ("classification_reason", "on_close.classification_reason"),
    ("classification_comment", "on_close.classification_comment"),
    ("set_active", "on_acknowledge.set_active"),
    ("team_secret", "signl4.team_secret"),
    ("team_secret_env", "signl4.team_secret_env"),
    ("team_secret_file", "signl4.team_secret_file"),
    ("webhook_url", "signl4.webhook_url"),
    ("api_key", "signl4.api_key"),
    ("alerting_scenario", "signl4.alerting_scenario"),
    ("service", "signl4.service"),
    ("cloud", "endpoints.cloud"),
    ("authority_host", "endpoints.authority_host"),
    ("arm", "endpoints.arm"),
    ("log_analytics", "endpoints.log_analytics"),
    ("graph", "endpoints.graph"),
    ("sentinel_api_version", "endpoints.sentinel_api_version"),
    ("bind", "[webhook] bind"),
    ("public_base_url", "[webhook] public_base_url"),
];

/// " (did you mean `x`?)" for a near miss among `known`, or a key that lives elsewhere.
fn suggestion(name: &str, known: &[&str]) -> String {
    let lower = name.to_ascii_lowercase();
    if let Some(k) = known
        .iter()
        .filter(|k| edit_distance(&lower, k) <= 2.max(k.len() / 5))
        .min_by_key(|k| edit_distance(&lower, k))
    {
        return format!(" (did you mean `{k}`?)");
    }
    if let Some((_, place)) = MOVED.iter().find(|(k, _)| *k == lower) {
        if !known.contains(&lower.as_str()) {
            return format!(" (it belongs in `{place}`)");
        }
    }
    String::new()
}

/// Levenshtein distance (keys are short).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_near_misses_and_moved_keys() {
        let known = ["poll_interval", "poll_overlap", "lookback"];
        assert_eq!(
            suggestion("poll_intervall", &known),
            " (did you mean `poll_interval`?)"
        );
        assert_eq!(
            suggestion("classification", &known),
            " (it belongs in `on_close.classification`)"
        );
        assert_eq!(suggestion("zzz", &known), "");
    }

    #[test]
    fn env_fixed_sees_only_its_variables() {
        let env = Env::fixed([("A", "1")]);
        assert_eq!(env.get("A").as_deref(), Some("1"));
        assert_eq!(env.get("PATH"), None);
    }
}
