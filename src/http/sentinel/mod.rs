//! [`SentinelClient`]: the `IncidentSource` port over ARM (`Microsoft.SecurityInsights`, one
//! workspace): incident list/get/PUT, the POST list actions (alerts, entities) and comments.
//!
//! Listing builds the connector's polling query (docs/reference/azure-apis.md §2.5): statuses `or`-ed in
//! parentheses, severities likewise, `properties/lastModifiedTimeUtc ge <RFC 3339 Z>` (unquoted),
//! `$orderby=properties/lastModifiedTimeUtc asc`, `$top` ≤ 1000; later pages follow the service's
//! absolute `nextLink` verbatim (only literal spaces are percent-encoded).
//!
//! Comments are listed page by page (`nextLink`, at most [`MAX_COMMENT_PAGES`]).
//!
//! Invariants:
//! - Every call draws from the subscription's [rate budget](super::budget) first, waiting when
//!   it is spent (background work such as tags never waits: it is answered `ApiError::Deferred`
//!   and its intent stays open); a 401 triggers one forced token refresh and one retry of the same request (same
//!   request id).
//! - Writes send the caller's `request_id` as `x-ms-client-request-id`; reads a fresh v4.
//! - An incident PUT sends only what is set: explicit nulls are dropped ([`without_nulls`]).
//! - A `nextLink` must point at the configured ARM origin; anything else is refused, so our
//!   bearer token never leaves for another host.
//! - Incidents are parsed leniently (unknown fields ignored, 0–7 fractional digits), but a
//!   resource without `name`, `etag` or a readable `lastModifiedTimeUtc` is an error: the
//!   poller's cursor and the PUT concurrency depend on them.

use std::sync::Arc;

mod body;
mod parse;
mod raw;
mod write;

pub use body::without_nulls;
pub use parse::{build_filter, parse_comment, parse_incident, parse_time_ms};
pub use raw::raw_array_items;
pub use write::put_body;

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
use super::token::{AzureCredentials, TokenProvider, ARM_SCOPE};
use super::{ApiError, HttpContext};

/// The public-cloud ARM endpoint.
pub const PUBLIC_ARM_ENDPOINT: &str = "https://management.azure.com";

/// Most 409s one incident update reads again after (each a fresh read and one PUT) before it
/// answers `Conflict` and leaves the retry to the caller's next reconcile.
pub const MAX_CONFLICTS: u32 = 8;

/// Default ARM api-version (latest stable, docs/reference/azure-apis.md §2.1).
pub const DEFAULT_API_VERSION: &str = "2025-12-01";

/// Everything needed to reach one Sentinel workspace.
#[derive(Debug, Clone, PartialEq)]
pub struct SentinelSettings {
    /// App credentials (the token provider is shared through the `HttpContext`).
    pub credentials: AzureCredentials,
    /// ARM endpoint, e.g. `https://management.azure.com`.
    pub arm_endpoint: String,
    /// Subscription GUID (also the rate-budget key).
    pub subscription_id: String,
    /// Resource group.
    pub resource_group: String,
    /// Workspace *name* (not its GUID).
    pub workspace_name: String,
    /// `api-version`.
    pub api_version: String,
    /// Token scope.
    pub scope: String,
    /// The subscription's rate budget when the configuration sets one
    /// (`[connector.sentinel_budget]`); `None`: the `HttpContext`'s default.
    pub budget: Option<super::BudgetLimits>,
}

impl SentinelSettings {
    /// Settings with the default api-version and the ARM scope.
    pub fn new(
        credentials: AzureCredentials,
        arm_endpoint: impl Into<String>,
        subscription_id: impl Into<String>,
        resource_group: impl Into<String>,
        workspace_name: impl Into<String>,
    ) -> Self {
        SentinelSettings {
            credentials,
            arm_endpoint: arm_endpoint.into(),
            subscription_id: subscription_id.into(),
            resource_group: resource_group.into(),
            workspace_name: workspace_name.into(),
            api_version: DEFAULT_API_VERSION.into(),
            scope: ARM_SCOPE.into(),
            budget: None,
        }
    }
}

/// Most pages of one comment listing (50 comments each by default): a bound, not a limit met
/// in practice.
pub const MAX_COMMENT_PAGES: usize = 20;

/// The Sentinel client of one workspace. Cheap to clone.
#[derive(Clone)]
pub struct SentinelClient {
    core: AzureCore,
    settings: Arc<SentinelSettings>,
    /// `{arm}/subscriptions/.../providers/Microsoft.SecurityInsights`.
    base: String,
}

