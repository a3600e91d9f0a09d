//! Identifiers: who an event belongs to and the deterministic keys of side effects.
//!
//! Invariants:
//! - Every id is 16 bytes, so index keys are fixed-width and sort by their parts.
//! - Ids that name a side effect or a remote object (effect ids, Sentinel comment ids, the SIGNL4
//!   ExternalID) are uuid v5 of stable inputs, so a retry after a crash produces the same id and
//!   the remote side can recognise the repeat. Only event ids are random (v7, time-ordered).
//! - The namespaces below are constants of the on-disk format: changing one would orphan every
//!   open intent in existing logs. Never edit them.

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

/// Namespace of tenant ids derived from connector names.
const NS_TENANT: Uuid = Uuid::from_u128(0x6c1f_2a0e_63b4_4d3e_9f57_0a51_c4a1_0001);
/// Namespace of incident keys derived from source ids that are not GUIDs (Graph alert ids).
const NS_INCIDENT: Uuid = Uuid::from_u128(0x6c1f_2a0e_63b4_4d3e_9f57_0a51_c4a1_0002);
/// Namespace of effect ids (outbox keys).
const NS_EFFECT: Uuid = Uuid::from_u128(0x6c1f_2a0e_63b4_4d3e_9f57_0a51_c4a1_0003);
/// Namespace of Sentinel comment ids the connector writes.
const NS_COMMENT: Uuid = Uuid::from_u128(0x6c1f_2a0e_63b4_4d3e_9f57_0a51_c4a1_0004);
/// Namespace of the SIGNL4 ExternalID of an incident.
const NS_EXTERNAL: Uuid = Uuid::from_u128(0x6c1f_2a0e_63b4_4d3e_9f57_0a51_c4a1_0005);

/// One connector (one customer tenant of an MSSP). Derived from the connector's configured name,
/// so the same configuration always maps to the same stream of events.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
pub struct TenantId(pub Uuid);

impl TenantId {
    /// The tenant id of the connector named `name`.
    pub fn from_name(name: &str) -> Self {
        TenantId(Uuid::new_v5(&NS_TENANT, name.as_bytes()))
    }
}

/// One incident of one tenant. Sentinel incident names are GUIDs and are used as they are, so the
/// key can be read in the portal; other sources' ids are hashed into a GUID.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
pub struct IncidentKey(pub Uuid);

impl IncidentKey {
    /// The key of tenant-level events (watermarks, connector starts), which belong to no incident.
    pub const TENANT_STREAM: IncidentKey = IncidentKey(Uuid::nil());

    /// The key of the incident whose source id (Sentinel `name`, Graph alert id) is `id`.
    pub fn from_source_id(id: &str) -> Self {
        match Uuid::parse_str(id) {
            Ok(uuid) if !uuid.is_nil() => IncidentKey(uuid),
            _ => IncidentKey(Uuid::new_v5(&NS_INCIDENT, id.as_bytes())),
        }
    }

    /// True for the tenant-level stream.
    pub fn is_tenant_stream(&self) -> bool {
        self.0.is_nil()
    }
}

/// The id of one side effect: the outbox key, and the `x-ms-client-request-id` of its HTTP call.
/// Deterministic, so asking for the same effect twice is recognised as the same intent.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
pub struct EffectId(pub Uuid);

impl EffectId {
    /// The id of effect `what` (for example `"signl/1"`) on one incident.
    pub fn derive(tenant: TenantId, incident: IncidentKey, what: &str) -> Self {
        EffectId(Uuid::new_v5(&NS_EFFECT, &name(tenant, incident, what)))
    }
}

/// The Sentinel comment id for a comment the connector writes in response to `cause` (a SIGNL4
/// notification id): a retry rewrites the same comment instead of adding a second one.
pub fn comment_id(tenant: TenantId, incident: IncidentKey, cause: &str) -> Uuid {
    Uuid::new_v5(&NS_COMMENT, &name(tenant, incident, cause))
}

/// The SIGNL4 `X-S4-ExternalID` of an incident: stable per (tenant, incident), so a resolve or a
/// lookup after a crash finds every Signl the incident raised.
pub fn external_id(tenant: TenantId, incident: IncidentKey) -> String {
    Uuid::new_v5(&NS_EXTERNAL, &name(tenant, incident, "")).to_string()
}

fn name(tenant: TenantId, incident: IncidentKey, what: &str) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(32 + what.len());
    bytes.extend_from_slice(tenant.0.as_bytes());
    bytes.extend_from_slice(incident.0.as_bytes());
    bytes.extend_from_slice(what.as_bytes());
    bytes
}

macro_rules! display_as_uuid {
    ($($ty:ty),*) => {$(
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
    )*};
}
display_as_uuid!(TenantId, IncidentKey, EffectId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incident_keys_keep_sentinel_guids_and_hash_other_ids() {
        let guid = "73e01a99-5cd7-4139-a149-9f2736ff2ab5";
        assert_eq!(IncidentKey::from_source_id(guid).to_string(), guid);
        let graph = IncidentKey::from_source_id("da637551227677560813_-961444813");
        assert_eq!(
            graph,
            IncidentKey::from_source_id("da637551227677560813_-961444813")
        );
        assert!(!graph.is_tenant_stream());
        assert!(!IncidentKey::from_source_id(&Uuid::nil().to_string()).is_tenant_stream());
    }

    #[test]
    fn derived_ids_are_stable_and_distinct() {
        let t = TenantId::from_name("contoso");
        let i = IncidentKey::from_source_id("73e01a99-5cd7-4139-a149-9f2736ff2ab5");
        assert_eq!(
            EffectId::derive(t, i, "signl/1"),
            EffectId::derive(t, i, "signl/1")
        );
        assert_ne!(
            EffectId::derive(t, i, "signl/1"),
            EffectId::derive(t, i, "signl/2")
        );
        assert_ne!(comment_id(t, i, "n1"), comment_id(t, i, "n2"));
        // Frozen format: open intents and Signls in existing logs are found by these values.
        assert_eq!(t.to_string(), "59230e6a-0c5d-503e-9e7b-59645d2f599f");
        assert_eq!(external_id(t, i), "e4ae71fd-b0c0-5809-ab62-2663b6cc0011");
        assert_eq!(
            EffectId::derive(t, i, "signl/1").to_string(),
            "63586cb3-7055-57d1-89d9-5393058e3443"
        );
        assert_eq!(
            comment_id(t, i, "n1").to_string(),
            "a0e10069-aa5c-551c-ab24-ea1be3a6dd50"
        );
    }
}
