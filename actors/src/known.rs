//! The freshest state of an incident this process knows without asking Sentinel: the last
//! listing the Poller recorded, or the answer of our own last write or read of it, whichever
//! Sentinel modified last. Incident writes (tags, acknowledges, closes) start from it instead of
//! a GET, because under a burst the reads before writes spent the read budget the polls and
//! enrichment need (3 x 30 incidents: every acknowledge and close waited five minutes for a
//! read slot).
//!
//! Invariants:
//! - Only an optimisation: every PUT built from a known record carries its etag, so a stale one
//!   costs a 409 and a fresh read, never a lost update; after a restart the memory is empty and
//!   the log's last observation stands in.
//! - Only for Sentinel, whose PUTs are etag-checked; other sources read first as before.
//! - A comment write changes the incident's etag without telling it (Sentinel bumps the
//!   incident): after one, the incident is marked stale and the next write reads first, unless a
//!   listing was recorded since.
//! - Bounded: at most [`CAPACITY`] records are kept in memory (all dropped when full; the log
//!   still has every last observation).

use std::cell::RefCell;
use std::collections::HashMap;

use store::events::Event;
use store::{IncidentKey, Store, StoreError, TenantId};

use crate::ports::{
    ApiError, IncidentChange, IncidentRecord, IncidentSource, IncidentUpdate, UpdateOutcome,
};
use crate::retry::{retry, Backoff};
use store::events::EffectResult;

/// Records kept in memory at most.
pub const CAPACITY: usize = 10_000;

/// What this process knows of one incident.
#[derive(Debug, Clone)]
enum Known {
    /// What Sentinel answered to our last write or read.
    Record(Box<IncidentRecord>),
    /// Changed by us without an answer (a comment), at this time (ms, this host's clock).
    Stale { since_ms: i64 },
}

/// The answers of this process's own incident writes and reads, by incident.
#[derive(Debug, Default)]
pub struct KnownIncidents(RefCell<HashMap<(TenantId, IncidentKey), Known>>);

impl KnownIncidents {
    /// Remembers what Sentinel answered to a write or read of the incident.
    pub fn remember(&self, tenant: TenantId, incident: IncidentKey, record: &IncidentRecord) {
        self.put(tenant, incident, Known::Record(Box::new(record.clone())));
    }

    /// Marks the incident changed by us without knowing its new etag (a comment was written):
    /// the next write reads first, unless a listing is recorded after now.
    pub fn changed(&self, tenant: TenantId, incident: IncidentKey) {
        let since_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        self.put(tenant, incident, Known::Stale { since_ms });
    }

    fn put(&self, tenant: TenantId, incident: IncidentKey, known: Known) {
        let mut map = self.0.borrow_mut();
        if map.len() >= CAPACITY && !map.contains_key(&(tenant, incident)) {
            map.clear();
        }
        map.insert((tenant, incident), known);
    }

    /// Forgets the incident (after a 409: what we knew is stale).
    pub fn forget(&self, tenant: TenantId, incident: IncidentKey) {
        self.0.borrow_mut().remove(&(tenant, incident));
    }

    /// The freshest record known: ours or the log's last observation, whichever Sentinel
    /// modified last (ours on a tie: a listing recorded after our write may predate it).
    pub fn freshest(
        &self,
        store: &Store,
        tenant: TenantId,
        incident: IncidentKey,
    ) -> Result<Option<IncidentRecord>, StoreError> {
        let ours = self.0.borrow().get(&(tenant, incident)).cloned();
        let events = store.log().incident_events(tenant, incident)?;
        let listed = events.into_iter().rev().find_map(|e| match e.event {
            Event::IncidentObserved(o) => Some((
                e.recorded_at_ms,
                IncidentRecord {
                    name: o.name,
                    etag: o.etag,
                    number: o.incident_number,
                    title: o.title,
                    severity: o.severity,
                    status: o.status,
                    owner: o.owner,
                    created_ms: o.created_ms,
                    last_modified_ms: o.last_modified_ms,
                    url: o.incident_url,
                    labels: o.labels,
                    raw_json: o.raw_json,
                    ..IncidentRecord::default()
                },
            )),
            _ => None,
        });
        Ok(match (ours, listed) {
            (Some(Known::Stale { since_ms }), listed) => listed
                .filter(|(recorded_ms, _)| *recorded_ms > since_ms)
                .map(|(_, record)| record),
            (Some(Known::Record(ours)), Some((_, listed)))
                if listed.last_modified_ms > ours.last_modified_ms =>
            {
                Some(listed)
            }
            (Some(Known::Record(ours)), _) => Some(*ours),
            (None, listed) => listed.map(|(_, record)| record),
        })
    }
}

/// One incident write an effect asks for (a tag, an acknowledge, a close).
#[derive(Debug)]
pub struct IncidentWrite<'a> {
    pub tenant: TenantId,
    pub incident: IncidentKey,
    /// The incident's name at the source.
    pub name: &'a str,
    pub update: IncidentUpdate,
    /// The effect's id, sent as the request id.
    pub request_id: uuid::Uuid,
}

impl KnownIncidents {
    /// Carries out `write` through `source`, starting from the freshest state known (a log read
    /// error just means the source reads first) and retried by `backoff` (each retry starts
    /// from a read: a failure may hide a write that landed); remembers what the source
    /// answered, and forgets what it knew after a failure. The outcome as the log records it.
    pub async fn write<S: IncidentSource>(
        &self,
        store: &Store,
        source: &S,
        backoff: Backoff,
        write: IncidentWrite<'_>,
    ) -> Result<EffectResult, (ApiError, u32)> {
        let IncidentWrite {
            tenant,
            incident,
            name,
            update,
            request_id,
        } = write;
        let start = std::cell::Cell::new(self.freshest(store, tenant, incident).ok().flatten());
        let (result, attempts) = retry(backoff, || {
            source.update_incident(name, &update, start.take(), request_id)
        })
        .await;
        match result {
            Ok(outcome) => {
                self.remember(tenant, incident, outcome.record());
                Ok(match outcome {
                    UpdateOutcome::Written(written) => {
                        EffectResult::IncidentWritten { etag: written.etag }
                    }
                    UpdateOutcome::AlreadyDone(read) => EffectResult::AlreadyDone {
                        detail: match &update.change {
                            IncidentChange::AddLabel(label) => format!("label {label:?} present"),
                            _ => format!("incident already {}", read.status),
                        },
                    },
                })
            }
            Err(error) => {
                self.forget(tenant, incident);
                Err((error, attempts))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forget_and_capacity() {
        let known = KnownIncidents::default();
        let tenant = TenantId(uuid::Uuid::nil());
        let record = IncidentRecord {
            etag: "\"1\"".into(),
            ..IncidentRecord::default()
        };
        for i in 0..CAPACITY as u128 + 1 {
            known.remember(tenant, IncidentKey(uuid::Uuid::from_u128(i)), &record);
        }
        // Full: everything was dropped for the newest.
        assert_eq!(known.0.borrow().len(), 1);
        let last = IncidentKey(uuid::Uuid::from_u128(CAPACITY as u128));
        assert!(known.0.borrow().contains_key(&(tenant, last)));
        known.forget(tenant, last);
        assert!(known.0.borrow().is_empty());
    }
}
