//! [`GraphClient`]: Microsoft Graph security alerts_v2 (`{graph}/security/alerts_v2`) behind the
//! `IncidentSource` port, for connectors with `read_source = "graph"` (docs/reference/azure-apis.md §4).
//!
//! Each alert is presented to the pipeline as an incident ([`view`]): listing is
//! `GET /security/alerts_v2` with the poll's `$filter` (status, severity,
//! `lastUpdateDateTime ge`) and `$top`, following `@odata.nextLink` verbatim; a read is
//! `GET .../{id}`; an incident write (acknowledge, close) is a `PATCH .../{id}` of status,
//! assignedTo and classification; a comment is `POST .../{id}/comments`. The alert's linked
//! items are the alert itself and its `evidence` (the Enricher reads them from the recorded
//! observation and calls nothing; [`IncidentSource::list_alerts`] and
//! [`IncidentSource::list_entities`] read the alert when called anyway).
//!
//! Choices:
//! - No `$orderby`: alerts_v2 documents `$count`, `$filter`, `$skip` and `$top` only, and the
//!   Poller does not need an order (its watermark moves only after the whole listing).
//! - `Prefer: include-unknown-enum-members` on every request, so evolvable values (serviceSource
//!   `microsoftSentinel`, status `awaitingAction`) arrive as themselves.
//! - Graph POSTs a new comment on every call, so a comment carries a marker with its id
//!   ([`view::comment_marker`]) and is posted only when the alert has no comment with it yet:
//!   a retry after a lost answer does not comment twice.
//! - Labels do not exist on alerts; the configuration turns tagging off for Graph connectors.
//! - Analyst comments are listed from the alert's `comments` ([`view::comment_records`]), so
//!   they are mirrored to SIGNL4 like Sentinel's.
//!
//! Defender XDR incidents (`read_source = "defender"`) have their own client in [`defender`],
//! which shares this one's plumbing (budget, token, redaction, nextLink origin check).
//!
//! Invariants:
//! - Every call draws from the tenant's Graph [rate budget](super::budget)
//!   ([`HttpContext::graph_budget`]: about 150 `/security` requests per minute per app and
//!   tenant, [`BudgetLimits::graph`](super::BudgetLimits::graph)), then takes a token for the Graph scope; a 401 forces one refresh and one
//!   retry; a 429 is `Throttled` with Graph's `Retry-After` ([`classify`](super::classify)).
//! - Writes send the caller's `request_id` as `x-ms-client-request-id` (Graph echoes it as
//!   `client-request-id`); reads a fresh v4.
//! - An `@odata.nextLink` must point at the configured Graph origin; anything else is refused,
//!   so our bearer token never leaves for another host.

pub mod defender;
pub mod incident_view;
pub mod view;

use std::sync::Arc;

use actors::ports::{
    CommentRecord, IncidentPage, IncidentQuery, IncidentRecord, IncidentSource, IncidentUpdate,
    UpdateOutcome,
};
use serde_json::{json, Value};
use uuid::Uuid;

use super::azure::{self, AzureCore, Body};
use super::budget::CallClass;
use super::classify;
use super::send::{pct_encode, segment};
use super::token::{AzureCredentials, GRAPH_SCOPE};
use super::{ApiError, HttpContext};

/// The public-cloud Graph base (with `/v1.0`).
pub const PUBLIC_GRAPH_ENDPOINT: &str = "https://graph.microsoft.com/v1.0";

/// Everything needed to read one tenant's alerts.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphSettings {
    /// App credentials (the token provider is shared through the `HttpContext`).
    pub credentials: AzureCredentials,
    /// Graph base including `/v1.0`, e.g. [`PUBLIC_GRAPH_ENDPOINT`].
    pub endpoint: String,
    /// Token scope.
    pub scope: String,
}

impl GraphSettings {
    /// Settings with the Graph scope.
    pub fn new(credentials: AzureCredentials, endpoint: impl Into<String>) -> Self {
        GraphSettings {
            credentials,
            endpoint: endpoint.into(),
            scope: GRAPH_SCOPE.into(),
        }
    }
}

/// The alerts_v2 client of one tenant. Cheap to clone.
#[derive(Clone)]
pub struct GraphClient {
    core: AzureCore,
    settings: Arc<GraphSettings>,
    /// `{graph}/security/alerts_v2`.
    alerts: String,
}

impl std::fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphClient")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Graph answers enum values added after v1.0 (e.g. new alert categories) only to callers
/// that say they can take them; without it they arrive as `unknownFutureValue`.
const GRAPH_HEADERS: &[(&str, &str)] = &[("Prefer", "include-unknown-enum-members")];

