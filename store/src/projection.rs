//! The projection: the fold of the whole log, every tenant and incident, in memory.
//!
//! Invariants: the projection after applying events 1..=n equals the projection loaded from a
//! snapshot taken at n; `last_seq` is the last event applied; an event's stream (tenant stream or
//! incident) decides which state it folds into, nothing else.

use std::collections::HashMap;

use rustc_hash::FxBuildHasher;
use serde::{Deserialize, Serialize};

use crate::aggregate::{Command, DecideError, Incident, TenantState};
use crate::envelope::StoredEvent;
use crate::events::{Effect, Event};
use crate::ids::{EffectId, IncidentKey, TenantId};

/// Every tenant's and incident's state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Projection {
    /// The last event folded in.
    pub last_seq: u64,
    /// Per-connector state (tenant streams).
    pub tenants: HashMap<TenantId, TenantState, FxBuildHasher>,
    /// Per-incident state.
    pub incidents: HashMap<(TenantId, IncidentKey), Incident, FxBuildHasher>,
}

impl Projection {
    /// Folds one event.
    pub fn apply(&mut self, stored: &StoredEvent) {
        self.last_seq = stored.seq;
        self.apply_event(
            stored.tenant,
            stored.incident,
            &stored.event,
            stored.recorded_at_ms,
        );
    }

    /// [`Projection::apply`] for an event the caller no longer needs (replay): no string copies.
    pub fn apply_owned(&mut self, stored: StoredEvent) {
        self.last_seq = stored.seq;
        if stored.incident.is_tenant_stream() {
            self.tenants
                .entry(stored.tenant)
                .or_default()
                .apply(&stored.event);
        } else {
            self.incidents
                .entry((stored.tenant, stored.incident))
                .or_insert_with(|| Incident::new(stored.tenant, stored.incident))
                .apply_owned(stored.event, stored.recorded_at_ms);
        }
    }

    /// Folds one event given its parts (used while deciding, before a seq is final).
    pub fn apply_event(
        &mut self,
        tenant: TenantId,
        incident: IncidentKey,
        event: &Event,
        recorded_at_ms: i64,
    ) {
        if incident.is_tenant_stream() {
            self.tenants.entry(tenant).or_default().apply(event);
        } else {
            self.incidents
                .entry((tenant, incident))
                .or_insert_with(|| Incident::new(tenant, incident))
                .apply(event, recorded_at_ms);
        }
    }

    /// The events `command` implies for the given stream.
    pub fn decide(
        &self,
        tenant: TenantId,
        incident: IncidentKey,
        command: &Command,
    ) -> Result<Vec<Event>, DecideError> {
        if incident.is_tenant_stream() {
            match self.tenants.get(&tenant) {
                Some(state) => state.decide(command),
                None => TenantState::default().decide(command),
            }
        } else {
            match self.incidents.get(&(tenant, incident)) {
                Some(state) => state.decide(command),
                None => Incident::new(tenant, incident).decide(command),
            }
        }
    }

    /// One incident's state.
    pub fn incident(&self, tenant: TenantId, incident: IncidentKey) -> Option<&Incident> {
        self.incidents.get(&(tenant, incident))
    }

    /// One tenant's state.
    pub fn tenant(&self, tenant: TenantId) -> Option<&TenantState> {
        self.tenants.get(&tenant)
    }

    /// Every open intent: what to reconcile after a restart.
    pub fn open_effects(&self) -> Vec<(TenantId, IncidentKey, EffectId, Effect)> {
        let mut out: Vec<_> = self
            .incidents
            .values()
            .flat_map(|i| {
                i.open_effects
                    .iter()
                    .map(move |(id, effect)| (i.tenant, i.key, *id, effect.clone()))
            })
            .collect();
        out.sort_by_key(|(t, i, id, _)| (*t, *i, *id));
        out
    }
}
