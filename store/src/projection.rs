//! The projection: the fold of the whole log, every tenant and incident, in memory.
//!
//! Invariants: the projection after applying events 1..=n equals the projection loaded from a
//! snapshot taken at n; `last_seq` is the last event applied; an event's stream (tenant stream or
//! incident) decides which state it folds into, nothing else. The pending-work index ([`index`])
//! follows every applied event and is never serialized: a snapshot holds exactly the bytes it
//! held before the index existed, and loading one rebuilds the index from its incidents.
//!
//! Reconcile passes ask the per-tenant queries ([`Projection::incidents_of`],
//! [`Projection::open_effects_of`],
//! [`Projection::with_pending_work`], [`Projection::with_signl_up`], [`Projection::unpaged`],
//! [`Projection::paged_since`], [`Projection::followers_of`]): each visits its candidates only,
//! and finds everything a scan of every incident with the same filter would (the index's superset
//! guarantee; `store/tests/pending_index.rs` checks it on random event sequences).

pub mod index;

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};

use rustc_hash::FxBuildHasher;
use serde::{Deserialize, Serialize};

use crate::aggregate::{Command, DecideError, Incident, TenantState};
use crate::envelope::StoredEvent;
use crate::events::{Effect, Event};
use crate::ids::{EffectId, IncidentKey, TenantId};
use index::{Facts, PendingIndex};

/// Every tenant's and incident's state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "Stored")]
pub struct Projection {
    /// The last event folded in.
    pub last_seq: u64,
    /// Per-connector state (tenant streams).
    pub tenants: HashMap<TenantId, TenantState, FxBuildHasher>,
    /// Per-incident state. Changed only by [`Projection::apply`] and its siblings, which keep
    /// the index in step; code that changes an incident otherwise (a test building a state by
    /// hand) calls [`Projection::rebuild_index`] after.
    pub incidents: HashMap<(TenantId, IncidentKey), Incident, FxBuildHasher>,
    /// Derived from `incidents` (see [`index`]); skipped when serialized, so snapshot bytes are
    /// unchanged by it.
    #[serde(skip)]
    index: PendingIndex,
}

/// The serialized shape of a [`Projection`]: its fields without the derived index, in the same
/// order (bincode is positional). Exists so that decoding rebuilds the index.
#[derive(Deserialize)]
struct Stored {
    last_seq: u64,
    tenants: HashMap<TenantId, TenantState, FxBuildHasher>,
    incidents: HashMap<(TenantId, IncidentKey), Incident, FxBuildHasher>,
}

/// The incident an event folds into (created when new) and its index facts before the event:
/// none for a new one, so that the index gains it.
fn incident_mut(
    incidents: &mut HashMap<(TenantId, IncidentKey), Incident, FxBuildHasher>,
    tenant: TenantId,
    key: IncidentKey,
) -> (&mut Incident, Facts) {
    match incidents.entry((tenant, key)) {
        Entry::Occupied(entry) => {
            let state = entry.into_mut();
            let facts = Facts::of(state);
            (state, facts)
        }
        Entry::Vacant(entry) => (entry.insert(Incident::new(tenant, key)), Facts::default()),
    }
}

impl From<Stored> for Projection {
    fn from(stored: Stored) -> Projection {
        let mut projection = Projection {
            last_seq: stored.last_seq,
            tenants: stored.tenants,
            incidents: stored.incidents,
            index: PendingIndex::default(),
        };
        projection.rebuild_index();
        projection
    }
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
            let (tenant, key) = (stored.tenant, stored.incident);
            let (state, before) = incident_mut(&mut self.incidents, tenant, key);
            state.apply_owned(stored.event, stored.recorded_at_ms);
            self.index.update(tenant, key, &before, &Facts::of(state));
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
            let (state, before) = incident_mut(&mut self.incidents, tenant, incident);
            state.apply(event, recorded_at_ms);
            self.index
                .update(tenant, incident, &before, &Facts::of(state));
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

    /// Rebuilds the pending-work index from the incidents (after they were changed other than by
    /// applying events).
    pub fn rebuild_index(&mut self) {
        self.index = PendingIndex::rebuild(self.incidents.values());
    }

    /// The pending-work index (read-only: the projection maintains it).
    pub fn index(&self) -> &PendingIndex {
        &self.index
    }

