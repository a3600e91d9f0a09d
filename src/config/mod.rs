//! Connector configuration: the TOML file that `sentinel-signl4 run --config FILE` reads and
//! `check-config` validates.
//!
//! ```toml
//! data_dir = "/var/lib/sentinel-signl4"   # event log; relative: from this file's directory;
//!                                         # absent: ./sentinel-signl4-data (as `audit`)
//!
//! [webhook]                               # SIGNL4 outbound webhooks arrive here
//! bind = "127.0.0.1:8080"                 # default; put a TLS reverse proxy in front
//! public_base_url = "https://s4.mssp.example"
//!
//! [admin]                                 # /healthz, /readyz, /metrics, /status
//! bind = "127.0.0.1:9464"                 # default (loopback); never expose it unprotected
//! stall_limit = "30s"                     # a store commit stuck this long fails /healthz
//! abort_after = "2m"                      # ... and this long aborts (the supervisor restarts)
//!
//! [[connector]]
//! name = "contoso"                        # unique; the tenant stream key in the event log
//! tenant_id = "..."                       # GUIDs: tenant_id, subscription_id, client_id
//! subscription_id = "..."
//! client_id = "..."
//! client_secret_env = "CONTOSO_SECRET"    # or client_secret = "..." / client_secret_file = "..."
//! resource_group = "rg-sentinel"
//! workspace_name = "ws-contoso"
//! workspace_id = "..."                    # GUID; "" or absent: no Log Analytics augmentation
//! read_source = "sentinel"                # or "graph" (alerts_v2), "defender" (XDR incidents)
//! statuses = ["New"]                      # New, Active, Closed
//! severities = ["High", "Medium", "Low", "Informational"]
//! lookback = "24h"                        # first start only
//! poll_interval = "60s"
//! poll_overlap = "5m"                     # each poll re-reads this much before the watermark
//! sweep_interval = "15m"                  # this often a poll re-lists the whole lookback
//! tag = "SIGNL4"                          # "" adds none; ignored for graph (no labels)
//! page_size = 200                         # $top of each listing page, 1-1000
//! enrichment_deadline = "30s"             # then forward without what is missing
//! enrichment_concurrency = 4              # 1-5 (Log Analytics: 5 queries per principal)
//! resolve_on_sentinel_close = true        # closing in Sentinel resolves the Signl
//! webhook_token_env = "CONTOSO_HOOK"      # >= 32 URL-safe chars; absent: one-way only
//! client_secret_expires = 2027-06-30      # optional: /status warns from 30 days, /metrics counts
//! heartbeat_url_env = "CONTOSO_HEARTBEAT" # optional: called while healthy (or heartbeat_url)
//! heartbeat_interval = "60s"
//!
//! [connector.on_acknowledge]
//! set_active = true
//! assign_owner = true
//!
//! [connector.on_close]
//! classification = "FalsePositive"        # default Undetermined (takes no reason)
//! classification_reason = "InaccurateData"
//! classification_comment = "Closed in SIGNL4"  # the default; "" writes none
//! assign_owner = false                    # default false; on_acknowledge's default is true
//!
//! [connector.user_map]                    # SIGNL4 email -> Entra UPN or object id
//! "rene@signl4.com" = "rene@contoso.com"
//!
//! [connector.signl4]
//! team_secret_env = "CONTOSO_TEAM"        # or team_secret / team_secret_file / webhook_url
//! api_key_file = "/run/secrets/s4-key"    # optional
//! alerting_scenario = "single_ack"        # multi_ack, emergency, "" = team default
//! service = "Microsoft Sentinel"          # X-S4-Service
//!
//! [connector.endpoints]
//! cloud = "public"                        # usgov, china: default URLs and token scopes
//! # authority_host, arm, log_analytics, graph, signl4: overrides (e.g. the sandbox)
//! sentinel_api_version = "2025-12-01"
//!
//! [connector.signl4_cl]                   # optional: SIGNL4 activity into SIGNL4_CL
//! endpoint = "https://dcr-x.westeurope-1.ingest.monitor.azure.com"  # DCE or DCR endpoint
//! dcr_immutable_id = "dcr-0123456789abcdef0123456789abcdef"
//! stream = "Custom-SIGNL4_CL"             # the default
//! interval = "30s"                        # between shipping passes; enabled = false: off
//! ```
//!
//! Decisions:
//! - Secrets (`client_secret`, `team_secret`/`webhook_url`, `api_key`, `webhook_token`) come
//!   inline, from `<key>_env` (an environment variable) or `<key>_file` (a file, trimmed;
//!   relative to the configuration file's directory), exactly one; they are held as
//!   [`Secret`] and never printed.
//! - `webhook_token` is not generated when absent: a generated token would change at every
//!   restart and break the URL registered in SIGNL4 (and persisting it is the event log's job,
//!   not the configuration's). Without a token the connector runs one-way and `check-config`
//!   warns.
//! - Plain `http` is accepted only for loopback hosts (the sandbox), everywhere.
//! - Enum words are case-insensitive and normalised; unknown keys are errors, with a
//!   did-you-mean.
//! - A file that is not valid TOML reports its syntax errors only (validating a tree the
//!   parser had to guess at would add noise).
//! - Key paths in messages index connectors from 0: `connector[0]` is the first.
//! - SIGNL4 posts a connector's outbound webhooks to `{public_base_url}/signl4/{name}/{token}`
//!   ([`Config::webhook_url`], the route of `crate::webhook`); `check-config` prints it with
//!   the token masked.
//! - Token scopes follow `cloud`, not overridden URLs (the sandbox's Entra expects the public
//!   cloud's scopes).
//! - Warnings (not errors): no `webhook_token` (one-way), the same workspace in two
//!   connectors, inline secrets in a world-readable file, a `tag` on a Graph connector (alerts
//!   have no labels), a `sweep_interval` shorter than the `poll_interval`.
//!
//! For the pipeline: [`ConnectorConfig::settings`] gives `actors::settings::ConnectorSettings`;
//! [`Endpoints`] gives base strings without trailing `/` (`arm_base()`...) and token scopes
//! per [`Audience`]; secrets are read with [`Secret::expose`].
//!
//! Invariant: [`load`] returns a [`Config`] only when the whole file is valid; otherwise every
//! error, each with file, line, column, key path and what is expected, and none quoting a
//! secret.

