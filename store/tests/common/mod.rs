//! Builders shared by the store's tests: realistic commands with few arguments.

#![allow(dead_code)]

use store::events::{IncidentObserved, Source};
use store::{IncidentKey, TenantId};

pub fn tenant() -> TenantId {
    TenantId::from_name("contoso")
}

pub fn incident(n: u128) -> IncidentKey {
    IncidentKey(uuid::Uuid::from_u128(
        0x73e0_1a99_5cd7_4139_a149_0000_0000_0000 + n,
    ))
}

/// An observation of incident `n` with the given status, etag and modification time.
pub fn observed(n: i64, status: &str, etag: &str, modified_ms: i64) -> IncidentObserved {
    IncidentObserved {
        source: Source::Sentinel,
        name: incident(n as u128).to_string(),
        etag: format!("\"{etag}\""),
        incident_number: n,
        title: format!("Suspicious sign-in #{n}"),
        severity: "High".into(),
        status: status.into(),
        owner: None,
        created_ms: 1_700_000_000_000,
        last_modified_ms: modified_ms,
        incident_url: format!("https://portal.azure.com/#incident/{n}"),
        labels: vec![],
        raw_json: format!(
            "{{\"name\":\"{}\",\"properties\":{{\"status\":\"{status}\"}}}}",
            incident(n as u128)
        ),
    }
}
