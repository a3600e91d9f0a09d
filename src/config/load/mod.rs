//! Loading: reads the file, parses it with positions, reads every table through
//! [`TableReader`], resolves secrets, applies defaults and cross-field rules, and returns either
//! a complete [`Config`] or every error found.
//!
//! Layout: this file reads the document and the top-level tables; one module per part of a
//! connector (`connector`, `signl4`, `sync`, `endpoints`), the listeners, the rules across
//! connectors (`unique`), single values (`scalars`) and `secrets`.
//!
//! Invariants: a `Config` is returned only when there is no error at all; secrets are read
//! from their environment variable or file here and nowhere else; the value of a secret key is
//! never put into a message.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::de::{DeTable, DeValue};
use uuid::Uuid;

use super::duration;
use super::endpoints::{Endpoints, SENTINEL_API_VERSIONS};
use super::enums::{
    one_of, AlertingScenario, Classification, ClassificationReason, Cloud, IncidentStatus,
    ReadSource, Severity,
};
use super::error::{ConfigError, ConfigErrors, ErrorKind};
use super::model::{
    AdminListener, Config, ConnectorConfig, EntraUser, Heartbeat, OnAcknowledge, OnClose,
    Signl4Config, Signl4Target, WebhookListener,
};
use super::reader::{Ctx, Env, Item, Span, TableReader};
use super::secret::{Secret, SecretSource};
use super::validate::{self, UrlRules};

mod connector;
mod endpoints;
mod listeners;
mod scalars;
mod secrets;
mod signl4;
mod sync;
mod unique;

use connector::read_connector;
use endpoints::read_endpoints;
use listeners::{read_admin, read_webhook};
use scalars::{checked, duration_key, req_guid, word, word_list};
use secrets::{non_empty, optional_secret, required_secret};
use signl4::read_signl4;
use sync::{read_on_acknowledge, read_on_close};
use unique::check_unique;

/// Default `data_dir` when the file sets none: relative to the working directory, like the
/// audit tool's `--data-dir` default. (A `data_dir` written in the file is relative to the
/// file's directory.)
pub const DEFAULT_DATA_DIR: &str = "sentinel-signl4-data";
/// Default webhook listener address.
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
/// Default admin listener address: loopback, so status and metrics are not exposed unless the
/// operator says so.
pub const DEFAULT_ADMIN_BIND: &str = "127.0.0.1:9464";
/// Default time between heartbeats.
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(60);
/// Default time a store commit may be outstanding before `/healthz` fails.
pub const DEFAULT_STALL_LIMIT: Duration = Duration::from_secs(30);
/// Default time a store commit may be outstanding before the watchdog aborts the process.
pub const DEFAULT_ABORT_AFTER: Duration = Duration::from_secs(120);
/// Default first-start lookback.
pub const DEFAULT_LOOKBACK: Duration = Duration::from_secs(24 * 3600);
/// Default poll interval.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(60);
/// Default watermark overlap.
pub const DEFAULT_POLL_OVERLAP: Duration = Duration::from_secs(5 * 60);
/// Default time between sweeps of the whole lookback window (the actors' default).
pub const DEFAULT_SWEEP_INTERVAL: Duration = actors::settings::DEFAULT_SWEEP_INTERVAL;
/// Default tag.
pub const DEFAULT_TAG: &str = "SIGNL4";
/// Default classification comment written on close.
pub const DEFAULT_CLOSE_COMMENT: &str = "Closed in SIGNL4";
/// Default `$top` of a listing page.
pub const DEFAULT_PAGE_SIZE: u32 = 200;
/// Default enrichment deadline.
pub const DEFAULT_ENRICHMENT_DEADLINE: Duration = Duration::from_secs(30);
/// Default number of incidents enriched at once.
pub const DEFAULT_ENRICHMENT_CONCURRENCY: usize = 4;
/// Default of `signl4.poll_interval` (the REST polling fallback, when `poll_status` is on).
pub const DEFAULT_SIGNL4_POLL_INTERVAL: Duration = Duration::from_secs(60);

/// Loads and validates `path`, reading secrets from the process environment.
pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigErrors> {
    load_with(path, &Env::process())
}

/// Loads and validates `path`, reading secret environment variables from `env`.
pub fn load_with(path: impl AsRef<Path>, env: &Env) -> Result<Config, ConfigErrors> {
    let path = path.as_ref();
    match std::fs::read_to_string(path) {
        Ok(text) => parse_str(&text, path, env).map(|mut config| {
            if let Some(w) = world_readable_inline_secrets(path, &config) {
                config.warnings.push(w);
            }
            config
        }),
        Err(e) => {
            // Readable but not text is a bad file (exit 1), not an unreadable one (exit 2).
            let (kind, message) = if e.kind() == std::io::ErrorKind::InvalidData {
                (ErrorKind::Syntax, "the file is not UTF-8 text".to_string())
            } else {
                (
                    ErrorKind::Unreadable,
                    format!("cannot read the configuration file: {e}"),
                )
            };
            Err(ConfigErrors {
                errors: vec![ConfigError {
                    file: path.to_path_buf(),
                    line: None,
                    column: None,
                    key: String::new(),
                    kind,
                    message,
                }],
            })
        }
    }
}

