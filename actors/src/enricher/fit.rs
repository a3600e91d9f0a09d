//! Trimming an enrichment to fit one event of the log.
//!
//! Why: the store refuses an event whose payload exceeds [`MAX_PAYLOAD_BYTES`] (a bigger one
//! could not be read back), and an incident with thousands of alerts or a wide Log Analytics
//! result can exceed it. Refusing the enrichment would lose all of it; recording a trimmed one
//! keeps what fits and says what was left out.
//!
//! Invariants:
//! - An enrichment that fits is returned unchanged.
//! - Trimming drops, in this order, the Log Analytics results (the least essential and the
//!   widest), then entities from the end of their list, then alerts from the end of theirs,
//!   until the recorded JSON fits [`BUDGET`]; `alert_count` and `entity_count` keep the counts
//!   linked to the incident.
//! - Every trim adds a line to `missing`, which the audit timeline shows ("missing: ..."), with
//!   what was kept and how many bytes were left out.

use serde_json::Value;
use store::events::{IncidentEnriched, MAX_PAYLOAD_BYTES};

/// Bytes of JSON an enrichment may record: the payload limit minus room for its other fields
/// (products, tactics, missing lines, counts) and the encoding's length prefixes.
pub const BUDGET: usize = MAX_PAYLOAD_BYTES - 256 * 1024;

/// Returns `enriched` trimmed to fit [`BUDGET`] (see the module docs).
pub fn fit(mut enriched: IncidentEnriched) -> IncidentEnriched {
    fit_within(&mut enriched, BUDGET);
    enriched
}

fn json_bytes(e: &IncidentEnriched) -> usize {
    e.alerts_json.len() + e.entities_json.len() + e.search_json.len()
}

fn fit_within(e: &mut IncidentEnriched, budget: usize) {
    if json_bytes(e) <= budget {
        return;
    }
    if !e.search_json.is_empty() {
        let dropped = e.search_json.len();
        e.search_json.clear();
        e.missing.push(format!(
            "log analytics: results left out to fit the log's event limit ({dropped} bytes)"
        ));
    }
    let room = budget.saturating_sub(e.alerts_json.len());
    if e.entities_json.len() > room {
        trim_array(&mut e.entities_json, room, "entities", &mut e.missing);
    }
    let room = budget.saturating_sub(e.entities_json.len());
    if e.alerts_json.len() > room {
        trim_array(&mut e.alerts_json, room, "alerts", &mut e.missing);
    }
}

/// Keeps the longest prefix of the JSON array in `json` that fits `room` bytes, and says so.
fn trim_array(json: &mut String, room: usize, what: &str, missing: &mut Vec<String>) {
    let before = json.len();
    let items = match serde_json::from_str::<Value>(json) {
        Ok(Value::Array(items)) => items,
        // Not an array (never produced by the Enricher): drop it whole rather than cut JSON.
        _ => Vec::new(),
    };
    let total = items.len();
    let mut kept = Vec::new();
    let mut size = 2; // "[]"
    for item in items {
        let item_len = item.to_string().len() + usize::from(!kept.is_empty());
        if size + item_len > room {
            break;
        }
        size += item_len;
        kept.push(item);
    }
    let count = kept.len();
    *json = Value::Array(kept).to_string();
    missing.push(format!(
        "{what}: kept {count} of {total} to fit the log's event limit ({} bytes left out)",
        before - json.len()
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enriched(alerts: usize, entities: usize, search: usize) -> IncidentEnriched {
        let array = |n: usize, tag: &str| {
            Value::Array(
                (0..n)
                    .map(|i| serde_json::json!({ "id": format!("{tag}{i:04}") }))
                    .collect(),
            )
            .to_string()
        };
        IncidentEnriched {
            alert_count: alerts as u32,
            entity_count: entities as u32,
            products: vec![],
            tactics: vec![],
            missing: vec![],
            alerts_json: array(alerts, "alert"),
            entities_json: array(entities, "entity"),
            search_json: "x".repeat(search),
        }
    }

    #[test]
    fn an_enrichment_that_fits_is_unchanged() {
        let e = enriched(3, 4, 100);
        let mut trimmed = e.clone();
        fit_within(&mut trimmed, 10_000);
        assert_eq!(trimmed, e);
    }

    #[test]
    fn search_results_go_first_then_entities_then_alerts_and_each_trim_is_said() {
        let e = enriched(10, 10, 5_000);
        let mut t = e.clone();
        fit_within(&mut t, json_bytes(&e) - 10);
        assert!(t.search_json.is_empty());
        assert_eq!(
            t.entities_json, e.entities_json,
            "entities kept while search sufficed"
        );
        assert_eq!(t.missing.len(), 1);
        assert!(
            t.missing[0].starts_with("log analytics: results left out"),
            "{:?}",
            t.missing
        );

        // Room for the alerts and half the entities.
        let mut t = e.clone();
        let budget = e.alerts_json.len() + e.entities_json.len() / 2;
        fit_within(&mut t, budget);
        assert!(json_bytes(&t) <= budget);
        assert_eq!(t.alerts_json, e.alerts_json);
        let kept: Vec<Value> = serde_json::from_str(&t.entities_json).unwrap();
        assert!(!kept.is_empty() && kept.len() < 10);
        assert!(t.missing[1].contains(&format!("entities: kept {} of 10", kept.len())));
        assert_eq!(t.entity_count, 10, "the count linked is kept");

        // Room for a few alerts only.
        let mut t = e.clone();
        fit_within(&mut t, 60);
        assert!(json_bytes(&t) <= 60, "{t:?}");
        assert_eq!(t.entities_json, "[]");
        assert!(
            t.missing.iter().any(|m| m.starts_with("alerts: kept")),
            "{:?}",
            t.missing
        );
    }

    #[test]
    fn the_budget_leaves_room_below_the_store_limit() {
        let mut e = enriched(1, 0, 0);
        e.alerts_json = format!("[\"{}\"]", "a".repeat(MAX_PAYLOAD_BYTES));
        let t = fit(e);
        let bytes = store::Event::IncidentEnriched(t.clone())
            .encode_payload()
            .len();
        assert!(bytes <= MAX_PAYLOAD_BYTES, "{bytes}");
        assert!(
            t.missing.iter().any(|m| m.contains("alerts: kept 0 of 1")),
            "{:?}",
            t.missing
        );
    }
}
