//! The chaos harness: the real connector process against the sandbox, killed with SIGKILL again
//! and again (at random times and at every named crash point), restarted each time, while
//! simulated SIGNL4 users and Sentinel analysts act. At the end it checks the promise users buy.
//!
//! Used by `tests/chaos.rs` (a small run in the suite) and `examples/chaos.rs` (the long run:
//! `cargo run --release --example chaos -- --kills 200`).
//!
//! What is checked once the last connector process has caught up (see [`check`]):
//! - every eligible incident has exactly one Signl; a second one counts as a duplicate unless
//!   the log recorded the resend as unverified (no SIGNL4 API key to look it up), which is the
//!   known at-least-once edge; an incident without a Signl is lost;
//! - no Sentinel comment is written twice;
//! - the final Sentinel state matches what the SIGNL4 users did (acknowledged: owner set;
//!   closed: incident Closed), every annotation became a comment, and an incident closed by an
//!   analyst has its Signl resolved;
//! - the log verifies, has no open intent, and replaying it from the first event gives the same
//!   state as the normal start (newest snapshot plus tail).
//!
//! Invariant: the harness never writes the connector's log; it only drives the sandbox, kills
//! and starts processes, and reads the log once no connector process is running.

mod activity;
mod check;
mod child;
mod world;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub use check::Findings;
pub use child::ConnectorCommand;

/// How big and how violent a run is.
#[derive(Clone, Debug)]
pub struct ChaosOptions {
    /// The connector process to run (the real binary, or an example re-executing itself).
    pub command: ConnectorCommand,
    /// Kills in all (random-time SIGKILLs and crash points alternate).
    pub kills: u32,
    pub tenants: usize,
    /// Incidents per tenant, created while the kills go on.
    pub incidents: usize,
    /// Whether the connectors have a SIGNL4 API key (lets restart reconciliation look Signls up
    /// by ExternalID instead of resending them unverified).
    pub api_key: bool,
    /// Longest life of one connector process before it is killed.
    pub max_life: Duration,
    pub seed: u64,
    /// Where logs, the configuration and each process's output go (kept for diagnosis).
    pub work_dir: PathBuf,
    /// Print progress lines.
    pub verbose: bool,
}

/// What a run saw.
#[derive(Clone, Debug, Default)]
pub struct ChaosReport {
    pub kills: u32,
    /// Kills that happened at a named crash point (the rest were at random times).
    pub crash_point_kills: u32,
    /// Extra kills made to prepare a crash point (an intent left open for the restart's
    /// reconcile to find); not counted in `kills`.
    pub setup_kills: u32,
    /// Which crash points were reached, and how often.
    pub points_reached: std::collections::BTreeMap<&'static str, u32>,
    pub incidents: usize,
    pub findings: Findings,
    pub elapsed: Duration,
}

impl ChaosReport {
    /// The one summary line of the issue; `points=R/T` is how many of the crash points
    /// ([`store::crash::POINTS`]) a kill reached, of all of them.
    pub fn line(&self) -> String {
        format!(
            "chaos: kills={} incidents={} duplicates={} lost={} known_at_least_once={} points={}/{}",
            self.kills,
            self.incidents,
            self.findings.duplicates,
            self.findings.lost,
            self.findings.known_at_least_once,
            self.points_reached.len(),
            store::crash::POINTS.len()
        )
    }

    /// The crash points no kill reached, to say which hand-offs a run did not prove.
    pub fn points_missed(&self) -> Vec<&'static str> {
        store::crash::POINTS
            .iter()
            .map(|(name, _)| *name)
            .filter(|name| !self.points_reached.contains_key(name))
            .collect()
    }

    /// True when nothing was lost or duplicated and every other check held.
    pub fn is_clean(&self) -> bool {
        self.findings.duplicates == 0
            && self.findings.lost == 0
            && self.findings.problems.is_empty()
    }
}

/// Runs the harness; see the module docs.
pub fn run(options: &ChaosOptions) -> Result<ChaosReport, Box<dyn std::error::Error>> {
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(options.seed);
    let world = world::World::start(options)?;
    let mut activity = activity::Activity::new(world.control(), options, rng.random());
    let mut report = ChaosReport::default();
    let points = store::crash::POINTS;
    for kill in 0..options.kills {
        // Alternate: odd kills at a crash point (cycling through all of them), even ones at a
        // random moment.
        let crash_point: Option<(&'static str, u32)> = (kill % 2 == 1).then(|| {
            let (name, _) = points[(kill as usize / 2) % points.len()];
            (name, rng.random_range(0..2u32))
        });
        // A crash point needs the work it sits in to happen: give those processes longer.
        let longest = options.max_life.as_millis().max(201) as u64;
        let life = Duration::from_millis(match crash_point {
            Some(_) => rng.random_range(longest..=2 * longest),
            None => rng.random_range(200..=longest),
        });
        if matches!(crash_point, Some(("reconcile.open_intent", _))) {
            // That point sits in the restart's reconcile and fires only when an intent was left
            // open, which a random kill rarely leaves (runs without an API key never reached
            // it): leave one first, as a crash right after an intent does.
            let mut setup = child::Connector::spawn(
                &options.command,
                &world,
                Some(("effect.after_intent", 0)),
            )?;
            setup.run_for(life, || activity.tick())?;
            report.setup_kills += 1;
        }
        let mut process = child::Connector::spawn(&options.command, &world, crash_point)?;
        let died_at_point = process.run_for(life, || activity.tick())?;
        report.kills += 1;
        if died_at_point {
            report.crash_point_kills += 1;
            if let Some((name, _)) = crash_point {
                *report.points_reached.entry(name).or_default() += 1;
            }
        }
        if options.verbose {
            println!(
                "kill {}/{}: {} after {:?}",
                kill + 1,
                options.kills,
                match (crash_point, died_at_point) {
                    (Some((name, _)), true) => format!("crash point {name}"),
                    _ => "SIGKILL".to_string(),
                },
                life
            );
        }
    }
    activity.finish_creating();
    report.incidents = activity.created();
    report.findings = check::settle_and_check(options, &world, &mut activity)?;
    report.elapsed = started.elapsed();
    Ok(report)
}
