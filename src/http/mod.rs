//! Outbound HTTP: the reqwest clients that implement the pipeline's ports (`actors::ports`) for
//! Microsoft Sentinel (ARM), Microsoft Graph (security alerts_v2), SIGNL4, Log Analytics and the
//! Logs Ingestion API (`SIGNL4_CL`), with their shared plumbing.
//!
//! Layout: [`HttpContext`] is built once per process and owns the one `reqwest::Client`
//! (keep-alive pool), the per-subscription [rate budgets](budget) and the [token
//! caches](token); [`sentinel::SentinelClient`], [`graph::GraphClient`],
//! [`signl4::Signl4Client`] and [`log_analytics::LogAnalyticsClient`] are cheap handles built
//! from it ([`incidents::IncidentClient`] is a connector's incident client, whichever its read
//! source). The Azure clients keep only their URLs and wire formats: the rest (token and
//! scope, budget, redactor, the connector's label, send-and-parse, the nextLink origin check) is
//! one core, `azure::AzureCore`, that each of them holds. [`classify`] is the one
//! place that turns responses and transport errors into [`ApiError`]s. Retrying is the caller's:
//! the actors wrap port calls in `actors::retry`.
//!
//! ```no_run
//! use sentinel_signl4::http::{
//!     AzureCredentials, HttpContext, HttpSettings, LogAnalyticsClient, LogAnalyticsSettings,
//!     SentinelClient, SentinelSettings, Signl4Client, Signl4Settings,
//! };
//! use sandbox::{control::TenantSpec, Sandbox, SandboxOptions};
//!
//! let sb = Sandbox::start(SandboxOptions::for_tests()).unwrap();
//! let t = sb.control().create_tenant(TenantSpec::default()).unwrap();
//! let ctx = HttpContext::new(HttpSettings::default()).unwrap(); // once per process
//! let creds = AzureCredentials::new(
//!     sb.urls().entra.clone(), t.tenant_id.clone(), t.client_id.clone(), t.client_secret.clone(),
//! );
//! let sentinel = SentinelClient::new(&ctx, SentinelSettings::new(
//!     creds.clone(), sb.urls().arm.clone(),
//!     t.subscription_id.clone(), t.resource_group.clone(), t.workspace_name.clone(),
//! ));
//! let la = LogAnalyticsClient::new(&ctx, LogAnalyticsSettings::new(
//!     creds, sb.urls().log_analytics.clone(), t.workspace_id.clone(),
//! ));
//! let signl4 = Signl4Client::new(&ctx, Signl4Settings::new(
//!     sb.urls().signl4.clone(), t.team_secret.clone(),
//! ).with_api_key(t.api_key.clone()));
//! ```
//!
//! Invariants:
//! - Every request has a total and a connect timeout, carries `x-ms-client-request-id`, and is
//!   sent at most once by the library (`retry::never()`): retries are the caller's decision,
//!   driven by the error kind, so a non-idempotent POST is never repeated behind our back.
//! - No secret (client secret, access token, SIGNL4 team secret or API key) appears in an error
//!   message, a `Debug` output or a log line: URLs are logged as path templates, reqwest errors
//!   lose their URL, and every message passes the client's [`Redactor`].
//! - Only the configured hosts receive credentials: a Sentinel `nextLink` or Graph
//!   `@odata.nextLink` pointing elsewhere is refused rather than followed with our bearer token.

mod azure;
pub mod body;
pub mod budget;
pub mod classify;
pub mod graph;
pub mod incidents;
pub mod log_analytics;
pub mod logs_ingestion;
pub mod send;
pub mod sentinel;
pub mod signl4;
pub mod token;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub use actors::ports::ApiError;
pub use budget::{BudgetLimits, SubscriptionBudget};
pub use graph::{GraphClient, GraphSettings};
pub use incidents::IncidentClient;
pub use log_analytics::{LogAnalyticsClient, LogAnalyticsSettings};
pub use logs_ingestion::{LogsIngestionClient, LogsIngestionSettings};
pub use sentinel::{SentinelClient, SentinelSettings};
pub use signl4::{Signl4Client, Signl4Settings};
pub use token::{AzureCredentials, TokenProvider};

