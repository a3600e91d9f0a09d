//! [`DefenderClient`]: Microsoft Defender XDR incidents (`{graph}/security/incidents`) behind
//! the `IncidentSource` port, for connectors with `read_source = "defender"`.
//!
//! Each incident is presented to the pipeline in Sentinel's shape ([`incident_view`]): listing
//! is `GET /security/incidents?$expand=alerts` with the poll's `$filter` (status, severity,
//! `lastUpdateDateTime ge`) and `$top`, following `@odata.nextLink` verbatim; a read is
//! `GET .../{id}?$expand=alerts`; an incident write (acknowledge, close, tag) is a read and one
//! `PATCH .../{id}` of status, assignedTo, classification + determination and customTags; a
//! comment is `POST .../{id}/comments`. The expanded alerts and their evidence travel in the
//! observation, so the Enricher reads them from the log ([`IncidentSource::list_alerts`] and
//! [`IncidentSource::list_entities`] read the incident when called anyway).
//!
//! Merges: a `redirected` incident names its survivor in `redirectIncidentId`. Reads for a write
//! (`get_incident`), incident writes and comments of a merged incident go to the survivor, so
//! the Signl that follows a merge (see `actors::status_sync::merge`) acts on the incident
//! analysts now work on.
//!
//! Choices (as for alerts, see [`super`]): no `$orderby` (the Poller needs no order);
//! `Prefer: include-unknown-enum-members` on every request (status `awaitingAction`);
//! a comment carries a marker with its id and is posted only when the incident has no comment
//! with it yet, so a retry after a lost answer does not comment twice.
//!
//! Invariants: every call goes through the [`GraphClient`]'s plumbing: the tenant's Graph rate
//! budget (Graph allows about 150 `/security` requests per minute per app and tenant; the budget's
//! planning numbers stay below that), a token for the Graph scope with one forced refresh on 401,
//! 429 as `Throttled` with `Retry-After`; writes send the effect's id as
//! `x-ms-client-request-id`; an `@odata.nextLink` outside the configured origin is refused.

use actors::ports::{
    ApiError, CommentRecord, IncidentPage, IncidentQuery, IncidentRecord, IncidentSource,
    IncidentUpdate, UpdateOutcome,
};
use serde_json::{json, Value};
use uuid::Uuid;

use super::incident_view::{self, parse_defender_incident};
use super::{view, GraphClient, GraphSettings};
use crate::http::azure::{self, Body};
use crate::http::budget::CallClass;
use crate::http::classify;
use crate::http::send::{pct_encode, segment};
use crate::http::HttpContext;

/// Most merges followed from one incident to its survivor (Defender merges into a live incident,
/// so one hop is the rule; a bound keeps a cycle from looping).
const MAX_REDIRECTS: usize = 4;

