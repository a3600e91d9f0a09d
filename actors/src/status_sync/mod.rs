//! StatusSync: what people do in SIGNL4 flows into Sentinel, and what analysts do in Sentinel
//! flows back into SIGNL4.
//!
//! - SIGNL4 acknowledge -> owner assignment (mapped user) and Active, plus a comment;
//!   close -> Closed with the configured classification, reason and comment, plus a comment;
//!   annotation -> a comment "<user> via SIGNL4: <text>". Changes arrive by outbound webhook or,
//!   where that cannot be received, by polling the REST API ([`rest_poll`]); both describe a
//!   change by the same key, so it is recorded once.
//! - Closed in Sentinel (by an analyst, not by us) -> the Signl is resolved; an owner set after
//!   the page -> the Signl is acknowledged; an analyst comment -> an annotation ([`sentinel`]).
//! - Merged in Defender -> the Signl follows the surviving incident ([`merge`]).
//!
//! Invariants:
//! - An effect is performed only by the holder of its claim, only while its intent is open,
//!   and the claim is held until its outcome is recorded: no two paths (a write-back and a
//!   reconcile pass) perform one intent twice.
//! - A notification is recorded (deduplicated by its change key through the inbox) together with
//!   the intents of its write-back, in one commit, before its sender is answered: a crash at any
//!   point leaves either nothing (SIGNL4 delivers again) or the action with all its intents, which
//!   the reconcile finishes. The write-back runs after, as intents with outcomes.
//! - Comment ids are uuid v5 of tenant, incident and what the write-back answers
//!   ([`write_back_cause`]: the round and user of an acknowledge, the round of a close, the id of
//!   an annotation), so a retry, a second delivery or a second Signl of the same round rewrites
//!   the same comment; incident writes start from the freshest state known (`known`: the last
//!   listing or our own last write's answer; a GET for sources without etag-checked PUTs) and stop
//!   when the incident is already in the target state, then PUT the full resource with its etag,
//!   reading again at once on 409 (so a restart between a PUT and its outcome costs a 409 and a
//!   read, never a second change).
//! - A tag still pending folds into an acknowledge or close write: the PUT carries the label,
//!   and the tag's intent is recorded done in the same commit as that write's outcome, only when
//!   the write succeeded (a crash before that commit leaves both open; the label is then found
//!   present by whichever write comes next, so it is never written twice nor lost).
//! - No loops, by provenance recorded in the log: a SIGNL4 change without a user, an acknowledge
//!   or close of a Signl we acknowledged or resolved ourselves, and an annotation we added (by
//!   its id, or its text while ours is in flight) are recorded but never written back; a
//!   Sentinel change whose etag our own write produced acts on nothing; our own comments (their
//!   ids are our effects) are never sent to SIGNL4, and a comment is sent at most once (the
//!   annotation's effect id is derived from the comment id).

mod actor;
mod calls;
mod handlers;
pub mod merge;
pub mod notification;
pub mod rest_poll;
pub mod sentinel;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use store::aggregate::{Incident, SignlStatus};
use store::events::{Effect, Signl4Action, Signl4ActionReceived};
use store::ids::{comment_id, external_id};
use store::keys::{inbox, InboxSource};
use store::writer::Execution;
use store::{Command, EffectId, ExecuteOutcome, IncidentKey, Store, StoreError, TenantId};

use crate::known::KnownIncidents;
use crate::messages::Recorded;
use crate::parking::{log_parked, settle, Parking, Settled};
use crate::ports::{IncidentSource, Signl4Api};
use crate::settings::{ConnectorSettings, SyncSettings};
use crate::tracker::{Claims, Exclusive, Tracker};
use notification::Notification;

/// The StatusSync of one connector.
pub struct StatusSync<S: IncidentSource + 'static, G: Signl4Api + 'static> {
    context: Rc<SyncContext<S, G>>,
    tracker: Tracker,
    /// The reconcile pass in flight (at most one; see `tracker::spawn_exclusive`).
    reconciling: Exclusive,
}

