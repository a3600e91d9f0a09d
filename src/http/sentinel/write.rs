//! An [`IncidentUpdate`] as an ARM incident PUT: the whole resource as last read, with only
//! the fields the update changes (status, owner, classification, labels) set, and its etag.
//!
//! Invariants:
//! - Every other property goes back exactly as read, so nothing an analyst or another tool set
//!   is dropped (ARM's PUT replaces the resource); explicit nulls are dropped later
//!   ([`super::without_nulls`]).
//! - An incident already in the target state ([`IncidentUpdate::is_done`]) gives no body: no
//!   write is ever spent on nothing, and a folded label alone is never a reason to write.
//! - The body carries the etag of the state it was built from, so a stale start is a 409,
//!   never a lost update.

use actors::ports::{ApiError, IncidentChange, IncidentRecord, IncidentUpdate};
use serde_json::{json, Value};
use uuid::Uuid;

/// The PUT body that carries out `update` on the incident read as `record`, or `None` when
/// there is nothing to do.
pub fn put_body(
    record: &IncidentRecord,
    update: &IncidentUpdate,
) -> Result<Option<Value>, ApiError> {
    if update.is_done(record) {
        return Ok(None);
    }
    let raw: Value = serde_json::from_str(&record.raw_json).map_err(|e| {
        ApiError::Transient(format!("incident {} JSON does not parse: {e}", record.name))
    })?;
    let mut properties = raw
        .get("properties")
        .cloned()
        .filter(Value::is_object)
        .ok_or_else(|| {
            ApiError::Transient(format!("incident {} has no properties object", record.name))
        })?;
    if let Some(owner) = update.owner_to_write(record) {
        properties["owner"] = if Uuid::parse_str(owner).is_ok() {
            json!({"objectId": owner})
        } else {
            json!({"userPrincipalName": owner})
        };
    }
    if let Some(status) = update.status_to_write(record) {
        properties["status"] = json!(status);
    }
    if let IncidentChange::Close {
        classification,
        reason,
        comment,
        ..
    } = &update.change
    {
        properties["classification"] = json!(classification);
        match reason {
            Some(reason) => properties["classificationReason"] = json!(reason),
            None => {
                if let Some(map) = properties.as_object_mut() {
                    map.remove("classificationReason");
                }
            }
        }
        properties["classificationComment"] = json!(comment);
    }
    let add = update.labels_to_add(record);
    if !add.is_empty() {
        let labels = &mut properties["labels"];
        if !labels.is_array() {
            *labels = json!([]);
        }
        let list = labels.as_array_mut().expect("made an array above");
        list.extend(add.into_iter().map(|l| json!({"labelName": l})));
    }
    Ok(Some(json!({"etag": record.etag, "properties": properties})))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(status: &str, labels: &[&str]) -> IncidentRecord {
        IncidentRecord {
            name: "i".into(),
            etag: "\"e1\"".into(),
            status: status.into(),
            labels: labels.iter().map(|l| l.to_string()).collect(),
            raw_json: format!(
                r#"{{"properties":{{"title":"t","status":"{status}","severity":"High",
                "description":"kept","labels":[{}]}}}}"#,
                labels
                    .iter()
                    .map(|l| format!(r#"{{"labelName":"{l}","labelType":"User"}}"#))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            ..IncidentRecord::default()
        }
    }

    fn ack(fold: Option<&str>) -> IncidentUpdate {
        IncidentUpdate {
            change: IncidentChange::Acknowledge {
                owner: Some("rene@contoso.com".into()),
                activate: true,
            },
            fold_label: fold.map(str::to_string),
        }
    }

    #[test]
    fn a_pending_tag_folds_into_the_acknowledge_write_once() {
        let body = put_body(&record("New", &["other"]), &ack(Some("SIGNL4")))
            .unwrap()
            .expect("a write");
        let p = &body["properties"];
        assert_eq!(body["etag"], "\"e1\"");
        assert_eq!(p["labels"].as_array().unwrap().len(), 2, "{p}");
        assert_eq!(p["labels"][0]["labelType"], "User", "kept as read");
        assert_eq!(p["labels"][1]["labelName"], "SIGNL4");
        assert_eq!(p["status"], "Active");
        assert_eq!(p["owner"]["userPrincipalName"], "rene@contoso.com");
        assert_eq!(p["description"], "kept");

        // Already labelled (any case): no second label.
        let again = put_body(&record("New", &["signl4"]), &ack(Some("SIGNL4")))
            .unwrap()
            .unwrap();
        assert_eq!(again["properties"]["labels"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn a_folded_label_alone_is_never_a_reason_to_write() {
        let mut done = record("Active", &[]);
        done.owner = Some("Rene@contoso.com".into());
        assert_eq!(put_body(&done, &ack(Some("SIGNL4"))).unwrap(), None);
        assert_eq!(put_body(&record("Closed", &[]), &ack(None)).unwrap(), None);
    }

    #[test]
    fn a_close_sets_status_classification_and_drops_a_stale_reason() {
        let close = IncidentUpdate::only(IncidentChange::Close {
            owner: Some("5a2a0e0b-2f5e-4e47-9d3c-0a6f7f1f8e21".into()),
            classification: "Undetermined".into(),
            reason: None,
            comment: "Closed in SIGNL4".into(),
        });
        let mut read = record("Active", &[]);
        read.raw_json = r#"{"properties":{"status":"Active","classificationReason":"Old"}}"#.into();
        let p = put_body(&read, &close).unwrap().unwrap()["properties"].clone();
        assert_eq!(p["status"], "Closed");
        assert_eq!(p["classification"], "Undetermined");
        assert_eq!(p["classificationComment"], "Closed in SIGNL4");
        assert!(p.get("classificationReason").is_none(), "{p}");
        assert_eq!(
            p["owner"]["objectId"],
            "5a2a0e0b-2f5e-4e47-9d3c-0a6f7f1f8e21"
        );
    }

    #[test]
    fn a_tag_adds_its_label_or_nothing() {
        let tag = IncidentUpdate::only(IncidentChange::AddLabel("SIGNL4".into()));
        let body = put_body(&record("New", &[]), &tag).unwrap().unwrap();
        assert_eq!(
            body["properties"]["labels"],
            json!([{"labelName": "SIGNL4"}])
        );
        assert_eq!(body["properties"]["status"], "New", "status left as read");
        assert_eq!(put_body(&record("New", &["SIGNL4"]), &tag).unwrap(), None);
    }

    #[test]
    fn an_unreadable_resource_is_a_transient_error_naming_the_incident() {
        let mut bad = record("New", &[]);
        bad.raw_json = "{".into();
        let error = put_body(&bad, &ack(None)).unwrap_err();
        assert!(error.to_string().contains("incident i"), "{error}");
    }
}
