//! `verify`: check a log's integrity (see `store::verify` for the list of checks). Prints a
//! summary and every problem with the seq and key it concerns; exits 0 when the log is sound,
//! 1 when anything is wrong, 3 when sled cannot read the log at all (see `data_dir`).

use std::process::ExitCode;
use std::time::Duration;

use store::verify::{verify, Options};

use store::guard::Watch;
use store::EventLog;

use super::data_dir::{BodyError, DataDir};
use super::{progress, CliResult};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    data: DataDir,

    /// Report side effects asked for longer ago than this and still unconfirmed.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    max_intent_age: Duration,
}

pub fn run(args: Args) -> CliResult {
    let data = args.data.clone();
    data.read(move |log, watch| body(args, log, watch))
}

fn body(args: Args, log: &EventLog, watch: &Watch) -> Result<ExitCode, BodyError> {
    let bar = progress::bar(log.expected_len()?, "verifying");
    let report = verify(
        log,
        Options {
            max_intent_age_ms: args.max_intent_age.as_millis() as i64,
            now_ms: chrono::Utc::now().timestamp_millis(),
        },
        &mut progress::callback(&bar, watch),
    );
    bar.finish_and_clear();
    println!(
        "{} events (seq {}..={}), {} incidents, {} open intents",
        report.events, report.first_seq, report.last_seq, report.incidents, report.open_intents
    );
    for parked in &report.parked {
        println!(
            "parked, waiting for an operator: tenant {} incident {} effect {}: {}",
            parked.tenant, parked.incident, parked.effect, parked.reason
        );
    }
    if report.is_ok() {
        println!("ok: the log is contiguous, decodes, and its indexes, outbox and snapshots agree");
        return Ok(ExitCode::SUCCESS);
    }
    println!("{} problems:", report.problems.len());
    for problem in &report.problems {
        println!("  - {problem}");
    }
    Ok(ExitCode::from(1))
}
