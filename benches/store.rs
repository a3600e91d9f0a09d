//! Event-store benchmarks, side by side with raw sled and SQLite in the same run.
//!
//! Run: `cargo bench --bench store --features bench-sqlite` (a few minutes on 2 cores; without
//! the feature the SQLite figures are n/a and SQLite's C source is not compiled). `S4_BENCH_EVENTS` sets the
//! replay log size (default 1,000,000). Figures are printed, never asserted: targets live in the
//! issue tracker and the notes, not in tests.
//!
//! 1. Durable append throughput at batch sizes 1, 100 and 1000: `Store::execute_many_blocking`
//!    (decide + envelope + 4-tree transaction + flush) against raw sled `apply_batch` + `flush` of
//!    the same record bytes into one tree. Plus 8 concurrent single-event writers (group commit).
//! 2. Full replay of a log of realistic incident lifecycles (decode + apply), events/s.
//! 3. Restart with a snapshot: `Store::open` to ready (its bounded open check included), and
//!    the open check alone at both depths (a start's, and the full one of `verify`).
//! 4. Bytes on disk per event and per incident lifecycle (16 events).
//!
//! SQLite (rusqlite with its bundled SQLite, WAL, `synchronous=FULL`) does the same work beside
//! each: the same record bytes appended in transactions of the same sizes, the same log replayed
//! through the same decode and apply, the same snapshot read at restart (see `mod sqlite`).

use std::time::{Duration, Instant};

use store::aggregate::effect_id;
use store::events::*;
use store::keys::{inbox, InboxSource};
use store::replay::{self, From};
use store::writer::Execution;
use store::{Command, IncidentKey, Store, StoreConfig, TenantId};
use uuid::Uuid;

