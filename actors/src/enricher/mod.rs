//! The Enricher: gathers what is linked to an incident (alerts, entities and, when a workspace
//! is configured, the Log Analytics search results behind the alerts), records it, and hands the
//! incident to the Forwarder.
//!
//! For a Microsoft Graph connector (`Source::Graph`) an alert is its own only alert and carries
//! its entities (`evidence`): both are taken from the observation the Poller recorded (the
//! alert as received, under `alert` in its incident view, see `ports::IncidentRecord`), with no
//! remote call; only the Log Analytics lookup (by `providerAlertId`) goes out. A Defender XDR
//! incident (also `Source::Graph`: it is read from Microsoft Graph) carries its alerts expanded
//! under `incident.alerts` in its view; their evidence is its entities.
//!
//! Invariants:
//! - Paging never waits on enrichment for long: the whole enrichment (retries with backoff and
//!   waits for the rate budget included) ends by `enrichment_deadline`; whatever could not be
//!   fetched by then is recorded as missing and the incident is forwarded anyway, saying what is
//!   missing.
//! - At most `enrichment_concurrency` incidents are enriched at once (Log Analytics allows five
//!   concurrent queries per principal), so a burst of incidents queues instead of failing; it
//!   queues at its sender, which waits for a permit, so what waits is bounded too
//!   (`handlers.rs`).
//! - An incident already enriched in its current round is not enriched again.
//! - What is recorded fits one event of the log: a larger enrichment is trimmed, and the
//!   timeline says what was left out ([`fit`]).

mod actor;
pub mod fit;
mod handlers;

use std::collections::BTreeSet;
use std::rc::Rc;
use std::sync::Arc;

use actix::Recipient;
use serde_json::Value;
use store::events::{Event, IncidentEnriched, Source};
use store::writer::Execution;
use store::{Command, IncidentKey, Store, StoreError, TenantId};
use tokio::sync::Semaphore;
use uuid::Uuid;

use crate::messages::Forward;
use crate::ports::{with_priority, ApiError, IncidentSource, LogAnalyticsApi, WritePriority};
use crate::retry::{retry, Backoff};
use crate::settings::ConnectorSettings;
use crate::tracker::Tracker;

/// The Enricher of one connector.
pub struct Enricher<S: IncidentSource + 'static, L: LogAnalyticsApi + 'static> {
    context: Rc<EnrichContext<S, L>>,
    tracker: Tracker,
}

/// Everything an enrichment needs; shared with in-flight work.
pub struct EnrichContext<S, L> {
    pub settings: Rc<ConnectorSettings>,
    pub store: Store,
    pub sentinel: Rc<S>,
    /// The workspace's query API, when augmentation is configured.
    pub log_analytics: Option<Rc<L>>,
    pub forwarder: Recipient<Forward>,
    /// Bounds concurrent enrichments: each holds one permit while it runs (shared, owned
    /// permits outlive the handler that took them).
    pub permits: Arc<Semaphore>,
}

impl<S: IncidentSource + 'static, L: LogAnalyticsApi + 'static> Enricher<S, L> {
    /// An Enricher for one connector.
    pub fn new(context: EnrichContext<S, L>) -> Self {
        Enricher {
            context: Rc::new(context),
            tracker: Tracker::default(),
        }
    }
}

/// Enriches (unless done for this round) and hands the incident to the Forwarder. The caller
/// holds one of the context's permits while this runs (the `Enrich` handler does).
pub async fn enrich_and_forward<S: IncidentSource, L: LogAnalyticsApi>(
    context: &EnrichContext<S, L>,
    tenant: TenantId,
    incident: IncidentKey,
    correlation: Uuid,
) -> Result<(), StoreError> {
    let state = context.store.read(|p| {
        p.incident(tenant, incident)
            .map(|i| (i.name.clone(), i.round, i.enriched_round))
    });
    let Some((name, round, enriched_round)) = state else {
        return Ok(());
    };
    if enriched_round < round {
        let enriched = gather(context, tenant, incident, &name).await;
        context
            .store
            .execute(
                Execution::incident(tenant, incident, Command::RecordEnrichment(enriched))
                    .correlated(correlation),
            )
            .await?;
    }
    let _ = context
        .forwarder
        .send(Forward {
            tenant,
            incident,
            correlation,
        })
        .await;
    Ok(())
}