    /// The incidents of `tenant` whose keys `keys` yields (all present: the index follows the
    /// incidents).
    fn of<'a>(
        &'a self,
        tenant: TenantId,
        keys: impl Iterator<Item = IncidentKey> + 'a,
    ) -> impl Iterator<Item = &'a Incident> + 'a {
        keys.filter_map(move |key| self.incidents.get(&(tenant, key)))
    }

    /// Every open intent: what to reconcile after a restart. Visits the incidents with open
    /// intents only.
    pub fn open_effects(&self) -> Vec<(TenantId, IncidentKey, EffectId, Effect)> {
        let mut out: Vec<_> = self
            .index
            .tenants()
            .flat_map(|(tenant, work)| self.of(*tenant, work.open_effects.iter().copied()))
            .flat_map(|i| {
                i.open_effects
                    .iter()
                    .map(move |(id, effect)| (i.tenant, i.key, *id, effect.clone()))
            })
            .collect();
        out.sort_by_key(|(t, i, id, _)| (*t, *i, *id));
        out
    }

    /// The open intents of one tenant, by incident key and effect id.
    pub fn open_effects_of(&self, tenant: TenantId) -> Vec<(IncidentKey, EffectId, Effect)> {
        let mut keys: Vec<IncidentKey> = self
            .index
            .tenant(tenant)
            .into_iter()
            .flat_map(|w| w.open_effects.iter().copied())
            .collect();
        // By key, and each incident's intents are a BTreeMap: sorted as `open_effects`.
        keys.sort_unstable();
        self.of(tenant, keys.into_iter())
            .flat_map(|i| {
                i.open_effects
                    .iter()
                    .map(move |(id, effect)| (i.key, *id, effect.clone()))
            })
            .collect()
    }

    /// Every incident of `tenant` (without visiting other tenants').
    pub fn incidents_of(&self, tenant: TenantId) -> impl Iterator<Item = &Incident> + '_ {
        let keys = self
            .index
            .tenant(tenant)
            .into_iter()
            .flat_map(|w| w.all.iter().copied());
        self.of(tenant, keys)
    }

    /// How many incidents `tenant` has.
    pub fn incident_count(&self, tenant: TenantId) -> usize {
        self.index.tenant(tenant).map_or(0, |w| w.all.len())
    }

    /// The incidents of `tenant` whose Signl is Requested, Open or Acknowledged.
    pub fn with_signl_up(&self, tenant: TenantId) -> impl Iterator<Item = &Incident> + '_ {
        let keys = self
            .index
            .tenant(tenant)
            .into_iter()
            .flat_map(|w| w.signl_up.iter().copied());
        self.of(tenant, keys)
    }

    /// The observed incidents of `tenant`, not closed, whose round has no Signl: a
    /// superset of those `aggregate::wants_page` for any policy (filter with it).
    pub fn unpaged(&self, tenant: TenantId) -> impl Iterator<Item = &Incident> + '_ {
        let keys = self
            .index
            .tenant(tenant)
            .into_iter()
            .flat_map(|w| w.unpaged.iter().copied());
        self.of(tenant, keys)
    }

    /// The incidents of `tenant` whose round has a Signl (Open, Acknowledged or Closed) and whose
    /// last event was recorded at or after `since_ms`, oldest activity first: the candidates for
    /// a tag (`desired_effects` wants a tag only of a paged incident; whether its label was asked
    /// for is the caller's to check, as only it knows the label).
    pub fn paged_since(
        &self,
        tenant: TenantId,
        since_ms: i64,
    ) -> impl Iterator<Item = &Incident> + '_ {
        let from = (since_ms, IncidentKey(uuid::Uuid::nil()));
        let keys = self
            .index
            .tenant(tenant)
            .into_iter()
            .flat_map(move |w| w.paged.range(from..).map(|(_, key)| *key));
        self.of(tenant, keys)
    }

    /// The incidents of `tenant` Defender merged into the incident named `survivor`, by key.
    pub fn followers_of<'a>(
        &'a self,
        tenant: TenantId,
        survivor: &str,
    ) -> impl Iterator<Item = &'a Incident> + 'a {
        let keys = self
            .index
            .tenant(tenant)
            .and_then(|w| w.followers.get(survivor))
            .into_iter()
            .flat_map(|keys| keys.iter().copied());
        self.of(tenant, keys)
    }

    /// The incidents of `tenant` with something to do apart from a tag, by key: an open intent,
    /// a Signl up, or no Signl yet in an open round. For every policy, an incident whose
    /// `desired_effects` hold anything but a tag is among them (tags: [`Projection::paged_since`]).
    pub fn with_pending_work(&self, tenant: TenantId) -> Vec<&Incident> {
        let keys: BTreeSet<IncidentKey> = self
            .index
            .tenant(tenant)
            .into_iter()
            .flat_map(|w| {
                w.open_effects
                    .iter()
                    .chain(&w.signl_up)
                    .chain(&w.unpaged)
                    .copied()
            })
            .collect();
        self.of(tenant, keys.into_iter()).collect()
    }
}