/// Pseudo-random but reproducible bits (splitmix64), so the payloads below hold ids that do not
/// compress away, as real ones do not.
fn mix(a: u64, b: u64) -> u64 {
    let mut z = a.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ b.wrapping_add(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A GUID-shaped id, unique per `(n, i)`.
fn guid(n: u64, i: u64) -> Uuid {
    Uuid::from_u64_pair(mix(n, i), mix(i, n))
}

/// A Sentinel incident resource as the listing returns it (about 1.6 KB, the shape of
/// docs/reference/azure-apis.md): what the Poller keeps as `raw_json`. Its ids differ per
/// incident, and each observation (a new `etag`) changes what a real change does: the etag, the
/// status, the owner, the modification time and the counters.
fn raw_incident(incident: IncidentKey, n: i64, etag: &str, status: &str, modified: i64) -> String {
    let n = n as u64;
    let owner = if status == "New" {
        serde_json::json!({"objectId": null, "email": null, "assignedTo": null, "userPrincipalName": null})
    } else {
        serde_json::json!({"objectId": guid(n, 5), "email": "rene@contoso.com",
            "assignedTo": "Rene", "userPrincipalName": "rene@contoso.com"})
    };
    serde_json::json!({
        "id": format!("/subscriptions/{}/resourceGroups/soc/providers/Microsoft.OperationalInsights/workspaces/sentinel-prod/providers/Microsoft.SecurityInsights/Incidents/{incident}", guid(0, 1)),
        "name": incident.to_string(),
        "etag": etag,
        "type": "Microsoft.SecurityInsights/Incidents",
        "properties": {
            "title": "Multiple failed sign-ins followed by a success",
            "description": format!("A user account had {} failed sign-ins from an unfamiliar location followed by a successful sign-in; the account may be compromised.", 10 + n % 40),
            "severity": "High",
            "status": status,
            "classification": null,
            "owner": owner,
            "labels": [],
            "firstActivityTimeUtc": "2025-11-24T15:59:00Z",
            "lastActivityTimeUtc": "2025-11-24T16:04:00Z",
            "lastModifiedTimeUtc": format!("2025-11-24T16:{:02}:{:02}.{:03}Z", modified / 60_000 % 60, modified / 1000 % 60, modified % 1000),
            "createdTimeUtc": "2025-11-24T16:05:12.4411Z",
            "incidentNumber": n,
            "additionalData": {
                "alertsCount": 2, "bookmarksCount": 0, "commentsCount": if status == "New" { 0 } else { 1 },
                "alertProductNames": ["Azure Active Directory Identity Protection"],
                "tactics": ["InitialAccess", "CredentialAccess"],
                "techniques": ["T1078", "T1110"],
                "providerIncidentUrl": format!("https://security.microsoft.com/incidents/{}", 1_000_000 + n),
            },
            "relatedAnalyticRuleIds": [format!("/subscriptions/{}/providers/Microsoft.SecurityInsights/alertRules/{}", guid(0, 1), guid(n % 7, 2))],
            "incidentUrl": format!("https://portal.azure.com/#asset/Microsoft_Azure_Security_Insights/Incident/{incident}"),
            "providerName": "Azure Sentinel",
            "providerIncidentId": (1_000_000 + n).to_string(),
        }
    })
    .to_string()
}

fn observation(incident: IncidentKey, n: i64, etag: u32, status: &str) -> IncidentObserved {
    let etag_text = format!("\"{n:08x}-0000-0000-0000-{etag:012x}\"");
    let last_modified_ms = 1_764_000_000_000 + etag as i64 * 61_234;
    IncidentObserved {
        source: Source::Sentinel,
        name: incident.to_string(),
        raw_json: raw_incident(incident, n, &etag_text, status, last_modified_ms),
        etag: etag_text,
        incident_number: n,
        title: "Multiple failed sign-ins followed by a success".into(),
        severity: "High".into(),
        status: status.into(),
        owner: (status != "New").then(|| "rene@contoso.com".into()),
        created_ms: 1_764_000_000_000,
        last_modified_ms,
        incident_url: format!(
            "https://portal.azure.com/#asset/Microsoft_Azure_Security_Insights/Incident/{incident}"
        ),
        labels: vec![],
    }
}

/// The alerts and entities the Enricher records for incident `n` (about 0.8 KB and 0.4 KB of
/// JSON, with their own ids).
fn enrichment_json(n: u64) -> (String, String) {
    let alerts: Vec<_> = (0..2u64)
        .map(|i| {
            serde_json::json!({
                "id": guid(n, 10 + i), "kind": "SecurityAlert",
                "properties": {
                    "alertDisplayName": "Unfamiliar sign-in properties",
                    "productName": "Azure Active Directory Identity Protection",
                    "severity": "High", "status": "New",
                    "systemAlertId": guid(n, 20 + i),
                    "tactics": ["InitialAccess"],
                    "timeGenerated": format!("2025-11-24T16:0{i}:{:02}Z", n % 60),
                    "providerAlertId": guid(n, 30 + i),
                }
            })
        })
        .collect();
    let entities = serde_json::json!([
        {"id": guid(n, 40), "kind": "Account", "properties": {"accountName": format!("user{}", n % 5000), "upnSuffix": "contoso.com", "aadUserId": guid(n % 5000, 41)}},
        {"id": guid(n, 42), "kind": "Ip", "properties": {"address": format!("203.0.{}.{}", n % 256, (n / 256) % 256)}},
    ]);
    (
        serde_json::Value::Array(alerts).to_string(),
        entities.to_string(),
    )
}

fn incident_key(run: u64, n: u64) -> IncidentKey {
    IncidentKey(Uuid::from_u64_pair(run, n + 1))
}

fn config() -> StoreConfig {
    StoreConfig {
        snapshot_every: 0,
        ..StoreConfig::default()
    }
}

/// Appends `batches` batches of `batch` new-incident observations; returns events/s.
fn store_appends(batch: usize, batches: usize) -> (f64, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), config()).unwrap();
    let tenant = TenantId::from_name("bench");
    let started = Instant::now();
    for b in 0..batches {
        let executions = (0..batch)
            .map(|i| {
                let n = (b * batch + i) as u64;
                let key = incident_key(1, n);
                Execution::incident(
                    tenant,
                    key,
                    Command::Observe(observation(key, n as i64, 1, "New")),
                )
            })
            .collect();
        store.execute_many_blocking(executions).unwrap();
    }
    let rate = (batch * batches) as f64 / started.elapsed().as_secs_f64();
    let sample = store.log().read(1).unwrap().unwrap().encode();
    store.shutdown().unwrap();
    (rate, sample)
}

/// Raw sled: the same record bytes, `apply_batch` + `flush`; returns events/s.
fn raw_sled_appends(batch: usize, batches: usize, record: &[u8]) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::Config::new()
        .path(dir.path())
        .cache_capacity(64 << 20)
        .open()
        .unwrap();
    let tree = db.open_tree("events").unwrap();
    let started = Instant::now();
    let mut seq = 0u64;
    for _ in 0..batches {
        let mut writes = sled::Batch::default();
        for _ in 0..batch {
            seq += 1;
            writes.insert(&seq.to_be_bytes()[..], record);
        }
        tree.apply_batch(writes).unwrap();
        db.flush().unwrap();
    }
    (batch * batches) as f64 / started.elapsed().as_secs_f64()
}

