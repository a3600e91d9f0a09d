//! Sentinel resource shapes: rendering stored incidents, comments, alerts and entities to the
//! ARM JSON of `Incidents.json` (2025-12-01), validating PUT bodies (required fields, enums, the
//! Closed ⇒ classification rules) and the filterable/orderable field tables.
//!
//! Invariants: rendered JSON validates against the official schemas (tests/sandbox_schema.rs);
//! read-only properties in a PUT body are ignored, never stored.

use serde_json::{json, Map, Value};

use crate::odata::FieldType;
use crate::state::{Comment, Incident, Tenant};
use crate::util::ts7;

/// `IncidentSeverity`.
pub const SEVERITIES: [&str; 4] = ["High", "Medium", "Low", "Informational"];
/// `IncidentStatus`.
pub const STATUSES: [&str; 3] = ["New", "Active", "Closed"];
/// `IncidentClassification`.
pub const CLASSIFICATIONS: [&str; 4] = [
    "Undetermined",
    "TruePositive",
    "BenignPositive",
    "FalsePositive",
];
/// `IncidentClassificationReason`.
pub const REASONS: [&str; 4] = [
    "SuspiciousActivity",
    "SuspiciousButExpected",
    "IncorrectAlertLogic",
    "InaccurateData",
];
/// `OwnerType`.
pub const OWNER_TYPES: [&str; 3] = ["Unknown", "User", "Group"];
/// `AttackTactic` values.
pub const TACTICS: [&str; 17] = [
    "Reconnaissance",
    "ResourceDevelopment",
    "InitialAccess",
    "Execution",
    "Persistence",
    "PrivilegeEscalation",
    "DefenseEvasion",
    "CredentialAccess",
    "Discovery",
    "LateralMovement",
    "Collection",
    "Exfiltration",
    "CommandAndControl",
    "Impact",
    "PreAttack",
    "ImpairProcessControl",
    "InhibitResponseFunction",
];

/// Writable incident properties kept by a PUT (everything else is read-only and ignored).
const WRITABLE: [&str; 11] = [
    "title",
    "description",
    "severity",
    "status",
    "classification",
    "classificationReason",
    "classificationComment",
    "owner",
    "labels",
    "firstActivityTimeUtc",
    "lastActivityTimeUtc",
];

/// The classification reasons a classification accepts (portal pairing table).
pub fn reasons_for(classification: &str) -> &'static [&'static str] {
    match classification {
        "TruePositive" => &["SuspiciousActivity"],
        "BenignPositive" => &["SuspiciousButExpected"],
        "FalsePositive" => &["IncorrectAlertLogic", "InaccurateData"],
        _ => &[],
    }
}

/// ARM id of an incident (real responses spell `/Incidents/` with a capital I).
pub fn incident_id(t: &Tenant, name: &str) -> String {
    format!(
        "{}/providers/Microsoft.SecurityInsights/Incidents/{name}",
        t.workspace_arm_id()
    )
}

/// The incident as `GET .../incidents/{id}` returns it, from the per-incident cache.
pub fn rendered<'a>(t: &Tenant, i: &'a Incident) -> &'a Value {
    i.rendered.get_or_init(|| render_incident(t, i))
}

/// The cached rendering, serialised.
pub fn serialized<'a>(t: &Tenant, i: &'a Incident) -> &'a str {
    i.serialized.get_or_init(|| rendered(t, i).to_string())
}

/// The incident as `GET .../incidents/{id}` returns it.
pub fn render_incident(t: &Tenant, i: &Incident) -> Value {
    let mut p = i.writable.clone();
    if !matches!(p.get("owner"), Some(Value::Object(_))) {
        p.insert("owner".into(), json!({}));
    }
    if let Some(Value::Object(o)) = p.get_mut("owner") {
        o.entry("ownerType").or_insert(json!("Unknown"));
        if t.owner_nulls {
            for k in ["objectId", "email", "assignedTo", "userPrincipalName"] {
                o.entry(k).or_insert(Value::Null);
            }
        }
    }
    p.entry("labels").or_insert(json!([]));
    let id = incident_id(t, &i.name);
    let mut products: Vec<String> = Vec::new();
    let mut tactics: Vec<String> = Vec::new();
    for a in &i.alerts {
        if let Some(pn) = a.get("productName").and_then(Value::as_str) {
            if !products.iter().any(|x| x == pn) {
                products.push(pn.to_string());
            }
        }
        for tac in a
            .get("tactics")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(s) = tac.as_str() {
                if !tactics.iter().any(|x| x == s) {
                    tactics.push(s.to_string());
                }
            }
        }
    }
    p.insert("createdTimeUtc".into(), json!(ts7(i.created)));
    p.insert("lastModifiedTimeUtc".into(), json!(ts7(i.modified)));
    p.insert("incidentNumber".into(), json!(i.number));
    p.insert(
        "incidentUrl".into(),
        json!(format!(
            "https://portal.azure.com/#asset/Microsoft_Azure_Security_Insights/Incident{id}"
        )),
    );
    p.insert("providerName".into(), json!(i.provider_name));
    p.insert("providerIncidentId".into(), json!(i.number.to_string()));
    p.insert("relatedAnalyticRuleIds".into(), json!(i.rule_ids));
    p.insert(
        "additionalData".into(),
        json!({
            "alertsCount": i.alerts.len(),
            "bookmarksCount": 0,
            "commentsCount": i.comments.len(),
            "alertProductNames": products,
            "tactics": tactics,
            "techniques": [],
        }),
    );
    json!({
        "id": id,
        "name": i.name,
        "etag": i.etag,
        "type": "Microsoft.SecurityInsights/Incidents",
        "properties": p,
    })
}

