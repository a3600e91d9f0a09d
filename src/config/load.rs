//! Loading: reads the file, parses it with positions, reads every table through
//! [`TableReader`], resolves secrets, applies defaults and cross-field rules, and returns either
//! a complete [`Config`] or every error found.
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
/// Largest secret file read (a larger file is the wrong file).
const MAX_SECRET_FILE: u64 = 64 * 1024;

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

fn read_webhook(ctx: &mut Ctx, t: &mut TableReader) -> WebhookListener {
    let bind = read_bind(ctx, t, DEFAULT_BIND);
    let public_base_url = ctx.opt_str(t, "public_base_url").and_then(|(s, item)| {
        if s.is_empty() {
            return None;
        }
        let rules = UrlRules {
            secret: false,
            allow_query: false,
        };
        validate::url(&s, rules)
            .map_err(|m| ctx.error(Some(&item.span), &item.path, ErrorKind::Invalid, m))
            .ok()
    });
    WebhookListener {
        bind,
        public_base_url,
    }
}

/// `[admin]`: `bind`, and the watchdog's `stall_limit` and `abort_after` (not shorter than
/// `stall_limit`, so `/healthz` fails before the process aborts).
fn read_admin(ctx: &mut Ctx, t: &mut TableReader) -> AdminListener {
    let bind = read_bind(ctx, t, DEFAULT_ADMIN_BIND);
    let stall_span = t
        .get("stall_limit")
        .map(|i| (i.span.clone(), i.path.clone()));
    let stall_limit = duration_key(ctx, t, "stall_limit", DEFAULT_STALL_LIMIT, true)
        .unwrap_or(DEFAULT_STALL_LIMIT);
    let abort_span = t
        .get("abort_after")
        .map(|i| (i.span.clone(), i.path.clone()));
    let abort_after = duration_key(ctx, t, "abort_after", DEFAULT_ABORT_AFTER, true)
        .unwrap_or(DEFAULT_ABORT_AFTER);
    if abort_after < stall_limit {
        let (span, path) = abort_span
            .or(stall_span)
            .unwrap_or((0..0, "admin.abort_after".to_string()));
        ctx.error(
            Some(&span),
            &path,
            ErrorKind::Invalid,
            format!(
                "abort_after ({}) is shorter than stall_limit ({}); expected at least as long, so \
                 /healthz fails before the watchdog aborts",
                super::format_duration(abort_after),
                super::format_duration(stall_limit)
            ),
        );
    }
    AdminListener {
        bind,
        stall_limit,
        abort_after,
    }
}

/// The `bind` key of a listener table (`[webhook]`, `[admin]`): a socket address.
fn read_bind(ctx: &mut Ctx, t: &mut TableReader, default: &str) -> SocketAddr {
    match ctx.opt_str(t, "bind") {
        Some((s, item)) => match s.trim().parse::<SocketAddr>() {
            Ok(addr) => addr,
            Err(_) => {
                ctx.error(
                    Some(&item.span),
                    &item.path,
                    ErrorKind::Invalid,
                    format!(
                        "{s:?} is not a socket address; expected IP:port like \"127.0.0.1:8080\" \
                         or \"[::]:8080\""
                    ),
                );
                default.parse().expect("default bind parses")
            }
        },
        None => default.parse().expect("default bind parses"),
    }
}

