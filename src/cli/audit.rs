//! `audit`: read the history the connector recorded.
//!
//! - `audit <incident>`: one incident's timeline (the Sentinel incident id, the Graph alert id, or
//!   the incident number with `--tenant`), as a table or, with `--json`, as JSON lines;
//! - `audit --tenant T [--since 24h|RFC3339]`: the incidents of one tenant;
//! - `audit`: the tenants in the log.
//!
//! The state shown is replayed from the log (newest snapshot plus tail), exactly as a connector
//! restarting on it would see it.

use std::process::ExitCode;

use store::replay::{self, From};
use store::{Incident, IncidentKey, Projection, TenantId};

use store::guard::Watch;
use store::EventLog;

use super::data_dir::{BodyError, DataDir};
use super::export::event_json;
use super::{progress, CliResult};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    data: DataDir,

    /// Incident: Sentinel incident id (GUID), Graph alert id, or incident number (with --tenant).
    incident: Option<String>,

    /// Tenant: the connector name, or its tenant id as printed by `audit`.
    #[arg(long)]
    tenant: Option<String>,

    /// Only incidents with events since then: a duration back from now ("24h") or RFC 3339.
    #[arg(long)]
    since: Option<String>,

    /// JSON lines instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> CliResult {
    let data = args.data.clone();
    data.read(move |log, watch| body(args, log, watch))
}

