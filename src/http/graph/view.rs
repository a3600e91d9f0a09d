//! Graph alerts_v2 wire formats, without I/O: the polling `$filter`, an alert presented as an
//! incident (its *incident view*), and an incident write turned back into an alert PATCH.
//!
//! Why a view: every actor reads and writes incidents through the `IncidentSource` port in
//! Sentinel's shape (status New/Active/Closed, a `properties` object, owner, labels). Presenting
//! each alert in that shape lets the whole pipeline (watermark, rounds, paging, write-back,
//! resolve on close) run unchanged on Graph; the adapter translates writes back. The alert
//! itself is kept as received under `alert` in the view, and the view is what the event log
//! records as the observation's raw JSON, so an audit shows both.
//!
//! | alert (alerts_v2) | incident view |
//! |---|---|
//! | `id` | `name` |
//! | `lastUpdateDateTime`, quoted | `etag` (alerts have none; every change moves this time) |
//! | `status` new, inProgress (awaitingAction), resolved | New, Active (Active), Closed |
//! | `severity` high, medium, low, informational | High, Medium, Low, Informational |
//! | `assignedTo` | `owner` (`userPrincipalName` when it is one, always `assignedTo`) |
//! | `incidentId` | `incidentNumber` (the Defender incident the alert belongs to) |
//! | `alertWebUrl` | `incidentUrl` |
//! | `createdDateTime`, `lastUpdateDateTime` | `createdTimeUtc`, `lastModifiedTimeUtc` |
//! | `productName`, else `serviceSource` (named) | `additionalData.alertProductNames` |
//! | `category`, then `mitreTechniques` | `additionalData.tactics` |
//!
//! Writes ([`alert_patch`], from the alert as read just before): `status`, the owner as
//! `assignedTo`, and `classification`
//! (Undetermined -> unknown, TruePositive -> truePositive, BenignPositive ->
//! informationalExpectedActivity, FalsePositive -> falsePositive). Labels, the classification
//! reason and comment have no alert field and are not written (`determination` is left as the
//! analyst set it: no Sentinel reason maps onto it without guessing).
//!
//! Invariants: unknown fields are ignored; an alert without `id` or a readable
//! `lastUpdateDateTime` is refused (the watermark and the change detection need them); enum
//! values are compared without case (Graph's docs mix casings).

use actors::ports::{CommentRecord, IncidentChange, IncidentQuery, IncidentRecord, IncidentUpdate};
use chrono::{SecondsFormat, TimeZone, Utc};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::http::sentinel::{parse_incident, parse_time_ms};

/// The `@odata.type` of an alert comment (sent with every comment, as documented).
pub const COMMENT_TYPE: &str = "microsoft.graph.security.alertComment";

/// The Graph status of a connector (Sentinel) status; `None` for one Graph has no word for.
pub fn graph_status(status: &str) -> Option<&'static str> {
    match status.to_ascii_lowercase().as_str() {
        "new" => Some("new"),
        "active" => Some("inProgress"),
        "closed" => Some("resolved"),
        _ => None,
    }
}

/// The connector (Sentinel) status of a Graph status; others (`unknownFutureValue`) as received,
/// which matches no configured status, so such an alert is recorded but never paged.
pub fn incident_status(status: &str) -> String {
    match status.to_ascii_lowercase().as_str() {
        "new" => "New".into(),
        // `awaitingAction` (an evolvable member) is an alert someone works on.
        "inprogress" | "awaitingaction" => "Active".into(),
        "resolved" => "Closed".into(),
        _ => status.to_string(),
    }
}