/// Everything syncing needs; shared with in-flight work.
pub struct SyncContext<S, G> {
    pub settings: Rc<ConnectorSettings>,
    pub store: Store,
    pub sentinel: Rc<S>,
    pub signl4: Rc<G>,
    /// Effects being performed right now, so a reconcile never races them.
    pub busy: Claims,
    /// Effects waiting for an operator, and when to try each again.
    pub parking: Parking,
    /// What our own writes and reads of incidents answered (shared with the Forwarder).
    pub known: Rc<KnownIncidents>,
    /// ExternalID -> incident, rebuilt from the projection when an id is not found.
    pub by_external_id: RefCell<HashMap<String, IncidentKey>>,
    /// Bookkeeping of the Sentinel and REST pollers of this StatusSync (memory only: after a
    /// restart everything is looked at once more, and the log deduplicates).
    pub polls: PollState,
}

/// What StatusSync remembers between polls, in memory.
#[derive(Debug, Default)]
pub struct PollState {
    /// Incident -> the etag whose comments were all looked at.
    pub comments_seen: RefCell<HashMap<IncidentKey, String>>,
    /// Where the next REST poll starts (ms); `None` before the first.
    pub rest_since_ms: Cell<Option<i64>>,
    /// Signl id -> `lastModified` whose annotations were all looked at.
    pub annotations_seen: RefCell<HashMap<String, String>>,
    /// A REST poll is running (a tick during it is skipped).
    pub rest_polling: Cell<bool>,
}

impl<S: IncidentSource + 'static, G: Signl4Api + 'static> StatusSync<S, G> {
    /// A StatusSync for one connector.
    pub fn new(context: SyncContext<S, G>) -> Self {
        StatusSync {
            context: Rc::new(context),
            tracker: Tracker::default(),
            reconciling: Exclusive::default(),
        }
    }
}

/// The intents the write-back of `notification` needs, given the incident's state; `cause` is
/// the notification's change key. Empty for changes the connector must not echo (see the
/// module invariants).
pub fn write_back_effects(
    sync: &SyncSettings,
    state: &Incident,
    notification: &Notification,
) -> Vec<Effect> {
    let Some(email) = notification.user_email.as_deref() else {
        // No user: the echo of our own resolve/acknowledge or a webhook-driven change.
        return Vec::new();
    };
    let ours = |effect: Effect| state.requested(&effect);
    let external = external_id(state.tenant, state.key);
    let round = state.round;
    let who = match notification.user_name.as_deref() {
        Some(name) => format!("{name} ({email})"),
        None => email.to_string(),
    };
    let cause = write_back_cause(state, notification);
    let comment = |message: String| Effect::WriteComment {
        comment_id: comment_id(state.tenant, state.key, &cause),
        message,
    };
    match &notification.action {
        Signl4Action::Acknowledged => {
            if ours(Effect::AcknowledgeSignl {
                external_id: external,
                round,
            }) {
                return Vec::new();
            }
            let mut effects = Vec::new();
            // A late acknowledge of a closed Signl changes nothing in Sentinel.
            if state.signl.status != SignlStatus::Closed {
                effects.push(Effect::AcknowledgeIncident {
                    owner: sync.assign_owner_on_ack.then(|| sync.owner_for(email)),
                    set_active: sync.set_active_on_ack,
                    cause: cause.clone(),
                });
            }
            effects.push(comment(format!("Acknowledged in SIGNL4 by {who}.")));
            effects
        }
        Signl4Action::Closed => {
            if ours(Effect::ResolveSignl {
                external_id: external,
                round,
            }) {
                return Vec::new();
            }
            vec![
                Effect::CloseIncident {
                    classification: sync.classification.clone(),
                    classification_reason: sync.classification_reason.clone(),
                    classification_comment: sync.classification_comment.clone(),
                    owner: sync.assign_owner_on_close.then(|| sync.owner_for(email)),
                    cause: cause.clone(),
                },
                comment(format!("Closed in SIGNL4 by {who}.")),
            ]
        }
        Signl4Action::Annotated { text } => {
            if state.is_own_annotation(notification.annotation_id.as_deref(), text) {
                return Vec::new();
            }
            vec![comment(format!("{who} via SIGNL4: {text}"))]
        }
    }
}

