//! Seeded alerts and entities as Sentinel would hold them: the ARM `SecurityAlertProperties`, the
//! matching `SecurityAlert` Log Analytics row, and entity properties with Sentinel's
//! `friendlyName`.
//!
//! Invariant: the ARM record and the table row of one alert are built together from the same
//! values, so the Sentinel and Log Analytics emulators never disagree about an alert.

use chrono::Utc;
use serde_json::{json, Map, Value};

use super::spec::{AlertSpec, EntitySpec};
use crate::state::{Incident, Tenant};
use crate::util::{guid, ts7};

/// Fills `friendlyName` like Sentinel does.
pub(super) fn entity_props(e: &EntitySpec) -> Value {
    let mut p = e.properties.clone();
    if !p.contains_key("friendlyName") {
        let name = [
            "accountName",
            "hostName",
            "address",
            "url",
            "hashValue",
            "fileName",
        ]
        .iter()
        .find_map(|k| p.get(*k).and_then(Value::as_str))
        .unwrap_or(&e.kind)
        .to_string();
        p.insert("friendlyName".into(), json!(name));
    }
    Value::Object(p)
}

/// Builds the ARM `SecurityAlertProperties` and the matching `SecurityAlert` table row.
pub(super) fn alert_records(
    t: &Tenant,
    inc: &Incident,
    a: &AlertSpec,
) -> (Value, Option<Map<String, Value>>) {
    let id = a.system_alert_id.clone().unwrap_or_else(guid);
    let now = Utc::now();
    let start = inc.created - chrono::Duration::minutes(15);
    let rule_id = inc
        .rule_ids
        .first()
        .and_then(|r| r.rsplit('/').next())
        .unwrap_or_default()
        .to_string();
    let tactics: Vec<&String> = a
        .tactics
        .iter()
        .filter(|x| crate::sentinel::model::TACTICS.contains(&x.as_str()))
        .collect();
    let props = json!({
        "systemAlertId": id,
        "alertDisplayName": a.display_name,
        "alertType": format!("{}_{}", t.tenant_id, rule_id),
        "severity": a.severity,
        "status": "New",
        "confidenceLevel": "Unknown",
        "vendorName": "Microsoft",
        "productName": a.product_name,
        "productComponentName": "Scheduled Alerts",
        "providerAlertId": guid(),
        "compromisedEntity": a.compromised_entity,
        "description": a.description,
        "tactics": tactics,
        "startTimeUtc": ts7(start),
        "endTimeUtc": ts7(inc.created - chrono::Duration::minutes(1)),
        "timeGenerated": ts7(inc.created),
        "processingEndTime": ts7(inc.created),
        "alertLink": "",
        "remediationSteps": [],
        "intent": "Unknown",
        "resourceIdentifiers": [{"type": "LogAnalytics", "workspaceId": t.workspace_id,
            "subscriptionId": t.subscription_id, "resourceGroup": t.resource_group}],
        "additionalData": {"AlertMessageEnqueueTime": ts7(now)},
        "friendlyName": a.display_name,
    });
    if !a.la_row {
        return (props, None);
    }
    let ep = json!({
        "Query Period": "05:00:00",
        "Trigger Operator": "GreaterThan",
        "Trigger Threshold": "0",
        "Correlation Id": guid(),
        "Search Query Results Overall Count": a.result_count.to_string(),
        "Data Sources": "[\"sandbox\"]",
        "Query": format!("// The query_now parameter represents the time (in UTC) at which the scheduled analytics rule ran to produce this alert.\nset query_now = datetime({});\n{}", ts7(inc.created), a.query),
        "Query Start Time UTC": (inc.created - chrono::Duration::hours(5)).format("%Y-%m-%d %H:%M:%SZ").to_string(),
        "Query End Time UTC": inc.created.format("%Y-%m-%d %H:%M:%SZ").to_string(),
        "Analytic Rule Ids": format!("[\"{rule_id}\"]"),
        "Event Grouping": "SingleAlert",
        "Analytic Rule Name": a.rule_name,
        "ProcessedBySentinel": "True",
        "Alert generation status": "Full alert created",
    });
    let entities: Vec<Value> = inc
        .entities
        .iter()
        .enumerate()
        .map(|(n, (k, p))| {
            let mut e = p.clone();
            e["$id"] = json!((n + 2).to_string());
            e["Type"] = json!(k.to_ascii_lowercase());
            e
        })
        .collect();
    let mut row = Map::new();
    let cells: Vec<(&str, Value)> = vec![
        ("TenantId", json!(t.workspace_id)),
        ("TimeGenerated", json!(ts7(inc.created))),
        ("DisplayName", json!(a.display_name)),
        ("AlertName", json!(a.display_name)),
        ("AlertSeverity", json!(a.severity)),
        ("Description", json!(a.description)),
        ("ProviderName", json!("ASI Scheduled Alerts")),
        ("VendorName", json!("Microsoft")),
        ("VendorOriginalId", json!(guid())),
        ("SystemAlertId", json!(id)),
        ("ResourceId", json!("")),
        ("SourceComputerId", json!("")),
        ("AlertType", json!(format!("{}_{}", t.tenant_id, rule_id))),
        ("ConfidenceLevel", json!("")),
        ("ConfidenceScore", Value::Null),
        ("IsIncident", json!(false)),
        ("StartTime", json!(ts7(start))),
        (
            "EndTime",
            json!(ts7(inc.created - chrono::Duration::minutes(1))),
        ),
        ("ProcessingEndTime", json!(ts7(inc.created))),
        ("RemediationSteps", json!("")),
        ("ExtendedProperties", json!(ep.to_string())),
        ("Entities", json!(Value::Array(entities).to_string())),
        ("SourceSystem", json!("Detection")),
        ("WorkspaceSubscriptionId", json!(t.subscription_id)),
        ("WorkspaceResourceGroup", json!(t.resource_group)),
        ("ExtendedLinks", json!("")),
        ("ProductName", json!(a.product_name)),
        ("ProductComponentName", json!("Scheduled Alerts")),
        ("AlertLink", json!("")),
        ("Status", json!("New")),
        ("CompromisedEntity", json!(a.compromised_entity)),
        ("Tactics", json!(a.tactics.join(", "))),
        (
            "Techniques",
            json!(serde_json::to_string(&a.techniques).unwrap_or_default()),
        ),
        ("SubTechniques", json!("")),
        ("Type", json!("SecurityAlert")),
    ];
    for (k, v) in cells {
        row.insert(k.into(), v);
    }
    (props, Some(row))
}
