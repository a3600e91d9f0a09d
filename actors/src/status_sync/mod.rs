//! StatusSync: what people do in SIGNL4 flows into Sentinel, and Sentinel closes flow back.
//!
//! - SIGNL4 acknowledge -> owner assignment (mapped user) and Active, plus a comment;
//!   close -> Closed with the configured classification, reason and comment, plus a comment;
//!   annotation -> a comment "<user> via SIGNL4: <text>".
//! - Closed in Sentinel (by an analyst, not by us) -> the Signl is resolved.
//!
//! Invariants:
//! - A notification is recorded (deduplicated by its id through the inbox) and durable before
//!   its sender is answered; the write-back runs after, as intents with outcomes.
//! - Comment ids are uuid v5 of tenant, incident and notification id, so a retry rewrites the
//!   same comment; incident writes read first and stop when the incident is already in the
//!   target state, then PUT the full resource with its etag, again on 409.
//! - No loops: notifications without a user (the echo of our own resolve, webhook-driven
//!   changes) are recorded but not written back; a Sentinel change whose etag our own write
//!   produced never resolves anything; a Signl that is already closed is not resolved again.

mod actor;
mod handlers;
pub mod notification;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use serde_json::{json, Value};
use store::aggregate::SignlStatus;
use store::events::{Effect, EffectResult, Signl4Action, Signl4ActionReceived};
use store::ids::{comment_id, external_id};
use store::keys::{inbox, InboxSource};
use store::writer::Execution;
use store::{Command, EffectId, ExecuteOutcome, IncidentKey, Store, StoreError, TenantId};
use uuid::Uuid;

use crate::messages::Recorded;
use crate::ports::{ApiError, IncidentRecord, SentinelApi, Signl4Api};
use crate::retry::retry;
use crate::settings::ConnectorSettings;
use crate::tracker::{Claims, Tracker};
use notification::Notification;

/// Most read-modify-write rounds of one incident write before waiting for the next reconcile.
const MAX_CONFLICTS: u32 = 8;

/// The StatusSync of one connector.
pub struct StatusSync<S: SentinelApi + 'static, G: Signl4Api + 'static> {
    context: Rc<SyncContext<S, G>>,
    tracker: Tracker,
    /// The reconcile pass in flight (at most one; see `tracker::spawn_exclusive`).
    reconciling: Tracker,
}

/// Everything syncing needs; shared with in-flight work.
pub struct SyncContext<S, G> {
    pub settings: Rc<ConnectorSettings>,
    pub store: Store,
    pub sentinel: Rc<S>,
    pub signl4: Rc<G>,
    /// Effects being performed right now, so a reconcile never races them.
    pub busy: Claims,
    /// ExternalID -> incident, rebuilt from the projection when an id is not found.
    pub by_external_id: RefCell<HashMap<String, IncidentKey>>,
}

impl<S: SentinelApi + 'static, G: Signl4Api + 'static> StatusSync<S, G> {
    /// A StatusSync for one connector.
    pub fn new(context: SyncContext<S, G>) -> Self {
        StatusSync {
            context: Rc::new(context),
            tracker: Tracker::default(),
            reconciling: Tracker::default(),
        }
    }
}

impl<S: SentinelApi, G: Signl4Api> SyncContext<S, G> {
    fn tenant(&self) -> TenantId {
        self.settings.tenant()
    }

    /// The incident a Signl's ExternalID belongs to.
    fn incident_of(&self, external: &str) -> Option<IncidentKey> {
        if let Some(key) = self.by_external_id.borrow().get(external) {
            return Some(*key);
        }
        let tenant = self.tenant();
        let keys: Vec<IncidentKey> = self.store.read(|p| {
            p.incidents
                .values()
                .filter(|i| i.tenant == tenant)
                .map(|i| i.key)
                .collect()
        });
        let mut map = self.by_external_id.borrow_mut();
        for key in keys {
            map.insert(external_id(tenant, key), key);
        }
        map.get(external).copied()
    }

