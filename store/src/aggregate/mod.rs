//! The incident aggregate: one incident's lifecycle as a state machine over the log.
//!
//! `decide` turns a [`Command`] into the events it implies, or a [`DecideError`] for a transition
//! the lifecycle does not allow; `apply` folds an event into the state. `decide` never mutates and
//! `apply` never refuses: every event in the log was decided once and must fold the same way
//! forever, which is what makes replay equal to the live state.
//!
//! The lifecycle of one incident, per round (a reopen starts a new round and pages again):
//!
//! ```text
//! observed ─▶ enriched ─▶ Signl requested ─▶ Signl raised ─▶ tagged
//!                                               │
//!        SIGNL4 acknowledged ─▶ owner assigned / Active (incident write) + comment
//!        SIGNL4 annotated    ─▶ comment
//!        SIGNL4 closed       ─▶ Closed with classification (incident write) + comment
//!        closed in Sentinel  ─▶ Signl resolved           reopened ─▶ next round
//!        owner set in Sentinel (after the page) ─▶ Signl acknowledged
//!        analyst comment in Sentinel            ─▶ Signl annotated
//!        merged in Defender (redirected)        ─▶ Signl annotated; resolved when the
//!                                                  survivor has its own Signl, else it
//!                                                  stands for the survivor
//! ```
//!
//! Every side effect is an `EffectRequested` (intent) closed by exactly one `EffectSucceeded`,
//! `EffectFailed` or `EffectCancelled` (outcome); meanwhile it may be `EffectParked` (waiting
//! for an operator, still open) once per change of reason. Effect ids are derived from what the effect is (see [`effect_id`]),
//! so asking twice for the same effect is refused instead of performed twice.

mod command;
mod decide;
mod desired;
mod tenant;

pub use command::Command;
pub use decide::{effect_id, DecideError};
pub use desired::{desired_effects, wants_page, Policy};
pub use tenant::TenantState;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

use crate::events::{Effect, EffectResult, Event, Signl4Action, Source};
use crate::ids::{EffectId, IncidentKey, TenantId};

/// How many etags of our own writes an incident remembers, to recognise them in later
/// observations (loop prevention). Writes are rare per incident; a handful is plenty.
const OWN_ETAGS_KEPT: usize = 8;

/// How many ids of annotations the connector added to SIGNL4 an incident remembers, to
/// recognise their echo in outbound webhooks and REST polls (loop prevention).
const OWN_ANNOTATIONS_KEPT: usize = 32;

/// Where this round's Signl stands, as far as the connector knows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SignlStatus {
    /// No Signl asked for in this round.
    #[default]
    None,
    /// The intent to raise it is recorded; the call's outcome is not.
    Requested,
    /// SIGNL4 accepted it.
    Open,
    /// A SIGNL4 user acknowledged it.
    Acknowledged,
    /// Closed in SIGNL4, by a user or by our resolve.
    Closed,
}

impl SignlStatus {
    /// How the audit tool and the status page show it.
    pub fn label(self) -> &'static str {
        match self {
            SignlStatus::None => "-",
            SignlStatus::Requested => "requested",
            SignlStatus::Open => "open",
            SignlStatus::Acknowledged => "acknowledged",
            SignlStatus::Closed => "closed",
        }
    }
}

/// The Signl of the current round.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Signl {
    /// Where it stands.
    pub status: SignlStatus,
    /// `eventId` from the webhook response.
    pub event_id: Option<String>,
    /// `alert.id`, learnt from the first notification about it.
    pub signl_id: Option<String>,
    /// Who acknowledged it (email, else user name).
    pub acknowledged_by: Option<String>,
    /// Who closed it; `None` with status Closed means our resolve closed it.
    pub closed_by: Option<String>,
    /// When it was raised, acknowledged and closed (ms), for response-time reporting.
    pub raised_at_ms: Option<i64>,
    pub acknowledged_at_ms: Option<i64>,
    pub closed_at_ms: Option<i64>,
    /// Annotations received.
    pub annotations: u32,
    /// When the intent to raise it was recorded (ms): Sentinel comments older than the page are
    /// context, not news, and are not sent as annotations.
    pub requested_at_ms: Option<i64>,
    /// The incident's owner when the Signl was raised: only an owner set after that (by an
    /// analyst) acknowledges the Signl.
    pub owner_at_raise: Option<String>,
}

