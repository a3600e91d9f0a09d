//! The remote calls behind StatusSync's effects: Sentinel incident writes (read, stop if done,
//! PUT with the etag, again on 409), comments (PUT by id), and SIGNL4 resolve, acknowledge
//! (inbound webhook with the ExternalID) and annotate (REST).
//!
//! Invariants: every call is safe to repeat after a crash: incident writes check the target
//! state first, comments are written by a deterministic id, resolve and acknowledge are
//! idempotent in SIGNL4 (a Signl in the target state stays there). Annotate is the one call that
//! is not: an annotate whose outcome was lost is sent again (at-least-once, as for a Signl raise
//! without an API key), and its echo is still recognised by its text.

use serde_json::{json, Value};
use store::events::{Effect, EffectResult};
use store::EffectId;
use uuid::Uuid;

use super::SyncContext;
use crate::ports::{
    with_priority, ApiError, IncidentRecord, IncidentSource, Signl4Api, WritePriority,
};
use crate::retry::retry;
use store::IncidentKey;

/// Most read-modify-write rounds of one incident write before waiting for the next reconcile.
const MAX_CONFLICTS: u32 = 8;

impl<S: IncidentSource, G: Signl4Api> SyncContext<S, G> {
    pub(super) async fn call(
        &self,
        incident: IncidentKey,
        effect_id: EffectId,
        effect: &Effect,
    ) -> Result<EffectResult, (ApiError, u32)> {
        let backoff = self.settings.backoff;
        let name = self
            .store
            .read(|p| p.incident(self.tenant(), incident).map(|i| i.name.clone()))
            .unwrap_or_default();
        match effect {
            Effect::AcknowledgeIncident { .. } | Effect::CloseIncident { .. } => {
                self.write_incident(incident, &name, effect_id, effect)
                    .await
            }
            Effect::WriteComment {
                comment_id,
                message,
            } => {
                let write = retry(backoff, || {
                    self.sentinel
                        .put_comment(&name, *comment_id, message, effect_id.0)
                });
                // After the acknowledges and closes people wait for, before tags.
                let (result, attempts) = with_priority(WritePriority::Comment, write).await;
                // Sentinel moved the incident's etag with the comment; we were not told it.
                self.known.changed(self.tenant(), incident);
                result
                    .map(|etag| EffectResult::CommentWritten { etag })
                    .map_err(|e| (e, attempts))
            }
            Effect::ResolveSignl { external_id, .. } => {
                self.send_status(external_id, "resolved", effect_id).await
            }
            Effect::AcknowledgeSignl { external_id, .. } => {
                self.send_status(external_id, "acknowledged", effect_id)
                    .await
            }
            Effect::AnnotateSignl { signl_id, text, .. } => {
                let (result, attempts) = retry(backoff, || {
                    self.signl4.annotate(signl_id, text, effect_id.0)
                })
                .await;
                match result {
                    Ok(Some(reference)) => Ok(EffectResult::Signl4Accepted { reference }),
                    Ok(None) => Err((
                        ApiError::Rejected {
                            status: 0,
                            message: "no SIGNL4 API key is configured; annotations need one".into(),
                        },
                        attempts,
                    )),
                    Err(e) => Err((e, attempts)),
                }
            }
            other => Err((
                ApiError::Rejected {
                    status: 0,
                    message: format!("StatusSync does not perform {other:?}"),
                },
                0,
            )),
        }
    }

    /// A status-only event for the Signls of an ExternalID (`resolved`, `acknowledged`).
    async fn send_status(
        &self,
        external_id: &str,
        status: &str,
        effect_id: EffectId,
    ) -> Result<EffectResult, (ApiError, u32)> {
        let body = json!({"X-S4-ExternalID": external_id, "X-S4-Status": status});
        let (result, attempts) = retry(self.settings.backoff, || {
            self.signl4.send_event(&body, effect_id.0)
        })
        .await;
        result
            .map(|reference| EffectResult::Signl4Accepted { reference })
            .map_err(|e| (e, attempts))
    }

    /// Start from the freshest state known (Sentinel) or a read, stop if already done, modify,
    /// PUT with the etag; read again at once on 409.
    async fn write_incident(
        &self,
        incident: IncidentKey,
        name: &str,
        effect_id: EffectId,
        effect: &Effect,
    ) -> Result<EffectResult, (ApiError, u32)> {
        let backoff = self.settings.backoff;
        let tenant = self.tenant();
        let mut conflicts = 0;
        // What we know without a read: only for Sentinel, whose PUTs are etag-checked (a stale
        // record costs a 409 and a read). A log read error just means a read.
        let mut known = if self.settings.source == store::events::Source::Sentinel {
            self.known
                .freshest(&self.store, tenant, incident)
                .ok()
                .flatten()
        } else {
            None
        };
        loop {
            let record = match known.take() {
                Some(record) => record,
                None => {
                    let (read, attempts) =
                        retry(backoff, || self.sentinel.get_incident(name)).await;
                    let record = read.map_err(|e| (e, attempts))?;
                    self.known.remember(tenant, incident, &record);
                    record
                }
            };
            let Some(mut body) = change(&record, effect).map_err(|e| (e, 1))? else {
                return Ok(EffectResult::AlreadyDone {
                    detail: format!("incident already {}", record.status),
                });
            };
            // A tag still pending folds into this write: one incident write instead of two
            // under the Sentinel budget (the run records the tag as done with this outcome).
            fold_label(&mut body, &record, &self.settings.tag);
            match self.sentinel.put_incident(name, &body, effect_id.0).await {
                Ok(written) => {
                    self.known.remember(tenant, incident, &written);
                    return Ok(EffectResult::IncidentWritten { etag: written.etag });
                }
                Err(ApiError::Conflict) if conflicts < MAX_CONFLICTS => {
                    self.known.forget(tenant, incident);
                    conflicts += 1;
                }
                Err(error) if error.is_retryable() && conflicts < MAX_CONFLICTS => {
                    conflicts += 1;
                    tokio::time::sleep(backoff.wait(conflicts, &error)).await;
                }
                Err(error) => return Err((error, conflicts + 1)),
            }
        }
    }
}