impl std::fmt::Debug for SentinelClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentinelClient")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl SentinelClient {
    /// A client for `settings`, sharing `ctx`'s HTTP client, token cache and rate budget.
    pub fn new(ctx: &HttpContext, settings: SentinelSettings) -> Self {
        let arm = settings.arm_endpoint.trim_end_matches('/').to_string();
        let base = format!(
            "{arm}/subscriptions/{}/resourceGroups/{}/providers/Microsoft.OperationalInsights/workspaces/{}/providers/Microsoft.SecurityInsights",
            segment(&settings.subscription_id),
            segment(&settings.resource_group),
            segment(&settings.workspace_name)
        );
        let core = AzureCore::new(
            ctx,
            "sentinel",
            &settings.credentials,
            &settings.scope,
            Some(ctx.budget_with(&settings.subscription_id, settings.budget.clone())),
            &arm,
        );
        SentinelClient {
            core,
            settings: Arc::new(settings),
            base,
        }
    }

    /// The settings.
    pub fn settings(&self) -> &SentinelSettings {
        &self.settings
    }

    /// The token provider (shared with other clients of the same app).
    pub fn tokens(&self) -> &TokenProvider {
        self.core.tokens()
    }

    fn url(&self, path: &str, extra: &[(&str, &str)]) -> String {
        let mut qs = format!("api-version={}", pct_encode(&self.settings.api_version));
        for (k, v) in extra {
            qs.push('&');
            qs.push_str(&pct_encode(k));
            qs.push('=');
            qs.push_str(&pct_encode(v));
        }
        format!("{}{path}?{qs}", self.base)
    }

    /// `POST .../incidents/{id}/{action}` with an empty body (the list actions take none);
    /// the array under `field` of the answer.
    async fn post_list(
        &self,
        name: &str,
        action: &str,
        template: &'static str,
        field: &str,
    ) -> Result<Vec<Value>, ApiError> {
        let call = self.core.call("POST", template, Uuid::new_v4());
        let url = self.url(&format!("/incidents/{}/{action}", segment(name)), &[]);
        let (x, v) = self
            .core
            .send_json(
                reqwest::Method::POST,
                &url,
                &call,
                CallClass::Read,
                Body::Empty,
            )
            .await?;
        Ok(self.core.array(&x, &call, &v, field)?.clone())
    }

    /// PUTs the full resource (`{"etag": .., "properties": {..}}`); answers the incident as
    /// written. A stale etag is [`ApiError::Conflict`].
    pub async fn put_incident(
        &self,
        name: &str,
        resource: &Value,
        request_id: Uuid,
    ) -> Result<IncidentRecord, ApiError> {
        let call = self.core.call("PUT", "/incidents/{id}", request_id);
        let url = self.url(&format!("/incidents/{}", segment(name)), &[]);
        // Only what is set: the resource as read may carry explicit nulls (an unassigned owner).
        let resource = without_nulls(resource);
        let (x, v) = self
            .core
            .send_json(
                reqwest::Method::PUT,
                &url,
                &call,
                CallClass::IncidentWrite,
                Body::Json(&resource),
            )
            .await?;
        let raw = String::from_utf8_lossy(&x.body).into_owned();
        parse_incident(&v, raw).map_err(|e| self.core.bad_resource(&call, &e))
    }
}

