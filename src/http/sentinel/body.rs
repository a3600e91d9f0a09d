//! What an incident PUT sends: the resource as the caller built it, minus every explicit `null`.
//!
//! Real Sentinel (and independent emulators) answer an unassigned incident with
//! `"owner": {"objectId": null, "email": null, "assignedTo": null, ...}`; a write-back that starts
//! from the resource as read would echo those nulls, while the 2025-12-01 schema types them as
//! plain strings. ARM treats an absent property and a null one alike on PUT, so dropping nulls
//! changes nothing the service stores and makes every body schema-valid.
//!
//! Invariant: only `null` members of objects are removed (recursively); arrays keep their
//! length and order (a `null` element is kept, since removing it would shift the others), and
//! every other value is sent as given.

use serde_json::{Map, Value};

/// `v` without the `null` members of any object inside it.
pub fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, x)| !x.is_null())
                .map(|(k, x)| (k.clone(), without_nulls(x)))
                .collect::<Map<String, Value>>(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nulls_go_everything_else_stays() {
        let read = json!({"etag": "\"1\"", "properties": {"title": "t", "description": null,
            "owner": {"objectId": null, "email": null, "assignedTo": null,
                      "userPrincipalName": null, "ownerType": "Unknown"},
            "labels": [{"labelName": "SIGNL4", "labelType": null}], "n": 0, "f": false}});
        assert_eq!(
            without_nulls(&read),
            json!({"etag": "\"1\"", "properties": {"title": "t",
                "owner": {"ownerType": "Unknown"},
                "labels": [{"labelName": "SIGNL4"}], "n": 0, "f": false}})
        );
        assert_eq!(without_nulls(&json!([null, 1])), json!([null, 1]));
    }
}