/// Reads one `[[connector]]`; `None` when a required part is unusable (errors recorded).
fn read_connector(ctx: &mut Ctx, t: &mut TableReader) -> Option<ConnectorConfig> {
    let name = ctx
        .req_str(t, "name", "a unique connector name such as \"contoso\"")
        .and_then(|(s, item)| checked(ctx, &item, validate::name(&s)));
    let tenant_id = req_guid(ctx, t, "tenant_id", "the Entra tenant id (a GUID)");
    let subscription_id = req_guid(ctx, t, "subscription_id", "the Azure subscription id");
    let client_id = req_guid(ctx, t, "client_id", "the app registration's client id");
    let client_secret = required_secret(
        ctx,
        t,
        ["client_secret", "client_secret_env", "client_secret_file"],
        "the app's client secret",
    );
    let resource_group = ctx
        .req_str(t, "resource_group", "the workspace's resource group")
        .and_then(|(s, item)| checked(ctx, &item, validate::resource_group(&s)));
    let workspace_name = ctx
        .req_str(t, "workspace_name", "the Log Analytics workspace name")
        .and_then(|(s, item)| checked(ctx, &item, validate::workspace_name(&s)));
    let workspace_id = match ctx.opt_str(t, "workspace_id") {
        Some((s, _)) if s.trim().is_empty() => Some(None),
        Some((s, item)) => checked(ctx, &item, validate::guid(&s)).map(Some),
        None => Some(None),
    };
    let read_source = word(
        ctx,
        t,
        "read_source",
        ReadSource::parse,
        ReadSource::expected,
    )
    .map(|v| v.unwrap_or(ReadSource::Sentinel));
    let statuses = word_list(
        ctx,
        t,
        "statuses",
        IncidentStatus::parse,
        IncidentStatus::expected,
        &[IncidentStatus::New],
    );
    let severities = word_list(
        ctx,
        t,
        "severities",
        Severity::parse,
        Severity::expected,
        Severity::ALL,
    );
    let lookback = duration_key(ctx, t, "lookback", DEFAULT_LOOKBACK, false);
    let poll_interval = duration_key(ctx, t, "poll_interval", DEFAULT_POLL_INTERVAL, true);
    let poll_overlap = duration_key(ctx, t, "poll_overlap", DEFAULT_POLL_OVERLAP, false);
    let sweep_interval = duration_key(ctx, t, "sweep_interval", DEFAULT_SWEEP_INTERVAL, true);
    let page_size = match ctx.opt_int(t, "page_size", 1..=1000) {
        None => Some(DEFAULT_PAGE_SIZE),
        Some(r) => r.ok().map(|v| v as u32),
    };
    let enrichment_deadline = duration_key(
        ctx,
        t,
        "enrichment_deadline",
        DEFAULT_ENRICHMENT_DEADLINE,
        false,
    );
    let enrichment_concurrency = match ctx.opt_int(t, "enrichment_concurrency", 1..=5) {
        None => Some(DEFAULT_ENRICHMENT_CONCURRENCY),
        Some(r) => r.ok().map(|v| v as usize),
    };
    let resolve_on_sentinel_close = ctx.opt_bool(t, "resolve_on_sentinel_close").unwrap_or(true);
    let ack_signl_on_sentinel_owner = ctx
        .opt_bool(t, "ack_signl_on_sentinel_owner")
        .unwrap_or(true);
    let comments_to_signl4 = ctx.opt_bool(t, "comments_to_signl4").unwrap_or(true);
    let tag_written = t.contains("tag");
    let tag = match ctx.opt_str(t, "tag") {
        Some((s, _)) if s.trim().is_empty() => None,
        Some((s, _)) => Some(s.trim().to_string()),
        None => Some(DEFAULT_TAG.to_string()),
    };
    let client_secret_expires = read_date(ctx, t, "client_secret_expires");
    let heartbeat = read_heartbeat(ctx, t);
    let on_acknowledge = read_on_acknowledge(ctx, t);
    let on_close = read_on_close(ctx, t);
    let user_map = read_user_map(ctx, t);
    let signl4 = match ctx.opt_table(t, "signl4") {
        Some(mut s) => {
            let r = read_signl4(ctx, &mut s);
            ctx.finish(s);
            r
        }
        None => {
            if !t.contains("signl4") {
                ctx.missing(
                    t,
                    "signl4",
                    "a [connector.signl4] table with team_secret (or team_secret_env, \
                     team_secret_file or webhook_url)",
                );
            }
            None
        }
    };
    let endpoints = read_endpoints(ctx, t);
    let signl4_cl = super::signl4_cl::read(ctx, t);
    let sentinel_budget = super::budget::read(ctx, t, name.as_deref());
    let webhook_token = optional_secret(
        ctx,
        t,
        ["webhook_token", "webhook_token_env", "webhook_token_file"],
    )
    .and_then(|found| match found {
        Some((secret, item)) => {
            let ok = non_empty(ctx, &item, &secret, "the webhook token")?;
            checked(ctx, &item, validate::webhook_token(ok.expose())).map(|()| Some(ok))
        }
        None => Some(None),
    });

    let name = name?;
    if let (Some(sweep), Some(poll)) = (sweep_interval, poll_interval) {
        if sweep < poll {
            ctx.warnings.push(format!(
                "{}: connector {name:?} has a sweep_interval shorter than its poll_interval, so \
                 every poll lists the whole lookback window",
                t.path
            ));
        }
    }
    // Graph alerts have no labels to tag; the key is ignored there (and said so when written).
    let tag = match read_source {
        Some(ReadSource::Graph) => {
            if tag_written && tag.is_some() {
                ctx.warnings.push(format!(
                    "{}: connector {name:?} reads Microsoft Graph alerts, which have no labels; \
                     its tag is not written",
                    t.path
                ));
            }
            None
        }
        _ => tag,
    };
    if matches!(webhook_token, Some(None)) {
        ctx.warnings.push(format!(
            "{}: connector {name:?} has no webhook_token, so SIGNL4 acknowledgements, closes \
             and notes will not reach Sentinel (one-way Sentinel -> SIGNL4)",
            t.path
        ));
    }
    Some(ConnectorConfig {
        name,
        tenant_id: tenant_id?,
        subscription_id: subscription_id?,
        client_id: client_id?,
        client_secret: client_secret?,
        resource_group: resource_group?,
        workspace_name: workspace_name?,
        workspace_id: workspace_id?,
        read_source: read_source?,
        statuses: statuses?,
        severities: severities?,
        lookback: lookback?,
        poll_interval: poll_interval?,
        poll_overlap: poll_overlap?,
        sweep_interval: sweep_interval?,
        page_size: page_size?,
        enrichment_deadline: enrichment_deadline?,
        enrichment_concurrency: enrichment_concurrency?,
        resolve_on_sentinel_close,
        ack_signl_on_sentinel_owner,
        comments_to_signl4,
        tag,
        on_acknowledge: on_acknowledge?,
        on_close: on_close?,
        user_map: user_map?,
        signl4: signl4?,
        endpoints: endpoints?,
        webhook_token: webhook_token?,
        signl4_cl: signl4_cl?,
        client_secret_expires,
        heartbeat: heartbeat?,
        sentinel_budget: sentinel_budget?,
    })
}

