//! The command line: one subcommand per file (the mini-redis `cmd/` layout).
//!
//! | command      | what it does                                                        |
//! |--------------|---------------------------------------------------------------------|
//! | `run`        | every connector of a configuration file, until Ctrl-C or SIGTERM      |
//! | `demo`       | the main job on the embedded default (see [`crate::demo`])           |
//! | `audit`      | one incident's timeline, or the incidents of a tenant, or tenants     |
//! | `verify`     | integrity check of a log; exits 1 with a report when anything is off  |
//! | `export`     | the whole log as JSON lines                                          |
//! | `sandbox`    | emulated Entra ID, Sentinel, Log Analytics, Graph and SIGNL4 services |
//! | `check-config` | validate a connector configuration; exit 1 with every error       |
//! | `test-signl` | one Signl marked as a test through a connector's SIGNL4 team          |
//!
//! Every command that reads a log takes `--data-dir`, and `--copy` to read a copy of a log that a
//! running connector holds open (sled allows one process per log).

mod audit;
pub use audit::format_ms;
mod check_config;
mod data_dir;
mod demo;
mod demo_log;
mod export;
mod output;
mod progress;
mod run;
mod test_signl;
mod torture;
mod verify;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Microsoft Sentinel <-> SIGNL4 connector.
#[derive(Parser, Debug)]
#[command(name = "sentinel-signl4", version, about, long_about = None)]
pub struct Cli {
    /// Log as JSON lines on stderr.
    #[arg(long, global = true)]
    log_json: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run every connector of a configuration file until Ctrl-C or SIGTERM.
    Run(run::Args),
    /// Run the main job on the embedded default: a self-contained demo.
    Demo(demo::Args),
    /// Show one incident's history, the incidents of a tenant, or the tenants of a log.
    Audit(audit::Args),
    /// Write a log of scripted incident histories and audit it (no services involved).
    #[command(hide = true)]
    DemoLog(demo_log::Args),
    /// Check a log's integrity; exit code 1 and a precise report when something is wrong.
    Verify(verify::Args),
    /// Write the whole log as JSON lines.
    Export(export::Args),
    /// Validate a connector configuration file; print a summary, or every error (exit 1).
    CheckConfig(check_config::Args),
    /// Send one Signl marked as a test through a connector's SIGNL4 team.
    TestSignl(test_signl::Args),
    /// Serve emulators of Entra ID, Sentinel, Log Analytics, Graph and SIGNL4 on loopback.
    Sandbox(sandbox::cli::SandboxArgs),
    /// Test harness: append continuously and print each durable seq (crash tests kill it).
    #[command(hide = true)]
    TortureAppend(torture::Args),
}

/// Parses the command line and runs it.
pub fn main() -> ExitCode {
    main_with(std::env::args_os())
}

/// Parses `args` (the program name first) and runs it; the chaos example re-executes itself
/// as a connector through this.
pub fn main_with<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = Cli::parse_from(args);
    // Crash points (tests and the chaos harness only; a no-op in release builds).
    store::crash::setup();
    // `run` logs its start, stop and what it does at INFO; the tools only warn.
    let level = if matches!(cli.command, Command::Run(_)) {
        "info"
    } else {
        "warn"
    };
    crate::telemetry::init(level, cli.log_json);
    // `audit | head` closes the pipe early: end quietly, copies removed (see `output`).
    output::install_broken_pipe_exit();
    let result = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Demo(args) => demo::run(args),
        Command::DemoLog(args) => demo_log::run(args),
        Command::Audit(args) => audit::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Export(args) => export::run(args),
        Command::CheckConfig(args) => check_config::run(args),
        Command::TestSignl(args) => test_signl::run(args),
        Command::Sandbox(args) => sandbox::cli::run(args)
            .map(|()| ExitCode::SUCCESS)
            .map_err(Into::into),
        Command::TortureAppend(args) => torture::run(args),
    };
    match result {
        Ok(code) => code,
        Err(error) if output::is_broken_pipe(error.as_ref()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            // A damaged log has its own exit code, so that scripts and supervisors can tell it
            // from a usage error (see store::guard).
            let damaged = error
                .downcast_ref::<store::StoreError>()
                .is_some_and(|e| e.damage().is_some());
            ExitCode::from(if damaged {
                store::guard::EXIT_DAMAGED as u8
            } else {
                2
            })
        }
    }
}

/// The error of a command: what failed, with its causes, for a person.
pub type CliResult = Result<ExitCode, Box<dyn std::error::Error>>;