/// What a write-back answers, as Sentinel sees it: the cause of its effects and the seed of its
/// comment id. Acknowledges and closes are named by the incident's round and the user, not by
/// the Signl: a round can have two Signls (a re-post without an API key is known
/// at-least-once), and a user acting on both must still change Sentinel once and leave one
/// comment ("comment written 2 times: Acknowledged in SIGNL4 by Alice" in the chaos run came
/// from comment ids derived from each Signl's id). Annotations keep their own id: each is news.
pub fn write_back_cause(state: &Incident, notification: &Notification) -> String {
    let round = state.round;
    match &notification.action {
        Signl4Action::Acknowledged => {
            let user = notification
                .user_id
                .as_deref()
                .or(notification.user_email.as_deref())
                .unwrap_or("-");
            format!("ack/round-{round}/{user}")
        }
        Signl4Action::Closed => format!("close/round-{round}"),
        Signl4Action::Annotated { .. } => notification.change_key(),
    }
}

impl<S: IncidentSource, G: Signl4Api> SyncContext<S, G> {
    fn tenant(&self) -> TenantId {
        self.settings.tenant()
    }

    /// The incident a Signl's ExternalID belongs to.
    fn incident_of(&self, external: &str) -> Option<IncidentKey> {
        if let Some(key) = self.by_external_id.borrow().get(external) {
            return Some(*key);
        }
        let tenant = self.tenant();
        let mut map = self.by_external_id.borrow_mut();
        // Incidents are never removed: when every incident of the tenant is mapped already, the
        // id is not ours (another connector's Signl in a shared team) and nothing is visited.
        // Otherwise only the incidents not mapped yet are hashed.
        let new: Vec<IncidentKey> = self.store.read(|p| {
            if p.incident_count(tenant) == map.len() {
                return Vec::new();
            }
            let mapped: std::collections::HashSet<IncidentKey> = map.values().copied().collect();
            p.incidents_of(tenant)
                .map(|i| i.key)
                .filter(|key| !mapped.contains(key))
                .collect()
        });
        for key in new {
            map.insert(external_id(tenant, key), key);
        }
        map.get(external).copied()
    }

    /// The inbox key of a change.
    fn change_inbox_key(&self, notification: &Notification) -> Vec<u8> {
        inbox(
            InboxSource::Signl4Change,
            self.tenant(),
            notification.change_key().as_bytes(),
        )
    }

    /// True when the change (or, for notifications recorded by an older build, the notification
    /// id) is in the inbox already: a cheap read that spares the writer a known repeat.
    fn seen(&self, notification: &Notification) -> Result<bool, StoreError> {
        let legacy = inbox(
            InboxSource::Signl4Notification,
            self.tenant(),
            notification.id.as_bytes(),
        );
        Ok(self.store.log().inbox_get(&legacy)?.is_some()
            || self
                .store
                .log()
                .inbox_get(&self.change_inbox_key(notification))?
                .is_some())
    }

    /// Records a notification with the intents of its write-back, in one commit. Returns what
    /// became of it and, when new, the incident and the intents to perform.
    pub async fn record(
        &self,
        notification: &Notification,
    ) -> Result<(Recorded, Option<(IncidentKey, Vec<(EffectId, Effect)>)>), StoreError> {
        let tenant = self.tenant();
        let Some(incident) = notification
            .external_id
            .as_deref()
            .and_then(|e| self.incident_of(e))
        else {
            return Ok((Recorded::UnknownIncident, None));
        };
        if self.seen(notification)? {
            return Ok((Recorded::Duplicate, None));
        }
        let effects = self
            .store
            .read(|p| {
                p.incident(tenant, incident)
                    .map(|state| write_back_effects(&self.settings.sync, state, notification))
            })
            .unwrap_or_default();
        let command = Command::RecordSignl4Action(Signl4ActionReceived {
            notification_id: notification.id.clone(),
            signl_id: notification.signl_id.clone(),
            action: notification.action.clone(),
            user_email: notification.user_email.clone(),
            user_name: notification.user_name.clone(),
            raised_at_ms: notification.raised_at_ms,
        });
        let mut executions = vec![Execution::incident(tenant, incident, command)
            .with_inbox_key(self.change_inbox_key(notification))];
        // A repeat (a race with another delivery of the same change) has the same effect ids,
        // so its requests are refused by the log.
        executions.extend(
            effects
                .into_iter()
                .map(|e| Execution::incident(tenant, incident, Command::Request(e))),
        );
        let outcomes = self.store.execute_many(executions).await?;
        // The hand-off: the write-back must be finished from the open intents alone.
        store::crash::point("action.after_commit");
        let opened: Vec<(EffectId, Effect)> = outcomes[1..]
            .iter()
            .flat_map(|o| o.events())
            .filter_map(|e| match &e.event {
                store::events::Event::EffectRequested(r) => Some((r.effect_id, r.effect.clone())),
                _ => None,
            })
            .collect();
        Ok(match &outcomes[0] {
            ExecuteOutcome::Appended(_) => (Recorded::New, Some((incident, opened))),
            ExecuteOutcome::Duplicate { .. } => (Recorded::Duplicate, None),
            ExecuteOutcome::Unchanged | ExecuteOutcome::Rejected(_) => {
                (Recorded::UnknownIncident, None)
            }
        })
    }

