//! Key encodings of the sled trees.
//!
//! Invariants: every integer is big-endian and every id is its 16 raw bytes, so the byte order of
//! keys is the numeric order of their parts: `range` over `events` replays in sequence order and
//! `scan_prefix(tenant ‖ incident)` over `by_incident` yields one incident's events in order.

use crate::ids::{EffectId, IncidentKey, TenantId};

/// Key of an event in `events`.
pub fn event(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

/// The sequence number of an `events` key, if it is one.
pub fn event_seq(key: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(key.try_into().ok()?))
}

/// Prefix of one incident's entries in `by_incident`.
pub fn incident_prefix(tenant: TenantId, incident: IncidentKey) -> [u8; 32] {
    let mut key = [0u8; 32];
    key[..16].copy_from_slice(tenant.0.as_bytes());
    key[16..].copy_from_slice(incident.0.as_bytes());
    key
}

/// Key of an event in `by_incident`.
pub fn by_incident(tenant: TenantId, incident: IncidentKey, seq: u64) -> [u8; 40] {
    let mut key = [0u8; 40];
    key[..32].copy_from_slice(&incident_prefix(tenant, incident));
    key[32..].copy_from_slice(&seq.to_be_bytes());
    key
}

/// The parts of a `by_incident` key, if it is one.
pub fn split_by_incident(key: &[u8]) -> Option<(TenantId, IncidentKey, u64)> {
    if key.len() != 40 {
        return None;
    }
    let tenant = uuid::Uuid::from_slice(&key[..16]).ok()?;
    let incident = uuid::Uuid::from_slice(&key[16..32]).ok()?;
    Some((
        TenantId(tenant),
        IncidentKey(incident),
        event_seq(&key[32..])?,
    ))
}

/// Key of an open intent in `outbox`.
pub fn outbox(effect: EffectId) -> [u8; 16] {
    *effect.0.as_bytes()
}

/// Where an inbound notification came from; the first byte of an `inbox` key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum InboxSource {
    /// A SIGNL4 outbound-webhook notification, keyed by its `id`.
    Signl4Notification = 1,
    /// A Sentinel incident observation, keyed by incident and etag.
    SentinelObservation = 2,
    /// A change in SIGNL4 (an acknowledge, the close, an annotation), keyed by what changed, so
    /// that the outbound webhook and the REST polling fallback record it once.
    Signl4Change = 3,
}

/// Key of an inbound notification in `inbox`.
pub fn inbox(source: InboxSource, tenant: TenantId, id: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(17 + id.len());
    key.push(source as u8);
    key.extend_from_slice(tenant.0.as_bytes());
    key.extend_from_slice(id);
    key
}

/// Key of a snapshot in `snapshots`.
pub fn snapshot(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

/// Lowercase hex of a key, for error messages and reports.
pub fn hex(key: &[u8]) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn event_keys_sort_like_their_numbers(a: u64, b: u64) {
            prop_assert_eq!(a.cmp(&b), event(a).cmp(&event(b)));
        }

        #[test]
        fn incident_keys_sort_by_incident_then_seq(a: u64, b: u64, x: u128, y: u128) {
            let t = TenantId::from_name("t");
            let (ix, iy) = (IncidentKey(uuid::Uuid::from_u128(x)), IncidentKey(uuid::Uuid::from_u128(y)));
            prop_assert_eq!((x, a).cmp(&(y, b)), by_incident(t, ix, a).cmp(&by_incident(t, iy, b)));
            prop_assert_eq!(split_by_incident(&by_incident(t, ix, a)), Some((t, ix, a)));
        }
    }
}
