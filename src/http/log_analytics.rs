//! [`LogAnalyticsClient`]: the `LogAnalyticsApi` port
//! (`POST {base}/workspaces/{workspaceId}/query` with `{query, timespan}`, docs/reference/azure-apis.md §3).
//!
//! Accepted answers: 200 with `tables` (plus an `error` object for partial results, surfaced as
//! `partial_error`), 204 and an empty 200 (no data) as no tables. Errors use the OneAPI shape and
//! go through [`classify`](super::classify::response).
//!
//! Invariants: a 401 triggers one forced token refresh and one retry; the `tables` array is
//! returned as received (cells may be numbers or strings).

use std::sync::Arc;
use std::time::Duration;

use actors::ports::{LogAnalyticsApi, QueryResult};
use serde_json::{json, Value};
use uuid::Uuid;

use super::azure::AzureCore;
use super::budget::CallClass;
use super::classify;
use super::send::segment;
use super::token::{AzureCredentials, LOG_ANALYTICS_SCOPE};
use super::{ApiError, HttpContext};

/// The public-cloud Log Analytics query API base (with `/v1`).
pub const PUBLIC_ENDPOINT: &str = "https://api.loganalytics.io/v1";

/// One Log Analytics workspace.
#[derive(Debug, Clone, PartialEq)]
pub struct LogAnalyticsSettings {
    /// App credentials.
    pub credentials: AzureCredentials,
    /// API base including `/v1`, e.g. `https://api.loganalytics.io/v1`.
    pub endpoint: String,
    /// Workspace GUID (`customerId`), not its name.
    pub workspace_id: String,
    /// Token scope.
    pub scope: String,
    /// How long the service may run a query (`Prefer: wait=N`; the service default is 3 min,
    /// its maximum 10). The request's own timeout is this plus [`TIMEOUT_MARGIN`], so that the
    /// service's 504 arrives before our timeout fires.
    pub server_timeout: Duration,
}

/// Added to `server_timeout` for the HTTP request's total timeout.
pub const TIMEOUT_MARGIN: Duration = Duration::from_secs(10);

impl LogAnalyticsSettings {
    /// Settings with the Log Analytics scope.
    pub fn new(
        credentials: AzureCredentials,
        endpoint: impl Into<String>,
        workspace_id: impl Into<String>,
    ) -> Self {
        LogAnalyticsSettings {
            credentials,
            endpoint: endpoint.into(),
            workspace_id: workspace_id.into(),
            scope: LOG_ANALYTICS_SCOPE.into(),
            server_timeout: Duration::from_secs(60),
        }
    }
}

/// The Log Analytics client of one workspace. Cheap to clone.
#[derive(Clone)]
pub struct LogAnalyticsClient {
    core: AzureCore,
    settings: Arc<LogAnalyticsSettings>,
}

impl std::fmt::Debug for LogAnalyticsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogAnalyticsClient")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl LogAnalyticsClient {
    /// A client for `settings`, sharing `ctx`'s HTTP client and token cache.
    pub fn new(ctx: &HttpContext, settings: LogAnalyticsSettings) -> Self {
        // No budget: the query API's limits are per user and far above one connector's use.
        let core = AzureCore::new(
            ctx,
            "log_analytics",
            &settings.credentials,
            &settings.scope,
            None,
            &settings.endpoint,
        );
        LogAnalyticsClient {
            core,
            settings: Arc::new(settings),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &LogAnalyticsSettings {
        &self.settings
    }
}

/// `code: message (detail)` of a partial-result `error` object.
fn partial_message(e: &Value) -> String {
    let code = e
        .get("code")
        .and_then(Value::as_str)
        .unwrap_or("PartialError");
    let msg = e.get("message").and_then(Value::as_str).unwrap_or("");
    let detail = e
        .get("details")
        .and_then(Value::as_array)
        .and_then(|d| d.first())
        .and_then(|d| {
            d.get("innererror")
                .and_then(|i| i.get("message"))
                .or_else(|| d.get("message"))
        })
        .and_then(Value::as_str);
    match detail {
        Some(d) => format!("{code}: {msg} ({d})"),
        None => format!("{code}: {msg}"),
    }
}

impl LogAnalyticsApi for LogAnalyticsClient {
    async fn query(&self, query: &str, timespan: &str) -> Result<QueryResult, ApiError> {
        let call = self
            .core
            .call("POST", "/workspaces/{workspaceId}/query", Uuid::new_v4());
        let url = format!(
            "{}/workspaces/{}/query",
            self.settings.endpoint.trim_end_matches('/'),
            segment(&self.settings.workspace_id)
        );
        let body = json!({ "query": query, "timespan": timespan });
        let wait = self.settings.server_timeout.as_secs().clamp(1, 600);
        let prefer = format!("wait={wait}");
        let timeout = Duration::from_secs(wait) + TIMEOUT_MARGIN;
        // Without a budget the class is never drawn; `Read` only fills the slot.
        let x = self
            .core
            .send_with(reqwest::Method::POST, &url, &call, CallClass::Read, |req| {
                req.header("Prefer", prefer.as_str())
                    .timeout(timeout)
                    .json(&body)
            })
            .await?;
        if !x.is_success() {
            return Err(classify::response(&x, &call, self.core.redactor()));
        }
        // 204 (workspace without data) and the documented empty 200: no tables.
        if x.status == 204 || x.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(QueryResult {
                tables: Value::Array(Vec::new()),
                partial_error: None,
            });
        }
        let v = x.json(&call, self.core.redactor())?;
        let tables = match v.get("tables") {
            Some(t @ Value::Array(_)) => t.clone(),
            _ => {
                return Err(classify::unexpected(
                    &x,
                    &call,
                    self.core.redactor(),
                    "no 'tables' array",
                ))
            }
        };
        let partial_error = v
            .get("error")
            .filter(|e| !e.is_null())
            .map(|e| self.core.redactor().clean(&partial_message(e)));
        Ok(QueryResult {
            tables,
            partial_error,
        })
    }
}
