//! What the admin surface shows, gathered in one place from the health registry
//! (`actors::health`), the live projection and the log's outbox: every endpoint renders these
//! views, so `/readyz`, `/status`, `/metrics` and the JSON API never disagree.
//!
//! Invariants: reading a view never writes the log and holds the projection's read lock only
//! while copying what it needs; nothing in a view is a secret (reasons come from redacted
//! errors, incidents from the log, which holds no secrets).

use std::collections::{BTreeMap, HashMap};

use actors::health;
use serde::Serialize;
use store::{Incident, IncidentKey, Store, TenantId};

use super::outcomes::TenantOutcomes;

/// Times are shown as the audit tool shows them.
pub use crate::cli::format_ms;

/// One configured connector as the admin surface knows it.
#[derive(Debug, Clone)]
pub struct ConnectorInfo {
    pub name: String,
    pub tenant: TenantId,
    /// `client_secret_expires` from the configuration, if set.
    pub secret_expires: Option<chrono::NaiveDate>,
}

/// One connector's state now.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectorView {
    pub connector: String,
    /// "ok" or "error".
    pub status: &'static str,
    /// Why it is not OK (`None` when it is).
    pub reason: Option<String>,
    /// Since when it has been failing (RFC 3339), while it is.
    pub failing_since: Option<String>,
    /// Last successful poll, ms since the epoch.
    #[serde(skip)]
    pub last_poll_ok_ms: Option<i64>,
    /// Last successful poll (RFC 3339).
    pub last_poll_ok: Option<String>,
    /// Open intents (side effects asked for, outcome not yet recorded), by kind.
    pub effects_open: BTreeMap<String, u64>,
    /// Age of the oldest open intent, seconds.
    pub oldest_open_effect_age_seconds: Option<f64>,
    /// Incidents the log holds for this connector.
    pub incidents: usize,
    /// Days until the client secret expires (negative: expired), when configured.
    pub client_secret_expires_in_days: Option<i64>,
    /// Rows shipped to `SIGNL4_CL` since start, when shipping is on.
    pub signl4_cl_rows_shipped: Option<u64>,
    /// Why `SIGNL4_CL` shipping is halted, when it is.
    pub signl4_cl_halted: Option<String>,
    /// Side effects that failed permanently (not retried), by kind, since the log began.
    pub effects_failed: BTreeMap<String, u64>,
    /// Open side effects parked on an error an operator must fix, by (kind, reason).
    pub effects_parked: BTreeMap<(String, String), u64>,
}

/// What a connector's `SIGNL4_CL` shipper reports, when it has one.
#[derive(Debug, Clone, Default)]
pub struct ShipperReport {
    pub rows_shipped: u64,
    pub halted: Option<String>,
}

impl ConnectorView {
    pub fn is_ok(&self) -> bool {
        self.status == "ok"
    }
}

/// Every connector's view, in configuration order. A connector is in error when its last poll
/// failed, its latest side effect failed permanently with no success since (for example SIGNL4
/// refusing the team secret), or its `SIGNL4_CL` shipping is halted; the reason is the first
/// of these.
pub fn connectors(
    connectors: &[ConnectorInfo],
    store: &Store,
    shippers: &BTreeMap<String, ShipperReport>,
    outcomes: &HashMap<TenantId, TenantOutcomes>,
) -> Vec<ConnectorView> {
    let now_ms = health::now_ms();
    let oldest = oldest_open_effects(store);
    let today = chrono::Utc::now().date_naive();
    connectors
        .iter()
        .map(|c| {
            let h = health::registry().get(&c.name);
            let (effects_open, effects_parked, incidents) = store.read(|p| {
                let mut open = BTreeMap::new();
                let mut parked = BTreeMap::new();
                let mut incidents = 0;
                for i in p.incidents.values().filter(|i| i.tenant == c.tenant) {
                    incidents += 1;
                    for effect in i.open_effects.values() {
                        *open.entry(effect_kind(effect)).or_insert(0) += 1;
                    }
                    for (id, reason) in &i.parked {
                        let kind = i.open_effects.get(id).map(effect_kind).unwrap_or_default();
                        *parked.entry((kind, reason.clone())).or_insert(0) += 1;
                    }
                }
                (open, parked, incidents)
            });
            let shipper = shippers.get(&c.name);
            let halted = shipper.and_then(|s| s.halted.clone());
            let outcome = outcomes.get(&c.tenant).cloned().unwrap_or_default();
            let reason = h
                .reason()
                .or_else(|| {
                    // Parked effects wait for an operator (a secret to renew, a team secret to
                    // correct): retried with backoff, never dropped, and the reason for error.
                    let count: u64 = effects_parked.values().sum();
                    effects_parked.keys().next().map(|(kind, why)| {
                        format!(
                            "{count} side effect(s) parked until an operator fixes the cause \
                             (retried with backoff): {kind}: {why}"
                        )
                    })
                })
                .or_else(|| {
                    outcome.current_failure().map(|f| {
                        format!(
                            "{} failed at {} and was not retried: {}",
                            f.kind,
                            format_ms(f.at_ms),
                            f.reason
                        )
                    })
                })
                .or_else(|| {
                    halted
                        .as_ref()
                        .map(|why| format!("SIGNL4_CL shipping halted: {why}"))
                });
            ConnectorView {
                connector: c.name.clone(),
                status: if reason.is_none() { "ok" } else { "error" },
                reason,
                failing_since: h.error.as_ref().map(|e| format_ms(e.since_ms)),
                last_poll_ok_ms: h.last_poll_ok_ms,
                last_poll_ok: h.last_poll_ok_ms.map(format_ms),
                effects_open,
                oldest_open_effect_age_seconds: oldest
                    .get(&c.tenant)
                    .map(|at| (now_ms - at).max(0) as f64 / 1000.0),
                incidents,
                client_secret_expires_in_days: c
                    .secret_expires
                    .map(|d| d.signed_duration_since(today).num_days()),
                signl4_cl_rows_shipped: shipper.map(|s| s.rows_shipped),
                signl4_cl_halted: halted,
                effects_failed: outcome.failed,
                effects_parked,
            }
        })
        .collect()
}