/// A comment as the comments API returns it.
pub fn render_comment(t: &Tenant, i: &Incident, c: &Comment) -> Value {
    json!({
        "id": format!("{}/Comments/{}", incident_id(t, &i.name), c.name),
        "name": c.name,
        "etag": c.etag,
        "type": "Microsoft.SecurityInsights/Incidents/Comments",
        "properties": {
            "message": c.message,
            "createdTimeUtc": ts7(c.created),
            "lastModifiedTimeUtc": ts7(c.modified),
            "author": c.author,
        }
    })
}

/// ARM id of an entity (alerts are entities of kind `SecurityAlert`).
fn entity_id(t: &Tenant, name: &str) -> String {
    format!(
        "{}/providers/Microsoft.SecurityInsights/Entities/{name}",
        t.workspace_arm_id()
    )
}

/// An alert (`SecurityAlertProperties` as stored) as an item of `POST .../alerts`.
pub fn render_alert(t: &Tenant, props: &Value) -> Value {
    let name = props
        .get("systemAlertId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    json!({
        "id": entity_id(t, &name),
        "name": name,
        "type": "Microsoft.SecurityInsights/Entities",
        "kind": "SecurityAlert",
        "properties": props,
    })
}

/// The body of `POST .../entities`: entities plus per-kind counts.
pub fn render_entities(t: &Tenant, i: &Incident) -> Value {
    let mut entities = Vec::new();
    let mut meta: Vec<(String, usize)> = Vec::new();
    for (n, (kind, props)) in i.entities.iter().enumerate() {
        let name = uuid::Uuid::new_v5(
            &uuid::Uuid::NAMESPACE_OID,
            format!("{}/{}", i.name, n).as_bytes(),
        )
        .to_string();
        entities.push(json!({
            "id": entity_id(t, &name),
            "name": name,
            "type": "Microsoft.SecurityInsights/Entities",
            "kind": kind,
            "properties": props,
        }));
        match meta.iter_mut().find(|(k, _)| k == kind) {
            Some((_, c)) => *c += 1,
            None => meta.push((kind.clone(), 1)),
        }
    }
    let meta: Vec<Value> = meta
        .into_iter()
        .map(|(k, c)| json!({"entityKind": k, "count": c}))
        .collect();
    json!({"entities": entities, "metaData": meta})
}

fn check_enum(p: &Map<String, Value>, key: &str, allowed: &[&str]) -> Result<(), String> {
    match p.get(key) {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(s)) if allowed.contains(&s.as_str()) => Ok(()),
        Some(v) => Err(format!(
            "Error converting value {v} to type '{key}'. Path 'properties.{key}'."
        )),
    }
}

