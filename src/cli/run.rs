//! `run`: every connector of a configuration file in one process, until Ctrl-C or SIGTERM.
//!
//! Start order: validate the configuration (errors name file, line and key; exit 1), open the
//! event log (refusing a damaged one with the damage report and exit code 3, as `verify` does;
//! see `store::guard`), replay it, start each connector (which first reconciles what a previous run
//! left open), then open the webhook listener. On a signal the listener stops, then the actors,
//! then the log takes a final snapshot.

use std::path::PathBuf;
use std::process::ExitCode;

use store::{Store, StoreConfig};

use super::CliResult;
use crate::config;
use crate::http::{HttpContext, HttpSettings};
use crate::run::{serve_webhooks, start_connectors};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The connector configuration (TOML).
    #[arg(long, short, env = "S4_CONFIG", default_value = "connector.toml")]
    config: PathBuf,
    /// Take a snapshot of the log after this many events (tests use small values so that
    /// crashes land in and around snapshots).
    #[arg(long, hide = true, default_value_t = StoreConfig::default().snapshot_every)]
    snapshot_every: u64,
}

pub fn run(args: Args) -> CliResult {
    let config = match config::load(&args.config) {
        Ok(config) => config,
        Err(errors) => {
            eprint!("{errors}");
            return Ok(ExitCode::from(if errors.is_unreadable() { 2 } else { 1 }));
        }
    };
    let store = Store::open(
        &config.data_dir,
        StoreConfig {
            snapshot_every: args.snapshot_every,
            limits: super::data_dir::limits()?,
            ..StoreConfig::default()
        },
    )?;
    let system = actix_rt::System::new();
    let result: Result<(), Box<dyn std::error::Error>> = system.block_on(async {
        let http = HttpContext::new(HttpSettings::default())?;
        let running = start_connectors(&config, &store, &http).await?;
        let (server, address) = serve_webhooks(running.routes.clone(), config.webhook.bind)?;
        tracing::warn!(
            connectors = running.connectors.len(),
            webhook = %address,
            "running; Ctrl-C or SIGTERM stops"
        );
        wait_for_signal().await?;
        server.stop(true).await;
        Ok(())
    });
    drop(system); // drops the actors and their handles on the log
    store.shutdown()?;
    result?;
    Ok(ExitCode::SUCCESS)
}

async fn wait_for_signal() -> std::io::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result,
        _ = terminate.recv() => Ok(()),
    }
}