/// Adds `label` (when set and missing) to a PUT body built from `record`.
pub fn fold_label(body: &mut Value, record: &IncidentRecord, label: &str) {
    if label.is_empty() || record.labels.iter().any(|l| l.eq_ignore_ascii_case(label)) {
        return;
    }
    let labels = &mut body["properties"]["labels"];
    match labels.as_array_mut() {
        Some(list) => list.push(json!({"labelName": label})),
        None => *labels = json!([{"labelName": label}]),
    }
}

/// The PUT body that applies `effect` to the incident read as `record`, or `None` when the
/// incident is already in the target state. Every other field is sent back as read.
pub fn change(record: &IncidentRecord, effect: &Effect) -> Result<Option<Value>, ApiError> {
    let closed = record.status.eq_ignore_ascii_case("closed");
    let (owner, status) = match effect {
        Effect::AcknowledgeIncident {
            owner, set_active, ..
        } => {
            let owner_done = owner.as_deref().is_none_or(|o| {
                record
                    .owner
                    .as_deref()
                    .is_some_and(|r| r.eq_ignore_ascii_case(o))
            });
            let active_done = !set_active || !record.status.eq_ignore_ascii_case("new");
            if closed || (owner_done && active_done) {
                return Ok(None);
            }
            let status =
                (*set_active && record.status.eq_ignore_ascii_case("new")).then_some("Active");
            (owner.as_deref(), status)
        }
        Effect::CloseIncident { owner, .. } => {
            if closed {
                return Ok(None);
            }
            (owner.as_deref(), Some("Closed"))
        }
        _ => return Ok(None),
    };
    let raw: Value = serde_json::from_str(&record.raw_json)
        .map_err(|e| ApiError::Transient(format!("incident JSON does not parse: {e}")))?;
    let mut properties = raw
        .get("properties")
        .cloned()
        .filter(Value::is_object)
        .ok_or_else(|| ApiError::Transient("incident has no properties object".into()))?;
    if let Some(owner) = owner {
        properties["owner"] = if Uuid::parse_str(owner).is_ok() {
            json!({"objectId": owner})
        } else {
            json!({"userPrincipalName": owner})
        };
    }
    if let Some(status) = status {
        properties["status"] = json!(status);
    }
    if let Effect::CloseIncident {
        classification,
        classification_reason,
        classification_comment,
        ..
    } = effect
    {
        properties["classification"] = json!(classification);
        match classification_reason {
            Some(reason) => properties["classificationReason"] = json!(reason),
            None => {
                if let Some(map) = properties.as_object_mut() {
                    map.remove("classificationReason");
                }
            }
        }
        properties["classificationComment"] = json!(classification_comment);
    }
    Ok(Some(json!({"etag": record.etag, "properties": properties})))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(labels: &[&str]) -> IncidentRecord {
        IncidentRecord {
            name: "i".into(),
            etag: "\"e1\"".into(),
            status: "New".into(),
            labels: labels.iter().map(|l| l.to_string()).collect(),
            raw_json: r#"{"properties":{"title":"t","status":"New","severity":"High",
                "labels":[{"labelName":"other"}]}}"#
                .into(),
            ..IncidentRecord::default()
        }
    }

    #[test]
    fn a_pending_tag_folds_into_the_acknowledge_write_once() {
        let ack = Effect::AcknowledgeIncident {
            owner: Some("rene@contoso.com".into()),
            set_active: true,
            cause: "ack/round-1/u".into(),
        };
        let read = record(&["other"]);
        let mut body = change(&read, &ack).unwrap().expect("a write");
        fold_label(&mut body, &read, "SIGNL4");
        let labels = body["properties"]["labels"].as_array().unwrap();
        assert_eq!(labels.len(), 2, "{labels:?}");
        assert_eq!(labels[1]["labelName"], "SIGNL4");
        assert_eq!(body["properties"]["status"], "Active");

        // Already labelled, or no tag configured: the body is left as it was.
        let labelled = record(&["other", "signl4"]);
        let mut again = change(&labelled, &ack).unwrap().unwrap();
        let before = again.clone();
        fold_label(&mut again, &labelled, "SIGNL4");
        fold_label(&mut again, &labelled, "");
        assert_eq!(again, before);
    }
}