mod budget;
mod duration;
mod endpoints;
mod enums;
mod error;
mod load;
mod model;
mod reader;
mod secret;
mod settings;
mod signl4_cl;
mod validate;

pub use budget::SentinelBudget;
pub use duration::{format as format_duration, parse as parse_duration};
pub use endpoints::{
    base_str, cloud_defaults, join, token_scope, Audience, Endpoints, SENTINEL_API_VERSIONS,
};
pub use enums::{
    AlertingScenario, Classification, ClassificationReason, Cloud, IncidentStatus, ReadSource,
    Severity,
};
pub use error::{ConfigError, ConfigErrors, ErrorKind};
pub use load::{
    load, load_with, parse_str, DEFAULT_ABORT_AFTER, DEFAULT_ADMIN_BIND, DEFAULT_BIND,
    DEFAULT_CLOSE_COMMENT, DEFAULT_DATA_DIR, DEFAULT_ENRICHMENT_CONCURRENCY,
    DEFAULT_ENRICHMENT_DEADLINE, DEFAULT_HEARTBEAT_INTERVAL, DEFAULT_LOOKBACK, DEFAULT_PAGE_SIZE,
    DEFAULT_POLL_INTERVAL, DEFAULT_POLL_OVERLAP, DEFAULT_STALL_LIMIT, DEFAULT_SWEEP_INTERVAL,
    DEFAULT_TAG,
};
pub use model::{
    AdminListener, Config, ConnectorConfig, EntraUser, Heartbeat, OnAcknowledge, OnClose,
    Signl4Config, Signl4Target, WebhookListener,
};
pub use reader::Env;
pub use secret::{Secret, SecretSource};
pub use signl4_cl::{
    ingestion_scope, Signl4ClConfig, DEFAULT_INTERVAL as DEFAULT_SIGNL4_CL_INTERVAL,
    DEFAULT_STREAM as DEFAULT_SIGNL4_CL_STREAM,
};
pub use validate::{is_loopback, MIN_TOKEN_LEN};