/// The survivor a `redirected` incident names, if it is one.
fn redirect_target(incident: &Value) -> Option<String> {
    if !incident["status"]
        .as_str()
        .is_some_and(|s| s.eq_ignore_ascii_case("redirected"))
    {
        return None;
    }
    incident["redirectIncidentId"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The Defender incidents client of one tenant. Cheap to clone.
#[derive(Clone, Debug)]
pub struct DefenderClient {
    graph: GraphClient,
    /// `{graph}/security/incidents`.
    incidents: String,
}

impl DefenderClient {
    /// A client for `settings`, sharing `ctx`'s HTTP client, token cache and the tenant's Graph
    /// rate budget (the same one alerts_v2 draws from: Graph counts `/security` as one).
    pub fn new(ctx: &HttpContext, settings: GraphSettings) -> Self {
        let endpoint = settings.endpoint.trim_end_matches('/').to_string();
        DefenderClient {
            incidents: format!("{endpoint}/security/incidents"),
            graph: GraphClient::new(ctx, settings),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &GraphSettings {
        self.graph.settings()
    }

    fn incident_url(&self, id: &str) -> String {
        format!("{}/{}", self.incidents, segment(id))
    }

    /// The incident as received, with its alerts expanded.
    pub async fn get_raw(&self, id: &str) -> Result<Value, ApiError> {
        let call = self.graph.core.read("/security/incidents/{id}");
        let (x, v) = self
            .graph
            .core
            .send_json(
                reqwest::Method::GET,
                &format!("{}?$expand=alerts", self.incident_url(id)),
                &call,
                CallClass::Read,
                Body::None,
            )
            .await?;
        if !v.is_object() {
            return Err(classify::unexpected(
                &x,
                &call,
                self.graph.core.redactor(),
                "the incident is not an object",
            ));
        }
        Ok(v)
    }

    /// The incident, or, when Defender merged it (`redirected`), the incident it lives on in
    /// (`redirectIncidentId`, followed up to [`MAX_REDIRECTS`] times): a Signl that follows a
    /// merged incident acts on the survivor.
    pub async fn get_survivor(&self, id: &str) -> Result<Value, ApiError> {
        let mut incident = self.get_raw(id).await?;
        for _ in 0..MAX_REDIRECTS {
            match redirect_target(&incident) {
                Some(next) => incident = self.get_raw(&next).await?,
                None => break,
            }
        }
        Ok(incident)
    }

    fn first_page_url(&self, query: &IncidentQuery) -> String {
        let filter = incident_view::build_filter(query);
        let mut qs = vec!["$expand=alerts".to_string()];
        if !filter.is_empty() {
            qs.push(format!("$filter={}", pct_encode(&filter)));
        }
        if query.page_size > 0 {
            qs.push(format!("$top={}", query.page_size.min(1000)));
        }
        format!("{}?{}", self.incidents, qs.join("&"))
    }
}

impl IncidentSource for DefenderClient {
    async fn list_incidents(
        &self,
        query: &IncidentQuery,
        next_link: Option<&str>,
    ) -> Result<IncidentPage, ApiError> {
        let call = self.graph.core.read("/security/incidents");
        let url = match next_link {
            Some(link) => self.graph.core.follow(link, &call, "@odata.nextLink")?,
            None => self.first_page_url(query),
        };
        let (x, body) = self
            .graph
            .core
            .send_json(
                reqwest::Method::GET,
                &url,
                &call,
                CallClass::Read,
                Body::None,
            )
            .await?;
        let items = self.graph.core.array(&x, &call, &body, "value")?;
        let mut incidents = Vec::with_capacity(items.len());
        for item in items {
            incidents.push(
                parse_defender_incident(item)
                    .map_err(|e| self.graph.core.bad_resource(&call, &e))?,
            );
        }
        let next_link = azure::next_link(&body, "@odata.nextLink");
        Ok(IncidentPage {
            incidents,
            next_link,
        })
    }

    /// The incident's current state; for a merged incident, its survivor's (writes made from
    /// a Signl that follows a merge act on the survivor).
    async fn get_incident(&self, name: &str) -> Result<IncidentRecord, ApiError> {
        let incident = self.get_survivor(name).await?;
        parse_defender_incident(&incident).map_err(|e| {
            self.graph
                .core
                .bad_resource(&self.graph.core.read("/security/incidents/{id}"), &e)
        })
    }

    /// Reads the incident (the survivor, for a merged one: the write lands where its work goes
    /// on), then PATCHes what the update changes ([`incident_view::incident_patch`]); `known`
    /// is not used: a PATCH has no etag, so it is built from a fresh read.
    async fn update_incident(
        &self,
        name: &str,
        update: &IncidentUpdate,
        _known: Option<IncidentRecord>,
        request_id: Uuid,
    ) -> Result<UpdateOutcome, ApiError> {
        let incident = self.get_survivor(name).await?;
        let read = parse_defender_incident(&incident).map_err(|e| {
            self.graph
                .core
                .bad_resource(&self.graph.core.read("/security/incidents/{id}"), &e)
        })?;
        let call = self
            .graph
            .core
            .call("PATCH", "/security/incidents/{id}", request_id);
        let patch =
            incident_view::incident_patch(&read, update).map_err(|message| ApiError::Rejected {
                status: 400,
                message,
            })?;
        let Some(patch) = patch else {
            return Ok(UpdateOutcome::AlreadyDone(read));
        };
        let (_, v) = self
            .graph
            .core
            .send_json(
                reqwest::Method::PATCH,
                &self.incident_url(&read.name),
                &call,
                CallClass::IncidentWrite,
                Body::Json(&patch),
            )
            .await?;
        parse_defender_incident(&v)
            .map(UpdateOutcome::Written)
            .map_err(|e| self.graph.core.bad_resource(&call, &e))
    }

    /// The incident's alerts (expanded), as received.
    async fn list_alerts(&self, name: &str) -> Result<Vec<Value>, ApiError> {
        let incident = self.get_raw(name).await?;
        Ok(incident["alerts"].as_array().cloned().unwrap_or_default())
    }

    /// The evidence of every alert of the incident, as received (polymorphic by `@odata.type`).
    async fn list_entities(&self, name: &str) -> Result<Vec<Value>, ApiError> {
        let incident = self.get_raw(name).await?;
        Ok(incident["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|a| a["evidence"].as_array().cloned().unwrap_or_default())
            .collect())
    }

    /// Posts the comment unless the incident already has it (found by its marker); answers the
    /// creation time Graph gave it (comments have no etag).
    async fn put_comment(
        &self,
        name: &str,
        comment_id: Uuid,
        message: &str,
        request_id: Uuid,
    ) -> Result<String, ApiError> {
        let incident = self.get_survivor(name).await?;
        if view::find_comment(&incident, comment_id).is_some() {
            return Ok(String::new());
        }
        let target = incident["id"].as_str().unwrap_or(name).to_string();
        let call = self
            .graph
            .core
            .call("POST", "/security/incidents/{id}/comments", request_id);
        let text = view::comment_text(message, comment_id);
        let body = json!({"@odata.type": view::COMMENT_TYPE, "comment": text});
        let (x, v) = self
            .graph
            .core
            .send_json(
                reqwest::Method::POST,
                &format!("{}/comments", self.incident_url(&target)),
                &call,
                CallClass::CommentWrite,
                Body::Json(&body),
            )
            .await?;
        let comments = v.get("value").and_then(Value::as_array).ok_or_else(|| {
            classify::unexpected(
                &x,
                &call,
                self.graph.core.redactor(),
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
        let incident = self.get_survivor(name).await?;
        Ok(view::find_comment(&incident, comment_id))
    }

    /// The incident's comments ([`view::comment_records`]): analysts' are mirrored to SIGNL4.
    async fn list_comments(&self, name: &str) -> Result<Vec<CommentRecord>, ApiError> {
        let incident = self.get_raw(name).await?;
        Ok(view::comment_records(&incident["comments"]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_redirected_incident_names_a_survivor() {
        assert_eq!(
            redirect_target(&json!({"status": "redirected", "redirectIncidentId": "9"})),
            Some("9".into())
        );
        assert_eq!(
            redirect_target(&json!({"status": "resolved", "redirectIncidentId": "9"})),
            None
        );
    }
}