    /// Performs the intents of one recorded SIGNL4 action, in order.
    pub async fn write_back(
        &self,
        incident: IncidentKey,
        intents: Vec<(EffectId, Effect)>,
    ) -> Result<(), StoreError> {
        for (effect_id, effect) in intents {
            self.run(incident, effect_id, &effect).await?;
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
        // A reconcile pass lists the open intents once, then walks them: one finished by a
        // write-back in the meantime (its claim released after its outcome) is done, not open.
        if !self.is_open(incident, effect_id) {
            return Ok(());
        }
        store::crash::point("effect.after_intent");
        // An acknowledge and a close of one incident both waiting: one write does both.
        let merged = self.merge_with_partner(incident, effect_id, effect);
        let result = match &merged {
            Some(m) => self.call(incident, m.call_id, &m.call).await,
            None => self.call(incident, effect_id, effect).await,
        };
        if result.is_ok() {
            store::crash::point("effect.after_call");
        }
        // The claim is held until the outcome is recorded (it drops when this returns): released
        // earlier, a reconcile pass could find the intent still open and perform it again.
        let interval = self.settings.poll_interval;
        let command = match settle(&self.parking, effect_id, result, interval, "write-back") {
            Settled::Outcome(command) => command,
            Settled::Park(command) => {
                let outcome = self
                    .store
                    .execute(Execution::incident(
                        self.tenant(),
                        incident,
                        command.clone(),
                    ))
                    .await?;
                if !outcome.events().is_empty() {
                    log_parked(&command, "write-back");
                }
                return Ok(());
            }
            Settled::Open => return Ok(()),
        };
        let folded = self.folded_tag(incident, effect, &command);
        let partner_done = match (&merged, &command) {
            (Some(m), Command::Succeed { result, .. }) => Some(Execution::incident(
                self.tenant(),
                incident,
                Command::Succeed {
                    effect_id: m.partner_id,
                    result: result.clone(),
                },
            )),
            _ => None,
        };
        let mut executions = vec![Execution::incident(self.tenant(), incident, command)];
        executions.extend(folded);
        executions.extend(partner_done);
        self.store.execute_many(executions).await?;
        drop(merged);
        drop(claim);
        Ok(())
    }

    /// When `effect` is an acknowledge or a close of the incident and the other one is open
    /// too (both waited: a parked write-back released, a restart, a budget queue), the one
    /// write that does both: the close, carrying the acknowledge's owner when the close names
    /// none. The partner is claimed until its outcome, the same as this write's, is recorded
    /// with it; an open partner someone else performs is left to them.
    fn merge_with_partner(
        &self,
        incident: IncidentKey,
        effect_id: EffectId,
        effect: &Effect,
    ) -> Option<Merged<'_>> {
        let is_ack = matches!(effect, Effect::AcknowledgeIncident { .. });
        let is_close = matches!(effect, Effect::CloseIncident { .. });
        if !is_ack && !is_close {
            return None;
        }
        let open: Vec<(EffectId, Effect)> = self.store.read(|p| {
            p.incident(self.tenant(), incident)
                .map(|i| {
                    i.open_effects
                        .iter()
                        .map(|(id, e)| (*id, e.clone()))
                        .collect()
                })
                .unwrap_or_default()
        });
        let (partner_id, partner) = open.into_iter().find(|(id, e)| {
            *id != effect_id
                && if is_ack {
                    matches!(e, Effect::CloseIncident { .. })
                } else {
                    matches!(e, Effect::AcknowledgeIncident { .. })
                }
        })?;
        let claim = self.busy.claim(partner_id)?;
        let (close_id, close, ack) = if is_ack {
            (partner_id, partner, effect.clone())
        } else {
            (effect_id, effect.clone(), partner)
        };
        let Effect::AcknowledgeIncident {
            owner: ack_owner, ..
        } = ack
        else {
            return None;
        };
        let Effect::CloseIncident {
            classification,
            classification_reason,
            classification_comment,
            owner,
            cause,
        } = close
        else {
            return None;
        };
        Some(Merged {
            call_id: close_id,
            call: Effect::CloseIncident {
                classification,
                classification_reason,
                classification_comment,
                owner: owner.or(ack_owner),
                cause,
            },
            partner_id,
            _claim: claim,
        })
    }