/// A warning when the file holds secrets inline and every user of the machine may read it.
fn world_readable_inline_secrets(path: &Path, config: &Config) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let inline = config.connectors.iter().any(|c| {
            let mut secrets = vec![&c.client_secret];
            secrets.extend(c.signl4.api_key.as_ref());
            secrets.extend(c.webhook_token.as_ref());
            secrets.push(match &c.signl4.target {
                Signl4Target::TeamSecret(s) | Signl4Target::WebhookUrl(s) => s,
            });
            secrets.iter().any(|s| *s.source() == SecretSource::Inline)
        });
        let mode = std::fs::metadata(path).ok()?.permissions().mode();
        (inline && mode & 0o004 != 0).then(|| {
            format!(
                "{} holds secrets inline and is readable by every user (mode {:o}); chmod 600 \
                 it, or move the secrets to *_env / *_file keys",
                path.display(),
                mode & 0o777
            )
        })
    }
    #[cfg(not(unix))]
    {
        let _ = (path, config);
        None
    }
}

/// Validates `text` as if read from `file` (used for positions in messages and to resolve
/// relative paths).
pub fn parse_str(text: &str, file: &Path, env: &Env) -> Result<Config, ConfigErrors> {
    let mut ctx = Ctx::new(file, text, env);
    let (doc, syntax) = DeTable::parse_recoverable(text);
    if !syntax.is_empty() {
        for e in syntax {
            // Only the parser's message, never its rendering: that quotes the line, which may
            // hold a secret.
            let span = e.span();
            let key = span.as_ref().map_or("", |s| key_on_line(text, s.start));
            ctx.error(
                span.as_ref(),
                key,
                ErrorKind::Syntax,
                format!("invalid TOML: {}", e.message().trim()),
            );
        }
        return Err(errors(ctx));
    }
    let config = read_config(&mut ctx, doc.get_ref());
    if ctx.has_errors() {
        return Err(errors(ctx));
    }
    let (_, warnings) = ctx.into_errors();
    Ok(Config { warnings, ..config })
}

/// Every key name the file format has: a syntax error names the key of its line only when it
/// is one of these, so that a fragment of a broken secret line is never taken for a key.
#[rustfmt::skip]
const KEY_NAMES: &[&str] = &[
    "data_dir", "webhook", "admin", "bind", "public_base_url", "connector", "name", "tenant_id",
    "subscription_id", "client_id", "client_secret", "client_secret_env", "client_secret_file",
    "resource_group", "workspace_name", "workspace_id", "read_source", "statuses", "severities",
    "lookback", "poll_interval", "poll_overlap", "sweep_interval", "page_size", "enrichment_deadline",
    "enrichment_concurrency", "resolve_on_sentinel_close", "tag", "webhook_token",
    "webhook_token_env", "webhook_token_file", "on_acknowledge", "set_active", "assign_owner",
    "on_close", "classification", "classification_reason", "classification_comment", "user_map",
    "signl4", "team_secret", "team_secret_env", "team_secret_file", "webhook_url",
    "webhook_url_env", "webhook_url_file", "api_key", "api_key_env", "api_key_file",
    "alerting_scenario", "service", "endpoints", "cloud", "authority_host", "arm", "log_analytics",
    "graph", "sentinel_api_version", "ack_signl_on_sentinel_owner", "comments_to_signl4",
    "poll_status", "signl4_cl", "client_secret_expires",
    "heartbeat_url", "heartbeat_url_env", "heartbeat_url_file", "heartbeat_interval",
    "stall_limit", "abort_after", "enabled", "endpoint", "dcr_immutable_id", "stream", "interval",
    "sentinel_budget", "incident_writes", "comment_writes", "reads", "window",
];

/// The key written at the start of the line holding `offset` (`key = ...`), to name it in a
/// syntax error; only a known key name (see [`KEY_NAMES`]), never anything else of the line.
fn key_on_line(text: &str, offset: usize) -> &str {
    // `get` rather than slicing: an offset inside a character must not panic.
    let before = text.get(..offset).unwrap_or(text);
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = text[start..].lines().next().unwrap_or("");
    match line.split_once('=') {
        Some((key, _)) => {
            let key = key.trim();
            let known = key.split('.').all(|part| KEY_NAMES.contains(&part));
            if known {
                key
            } else {
                ""
            }
        }
        None => "",
    }
}

fn errors(ctx: Ctx) -> ConfigErrors {
    ConfigErrors {
        errors: ctx.into_errors().0,
    }
}