/// Copies every record of `log` into a new raw sled database in `dir` (`apply_batch` of 1000
/// records, then `flush`, as the log writes them), optionally with the by-incident index keys
/// in a second tree; returns its size on disk.
fn raw_sled_copy(log: &store::EventLog, dir: &std::path::Path, with_index: bool) -> u64 {
    let db = sled::Config::new()
        .path(dir)
        .cache_capacity(64 << 20)
        .open()
        .unwrap();
    let events = db.open_tree("events").unwrap();
    let index = db.open_tree("by_incident").unwrap();
    let mut records = log.raw_from(1).peekable();
    while records.peek().is_some() {
        let mut writes = sled::Batch::default();
        let mut keys = sled::Batch::default();
        for (seq, record) in records.by_ref().take(1_000).map(Result::unwrap) {
            writes.insert(&seq.to_be_bytes()[..], &record[..]);
            let mut key = record[33..65].to_vec();
            key.extend_from_slice(&seq.to_be_bytes());
            keys.insert(key, &[][..]);
        }
        events.apply_batch(writes).unwrap();
        if with_index {
            index.apply_batch(keys).unwrap();
        }
        db.flush().unwrap();
    }
    db.size_on_disk().unwrap()
}

fn concurrent_single_appends(threads: usize, per_thread: usize) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), config()).unwrap();
    let tenant = TenantId::from_name("bench");
    let started = Instant::now();
    std::thread::scope(|scope| {
        for t in 0..threads {
            let store = &store;
            scope.spawn(move || {
                for i in 0..per_thread {
                    let key = incident_key(2 + t as u64, i as u64);
                    store
                        .execute_blocking(Execution::incident(
                            tenant,
                            key,
                            Command::Observe(observation(key, i as i64, 1, "New")),
                        ))
                        .unwrap();
                }
            });
        }
    });
    let rate = (threads * per_thread) as f64 / started.elapsed().as_secs_f64();
    store.shutdown().unwrap();
    rate
}

/// The commands of one lifecycle phase for one incident (16 phases, one event each).
fn phase(tenant: TenantId, key: IncidentKey, n: u64, phase: usize) -> Execution {
    let raise = Effect::RaiseSignl {
        external_id: store::ids::external_id(tenant, key),
        round: 1,
    };
    let tag = Effect::TagIncident {
        label: "SIGNL4".into(),
    };
    let ack = Effect::AcknowledgeIncident {
        owner: Some("rene@contoso.com".into()),
        set_active: true,
        cause: format!("ack-{n}"),
    };
    let comment = Effect::WriteComment {
        comment_id: Uuid::from_u64_pair(n, 7),
        message: "Acknowledged in SIGNL4 by Rene".into(),
    };
    let close = Effect::CloseIncident {
        classification: "TruePositive".into(),
        classification_reason: Some("SuspiciousActivity".into()),
        classification_comment: "Closed in SIGNL4 by Rene".into(),
        owner: None,
        cause: format!("close-{n}"),
    };
    let succeed = |effect: &Effect, result: EffectResult| Command::Succeed {
        effect_id: effect_id(tenant, key, effect),
        result,
    };
    let signl4 = |action: Signl4Action, id: String| {
        Command::RecordSignl4Action(Signl4ActionReceived {
            notification_id: id,
            signl_id: format!("2518981069381242800_{key}"),
            action,
            user_email: Some("rene@contoso.com".into()),
            user_name: Some("Rene".into()),
            raised_at_ms: 1_764_000_100_000,
        })
    };
    let written = |etag: &str| EffectResult::IncidentWritten { etag: etag.into() };
    let command = match phase {
        0 => Command::Observe(observation(key, n as i64, 1, "New")),
        1 => Command::RecordEnrichment(IncidentEnriched {
            alert_count: 2,
            entity_count: 3,
            products: vec!["Microsoft Entra ID Protection".into()],
            tactics: vec!["InitialAccess".into()],
            missing: vec![],
            alerts_json: enrichment_json(n).0,
            entities_json: enrichment_json(n).1,
            search_json: String::new(),
        }),
        2 => Command::Request(raise.clone()),
        3 => succeed(
            &raise,
            EffectResult::SignlRaised {
                event_id: format!("2518583650940558238_{key}"),
            },
        ),
        4 => Command::Request(tag.clone()),
        5 => succeed(&tag, written("\"2\"")),
        6 => Command::Observe(observation(key, n as i64, 2, "New")),
        7 => {
            let id = format!("n-ack-{n}");
            return Execution::incident(
                tenant,
                key,
                signl4(Signl4Action::Acknowledged, id.clone()),
            )
            .with_inbox_key(inbox(
                InboxSource::Signl4Notification,
                tenant,
                id.as_bytes(),
            ));
        }
        8 => Command::Request(ack.clone()),
        9 => succeed(&ack, written("\"3\"")),
        10 => Command::Request(comment.clone()),
        11 => succeed(&comment, EffectResult::CommentWritten { etag: "c".into() }),
        12 => signl4(Signl4Action::Closed, format!("n-close-{n}")),
        13 => Command::Request(close.clone()),
        14 => succeed(&close, written("\"4\"")),
        _ => Command::Observe(observation(key, n as i64, 4, "Closed")),
    };
    Execution::incident(tenant, key, command)
}

