//! The `SecurityIncident` Log Analytics table, derived from the Sentinel emulator's incidents, so
//! the response-time queries operators join with `SIGNL4_CL` (mean time to acknowledge and to
//! close per incident) have something real to read.
//!
//! The columns are the real table's (Microsoft's `SecurityIncident` reference) with their LA
//! types. Sentinel writes one row per change there; the sandbox writes one row per incident in
//! its current state (`TimeGenerated` = its last change), which is what the documented
//! `summarize arg_max(TimeGenerated, *) by IncidentName` leaves of the real table anyway.
//!
//! Invariant: derived on every query from the incidents as they are, never stored.

use serde_json::{json, Map, Value};

use super::kql::Source;
use super::state::{Incident, Tenant};
use super::util::ts7;

/// The columns and their LA types.
pub const COLUMNS: [(&str, &str); 26] = [
    ("TenantId", "string"),
    ("TimeGenerated", "datetime"),
    ("IncidentName", "string"),
    ("Title", "string"),
    ("Description", "string"),
    ("Severity", "string"),
    ("Status", "string"),
    ("Classification", "string"),
    ("ClassificationComment", "string"),
    ("ClassificationReason", "string"),
    ("Owner", "dynamic"),
    ("ProviderName", "string"),
    ("ProviderIncidentId", "string"),
    ("FirstActivityTime", "datetime"),
    ("LastActivityTime", "datetime"),
    ("FirstModifiedTime", "datetime"),
    ("LastModifiedTime", "datetime"),
    ("CreatedTime", "datetime"),
    ("ClosedTime", "datetime"),
    ("IncidentNumber", "int"),
    ("RelatedAnalyticRuleIds", "dynamic"),
    ("AlertIds", "dynamic"),
    ("Labels", "dynamic"),
    ("IncidentUrl", "string"),
    ("SourceSystem", "string"),
    ("Type", "string"),
];

/// The table of one tenant.
pub fn table(t: &Tenant) -> Source {
    let cols = COLUMNS
        .iter()
        .map(|(c, ty)| (c.to_string(), ty.to_string()))
        .collect();
    (cols, t.incidents.values().map(|i| row(t, i)).collect())
}

fn row(t: &Tenant, i: &Incident) -> Map<String, Value> {
    let p = |k: &str| i.writable.get(k).cloned().unwrap_or(Value::Null);
    let status = i.prop_str("status").unwrap_or_default();
    let closed = (status == "Closed").then(|| {
        i.history
            .iter()
            .rev()
            .find(|h| h.what.contains("-> Closed"))
            .map_or(i.modified, |h| h.at)
    });
    let owner = match i.writable.get("owner") {
        Some(Value::Object(o)) => json!({
            "objectId": o.get("objectId"), "email": o.get("email"),
            "assignedTo": o.get("assignedTo"), "userPrincipalName": o.get("userPrincipalName")}),
        _ => {
            json!({"objectId": null, "email": null, "assignedTo": null, "userPrincipalName": null})
        }
    };
    let alert_ids: Vec<Value> = i
        .alerts
        .iter()
        .filter_map(|a| a.get("systemAlertId").cloned())
        .collect();
    let id = super::sentinel::model::incident_id(t, &i.name);
    let values = [
        ("TenantId", json!(t.tenant_id)),
        ("TimeGenerated", json!(ts7(i.modified))),
        ("IncidentName", json!(i.name)),
        ("Title", p("title")),
        ("Description", p("description")),
        ("Severity", p("severity")),
        ("Status", json!(status)),
        ("Classification", p("classification")),
        ("ClassificationComment", p("classificationComment")),
        ("ClassificationReason", p("classificationReason")),
        // dynamic cells travel as JSON text (see `kql::cell`).
        ("Owner", owner),
        ("ProviderName", json!(i.provider_name)),
        ("ProviderIncidentId", json!(i.number.to_string())),
        ("FirstActivityTime", p("firstActivityTimeUtc")),
        ("LastActivityTime", p("lastActivityTimeUtc")),
        ("FirstModifiedTime", json!(ts7(i.created))),
        ("LastModifiedTime", json!(ts7(i.modified))),
        ("CreatedTime", json!(ts7(i.created))),
        ("ClosedTime", closed.map_or(Value::Null, |c| json!(ts7(c)))),
        ("IncidentNumber", json!(i.number)),
        ("RelatedAnalyticRuleIds", json!(i.rule_ids)),
        ("AlertIds", Value::Array(alert_ids)),
        ("Labels", p("labels")),
        (
            "IncidentUrl",
            json!(format!(
                "https://portal.azure.com/#asset/Microsoft_Azure_Security_Insights/Incident{id}"
            )),
        ),
        ("SourceSystem", json!("Azure")),
        ("Type", json!("SecurityIncident")),
    ];
    values
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}