/// `heartbeat_url` (a secret: such URLs often embed one; `_env` and `_file` work too) and
/// `heartbeat_interval`; `Some(None)` when no URL is configured, `None` on an error.
fn read_heartbeat(ctx: &mut Ctx, t: &mut TableReader) -> Option<Option<Heartbeat>> {
    let interval = duration_key(
        ctx,
        t,
        "heartbeat_interval",
        DEFAULT_HEARTBEAT_INTERVAL,
        true,
    );
    let url = optional_secret(
        ctx,
        t,
        ["heartbeat_url", "heartbeat_url_env", "heartbeat_url_file"],
    )?;
    let Some((secret, item)) = url else {
        return Some(None);
    };
    if secret.expose().is_empty() {
        return Some(None);
    }
    let rules = UrlRules {
        secret: true,
        allow_query: true,
    };
    let url = checked(ctx, &item, validate::url(secret.expose(), rules))?;
    Some(Some(Heartbeat {
        url: Secret::new(String::from(url), secret.source().clone()),
        interval: interval?,
    }))
}

/// An optional date key: a TOML date (`2027-06-30`) or the same as a string.
fn read_date(ctx: &mut Ctx, t: &mut TableReader, key: &'static str) -> Option<chrono::NaiveDate> {
    let item = t.get(key)?;
    let text = match item.value {
        DeValue::String(s) => s.to_string(),
        DeValue::Datetime(d) if d.date.is_some() && d.time.is_none() => d.to_string(),
        _ => {
            ctx.wrong_type(&item, "a date like 2027-06-30");
            return None;
        }
    };
    match chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d") {
        Ok(date) => Some(date),
        Err(_) => {
            ctx.error(
                Some(&item.span),
                &item.path,
                ErrorKind::Invalid,
                format!("{text:?} is not a date; expected YYYY-MM-DD like 2027-06-30"),
            );
            None
        }
    }
}

fn read_on_acknowledge(ctx: &mut Ctx, t: &mut TableReader) -> Option<OnAcknowledge> {
    let Some(mut a) = ctx.opt_table(t, "on_acknowledge") else {
        return (!t.contains("on_acknowledge")).then_some(OnAcknowledge {
            set_active: true,
            assign_owner: true,
        });
    };
    let result = OnAcknowledge {
        set_active: ctx.opt_bool(&mut a, "set_active").unwrap_or(true),
        assign_owner: ctx.opt_bool(&mut a, "assign_owner").unwrap_or(true),
    };
    ctx.finish(a);
    Some(result)
}