    /// Records a notification; `Some(incident)` when it is new and should be written back.
    pub async fn record(
        &self,
        notification: &Notification,
    ) -> Result<(Recorded, Option<IncidentKey>), StoreError> {
        let tenant = self.tenant();
        let Some(incident) = notification
            .external_id
            .as_deref()
            .and_then(|e| self.incident_of(e))
        else {
            return Ok((Recorded::UnknownIncident, None));
        };
        let command = Command::RecordSignl4Action(Signl4ActionReceived {
            notification_id: notification.id.clone(),
            signl_id: notification.signl_id.clone(),
            action: notification.action.clone(),
            user_email: notification.user_email.clone(),
            user_name: notification.user_name.clone(),
            raised_at_ms: notification.raised_at_ms,
        });
        let key = inbox(
            InboxSource::Signl4Notification,
            tenant,
            notification.id.as_bytes(),
        );
        let outcome = self
            .store
            .execute(Execution::incident(tenant, incident, command).with_inbox_key(key))
            .await?;
        Ok(match outcome {
            ExecuteOutcome::Appended(_) => (Recorded::New, Some(incident)),
            ExecuteOutcome::Duplicate { .. } => (Recorded::Duplicate, None),
            ExecuteOutcome::Unchanged | ExecuteOutcome::Rejected(_) => {
                (Recorded::UnknownIncident, None)
            }
        })
    }

    /// The write-back of one recorded SIGNL4 action.
    pub async fn write_back(
        &self,
        incident: IncidentKey,
        notification: &Notification,
    ) -> Result<(), StoreError> {
        let sync = &self.settings.sync;
        let Some(email) = notification.user_email.as_deref() else {
            // No user: the echo of our own resolve or a webhook-driven change. Never echo back.
            return Ok(());
        };
        let who = match notification.user_name.as_deref() {
            Some(name) => format!("{name} ({email})"),
            None => email.to_string(),
        };
        let cause = notification.id.clone();
        let tenant = self.tenant();
        let comment = |message: String| Effect::WriteComment {
            comment_id: comment_id(tenant, incident, &cause),
            message,
        };
        match &notification.action {
            Signl4Action::Acknowledged => {
                self.perform(
                    incident,
                    Effect::AcknowledgeIncident {
                        owner: sync.assign_owner_on_ack.then(|| sync.owner_for(email)),
                        set_active: sync.set_active_on_ack,
                        cause: cause.clone(),
                    },
                )
                .await?;
                self.perform(
                    incident,
                    comment(format!("Acknowledged in SIGNL4 by {who}.")),
                )
                .await?;
            }
            Signl4Action::Closed => {
                self.perform(
                    incident,
                    Effect::CloseIncident {
                        classification: sync.classification.clone(),
                        classification_reason: sync.classification_reason.clone(),
                        classification_comment: sync.classification_comment.clone(),
                        owner: sync.assign_owner_on_close.then(|| sync.owner_for(email)),
                        cause: cause.clone(),
                    },
                )
                .await?;
                self.perform(incident, comment(format!("Closed in SIGNL4 by {who}.")))
                    .await?;
            }
            Signl4Action::Annotated { text } => {
                self.perform(incident, comment(format!("{who} via SIGNL4: {text}")))
                    .await?;
            }
        }
        Ok(())
    }

    /// Resolves the Signl when an analyst closed the incident in Sentinel.
    pub async fn sentinel_changed(&self, incident: IncidentKey) -> Result<(), StoreError> {
        if !self.settings.sync.resolve_on_sentinel_close {
            return Ok(());
        }
        let tenant = self.tenant();
        let Some(state) = self.store.read(|p| p.incident(tenant, incident).cloned()) else {
            return Ok(());
        };
        let open = matches!(
            state.signl.status,
            SignlStatus::Open | SignlStatus::Acknowledged
        );
        if state.closed_in_sentinel() && open && !state.is_own_etag(&state.etag) {
            self.perform(
                incident,
                Effect::ResolveSignl {
                    external_id: external_id(tenant, incident),
                    round: state.round,
                },
            )
            .await?;
        }
        Ok(())
    }

    /// Records the intent of `effect`, performs it and records the outcome. A second request of
    /// the same effect is refused by the log, so this never performs anything twice.
    async fn perform(&self, incident: IncidentKey, effect: Effect) -> Result<(), StoreError> {
        let tenant = self.tenant();
        let outcome = self
            .store
            .execute(Execution::incident(
                tenant,
                incident,
                Command::Request(effect.clone()),
            ))
            .await?;
        let Some(effect_id) = outcome
            .events()
            .first()
            .and_then(|e| e.event.opens_effect())
        else {
            return Ok(());
        };
        self.run(incident, effect_id, &effect).await
    }

