//! The long chaos run (issue #6): the connector killed with SIGKILL again and again, at random
//! times and at every named crash point, while simulated people act; then the checks of
//! `harness::chaos`. Ends with one line:
//! `chaos: kills=K incidents=I duplicates=D lost=L known_at_least_once=A points=R/T` (R of the
//! T crash points in `store::crash::POINTS` reached by a kill; the missed ones are listed).
//!
//!     cargo run --release --example chaos -- --kills 200
//!
//! The example is its own connector process: it re-executes itself with `__connector run ...`,
//! which runs exactly the binary's command line (`sentinel_signl4::cli::main`) with the crash
//! points compiled in (examples build with the `failpoints` feature, see Cargo.toml).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use harness::chaos::{self, ChaosOptions, ConnectorCommand};

/// The marker argument that makes this process a connector.
const CONNECTOR: &str = "__connector";

#[derive(Parser, Debug)]
#[command(about = "Kill the connector again and again; count what was lost or duplicated")]
struct Args {
    /// Kills in all.
    #[arg(long, default_value_t = 200)]
    kills: u32,
    #[arg(long, default_value_t = 3)]
    tenants: usize,
    /// Incidents per tenant.
    #[arg(long, default_value_t = 40)]
    incidents: usize,
    /// Run without a SIGNL4 API key (resends after a crash cannot be checked first).
    #[arg(long)]
    no_api_key: bool,
    /// Longest life of one connector process, in milliseconds.
    #[arg(long, default_value_t = 3000)]
    max_life_ms: u64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where the log, configuration and process output go (a temporary directory if absent).
    #[arg(long)]
    work_dir: Option<PathBuf>,
}

fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some(CONNECTOR) {
        // Skip the program name: the marker then stands in for argv[0], which clap ignores.
        return sentinel_signl4::cli::main_with(std::env::args().skip(1));
    }
    let args = Args::parse();
    let temp = tempfile::tempdir().expect("a temporary directory");
    let work_dir = args
        .work_dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    let options = ChaosOptions {
        command: ConnectorCommand {
            program: std::env::current_exe().expect("the path of this executable"),
            prefix: vec![CONNECTOR.into()],
        },
        kills: args.kills,
        tenants: args.tenants,
        incidents: args.incidents,
        api_key: !args.no_api_key,
        max_life: Duration::from_millis(args.max_life_ms),
        seed: args.seed,
        work_dir,
        verbose: true,
    };
    match chaos::run(&options) {
        Ok(report) => {
            for problem in &report.findings.problems {
                println!("problem: {problem}");
            }
            println!(
                "took {:.0?}; {} kills at crash points {:?} ({} more to leave an intent open \
                 for the restart's reconcile); {} events in the log",
                report.elapsed,
                report.crash_point_kills,
                report.points_reached,
                report.setup_kills,
                report.findings.events
            );
            let missed = report.points_missed();
            if !missed.is_empty() {
                println!("crash points not reached: {missed:?}");
            }
            println!("{}", report.line());
            if report.is_clean() {
                ExitCode::SUCCESS
            } else {
                let kept = temp.keep();
                println!("logs and process output kept in {}", kept.display());
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            eprintln!("chaos run failed: {error}");
            ExitCode::from(2)
        }
    }
}