/// Fetches alerts, entities and search results within the deadline.
async fn gather<S: IncidentSource, L: LogAnalyticsApi>(
    context: &EnrichContext<S, L>,
    tenant: TenantId,
    incident: IncidentKey,
    name: &str,
) -> IncidentEnriched {
    let settings = &context.settings;
    let backoff = Backoff {
        deadline: settings.enrichment_deadline,
        ..settings.backoff
    };
    // The whole enrichment, waits for the rate budget included, ends by this instant: a page
    // is never held past the deadline (a burst once held the last incidents' pages five
    // minutes behind the read budget, though retries were bounded).
    let until = tokio::time::Instant::now() + settings.enrichment_deadline;
    let mut missing = Vec::new();
    let (alerts, entities) = match settings.source {
        Source::Graph => match recorded_alerts(&context.store, tenant, incident) {
            Ok(alerts) => {
                let evidence = alerts
                    .iter()
                    .flat_map(|a| a["evidence"].as_array().cloned().unwrap_or_default())
                    .collect();
                (alerts, evidence)
            }
            Err(why) => {
                missing.push(format!("alert: {why}"));
                (Vec::new(), Vec::new())
            }
        },
        Source::Sentinel => {
            // Behind the Poller's listings in the read budget, which keeps a share for them:
            // a burst to enrich must not keep new incidents from being seen.
            let (alerts, entities) = with_priority(WritePriority::Comment, async {
                tokio::join!(
                    within(until, retry(backoff, || context.sentinel.list_alerts(name))),
                    within(
                        until,
                        retry(backoff, || context.sentinel.list_entities(name))
                    ),
                )
            })
            .await;
            (
                keep(alerts, "alerts", &mut missing),
                keep(entities, "entities", &mut missing),
            )
        }
    };
    let mut search_json = String::new();
    if let Some(la) = &context.log_analytics {
        let ids: Vec<String> = alerts
            .iter()
            .filter_map(|a| {
                a["properties"]["systemAlertId"]
                    .as_str()
                    .or(a["providerAlertId"].as_str())
            })
            .map(str::to_string)
            .collect();
        if !ids.is_empty() {
            let query = search_query(&ids);
            match within(until, retry(backoff, || la.query(&query, "P7D"))).await {
                Ok(result) => {
                    if let Some(partial) = result.partial_error {
                        missing.push(format!("log analytics: partial results ({partial})"));
                    }
                    search_json = result.tables.to_string();
                }
                Err(error) => missing.push(format!("log analytics: {error}")),
            }
        }
    }
    let mut products = BTreeSet::new();
    let mut tactics = BTreeSet::new();
    for alert in &alerts {
        // A Sentinel SecurityAlert keeps its fields under `properties`; a Graph alert at the top.
        let p = alert.get("properties").unwrap_or(alert);
        if let Some(product) = p["productName"].as_str().filter(|s| !s.is_empty()) {
            products.insert(product.to_string());
        }
        for tactic in p["tactics"].as_array().into_iter().flatten() {
            if let Some(t) = tactic.as_str() {
                tactics.insert(t.to_string());
            }
        }
        if let Some(category) = p["category"].as_str().filter(|s| !s.is_empty()) {
            tactics.insert(category.to_string());
        }
    }
    // Trimmed to what one event of the log can hold, saying so in `missing` (see fit.rs).
    fit::fit(IncidentEnriched {
        alert_count: alerts.len() as u32,
        entity_count: entities.len() as u32,
        products: products.into_iter().collect(),
        tactics: tactics.into_iter().collect(),
        missing,
        alerts_json: Value::Array(alerts).to_string(),
        entities_json: Value::Array(entities).to_string(),
        search_json,
    })
}

