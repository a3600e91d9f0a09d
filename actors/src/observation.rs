//! From what a service returned to what the log records: [`IncidentRecord`] to the
//! `IncidentObserved` event, and the incident's write-back body.
//!
//! Invariant: a write-back (PUT) starts from the full resource as last read and changes only the
//! fields it means to change, so no field set by an analyst or another tool is ever dropped.

use serde_json::{json, Value};
use store::events::{IncidentObserved, Source};

use crate::ports::IncidentRecord;

/// The event recording an observation of `record`.
pub fn observed(record: &IncidentRecord, source: Source) -> IncidentObserved {
    IncidentObserved {
        source,
        name: record.name.clone(),
        etag: record.etag.clone(),
        incident_number: record.number,
        title: record.title.clone(),
        severity: record.severity.clone(),
        status: record.status.clone(),
        owner: record.owner.clone(),
        created_ms: record.created_ms,
        last_modified_ms: record.last_modified_ms,
        incident_url: record.url.clone(),
        labels: record.labels.clone(),
        raw_json: record.raw_json.clone(),
    }
}

/// The PUT body that adds `label` to the incident read as `record`, or `None` when the label is
/// already there. Everything else in `properties` is sent back as read.
pub fn with_label(record: &IncidentRecord, label: &str) -> Result<Option<Value>, String> {
    if record.labels.iter().any(|l| l.eq_ignore_ascii_case(label)) {
        return Ok(None);
    }
    let raw: Value = serde_json::from_str(&record.raw_json)
        .map_err(|e| format!("incident {} JSON does not parse: {e}", record.name))?;
    let mut properties = raw
        .get("properties")
        .cloned()
        .filter(Value::is_object)
        .ok_or_else(|| format!("incident {} has no properties object", record.name))?;
    let labels = properties
        .as_object_mut()
        .expect("checked above")
        .entry("labels")
        .or_insert_with(|| json!([]));
    match labels.as_array_mut() {
        Some(list) => list.push(json!({"labelName": label})),
        None => *labels = json!([{"labelName": label}]),
    }
    Ok(Some(json!({"etag": record.etag, "properties": properties})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tagging_keeps_every_field_and_existing_labels() {
        let record = IncidentRecord {
            name: "i".into(),
            etag: "\"e1\"".into(),
            labels: vec!["VIP".into()],
            raw_json: json!({"name": "i", "etag": "\"e1\"", "properties": {
                "title": "t", "severity": "High", "status": "New", "description": "d",
                "owner": {"objectId": "o"}, "labels": [{"labelName": "VIP", "labelType": "User"}],
                "customField": 1}})
            .to_string(),
            ..IncidentRecord::default()
        };
        let body = with_label(&record, "SIGNL4").unwrap().unwrap();
        assert_eq!(body["etag"], "\"e1\"");
        let p = &body["properties"];
        assert_eq!(p["description"], "d");
        assert_eq!(p["owner"]["objectId"], "o");
        assert_eq!(p["customField"], 1);
        assert_eq!(p["labels"][0]["labelName"], "VIP");
        assert_eq!(p["labels"][1]["labelName"], "SIGNL4");
        let tagged = IncidentRecord {
            labels: vec!["signl4".into()],
            ..record
        };
        assert_eq!(with_label(&tagged, "SIGNL4"), Ok(None));
    }
}
