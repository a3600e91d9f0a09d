//! `check-config`: validates a connector configuration without running anything.
//!
//! Prints a summary per connector (name, tenant, source, filters, endpoints, and which secrets
//! are set and from where, never their values) and exits 0; or prints every error and exits 1;
//! or exits 2 when the file cannot be read. Secret environment variables and files are read,
//! so a missing one is reported here rather than at start-up. The webhook and admin listener
//! addresses are bound and released: one that cannot be bound (in use, not an address of this
//! host) is an error here rather than at start-up.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::{self, Audience, Config, ConnectorConfig, ReadSource, Secret, Signl4Target};

use super::CliResult;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The connector configuration file (TOML).
    #[arg(long, short = 'c', env = "S4_CONFIG")]
    config: PathBuf,
    /// Also try each connector against its services: a token, one incident, the workspace
    /// query, the SIGNL4 API key, an empty SIGNL4_CL batch. Exit 1 on any failure.
    #[arg(long)]
    online: bool,
}

pub fn run(args: Args) -> CliResult {
    match config::load(&args.config) {
        Ok(config) => {
            let problems = listener_problems(&config);
            if !problems.is_empty() {
                for problem in &problems {
                    eprintln!("{}: {problem}", config.file.display());
                }
                return Ok(ExitCode::from(1));
            }
            print!("{}", summary(&config));
            if args.online {
                return online(&config);
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            eprint!("{errors}");
            Ok(ExitCode::from(if errors.is_unreadable() { 2 } else { 1 }))
        }
    }
}

/// `--online`: every connector's checks ([`crate::admin::online`]), OK or the reason per line.
fn online(config: &Config) -> CliResult {
    let failures = actix_rt::System::new().block_on(async {
        let http = crate::http::HttpContext::new(crate::http::HttpSettings::default())?;
        let mut failures = 0;
        println!("\nonline checks");
        for c in &config.connectors {
            let checks = crate::admin::online::check(c, &http).await;
            let failed = checks.iter().filter(|k| k.result.is_err()).count();
            failures += failed;
            println!(
                "connector {:?}: {}",
                c.name,
                if failed == 0 { "OK" } else { "ERROR" }
            );
            for k in checks {
                match k.result {
                    Ok(detail) => println!("  ok     {:<20} {detail}", k.what),
                    Err(reason) => println!("  ERROR  {:<20} {reason}", k.what),
                }
            }
        }
        Ok::<usize, Box<dyn std::error::Error>>(failures)
    })?;
    Ok(ExitCode::from(u8::from(failures > 0)))
}

/// The listener addresses that cannot be bound now, with why.
pub fn listener_problems(config: &Config) -> Vec<String> {
    let mut problems = Vec::new();
    let webhook = crate::run::bind_listener(config.webhook.bind, "webhook");
    if let Err(error) = &webhook {
        problems.push(format!("[webhook] bind: {error}"));
    }
    // Held while the admin address is tried, so the same address for both is caught.
    if let Err(error) = crate::run::bind_listener(config.admin.bind, "admin") {
        problems.push(format!(
            "[admin] bind: {error}{}",
            if config.admin.bind == config.webhook.bind {
                " (the same address as [webhook] bind)"
            } else {
                ""
            }
        ));
    }
    drop(webhook);
    problems
}

/// The report of a valid configuration.
pub fn summary(config: &Config) -> String {
    let mut out = String::new();
    let n = config.connectors.len();
    let _ = writeln!(
        out,
        "{}: valid, {n} connector{}",
        config.file.display(),
        if n == 1 { "" } else { "s" }
    );
    let _ = writeln!(out, "data_dir        {}", config.data_dir.display());
    let public = config
        .webhook
        .public_base_url
        .as_ref()
        .map_or("not set".to_string(), |u| u.to_string());
    let _ = writeln!(
        out,
        "webhook         listen {}, public base URL {public}",
        config.webhook.bind
    );
    let _ = writeln!(
        out,
        "admin           listen {} (/healthz /readyz /metrics /status)",
        config.admin.bind
    );
    for c in &config.connectors {
        connector(&mut out, c);
        // The URL to register in SIGNL4, with the token masked.
        let hook = match (&config.webhook.public_base_url, &c.webhook_token) {
            (Some(base), Some(_)) => {
                format!("{}/signl4/{}/***", config::base_str(base), c.name)
            }
            (None, Some(_)) => format!(
                "path /signl4/{}/*** (set [webhook] public_base_url for the full URL)",
                c.name
            ),
            (_, None) => "none (no webhook_token)".to_string(),
        };
        let _ = writeln!(out, "  SIGNL4 outbound webhook  {hook}");
    }
    if !config.warnings.is_empty() {
        let _ = writeln!(out, "\nwarnings:");
        for w in &config.warnings {
            let _ = writeln!(out, "  - {w}");
        }
    }
    out
}

fn connector(out: &mut String, c: &ConnectorConfig) {
    let join = |v: Vec<String>| v.join(", ");
    let _ = writeln!(out, "\nconnector {:?}", c.name);
    let _ = writeln!(out, "  tenant        {}", c.tenant_id);
    let _ = writeln!(out, "  client        {}", c.client_id);
    let workspace_id = c
        .workspace_id
        .map_or("none (no Log Analytics augmentation)".to_string(), |w| {
            w.to_string()
        });
    let _ = writeln!(
        out,
        "  workspace     {} in {} / subscription {} (id {workspace_id})",
        c.workspace_name, c.resource_group, c.subscription_id
    );
    let source = match c.read_source {
        ReadSource::Sentinel => format!(
            "sentinel (api-version {})",
            c.endpoints.sentinel_api_version
        ),
        ReadSource::Graph => format!(
            "graph (alerts_v2 at {}/security/alerts_v2, token scope {})",
            c.endpoints.graph_base(),
            c.token_scope(Audience::Graph)
        ),
        ReadSource::Defender => format!(
            "defender (XDR incidents at {}/security/incidents, token scope {}; needs \
             SecurityIncident.ReadWrite.All)",
            c.endpoints.graph_base(),
            c.token_scope(Audience::Graph)
        ),
    };
    let _ = writeln!(out, "  source        {source}");
    let _ = writeln!(
        out,
        "  filters       statuses {}; severities {}",
        join(c.status_names()),
        join(c.severity_names())
    );
    let _ = writeln!(
        out,
        "  polling       every {}, overlap {}, first-start lookback {}, sweep every {}",
        config::format_duration(c.poll_interval),
        config::format_duration(c.poll_overlap),
        config::format_duration(c.lookback),
        config::format_duration(c.sweep_interval)
    );
    let _ = writeln!(
        out,
        "  paging        {} per page; enrichment: {} at once, deadline {}",
        c.page_size,
        c.enrichment_concurrency,
        config::format_duration(c.enrichment_deadline)
    );
    let _ = writeln!(
        out,
        "  tag           {}",
        c.tag
            .as_deref()
            .map_or("none".to_string(), |t| format!("{t:?}"))
    );
    let ack = &c.on_acknowledge;
    let _ = writeln!(
        out,
        "  on ack        set Active: {}, assign owner: {}",
        yes(ack.set_active),
        yes(ack.assign_owner)
    );
    let close = &c.on_close;
    let reason = close
        .classification_reason
        .map_or(String::new(), |r| format!(" / {r}"));
    let comment = close
        .classification_comment
        .as_deref()
        .map_or("none".to_string(), |t| format!("{t:?}"));
    let _ = writeln!(
        out,
        "  on close      {}{reason}, comment {comment}, assign owner: {}",
        close.classification,
        yes(close.assign_owner)
    );
    let _ = writeln!(
        out,
        "  sentinel close resolves the Signl: {}",
        yes(c.resolve_on_sentinel_close)
    );
    let _ = writeln!(
        out,
        "  sentinel owner acknowledges the Signl: {}",
        yes(c.ack_signl_on_sentinel_owner)
    );
    let _ = writeln!(
        out,
        "  sentinel comments become annotations: {}",
        if !c.comments_to_signl4 {
            "no"
        } else if c.signl4.api_key.is_some() {
            "yes"
        } else {
            "no (needs the SIGNL4 api_key)"
        }
    );
    let _ = writeln!(
        out,
        "  SIGNL4 REST polling: {}",
        c.signl4
            .status_poll
            .map_or("off (outbound webhook only)".to_string(), |d| format!(
                "every {}s",
                d.as_secs_f64()
            ))
    );
    let _ = writeln!(
        out,
        "  user map      {} entr{} (others: the email is the UPN)",
        c.user_map.len(),
        if c.user_map.len() == 1 { "y" } else { "ies" }
    );
    let s4 = &c.signl4;
    let _ = writeln!(
        out,
        "  signl4        scenario {}, service {}",
        s4.alerting_scenario
            .map_or("team default".to_string(), |a| a.to_string()),
        s4.service
            .as_deref()
            .map_or("none".to_string(), |s| format!("{s:?}"))
    );
    let e = &c.endpoints;
    let _ = writeln!(out, "  endpoints     cloud {}", e.cloud);
    let _ = writeln!(out, "    authority   {}", e.authority_base());
    let _ = writeln!(out, "    arm         {}", e.arm_base());
    let _ = writeln!(out, "    log anal.   {}", e.log_analytics_base());
    let _ = writeln!(out, "    graph       {}", e.graph_base());
    let signl4 = match &s4.target {
        Signl4Target::TeamSecret(_) => e.signl4_base().to_string(),
        Signl4Target::WebhookUrl(_) => "(full webhook URL configured)".to_string(),
    };
    let _ = writeln!(out, "    signl4      {signl4}");
    let shipping = match &c.signl4_cl {
        Some(cl) if cl.enabled => format!(
            "{} rule {} stream {}, every {}",
            cl.endpoint
                .as_ref()
                .map_or("", |u| u.as_str().trim_end_matches('/')),
            cl.dcr_immutable_id,
            cl.stream,
            crate::config::format_duration(cl.interval)
        ),
        Some(_) => "off (enabled = false)".to_string(),
        None => "off".to_string(),
    };
    let _ = writeln!(out, "  SIGNL4_CL     {shipping}");
    let (target_name, target) = match &s4.target {
        Signl4Target::TeamSecret(s) => ("team_secret", s),
        Signl4Target::WebhookUrl(s) => ("webhook_url", s),
    };
    let _ = writeln!(out, "  secrets");
    let _ = writeln!(out, "    client_secret  {}", set(Some(&c.client_secret)));
    let _ = writeln!(out, "    {target_name:<14} {}", set(Some(target)));
    let _ = writeln!(out, "    api_key        {}", set(s4.api_key.as_ref()));
    let _ = writeln!(out, "    webhook_token  {}", set(c.webhook_token.as_ref()));
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// "set (env X)" or "not set": where a secret comes from, never what it is.
fn set(secret: Option<&Secret>) -> String {
    match secret {
        Some(s) => format!("set ({})", s.source()),
        None => "not set".to_string(),
    }
}
