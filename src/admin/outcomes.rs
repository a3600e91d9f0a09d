//! Side-effect outcomes per connector, followed from the event log: which effects failed
//! (permanently: the forwarder and StatusSync record `EffectFailed` only for errors a retry
//! cannot fix, such as SIGNL4 refusing an unknown team secret) and which succeeded since.
//!
//! Invariants:
//! - The log is the source: the follower reads every event after the last one it saw (the
//!   whole log on the first request), so what it reports survives restarts and matches
//!   `audit`. It holds only the effects still open (their kind, to label an outcome) and a few
//!   numbers per tenant.
//! - A connector is in error for its effects when its latest failure is newer than its latest
//!   success: one delivered Signl after a fixed secret clears it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use store::events::Event;
use store::{EffectId, EventLog, TenantId};

/// The latest permanent failure of a tenant's side effects.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub at_ms: i64,
    /// The effect's kind ("RaiseSignl").
    pub kind: String,
    pub reason: String,
}

/// What the log says of one tenant's side effects.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TenantOutcomes {
    pub last_success_ms: Option<i64>,
    pub last_failure: Option<Failure>,
    /// Permanent failures since the log began, by effect kind.
    pub failed: BTreeMap<String, u64>,
}

impl TenantOutcomes {
    /// The failure that puts the connector in error: the latest one, unless a success came
    /// after it.
    pub fn current_failure(&self) -> Option<&Failure> {
        let failure = self.last_failure.as_ref()?;
        match self.last_success_ms {
            Some(ok) if ok >= failure.at_ms => None,
            _ => Some(failure),
        }
    }
}

#[derive(Debug, Default)]
struct State {
    next_seq: u64,
    open_kinds: HashMap<EffectId, String>,
    tenants: HashMap<TenantId, TenantOutcomes>,
}

/// The follower. Exists so that every admin request shares one pass over new events.
#[derive(Debug, Default)]
pub struct Outcomes {
    state: Mutex<State>,
}

impl Outcomes {
    /// Reads the events appended since the last call; returns every tenant's outcomes.
    pub fn refresh(&self, log: &EventLog) -> HashMap<TenantId, TenantOutcomes> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let from = state.next_seq.max(1);
        for event in log.events_from(from) {
            // A record that does not decode is `verify`'s to report; the follower skips it.
            let Ok(event) = event else {
                continue;
            };
            state.next_seq = event.seq + 1;
            match &event.event {
                Event::EffectRequested(e) => {
                    let kind = super::view::effect_kind(&e.effect);
                    state.open_kinds.insert(e.effect_id, kind);
                }
                Event::EffectSucceeded(e) => {
                    state.open_kinds.remove(&e.effect_id);
                    let t = state.tenants.entry(event.tenant).or_default();
                    t.last_success_ms = Some(event.recorded_at_ms);
                }
                Event::EffectFailed(e) => {
                    let kind = state
                        .open_kinds
                        .remove(&e.effect_id)
                        .unwrap_or_else(|| "unknown".to_string());
                    let t = state.tenants.entry(event.tenant).or_default();
                    *t.failed.entry(kind.clone()).or_insert(0) += 1;
                    t.last_failure = Some(Failure {
                        at_ms: event.recorded_at_ms,
                        kind,
                        reason: e.reason.clone(),
                    });
                }
                _ => {}
            }
        }
        state.tenants.clone()
    }
}
