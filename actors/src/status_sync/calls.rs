//! The remote calls behind StatusSync's effects: incident updates (acknowledge, close, with a
//! pending tag folded in; the adapter reads, stops if done, and writes), comments (PUT by id),
//! and SIGNL4 resolve, acknowledge (inbound webhook with the ExternalID) and annotate (REST).
//!
//! Invariants: every call is safe to repeat after a crash: incident writes check the target
//! state first, comments are written by a deterministic id, resolve and acknowledge are
//! idempotent in SIGNL4 (a Signl in the target state stays there). Annotate is the one call that
//! is not: an annotate whose outcome was lost is sent again (at-least-once, as for a Signl raise
//! without an API key), and its echo is still recognised by its text.

use serde_json::json;
use store::events::{Effect, EffectResult};
use store::EffectId;

use super::SyncContext;
use crate::known::IncidentWrite;
use crate::observation::incident_change;
use crate::ports::{
    with_priority, ApiError, IncidentSource, IncidentUpdate, Signl4Api, WritePriority,
};
use crate::retry::retry;
use store::IncidentKey;

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

    /// The acknowledge or close as an incident update, with a pending tag folded in; the
    /// adapter's read-modify-write starts from the freshest state this process knows.
    async fn write_incident(
        &self,
        incident: IncidentKey,
        name: &str,
        effect_id: EffectId,
        effect: &Effect,
    ) -> Result<EffectResult, (ApiError, u32)> {
        let tenant = self.tenant();
        let Some(change) = incident_change(effect) else {
            return Err((
                ApiError::Rejected {
                    status: 0,
                    message: format!("{effect:?} is not an incident write"),
                },
                0,
            ));
        };
        // A tag still pending folds into this write: one incident write instead of two under
        // the Sentinel budget (the run records the tag as done with this outcome).
        let tag = &self.settings.tag;
        let update = IncidentUpdate {
            change,
            fold_label: (!tag.is_empty()).then(|| tag.clone()),
        };
        let write = IncidentWrite {
            tenant,
            incident,
            name,
            update,
            request_id: effect_id.0,
        };
        self.known
            .write(&self.store, &*self.sentinel, self.settings.backoff, write)
            .await
    }
}
