//! Defender XDR incident (Graph `security/incidents`) wire formats, without I/O: the polling
//! `$filter`, an incident presented in the incident port's Sentinel shape (its *incident view*),
//! and an incident write turned back into an incident PATCH.
//!
//! Why a view: as for alerts ([`super::view`]), every actor reads and writes incidents in
//! Sentinel's shape; presenting a Defender incident in that shape lets the watermark, overlap,
//! sweep, rounds, write-back and resolve-on-close run unchanged. The incident as received (with
//! its expanded `alerts`) is kept under `incident`, and the view is the observation's raw JSON,
//! so the Enricher reads the alerts and their evidence from the log without another call.
//!
//! | Defender incident | incident view |
//! |---|---|
//! | `id` (numeric string) | `name`, and `incidentNumber` |
//! | `lastUpdateDateTime`, quoted | `etag` (incidents have none; every change moves this time) |
//! | `status` active, inProgress (awaitingAction), resolved, redirected | New, Active (Active), Closed, Closed |
//! | `severity` | the same word, capitalised |
//! | `displayName`, `description` | `title`, `description` |
//! | `assignedTo` | `owner` (`userPrincipalName` when it is one, always `assignedTo`) |
//! | `incidentWebUrl` | `incidentUrl` (the Defender portal link) |
//! | `customTags` | `labels` |
//! | `redirectIncidentId` | `redirectIncidentId` (the surviving incident of a merge) |
//! | alerts' `productName`, else `serviceSource` (named) | `additionalData.alertProductNames` |
//! | alerts' `category`, then `mitreTechniques` | `additionalData.tactics` |
//!
//! A merged (`redirected`) incident reads as Closed: its work goes on in the surviving incident,
//! so its Signl must not stay open as a second page for the same attack.
//!
//! Writes ([`incident_patch`]): `status` (New -> active, Active -> inProgress, Closed ->
//! resolved), the owner as `assignedTo`, the labels as `customTags`, and the close settings as
//! `classification` + `determination` by [`close_mapping`]; each only when it differs from the
//! incident as read just before the write, since a PATCH has no etag and a stale value sent
//! back would undo an analyst's edit:
//!
//! | connector classification / reason | Graph classification | Graph determination |
//! |---|---|---|
//! | Undetermined | unknown | unknown |
//! | TruePositive / SuspiciousActivity (or none) | truePositive | other |
//! | BenignPositive / SuspiciousButExpected (or none) | informationalExpectedActivity | confirmedActivity |
//! | FalsePositive / IncorrectAlertLogic (or none) | falsePositive | notMalicious |
//! | FalsePositive / InaccurateData | falsePositive | notEnoughDataToValidate |
//!
//! Determinations are the service metadata's values (`msgraph-sdk`), which the portal groups
//! under each classification. The classification comment has no incident field and is not
//! written.
//!
//! Invariants: unknown fields are ignored; an incident without `id` or a readable
//! `lastUpdateDateTime` is refused; enum values are compared without case.

use actors::ports::{IncidentChange, IncidentQuery, IncidentRecord, IncidentUpdate};
use chrono::{SecondsFormat, TimeZone, Utc};
use serde_json::{json, Map, Value};

use super::view::{common_properties, service_name, text};
use crate::http::sentinel::{parse_incident, parse_time_ms};

/// The Graph incident status of a connector (Sentinel) status; `None` for one Graph has no word
/// for.
pub fn graph_status(status: &str) -> Option<&'static str> {
    match status.to_ascii_lowercase().as_str() {
        "new" => Some("active"),
        "active" => Some("inProgress"),
        "closed" => Some("resolved"),
        _ => None,
    }
}

/// The connector (Sentinel) status of a Graph incident status; others (`unknownFutureValue`) as
/// received, which matches no configured status.
pub fn incident_status(status: &str) -> String {
    match status.to_ascii_lowercase().as_str() {
        "active" => "New".into(),
        // `awaitingAction` (an evolvable member): someone works on it.
        "inprogress" | "awaitingaction" => "Active".into(),
        // A merged incident lives on in the surviving one.
        "resolved" | "redirected" => "Closed".into(),
        _ => status.to_string(),
    }
}

