//! Logging setup. Logs go to stderr so that stdout carries only a command's output (tables, JSON
//! lines) and can be piped. `RUST_LOG` overrides the level; `--log-json` switches to JSON lines.
//!
//! Invariant: nothing logged here or anywhere else carries a secret; secrets are never put in
//! fields or messages in the first place (see the config module when it lands).

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls do nothing.
pub fn init(default_level: &str, json: bool) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
