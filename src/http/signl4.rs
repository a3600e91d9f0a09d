//! [`Signl4Client`]: the `Signl4Api` port. Events go to the team's inbound webhook
//! (`POST {base}/webhook/{teamSecret}`, 201 `{"eventId"}`; an unknown secret is 404 code 3004);
//! Signls are looked up by ExternalID through REST v2 (`POST /api/v2/alerts/paged` with
//! `X-S4-Api-Key`, following the continuation token) when an API key is configured.
//!
//! Invariants:
//! - The team secret is part of the webhook URL, so that URL is never logged or formatted: spans
//!   and messages say `/webhook/{secret}`, transport errors lose their URL, and every message is
//!   scrubbed of the secret and the API key.
//! - The webhook POST is sent once per call (the library never retries it): a repeated POST
//!   would raise a second Signl. Retrying is the caller's decision, keyed by ExternalID.
//! - Paging is bounded (`max_pages`).
//!
//! The REST calls of the two-way sync (annotate, the polling fallback, users) are in [`rest`].

mod rest;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actors::ports::{Signl4Api, SignlAnnotation, SignlState, SignlSummary};
use serde_json::{json, Value};
use uuid::Uuid;

use super::classify;
use super::send::{self, segment, CallInfo};
use super::{ApiError, HttpContext, Redactor, Secret};

/// The SIGNL4 production host.
pub const PUBLIC_ENDPOINT: &str = "https://connect.signl4.com";

/// One SIGNL4 team.
#[derive(Debug, Clone, PartialEq)]
pub struct Signl4Settings {
    /// SIGNL4 host, e.g. `https://connect.signl4.com`.
    pub endpoint: String,
    /// Inbound webhook (team/integration) secret.
    pub team_secret: Secret,
    /// REST API key; without it `find_signls` answers `None`.
    pub api_key: Option<Secret>,
    /// `maxResults` per page (1..=100).
    pub page_size: u32,
    /// Most pages read per lookup.
    pub max_pages: u32,
    /// `userId` query parameter of `/alerts/paged`: the v2 docs (as MindCloud renders them) call it
    /// required with API-key authentication; the sandbox does not. Sent only when set.
    pub user_id: Option<String>,
}

impl Signl4Settings {
    /// Settings without an API key.
    pub fn new(endpoint: impl Into<String>, team_secret: impl Into<Secret>) -> Self {
        Signl4Settings {
            endpoint: endpoint.into(),
            team_secret: team_secret.into(),
            api_key: None,
            page_size: 100,
            max_pages: 50,
            user_id: None,
        }
    }

    /// Adds the REST API key (an empty key means none).
    pub fn with_api_key(mut self, key: impl Into<Secret>) -> Self {
        let key = key.into();
        self.api_key = (!key.expose().is_empty()).then_some(key);
        self
    }
}

/// The SIGNL4 client of one team. Cheap to clone.
#[derive(Clone)]
pub struct Signl4Client {
    http: reqwest::Client,
    /// The `connector` label of its requests in `/metrics`.
    connector: std::sync::Arc<str>,
    settings: Arc<Signl4Settings>,
    redactor: Redactor,
    /// SIGNL4 user id (lowercase) -> (email, name), read through the REST API when needed.
    users: Arc<Mutex<HashMap<String, (String, String)>>>,
    /// Whether the service served the alert timeline the last time it was asked (`None`:
    /// not asked yet), so a missing route is reported once per change, not once per poll.
    timeline: Arc<Mutex<Option<bool>>>,
}

impl std::fmt::Debug for Signl4Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signl4Client")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Signl4Client {
    /// A client for `settings` using `ctx`'s HTTP client.
    pub fn new(ctx: &HttpContext, settings: Signl4Settings) -> Self {
        let redactor = Redactor::new(
            [Some(&settings.team_secret), settings.api_key.as_ref()]
                .into_iter()
                .flatten()
                .map(Secret::expose),
        );
        Signl4Client {
            http: ctx.client().clone(),
            connector: ctx.connector(),
            settings: Arc::new(settings),
            redactor,
            users: Arc::default(),
            timeline: Arc::default(),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &Signl4Settings {
        &self.settings
    }

    fn base(&self) -> &str {
        self.settings.endpoint.trim_end_matches('/')
    }
}

/// One Signl of a paged result.
fn summary(v: &Value) -> Option<SignlSummary> {
    let id = v.get("id").and_then(Value::as_str)?.to_string();
    let event_id = v
        .get("eventId")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let status = v.get("status").and_then(Value::as_u64).unwrap_or(0) as u32;
    let created_ms = v["history"]["created"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.timestamp_millis());
    Some(SignlSummary {
        id,
        event_id,
        status,
        created_ms,
    })
}

impl Signl4Api for Signl4Client {
    async fn send_event(&self, body: &Value, request_id: Uuid) -> Result<String, ApiError> {
        let call = CallInfo {
            connector: &self.connector,
            service: "signl4",
            method: "POST",
            template: "/webhook/{secret}",
            request_id,
        };
        let url = format!(
            "{}/webhook/{}",
            self.base(),
            segment(self.settings.team_secret.expose())
        );
        let req = self.http.post(&url).json(body);
        let x = send::send(req, &call, &self.redactor).await?;
        if x.status == 404 {
            // SIGNL4 answers an unknown team secret with 404 code 3004: a configuration error,
            // not a missing resource; retrying cannot help.
            let msg = serde_json::from_slice::<Value>(&x.body)
                .ok()
                .and_then(|v| classify::service_error(&v))
                .map(|(c, m)| format!("code {c}: {m}"))
                .unwrap_or_else(|| format!("body {}", classify::snippet(&x.body)));
            return Err(ApiError::Rejected {
                status: 404,
                message: self
                    .redactor
                    .clean(&format!("webhook rejected the event ({msg})")),
            });
        }
        if !x.is_success() {
            return Err(classify::response(&x, &call, &self.redactor));
        }
        let v = x.json(&call, &self.redactor)?;
        match v.get("eventId").and_then(Value::as_str) {
            Some(id) if !id.is_empty() => Ok(id.to_string()),
            _ => Err(classify::unexpected(
                &x,
                &call,
                &self.redactor,
                "accepted without an eventId",
            )),
        }
    }

    async fn find_signls(&self, external_id: &str) -> Result<Option<Vec<SignlSummary>>, ApiError> {
        let Some(items) = self.paged(json!({ "externalId": external_id })).await? else {
            return Ok(None);
        };
        Ok(Some(
            items
                .iter()
                // v1 ignores the externalId filter; never report another incident's Signl.
                .filter(|r| {
                    r.get("externalId")
                        .and_then(Value::as_str)
                        .is_none_or(|e| e == external_id)
                })
                .filter_map(summary)
                .collect(),
        ))
    }

    fn has_rest_api(&self) -> bool {
        self.settings.api_key.is_some()
    }

    async fn annotate(
        &self,
        signl_id: &str,
        text: &str,
        request_id: Uuid,
    ) -> Result<Option<String>, ApiError> {
        self.annotate_signl(signl_id, text, request_id).await
    }

    async fn changed_signls(
        &self,
        modified_since_ms: i64,
    ) -> Result<Option<Vec<SignlState>>, ApiError> {
        self.changed(modified_since_ms).await
    }

    async fn annotations(&self, signl_id: &str) -> Result<Option<Vec<SignlAnnotation>>, ApiError> {
        self.annotations_of(signl_id).await
    }
}
