//! The pending-work index: per tenant, the incidents that can have something to do, so that a
//! reconcile pass costs what is pending, not every incident the log ever held (issues #12, #16:
//! with 1,000 connectors each scanning 100k mostly closed incidents, a tick was 10^8 visits).
//!
//! Invariants:
//! - Derived state. Every set is a function of the incidents' current state alone (never of the
//!   events that led there), so an index maintained event by event equals one rebuilt from a
//!   snapshot's incidents ([`PendingIndex::rebuild`]); it is never serialized. Empty sets and
//!   empty tenants are removed, so equal incidents give equal indexes (`PartialEq` of the
//!   projection compares them too, which the store's model test relies on).
//! - Maintained incrementally: applying an event re-examines the touched incident only, by
//!   comparing its [`Facts`] before and after.
//! - Per tenant, exactly:
//!   - `all`: every incident (so that a tenant's incidents are listed without visiting the
//!     others', e.g. to map SIGNL4 ExternalIDs back to incidents);
//!   - `open_effects`: the incidents with an intent without outcome;
//!   - `signl_up`: the incidents whose Signl is Requested, Open or Acknowledged;
//!   - `unpaged`: the observed incidents, not closed, whose round has no Signl (status None);
//!   - `paged`: the incidents whose round has a Signl (Open, Acknowledged or Closed), ordered by
//!     `last_event_ms`;
//!   - `followers`: the incidents merged in Defender (`merged_into`), by survivor name.
//! - The superset guarantee (what makes the index safe for a level-triggered reconcile): for
//!   every policy `p`, `desired_effects(i, p)` non-empty implies `i` is in `unpaged` (a page:
//!   `wants_page` also checks the filter and that this round's raise was not asked for, which
//!   need the policy or an effect-id hash), in `signl_up` (a resolve or an acknowledge need an
//!   Open or Acknowledged Signl) or in `paged` (a tag: whether the tag was asked for depends on
//!   the label, which only the connector knows, so every paged incident is a candidate; hence
//!   `paged` is ordered by activity and queried by a lookback, see
//!   [`crate::Projection::paged_since`]). Callers filter the candidates with their policy.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use rustc_hash::FxBuildHasher;

use crate::aggregate::{Incident, SignlStatus};
use crate::ids::{IncidentKey, TenantId};

/// What the index knows of one incident: the facts that decide its memberships. Taken before and
/// after an event is applied; the difference is the only update the index needs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Facts {
    /// False only for the incident before its first event (so `all` gains it once).
    exists: bool,
    open_effects: bool,
    signl_up: bool,
    unpaged: bool,
    /// `Some(last_event_ms)` while paged (the ordering key of `paged`).
    paged_at: Option<i64>,
    /// The survivor's name once merged (cloned only for merged incidents, which are rare).
    merged_into: Option<String>,
}

impl Facts {
    /// The facts of `incident` as it stands.
    pub(crate) fn of(incident: &Incident) -> Facts {
        let status = incident.signl.status;
        Facts {
            exists: true,
            open_effects: !incident.open_effects.is_empty(),
            signl_up: matches!(
                status,
                SignlStatus::Requested | SignlStatus::Open | SignlStatus::Acknowledged
            ),
            unpaged: incident.observed()
                && !incident.closed_in_sentinel()
                && status == SignlStatus::None,
            paged_at: matches!(
                status,
                SignlStatus::Open | SignlStatus::Acknowledged | SignlStatus::Closed
            )
            .then_some(incident.last_event_ms),
            merged_into: incident.merged_into.clone(),
        }
    }
}

/// A membership set: hashed, because every applied event may insert or remove (a B-tree cost
/// the fold half again as much); queries that need an order sort what they found.
pub type KeySet = HashSet<IncidentKey, FxBuildHasher>;

/// One tenant's candidates (see the module invariants for what each set holds exactly).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TenantWork {
    pub all: KeySet,
    pub open_effects: KeySet,
    pub signl_up: KeySet,
    pub unpaged: KeySet,
    pub paged: BTreeSet<(i64, IncidentKey)>,
    pub followers: BTreeMap<String, BTreeSet<IncidentKey>>,
}

impl TenantWork {
    fn is_empty(&self) -> bool {
        self.all.is_empty()
            && self.open_effects.is_empty()
            && self.signl_up.is_empty()
            && self.unpaged.is_empty()
            && self.paged.is_empty()
            && self.followers.is_empty()
    }
}

/// The index itself: per tenant, the sets of [`TenantWork`]. Exists so that reconcile queries
/// visit candidates, not the whole projection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PendingIndex {
    tenants: HashMap<TenantId, TenantWork, FxBuildHasher>,
}

/// Adds or removes `key` as `member` says.
fn set(set: &mut KeySet, key: IncidentKey, member: bool) {
    if member {
        set.insert(key);
    } else {
        set.remove(&key);
    }
}

impl PendingIndex {
    /// The index of `incidents`, from scratch (after a snapshot is loaded).
    pub fn rebuild<'a>(incidents: impl IntoIterator<Item = &'a Incident>) -> PendingIndex {
        let mut index = PendingIndex::default();
        for incident in incidents {
            index.update(
                incident.tenant,
                incident.key,
                &Facts::default(),
                &Facts::of(incident),
            );
        }
        index
    }

    /// Moves one incident from the memberships of `before` to those of `after`.
    pub(crate) fn update(
        &mut self,
        tenant: TenantId,
        key: IncidentKey,
        before: &Facts,
        after: &Facts,
    ) {
        if before == after {
            return; // most events (an etag change, a comment's outcome) move nothing
        }
        let work = self.tenants.entry(tenant).or_default();
        if before.exists != after.exists {
            set(&mut work.all, key, after.exists);
        }
        if before.open_effects != after.open_effects {
            set(&mut work.open_effects, key, after.open_effects);
        }
        if before.signl_up != after.signl_up {
            set(&mut work.signl_up, key, after.signl_up);
        }
        if before.unpaged != after.unpaged {
            set(&mut work.unpaged, key, after.unpaged);
        }
        if before.paged_at != after.paged_at {
            if let Some(at) = before.paged_at {
                work.paged.remove(&(at, key));
            }
            if let Some(at) = after.paged_at {
                work.paged.insert((at, key));
            }
        }
        if before.merged_into != after.merged_into {
            if let Some(old) = &before.merged_into {
                if let Some(keys) = work.followers.get_mut(old) {
                    keys.remove(&key);
                    if keys.is_empty() {
                        work.followers.remove(old);
                    }
                }
            }
            if let Some(new) = &after.merged_into {
                work.followers.entry(new.clone()).or_default().insert(key);
            }
        }
        if work.is_empty() {
            self.tenants.remove(&tenant);
        }
    }

    /// One tenant's candidates, if it has any.
    pub fn tenant(&self, tenant: TenantId) -> Option<&TenantWork> {
        self.tenants.get(&tenant)
    }

    /// Every tenant with candidates.
    pub fn tenants(&self) -> impl Iterator<Item = (&TenantId, &TenantWork)> {
        self.tenants.iter()
    }
}
