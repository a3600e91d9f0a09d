//! [`Secret`]: a credential read from the configuration (client secret, SIGNL4 team secret or
//! webhook URL, API key, webhook token), and where it came from.
//!
//! Invariants: a `Secret` never shows its value. `Debug` and `Display` print `***`, it does not
//! implement `Serialize`, and the only way to read the value is [`Secret::expose`], so every
//! place that uses the value can be found with grep. Its [`SecretSource`] (an environment
//! variable's name, a file's path) is not secret and may be printed.

use std::fmt;
use std::path::PathBuf;

/// A credential. Exists so that a secret cannot reach a log line, an error message or a
/// serialized structure by accident: formatting it prints `***`.
///
/// It is not `Serialize`, so no structure holding one can be serialized:
///
/// ```compile_fail
/// fn serializable<T: serde::Serialize>() {}
/// serializable::<sentinel_signl4::config::Secret>();
/// ```
///
/// (while the same check compiles for an ordinary string:)
///
/// ```
/// fn serializable<T: serde::Serialize>() {}
/// serializable::<String>();
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    value: String,
    source: SecretSource,
}

/// Where a secret was read from; shown by `check-config` instead of the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// Written in the configuration file itself.
    Inline,
    /// Read from this environment variable.
    Env(String),
    /// Read from this file (absolute, or relative to the working directory).
    File(PathBuf),
    /// Built by the connector from other settings (e.g. the SIGNL4 webhook URL from the team
    /// secret and the SIGNL4 endpoint); carries the source of the secret it embeds.
    Derived(Box<SecretSource>),
}

impl Secret {
    /// Wraps a value read from `source`.
    pub fn new(value: impl Into<String>, source: SecretSource) -> Self {
        Secret {
            value: value.into(),
            source,
        }
    }

    /// The value. Call it only where the value goes on the wire.
    pub fn expose(&self) -> &str {
        &self.value
    }

    /// Where the value came from.
    pub fn source(&self) -> &SecretSource {
        &self.source
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Inline => f.write_str("inline"),
            SecretSource::Env(name) => write!(f, "env {name}"),
            SecretSource::File(path) => write!(f, "file {}", path.display()),
            SecretSource::Derived(inner) => write!(f, "derived from {inner}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_never_shows_the_value() {
        let s = Secret::new("hunter2-very-secret", SecretSource::Env("S4_SECRET".into()));
        assert_eq!(format!("{s}"), "***");
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(format!("{s:#?}"), "***");
        assert_eq!(s.expose(), "hunter2-very-secret");
        assert_eq!(s.source().to_string(), "env S4_SECRET");
    }
}
