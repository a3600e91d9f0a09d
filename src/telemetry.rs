//! Logging setup. Logs go to stderr so that stdout carries only a command's output (tables, JSON
//! lines) and can be piped. `RUST_LOG` overrides the level; `--log-json` switches to JSON lines.
//!
//! Invariants:
//! - Nothing logged here or anywhere else carries a secret; secrets are never put in fields or
//!   messages in the first place (see the config module).
//! - ANSI colours only when stderr is a terminal: a journal or a log file gets plain text.
//! - sled's own chatter (it logs through the `log` crate at debug and info) and actix-server's
//!   worker start/stop lines are cut to warnings unless `RUST_LOG` names them explicitly.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls do nothing.
pub fn init(default_level: &str, json: bool) {
    let wanted = std::env::var("RUST_LOG").unwrap_or_else(|_| default_level.to_string());
    let filter = EnvFilter::try_new(filter_directives(&wanted))
        .unwrap_or_else(|_| EnvFilter::new(filter_directives(default_level)));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Libraries whose own logs are cut to warnings by default.
const QUIET: [&str; 2] = ["sled", "actix_server"];

/// `wanted` plus `LIB=warn` for each [`QUIET`] library that `wanted` does not mention.
pub fn filter_directives(wanted: &str) -> String {
    let mut parts: Vec<String> = wanted
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(String::from)
        .collect();
    for lib in QUIET {
        if !wanted.contains(lib) {
            parts.push(format!("{lib}=warn"));
        }
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::filter_directives;

    #[test]
    fn sled_is_quiet_unless_asked_for() {
        assert_eq!(
            filter_directives("debug"),
            "debug,sled=warn,actix_server=warn"
        );
        assert_eq!(
            filter_directives("info,sled=debug"),
            "info,sled=debug,actix_server=warn"
        );
        assert_eq!(filter_directives(""), "sled=warn,actix_server=warn");
    }
}