    /// Performs an open intent (new, or found open by a reconcile) and records its outcome.
    async fn run(
        &self,
        incident: IncidentKey,
        effect_id: EffectId,
        effect: &Effect,
    ) -> Result<(), StoreError> {
        let Some(claim) = self.busy.claim(effect_id) else {
            return Ok(()); // being performed right now
        };
        let result = self.call(incident, effect_id, effect).await;
        drop(claim);
        let command = match result {
            Ok(result) => Command::Succeed { effect_id, result },
            Err((error, attempts)) if !error.is_retryable() => Command::Fail {
                effect_id,
                reason: error.to_string(),
                attempts,
            },
            Err((error, _)) => {
                tracing::warn!(%error, %incident, "write-back not done yet; the intent stays open");
                return Ok(());
            }
        };
        self.store
            .execute(Execution::incident(self.tenant(), incident, command))
            .await?;
        Ok(())
    }

    async fn call(
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
                self.write_incident(&name, effect_id, effect).await
            }
            Effect::WriteComment {
                comment_id,
                message,
            } => {
                let (result, attempts) = retry(backoff, || {
                    self.sentinel
                        .put_comment(&name, *comment_id, message, effect_id.0)
                })
                .await;
                result
                    .map(|etag| EffectResult::CommentWritten { etag })
                    .map_err(|e| (e, attempts))
            }
            Effect::ResolveSignl { external_id, .. } => {
                let body = json!({"X-S4-ExternalID": external_id, "X-S4-Status": "resolved"});
                let (result, attempts) =
                    retry(backoff, || self.signl4.send_event(&body, effect_id.0)).await;
                result
                    .map(|reference| EffectResult::Signl4Accepted { reference })
                    .map_err(|e| (e, attempts))
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

    /// Read, stop if already done, modify, PUT with the etag; again on 409.
    async fn write_incident(
        &self,
        name: &str,
        effect_id: EffectId,
        effect: &Effect,
    ) -> Result<EffectResult, (ApiError, u32)> {
        let backoff = self.settings.backoff;
        let mut conflicts = 0;
        loop {
            let (read, attempts) = retry(backoff, || self.sentinel.get_incident(name)).await;
            let record = read.map_err(|e| (e, attempts))?;
            let Some(body) = change(&record, effect).map_err(|e| (e, 1))? else {
                return Ok(EffectResult::AlreadyDone {
                    detail: format!("incident already {}", record.status),
                });
            };
            match self.sentinel.put_incident(name, &body, effect_id.0).await {
                Ok(written) => return Ok(EffectResult::IncidentWritten { etag: written.etag }),
                Err(ApiError::Conflict) if conflicts < MAX_CONFLICTS => conflicts += 1,
                Err(error) if error.is_retryable() && conflicts < MAX_CONFLICTS => {
                    conflicts += 1;
                    tokio::time::sleep(backoff.wait(conflicts, &error)).await;
                }
                Err(error) => return Err((error, conflicts + 1)),
            }
        }
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

/// The open intents StatusSync owns for `tenant`.
pub fn owned_open_effects(store: &Store, tenant: TenantId) -> Vec<(IncidentKey, EffectId, Effect)> {
    store
        .read(|p| p.open_effects())
        .into_iter()
        .filter(|(t, _, _, effect)| {
            *t == tenant
                && matches!(
                    effect,
                    Effect::AcknowledgeIncident { .. }
                        | Effect::CloseIncident { .. }
                        | Effect::WriteComment { .. }
                        | Effect::ResolveSignl { .. }
                )
        })
        .map(|(_, incident, id, effect)| (incident, id, effect))
        .collect()
}

impl<S: SentinelApi, G: Signl4Api> SyncContext<S, G> {
    /// Finishes the open intents StatusSync owns (all its calls are idempotent or checked).
    pub async fn reconcile(&self) -> Result<(), StoreError> {
        for (incident, effect_id, effect) in owned_open_effects(&self.store, self.tenant()) {
            self.run(incident, effect_id, &effect).await?;
        }
        Ok(())
    }
}
