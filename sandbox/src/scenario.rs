//! Deterministic scenario generator: N tenants × M incidents (with alerts, entities, Log
//! Analytics rows and matching Graph alerts) from a seed, for the demo and the benches.
//!
//! Invariant: the same seed on an empty sandbox yields the same tenant ids, credentials, incident
//! ids, titles, severities and statuses (timestamps are relative to now).

use chrono::Utc;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::control::{
    AlertSpec, Control, ControlError, EntitySpec, IncidentSpec, TenantInfo, TenantSpec,
};

/// What to generate.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ScenarioSpec {
    /// Tenants to create.
    pub tenants: usize,
    /// Incidents per tenant.
    pub incidents_per_tenant: usize,
    /// Alerts per incident.
    pub alerts_per_incident: usize,
    /// RNG seed.
    pub seed: u64,
    /// Outbound webhook receiver for every generated team.
    pub outbound_url: Option<String>,
}

impl Default for ScenarioSpec {
    fn default() -> Self {
        ScenarioSpec {
            tenants: 1,
            incidents_per_tenant: 5,
            alerts_per_incident: 1,
            seed: 42,
            outbound_url: None,
        }
    }
}

const TITLES: [&str; 8] = [
    "Suspicious sign-in activity",
    "Brute force attack against a Windows host",
    "Mass download by a single user",
    "Malware detected on endpoint",
    "Impossible travel activity",
    "Rare process executed with admin privileges",
    "Suspicious inbox forwarding rule",
    "Azure Key Vault secret accessed from unusual IP",
];
const TACTICS: [&str; 6] = [
    "InitialAccess",
    "CredentialAccess",
    "Execution",
    "Persistence",
    "Exfiltration",
    "DefenseEvasion",
];
const SEVERITIES: [&str; 4] = ["High", "Medium", "Low", "Informational"];

fn gid(rng: &mut StdRng) -> String {
    uuid::Builder::from_random_bytes(rng.random())
        .into_uuid()
        .to_string()
}

/// Generates the scenario through the control API; returns the tenants created.
pub fn generate(c: &Control, spec: &ScenarioSpec) -> Result<Vec<TenantInfo>, ControlError> {
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let existing = c.tenants().len();
    let mut out = Vec::new();
    for n in 0..spec.tenants.min(1000) {
        let name = format!("tenant-{}", existing + n + 1);
        let t = c.create_tenant(TenantSpec {
            name: Some(name.clone()),
            tenant_id: Some(gid(&mut rng)),
            client_id: Some(gid(&mut rng)),
            client_secret: Some(format!("sbx~{}", gid(&mut rng).replace('-', ""))),
            subscription_id: Some(gid(&mut rng)),
            workspace_id: Some(gid(&mut rng)),
            team_secret: Some(gid(&mut rng).replace('-', "")[..12].to_string()),
            api_key: Some(format!("sbx~{}", gid(&mut rng).replace('-', ""))),
            outbound_url: spec.outbound_url.clone(),
            ..Default::default()
        })?;
        let now = Utc::now();
        for k in 0..spec.incidents_per_tenant.min(100_000) {
            let title = TITLES[rng.random_range(0..TITLES.len())];
            let severity = SEVERITIES[rng.random_range(0..SEVERITIES.len())];
            let status = if rng.random_bool(0.8) {
                "New"
            } else {
                "Active"
            };
            let age_min = (spec.incidents_per_tenant - k) as i64 * 7 + rng.random_range(0..5);
            let alerts: Vec<AlertSpec> = (0..spec.alerts_per_incident.min(50))
                .map(|_| AlertSpec {
                    system_alert_id: Some(gid(&mut rng)),
                    display_name: title.into(),
                    severity: severity.into(),
                    tactics: vec![TACTICS[rng.random_range(0..TACTICS.len())].into()],
                    rule_name: format!("{title} (rule)"),
                    result_count: rng.random_range(1..50),
                    ..Default::default()
                })
                .collect();
            let host = format!("host-{:03}", rng.random_range(0..1000));
            let inc = c.create_incident(&name, IncidentSpec {
                id: Some(gid(&mut rng)),
                title: title.into(),
                description: format!("{title} detected by the sandbox scenario (seed {}).", spec.seed),
                severity: severity.into(),
                status: status.into(),
                alerts: alerts.clone(),
                entities: vec![
                    EntitySpec { kind: "Account".into(), properties: obj(json!({"accountName": format!("user{k}"), "upnSuffix": "contoso.com"})) },
                    EntitySpec { kind: "Host".into(), properties: obj(json!({"hostName": host, "osFamily": "Windows"})) },
                    EntitySpec { kind: "Ip".into(), properties: obj(json!({"address": format!("203.0.113.{}", rng.random_range(1..255))})) },
                ],
                created: Some(now - chrono::Duration::minutes(age_min)),
                ..Default::default()
            })?;
            let number = inc["properties"]["incidentNumber"]
                .as_i64()
                .unwrap_or_default();
            for a in &alerts {
                c.add_graph_alert(
                    &name,
                    obj(json!({
                        "id": format!("sn{}", a.system_alert_id.clone().unwrap_or_default()),
                        "providerAlertId": a.system_alert_id,
                        "incidentId": number.to_string(),
                        "title": a.display_name,
                        "severity": severity.to_ascii_lowercase(),
                        "serviceSource": "microsoftSentinel",
                        "detectionSource": "scheduledAlerts",
                        "category": a.tactics.first().cloned().unwrap_or_default(),
                    })),
                )?;
            }
        }
        out.push(t);
    }
    Ok(out)
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}