fn read_on_close(ctx: &mut Ctx, t: &mut TableReader) -> Option<OnClose> {
    let Some(mut c) = ctx.opt_table(t, "on_close") else {
        return (!t.contains("on_close")).then_some(OnClose {
            classification: Classification::Undetermined,
            classification_reason: None,
            classification_comment: Some(DEFAULT_CLOSE_COMMENT.to_string()),
            assign_owner: false,
        });
    };
    let classification = word(
        ctx,
        &mut c,
        "classification",
        Classification::parse,
        Classification::expected,
    )
    .map(|v| v.unwrap_or(Classification::Undetermined));
    let reason_item = c.get("classification_reason").map(|i| i.span);
    let reason = word(
        ctx,
        &mut c,
        "classification_reason",
        ClassificationReason::parse,
        ClassificationReason::expected,
    );
    let comment = match ctx.opt_str(&mut c, "classification_comment") {
        Some((s, _)) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        None => Some(DEFAULT_CLOSE_COMMENT.to_string()),
    };
    let assign_owner = ctx.opt_bool(&mut c, "assign_owner").unwrap_or(false);
    let (classification, reason) = (classification?, reason?);

    // Sentinel refuses to close with a reason that does not match the classification
    // (azure-apis.md §2.6); catching it here beats a 400 on the first close.
    let allowed = classification.allowed_reasons();
    let path = c.child_path("classification_reason");
    match reason {
        None if !allowed.is_empty() => {
            let span = c.span.clone();
            ctx.error(
                Some(&span),
                &path,
                ErrorKind::Conflict,
                format!(
                    "classification {classification} needs a classification_reason; expected {}",
                    one_of(allowed.iter().map(|r| r.as_str()))
                ),
            );
            ctx.finish(c);
            return None;
        }
        Some(r) if !allowed.contains(&r) => {
            let expected = if allowed.is_empty() {
                "none (remove classification_reason)".to_string()
            } else {
                one_of(allowed.iter().map(|r| r.as_str()))
            };
            ctx.error(
                reason_item.as_ref(),
                &path,
                ErrorKind::Conflict,
                format!(
                    "classification_reason {r} does not go with classification {classification}; \
                     expected {expected}"
                ),
            );
            ctx.finish(c);
            return None;
        }
        _ => {}
    }
    ctx.finish(c);
    Some(OnClose {
        classification,
        classification_reason: reason,
        classification_comment: comment,
        assign_owner,
    })
}

fn read_user_map(ctx: &mut Ctx, t: &mut TableReader) -> Option<BTreeMap<String, EntraUser>> {
    let Some(m) = ctx.opt_table(t, "user_map") else {
        return (!t.contains("user_map")).then(BTreeMap::new);
    };
    let mut map = BTreeMap::new();
    let mut ok = true;
    let entries: Vec<_> = m.entries().collect();
    for (email, key_span, item) in entries {
        if !email.contains('@') || email.trim() != email {
            ctx.error(
                Some(&key_span),
                &item.path,
                ErrorKind::Invalid,
                format!("{email:?} is not an email address; expected the SIGNL4 user's email"),
            );
            ok = false;
            continue;
        }
        let Some(target) = ctx.as_str(&item) else {
            ok = false;
            continue;
        };
        let user = if let Ok(id) = Uuid::parse_str(target.trim()) {
            EntraUser::ObjectId(id)
        } else if target.contains('@') && !target.trim().contains(' ') {
            EntraUser::Upn(target.trim().to_string())
        } else {
            ctx.error(
                Some(&item.span),
                &item.path,
                ErrorKind::Invalid,
                format!(
                    "{target:?} is neither a user principal name nor an object id; expected \
                     \"user@tenant.example\" or a GUID"
                ),
            );
            ok = false;
            continue;
        };
        if map.insert(email.to_lowercase(), user).is_some() {
            ctx.error(
                Some(&key_span),
                &item.path,
                ErrorKind::Duplicate,
                format!("{email:?} is mapped twice (emails are compared without case)"),
            );
            ok = false;
        }
    }
    ok.then_some(map)
}

