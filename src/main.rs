//! `sentinel-signl4`: the connector binary. On this branch only the `sandbox` subcommand exists
//! (the connector's own subcommands are wired in on main).

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sentinel_signl4::sandbox::cli::SandboxArgs;

/// Command line.
#[derive(Debug, Parser)]
#[command(
    name = "sentinel-signl4",
    version,
    about = "Microsoft Sentinel <-> SIGNL4 connector"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Serve local emulators of Entra ID, Sentinel, Log Analytics, Graph and SIGNL4.
    Sandbox(SandboxArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let res = match cli.command {
        Command::Sandbox(args) => sentinel_signl4::sandbox::cli::run(args),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
