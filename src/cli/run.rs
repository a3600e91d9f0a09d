//! `run`: every connector of a configuration file in one process, until Ctrl-C or SIGTERM.
//!
//! Start order: validate the configuration (errors name file, line and key; exit 1), bind the
//! webhook and admin listeners (an address in use or not of this host stops here, exit 2 with
//! the real error, before anything is appended to the log), create the data directory 0700 if
//! missing and open the event log (refusing a damaged one with the damage report and exit code
//! 3, as `verify` does; see `store::guard`), replay it, install the signal handlers, start each
//! connector (which first reconciles what a previous run left open), then serve the listeners.
//! On SIGINT or SIGTERM the listeners stop, then the actors, then the log takes a final
//! snapshot. SIGHUP does not stop the process: reloading is not supported, so it is logged at
//! INFO and ignored (restart to apply a changed configuration).
//!
//! A start line and a stop line are logged at INFO. `--data-dir` (or `S4_DATA_DIR`) overrides
//! the configuration's `data_dir`, as for every other command.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use store::{Store, StoreConfig};
use tokio::signal::unix::{signal, Signal, SignalKind};

use super::CliResult;
use crate::config;
use crate::http::{HttpContext, HttpSettings};
use crate::run::{bind_listener, serve_webhooks_on, start_connectors};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The connector configuration (TOML).
    #[arg(long, short, env = "S4_CONFIG", default_value = "connector.toml")]
    config: PathBuf,
    /// Directory of the event log; overrides the configuration's `data_dir`.
    #[arg(long, env = "S4_DATA_DIR")]
    data_dir: Option<PathBuf>,
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
    let data_dir = args.data_dir.clone().unwrap_or(config.data_dir.clone());
    // Bound before anything else happens: a failure here leaves no trace in the log.
    let webhook_listener = bind_listener(config.webhook.bind, "webhook")?;
    let admin_listener = bind_listener(config.admin.bind, "admin")?;
    create_private_dir(&data_dir)?;
    let store = Store::open(
        &data_dir,
        StoreConfig {
            snapshot_every: args.snapshot_every,
            limits: super::data_dir::limits()?,
            ..StoreConfig::default()
        },
    )?;
    let system = actix_rt::System::new();
    let result: Result<&'static str, Box<dyn std::error::Error>> = system.block_on(async {
        let mut signals = Signals::install()?;
        let http = HttpContext::new(HttpSettings::default())?;
        let running = start_connectors(&config, &store, &http).await?;
        let (server, webhook) = serve_webhooks_on(running.routes.clone(), webhook_listener)?;
        let admin = crate::admin::serve(
            admin_listener,
            crate::admin::AdminState {
                http: Some(http.clone()),
                ..crate::admin::AdminState::start(
                    &config,
                    store.clone(),
                    running.shippers.clone(),
                    crate::admin::probe::ProbeSettings {
                        // Several probes within the stall limit, so one slow commit is seen.
                        interval: (config.admin.stall_limit / 4).min(Duration::from_secs(5)),
                        stall_limit: config.admin.stall_limit,
                        abort_after: Some(config.admin.abort_after),
                    },
                )?
            },
        )?;
        tracing::info!(
            version = env!("CARGO_PKG_VERSION"),
            connectors = running.connectors.len(),
            webhook = %webhook,
            admin = %admin.address,
            data_dir = %data_dir.display(),
            "sentinel-signl4 started; Ctrl-C or SIGTERM stops"
        );
        let why = signals.stop_requested().await;
        tracing::info!(signal = why, "stopping");
        server.stop(true).await;
        admin.stop().await;
        Ok(why)
    });
    drop(system); // drops the actors and their handles on the log
    store.shutdown()?;
    let why = result?;
    tracing::info!(signal = why, "sentinel-signl4 stopped");
    Ok(ExitCode::SUCCESS)
}

/// Creates `dir` (and missing parents) readable by the owner only; an existing directory is
/// left as it is.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.exists() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot create {}: {e}", dir.display())))
}

/// The signals `run` reacts to, installed before the connectors start so that none of them
/// kills the process with its default action mid-start.
struct Signals {
    interrupt: Signal,
    terminate: Signal,
    hangup: Signal,
}

impl Signals {
    fn install() -> std::io::Result<Signals> {
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
            hangup: signal(SignalKind::hangup())?,
        })
    }

    /// Waits for SIGINT or SIGTERM (its name is returned); SIGHUP is logged and ignored.
    async fn stop_requested(&mut self) -> &'static str {
        loop {
            tokio::select! {
                _ = self.interrupt.recv() => return "SIGINT",
                _ = self.terminate.recv() => return "SIGTERM",
                _ = self.hangup.recv() => tracing::info!(
                    "SIGHUP received: configuration reload is not supported; still running with \
                     the configuration read at start (restart to apply changes)"
                ),
            }
        }
    }
}
