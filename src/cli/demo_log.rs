//! `demo-log` (hidden): writes a log of scripted incident lifecycles (see
//! [`crate::demo::scripted`]) in a second and shows what the audit tool sees: the tenants, one
//! tenant's incidents, one incident's timeline and the integrity check.

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use store::{Store, StoreConfig};

use super::CliResult;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Where to write the demo log (a fresh temporary directory when omitted).
    #[arg(long)]
    data_dir: Option<PathBuf>,

    /// Connectors (tenants) to simulate.
    #[arg(long, default_value_t = 2)]
    tenants: usize,

    /// Incidents per tenant.
    #[arg(long, default_value_t = 8)]
    incidents: usize,
}

pub fn run(args: Args) -> CliResult {
    let temp;
    let dir = match &args.data_dir {
        Some(dir) => dir.clone(),
        None => {
            temp = tempfile::Builder::new()
                .prefix("sentinel-signl4-demo-")
                .tempdir()?
                .keep();
            temp
        }
    };
    let store = Store::open(&dir, StoreConfig::default())?;
    let summary = crate::demo::scripted::play(&store, args.tenants, args.incidents)?;
    store.shutdown()?;
    println!(
        "wrote {} events for {} incidents of {} tenants to {}\n",
        summary.events,
        summary.incidents,
        summary.tenants,
        dir.display()
    );
    // Show the audit tool exactly as a user would call it.
    let me = std::env::current_exe()?;
    let data = dir.display().to_string();
    let steps: [(&str, Vec<&str>); 4] = [
        ("audit", vec!["audit", "--data-dir", &data]),
        (
            "audit --tenant tenant-1",
            vec!["audit", "--data-dir", &data, "--tenant", "tenant-1"],
        ),
        (
            "audit 1 --tenant tenant-1",
            vec!["audit", "--data-dir", &data, "--tenant", "tenant-1", "1"],
        ),
        ("verify", vec!["verify", "--data-dir", &data]),
    ];
    let mut all_ok = true;
    for (title, argv) in steps {
        println!("$ sentinel-signl4 {title} --data-dir {data}");
        let status = Command::new(&me).args(&argv).status()?;
        all_ok &= status.success();
        println!();
    }
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
