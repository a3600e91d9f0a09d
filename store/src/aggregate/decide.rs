//! `decide` for one incident: which commands are allowed in which state, and what they append.
//!
//! Invariants:
//! - A command that changes nothing (an observation with a known etag, a stale listing) decides
//!   to no events rather than an error: the Poller repeats itself by design.
//! - A command that would break the lifecycle (a second intent for one effect, an outcome without
//!   an intent, a Signl for a closed incident) is a [`DecideError`] and appends nothing.

use super::{is_closed_status, Command, Incident, SignlStatus};
use crate::events::{
    ClosedInSentinel, Effect, EffectCancelled, EffectFailed, EffectParked, EffectRequested,
    EffectSucceeded, Event, Reopened,
};
use crate::ids::{EffectId, IncidentKey, TenantId};

/// A transition the lifecycle does not allow.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecideError {
    /// Only an observation can come first.
    #[error("incident was never observed")]
    NotObserved,
    /// A tenant command sent to an incident or the reverse.
    #[error("command sent to the wrong stream (incident vs tenant)")]
    WrongStream,
    /// The effect's intent is already recorded and not yet closed.
    #[error("effect {0} is already requested and open")]
    EffectAlreadyOpen(EffectId),
    /// The effect already has an outcome.
    #[error("effect {0} already has an outcome")]
    EffectAlreadyDone(EffectId),
    /// An outcome for an effect that has no open intent.
    #[error("effect {0} has no open intent")]
    UnknownEffect(EffectId),
    /// Resolve, acknowledge or annotate a Signl that was never asked for in this round.
    #[error("no Signl was requested in this round")]
    SignlNotRaised,
    /// A Signl for an incident that is closed.
    #[error("incident is closed in Sentinel")]
    IncidentClosed,
    /// An effect for another round than the current one.
    #[error("effect is for round {got}, the incident is in round {current}")]
    RoundMismatch { current: u32, got: u32 },
    /// The Poller's watermark may only move forward.
    #[error("watermark would move back from {current} to {proposed}")]
    WatermarkRegressed { current: i64, proposed: i64 },
    /// An event's payload exceeds what the log can read back
    /// ([`crate::events::MAX_PAYLOAD_BYTES`]); refused by the writer before the commit.
    #[error("{kind} event of {bytes} bytes exceeds the log's payload limit of {limit} bytes; nothing was recorded")]
    TooLarge {
        kind: &'static str,
        bytes: usize,
        limit: usize,
    },
}

/// The deterministic id of `effect` on one incident. It names what is done, not when, so the same
/// effect asked for twice (or again after a crash) has the same id.
pub fn effect_id(tenant: TenantId, incident: IncidentKey, effect: &Effect) -> EffectId {
    let what = match effect {
        Effect::RaiseSignl { round, .. } => format!("signl/{round}"),
        Effect::TagIncident { label } => format!("tag/{label}"),
        Effect::AcknowledgeIncident { cause, .. } => format!("ack-incident/{cause}"),
        Effect::CloseIncident { cause, .. } => format!("close-incident/{cause}"),
        Effect::WriteComment { comment_id, .. } => format!("comment/{comment_id}"),
        Effect::ResolveSignl { round, .. } => format!("resolve/{round}"),
        Effect::AcknowledgeSignl { round, .. } => format!("ack-signl/{round}"),
        Effect::AnnotateSignl { cause, .. } => format!("annotate/{cause}"),
    };
    EffectId::derive(tenant, incident, &what)
}