/// A credential value. Exists so that settings structs can derive `Debug` without ever printing
/// a secret: `Debug` and `Display` show `***`; only [`Secret::expose`] gives the value.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(s.to_string())
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

/// Scrubs known secrets out of text before it becomes an error message. Exists because error
/// texts are built from material we do not control (service bodies, transport errors): even if a
/// service echoed a secret, it must not reach a log or the event log.
#[derive(Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    /// A redactor for these secrets (empty values are ignored).
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Self {
        let mut secrets: Vec<String> = secrets
            .into_iter()
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        // Longest first, so a secret that contains another is removed whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Redactor { secrets }
    }

    /// Adds one more secret (e.g. an access token just obtained).
    pub fn with(mut self, secret: &str) -> Self {
        if !secret.is_empty() {
            self.secrets.push(secret.to_string());
            self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
        self
    }

    /// `text` with every secret (and its percent-encoded form) replaced by `***`.
    pub fn clean(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            out = out.replace(s.as_str(), "***");
            let enc = send::segment(s);
            if enc != *s {
                out = out.replace(enc.as_str(), "***");
            }
        }
        out
    }
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} secrets)", self.secrets.len())
    }
}

/// Transport settings shared by every client of a process.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Whole request, connect to last body byte. reqwest has no default (it would wait forever).
    pub timeout: Duration,
    /// TCP + TLS connect.
    pub connect_timeout: Duration,
    /// Idle pooled connections are closed after this.
    pub pool_idle_timeout: Duration,
    /// `User-Agent`.
    pub user_agent: String,
    /// Honour `HTTP(S)_PROXY` from the environment. Off in tests so loopback is never proxied.
    pub use_env_proxy: bool,
    /// Rate budget per Sentinel subscription.
    pub budget: BudgetLimits,
    /// Rate budget per Graph tenant (`/security`: alerts_v2 and incidents together).
    pub graph_budget: BudgetLimits,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            pool_idle_timeout: Duration::from_secs(90),
            user_agent: format!("sentinel-signl4/{}", env!("CARGO_PKG_VERSION")),
            use_env_proxy: true,
            budget: BudgetLimits::default(),
            graph_budget: BudgetLimits::graph(),
        }
    }
}

impl HttpSettings {
    /// Short timeouts, no proxy: what the loopback tests use.
    pub fn for_tests() -> Self {
        HttpSettings {
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(2),
            use_env_proxy: false,
            // Graph tests are not about its budget (those set one); Sentinel's keeps its default.
            graph_budget: BudgetLimits::unlimited(),
            ..Default::default()
        }
    }
}

/// Key of a cached [`TokenProvider`]: one per authority, tenant and app.
type TokenKey = (String, String, String);

struct ContextInner {
    client: reqwest::Client,
    settings: HttpSettings,
    budgets: Mutex<HashMap<String, Arc<SubscriptionBudget>>>,
    tokens: Mutex<HashMap<TokenKey, TokenProvider>>,
}

/// Everything the clients of one process share: the `reqwest::Client` (one connection pool),
/// the rate budgets (per subscription for ARM, per tenant for Graph: every client of one draws
/// from one budget) and the token providers (so Sentinel and Log Analytics clients of a tenant share one cache).
///
/// Build it once, on a runtime that lives as long as the process: pooled connections are driven
/// by tasks of the runtime that opened them.
#[derive(Clone)]
pub struct HttpContext {
    inner: Arc<ContextInner>,
    /// The connector whose clients are built from this handle: the `connector` label of
    /// `http_requests_total`. Empty for the process-wide handle (see [`Self::for_connector`]).
    connector: Arc<str>,
}

