//! The REST v2 calls of [`Signl4Client`] beyond the ExternalID lookup: the paged listing shared
//! by every search, annotating a Signl, listing the Signls modified since a time (the polling
//! fallback), a Signl's annotations (from its timeline), and the team's users (to name who
//! acted).
//!
//! Invariants:
//! - Every call needs the API key; without one they answer `None` and send nothing.
//! - Documented v2 routes only (docs/reference/signl4-api.md §2.3). In v2, annotations come with the alert's
//!   timeline (`GET /api/v2/alerts/{id}/timeline`): entries whose `annotationtype` is 1 (Text)
//!   are annotations. The envelope is unpublished, so a plain array and an object holding the
//!   entries (`timelineEntries`, `entries`, `results`, `items`, `value`) are both read.
//! - A timeline route the service does not serve (404/405) degrades visibly, not noisily: the
//!   first miss logs one WARN and the reader answers `None` (no annotations by polling) until a
//!   timeline is read again, which logs one INFO. One line per state change, never per poll.
//! - Users are cached per client and the list is read again at most once per call, when an
//!   actor's id is not in it; an unknown user is reported by id alone.

use std::collections::HashMap;

use actors::ports::{SignlAnnotation, SignlState, SignlUser};
use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use super::super::classify;
use super::super::send::{self, segment, CallInfo};
use super::super::ApiError;
use super::Signl4Client;

/// ms since the epoch of a SIGNL4 timestamp.
fn time_ms(v: &Value) -> Option<i64> {
    v.as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.timestamp_millis())
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// A Signl of a listing, with user ids not yet resolved (names and emails empty).
pub fn parse_state(v: &Value) -> Option<SignlState> {
    let history = v.get("history").unwrap_or(&Value::Null);
    let user = |id: String| SignlUser {
        id,
        ..SignlUser::default()
    };
    Some(SignlState {
        id: text(v, "id")?,
        external_id: text(v, "externalId"),
        status: v.get("status").and_then(Value::as_u64).unwrap_or(0) as u32,
        last_modified: text(v, "lastModified").unwrap_or_default(),
        acknowledged_by: history
            .get("acknowledgements")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| text(x, "userId"))
                    .map(user)
                    .collect()
            })
            .unwrap_or_default(),
        acknowledged_at_ms: history.get("acknowledgedAt").and_then(time_ms),
        closed_by: text(history, "closedBy").map(user),
        closed_at_ms: history.get("closedAt").and_then(time_ms),
        has_annotations: v.get("flags").and_then(Value::as_u64).unwrap_or(0) & 2 != 0,
    })
}

impl Signl4Client {
    /// `POST /api/v2/alerts/paged` with `filter`, following continuation tokens (bounded);
    /// `None` without an API key.
    pub(super) async fn paged(&self, filter: Value) -> Result<Option<Vec<Value>>, ApiError> {
        let Some(key) = &self.settings.api_key else {
            return Ok(None);
        };
        let mut url = format!(
            "{}/api/v2/alerts/paged?maxResults={}",
            self.base(),
            self.settings.page_size.clamp(1, 100)
        );
        if let Some(u) = self.settings.user_id.as_deref().filter(|u| !u.is_empty()) {
            url.push_str("&userId=");
            url.push_str(&send::pct_encode(u));
        }
        let mut found = Vec::new();
        let mut continuation: Option<Value> = None;
        for _ in 0..self.settings.max_pages.max(1) {
            let call = CallInfo {
                connector: &self.connector,
                service: "signl4",
                method: "POST",
                template: "/api/v2/alerts/paged",
                request_id: Uuid::new_v4(),
            };
            let mut body = filter.clone();
            if let Some(c) = &continuation {
                body["continuationToken"] = c.clone();
            }
            let req = self
                .http
                .post(&url)
                .header("X-S4-Api-Key", key.expose())
                .json(&body);
            let x = send::send(req, &call, &self.redactor).await?;
            // 204: nothing (more) matches (v1 behaviour, kept by v2 in practice).
            if x.status == 204 || (x.is_success() && x.body.iter().all(u8::is_ascii_whitespace)) {
                return Ok(Some(found));
            }
            if !x.is_success() {
                return Err(classify::response(&x, &call, &self.redactor));
            }
            let v = x.json(&call, &self.redactor)?;
            let results = v.get("results").and_then(Value::as_array).ok_or_else(|| {
                classify::unexpected(&x, &call, &self.redactor, "no 'results' array")
            })?;
            found.extend(results.iter().cloned());
            let more = v.get("hasMore").and_then(Value::as_bool).unwrap_or(false);
            match v.get("continuationToken").filter(|c| !c.is_null()) {
                Some(c) if more => continuation = Some(c.clone()),
                _ => return Ok(Some(found)),
            }
        }
        tracing::warn!(
            max_pages = self.settings.max_pages,
            "SIGNL4 listing: page limit reached; result may be incomplete"
        );
        Ok(Some(found))
    }