/// The Graph alert as the Poller last recorded it (`alert` of its incident view).
/// The Graph alerts of the recorded observation: an alerts_v2 view holds its alert under
/// `alert`; a Defender incident view its incident, with the expanded `alerts`, under `incident`.
fn recorded_alerts(
    store: &Store,
    tenant: TenantId,
    incident: IncidentKey,
) -> Result<Vec<Value>, String> {
    let events = store
        .log()
        .incident_events(tenant, incident)
        .map_err(|e| format!("the recorded observation cannot be read: {e}"))?;
    let raw = events
        .iter()
        .rev()
        .find_map(|e| match &e.event {
            Event::IncidentObserved(o) => Some(o.raw_json.clone()),
            _ => None,
        })
        .ok_or("no observation recorded")?;
    let view: Value = serde_json::from_str(&raw)
        .map_err(|e| format!("the recorded observation does not parse: {e}"))?;
    match (view.get("alert"), view.get("incident")) {
        (Some(alert), _) if alert.is_object() => Ok(vec![alert.clone()]),
        (_, Some(incident)) if incident.is_object() => {
            Ok(incident["alerts"].as_array().cloned().unwrap_or_default())
        }
        _ => Err("the recorded observation holds no Graph alert or incident".into()),
    }
}

/// The result of `call` (a retried fetch) if it ends by `until`, else a transient error saying
/// the deadline passed (the call is dropped: a budget wait stops counting as waiting).
async fn within<T>(
    until: tokio::time::Instant,
    call: impl std::future::Future<Output = (Result<T, ApiError>, u32)>,
) -> Result<T, ApiError> {
    match tokio::time::timeout_at(until, call).await {
        Ok((result, _)) => result,
        Err(_) => Err(ApiError::Transient(
            "not fetched within the enrichment deadline".into(),
        )),
    }
}

fn keep(result: Result<Vec<Value>, ApiError>, what: &str, missing: &mut Vec<String>) -> Vec<Value> {
    result.unwrap_or_else(|error| {
        missing.push(format!("{what}: {error}"));
        Vec::new()
    })
}

/// The SecurityAlert lookup of docs/reference/azure-apis.md §3.5 for the incident's alerts: one query for all.
pub fn search_query(system_alert_ids: &[String]) -> String {
    let ids: Vec<String> = system_alert_ids
        .iter()
        .map(|id| format!("\"{}\"", id.replace(['"', '\\'], "")))
        .collect();
    format!(
        "SecurityAlert\n| where SystemAlertId in ({})\n| summarize arg_max(TimeGenerated, *) by SystemAlertId\n| extend EP = parse_json(ExtendedProperties)\n| project SystemAlertId, AlertName, ProductName, RuleName = tostring(EP[\"Analytic Rule Name\"]), ResultCount = toint(EP[\"Search Query Results Overall Count\"]), QueryStart = tostring(EP[\"Query Start Time UTC\"]), QueryEnd = tostring(EP[\"Query End Time UTC\"])",
        ids.join(", ")
    )
}

/// Lines describing the search results, from the `tables` JSON recorded in the log.
pub fn search_lines(search_json: &str) -> Vec<String> {
    let Ok(tables) = serde_json::from_str::<Value>(search_json) else {
        return Vec::new();
    };
    let Some(table) = tables.as_array().and_then(|t| t.first()) else {
        return Vec::new();
    };
    let columns: Vec<&str> = table["columns"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str())
        .collect();
    let cell = |row: &Value, name: &str| -> Value {
        columns
            .iter()
            .position(|c| *c == name)
            .map(|i| row[i].clone())
            .unwrap_or(Value::Null)
    };
    table["rows"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|row| {
            let text = |name: &str| match cell(row, name) {
                Value::String(s) => s,
                Value::Null => String::new(),
                other => other.to_string(),
            };
            format!(
                "{}: {} results of rule {:?} ({} .. {})",
                text("AlertName"),
                text("ResultCount"),
                text("RuleName"),
                text("QueryStart"),
                text("QueryEnd")
            )
        })
        .collect()
}