/// The `$filter` of a poll: statuses `or`-ed (an Active poll also lists `awaitingAction`, a
/// Closed poll `redirected`, so merges are seen), severities `or`-ed, then
/// `lastUpdateDateTime ge` an unquoted RFC 3339 time (all documented filter fields).
pub fn build_filter(q: &IncidentQuery) -> String {
    let mut clauses = Vec::new();
    let mut statuses: Vec<&str> = Vec::new();
    for s in &q.statuses {
        if let Some(g) = graph_status(s) {
            if !statuses.contains(&g) {
                statuses.push(g);
            }
            if g == "inProgress" && !statuses.contains(&"awaitingAction") {
                statuses.push("awaitingAction");
            }
            if g == "resolved" && !statuses.contains(&"redirected") {
                statuses.push("redirected");
            }
        }
    }
    if !statuses.is_empty() {
        let parts: Vec<String> = statuses
            .iter()
            .map(|s| format!("status eq '{s}'"))
            .collect();
        clauses.push(format!("({})", parts.join(" or ")));
    }
    if !q.severities.is_empty() {
        let parts: Vec<String> = q
            .severities
            .iter()
            .map(|s| {
                format!(
                    "severity eq '{}'",
                    s.to_ascii_lowercase().replace('\'', "''")
                )
            })
            .collect();
        clauses.push(format!("({})", parts.join(" or ")));
    }
    if q.modified_since_ms > 0 {
        if let Some(t) = Utc.timestamp_millis_opt(q.modified_since_ms).single() {
            clauses.push(format!(
                "lastUpdateDateTime ge {}",
                t.to_rfc3339_opts(SecondsFormat::Millis, true)
            ));
        }
    }
    clauses.join(" and ")
}