impl Incident {
    /// The events `command` implies in the current state.
    pub fn decide(&self, command: &Command) -> Result<Vec<Event>, DecideError> {
        if command.is_tenant_command() {
            return Err(DecideError::WrongStream);
        }
        if !self.observed() && !matches!(command, Command::Observe(_)) {
            return Err(DecideError::NotObserved);
        }
        match command {
            Command::Observe(observed) => Ok(self.decide_observe(observed)),
            Command::RecordEnrichment(enriched) => {
                Ok(vec![Event::IncidentEnriched(enriched.clone())])
            }
            Command::Request(effect) => self.decide_request(effect),
            Command::Succeed { effect_id, result } => {
                self.require_open(*effect_id)?;
                Ok(vec![Event::EffectSucceeded(EffectSucceeded {
                    effect_id: *effect_id,
                    result: result.clone(),
                })])
            }
            Command::Fail {
                effect_id,
                reason,
                attempts,
            } => {
                self.require_open(*effect_id)?;
                Ok(vec![Event::EffectFailed(EffectFailed {
                    effect_id: *effect_id,
                    reason: reason.clone(),
                    attempts: *attempts,
                })])
            }
            Command::Park {
                effect_id,
                reason,
                attempts,
            } => {
                self.require_open(*effect_id)?;
                if self.parked.get(effect_id) == Some(reason) {
                    return Ok(Vec::new());
                }
                Ok(vec![Event::EffectParked(EffectParked {
                    effect_id: *effect_id,
                    reason: reason.clone(),
                    attempts: *attempts,
                })])
            }
            Command::Cancel { effect_id, reason } => {
                self.require_open(*effect_id)?;
                Ok(vec![Event::EffectCancelled(EffectCancelled {
                    effect_id: *effect_id,
                    reason: reason.clone(),
                })])
            }
            Command::RecordSignl4Action(action) => {
                Ok(vec![Event::Signl4ActionReceived(action.clone())])
            }
            // One record per survivor: the same merge seen again (a restart, a sweep) is no news.
            Command::RecordMerge(merged) => {
                if self.merged_into.as_deref() == Some(merged.into_name.as_str()) {
                    Ok(Vec::new())
                } else {
                    Ok(vec![Event::IncidentMerged(merged.clone())])
                }
            }
            Command::AdvanceWatermark(_) | Command::StartConnector(_) => {
                Err(DecideError::WrongStream)
            }
        }
    }

    fn decide_observe(&self, observed: &crate::events::IncidentObserved) -> Vec<Event> {
        if self.observed()
            && (observed.etag == self.etag || observed.last_modified_ms < self.last_modified_ms)
        {
            // Seen already, or an older copy from an overlapping or out-of-order listing.
            return Vec::new();
        }
        let mut events = vec![Event::IncidentObserved(observed.clone())];
        if self.observed() {
            let was_closed = self.closed_in_sentinel();
            let now_closed = is_closed_status(&observed.status);
            if !was_closed && now_closed {
                events.push(Event::ClosedInSentinel(ClosedInSentinel {
                    owner: observed.owner.clone(),
                    etag: observed.etag.clone(),
                }));
            } else if was_closed && !now_closed {
                events.push(Event::Reopened(Reopened {
                    round: self.round + 1,
                    status: observed.status.clone(),
                }));
            }
        }
        events
    }

    fn decide_request(&self, effect: &Effect) -> Result<Vec<Event>, DecideError> {
        let id = effect_id(self.tenant, self.key, effect);
        if self.open_effects.contains_key(&id) {
            return Err(DecideError::EffectAlreadyOpen(id));
        }
        if self.done_effects.contains(&id) {
            return Err(DecideError::EffectAlreadyDone(id));
        }
        match effect {
            Effect::RaiseSignl { round, .. } => {
                self.require_round(*round)?;
                if self.closed_in_sentinel() {
                    return Err(DecideError::IncidentClosed);
                }
            }
            Effect::ResolveSignl { round, .. } | Effect::AcknowledgeSignl { round, .. } => {
                self.require_round(*round)?;
                if self.signl.status == SignlStatus::None {
                    return Err(DecideError::SignlNotRaised);
                }
            }
            Effect::AnnotateSignl { .. } if self.signl.status == SignlStatus::None => {
                return Err(DecideError::SignlNotRaised);
            }
            _ => {}
        }
        Ok(vec![Event::EffectRequested(EffectRequested {
            effect_id: id,
            effect: effect.clone(),
        })])
    }

    fn require_open(&self, id: EffectId) -> Result<(), DecideError> {
        if self.open_effects.contains_key(&id) {
            Ok(())
        } else {
            Err(DecideError::UnknownEffect(id))
        }
    }

    fn require_round(&self, round: u32) -> Result<(), DecideError> {
        if round == self.round {
            Ok(())
        } else {
            Err(DecideError::RoundMismatch {
                current: self.round,
                got: round,
            })
        }
    }
}