/// One incident as the log knows it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub tenant: TenantId,
    pub key: IncidentKey,
    /// Events applied to this incident.
    pub version: u64,
    /// 0 until first observed; 1 for the first page; +1 for each reopen.
    pub round: u32,
    /// Where it was read.
    pub source: Option<Source>,
    /// The source id (Sentinel incident name or Graph alert id).
    pub name: String,
    pub number: i64,
    pub title: String,
    pub severity: String,
    pub status: String,
    pub owner: Option<String>,
    pub etag: String,
    pub created_ms: i64,
    pub last_modified_ms: i64,
    pub url: String,
    pub labels: Vec<String>,
    /// When the connector first and last recorded something about it.
    pub first_seen_ms: i64,
    pub last_event_ms: i64,
    /// The round of the latest enrichment (0 = never).
    pub enriched_round: u32,
    /// What the latest enrichment could not fetch.
    pub enrichment_missing: Vec<String>,
    /// This round's Signl.
    pub signl: Signl,
    /// Intents without outcome.
    pub open_effects: BTreeMap<EffectId, Effect>,
    /// Effects with an outcome (success or failure): never requested again.
    pub done_effects: BTreeSet<EffectId>,
    /// Open intents parked on a refusal an operator can fix, with the recorded reason.
    pub parked: BTreeMap<EffectId, String>,
    /// Etags our own incident writes produced, newest last.
    pub own_etags: VecDeque<String>,
    /// Comments written to Sentinel.
    pub comments_written: u32,
    /// Ids SIGNL4 gave the annotations the connector added, newest last (loop prevention).
    pub own_annotations: VecDeque<String>,
    /// Annotations the connector added to SIGNL4 (over all rounds).
    pub annotations_sent: u32,
    /// Signls raised over all rounds, and how many of those were re-posts without a check.
    pub signls_raised: u32,
    pub signls_unverified: u32,
    /// The incident Defender merged this one into (its source id), once recorded.
    pub merged_into: Option<String>,
    /// Whether that survivor had a Signl of its own when the merge was recorded (then this
    /// one's Signl is resolved; otherwise it stands for the survivor and stays up).
    pub merge_survivor_paged: bool,
    /// `redirectIncidentId` of the last observation, when it showed the incident closed by a
    /// Defender merge: until the merge is recorded, nothing is decided about the Signl.
    pub redirected_to: Option<String>,
}

