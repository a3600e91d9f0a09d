//! `sentinel-signl4 sandbox`: starts every emulator on loopback, generates a scenario, prints the
//! connector configuration (and writes it with `--config-out` once everything listens), then
//! serves until Ctrl-C.
//!
//! `--tls` serves every emulator over HTTPS and writes the certificate authority to trust next
//! to the configuration (see [`super::tls`]).
//!
//! Invariant: only loopback addresses are bound; secrets appear only in the printed/written
//! configuration the user asked for, never in logs; no private key is written.

use std::path::PathBuf;
use std::time::Duration;

use super::scenario::{generate, ScenarioSpec};
use super::{Sandbox, SandboxOptions};

/// Arguments of the `sandbox` subcommand.
#[derive(Debug, Clone, clap::Args)]
pub struct SandboxArgs {
    /// Tenants to generate.
    #[arg(long, default_value_t = 1)]
    pub tenants: usize,
    /// Incidents per tenant.
    #[arg(long, default_value_t = 5)]
    pub incidents: usize,
    /// Seed of the scenario generator.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Also write the connector configuration to this file (mode 0600), with `[webhook]` and
    /// `[admin]` on free loopback ports and a webhook token per connector, each team's outbound
    /// webhook pointed at it (unless `--outbound-url` is given).
    #[arg(long)]
    pub config_out: Option<PathBuf>,
    /// The connector's outbound-webhook receiver URL, set on every generated SIGNL4 team.
    #[arg(long)]
    pub outbound_url: Option<String>,
    /// Access token lifetime (e.g. `1h`, `90s`).
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    pub token_ttl: Duration,
    /// actix-web workers per emulator.
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Exit right after printing the configuration (for scripts that only need the file format).
    #[arg(long)]
    pub once: bool,
    /// Serve HTTPS with a certificate made at start (its CA is written next to the
    /// configuration as `sandbox-ca.pem`), so the official Azure SDK credentials work.
    #[arg(long)]
    pub tls: bool,
}

/// Runs the subcommand until Ctrl-C.
pub fn run(args: SandboxArgs) -> std::io::Result<()> {
    let tls = if args.tls {
        Some(super::tls::TlsIdentity::generate()?)
    } else {
        None
    };
    let opts = SandboxOptions {
        token_ttl: args.token_ttl,
        workers: args.workers,
        tls: tls.clone(),
        ..Default::default()
    };
    let sb = Sandbox::start(opts)?;
    let spec = ScenarioSpec {
        tenants: args.tenants,
        incidents_per_tenant: args.incidents,
        seed: args.seed,
        outbound_url: args.outbound_url.clone(),
        ..Default::default()
    };
    let tenants =
        generate(sb.control(), &spec).map_err(|e| std::io::Error::other(e.to_string()))?;
    // The same incidents as Defender XDR shows them, for `read_source = "defender"`.
    for t in &tenants {
        sb.control()
            .mirror_sentinel_incidents(&t.name)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
    }
    let mut toml = sb.connector_toml();
    if let Some(path) = &args.config_out {
        // Two-way and private (see `two_way`).
        toml = super::two_way::two_way(&toml, sb.control(), args.outbound_url.is_none())?;
        super::two_way::write_private(path, &toml)?;
    }
    let u = sb.urls();
    println!("{toml}");
    eprintln!(
        "sandbox ready: entra {} | arm {} | log analytics {} | graph {} | signl4 {} | ingestion {} | control {}",
        u.entra, u.arm, u.log_analytics, u.graph, u.signl4, u.ingestion, u.control
    );
    if let Some(identity) = &tls {
        let ca = identity.write_ca(args.config_out.as_deref())?;
        eprintln!(
            "TLS: trust {} (Python: REQUESTS_CA_BUNDLE / SSL_CERT_FILE; the connector: \
             SSL_CERT_FILE); azure-identity: ClientSecretCredential(..., authority=\"{}\", \
             disable_instance_discovery=True)",
            ca.display(),
            u.entra
        );
    }
    if args.once {
        sb.stop();
        return Ok(());
    }
    eprintln!("press Ctrl-C to stop");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(tokio::signal::ctrl_c())?;
    sb.stop();
    Ok(())
}
