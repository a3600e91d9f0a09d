//! `export`: the whole log as JSON lines, one event per line, in sequence order.
//!
//! Each line is the envelope (seq, ids, time, tenant, incident, kind, version) and the decoded
//! payload. A record that does not decode stops the export with an error naming its seq; the
//! lines before it are already written. Events hold no secrets, so neither does an export.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::json;
use store::StoredEvent;

use store::guard::Watch;
use store::EventLog;

use super::data_dir::{BodyError, DataDir};
use super::{progress, CliResult};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    data: DataDir,

    /// Write to this file instead of stdout.
    #[arg(long, short)]
    out: Option<PathBuf>,
}

/// One event as a JSON object.
pub fn event_json(event: &StoredEvent) -> serde_json::Value {
    json!({
        "seq": event.seq,
        "event_id": event.event_id,
        "recorded_at": super::audit::format_ms(event.recorded_at_ms),
        "tenant": event.tenant.to_string(),
        "incident": if event.incident.is_tenant_stream() { None } else { Some(event.incident.to_string()) },
        "causation": event.causation,
        "correlation": event.correlation,
        "kind": event.event.kind().name(),
        "version": event.event.kind().current_version(),
        "payload": event.event.payload_json(),
    })
}

pub fn run(args: Args) -> CliResult {
    let data = args.data.clone();
    data.read(move |log, watch| body(args, log, watch))
}

fn body(args: Args, log: &EventLog, watch: &Watch) -> Result<ExitCode, BodyError> {
    let mut out: Box<dyn Write> = match &args.out {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .map_err(|e| format!("cannot create {}: {e}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let bar = progress::bar(log.expected_len()?, "exporting");
    let mut written = 0u64;
    for event in log.events_from(1) {
        let event = event?;
        serde_json::to_writer(&mut out, &event_json(&event))?;
        out.write_all(b"\n")?;
        written += 1;
        watch.step();
        if written.is_multiple_of(4096) {
            bar.set_position(written);
        }
    }
    out.flush()?;
    bar.finish_and_clear();
    if let Some(path) = &args.out {
        eprintln!("exported {written} events to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
