//! Configuration errors: each names the file, the line and column, the key path
//! (`connector[1].signl4.alerting_scenario`) and what was expected.
//!
//! Invariants: a message never contains a secret's value (the loader only ever quotes values of
//! non-secret keys, and reports secret keys by name); loading collects every error it can find
//! rather than stopping at the first, sorted by position in the file.

use std::fmt;
use std::path::PathBuf;

/// What kind of mistake an error reports; lets callers (and tests) tell them apart and lets
/// `check-config` choose its exit code (2 for an unreadable file, 1 otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The configuration file could not be read.
    Unreadable,
    /// Not valid TOML.
    Syntax,
    /// A key the connector does not know (most often a typo).
    UnknownKey,
    /// A required key is absent.
    Missing,
    /// A value of the wrong TOML type (a number where a string is expected...).
    WrongType,
    /// A value of the right type that is not acceptable (bad GUID, URL, duration, enum...).
    Invalid,
    /// A value that must be unique is repeated (connector names, webhook tokens).
    Duplicate,
    /// Settings that contradict each other (two sources for one secret, a classification
    /// without its reason...).
    Conflict,
    /// A secret's environment variable or file is missing, unreadable or empty.
    Secret,
}

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The configuration file.
    pub file: PathBuf,
    /// 1-based line, when the problem has a place in the file.
    pub line: Option<usize>,
    /// 1-based column (in characters), with `line`.
    pub column: Option<usize>,
    /// The key path, e.g. `connector[0].signl4.alerting_scenario`; empty for the whole file.
    pub key: String,
    /// The kind of mistake.
    pub kind: ErrorKind,
    /// What is wrong and what is expected.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found in one configuration file. Never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors {
    /// The problems, in file order.
    pub errors: Vec<ConfigError>,
}

impl ConfigErrors {
    /// True when the file could not be read at all (`check-config` exits 2 then).
    pub fn is_unreadable(&self) -> bool {
        self.errors.iter().any(|e| e.kind == ErrorKind::Unreadable)
    }

    /// The errors at `key` (exact key path), for tests and tools.
    pub fn at(&self, key: &str) -> Vec<&ConfigError> {
        self.errors.iter().filter(|e| e.key == key).collect()
    }

    /// Number of problems.
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// Always false (a `ConfigErrors` holds at least one error); for clippy's sake.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        writeln!(
            f,
            "{n} configuration error{}:",
            if n == 1 { "" } else { "s" }
        )?;
        for e in &self.errors {
            writeln!(f, "  {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Converts a byte offset in `text` to a 1-based (line, column in characters).
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based() {
        let text = "a = 1\nbb = 2\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 6), (2, 1));
        assert_eq!(line_col(text, 9), (2, 4));
        assert_eq!(line_col(text, 999), (3, 1));
    }

    #[test]
    fn display_names_file_line_column_key_and_message() {
        let e = ConfigError {
            file: "c.toml".into(),
            line: Some(3),
            column: Some(7),
            key: "connector[0].name".into(),
            kind: ErrorKind::Missing,
            message: "missing; expected a name".into(),
        };
        assert_eq!(
            e.to_string(),
            "c.toml:3:7: connector[0].name: missing; expected a name"
        );
    }
}