/// The incident presented as an incident resource (see the module table).
pub fn incident_view(incident: &Value) -> Result<Value, String> {
    let id = Some(text(incident, "id"))
        .filter(|s| !s.is_empty())
        .ok_or("incident without an id")?;
    let updated = text(incident, "lastUpdateDateTime");
    parse_time_ms(updated)
        .ok_or_else(|| format!("incident {id}: unreadable lastUpdateDateTime"))?;
    let alerts = incident["alerts"].as_array().cloned().unwrap_or_default();
    let mut products: Vec<String> = Vec::new();
    let mut tactics: Vec<String> = Vec::new();
    let add = |list: &mut Vec<String>, s: String| {
        if !s.is_empty() && !list.contains(&s) {
            list.push(s);
        }
    };
    for a in &alerts {
        let product = match text(a, "productName") {
            "" => service_name(text(a, "serviceSource")),
            p => p.to_string(),
        };
        add(&mut products, product);
        add(&mut tactics, text(a, "category").to_string());
        for t in a["mitreTechniques"].as_array().into_iter().flatten() {
            add(&mut tactics, t.as_str().unwrap_or_default().to_string());
        }
    }
    let mut p = common_properties(
        incident,
        "displayName",
        incident_status(text(incident, "status")),
    );
    p.insert(
        "incidentNumber".into(),
        json!(id.trim().parse::<i64>().unwrap_or(0)),
    );
    p.insert(
        "incidentUrl".into(),
        json!(text(incident, "incidentWebUrl")),
    );
    let created = match text(incident, "createdDateTime") {
        "" => updated,
        c => c,
    };
    p.insert("createdTimeUtc".into(), json!(created));
    p.insert("lastModifiedTimeUtc".into(), json!(updated));
    let labels: Vec<Value> = incident["customTags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|t| json!({"labelName": t, "labelType": "User"}))
        .collect();
    p.insert("labels".into(), json!(labels));
    if let Some(to) = incident["redirectIncidentId"]
        .as_str()
        .filter(|s| !s.is_empty())
    {
        p.insert("redirectIncidentId".into(), json!(to));
    }
    p.insert(
        "additionalData".into(),
        json!({"alertsCount": alerts.len(), "alertProductNames": products, "tactics": tactics}),
    );
    Ok(json!({
        "name": id,
        "etag": format!("\"{updated}\""),
        "type": "microsoft.graph.security.incident",
        "properties": p,
        "incident": incident,
    }))
}

/// The incident as an [`IncidentRecord`]: the fields read from its [view](incident_view), whose
/// JSON is the record's `raw_json`.
pub fn parse_defender_incident(incident: &Value) -> Result<IncidentRecord, String> {
    let view = incident_view(incident)?;
    let raw = view.to_string();
    parse_incident(&view, raw)
}

/// The Graph classification and determination of the connector's close settings (the module
/// table); `None` for a classification Graph has no word for.
pub fn close_mapping(
    classification: &str,
    reason: Option<&str>,
) -> Option<(&'static str, &'static str)> {
    let reason = reason.unwrap_or("").to_ascii_lowercase();
    Some(match classification.to_ascii_lowercase().as_str() {
        "undetermined" => ("unknown", "unknown"),
        "truepositive" => ("truePositive", "other"),
        "benignpositive" => ("informationalExpectedActivity", "confirmedActivity"),
        "falsepositive" if reason == "inaccuratedata" => {
            ("falsePositive", "notEnoughDataToValidate")
        }
        "falsepositive" => ("falsePositive", "notMalicious"),
        _ => return None,
    })
}

/// The incident PATCH that carries out `update` on the incident read as `record` (its view),
/// or `None` when nothing is left to do: status, owner (`assignedTo`), tags (`customTags`: the
/// tags as read plus the labels to add) and the close settings by [`close_mapping`], each only
/// when it changes. Graph's PATCH has no etag: built from the incident as read just before, it
/// sends back nothing an analyst may have changed since an older read.
pub fn incident_patch(
    record: &IncidentRecord,
    update: &IncidentUpdate,
) -> Result<Option<Value>, String> {
    if update.is_done(record) {
        return Ok(None);
    }
    let mut patch = Map::new();
    if let Some(g) = update.status_to_write(record).and_then(graph_status) {
        patch.insert("status".into(), json!(g));
    }
    if let Some(owner) = update.owner_to_write(record) {
        patch.insert("assignedTo".into(), json!(owner));
    }
    let add = update.labels_to_add(record);
    if !add.is_empty() {
        let tags: Vec<&String> = record.labels.iter().chain(add.iter()).collect();
        patch.insert("customTags".into(), json!(tags));
    }
    if let IncidentChange::Close {
        classification,
        reason,
        ..
    } = &update.change
    {
        let (classification, determination) = close_mapping(classification, reason.as_deref())
            .ok_or_else(|| format!("classification {classification:?} has no Graph equivalent"))?;
        patch.insert("classification".into(), json!(classification));
        patch.insert("determination".into(), json!(determination));
    }
    Ok((!patch.is_empty()).then_some(Value::Object(patch)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incident() -> Value {
        json!({"@odata.type": "#microsoft.graph.security.incident", "id": "2972395",
            "incidentWebUrl": "https://security.microsoft.com/incidents/2972395?tid=x",
            "redirectIncidentId": null, "displayName": "Multi-stage incident", "description": "d",
            "tenantId": "x", "createdDateTime": "2021-08-13T08:43:35.5533333Z",
            "lastUpdateDateTime": "2021-09-30T09:35:45.1133333Z", "assignedTo": "KaiC@contoso.onmicrosoft.com",
            "classification": "truePositive", "determination": "multiStagedAttack",
            "status": "inProgress", "severity": "medium", "customTags": ["Demo", "SIGNL4"],
            "alerts": [{"id": "a1", "productName": "", "serviceSource": "microsoftDefenderForEndpoint",
                "category": "DefenseEvasion", "mitreTechniques": ["T1564.001"],
                "evidence": [{"@odata.type": "#microsoft.graph.security.deviceEvidence"}]},
                {"id": "a2", "serviceSource": "microsoftSentinel", "category": "DefenseEvasion"}]})
    }

    #[test]
    fn an_incident_reads_as_an_incident() {
        let r = parse_defender_incident(&incident()).unwrap();
        assert_eq!(r.name, "2972395");
        assert_eq!(r.number, 2972395);
        assert_eq!(r.etag, "\"2021-09-30T09:35:45.1133333Z\"");
        assert_eq!(
            (r.status.as_str(), r.severity.as_str()),
            ("Active", "Medium")
        );
        assert_eq!(r.owner.as_deref(), Some("KaiC@contoso.onmicrosoft.com"));
        assert_eq!(
            r.url,
            "https://security.microsoft.com/incidents/2972395?tid=x"
        );
        assert_eq!(r.labels, ["Demo", "SIGNL4"]);
        assert_eq!(
            r.products,
            ["Microsoft Defender for Endpoint", "Microsoft Sentinel"]
        );
        assert_eq!(r.tactics, ["DefenseEvasion", "T1564.001"]);
        let raw: Value = serde_json::from_str(&r.raw_json).unwrap();
        assert_eq!(raw["incident"], incident(), "kept as received");
        let mut merged = incident();
        merged["status"] = json!("redirected");
        merged["redirectIncidentId"] = json!("2972400");
        let r = parse_defender_incident(&merged).unwrap();
        assert_eq!(r.status, "Closed");
        let raw: Value = serde_json::from_str(&r.raw_json).unwrap();
        assert_eq!(raw["properties"]["redirectIncidentId"], "2972400");
        let mut bad = incident();
        bad["lastUpdateDateTime"] = json!("soon");
        assert!(parse_defender_incident(&bad).is_err());
    }

    #[test]
    fn the_filter_asks_for_evolvable_and_merged_statuses() {
        let q = IncidentQuery {
            statuses: vec!["New".into(), "Active".into(), "Closed".into()],
            severities: vec!["High".into()],
            modified_since_ms: 1_714_521_600_000,
            page_size: 10,
        };
        assert_eq!(
            build_filter(&q),
            "(status eq 'active' or status eq 'inProgress' or status eq 'awaitingAction' or \
             status eq 'resolved' or status eq 'redirected') and (severity eq 'high') and \
             lastUpdateDateTime ge 2024-05-01T00:00:00.000Z"
        );
    }

    fn close(classification: &str, reason: Option<&str>) -> IncidentUpdate {
        IncidentUpdate {
            change: IncidentChange::Close {
                owner: Some("rene@contoso.com".into()),
                classification: classification.into(),
                reason: reason.map(str::to_string),
                comment: "c".into(),
            },
            fold_label: Some("SIGNL4".into()),
        }
    }

    #[test]
    fn writes_become_incident_patches_with_the_close_table() {
        let mut untagged = incident();
        untagged["customTags"] = json!(["Demo"]);
        let read = parse_defender_incident(&untagged).unwrap();
        assert_eq!(
            incident_patch(&read, &close("FalsePositive", Some("InaccurateData"))).unwrap(),
            Some(
                json!({"status": "resolved", "assignedTo": "rene@contoso.com",
                "customTags": ["Demo", "SIGNL4"], "classification": "falsePositive",
                "determination": "notEnoughDataToValidate"})
            )
        );
        for (c, r, want) in [
            ("Undetermined", None, ("unknown", "unknown")),
            (
                "TruePositive",
                Some("SuspiciousActivity"),
                ("truePositive", "other"),
            ),
            (
                "BenignPositive",
                Some("SuspiciousButExpected"),
                ("informationalExpectedActivity", "confirmedActivity"),
            ),
            (
                "FalsePositive",
                Some("IncorrectAlertLogic"),
                ("falsePositive", "notMalicious"),
            ),
        ] {
            assert_eq!(close_mapping(c, r), Some(want));
        }
        assert!(incident_patch(&read, &close("Maybe", None)).is_err());
    }

    #[test]
    fn a_write_sends_only_what_it_changes() {
        // Tagging an incident read as active with an analyst's tag: the tags as read plus ours,
        // nothing else (the status stays as the analyst set it).
        let read = parse_defender_incident(&json!({"id": "5", "status": "inProgress",
            "assignedTo": null, "customTags": ["Demo"], "lastUpdateDateTime": "2026-01-01T00:00:00Z"}))
        .unwrap();
        let tag = IncidentUpdate::only(IncidentChange::AddLabel("SIGNL4".into()));
        assert_eq!(
            incident_patch(&read, &tag).unwrap(),
            Some(json!({"customTags": ["Demo", "SIGNL4"]}))
        );
        let ack = IncidentUpdate::only(IncidentChange::Acknowledge {
            owner: Some("kai@contoso.com".into()),
            activate: true,
        });
        assert_eq!(
            incident_patch(&read, &ack).unwrap(),
            Some(json!({"assignedTo": "kai@contoso.com"}))
        );
        let new = parse_defender_incident(&json!({"id": "6", "status": "active",
            "lastUpdateDateTime": "2026-01-01T00:00:00Z"}))
        .unwrap();
        assert_eq!(
            incident_patch(&new, &ack).unwrap(),
            Some(json!({"status": "inProgress", "assignedTo": "kai@contoso.com"}))
        );
        let mut tagged = read.clone();
        tagged.labels.push("signl4".into());
        assert_eq!(incident_patch(&tagged, &tag).unwrap(), None);
    }
}
