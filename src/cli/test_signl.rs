//! `test-signl --connector NAME`: sends one Signl, clearly marked as a test, through the
//! connector's SIGNL4 target, and prints SIGNL4's event id (exit 0) or why it was refused
//! (exit 1). Nothing is written to the event log: it is not an incident.

use std::path::PathBuf;
use std::process::ExitCode;

use super::CliResult;
use crate::config;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The connector configuration file (TOML).
    #[arg(long, short = 'c', env = "S4_CONFIG", default_value = "connector.toml")]
    config: PathBuf,
    /// The connector whose SIGNL4 team gets the test Signl.
    #[arg(long)]
    connector: String,
}

pub fn run(args: Args) -> CliResult {
    let config = match config::load(&args.config) {
        Ok(config) => config,
        Err(errors) => {
            eprint!("{errors}");
            return Ok(ExitCode::from(if errors.is_unreadable() { 2 } else { 1 }));
        }
    };
    let Some(c) = config.connectors.iter().find(|c| c.name == args.connector) else {
        let names: Vec<&str> = config.connectors.iter().map(|c| c.name.as_str()).collect();
        return Err(format!(
            "no connector {:?} in {}; configured: {}",
            args.connector,
            config.file.display(),
            names.join(", ")
        )
        .into());
    };
    let result = actix_rt::System::new().block_on(async {
        let http = crate::http::HttpContext::new(crate::http::HttpSettings::default())?;
        Ok::<_, Box<dyn std::error::Error>>(crate::admin::online::test_signl(c, &http).await)
    })?;
    match result {
        Ok(event_id) => {
            println!(
                "connector {:?}: test Signl sent; SIGNL4 event id {event_id}",
                c.name
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(reason) => {
            println!("connector {:?}: test Signl refused: {reason}", c.name);
            Ok(ExitCode::from(1))
        }
    }
}