/// The connector (Sentinel) severity of a Graph severity: the same word, capitalised.
pub fn incident_severity(severity: &str) -> String {
    let lower = severity.to_ascii_lowercase();
    let mut chars = lower.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// A readable product name for a `serviceSource` value (unknown values as they are).
pub fn service_name(service_source: &str) -> String {
    let name = match service_source {
        "microsoftDefenderForEndpoint" => "Microsoft Defender for Endpoint",
        "microsoftDefenderForIdentity" => "Microsoft Defender for Identity",
        "microsoftDefenderForCloudApps" => "Microsoft Defender for Cloud Apps",
        "microsoftDefenderForOffice365" => "Microsoft Defender for Office 365",
        "microsoft365Defender" => "Microsoft 365 Defender",
        "azureAdIdentityProtection" => "Microsoft Entra ID Protection",
        "microsoftAppGovernance" => "Microsoft App Governance",
        "dataLossPrevention" => "Microsoft Purview Data Loss Prevention",
        "microsoftDefenderForCloud" => "Microsoft Defender for Cloud",
        "microsoftSentinel" => "Microsoft Sentinel",
        other => other,
    };
    name.to_string()
}

/// The `$filter` of a poll (empty when nothing filters): statuses and severities `or`-ed in
/// parentheses, `lastUpdateDateTime ge` an unquoted RFC 3339 time. Only documented filter
/// fields are used (alerts_v2 filters on status, severity and lastUpdateDateTime, among others).
pub fn build_filter(q: &IncidentQuery) -> String {
    let any_of = |field: &str, values: &[String]| {
        let parts: Vec<String> = values
            .iter()
            .map(|v| format!("{field} eq '{}'", v.replace('\'', "''")))
            .collect();
        format!("({})", parts.join(" or "))
    };
    let mut clauses = Vec::new();
    let mut statuses: Vec<String> = Vec::new();
    for s in &q.statuses {
        let g = graph_status(s).map_or_else(|| s.to_ascii_lowercase(), str::to_string);
        if !statuses.contains(&g) {
            statuses.push(g);
        }
    }
    if !statuses.is_empty() {
        clauses.push(any_of("status", &statuses));
    }
    let severities: Vec<String> = q
        .severities
        .iter()
        .map(|s| s.to_ascii_lowercase())
        .collect();
    if !severities.is_empty() {
        clauses.push(any_of("severity", &severities));
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

/// The string under `key`, empty when absent or not a string.
pub(super) fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The properties every Graph view shares: title, description, severity, the status (already
/// in Sentinel's words: alerts and incidents map theirs differently) and the owner from
/// `assignedTo` (a UPN when it looks like one, else a display name).
pub(super) fn common_properties(v: &Value, title_key: &str, status: String) -> Map<String, Value> {
    let mut p = Map::new();
    p.insert("title".into(), json!(text(v, title_key)));
    p.insert("description".into(), json!(text(v, "description")));
    p.insert(
        "severity".into(),
        json!(incident_severity(text(v, "severity"))),
    );
    p.insert("status".into(), json!(status));
    match text(v, "assignedTo").trim() {
        "" => {}
        owner if owner.contains('@') => {
            p.insert(
                "owner".into(),
                json!({"userPrincipalName": owner, "assignedTo": owner}),
            );
        }
        owner => {
            p.insert("owner".into(), json!({ "assignedTo": owner }));
        }
    }
    p
}

/// The alert presented as an incident resource (see the module table).
pub fn incident_view(alert: &Value) -> Result<Value, String> {
    let id = Some(text(alert, "id"))
        .filter(|s| !s.is_empty())
        .ok_or("alert without an id")?;
    let updated = text(alert, "lastUpdateDateTime");
    parse_time_ms(updated).ok_or_else(|| format!("alert {id}: unreadable lastUpdateDateTime"))?;
    let mut products = Vec::new();
    match text(alert, "productName") {
        "" => match text(alert, "serviceSource") {
            "" => {}
            source => products.push(service_name(source)),
        },
        product => products.push(product.to_string()),
    }
    let mut tactics = Vec::new();
    if !text(alert, "category").is_empty() {
        tactics.push(text(alert, "category").to_string());
    }
    for technique in alert["mitreTechniques"].as_array().into_iter().flatten() {
        if let Some(t) = technique.as_str().filter(|t| !t.is_empty()) {
            tactics.push(t.to_string());
        }
    }
    let mut properties = common_properties(alert, "title", incident_status(text(alert, "status")));
    let number = text(alert, "incidentId").trim().parse::<i64>().unwrap_or(0);
    properties.insert("incidentNumber".into(), json!(number));
    properties.insert("incidentUrl".into(), json!(text(alert, "alertWebUrl")));
    let created = match text(alert, "createdDateTime") {
        "" => updated,
        c => c,
    };
    properties.insert("createdTimeUtc".into(), json!(created));
    properties.insert("lastModifiedTimeUtc".into(), json!(updated));
    properties.insert("labels".into(), json!([]));
    properties.insert(
        "additionalData".into(),
        json!({"alertsCount": 1, "alertProductNames": products, "tactics": tactics}),
    );
    Ok(json!({
        "name": id,
        "etag": format!("\"{updated}\""),
        "type": "microsoft.graph.security.alert",
        "properties": properties,
        "alert": alert,
    }))
}

/// The alert as an [`IncidentRecord`]: the fields read from its [view](incident_view), whose
/// JSON is the record's `raw_json`.
pub fn parse_alert(alert: &Value) -> Result<IncidentRecord, String> {
    let view = incident_view(alert)?;
    let raw = view.to_string();
    parse_incident(&view, raw)
}

/// The Graph classification of a connector (Sentinel) classification.
pub fn graph_classification(classification: &str) -> Option<&'static str> {
    match classification.to_ascii_lowercase().as_str() {
        "undetermined" => Some("unknown"),
        "truepositive" => Some("truePositive"),
        "benignpositive" => Some("informationalExpectedActivity"),
        "falsepositive" => Some("falsePositive"),
        _ => None,
    }
}

/// The alert PATCH that carries out `update` on the alert read as `record` (its view), or
/// `None` when nothing is left to do: status, owner (`assignedTo`) and classification, each only
/// when it changes (Graph's PATCH changes only the fields sent and has no etag, so nothing read
/// is sent back). Alerts have no labels: a label change is refused, a folded one ignored.
pub fn alert_patch(
    record: &IncidentRecord,
    update: &IncidentUpdate,
) -> Result<Option<Value>, String> {
    if let IncidentChange::AddLabel(label) = &update.change {
        return Err(format!("a Graph alert has no labels: cannot add {label:?}"));
    }
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
    if let IncidentChange::Close { classification, .. } = &update.change {
        let g = graph_classification(classification)
            .ok_or_else(|| format!("classification {classification:?} has no Graph equivalent"))?;
        patch.insert("classification".into(), json!(g));
    }
    Ok((!patch.is_empty()).then_some(Value::Object(patch)))
}

/// The marker that makes a comment the connector wrote recognisable (Graph comments have no id
/// of our choosing, and POST always adds one): a retry finds it and does not post again.
pub fn comment_marker(comment_id: Uuid) -> String {
    format!("[SIGNL4 ref {comment_id}]")
}

/// The comment text posted for `message`.
pub fn comment_text(message: &str, comment_id: Uuid) -> String {
    format!("{message}\n{}", comment_marker(comment_id))
}

/// The message of the comment `comment_id` among the alert's `comments`, if it is there.
pub fn find_comment(alert: &Value, comment_id: Uuid) -> Option<String> {
    let marker = comment_marker(comment_id);
    alert["comments"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["comment"].as_str())
        .find(|c| c.contains(&marker))
        .map(|c| c.replace(&marker, "").trim_end().to_string())
}

/// The `comments` of an alert or incident as [`CommentRecord`]s, oldest first: a comment with
/// the connector's marker has the marker's id (so the pipeline recognises its own), others
/// `{createdDateTime}#{index}` (Graph comments have no id; comments are only ever appended, so
/// this stays the same from one read to the next); the marker is cut from the message.
pub fn comment_records(comments: &Value) -> Vec<CommentRecord> {
    let marker_id = |text: &str| -> Option<Uuid> {
        let start = text.rfind("[SIGNL4 ref ")? + "[SIGNL4 ref ".len();
        let end = start + text[start..].find(']')?;
        Uuid::parse_str(&text[start..end]).ok()
    };
    let mut out: Vec<CommentRecord> = comments
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, c)| {
            let text = c["comment"].as_str().unwrap_or_default();
            let created = c["createdDateTime"].as_str().unwrap_or_default();
            let (id, message) = match marker_id(text) {
                Some(u) => (
                    u.to_string(),
                    text.replace(&comment_marker(u), "").trim_end().to_string(),
                ),
                None => (format!("{created}#{i}"), text.to_string()),
            };
            CommentRecord {
                id,
                message,
                author: c["createdByDisplayName"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                created_ms: parse_time_ms(created).unwrap_or(0),
            }
        })
        .collect();
    out.sort_by_key(|c| c.created_ms);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert() -> Value {
        json!({"@odata.type": "#microsoft.graph.security.alert",
            "id": "da637551227677560813_-961444813", "incidentId": "28282", "status": "inProgress",
            "severity": "low", "serviceSource": "microsoftDefenderForEndpoint",
            "title": "Suspicious execution of hidden file", "description": "d",
            "category": "DefenseEvasion", "assignedTo": "secAdmin@contoso.onmicrosoft.com",
            "alertWebUrl": "https://security.microsoft.com/alerts/x",
            "mitreTechniques": ["T1564.001"],
            "createdDateTime": "2021-04-27T12:19:27.7211305Z",
            "lastUpdateDateTime": "2021-05-02T14:19:01.3266667Z",
            "comments": [{"comment": "hi\n[SIGNL4 ref 00000000-0000-0000-0000-000000000001]"}],
            "evidence": [{"@odata.type": "#microsoft.graph.security.deviceEvidence",
                "deviceDnsName": "tempDns"}]})
    }

    #[test]
    fn an_alert_reads_as_an_incident() {
        let r = parse_alert(&alert()).unwrap();
        assert_eq!(r.name, "da637551227677560813_-961444813");
        assert_eq!(r.etag, "\"2021-05-02T14:19:01.3266667Z\"");
        assert_eq!((r.status.as_str(), r.severity.as_str()), ("Active", "Low"));
        assert_eq!(r.owner.as_deref(), Some("secAdmin@contoso.onmicrosoft.com"));
        assert_eq!(r.number, 28282);
        assert_eq!(r.url, "https://security.microsoft.com/alerts/x");
        assert_eq!(r.products, ["Microsoft Defender for Endpoint"]);
        assert_eq!(r.tactics, ["DefenseEvasion", "T1564.001"]);
        assert!(r.created_ms < r.last_modified_ms);
        let raw: Value = serde_json::from_str(&r.raw_json).unwrap();
        assert_eq!(raw["alert"], alert(), "the alert is kept as received");
        assert_eq!(raw["properties"]["description"], "d");
        let mut bad = alert();
        bad["lastUpdateDateTime"] = json!("yesterday");
        assert!(parse_alert(&bad)
            .unwrap_err()
            .contains("lastUpdateDateTime"));
    }

    #[test]
    fn statuses_and_severities_map_both_ways() {
        for (sentinel, graph) in [
            ("New", "new"),
            ("Active", "inProgress"),
            ("Closed", "resolved"),
        ] {
            assert_eq!(graph_status(sentinel), Some(graph));
            assert_eq!(incident_status(graph), sentinel);
        }
        assert_eq!(incident_status("awaitingAction"), "Active");
        assert_eq!(incident_status("unknownFutureValue"), "unknownFutureValue");
        assert_eq!(incident_severity("informational"), "Informational");
        let q = IncidentQuery {
            statuses: vec!["New".into(), "Active".into(), "Closed".into()],
            severities: vec!["High".into(), "Medium".into()],
            modified_since_ms: 1_714_521_600_000,
            page_size: 10,
        };
        assert_eq!(
            build_filter(&q),
            "(status eq 'new' or status eq 'inProgress' or status eq 'resolved') and \
             (severity eq 'high' or severity eq 'medium') and \
             lastUpdateDateTime ge 2024-05-01T00:00:00.000Z"
        );
    }

    #[test]
    fn an_incident_write_becomes_an_alert_patch_of_what_changes() {
        let read = parse_alert(&alert()).unwrap(); // inProgress, assigned to secAdmin
        let close = IncidentUpdate {
            change: IncidentChange::Close {
                owner: Some("rene@contoso.com".into()),
                classification: "BenignPositive".into(),
                reason: Some("SuspiciousButExpected".into()),
                comment: "c".into(),
            },
            fold_label: Some("SIGNL4".into()),
        };
        assert_eq!(
            alert_patch(&read, &close).unwrap(),
            Some(
                json!({"status": "resolved", "assignedTo": "rene@contoso.com",
                "classification": "informationalExpectedActivity"})
            )
        );
        let ack = |owner: &str| {
            IncidentUpdate::only(IncidentChange::Acknowledge {
                owner: Some(owner.into()),
                activate: true,
            })
        };
        assert_eq!(
            alert_patch(&read, &ack("5e0b")).unwrap(),
            Some(json!({"assignedTo": "5e0b"})),
            "already inProgress: only the owner"
        );
        assert_eq!(
            alert_patch(&read, &ack("SECADMIN@contoso.onmicrosoft.com")).unwrap(),
            None
        );
        let mut new = alert();
        new["status"] = json!("new");
        new["assignedTo"] = json!(null);
        let read_new = parse_alert(&new).unwrap();
        assert_eq!(
            alert_patch(&read_new, &ack("5e0b")).unwrap(),
            Some(json!({"status": "inProgress", "assignedTo": "5e0b"}))
        );
        let mut maybe = close.clone();
        maybe.change = IncidentChange::Close {
            owner: None,
            classification: "Maybe".into(),
            reason: None,
            comment: String::new(),
        };
        assert!(alert_patch(&read, &maybe).is_err());
        let tag = IncidentUpdate::only(IncidentChange::AddLabel("SIGNL4".into()));
        assert!(alert_patch(&read, &tag).unwrap_err().contains("no labels"));
    }

    #[test]
    fn comments_read_as_records_with_our_ids() {
        let ours = Uuid::from_u128(7);
        let comments = json!([
            {"comment": comment_text("from SIGNL4", ours), "createdByDisplayName": "app:x",
             "createdDateTime": "2026-01-01T00:00:01Z"},
            {"comment": "looking", "createdByDisplayName": "kai@contoso.com",
             "createdDateTime": "2026-01-01T00:00:02Z"}]);
        let r = comment_records(&comments);
        assert_eq!(r[0].id, ours.to_string());
        assert_eq!(r[0].message, "from SIGNL4");
        assert_eq!(r[1].id, "2026-01-01T00:00:02Z#1");
        assert_eq!(
            (r[1].author.as_str(), r[1].message.as_str()),
            ("kai@contoso.com", "looking")
        );
        assert!(r[0].created_ms < r[1].created_ms);
    }

    #[test]
    fn comments_are_found_by_their_marker() {
        let one = Uuid::from_u128(1);
        assert_eq!(find_comment(&alert(), one).as_deref(), Some("hi"));
        assert_eq!(find_comment(&alert(), Uuid::from_u128(2)), None);
        assert!(comment_text("hi", one).ends_with(&comment_marker(one)));
    }
}