impl fmt::Debug for HttpContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpContext")
            .field("settings", &self.inner.settings)
            .field("connector", &self.connector)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The maps hold only Arcs; a panic elsewhere cannot leave them half-updated.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl HttpContext {
    /// Builds the shared client. Fails only if the TLS backend cannot initialise.
    pub fn new(settings: HttpSettings) -> Result<Self, ApiError> {
        let mut b = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.connect_timeout)
            .pool_idle_timeout(settings.pool_idle_timeout)
            .user_agent(settings.user_agent.clone())
            // Retries belong to the caller (outbox + `retry`), never to the library: a webhook
            // POST repeated by the transport would raise a second Signl.
            .retry(reqwest::retry::never())
            // Credentials must never follow a redirect to another host.
            .redirect(reqwest::redirect::Policy::none());
        if !settings.use_env_proxy {
            b = b.no_proxy();
        }
        let client = b
            .build()
            .map_err(|e| ApiError::Transient(format!("cannot build the HTTP client: {e}")))?;
        Ok(HttpContext {
            inner: Arc::new(ContextInner {
                client,
                settings,
                budgets: Mutex::new(HashMap::new()),
                tokens: Mutex::new(HashMap::new()),
            }),
            connector: Arc::from(""),
        })
    }

    /// The same shared context, labelled with `connector`: every client built from the result
    /// counts its requests under that connector in `/metrics`. Pool, budgets and token caches
    /// stay shared.
    pub fn for_connector(&self, connector: &str) -> HttpContext {
        HttpContext {
            inner: self.inner.clone(),
            connector: Arc::from(connector),
        }
    }

    /// The connector label of this handle (empty when it was not given one).
    pub fn connector(&self) -> Arc<str> {
        self.connector.clone()
    }

    /// The shared reqwest client.
    pub fn client(&self) -> &reqwest::Client {
        &self.inner.client
    }

    /// The settings it was built with.
    pub fn settings(&self) -> &HttpSettings {
        &self.inner.settings
    }

    /// The rate budget of a Graph tenant (shared by every Graph client of it), with
    /// [`HttpSettings::graph_budget`].
    pub fn graph_budget(&self, tenant_id: &str) -> Arc<SubscriptionBudget> {
        let key = format!("graph/{}", tenant_id.to_ascii_lowercase());
        lock(&self.inner.budgets)
            .entry(key)
            .or_insert_with(|| {
                Arc::new(SubscriptionBudget::new(
                    self.inner.settings.graph_budget.clone(),
                ))
            })
            .clone()
    }

    /// Every rate budget in use, by key (a subscription id, or `graph/{tenant}`), for
    /// `/metrics`.
    pub fn budget_snapshots(&self) -> Vec<(String, Vec<budget::LaneSnapshot>)> {
        let budgets: Vec<(String, Arc<SubscriptionBudget>)> = lock(&self.inner.budgets)
            .iter()
            .map(|(k, b)| (k.clone(), b.clone()))
            .collect();
        let mut out: Vec<_> = budgets
            .into_iter()
            .map(|(key, b)| (key, b.snapshot()))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// The rate budget of `subscription` (created with the context's limits on first use); keys
    /// `graph/{tenant}` are [`graph_budget`](Self::graph_budget)'s.
    pub fn budget(&self, subscription: &str) -> Arc<SubscriptionBudget> {
        self.budget_with(subscription, None)
    }

    /// The rate budget of `subscription`, created on first use with `limits` (a connector's
    /// `[connector.sentinel_budget]`) or else the context's. Connectors of one subscription
    /// agree on their limits (checked when the configuration loads), so the first one wins.
    pub fn budget_with(
        &self,
        subscription: &str,
        limits: Option<BudgetLimits>,
    ) -> Arc<SubscriptionBudget> {
        let key = subscription.to_ascii_lowercase();
        lock(&self.inner.budgets)
            .entry(key)
            .or_insert_with(|| {
                let limits = limits.unwrap_or_else(|| self.inner.settings.budget.clone());
                Arc::new(SubscriptionBudget::new(limits))
            })
            .clone()
    }

    /// The token provider of these credentials, shared by every client that uses them. A
    /// changed secret (rotation) replaces the provider and its cache.
    pub fn tokens(&self, creds: &AzureCredentials) -> TokenProvider {
        let key = (
            creds
                .authority_host
                .trim_end_matches('/')
                .to_ascii_lowercase(),
            creds.tenant_id.to_ascii_lowercase(),
            creds.client_id.to_ascii_lowercase(),
        );
        let mut map = lock(&self.inner.tokens);
        match map.get(&key) {
            Some(p) if p.credentials().client_secret == creds.client_secret => p.clone(),
            _ => {
                let p = TokenProvider::new(self.inner.client.clone(), creds.clone());
                map.insert(key, p.clone());
                p
            }
        }
    }
}