fn body(args: Args, log: &EventLog, watch: &Watch) -> Result<ExitCode, BodyError> {
    let bar = progress::bar(log.expected_len()?, "replaying");
    let (projection, _) = replay::rebuild(
        log,
        From::NewestSnapshot,
        &mut progress::callback(&bar, watch),
    )?;
    bar.finish_and_clear();
    let tenant = args
        .tenant
        .as_deref()
        .map(|t| resolve_tenant(&projection, t))
        .transpose()?;
    match (&args.incident, tenant) {
        (Some(incident), tenant) => {
            let found = find_incidents(&projection, incident, tenant);
            match found.as_slice() {
                [] => Err(format!("no incident {incident:?} in the log").into()),
                [one] => {
                    timeline(log, &projection, one, args.json)?;
                    Ok(ExitCode::SUCCESS)
                }
                many => Err(format!(
                    "{incident:?} matches {} incidents in several tenants; pass --tenant",
                    many.len()
                )
                .into()),
            }
        }
        (None, Some(tenant)) => {
            let since_ms = args.since.as_deref().map(parse_since).transpose()?;
            list_incidents(&projection, tenant, since_ms.unwrap_or(i64::MIN), args.json);
            Ok(ExitCode::SUCCESS)
        }
        (None, None) => {
            list_tenants(&projection, args.json);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A tenant named by connector name or tenant id.
fn resolve_tenant(projection: &Projection, name: &str) -> Result<TenantId, BodyError> {
    if let Ok(uuid) = uuid::Uuid::parse_str(name) {
        if projection.tenants.contains_key(&TenantId(uuid)) {
            return Ok(TenantId(uuid));
        }
    }
    let by_name = TenantId::from_name(name);
    if projection.tenants.contains_key(&by_name)
        || projection.incidents.keys().any(|(t, _)| *t == by_name)
    {
        return Ok(by_name);
    }
    Err(
        format!("no tenant {name:?} in the log (run `audit` without arguments to list them)")
            .into(),
    )
}

fn find_incidents(
    projection: &Projection,
    needle: &str,
    tenant: Option<TenantId>,
) -> Vec<(TenantId, IncidentKey)> {
    let number = needle.trim_start_matches('#').parse::<i64>().ok();
    let key = IncidentKey::from_source_id(needle);
    let mut found: Vec<_> = projection
        .incidents
        .values()
        .filter(|i| tenant.is_none_or(|t| t == i.tenant))
        .filter(|i| i.key == key || i.name == needle || (number == Some(i.number) && i.number > 0))
        .map(|i| (i.tenant, i.key))
        .collect();
    found.sort();
    found
}

fn timeline(
    log: &store::EventLog,
    projection: &Projection,
    (tenant, key): &(TenantId, IncidentKey),
    json: bool,
) -> Result<(), BodyError> {
    let events = log.incident_events(*tenant, *key)?;
    if json {
        for event in &events {
            println!("{}", event_json(event));
        }
        return Ok(());
    }
    if let Some(incident) = projection.incident(*tenant, *key) {
        println!(
            "incident #{} {} ({}) of tenant {}",
            incident.number,
            incident.name,
            incident.title,
            tenant_label(projection, *tenant)
        );
        println!(
            "now: Sentinel {} {}, Signl {}, round {}, {} open intents\n",
            incident.status,
            incident.severity,
            incident.signl.status.label(),
            incident.round,
            incident.open_effects.len()
        );
    }
    println!(
        "{:>8}  {:<24}  {:<21}  DETAILS",
        "SEQ", "RECORDED (UTC)", "EVENT"
    );
    for event in &events {
        println!(
            "{:>8}  {:<24}  {:<21}  {}",
            event.seq,
            format_ms(event.recorded_at_ms),
            event.event.kind().name(),
            event.event.summary()
        );
    }
    Ok(())
}

fn list_incidents(projection: &Projection, tenant: TenantId, since_ms: i64, json: bool) {
    let mut incidents: Vec<&Incident> = projection
        .incidents
        .values()
        .filter(|i| i.tenant == tenant && i.last_event_ms >= since_ms)
        .collect();
    incidents.sort_by_key(|i| (i.number, i.key));
    if json {
        for i in incidents {
            println!(
                "{}",
                serde_json::json!({
                    "incident": i.name, "number": i.number, "title": i.title,
                    "severity": i.severity, "status": i.status, "signl": i.signl.status.label(),
                    "round": i.round, "open_intents": i.open_effects.len(),
                    "parked": i.parked.values().collect::<Vec<_>>(),
                    "last_event": format_ms(i.last_event_ms),
                })
            );
        }
        return;
    }
    println!(
        "{:>7}  {:<36}  {:<13}  {:<8}  {:<12}  {:>5}  {:>4}  {:<24}  TITLE",
        "NUMBER", "INCIDENT", "SEVERITY", "STATUS", "SIGNL", "ROUND", "OPEN", "LAST EVENT (UTC)"
    );
    for i in incidents {
        println!(
            "{:>7}  {:<36}  {:<13}  {:<8}  {:<12}  {:>5}  {:>4}  {:<24}  {}",
            i.number,
            i.name,
            i.severity,
            i.status,
            i.signl.status.label(),
            i.round,
            i.open_effects.len(),
            format_ms(i.last_event_ms),
            i.title
        );
        for reason in i.parked.values() {
            println!("{:>7}  parked, waiting for an operator: {reason}", "");
        }
    }
}

fn list_tenants(projection: &Projection, json: bool) {
    let mut tenants: Vec<_> = projection.tenants.iter().collect();
    tenants.sort_by_key(|(_, t)| t.name.clone());
    if !json {
        println!(
            "{:<36}  {:<20}  {:>9}  {:>5}  {:<24}",
            "TENANT ID", "CONNECTOR", "INCIDENTS", "OPEN", "WATERMARK (UTC)"
        );
    }
    for (id, tenant) in tenants {
        let incidents = projection.incidents.values().filter(|i| i.tenant == *id);
        let (count, open) = incidents.fold((0, 0), |(c, o), i| (c + 1, o + i.open_effects.len()));
        let name = tenant.name.as_deref().unwrap_or("?");
        if json {
            println!(
                "{}",
                serde_json::json!({"tenant": id.to_string(), "connector": name,
                    "incidents": count, "open_intents": open,
                    "watermark": format_ms(tenant.watermark_ms)})
            );
        } else {
            println!(
                "{:<36}  {:<20}  {:>9}  {:>5}  {:<24}",
                id.to_string(),
                name,
                count,
                open,
                format_ms(tenant.watermark_ms)
            );
        }
    }
}

fn tenant_label(projection: &Projection, tenant: TenantId) -> String {
    match projection.tenant(tenant).and_then(|t| t.name.as_deref()) {
        Some(name) => format!("{name} ({tenant})"),
        None => tenant.to_string(),
    }
}

/// Milliseconds since the epoch as RFC 3339 UTC with milliseconds.
pub fn format_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// `--since`: a duration back from now ("24h", "90m") or an RFC 3339 time.
fn parse_since(text: &str) -> Result<i64, BodyError> {
    if let Ok(time) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(time.timestamp_millis());
    }
    let back = humantime::parse_duration(text).map_err(|e| {
        format!("--since {text:?}: expected a duration like 24h or an RFC 3339 time ({e})")
    })?;
    Ok(chrono::Utc::now().timestamp_millis() - back.as_millis() as i64)
}