    /// A GET or POST with the API key; the 2xx exchange or the classified error.
    async fn rest(
        &self,
        method: reqwest::Method,
        path: &str,
        template: &'static str,
        body: Option<&Value>,
        request_id: Uuid,
    ) -> Result<Option<send::Exchange>, ApiError> {
        let Some(key) = &self.settings.api_key else {
            return Ok(None);
        };
        let call = CallInfo {
            connector: &self.connector,
            service: "signl4",
            method: if method == reqwest::Method::GET {
                "GET"
            } else {
                "POST"
            },
            template,
            request_id,
        };
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base()))
            .header("X-S4-Api-Key", key.expose());
        if let Some(body) = body {
            req = req.json(body);
        }
        let x = send::send(req, &call, &self.redactor).await?;
        if !x.is_success() {
            return Err(classify::response(&x, &call, &self.redactor));
        }
        Ok(Some(x))
    }

    /// `POST /api/v2/alerts/{id}/annotate` `{type: 1, text}`; the annotation's id.
    pub(super) async fn annotate_signl(
        &self,
        signl_id: &str,
        text_: &str,
        request_id: Uuid,
    ) -> Result<Option<String>, ApiError> {
        let template = "/api/v2/alerts/{id}/annotate";
        let path = format!("/api/v2/alerts/{}/annotate", segment(signl_id));
        let body = json!({"type": 1, "text": text_});
        let Some(x) = self
            .rest(
                reqwest::Method::POST,
                &path,
                template,
                Some(&body),
                request_id,
            )
            .await?
        else {
            return Ok(None);
        };
        let call = CallInfo {
            connector: &self.connector,
            service: "signl4",
            method: "POST",
            template,
            request_id,
        };
        let v = x.json(&call, &self.redactor)?;
        // An annotation without an id is accepted all the same; its echo is still recognised
        // by its text while the intent is open.
        Ok(Some(
            text(&v, "id").unwrap_or_else(|| request_id.to_string()),
        ))
    }

    /// The Signls modified at or after `since_ms`, with their actors named.
    pub(super) async fn changed(&self, since_ms: i64) -> Result<Option<Vec<SignlState>>, ApiError> {
        let since = Utc
            .timestamp_millis_opt(since_ms.max(0))
            .single()
            .unwrap_or_default()
            .to_rfc3339_opts(SecondsFormat::Millis, true);
        let Some(items) = self.paged(json!({ "modifiedSince": since })).await? else {
            return Ok(None);
        };
        let mut states: Vec<SignlState> = items.iter().filter_map(parse_state).collect();
        let ids: Vec<String> = states
            .iter()
            .flat_map(|s| s.acknowledged_by.iter().chain(s.closed_by.iter()))
            .map(|u| u.id.clone())
            .collect();
        let users = self.users_for(&ids).await;
        for s in &mut states {
            for u in s.acknowledged_by.iter_mut().chain(s.closed_by.iter_mut()) {
                name_user(u, &users);
            }
        }
        Ok(Some(states))
    }

    /// The annotations of a Signl from `GET /api/v2/alerts/{id}/timeline` (204: none), authors
    /// named, oldest first; `None` without an API key or while the route is missing.
    pub(super) async fn annotations_of(
        &self,
        signl_id: &str,
    ) -> Result<Option<Vec<SignlAnnotation>>, ApiError> {
        let path = format!("/api/v2/alerts/{}/timeline", segment(signl_id));
        let template = "/api/v2/alerts/{id}/timeline";
        let request_id = Uuid::new_v4();
        let x = match self
            .rest(reqwest::Method::GET, &path, template, None, request_id)
            .await
        {
            Ok(Some(x)) => x,
            Ok(None) => return Ok(None),
            Err(
                ApiError::NotFound
                | ApiError::Rejected {
                    status: 404 | 405, ..
                },
            ) => {
                self.timeline_route(false);
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        self.timeline_route(true);
        if x.status == 204 || x.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Some(Vec::new()));
        }
        let call = CallInfo {
            connector: &self.connector,
            service: "signl4",
            method: "GET",
            template,
            request_id,
        };
        let v = x.json(&call, &self.redactor)?;
        let items = timeline_entries(&v).ok_or_else(|| {
            classify::unexpected(
                &x,
                &call,
                &self.redactor,
                "the timeline has no entries array",
            )
        })?;
        let mut notes: Vec<SignlAnnotation> = items.iter().filter_map(annotation_of).collect();
        let ids: Vec<String> = notes
            .iter()
            .filter_map(|n| n.user.as_ref().map(|u| u.id.clone()))
            .collect();
        let users = self.users_for(&ids).await;
        for n in &mut notes {
            if let Some(u) = n.user.as_mut() {
                name_user(u, &users);
            }
        }
        notes.sort_by_key(|n| n.at_ms);
        Ok(Some(notes))
    }

    /// Records whether the timeline route answered; logs only when that changes.
    fn timeline_route(&self, served: bool) {
        let mut state = self.timeline.lock().unwrap_or_else(|e| e.into_inner());
        let was = state.replace(served);
        match (was, served) {
            (Some(true) | None, false) => tracing::warn!(
                route = "GET /api/v2/alerts/{id}/timeline",
                "SIGNL4 does not serve the alert timeline; annotations are not polled (outbound \
                 webhooks still bring them). Logged once until the route answers again."
            ),
            (Some(false), true) => tracing::info!(
                route = "GET /api/v2/alerts/{id}/timeline",
                "SIGNL4 serves the alert timeline again; annotations are polled"
            ),
            _ => {}
        }
    }

    /// The cached users, read again (once) when one of `ids` is not known. A failed read is
    /// logged and leaves the actors unnamed: an unnamed acknowledge is still recorded.
    async fn users_for(&self, ids: &[String]) -> HashMap<String, (String, String)> {
        let missing = {
            let cache = self.users.lock().unwrap_or_else(|e| e.into_inner());
            ids.iter()
                .any(|id| !cache.contains_key(&id.to_ascii_lowercase()))
        };
        if missing {
            match self
                .rest(
                    reqwest::Method::GET,
                    "/api/v2/users",
                    "/api/v2/users",
                    None,
                    Uuid::new_v4(),
                )
                .await
            {
                Ok(Some(x)) => {
                    let list: Value = serde_json::from_slice(&x.body).unwrap_or(Value::Null);
                    let mut cache = self.users.lock().unwrap_or_else(|e| e.into_inner());
                    for u in list.as_array().into_iter().flatten() {
                        if let Some(id) = text(u, "id") {
                            cache.insert(
                                id.to_ascii_lowercase(),
                                (
                                    text(u, "mail").unwrap_or_default(),
                                    text(u, "name").unwrap_or_default(),
                                ),
                            );
                        }
                    }
                }
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, "SIGNL4 users not read"),
            }
        }
        self.users.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// The entries of a timeline answer: a plain array, or an object holding one.