fn read_signl4(ctx: &mut Ctx, s: &mut TableReader) -> Option<Signl4Config> {
    let team = optional_secret(
        ctx,
        s,
        ["team_secret", "team_secret_env", "team_secret_file"],
    );
    let url = optional_secret(
        ctx,
        s,
        ["webhook_url", "webhook_url_env", "webhook_url_file"],
    );
    let target = match (team, url) {
        (Some(Some((secret, item))), Some(None)) => {
            non_empty(ctx, &item, &secret, "the team secret")
                .and_then(|secret| {
                    checked(ctx, &item, validate::team_secret(secret.expose())).map(|()| secret)
                })
                .map(Signl4Target::TeamSecret)
        }
        (Some(None), Some(Some((secret, item)))) => {
            non_empty(ctx, &item, &secret, "the webhook URL").and_then(|secret| {
                let rules = UrlRules {
                    secret: true,
                    allow_query: true,
                };
                checked(ctx, &item, validate::url(secret.expose(), rules)).map(|url| {
                    Signl4Target::WebhookUrl(Secret::new(
                        String::from(url),
                        secret.source().clone(),
                    ))
                })
            })
        }
        (Some(None), Some(None)) => {
            ctx.missing(
                s,
                "team_secret",
                "one of team_secret, team_secret_env, team_secret_file or webhook_url",
            );
            None
        }
        (Some(Some((_, item))), Some(Some(_))) => {
            ctx.error(
                Some(&item.span),
                &item.path,
                ErrorKind::Conflict,
                "both a team secret and a webhook URL are set; expected only one of them",
            );
            None
        }
        _ => None,
    };
    let api_key =
        optional_secret(ctx, s, ["api_key", "api_key_env", "api_key_file"]).and_then(|found| {
            match found {
                // An empty inline key means "no API key", as the sandbox and templates write it.
                Some((secret, _))
                    if secret.expose().is_empty() && *secret.source() == SecretSource::Inline =>
                {
                    Some(None)
                }
                Some((secret, item)) => non_empty(ctx, &item, &secret, "the API key").map(Some),
                None => Some(None),
            }
        });
    let alerting_scenario = match ctx.opt_str(s, "alerting_scenario") {
        Some((v, _)) if v.trim().is_empty() => Some(None),
        Some((v, item)) => match AlertingScenario::parse(&v) {
            Some(a) => Some(Some(a)),
            None => {
                ctx.error(
                    Some(&item.span),
                    &item.path,
                    ErrorKind::Invalid,
                    format!(
                        "unknown alerting scenario {v:?}; expected one of {}, or \"\" for the \
                         team's default",
                        AlertingScenario::expected()
                    ),
                );
                None
            }
        },
        None => Some(None),
    };
    let service = ctx
        .opt_str(s, "service")
        .map(|(v, _)| v.trim().to_string())
        .filter(|v| !v.is_empty());
    let poll_span = s.get("poll_status").map(|i| i.span);
    let poll_status = ctx.opt_bool(s, "poll_status").unwrap_or(false);
    let poll_interval = duration_key(ctx, s, "poll_interval", DEFAULT_SIGNL4_POLL_INTERVAL, true);
    let status_poll = match (poll_status, &api_key) {
        (false, _) => Some(None),
        // No key at all, or an empty inline one: polling has nothing to authenticate with.
        (true, Some(None)) => {
            ctx.error(
                poll_span.as_ref(),
                &s.child_path("poll_status"),
                ErrorKind::Conflict,
                "poll_status = true needs the SIGNL4 REST API key; expected api_key, api_key_env \
                 or api_key_file in this table, or poll_status = false",
            );
            None
        }
        (true, _) => poll_interval.map(Some),
    };
    Some(Signl4Config {
        target: target?,
        api_key: api_key?,
        alerting_scenario: alerting_scenario?,
        service,
        status_poll: status_poll?,
    })
}