const PHASES: usize = 16;

/// Writes about `events` events of complete lifecycles; returns (events, seconds).
fn write_lifecycles(store: &Store, events: u64) -> (u64, f64) {
    let tenant = TenantId::from_name("bench");
    let incidents = events / PHASES as u64;
    let chunk = 1_000u64;
    let started = Instant::now();
    let mut first = 0;
    while first < incidents {
        let last = (first + chunk).min(incidents);
        for p in 0..PHASES {
            let executions = (first..last)
                .map(|n| phase(tenant, incident_key(9, n), n, p))
                .collect();
            for outcome in store.execute_many_blocking(executions).unwrap() {
                assert!(
                    matches!(outcome, store::ExecuteOutcome::Appended(_)),
                    "{outcome:?}"
                );
            }
        }
        first = last;
    }
    (
        store.log().last_seq().unwrap(),
        started.elapsed().as_secs_f64(),
    )
}

fn main() {
    // `cargo bench` passes --bench; nothing to parse.
    println!(
        "## Durable append throughput (events/s): the log vs raw sled and vs SQLite, same record \
         bytes\n"
    );
    println!("| batch | log | raw sled | SQLite | log / raw sled | log / SQLite |");
    println!("|------:|----:|---------:|-------:|---------------:|-------------:|");
    for (batch, batches) in [(1usize, 2_000usize), (100, 200), (1_000, 40)] {
        let (store_rate, record) = store_appends(batch, batches);
        let raw_rate = raw_sled_appends(batch, batches, &record);
        let sqlite_rate = sqlite::appends(batch, batches, &record);
        println!(
            "| {batch} | {store_rate:.0} | {raw_rate:.0} | {} | {:.2}x | {} |",
            shown(sqlite_rate, 0),
            store_rate / raw_rate,
            ratio(Some(store_rate), sqlite_rate),
        );
    }
    let concurrent = concurrent_single_appends(8, 500);
    println!("\n8 threads appending one event each call (group commit): {concurrent:.0} events/s");

    let target: u64 = std::env::var("S4_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), config()).unwrap();
    let (events, secs) = write_lifecycles(&store, target);
    println!(
        "\n## Log of {events} events ({} incident lifecycles of {PHASES} commands, {:.0} events each)\n",
        target / PHASES as u64,
        events as f64 / (target / PHASES as u64) as f64,
    );
    println!(
        "written in batches of 1000: {:.1} s ({:.0} events/s)",
        secs,
        events as f64 / secs
    );
    store.snapshot_now().unwrap();
    store.shutdown().unwrap();

    let log = store::EventLog::open(dir.path(), &store::OpenOptions::default()).unwrap();
    // Flush so the size reflects what is on disk, then measure a full replay twice (warm cache).
    log.flush().unwrap();
    let size = log.size_on_disk().unwrap();
    // Every incident written is one whole lifecycle (16 commands; its closing observation also
    // records ClosedInSentinel, so 17 events).
    let lifecycles = target / PHASES as u64;
    println!(
        "bytes on disk: {size} ({:.0} per event; mean record {:.0} bytes)",
        size as f64 / events as f64,
        mean_record(&log)
    );
    println!("bytes per incident lifecycle: {}", size / lifecycles.max(1));
    // The same records in raw sled: one tree alone, and with the by-incident index beside it
    // (what sled itself costs for our bytes, without our transactions, outbox or snapshot).
    for with_index in [false, true] {
        let raw_dir = tempfile::tempdir().unwrap();
        let bytes = raw_sled_copy(&log, raw_dir.path(), with_index);
        println!(
            "raw sled, the same records{}: {bytes} bytes ({:.0} per event, {} per incident lifecycle)",
            if with_index { " and a by-incident index tree" } else { " in one tree" },
            bytes as f64 / events as f64,
            bytes / lifecycles.max(1)
        );
    }
    // The same records (bytes, seqs, tenants, incidents) and the same snapshot in SQLite.
    let sqlite_dir = tempfile::tempdir().unwrap();
    let sqlite_size = sqlite::copy_log(&log, sqlite_dir.path());
    if let Some(bytes) = sqlite_size {
        println!(
            "SQLite, the same records: {bytes} bytes ({:.0} per event, {} per incident lifecycle)",
            bytes as f64 / events as f64,
            bytes / lifecycles.max(1)
        );
    }
    let mut best = Duration::MAX;
    for _ in 0..2 {
        let started = Instant::now();
        let (projection, report) = replay::rebuild(&log, From::Genesis, &mut |_, _| {}).unwrap();
        best = best.min(started.elapsed());
        assert_eq!(report.replayed, events);
        assert_eq!(projection.last_seq, events);
    }
    let log_replay = events as f64 / best.as_secs_f64();
    println!(
        "full replay (decode + apply, log already open): {:.2} s, {log_replay:.0} events/s",
        best.as_secs_f64(),
    );
    let sqlite_replay = sqlite::replay_rate(sqlite_dir.path(), events);
    println!(
        "full replay from SQLite (the same decode + apply): {} events/s; log / SQLite {}",
        shown(sqlite_replay, 0),
        ratio(Some(log_replay), sqlite_replay)
    );
    let snapshot_bytes = log.snapshots_newest_first().unwrap()[0].1.len();
    drop(log);

    // The open check alone, both depths: the bounded one of a start (sled open, small trees
    // whole, large ones at their ends, the last records of `events`) and the full one of the
    // read-only commands (every tree read once; what a start did before).
    let started = Instant::now();
    let checked = store::guard::open_checked(
        dir.path(),
        &store::OpenOptions::default(),
        store::guard::Limits::default(),
    )
    .unwrap();
    println!(
        "open check of a start (bounded: small trees whole, index trees at their ends, newest snapshot, last 1024 records): {:.0} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    drop(checked);
    let started = Instant::now();
    let path = dir.path().to_path_buf();
    let limits = store::guard::Limits::default();
    let traversed = store::guard::bounded(dir.path(), limits, move |watch| {
        store::guard::open_traversed(&path, &store::OpenOptions::default(), limits, watch)
    })
    .unwrap()
    .unwrap();
    println!(
        "open check of verify/audit/export (every tree read once): {:.0} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    drop(traversed);

    // A start as it was before the bounded check: the full check, then replay from the newest
    // snapshot (what `Store::open` did, less starting its thread).
    let started = Instant::now();
    let path = dir.path().to_path_buf();
    let traversed = store::guard::bounded(dir.path(), limits, move |watch| {
        store::guard::open_traversed(&path, &store::OpenOptions::default(), limits, watch)
    })
    .unwrap()
    .unwrap();
    replay::rebuild(&traversed, From::NewestSnapshot, &mut |_, _| {}).unwrap();
    println!(
        "restart with a snapshot, with the full check instead (as before): {:.0} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    drop(traversed);

    let started = Instant::now();
    let store = Store::open(dir.path(), config()).unwrap();
    let ready = started.elapsed();
    let report = store.replay_report().clone();
    let ready_ms = ready.as_secs_f64() * 1e3;
    println!(
        "restart with a snapshot to ready: {ready_ms:.0} ms (snapshot {} bytes, {} events replayed after it)",
        snapshot_bytes,
        report.replayed
    );
    store.shutdown().unwrap();
    let sqlite_ms = sqlite::restart_ms(sqlite_dir.path());
    println!(
        "restart with a snapshot from SQLite (open, newest snapshot decoded, tail replayed): {} ms; \
         log / SQLite time {}",
        shown(sqlite_ms, 0),
        ratio(Some(ready_ms), sqlite_ms)
    );
}

/// A figure, or why it is missing.
fn shown(value: Option<f64>, decimals: usize) -> String {
    match value {
        Some(v) => format!("{v:.decimals$}"),
        None => "n/a".into(),
    }
}

fn ratio(ours: Option<f64>, theirs: Option<f64>) -> String {
    match (ours, theirs) {
        (Some(a), Some(b)) => format!("{:.2}x", a / b),
        _ => "n/a (cargo bench --bench store --features bench-sqlite)".into(),
    }
}

/// SQLite doing the log's work, as a user would set it up instead: rusqlite with its bundled
/// SQLite, WAL, `synchronous=FULL` (a commit is durable when it returns, as ours is). One table
/// for the records keyed by seq with an index by `(tenant, incident, seq)` (our `events` and
/// `by_incident` trees), one for snapshots. Behind the `bench-sqlite` feature, because
/// compiling SQLite's C source would slow every test build.
#[cfg(feature = "bench-sqlite")]
mod sqlite {
    use std::path::Path;
    use std::time::Instant;

    use rusqlite::{params, Connection};
    use store::envelope::HEADER_LEN;

    fn open(dir: &Path) -> Connection {
        let conn = Connection::open(dir.join("log.sqlite")).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.pragma_update(None, "synchronous", "FULL").unwrap();
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, tenant BLOB NOT NULL, \
               incident BLOB NOT NULL, record BLOB NOT NULL);
             CREATE INDEX IF NOT EXISTS by_incident ON events (tenant, incident, seq);
             CREATE TABLE IF NOT EXISTS snapshots (seq INTEGER PRIMARY KEY, bytes BLOB NOT NULL);",
        )
        .unwrap();
        conn
    }

    /// The record's tenant and incident, from the envelope's fixed header (offsets 33 and 49).
    fn stream(record: &[u8]) -> (&[u8], &[u8]) {
        assert!(record.len() >= HEADER_LEN);
        (&record[33..49], &record[49..65])
    }

    /// `batches` transactions of `batch` inserts of `record`, each under its own incident (as
    /// the log's bench appends new-incident observations); events/s.
    pub fn appends(batch: usize, batches: usize, record: &[u8]) -> Option<f64> {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = open(dir.path());
        let (tenant, _) = stream(record);
        let started = Instant::now();
        let mut seq = 0u64;
        for _ in 0..batches {
            let tx = conn.transaction().unwrap();
            {
                let mut insert = tx
                    .prepare_cached("INSERT INTO events VALUES (?1, ?2, ?3, ?4)")
                    .unwrap();
                for _ in 0..batch {
                    seq += 1;
                    let incident = uuid::Uuid::from_u64_pair(1, seq);
                    insert
                        .execute(params![
                            seq as i64,
                            tenant,
                            &incident.as_bytes()[..],
                            record
                        ])
                        .unwrap();
                }
            }
            tx.commit().unwrap();
        }
        Some((batch * batches) as f64 / started.elapsed().as_secs_f64())
    }

    /// Copies every record and the newest snapshot of `log` into a new SQLite database in
    /// `dir`, in transactions of 1000 records; returns its size on disk once checkpointed.
    pub fn copy_log(log: &store::EventLog, dir: &Path) -> Option<u64> {
        let mut conn = open(dir);
        let mut records = log.raw_from(1).peekable();
        while records.peek().is_some() {
            let tx = conn.transaction().unwrap();
            {
                let mut insert = tx
                    .prepare_cached("INSERT INTO events VALUES (?1, ?2, ?3, ?4)")
                    .unwrap();
                for (seq, record) in records.by_ref().take(1_000).map(Result::unwrap) {
                    let (tenant, incident) = stream(&record);
                    insert
                        .execute(params![seq as i64, tenant, incident, &record[..]])
                        .unwrap();
                }
            }
            tx.commit().unwrap();
        }
        if let Some((seq, bytes)) = log.snapshots_newest_first().unwrap().into_iter().next() {
            conn.execute(
                "INSERT INTO snapshots VALUES (?1, ?2)",
                params![seq as i64, &bytes[..]],
            )
            .unwrap();
        }
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
            .unwrap();
        drop(conn);
        let size = |name: &str| std::fs::metadata(dir.join(name)).map_or(0, |m| m.len());
        Some(size("log.sqlite") + size("log.sqlite-wal"))
    }

    /// Replays every record from seq 1 (ordered by seq, decoded and applied as the log's replay
    /// does), best of two; events/s.
    pub fn replay_rate(dir: &Path, events: u64) -> Option<f64> {
        let conn = open(dir);
        let mut best = f64::MAX;
        for _ in 0..2 {
            let started = Instant::now();
            let projection = replay_from(&conn, store::Projection::default());
            best = best.min(started.elapsed().as_secs_f64());
            assert_eq!(projection.last_seq, events);
        }
        Some(events as f64 / best)
    }

    fn replay_from(conn: &Connection, mut projection: store::Projection) -> store::Projection {
        let mut select = conn
            .prepare("SELECT seq, record FROM events WHERE seq > ?1 ORDER BY seq")
            .unwrap();
        let mut rows = select.query(params![projection.last_seq as i64]).unwrap();
        let mut expected = projection.last_seq + 1;
        let mut bases = Bases {
            conn,
            cache: std::collections::HashMap::new(),
        };
        while let Some(row) = rows.next().unwrap() {
            let seq = row.get::<_, i64>(0).unwrap() as u64;
            assert_eq!(seq, expected, "a gap");
            expected += 1;
            let record = row.get_ref(1).unwrap().as_blob().unwrap();
            let event =
                store::log::decode_record_with(seq, &store::keys::event(seq), record, &mut bases)
                    .unwrap();
            projection.apply_owned(event);
        }
        projection
    }

    /// The keyframes delta-stored observations refer to, read from SQLite as the log's
    /// `LogBases` reads them from sled (the same work: a lookup by seq, cached).
    struct Bases<'a> {
        conn: &'a Connection,
        cache: std::collections::HashMap<u64, String>,
    }

    impl store::events::RawBases for Bases<'_> {
        fn keyframe(
            &mut self,
            seq: u64,
            tenant: store::TenantId,
            incident: store::IncidentKey,
        ) -> Result<&str, String> {
            if !self.cache.contains_key(&seq) {
                let record: Vec<u8> = self
                    .conn
                    .query_row(
                        "SELECT record FROM events WHERE seq = ?1",
                        params![seq as i64],
                        |row| row.get(0),
                    )
                    .map_err(|e| e.to_string())?;
                let raw = store::log::keyframe_raw(seq, &record, tenant, incident)?;
                if self.cache.len() >= 4_096 {
                    self.cache.clear();
                }
                self.cache.insert(seq, raw);
            }
            Ok(&self.cache[&seq])
        }

        fn decoded_keyframe(
            &mut self,
            seq: u64,
            _: store::TenantId,
            _: store::IncidentKey,
            raw: &str,
        ) {
            if self.cache.len() >= 4_096 {
                self.cache.clear();
            }
            self.cache.insert(seq, raw.to_string());
        }
    }

    /// Open, read and decode the newest snapshot, replay what follows it; ms to ready.
    pub fn restart_ms(dir: &Path) -> Option<f64> {
        let started = Instant::now();
        let conn = open(dir);
        let (seq, bytes): (i64, Vec<u8>) = conn
            .query_row(
                "SELECT seq, bytes FROM snapshots ORDER BY seq DESC LIMIT 1",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .unwrap();
        let projection = store::snapshot::decode(seq as u64, &bytes).unwrap();
        let projection = replay_from(&conn, projection);
        let elapsed = started.elapsed();
        assert!(projection.last_seq >= seq as u64);
        Some(elapsed.as_secs_f64() * 1e3)
    }
}

/// Without the `bench-sqlite` feature the SQLite side is not built and its figures are n/a.
#[cfg(not(feature = "bench-sqlite"))]
mod sqlite {
    use std::path::Path;

    pub fn appends(_: usize, _: usize, _: &[u8]) -> Option<f64> {
        None
    }
    pub fn copy_log(_: &store::EventLog, _: &Path) -> Option<u64> {
        None
    }
    pub fn replay_rate(_: &Path, _: u64) -> Option<f64> {
        None
    }
    pub fn restart_ms(_: &Path) -> Option<f64> {
        None
    }
}

fn mean_record(log: &store::EventLog) -> f64 {
    let mut total = 0u64;
    let mut count = 0u64;
    for entry in log.raw_from(1).take(100_000) {
        total += entry.unwrap().1.len() as u64;
        count += 1;
    }
    total as f64 / count.max(1) as f64
}
