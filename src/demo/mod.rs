//! The demo: the whole product on the built-in sandbox, no Azure tenant or SIGNL4 team needed.
//!
//! It starts the sandbox with N tenants of M incidents, loads the connector configuration the
//! sandbox prints (exactly as a user would), runs every connector with the real HTTP clients,
//! the real event log and the real webhook listener, and plays SIGNL4 users who acknowledge and
//! then close each Signl. Every incident goes round the loop: polled, enriched, paged, tagged,
//! acknowledged (owner, Active, comment), closed (classification, comment); and each
//! connector's `SIGNL4_CL` shipper delivers that activity to the sandbox's Logs Ingestion API.
//!
//! Invariant: the demo only drives the sandbox's users and reads state; it never writes the
//! event log or calls the actors itself, so what it shows is what the connector does.

pub mod scripted;
mod users;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use store::aggregate::SignlStatus;
use store::{Store, StoreConfig};

use crate::config::{self, Env, Secret, SecretSource};
use crate::http::{HttpContext, HttpSettings};
use crate::run::{serve_webhooks, start_connectors, Running};
use sandbox::control::IncidentSpec;
use sandbox::scenario::{generate, ScenarioSpec};
use sandbox::{Sandbox, SandboxOptions};

/// What the demo runs.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    pub tenants: usize,
    pub incidents: usize,
    pub seed: u64,
    pub data_dir: PathBuf,
    /// Poll interval of every connector (short, so the loop is quick to watch).
    pub poll_interval: Duration,
    /// Exit once every incident went round the loop; otherwise run until Ctrl-C.
    pub until_done: bool,
    /// Give up (with an error) after this long when `until_done`.
    pub timeout: Duration,
    /// Where the connectors read incidents (the sandbox's configuration says `sentinel`).
    pub read_source: config::ReadSource,
}

/// What the demo saw at the end.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    pub incidents: usize,
    /// Incidents that went round the whole loop.
    pub done: usize,
    /// Signls raised, over all incidents.
    pub signls: usize,
    /// Incidents with more than one Signl.
    pub duplicates: usize,
    /// Sentinel comments written by the connector.
    pub comments: usize,
    /// Rows the `SIGNL4_CL` shippers delivered to the sandbox's Logs Ingestion API.
    pub signl4_cl_rows: u64,
    /// The 99th percentile of SIGNL4 action -> Sentinel incident write (see [`writeback_p99`]);
    /// `None` when no action was written back.
    pub writeback_p99: Option<Duration>,
    pub elapsed: Duration,
}

/// The 99th percentile (nearest rank) of how long SIGNL4 actions took to reach Sentinel: from
/// the recording of an acknowledge or close to the outcome of the incident write it implied (a
/// write found already done counts too). What an analyst watching Sentinel waits for.
pub fn writeback_p99(store: &Store) -> Result<Option<Duration>, store::StoreError> {
    use std::collections::HashMap;
    use store::events::{Effect, Event};
    let keys: Vec<_> = store.read(|p| p.incidents.values().map(|i| (i.tenant, i.key)).collect());
    let mut latencies: Vec<i64> = Vec::new();
    for (tenant, key) in keys {
        let mut action_at: Option<i64> = None;
        let mut started: HashMap<store::EffectId, i64> = HashMap::new();
        for e in store.log().incident_events(tenant, key)? {
            match &e.event {
                Event::Signl4ActionReceived(_) => action_at = Some(e.recorded_at_ms),
                Event::EffectRequested(r)
                    if matches!(
                        r.effect,
                        Effect::AcknowledgeIncident { .. } | Effect::CloseIncident { .. }
                    ) =>
                {
                    if let Some(at) = action_at {
                        started.insert(r.effect_id, at);
                    }
                }
                Event::EffectSucceeded(done) => {
                    if let Some(at) = started.remove(&done.effect_id) {
                        latencies.push((e.recorded_at_ms - at).max(0));
                    }
                }
                _ => {}
            }
        }
    }
    Ok(percentile(&mut latencies, 99).map(|ms| Duration::from_millis(ms as u64)))
}

/// The `p`th percentile (nearest rank) of `values`; `None` for none.
fn percentile(values: &mut [i64], p: usize) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let rank = (values.len() * p).div_ceil(100).max(1);
    Some(values[rank - 1])
}