    /// The tag's intent and outcome when an incident write carried the label (see
    /// `IncidentUpdate::fold_label`), to record with the write's outcome: the Forwarder then has no tag
    /// left to write.
    fn folded_tag(
        &self,
        incident: IncidentKey,
        effect: &Effect,
        command: &Command,
    ) -> Vec<Execution> {
        let label = &self.settings.tag;
        let written = matches!(
            command,
            Command::Succeed {
                result: store::events::EffectResult::IncidentWritten { .. },
                ..
            }
        );
        let incident_write = matches!(
            effect,
            Effect::AcknowledgeIncident { .. } | Effect::CloseIncident { .. }
        );
        if label.is_empty() || !written || !incident_write {
            return Vec::new();
        }
        let tag = Effect::TagIncident {
            label: label.clone(),
        };
        let tenant = self.tenant();
        let (open, requested) = self.store.read(|p| {
            p.incident(tenant, incident).map_or((false, true), |i| {
                let id = store::aggregate::effect_id(tenant, incident, &tag);
                (i.open_effects.contains_key(&id), i.requested(&tag))
            })
        });
        let done = Command::Succeed {
            effect_id: store::aggregate::effect_id(tenant, incident, &tag),
            result: store::events::EffectResult::AlreadyDone {
                detail: "label written with a SIGNL4 write-back".into(),
            },
        };
        match (open, requested) {
            (true, _) => vec![Execution::incident(tenant, incident, done)],
            (false, false) => vec![
                Execution::incident(tenant, incident, Command::Request(tag)),
                Execution::incident(tenant, incident, done),
            ],
            (false, true) => Vec::new(),
        }
    }

    /// True while the intent of `effect_id` has no outcome in the log.
    fn is_open(&self, incident: IncidentKey, effect_id: EffectId) -> bool {
        self.store.read(|p| {
            p.incident(self.tenant(), incident)
                .is_some_and(|i| i.open_effects.contains_key(&effect_id))
        })
    }

    /// Finishes the open intents StatusSync owns (all its calls are idempotent or checked), asks
    /// for the resolves and acknowledges the state wants and nobody asked for, and looks at the
    /// comments of open incidents not looked at since their last change.
    pub async fn reconcile(&self) -> Result<(), StoreError> {
        for (incident, effect_id, effect) in owned_open_effects(&self.store, self.tenant()) {
            if !self.parking.ready(effect_id) {
                continue; // parked, and its wait is not over
            }
            store::crash::point("reconcile.open_intent");
            self.run(incident, effect_id, &effect).await?;
        }
        self.sync_open_signls().await?;
        self.sync_unseen_comments().await
    }
}

/// One incident write that carries out an acknowledge and a close together (see
/// [`SyncContext::merge_with_partner`]).
struct Merged<'a> {
    /// The close's id: the write is the close, sent with its request id.
    call_id: EffectId,
    /// The close, with the acknowledge's owner when it names none.
    call: Effect,
    /// The other effect of the two, recorded with the same outcome.
    partner_id: EffectId,
    /// Held until both outcomes are recorded.
    _claim: crate::tracker::Claim<'a>,
}

/// The open intents StatusSync owns for `tenant`.
pub fn owned_open_effects(store: &Store, tenant: TenantId) -> Vec<(IncidentKey, EffectId, Effect)> {
    store
        .read(|p| p.open_effects_of(tenant))
        .into_iter()
        .filter(|(_, _, effect)| {
            matches!(
                effect,
                Effect::AcknowledgeIncident { .. }
                    | Effect::CloseIncident { .. }
                    | Effect::WriteComment { .. }
                    | Effect::ResolveSignl { .. }
                    | Effect::AcknowledgeSignl { .. }
                    | Effect::AnnotateSignl { .. }
            )
        })
        .collect()
}