fn read_endpoints(ctx: &mut Ctx, t: &mut TableReader) -> Option<Endpoints> {
    let Some(mut e) = ctx.opt_table(t, "endpoints") else {
        return (!t.contains("endpoints")).then(|| Endpoints::for_cloud(Cloud::Public));
    };
    let cloud = word(ctx, &mut e, "cloud", Cloud::parse, Cloud::expected);
    let mut ok = cloud.is_some();
    let mut endpoints = Endpoints::for_cloud(cloud.flatten().unwrap_or(Cloud::Public));
    for key in ["authority_host", "arm", "log_analytics", "graph", "signl4"] {
        let Some((s, item)) = ctx.opt_str(&mut e, key) else {
            continue;
        };
        let rules = UrlRules {
            secret: false,
            allow_query: false,
        };
        match checked(ctx, &item, validate::url(&s, rules)) {
            Some(url) => {
                let slot = match key {
                    "authority_host" => &mut endpoints.authority_host,
                    "arm" => &mut endpoints.arm,
                    "log_analytics" => &mut endpoints.log_analytics,
                    "graph" => &mut endpoints.graph,
                    _ => &mut endpoints.signl4,
                };
                *slot = url;
            }
            None => ok = false,
        }
    }
    if let Some((v, item)) = ctx.opt_str(&mut e, "sentinel_api_version") {
        let v = v.trim().to_string();
        if SENTINEL_API_VERSIONS.contains(&v.as_str()) {
            endpoints.sentinel_api_version = v;
        } else {
            ctx.error(
                Some(&item.span),
                &item.path,
                ErrorKind::Invalid,
                format!(
                    "unsupported Sentinel api-version {v:?}; expected a stable version: {}",
                    one_of(SENTINEL_API_VERSIONS.iter().copied())
                ),
            );
            ok = false;
        }
    }
    ctx.finish(e);
    ok.then_some(endpoints)
}

/// Connector names (case-insensitively) and webhook tokens must be unique; the same workspace
/// twice is allowed (e.g. split by severity to two teams) but warned about.
fn check_unique(
    ctx: &mut Ctx,
    names: &[(String, Span, usize)],
    connectors: &[(ConnectorConfig, Span, usize)],
) {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (name, span, i) in names {
        match seen.get(&name.to_lowercase()) {
            Some(first) => ctx.error(
                Some(span),
                &format!("connector[{i}].name"),
                ErrorKind::Duplicate,
                format!(
                    "connector name {name:?} is already used by connector[{first}]; names must \
                     be unique (ignoring case): each keys its own tenant stream in the event log"
                ),
            ),
            None => {
                seen.insert(name.to_lowercase(), *i);
            }
        }
    }
    let mut tokens: HashMap<&str, usize> = HashMap::new();
    let mut workspaces: HashMap<(Uuid, String, String), usize> = HashMap::new();
    for (c, span, i) in connectors {
        if let Some(token) = &c.webhook_token {
            match tokens.get(token.expose()) {
                Some(first) => ctx.error(
                    Some(span),
                    &format!("connector[{i}].webhook_token"),
                    ErrorKind::Duplicate,
                    format!(
                        "the same webhook token is used by connector[{first}]; each connector \
                         needs its own"
                    ),
                ),
                None => {
                    tokens.insert(token.expose(), *i);
                }
            }
        }
        let ws = (
            c.subscription_id,
            c.resource_group.to_lowercase(),
            c.workspace_name.to_lowercase(),
        );
        match workspaces.get(&ws) {
            Some(first) => ctx.warnings.push(format!(
                "connector[{i}]: workspace {} is also read by connector[{first}]; each incident \
                 will be forwarded by both",
                c.workspace_name
            )),
            None => {
                workspaces.insert(ws, *i);
            }
        }
    }
    // One subscription, one budget (`http::budget` is per subscription): its connectors must
    // agree on it, a table not written counting as the defaults.
    let mut budgets: HashMap<Uuid, (&ConnectorConfig, usize)> = HashMap::new();
    for (c, span, i) in connectors {
        if c.read_source != ReadSource::Sentinel {
            continue; // Graph sources draw from the Graph budget
        }
        match budgets.get(&c.subscription_id) {
            Some((first, at)) => {
                let effective = |c: &ConnectorConfig| c.sentinel_budget.clone().unwrap_or_default();
                if effective(first) != effective(c) {
                    ctx.error(
                        Some(span),
                        &format!("connector[{i}].sentinel_budget"),
                        ErrorKind::Conflict,
                        format!(
                            "connector {:?} sets a different sentinel_budget than connector {:?} \
                             (connector[{at}]) for the same subscription {}; a subscription has \
                             one budget: write the same [connector.sentinel_budget] in both",
                            c.name, first.name, c.subscription_id
                        ),
                    );
                }
            }
            None => {
                budgets.insert(c.subscription_id, (c, *i));
            }
        }
    }
}