impl GraphClient {
    /// A client for `settings`, sharing `ctx`'s HTTP client and token cache; its rate budget is
    /// the tenant's Graph budget (Graph throttles per tenant and app, not per subscription).
    pub fn new(ctx: &HttpContext, settings: GraphSettings) -> Self {
        let endpoint = settings.endpoint.trim_end_matches('/').to_string();
        let core = AzureCore::new(
            ctx,
            "graph",
            &settings.credentials,
            &settings.scope,
            Some(ctx.graph_budget(&settings.credentials.tenant_id)),
            &endpoint,
        )
        .with_headers(GRAPH_HEADERS);
        GraphClient {
            core,
            alerts: format!("{endpoint}/security/alerts_v2"),
            settings: Arc::new(settings),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &GraphSettings {
        &self.settings
    }

    fn alert_url(&self, id: &str) -> String {
        format!("{}/{}", self.alerts, segment(id))
    }

    /// The alert as received.
    pub async fn get_alert(&self, id: &str) -> Result<Value, ApiError> {
        let call = self.core.read("/security/alerts_v2/{id}");
        let (x, v) = self
            .core
            .send_json(
                reqwest::Method::GET,
                &self.alert_url(id),
                &call,
                CallClass::Read,
                Body::None,
            )
            .await?;
        if !v.is_object() {
            return Err(classify::unexpected(
                &x,
                &call,
                self.core.redactor(),
                "the alert is not an object",
            ));
        }
        Ok(v)
    }
}

impl IncidentSource for GraphClient {
    async fn list_incidents(
        &self,
        query: &IncidentQuery,
        next_link: Option<&str>,
    ) -> Result<IncidentPage, ApiError> {
        let call = self.core.read("/security/alerts_v2");
        let url = match next_link {
            Some(link) => self.core.follow(link, &call, "@odata.nextLink")?,
            None => {
                let filter = view::build_filter(query);
                let mut qs = Vec::new();
                if !filter.is_empty() {
                    qs.push(format!("$filter={}", pct_encode(&filter)));
                }
                if query.page_size > 0 {
                    qs.push(format!("$top={}", query.page_size.min(1000)));
                }
                if qs.is_empty() {
                    self.alerts.clone()
                } else {
                    format!("{}?{}", self.alerts, qs.join("&"))
                }
            }
        };
        let (x, body) = self
            .core
            .send_json(
                reqwest::Method::GET,
                &url,
                &call,
                CallClass::Read,
                Body::None,
            )
            .await?;
        let items = self.core.array(&x, &call, &body, "value")?;
        let mut incidents = Vec::with_capacity(items.len());
        for item in items {
            incidents.push(view::parse_alert(item).map_err(|e| self.core.bad_resource(&call, &e))?);
        }
        let next_link = azure::next_link(&body, "@odata.nextLink");
        Ok(IncidentPage {
            incidents,
            next_link,
        })
    }

    async fn get_incident(&self, name: &str) -> Result<IncidentRecord, ApiError> {
        let alert = self.get_alert(name).await?;
        view::parse_alert(&alert).map_err(|e| {
            self.core
                .bad_resource(&self.core.read("/security/alerts_v2/{id}"), &e)
        })
    }

    /// Reads the alert, then PATCHes what the update changes ([`view::alert_patch`]); `known`
    /// is not used: a PATCH has no etag, so it is built from a fresh read.
    async fn update_incident(
        &self,
        name: &str,
        update: &IncidentUpdate,
        _known: Option<IncidentRecord>,
        request_id: Uuid,
    ) -> Result<UpdateOutcome, ApiError> {
        let read = self.get_incident(name).await?;
        let call = self
            .core
            .call("PATCH", "/security/alerts_v2/{id}", request_id);
        let patch = view::alert_patch(&read, update).map_err(|message| ApiError::Rejected {
            status: 400,
            message,
        })?;
        let Some(patch) = patch else {
            return Ok(UpdateOutcome::AlreadyDone(read));
        };
        let (_, v) = self
            .core
            .send_json(
                reqwest::Method::PATCH,
                &self.alert_url(name),
                &call,
                CallClass::IncidentWrite,
                Body::Json(&patch),
            )
            .await?;
        view::parse_alert(&v)
            .map(UpdateOutcome::Written)
            .map_err(|e| self.core.bad_resource(&call, &e))
    }

    /// The alert itself: an alert is its own only alert.
    async fn list_alerts(&self, name: &str) -> Result<Vec<Value>, ApiError> {
        Ok(vec![self.get_alert(name).await?])
    }

    /// The alert's `evidence`, as received (polymorphic by `@odata.type`).
    async fn list_entities(&self, name: &str) -> Result<Vec<Value>, ApiError> {
        let alert = self.get_alert(name).await?;
        Ok(alert["evidence"].as_array().cloned().unwrap_or_default())
    }

    /// Posts the comment unless the alert already has it (found by its marker); answers the
    /// creation time Graph gave it (comments have no etag).
    async fn put_comment(
        &self,
        name: &str,
        comment_id: Uuid,
        message: &str,
        request_id: Uuid,
    ) -> Result<String, ApiError> {
        let alert = self.get_alert(name).await?;
        if view::find_comment(&alert, comment_id).is_some() {
            return Ok(String::new());
        }
        let call = self
            .core
            .call("POST", "/security/alerts_v2/{id}/comments", request_id);
        let text = view::comment_text(message, comment_id);
        let body = json!({"@odata.type": view::COMMENT_TYPE, "comment": text});
        let (x, v) = self
            .core
            .send_json(
                reqwest::Method::POST,
                &format!("{}/comments", self.alert_url(name)),
                &call,
                CallClass::CommentWrite,
                Body::Json(&body),
            )
            .await?;
        let comments = v.get("value").and_then(Value::as_array).ok_or_else(|| {
            classify::unexpected(
                &x,
                &call,
                self.core.redactor(),
                "no 'value' array of comments",
            )
        })?;
        Ok(comments
            .iter()
            .rev()
            .find(|c| c["comment"].as_str() == Some(text.as_str()))
            .and_then(|c| c["createdDateTime"].as_str())
            .unwrap_or_default()
            .to_string())
    }

    async fn get_comment(&self, name: &str, comment_id: Uuid) -> Result<Option<String>, ApiError> {
        let alert = self.get_alert(name).await?;
        Ok(view::find_comment(&alert, comment_id))
    }

    /// The alert's comments ([`view::comment_records`]), so analyst comments on a Graph alert
    /// are mirrored to SIGNL4 like Sentinel's.
    async fn list_comments(&self, name: &str) -> Result<Vec<CommentRecord>, ApiError> {
        let alert = self.get_alert(name).await?;
        Ok(view::comment_records(&alert["comments"]))
    }
}