impl IncidentSource for SentinelClient {
    async fn list_incidents(
        &self,
        query: &IncidentQuery,
        next_link: Option<&str>,
    ) -> Result<IncidentPage, ApiError> {
        let call = self.core.read("/incidents");
        let url = match next_link {
            Some(link) => self.core.follow(link, &call, "nextLink")?,
            None => {
                let filter = build_filter(query);
                // 0 means "the service's default page size" (50): no `$top` at all.
                let top = query.page_size.min(1000).to_string();
                let mut extra = Vec::new();
                if !filter.is_empty() {
                    extra.push(("$filter", filter.as_str()));
                }
                extra.push(("$orderby", "properties/lastModifiedTimeUtc asc"));
                if query.page_size > 0 {
                    extra.push(("$top", top.as_str()));
                }
                self.url("/incidents", &extra)
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
        // Keep each incident's bytes exactly as received when the page splits cleanly (it always
        // should); otherwise fall back to re-serialising the parsed value.
        let raws = raw_array_items(&x.body, "value").filter(|r| r.len() == items.len());
        let mut incidents = Vec::with_capacity(items.len());
        for (n, item) in items.iter().enumerate() {
            let raw = match raws.as_ref().map(|r| r[n]) {
                Some(r) => r.to_string(),
                None => item.to_string(),
            };
            incidents
                .push(parse_incident(item, raw).map_err(|e| self.core.bad_resource(&call, &e))?);
        }
        let next_link = azure::next_link(&body, "nextLink");
        Ok(IncidentPage {
            incidents,
            next_link,
        })
    }

    async fn get_incident(&self, name: &str) -> Result<IncidentRecord, ApiError> {
        let call = self.core.read("/incidents/{id}");
        let url = self.url(&format!("/incidents/{}", segment(name)), &[]);
        let (x, v) = self
            .core
            .send_json(
                reqwest::Method::GET,
                &url,
                &call,
                CallClass::Read,
                Body::None,
            )
            .await?;
        let raw = String::from_utf8_lossy(&x.body).into_owned();
        parse_incident(&v, raw).map_err(|e| self.core.bad_resource(&call, &e))
    }

    /// Read-modify-write with the etag: from `known` (else a read), the PUT body of the update
    /// ([`put_body`]); a 409 reads again at once, one PUT per etag, at most
    /// [`MAX_CONFLICTS`] times.
    async fn update_incident(
        &self,
        name: &str,
        update: &IncidentUpdate,
        known: Option<IncidentRecord>,
        request_id: Uuid,
    ) -> Result<UpdateOutcome, ApiError> {
        let mut start = known;
        let mut conflicts = 0;
        loop {
            let record = match start.take() {
                Some(record) => record,
                None => self.get_incident(name).await?,
            };
            let Some(body) = put_body(&record, update)? else {
                return Ok(UpdateOutcome::AlreadyDone(record));
            };
            match self.put_incident(name, &body, request_id).await {
                Ok(written) => return Ok(UpdateOutcome::Written(written)),
                Err(ApiError::Conflict) if conflicts < MAX_CONFLICTS => conflicts += 1,
                Err(error) => return Err(error),
            }
        }
    }

    async fn list_alerts(&self, name: &str) -> Result<Vec<Value>, ApiError> {
        self.post_list(name, "alerts", "/incidents/{id}/alerts", "value")
            .await
    }

    async fn list_entities(&self, name: &str) -> Result<Vec<Value>, ApiError> {
        self.post_list(name, "entities", "/incidents/{id}/entities", "entities")
            .await
    }

    async fn put_comment(
        &self,
        name: &str,
        comment_id: Uuid,
        message: &str,
        request_id: Uuid,
    ) -> Result<String, ApiError> {
        let call = self
            .core
            .call("PUT", "/incidents/{id}/comments/{commentId}", request_id);
        let url = self.url(
            &format!("/incidents/{}/comments/{comment_id}", segment(name)),
            &[],
        );
        let body = json!({"properties": {"message": message}});
        let (_, v) = self
            .core
            .send_json(
                reqwest::Method::PUT,
                &url,
                &call,
                CallClass::CommentWrite,
                Body::Json(&body),
            )
            .await?;
        Ok(v.get("etag")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string())
    }

    async fn list_comments(&self, name: &str) -> Result<Vec<CommentRecord>, ApiError> {
        let call = self.core.read("/incidents/{id}/comments");
        let mut url = self.url(&format!("/incidents/{}/comments", segment(name)), &[]);
        let mut comments = Vec::new();
        for _ in 0..MAX_COMMENT_PAGES {
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
            for item in items {
                comments.push(parse_comment(item).map_err(|e| self.core.bad_resource(&call, &e))?);
            }
            match azure::next_link(&body, "nextLink") {
                Some(link) => url = self.core.follow(&link, &call, "nextLink")?,
                None => return Ok(comments),
            }
        }
        tracing::warn!(
            pages = MAX_COMMENT_PAGES,
            "comment listing: page limit reached; later comments are not read"
        );
        Ok(comments)
    }

    async fn get_comment(&self, name: &str, comment_id: Uuid) -> Result<Option<String>, ApiError> {
        let call = self.core.read("/incidents/{id}/comments/{commentId}");
        let url = self.url(
            &format!("/incidents/{}/comments/{comment_id}", segment(name)),
            &[],
        );
        let x = self
            .core
            .send(
                reqwest::Method::GET,
                &url,
                &call,
                CallClass::Read,
                Body::None,
            )
            .await?;
        let v = match self.core.json_ok(&x, &call) {
            Ok(v) => v,
            Err(ApiError::NotFound) => return Ok(None),
            Err(e) => return Err(e),
        };
        match v.get("properties").and_then(|p| p.get("message")) {
            Some(Value::String(m)) => Ok(Some(m.clone())),
            _ => Err(classify::unexpected(
                &x,
                &call,
                self.core.redactor(),
                "comment without a message",
            )),
        }
    }
}
