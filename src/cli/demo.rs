//! `demo`: the main job on the embedded default — every piece of the product against the
//! built-in sandbox (see [`crate::demo`]), then what the audit tool shows of the result.

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Duration;

use super::CliResult;
use crate::config::ReadSource;
use crate::demo::{run as run_demo, DemoOptions};

fn parse_read_source(s: &str) -> Result<ReadSource, String> {
    ReadSource::parse(s).ok_or_else(|| format!("expected {}", ReadSource::expected()))
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Connectors (sandbox tenants).
    #[arg(long, default_value_t = 2)]
    tenants: usize,
    /// Incidents per tenant.
    #[arg(long, default_value_t = 3)]
    incidents: usize,
    /// Where to keep the event log (a fresh temporary directory when omitted).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Exit once every incident went round the loop, printing a summary.
    #[arg(long)]
    until_done: bool,
    /// Seed of the generated incidents.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Poll interval of the connectors.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    poll_interval: Duration,
    /// Where the connectors read incidents: sentinel, graph (alerts_v2) or defender (XDR
    /// incidents from Graph).
    #[arg(long, default_value = "sentinel", value_parser = parse_read_source)]
    read_source: ReadSource,
    /// With --until-done: fail after this long.
    #[arg(long, default_value = "120s", value_parser = humantime::parse_duration)]
    timeout: Duration,
}

pub fn run(args: Args) -> CliResult {
    let data_dir = match args.data_dir {
        Some(dir) => dir,
        None => tempfile::Builder::new()
            .prefix("sentinel-signl4-demo-")
            .tempdir()?
            .keep(),
    };
    let summary = run_demo(&DemoOptions {
        tenants: args.tenants,
        incidents: args.incidents,
        seed: args.seed,
        data_dir: data_dir.clone(),
        poll_interval: args.poll_interval,
        until_done: args.until_done,
        timeout: args.timeout,
        read_source: args.read_source,
    })?;
    println!(
        "\ndemo: incidents={} round_trips={} signls={} duplicates={} comments={} signl4_cl_rows={} writeback_p99={} in {:.1}s",
        summary.incidents,
        summary.done,
        summary.signls,
        summary.duplicates,
        summary.comments,
        summary.signl4_cl_rows,
        summary
            .writeback_p99
            .map_or_else(|| "-".to_string(), |d| format!("{:.1}s", d.as_secs_f64())),
        summary.elapsed.as_secs_f64()
    );
    let me = std::env::current_exe()?;
    let data = data_dir.display().to_string();
    println!("\n$ sentinel-signl4 audit --data-dir {data}");
    let audit = Command::new(&me)
        .args(["audit", "--data-dir", &data])
        .status()?;
    println!("\n$ sentinel-signl4 verify --data-dir {data}");
    let verify = Command::new(&me)
        .args(["verify", "--data-dir", &data])
        .status()?;
    println!(
        "\nEvery incident's history: sentinel-signl4 audit --data-dir {data} --tenant tenant-1"
    );
    Ok(if audit.success() && verify.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