/// The recording time of each tenant's oldest open intent (from the outbox).
fn oldest_open_effects(store: &Store) -> BTreeMap<TenantId, i64> {
    let mut oldest = BTreeMap::new();
    let Ok(outbox) = store.log().outbox() else {
        return oldest;
    };
    for (_, seq) in outbox {
        if let Ok(Some(event)) = store.log().read(seq) {
            let at = oldest.entry(event.tenant).or_insert(event.recorded_at_ms);
            *at = (*at).min(event.recorded_at_ms);
        }
    }
    oldest
}

/// The variant name of an effect ("RaiseSignl"), its metric label.
pub fn effect_kind(effect: &store::events::Effect) -> String {
    let debug = format!("{effect:?}");
    debug
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or("")
        .to_string()
}

/// One incident in a list.
#[derive(Debug, Clone, Serialize)]
pub struct IncidentSummary {
    /// The id used by `/api/incidents/{id}` and `/status/incidents/{id}`.
    pub id: String,
    pub connector: String,
    pub number: i64,
    pub name: String,
    pub title: String,
    pub severity: String,
    pub status: String,
    pub signl: &'static str,
    pub open_intents: usize,
    pub last_event: String,
    #[serde(skip)]
    pub last_event_ms: i64,
}

/// The `limit` incidents with the newest events, newest first.
pub fn recent_incidents(
    connectors: &[ConnectorInfo],
    store: &Store,
    limit: usize,
) -> Vec<IncidentSummary> {
    let names: BTreeMap<TenantId, &str> = connectors
        .iter()
        .map(|c| (c.tenant, c.name.as_str()))
        .collect();
    let mut all: Vec<IncidentSummary> = store.read(|p| {
        p.incidents
            .values()
            .filter_map(|i| names.get(&i.tenant).map(|n| summary(n, i)))
            .collect()
    });
    all.sort_by(|a, b| b.last_event_ms.cmp(&a.last_event_ms).then(a.id.cmp(&b.id)));
    all.truncate(limit);
    all
}

fn summary(connector: &str, i: &Incident) -> IncidentSummary {
    IncidentSummary {
        id: incident_id(i.tenant, i.key),
        connector: connector.to_string(),
        number: i.number,
        name: i.name.clone(),
        title: i.title.clone(),
        severity: i.severity.clone(),
        status: i.status.clone(),
        signl: i.signl.status.label(),
        open_intents: i.open_effects.len(),
        last_event: format_ms(i.last_event_ms),
        last_event_ms: i.last_event_ms,
    }
}

/// The id of an incident in admin URLs: tenant and incident key, unambiguous across tenants.
pub fn incident_id(tenant: TenantId, key: IncidentKey) -> String {
    format!("{}.{}", tenant.0, key.0)
}

/// One event of a timeline.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineEntry {
    pub seq: u64,
    pub recorded_at: String,
    pub kind: &'static str,
    pub summary: String,
}

/// An incident and its timeline from the log (the same events `audit <incident>` prints).
#[derive(Debug, Clone, Serialize)]
pub struct Timeline {
    pub incident: IncidentSummary,
    pub events: Vec<TimelineEntry>,
}

/// The timeline of the incident with admin id `id` (see [`incident_id`]); `Ok(None)` when no
/// configured connector has it.
pub fn timeline(
    connectors: &[ConnectorInfo],
    store: &Store,
    id: &str,
) -> Result<Option<Timeline>, store::StoreError> {
    let Some((tenant, key)) = parse_incident_id(id) else {
        return Ok(None);
    };
    let Some(connector) = connectors.iter().find(|c| c.tenant == tenant) else {
        return Ok(None);
    };
    let Some(incident) =
        store.read(|p| p.incident(tenant, key).map(|i| summary(&connector.name, i)))
    else {
        return Ok(None);
    };
    let events = store
        .log()
        .incident_events(tenant, key)?
        .iter()
        .map(|e| TimelineEntry {
            seq: e.seq,
            recorded_at: format_ms(e.recorded_at_ms),
            kind: e.event.kind().name(),
            summary: e.event.summary(),
        })
        .collect();
    Ok(Some(Timeline { incident, events }))
}

fn parse_incident_id(id: &str) -> Option<(TenantId, IncidentKey)> {
    let (tenant, key) = id.split_once('.')?;
    Some((
        TenantId(uuid::Uuid::parse_str(tenant).ok()?),
        IncidentKey(uuid::Uuid::parse_str(key).ok()?),
    ))
}
