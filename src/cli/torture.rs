//! `torture-append` (hidden): the child process of the crash tests.
//!
//! Opens a log, finishes what a previous run left open (every open intent gets its outcome, as
//! restart reconciliation will), then appends continuously from several threads: observations,
//! intents and outcomes, SIGNL4 notifications with inbox keys. After each durable append it
//! prints `ack <seq>` on stdout and flushes, so the parent knows exactly which appends were
//! acknowledged before it sends SIGKILL.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;

use store::aggregate::effect_id;
use store::events::*;
use store::writer::Execution;
use store::{Command, ExecuteOutcome, IncidentKey, Store, StoreConfig, TenantId};
use uuid::Uuid;

use super::CliResult;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[arg(long)]
    data_dir: PathBuf,
    /// Appending threads.
    #[arg(long, default_value_t = 4)]
    writers: usize,
    /// Stop after this many appends per thread (0: until killed).
    #[arg(long, default_value_t = 0)]
    max_per_writer: u64,
    /// Snapshot every N events (small, so that kills land inside snapshots too).
    #[arg(long, default_value_t = 200)]
    snapshot_every: u64,
}

pub fn run(args: Args) -> CliResult {
    let store = Store::open(
        &args.data_dir,
        StoreConfig {
            snapshot_every: args.snapshot_every,
            ..StoreConfig::default()
        },
    )?;
    let tenant = TenantId::from_name("torture");
    for (t, incident, effect_id, _) in store.read(|p| p.open_effects()) {
        store.execute_blocking(Execution::incident(
            t,
            incident,
            Command::Succeed {
                effect_id,
                result: EffectResult::AlreadyDone {
                    detail: "finished after restart".into(),
                },
            },
        ))?;
    }
    let out = Mutex::new(std::io::stdout());
    let run_id = Uuid::new_v4();
    std::thread::scope(|scope| {
        for w in 0..args.writers {
            let (store, out) = (&store, &out);
            scope.spawn(move || writer(store, out, tenant, run_id, w, args.max_per_writer));
        }
    });
    store.shutdown()?;
    Ok(ExitCode::SUCCESS)
}

fn writer(
    store: &Store,
    out: &Mutex<std::io::Stdout>,
    tenant: TenantId,
    run_id: Uuid,
    w: usize,
    max: u64,
) {
    let mut i = 0u64;
    while max == 0 || i < max {
        let incident = IncidentKey(Uuid::new_v5(&run_id, format!("{w}/{}", i / 3).as_bytes()));
        let command = match i % 3 {
            0 => Command::Observe(IncidentObserved {
                source: Source::Sentinel,
                name: incident.to_string(),
                etag: format!("\"{i}\""),
                incident_number: i as i64,
                title: "torture".into(),
                severity: "High".into(),
                status: "New".into(),
                owner: None,
                created_ms: 0,
                last_modified_ms: i as i64,
                incident_url: String::new(),
                labels: vec![],
                raw_json: "{}".repeat(64),
            }),
            1 => Command::Request(Effect::TagIncident {
                label: "SIGNL4".into(),
            }),
            _ => Command::Succeed {
                effect_id: effect_id(
                    tenant,
                    incident,
                    &Effect::TagIncident {
                        label: "SIGNL4".into(),
                    },
                ),
                result: EffectResult::IncidentWritten {
                    etag: format!("\"{i}\""),
                },
            },
        };
        match store.execute_blocking(Execution::incident(tenant, incident, command)) {
            Ok(ExecuteOutcome::Appended(events)) => {
                let mut out = out.lock().unwrap_or_else(|e| e.into_inner());
                for event in events {
                    let _ = writeln!(out, "ack {}", event.seq);
                }
                let _ = out.flush();
            }
            Ok(other) => {
                eprintln!("torture: unexpected outcome {other:?}");
                std::process::exit(3);
            }
            Err(error) => {
                eprintln!("torture: append failed: {error}");
                std::process::exit(4);
            }
        }
        i += 1;
    }
}