/// Records the message of a failed check at `item`.
fn checked<T>(ctx: &mut Ctx, item: &Item, result: Result<T, String>) -> Option<T> {
    result
        .map_err(|m| ctx.error(Some(&item.span), &item.path, ErrorKind::Invalid, m))
        .ok()
}

fn req_guid(ctx: &mut Ctx, t: &mut TableReader, key: &'static str, what: &str) -> Option<Uuid> {
    let (s, item) = ctx.req_str(t, key, what)?;
    checked(ctx, &item, validate::guid(&s))
}

/// An optional enum key: `None` = error recorded, `Some(None)` = absent.
fn word<T>(
    ctx: &mut Ctx,
    t: &mut TableReader,
    key: &'static str,
    parse: fn(&str) -> Option<T>,
    expected: fn() -> String,
) -> Option<Option<T>> {
    let Some((s, item)) = ctx.opt_str(t, key) else {
        return if t.contains(key) { None } else { Some(None) };
    };
    if s.trim().is_empty() {
        return Some(None);
    }
    match parse(&s) {
        Some(v) => Some(Some(v)),
        None => {
            ctx.error(
                Some(&item.span),
                &item.path,
                ErrorKind::Invalid,
                format!("unknown value {s:?}; expected {}", expected()),
            );
            None
        }
    }
}

/// An optional list of enum words, de-duplicated, never empty.
fn word_list<T: Copy + PartialEq>(
    ctx: &mut Ctx,
    t: &mut TableReader,
    key: &'static str,
    parse: fn(&str) -> Option<T>,
    expected: fn() -> String,
    default: &[T],
) -> Option<Vec<T>> {
    let Some((words, list)) = ctx.opt_str_list(t, key) else {
        return (!t.contains(key)).then(|| default.to_vec());
    };
    let mut out = Vec::new();
    let mut ok = true;
    for (s, item) in words {
        match parse(&s) {
            Some(v) if !out.contains(&v) => out.push(v),
            Some(_) => {}
            None => {
                ctx.error(
                    Some(&item.span),
                    &item.path,
                    ErrorKind::Invalid,
                    format!("unknown value {s:?}; expected {}", expected()),
                );
                ok = false;
            }
        }
    }
    if ok && out.is_empty() {
        ctx.error(
            Some(&list.span),
            &list.path,
            ErrorKind::Invalid,
            format!("empty list; expected one or more of {}", expected()),
        );
        ok = false;
    }
    (ok && !has_non_string(&list)).then_some(out)
}

/// True when an element is not a string (`opt_str_list` recorded the error and skipped it).
fn has_non_string(list: &Item) -> bool {
    match list.value {
        DeValue::Array(a) => a.iter().any(|v| !matches!(v.get_ref(), DeValue::String(_))),
        _ => true,
    }
}

fn duration_key(
    ctx: &mut Ctx,
    t: &mut TableReader,
    key: &'static str,
    default: Duration,
    non_zero: bool,
) -> Option<Duration> {
    let Some(item) = t.get(key) else {
        return Some(default);
    };
    let DeValue::String(s) = item.value else {
        ctx.wrong_type(&item, "a duration string like \"60s\", \"5m\" or \"24h\"");
        return None;
    };
    let d = checked(ctx, &item, duration::parse(s))?;
    if non_zero && d.is_zero() {
        ctx.error(
            Some(&item.span),
            &item.path,
            ErrorKind::Invalid,
            "must not be zero; expected e.g. \"60s\"",
        );
        return None;
    }
    Some(d)
}