pub fn timeline_entries(v: &Value) -> Option<&Vec<Value>> {
    if let Some(a) = v.as_array() {
        return Some(a);
    }
    ["timelineEntries", "entries", "results", "items", "value"]
        .iter()
        .find_map(|k| v.get(*k).and_then(Value::as_array))
}

/// The annotation a timeline entry holds: `annotationtype` 1 (Text, number or name) with text.
pub fn annotation_of(e: &Value) -> Option<SignlAnnotation> {
    let kind = e
        .get("annotationtype")
        .or_else(|| e.get("annotationType"))?;
    let is_text = kind.as_u64() == Some(1)
        || kind
            .as_str()
            .is_some_and(|k| k.eq_ignore_ascii_case("text"));
    if !is_text {
        return None;
    }
    Some(SignlAnnotation {
        id: text(e, "id")?,
        text: e.get("text").and_then(Value::as_str)?.to_string(),
        user: text(e, "userId").map(|id| SignlUser {
            id,
            ..SignlUser::default()
        }),
        at_ms: e.get("timestamp").and_then(time_ms).unwrap_or(0),
    })
}

/// Fills a user's email and name from the cache.
fn name_user(user: &mut SignlUser, users: &HashMap<String, (String, String)>) {
    if let Some((mail, name)) = users.get(&user.id.to_ascii_lowercase()) {
        user.email = Some(mail.clone()).filter(|m| !m.is_empty());
        user.name = Some(name.clone()).filter(|n| !n.is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listed_signl_reads_its_history() {
        let v = json!({"id": "s1", "externalId": "e1", "status": 4, "flags": 2,
            "lastModified": "2026-01-01T10:00:00.1234567Z",
            "history": {"acknowledgedAt": "2026-01-01T09:00:00Z",
                "acknowledgements": [{"userId": "u1"}], "closedAt": "2026-01-01T10:00:00Z",
                "closedBy": "u2"}});
        let s = parse_state(&v).unwrap();
        assert_eq!(s.acknowledged_by[0].id, "u1");
        assert_eq!(s.closed_by.as_ref().unwrap().id, "u2");
        assert!(s.has_annotations);
        assert_eq!(s.status, 4);
        assert_eq!(s.acknowledged_at_ms, Some(1_767_258_000_000));
        assert!(parse_state(&json!({"status": 1})).is_none(), "no id");
    }

    #[test]
    fn annotations_are_the_text_entries_of_the_timeline_whatever_the_envelope() {
        let entries = json!([
            {"annotationtype": 0, "entrytype": 0, "id": "t0", "text": "created",
             "timestamp": "2026-01-01T09:00:00Z", "userId": null},
            {"annotationtype": 1, "entrytype": 1, "id": "a1", "text": "on my way",
             "timestamp": "2026-01-01T09:01:00Z", "userId": "u1"},
            {"annotationtype": 2, "id": "img", "text": "", "userId": "u1"},
            {"annotationType": "Text", "id": "a2", "text": "done"}]);
        let notes: Vec<SignlAnnotation> = timeline_entries(&entries)
            .unwrap()
            .iter()
            .filter_map(annotation_of)
            .collect();
        assert_eq!(
            notes.iter().map(|n| n.id.as_str()).collect::<Vec<_>>(),
            ["a1", "a2"]
        );
        assert_eq!(notes[0].user.as_ref().unwrap().id, "u1");
        assert_eq!(notes[0].at_ms, 1_767_258_060_000);
        let wrapped = json!({"timelineEntries": entries});
        assert_eq!(timeline_entries(&wrapped).unwrap().len(), 4);
        assert!(timeline_entries(&json!({"other": 1})).is_none());
    }
}
