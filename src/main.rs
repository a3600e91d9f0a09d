//! The `sentinel-signl4` binary: parses the command line and runs one subcommand.

use std::process::ExitCode;

fn main() -> ExitCode {
    sentinel_signl4::cli::main()
}