fn read_config(ctx: &mut Ctx, doc: &DeTable) -> Config {
    let mut root = TableReader::new(doc, 0..0, String::new());

    let data_dir = match ctx.opt_str(&mut root, "data_dir") {
        Some((s, item)) if s.trim().is_empty() => {
            ctx.error(
                Some(&item.span),
                &item.path,
                ErrorKind::Invalid,
                "empty; expected the directory of the event log",
            );
            PathBuf::new()
        }
        Some((s, _)) => ctx.base_dir.join(s),
        // Not a path written in the file: the audit tool's default (`--data-dir`), so that
        // `run` and `audit` started in the same directory find the same log.
        None => PathBuf::from(DEFAULT_DATA_DIR),
    };

    let webhook = match ctx.opt_table(&mut root, "webhook") {
        Some(mut t) => {
            let w = read_webhook(ctx, &mut t);
            ctx.finish(t);
            w
        }
        None => WebhookListener {
            bind: DEFAULT_BIND.parse().expect("default bind parses"),
            public_base_url: None,
        },
    };

    let admin = match ctx.opt_table(&mut root, "admin") {
        Some(mut t) => {
            let admin = read_admin(ctx, &mut t);
            ctx.finish(t);
            admin
        }
        None => AdminListener {
            bind: DEFAULT_ADMIN_BIND
                .parse()
                .expect("default admin bind parses"),
            stall_limit: DEFAULT_STALL_LIMIT,
            abort_after: DEFAULT_ABORT_AFTER,
        },
    };

    let mut connectors = Vec::new();
    let mut names = Vec::new();
    match root.get("connector") {
        None => ctx.error(
            None,
            "connector",
            ErrorKind::Missing,
            "no connector is configured; expected at least one [[connector]] table",
        ),
        Some(item) => match item.value {
            DeValue::Array(array) if !array.is_empty() => {
                for (i, element) in array.iter().enumerate() {
                    let path = format!("connector[{i}]");
                    match element.get_ref() {
                        DeValue::Table(table) => {
                            // Names are compared even when the rest of a connector is broken.
                            if let Some(DeValue::String(n)) = table.get("name").map(|v| v.get_ref())
                            {
                                let span = table.get("name").map(|v| v.span()).unwrap_or_default();
                                names.push((n.to_string(), span, i));
                            }
                            let mut t = TableReader::new(table, element.span(), path);
                            if let Some(c) = read_connector(ctx, &mut t) {
                                connectors.push((c, element.span(), i));
                            }
                            ctx.finish(t);
                        }
                        _ => ctx.error(
                            Some(&element.span()),
                            &path,
                            ErrorKind::WrongType,
                            "expected a [[connector]] table",
                        ),
                    }
                }
            }
            DeValue::Array(_) => ctx.error(
                Some(&item.span),
                &item.path,
                ErrorKind::Missing,
                "no connector is configured; expected at least one [[connector]] table",
            ),
            _ => ctx.wrong_type(
                &item,
                "an array of tables (write [[connector]], with double brackets)",
            ),
        },
    }
    ctx.finish(root);

    check_unique(ctx, &names, &connectors);
    Config {
        file: ctx.file.to_path_buf(),
        data_dir,
        webhook,
        admin,
        connectors: connectors.into_iter().map(|(c, _, _)| c).collect(),
        warnings: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names_cover_every_key_of_the_fixtures() {
        let files = [
            include_str!("../../../tests/fixtures/config/full.toml"),
            include_str!("../../../tests/fixtures/config/minimal.toml"),
        ];
        for line in files.iter().flat_map(|f| f.lines()) {
            let line = line.trim();
            if let Some(table) = line.strip_prefix('[') {
                for part in table.trim_matches(['[', ']']).split('.') {
                    assert!(KEY_NAMES.contains(&part), "{part}");
                }
            } else if let Some((key, _)) = line.split_once('=') {
                let key = key.trim();
                if !key.starts_with('"') && !key.starts_with('#') {
                    assert!(KEY_NAMES.contains(&key), "{key} is missing from KEY_NAMES");
                }
            }
        }
    }

    #[test]
    fn syntax_errors_name_the_bare_key_of_their_line_only() {
        let text = "a = 1\nclient_secret = \"x\nsignl4.api_key = 2\n[t]\nab=cd\"\n";
        assert_eq!(key_on_line(text, 8), "client_secret");
        assert_eq!(
            key_on_line(text, text.find("signl4.").unwrap() + 4),
            "signl4.api_key"
        );
        assert_eq!(key_on_line(text, text.find("[t]").unwrap()), "");
        // The tail of a secret broken over two lines is not a key.
        assert_eq!(key_on_line(text, text.find("ab=").unwrap()), "");
        // Offsets inside a character or past the end do not panic.
        assert_eq!(key_on_line("tag = \"é\"", 8), "tag");
        assert_eq!(key_on_line("tag = 1", 99), "tag");
    }
}