/// Runs the demo; see the module docs.
pub fn run(options: &DemoOptions) -> Result<Summary, Box<dyn std::error::Error>> {
    let sandbox = Sandbox::start(SandboxOptions::default())?;
    generate(
        sandbox.control(),
        &ScenarioSpec {
            tenants: options.tenants,
            incidents_per_tenant: options.incidents,
            alerts_per_incident: 2,
            seed: options.seed,
            outbound_url: None,
        },
    )?;
    let mut config = config::parse_str(
        &sandbox.connector_toml(),
        Path::new("sandbox-connectors.toml"),
        &Env::process(),
    )
    .map_err(|errors| format!("the sandbox's configuration does not load:\n{errors}"))?;
    config.data_dir = options.data_dir.clone();
    for connector in &mut config.connectors {
        if options.read_source == config::ReadSource::Defender {
            // The same incidents, as the Defender portal shows them (with their alerts).
            sandbox
                .control()
                .mirror_sentinel_incidents(&connector.name)?;
        }
        connector.read_source = options.read_source;
        if options.read_source == config::ReadSource::Graph {
            connector.tag = None; // alerts have no labels (the loader does the same)
        }
        connector.poll_interval = options.poll_interval;
        let token = uuid::Uuid::new_v4().simple().to_string();
        connector.webhook_token = Some(Secret::new(token, SecretSource::Inline));
    }
    let store = Store::open(&config.data_dir, StoreConfig::default())?;
    let system = actix_rt::System::new();
    let result = system.block_on(async {
        // Loopback only: never send the demo's requests through a proxy.
        let http = HttpContext::new(HttpSettings {
            use_env_proxy: false,
            ..HttpSettings::default()
        })?;
        let running = start_connectors(&config, &store, &http).await?;
        let (server, address) = serve_webhooks(running.routes.clone(), ([127, 0, 0, 1], 0).into())?;
        for connector in &config.connectors {
            let token = connector.webhook_token.as_ref().map(Secret::expose);
            let url = format!(
                "http://{address}/signl4/{}/{}",
                connector.name,
                token.unwrap_or("")
            );
            sandbox
                .control()
                .set_outbound_url(&connector.name, Some(url))?;
        }
        println!(
            "sandbox: {} tenants x {} incidents; connectors running, webhook on {address}",
            options.tenants, options.incidents
        );
        let summary = drive(options, &sandbox, &store, &running).await;
        server.stop(true).await;
        let rows = ship_all(&running).await;
        let p99 = writeback_p99(&store);
        summary.and_then(|s| {
            Ok(Summary {
                signl4_cl_rows: rows,
                writeback_p99: p99?,
                ..s
            })
        })
    });
    drop(system);
    sandbox.stop();
    store.shutdown()?;
    result
}

/// Plays the SIGNL4 users and reports progress until done (or, without `until_done`, until
/// Ctrl-C, adding an incident now and then).
async fn drive(
    options: &DemoOptions,
    sandbox: &sandbox::SandboxHandle,
    store: &Store,
    running: &Running,
) -> Result<Summary, Box<dyn std::error::Error>> {
    let started = Instant::now();
    let mut users = users::Users::new(sandbox.control().clone());
    let mut last_report = String::new();
    let mut next_incident = Instant::now() + NEW_INCIDENT_EVERY;
    let tenants: Vec<String> = running.connectors.iter().map(|(n, _)| n.clone()).collect();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        if !options.until_done && Instant::now() >= next_incident {
            // Keep something happening for people watching: a new incident now and then.
            let tenant = &tenants[started.elapsed().as_secs() as usize % tenants.len()];
            sandbox
                .control()
                .create_incident(tenant, IncidentSpec::default())?;
            if options.read_source == config::ReadSource::Defender {
                sandbox.control().mirror_sentinel_incidents(tenant)?;
            }
            println!("sandbox: a new incident appeared in {tenant}");
            next_incident = Instant::now() + NEW_INCIDENT_EVERY;
        }
        users.act(&tenants)?;
        let summary = summarize(store, started);
        let report = format!(
            "paged {}/{}, round trips done {}/{}, comments {}",
            summary.signls, summary.incidents, summary.done, summary.incidents, summary.comments
        );
        if report != last_report {
            println!("{report}");
            last_report.clone_from(&report);
        }
        let expected = options.tenants * options.incidents;
        if options.until_done && summary.done >= expected && summary.incidents >= expected {
            let settled = crate::run::settle(running, Duration::from_millis(50), 100).await;
            if !settled {
                tracing::warn!("pipeline still busy at the end of the demo");
            }
            return Ok(summarize(store, started));
        }
        if options.until_done && started.elapsed() > options.timeout {
            return Err(
                format!("demo did not finish within {:?}: {report}", options.timeout).into(),
            );
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = &mut ctrl_c => return Ok(summarize(store, started)),
        }
    }
}

/// Runs a last pass of every `SIGNL4_CL` shipper; returns the rows they delivered in all.
async fn ship_all(running: &Running) -> u64 {
    let mut rows = 0;
    for (name, shipper) in &running.shippers {
        if let Ok(Err(error)) = shipper.send(actors::messages::ShipNow).await {
            tracing::warn!(connector = %name, %error, "last SIGNL4_CL pass failed");
        }
        if let Ok(stats) = shipper.send(actors::messages::ShipperStatus).await {
            rows += stats.rows_shipped;
        }
    }
    rows
}

/// How often watch mode adds an incident.
const NEW_INCIDENT_EVERY: Duration = Duration::from_secs(15);

/// Counts from the event log's projection (what the connector recorded).
fn summarize(store: &Store, started: Instant) -> Summary {
    store.read(|p| {
        let mut summary = Summary {
            elapsed: started.elapsed(),
            ..Summary::default()
        };
        for incident in p.incidents.values() {
            summary.incidents += 1;
            summary.signls += incident.signls_raised as usize;
            if incident.signls_raised > 1 {
                summary.duplicates += 1;
            }
            summary.comments += incident.comments_written as usize;
            if incident.signl.status == SignlStatus::Closed
                && incident.closed_in_sentinel()
                && incident.open_effects.is_empty()
            {
                summary.done += 1;
            }
        }
        summary
    })
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn nearest_rank_percentiles() {
        assert_eq!(percentile(&mut [], 99), None);
        assert_eq!(percentile(&mut [5], 99), Some(5));
        let mut hundred: Vec<i64> = (1..=100).rev().collect();
        assert_eq!(percentile(&mut hundred, 99), Some(99));
        assert_eq!(percentile(&mut hundred, 50), Some(50));
        let mut ten: Vec<i64> = (1..=10).collect();
        assert_eq!(percentile(&mut ten, 99), Some(10));
    }
}