/// Validates an incident PUT's `properties` and returns the writable subset to store.
/// `Err` carries the 400 message.
pub fn validate_incident(props: &Map<String, Value>) -> Result<Map<String, Value>, String> {
    for req in ["title", "severity", "status"] {
        match props.get(req) {
            Some(Value::String(s)) if !s.is_empty() => {}
            _ => {
                return Err(format!(
                    "Required property '{req}' not found in JSON. Path 'properties'."
                ))
            }
        }
    }
    check_enum(props, "severity", &SEVERITIES)?;
    check_enum(props, "status", &STATUSES)?;
    check_enum(props, "classification", &CLASSIFICATIONS)?;
    check_enum(props, "classificationReason", &REASONS)?;
    for key in [
        "description",
        "classificationComment",
        "firstActivityTimeUtc",
        "lastActivityTimeUtc",
    ] {
        if let Some(v) = props.get(key) {
            if !(v.is_string() || v.is_null()) {
                return Err(format!(
                    "Error converting value {v} to type 'String'. Path 'properties.{key}'."
                ));
            }
        }
    }
    for key in ["firstActivityTimeUtc", "lastActivityTimeUtc"] {
        if let Some(Value::String(s)) = props.get(key) {
            if crate::util::parse_ts(s).is_none() {
                return Err(format!(
                    "Could not convert string to DateTimeOffset: {s}. Path 'properties.{key}'."
                ));
            }
        }
    }
    let mut out = Map::new();
    for k in WRITABLE {
        if let Some(v) = props.get(k) {
            if !v.is_null() {
                out.insert(k.to_string(), v.clone());
            }
        }
    }
    if let Some(owner) = out.get_mut("owner") {
        let Value::Object(o) = owner else {
            return Err(
                "Error converting value to type 'IncidentOwnerInfo'. Path 'properties.owner'."
                    .into(),
            );
        };
        o.retain(|k, v| {
            !v.is_null()
                && [
                    "objectId",
                    "email",
                    "assignedTo",
                    "userPrincipalName",
                    "ownerType",
                ]
                .contains(&k.as_str())
        });
        check_enum(o, "ownerType", &OWNER_TYPES)?;
        if let Some(Value::String(oid)) = o.get("objectId") {
            if uuid::Uuid::parse_str(oid).is_err() {
                return Err(format!("Error converting value \"{oid}\" to type 'System.Nullable`1[System.Guid]'. Path 'properties.owner.objectId'."));
            }
        }
        if o.is_empty() {
            out.remove("owner");
        }
    }
    if let Some(labels) = out.get_mut("labels") {
        let Value::Array(items) = labels else {
            return Err(
                "Error converting value to type 'List`1[IncidentLabel]'. Path 'properties.labels'."
                    .into(),
            );
        };
        for l in items.iter_mut() {
            let name = l
                .get("labelName")
                .and_then(Value::as_str)
                .map(str::to_string);
            let Some(name) = name.filter(|n| !n.is_empty()) else {
                return Err(
                    "Required property 'labelName' not found in JSON. Path 'properties.labels'."
                        .into(),
                );
            };
            let ty = l
                .get("labelType")
                .and_then(Value::as_str)
                .filter(|t| *t == "User" || *t == "AutoAssigned")
                .unwrap_or("User")
                .to_string();
            *l = json!({"labelName": name, "labelType": ty});
        }
    }
    // Closing rules (demisto/content#34306 for the message shape).
    let status = out
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let class = out.get("classification").and_then(Value::as_str);
    let reason = out.get("classificationReason").and_then(Value::as_str);
    if status == "Closed" {
        let Some(c) = class else {
            return Err("Incident status 'Closed' must have classification.".into());
        };
        let allowed = reasons_for(c);
        match reason {
            None if !allowed.is_empty() => {
                return Err(format!(
                    "classification '{c}' must have classificationReason."
                ))
            }
            Some(r) if !allowed.contains(&r) => {
                return Err(format!(
                    "classificationReason '{r}' is not valid for classification '{c}'."
                ))
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Filterable incident fields (the subset public integrations use).
pub fn incident_fields(p: &[String]) -> Option<FieldType> {
    let p: Vec<&str> = p.iter().map(String::as_str).collect();
    Some(match p.as_slice() {
        ["name"] => FieldType::Str,
        ["properties", f] => match *f {
            "status"
            | "severity"
            | "classification"
            | "classificationReason"
            | "title"
            | "providerName"
            | "providerIncidentId" => FieldType::Str,
            "createdTimeUtc"
            | "lastModifiedTimeUtc"
            | "firstActivityTimeUtc"
            | "lastActivityTimeUtc" => FieldType::DateTime,
            "incidentNumber" => FieldType::Number,
            "labels" => FieldType::Collection,
            _ => return None,
        },
        ["properties", "owner", "assignedTo" | "email" | "objectId" | "userPrincipalName" | "ownerType"] => {
            FieldType::Str
        }
        ["properties", "labels", "*", "labelName" | "labelType"] => FieldType::Str,
        _ => return None,
    })
}

/// Filterable comment fields.
pub fn comment_fields(p: &[String]) -> Option<FieldType> {
    let p: Vec<&str> = p.iter().map(String::as_str).collect();
    Some(match p.as_slice() {
        ["name"] => FieldType::Str,
        ["properties", "createdTimeUtc" | "lastModifiedTimeUtc"] => FieldType::DateTime,
        ["properties", "message"] => FieldType::Str,
        ["properties", "author", "objectId" | "name" | "email" | "userPrincipalName"] => {
            FieldType::Str
        }
        _ => return None,
    })
}