/// The survivor a closed observation was redirected to (Defender merges), read from the
/// observed resource; `None` for every other observation (only closed ones are parsed).
fn redirect_in(status: &str, raw_json: &str) -> Option<String> {
    if !is_closed_status(status) || !raw_json.contains("redirectIncidentId") {
        return None;
    }
    let view: serde_json::Value = serde_json::from_str(raw_json).ok()?;
    view["properties"]["redirectIncidentId"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// True for the statuses that mean "closed" in either read source.
pub fn is_closed_status(status: &str) -> bool {
    status.eq_ignore_ascii_case("closed") || status.eq_ignore_ascii_case("resolved")
}

impl Incident {
    /// An incident never observed.
    pub fn new(tenant: TenantId, key: IncidentKey) -> Incident {
        Incident {
            tenant,
            key,
            ..Incident::default()
        }
    }

    /// True once an observation was applied.
    pub fn observed(&self) -> bool {
        self.round > 0
    }

    /// True when the last observation says Closed.
    pub fn closed_in_sentinel(&self) -> bool {
        is_closed_status(&self.status)
    }

    /// True when `etag` was produced by one of our own writes.
    pub fn is_own_etag(&self, etag: &str) -> bool {
        self.own_etags.iter().any(|own| own == etag)
    }

    /// True when the effect was asked for (open, or with an outcome): the provenance test of
    /// loop prevention, since effect ids name what was done (see [`effect_id`]).
    pub fn requested(&self, effect: &Effect) -> bool {
        let id = effect_id(self.tenant, self.key, effect);
        self.open_effects.contains_key(&id) || self.done_effects.contains(&id)
    }

    /// True when the connector itself added an annotation with this SIGNL4 id, or is adding one
    /// with this text right now (its echo can arrive before the call's outcome is recorded).
    pub fn is_own_annotation(&self, id: Option<&str>, text: &str) -> bool {
        id.is_some_and(|id| self.own_annotations.iter().any(|own| own == id))
            || self
                .open_effects
                .values()
                .any(|e| matches!(e, Effect::AnnotateSignl { text: own, .. } if own == text))
    }

    /// Folds one event into the state. Never fails: the event was decided already.
    pub fn apply(&mut self, event: &Event, recorded_at_ms: i64) {
        self.touch(recorded_at_ms);
        match event {
            Event::IncidentObserved(e) => {
                self.observe_numbers(e);
                self.name.clone_from(&e.name);
                self.title.clone_from(&e.title);
                self.severity.clone_from(&e.severity);
                self.status.clone_from(&e.status);
                self.owner.clone_from(&e.owner);
                self.etag.clone_from(&e.etag);
                self.url.clone_from(&e.incident_url);
                self.labels.clone_from(&e.labels);
                self.redirected_to = redirect_in(&e.status, &e.raw_json);
            }
            Event::IncidentEnriched(e) => {
                self.enriched_round = self.round;
                self.enrichment_missing.clone_from(&e.missing);
            }
            Event::EffectRequested(e) => {
                if matches!(e.effect, Effect::RaiseSignl { .. }) {
                    self.signl.status = SignlStatus::Requested;
                    self.signl.requested_at_ms = Some(recorded_at_ms);
                }
                self.open_effects.insert(e.effect_id, e.effect.clone());
            }
            Event::EffectSucceeded(e) => {
                self.parked.remove(&e.effect_id);
                let effect = self.open_effects.remove(&e.effect_id);
                self.done_effects.insert(e.effect_id);
                self.apply_success(effect, &e.result, recorded_at_ms);
            }
            Event::EffectFailed(e) => {
                self.parked.remove(&e.effect_id);
                if let Some(Effect::RaiseSignl { .. }) = self.open_effects.remove(&e.effect_id) {
                    self.signl.status = SignlStatus::None;
                }
                self.done_effects.insert(e.effect_id);
            }
            Event::EffectParked(e) => {
                self.parked.insert(e.effect_id, e.reason.clone());
            }
            Event::EffectCancelled(e) => {
                self.parked.remove(&e.effect_id);
                if let Some(Effect::RaiseSignl { .. }) = self.open_effects.remove(&e.effect_id) {
                    self.signl.status = SignlStatus::None;
                }
                self.done_effects.insert(e.effect_id);
            }
            Event::ClosedInSentinel(_) => {}
            Event::IncidentMerged(e) => {
                self.merged_into = Some(e.into_name.clone());
                self.merge_survivor_paged = e.survivor_paged;
            }
            Event::Reopened(e) => {
                self.round = e.round;
                self.signl = Signl::default();
            }
            Event::Signl4ActionReceived(e) => {
                if self.signl.signl_id.is_none() {
                    self.signl.signl_id = Some(e.signl_id.clone());
                }
                let who = e.user_email.clone().or_else(|| e.user_name.clone());
                match &e.action {
                    Signl4Action::Acknowledged => {
                        // A late acknowledge does not reopen a closed Signl.
                        if self.signl.status != SignlStatus::Closed {
                            self.signl.status = SignlStatus::Acknowledged;
                        }
                        if self.signl.acknowledged_by.is_none() {
                            self.signl.acknowledged_by = who;
                            self.signl.acknowledged_at_ms = Some(e.raised_at_ms);
                        }
                    }
                    Signl4Action::Closed => {
                        self.signl.status = SignlStatus::Closed;
                        self.signl.closed_by = who;
                        self.signl.closed_at_ms = Some(e.raised_at_ms);
                    }
                    Signl4Action::Annotated { .. } => self.signl.annotations += 1,
                }
            }
            // Tenant-stream events never reach an incident; see `Projection::apply`.
            Event::WatermarkAdvanced(_) | Event::ConnectorStarted(_) => {}
        }
    }

    /// [`Incident::apply`] for an event the caller no longer needs: moves strings instead of
    /// copying them. Replay uses it; the fold is the same.
    pub fn apply_owned(&mut self, event: Event, recorded_at_ms: i64) {
        match event {
            Event::IncidentObserved(e) => {
                self.touch(recorded_at_ms);
                self.observe_numbers(&e);
                self.redirected_to = redirect_in(&e.status, &e.raw_json);
                self.name = e.name;
                self.title = e.title;
                self.severity = e.severity;
                self.status = e.status;
                self.owner = e.owner;
                self.etag = e.etag;
                self.url = e.incident_url;
                self.labels = e.labels;
            }
            other => self.apply(&other, recorded_at_ms),
        }
    }

    fn touch(&mut self, recorded_at_ms: i64) {
        self.version += 1;
        if self.first_seen_ms == 0 {
            self.first_seen_ms = recorded_at_ms;
        }
        self.last_event_ms = recorded_at_ms;
    }

    fn observe_numbers(&mut self, e: &crate::events::IncidentObserved) {
        if self.round == 0 {
            self.round = 1;
        }
        self.source = Some(e.source);
        self.number = e.incident_number;
        self.created_ms = e.created_ms;
        self.last_modified_ms = e.last_modified_ms;
    }

    fn apply_success(&mut self, effect: Option<Effect>, result: &EffectResult, at_ms: i64) {
        match result {
            EffectResult::SignlRaised { event_id }
            | EffectResult::SignlRaisedUnverified { event_id } => {
                self.signl.event_id = Some(event_id.clone());
                self.signl.raised_at_ms = Some(at_ms);
                self.signl.owner_at_raise.clone_from(&self.owner);
                if self.signl.status == SignlStatus::Requested {
                    self.signl.status = SignlStatus::Open;
                }
                self.signls_raised += 1;
                if matches!(result, EffectResult::SignlRaisedUnverified { .. }) {
                    self.signls_unverified += 1;
                }
            }
            EffectResult::IncidentWritten { etag } => {
                self.own_etags.push_back(etag.clone());
                if self.own_etags.len() > OWN_ETAGS_KEPT {
                    self.own_etags.pop_front();
                }
            }
            EffectResult::CommentWritten { .. } => self.comments_written += 1,
            EffectResult::Signl4Accepted { .. } | EffectResult::AlreadyDone { .. } => {}
        }
        match effect {
            Some(Effect::ResolveSignl { .. }) => {
                self.signl.status = SignlStatus::Closed;
                self.signl.closed_at_ms.get_or_insert(at_ms);
            }
            Some(Effect::AcknowledgeSignl { .. }) if self.signl.status == SignlStatus::Open => {
                self.signl.status = SignlStatus::Acknowledged;
                self.signl.acknowledged_at_ms.get_or_insert(at_ms);
            }
            Some(Effect::AnnotateSignl { .. }) => {
                self.annotations_sent += 1;
                if let EffectResult::Signl4Accepted { reference } = result {
                    self.own_annotations.push_back(reference.clone());
                    if self.own_annotations.len() > OWN_ANNOTATIONS_KEPT {
                        self.own_annotations.pop_front();
                    }
                }
            }
            Some(Effect::RaiseSignl { .. }) if self.signl.status == SignlStatus::Requested => {
                // Reconciliation found it raised already (AlreadyDone).
                self.signl.status = SignlStatus::Open;
                self.signl.owner_at_raise.clone_from(&self.owner);
            }
            _ => {}
        }
    }
}