/// A secret that must be present.
fn required_secret(
    ctx: &mut Ctx,
    t: &mut TableReader,
    keys: [&'static str; 3],
    what: &str,
) -> Option<Secret> {
    match optional_secret(ctx, t, keys)? {
        Some((secret, item)) => non_empty(ctx, &item, &secret, what),
        None => {
            ctx.missing(
                t,
                keys[0],
                &format!("{what} in {}, {} or {}", keys[0], keys[1], keys[2]),
            );
            None
        }
    }
}

/// Refuses an empty secret (never quoting it, there is nothing to quote anyway).
fn non_empty(ctx: &mut Ctx, item: &Item, secret: &Secret, what: &str) -> Option<Secret> {
    if secret.expose().is_empty() {
        ctx.error(
            Some(&item.span),
            &item.path,
            ErrorKind::Secret,
            format!("{what} is empty"),
        );
        return None;
    }
    Some(secret.clone())
}

/// A secret given inline (`keys[0]`), by environment variable (`keys[1]`) or by file
/// (`keys[2]`), at most one of them. `None` = error recorded; `Some(None)` = none given.
fn optional_secret<'t, 'i>(
    ctx: &mut Ctx,
    t: &mut TableReader<'t, 'i>,
    keys: [&'static str; 3],
) -> Option<Option<(Secret, Item<'t, 'i>)>> {
    let [inline, env, file] = keys.map(|k| t.get(k));
    let given: Vec<&Item> = [&inline, &env, &file].into_iter().flatten().collect();
    if given.len() > 1 {
        let span = given[1].span.clone();
        let path = given[1].path.clone();
        ctx.error(
            Some(&span),
            &path,
            ErrorKind::Conflict,
            format!(
                "more than one of {}, {} and {} is set; expected exactly one",
                keys[0], keys[1], keys[2]
            ),
        );
        return None;
    }
    if let Some(item) = inline {
        // Wrong-type messages never quote the value, so this is safe for secrets.
        let value = ctx.as_str(&item)?.trim().to_string();
        return Some(Some((Secret::new(value, SecretSource::Inline), item)));
    }
    if let Some(item) = env {
        let var = ctx.as_str(&item)?.trim().to_string();
        if !is_env_name(&var) {
            // Not quoted: a common slip is pasting the secret itself here.
            ctx.error(
                Some(&item.span),
                &item.path,
                ErrorKind::Invalid,
                format!(
                    "not an environment variable name; expected letters, digits and '_' (no \
                     '$'), e.g. \"CONTOSO_SECRET\" (to write the secret itself, use {})",
                    keys[0]
                ),
            );
            return None;
        }
        return match ctx.env.get(&var) {
            None => {
                ctx.error(
                    Some(&item.span),
                    &item.path,
                    ErrorKind::Secret,
                    format!("environment variable {var} is not set"),
                );
                None
            }
            Some(v) if v.trim().is_empty() => {
                ctx.error(
                    Some(&item.span),
                    &item.path,
                    ErrorKind::Secret,
                    format!("environment variable {var} is empty"),
                );
                None
            }
            Some(v) => Some(Some((
                Secret::new(v.trim().to_string(), SecretSource::Env(var)),
                item,
            ))),
        };
    }
    if let Some(item) = file {
        let name = ctx.as_str(&item)?.trim().to_string();
        if name.is_empty() {
            ctx.error(
                Some(&item.span),
                &item.path,
                ErrorKind::Invalid,
                "empty; expected the path of a file holding the secret",
            );
            return None;
        }
        let path = ctx.base_dir.join(&name);
        return match read_secret_file(&path) {
            Ok(v) => Some(Some((Secret::new(v, SecretSource::File(path)), item))),
            Err(m) => {
                ctx.error(Some(&item.span), &item.path, ErrorKind::Secret, m);
                None
            }
        };
    }
    Some(None)
}

/// `[A-Za-z_][A-Za-z0-9_]*`: what shells accept as a variable name.
fn is_env_name(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The trimmed content of a secret file; errors name the file, never its content.
fn read_secret_file(path: &Path) -> Result<String, String> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("secret file {shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("secret file {shown} is not a regular file"));
    }
    if meta.len() > MAX_SECRET_FILE {
        return Err(format!(
            "secret file {shown} is {} bytes; a secret file holds one secret (at most {MAX_SECRET_FILE} bytes)",
            meta.len()
        ));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("secret file {shown} cannot be read: {}", e.kind()))?;
    let value = text.trim();
    if value.is_empty() {
        return Err(format!("secret file {shown} is empty"));
    }
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names_cover_every_key_of_the_fixtures() {
        let files = [
            include_str!("../../tests/fixtures/config/full.toml"),
            include_str!("../../tests/fixtures/config/minimal.toml"),
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
