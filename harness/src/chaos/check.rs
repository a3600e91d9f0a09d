//! The end of a chaos run: one more connector process (no crash point) runs until the sandbox
//! shows everything the people did reflected, then stops gracefully; then the log is opened and
//! everything is compared (see the checks in [`super`]).
//!
//! Invariant: "converged" is judged from the sandbox alone while a process runs (the log is
//! locked by it); the log is only read once no process runs, and a log with open intents gets
//! another process (bounded), since the promise is about the state once the connector caught up.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;
use store::replay::{self, From};
use store::{verify, IncidentKey, Store, StoreConfig, TenantId};

use super::activity::{Activity, Tracked};
use super::child::Connector;
use super::world::World;
use super::ChaosOptions;

/// SIGNL4's closed status as the sandbox reports it.
const CLOSED: i64 = 4;
/// The label the sandbox configuration asks the connector to add.
const TAG: &str = "SIGNL4";

/// What the final check found.
#[derive(Clone, Debug, Default)]
pub struct Findings {
    /// Second (and further) Signls for one incident the log did not record as possible.
    pub duplicates: usize,
    /// Eligible incidents without a Signl.
    pub lost: usize,
    /// Second Signls the log recorded as unverified resends (no API key to check first).
    pub known_at_least_once: usize,
    /// Everything else that did not hold, one line each.
    pub problems: Vec<String>,
    /// Events in the log at the end.
    pub events: u64,
}

/// Catches up, stops, and checks. Gives up (reporting what is missing) after a few processes.
pub fn settle_and_check(
    options: &ChaosOptions,
    world: &World,
    activity: &mut Activity,
) -> Result<Findings, Box<dyn std::error::Error>> {
    let mut missing = Vec::new();
    for _attempt in 0..4 {
        let mut process = Connector::spawn(&options.command, world, None)?;
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            missing = unconverged(world, activity)?;
            if missing.is_empty() || Instant::now() > deadline || !process.is_running() {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        // Let outcomes and tags that follow the visible changes land, then stop gracefully.
        std::thread::sleep(Duration::from_millis(1500));
        process.stop()?;
        let store = Store::open(&world.log_dir(), StoreConfig::default())?;
        let open = store.read(|p| p.open_effects().len());
        store.shutdown()?;
        if missing.is_empty() && open == 0 {
            break;
        }
        if options.verbose {
            println!(
                "not settled yet ({} open intents, {} checks pending); another process",
                open,
                missing.len()
            );
            for line in missing.iter().take(10) {
                println!("  pending: {line}");
            }
        }
    }
    let mut findings = inspect(world, activity)?;
    findings.problems.extend(missing);
    Ok(findings)
}

/// What the sandbox does not show yet, one line per incident and check.
fn unconverged(
    world: &World,
    activity: &Activity,
) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let control = world.control();
    let mut missing = Vec::new();
    let mut signls: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for tenant in world.tenants() {
        for signl in control.signls(tenant)? {
            let external = signl["externalId"].as_str().unwrap_or("").to_string();
            signls.entry(external).or_default().push(signl);
        }
    }
    for t in activity.incidents.values() {
        let incident = control.incident(&t.tenant, &t.name)?;
        let props = &incident["properties"];
        let what = |check: &str| format!("{} ({}): {check}", t.name, t.tenant);
        let own = signls.get(&t.external_id).map_or(&[][..], Vec::as_slice);
        if own.is_empty() {
            missing.push(what("no Signl"));
            continue;
        }
        let labels = props["labels"].as_array().cloned().unwrap_or_default();
        if !labels.iter().any(|l| l["labelName"] == TAG) {
            missing.push(what("not tagged"));
        }
        if t.closed_by_user && props["status"] != "Closed" {
            missing.push(what("closed in SIGNL4 but not in Sentinel"));
        }
        if t.acknowledged && !t.closed_by_analyst && owner(props).is_none() {
            missing.push(what("acknowledged in SIGNL4 but no owner in Sentinel"));
        }
        if t.closed_by_analyst && own.iter().any(|s| s["status"].as_i64() != Some(CLOSED)) {
            missing.push(what("closed by the analyst but its Signl is not resolved"));
        }
        if !t.annotations.is_empty() {
            let comments = messages(world, t)?;
            for note in &t.annotations {
                if !comments.iter().any(|c| c.contains(note.as_str())) {
                    missing.push(what(&format!("annotation {note:?} not a comment")));
                }
            }
        }
    }
    Ok(missing)
}

/// Counts Signls and comments, verifies the log and compares its two replays.
fn inspect(world: &World, activity: &Activity) -> Result<Findings, Box<dyn std::error::Error>> {
    let control = world.control();
    let mut findings = Findings::default();
    let mut per_external: BTreeMap<String, usize> = BTreeMap::new();
    for tenant in world.tenants() {
        for signl in control.signls(tenant)? {
            let external = signl["externalId"].as_str().unwrap_or("").to_string();
            *per_external.entry(external).or_default() += 1;
        }
    }
    let store = Store::open(&world.log_dir(), StoreConfig::default())?;
    for t in activity.incidents.values() {
        let count = per_external.get(&t.external_id).copied().unwrap_or(0);
        if count == 0 {
            findings.lost += 1;
            continue;
        }
        let unverified = store.read(|p| {
            p.incident(
                TenantId::from_name(&t.tenant),
                IncidentKey::from_source_id(&t.name),
            )
            .map_or(0, |i| i.signls_unverified as usize)
        });
        let extra = count - 1;
        let known = extra.min(unverified);
        findings.known_at_least_once += known;
        findings.duplicates += extra - known;
        let mut seen = BTreeMap::new();
        for message in messages(world, t)? {
            *seen.entry(message).or_insert(0usize) += 1;
        }
        for (message, n) in seen.into_iter().filter(|(_, n)| *n > 1) {
            findings.problems.push(format!(
                "{} ({}): comment written {n} times: {message:?}",
                t.name, t.tenant
            ));
        }
    }
    let report = verify::verify(
        store.log(),
        verify::Options {
            max_intent_age_ms: i64::MAX,
            now_ms: 0,
        },
        &mut |_, _| {},
    );
    findings.events = report.events;
    if !report.is_ok() {
        findings
            .problems
            .push(format!("verify failed: {:?}", report.problems));
    }
    if report.open_intents > 0 {
        findings
            .problems
            .push(format!("{} intents still open", report.open_intents));
    }
    let live = store.read(Clone::clone);
    let (replayed, _) = replay::rebuild(store.log(), From::Genesis, &mut |_, _| {})?;
    if live != replayed {
        findings
            .problems
            .push("the state replayed from the first event differs from the state at start".into());
    }
    store.shutdown()?;
    Ok(findings)
}

fn owner(props: &Value) -> Option<&str> {
    let owner = &props["owner"];
    ["userPrincipalName", "email", "assignedTo", "objectId"]
        .iter()
        .find_map(|k| owner[*k].as_str().filter(|s| !s.is_empty()))
}

fn messages(world: &World, t: &Tracked) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    Ok(world
        .control()
        .comments(&t.tenant, &t.name)?
        .iter()
        .filter_map(|c| c["properties"]["message"].as_str().map(str::to_string))
        .collect())
}
