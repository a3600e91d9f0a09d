//! Reproduces the hang of sled 0.34's process-wide lock with several logs in one process, and
//! reports instead of hanging.
//!
//! sled 0.34 guards every tree operation with one process-wide `RwLock`
//! (`concurrency_control.rs`): once any transaction has run in the process, every read, insert
//! and `flush` takes its read side, and every transaction its write side. The lock is
//! task-fair (parking_lot): a queued writer blocks new readers. So a thread that holds the read
//! side and then needs another thread's read side to finish (a `flush` waiting on an I/O buffer
//! another thread must complete, a `Db` drop waiting for its flusher thread, which takes the
//! read side each round) deadlocks as soon as a transaction, on *any* log of the process, queues
//! in between.
//!
//! Scenarios (each on fresh logs in a temporary directory, watched for progress):
//! - `close-vs-commit`: log A is opened, written and dropped in a loop (its `Drop` stops the
//!   background flusher) while log B commits transactions and flushes in a loop;
//! - `flush-vs-commit`: one log, one thread commits transactions while another flushes (the
//!   shape the store had before every flush moved to the writer thread);
//! - `many`: two `close-vs-commit` pairs and a third log committing on one thread while
//!   another thread flushes it, all at once;
//! - `stores`: the store itself as the test binaries use it (see [`stores`]);
//! - `single-writer`: one log, one thread doing transactions and flushes, with sled's background
//!   flusher: the connector's shape (one log per process, one writer thread).
//!
//! Usage: `cargo run --example sled_lock -- [scenario] [--seconds N] [--stall-seconds M]
//! [--no-flusher]`.
//! Exits 0 when no scenario stalled, 1 when one did (and prints which threads stopped moving).
//! The stalled threads are abandoned; the process then exits.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sled::transaction::{ConflictableTransactionError, Transactional};

/// One worker's progress counter, watched by the main thread.
struct Worker {
    name: &'static str,
    rounds: AtomicU64,
}

/// One round of a worker's work, called in a loop on the worker's own thread.
type Body = Box<dyn FnMut() + Send>;

/// False with `--no-flusher`: logs open without sled's background flusher (the store's
/// `OpenOptions::background_flush`, once turned off for tests that share a process).
static FLUSHER: AtomicBool = AtomicBool::new(true);

fn open(dir: &std::path::Path, flusher: bool) -> sled::Db {
    let flusher = flusher && FLUSHER.load(Ordering::Relaxed);
    sled::Config::new()
        .path(dir)
        .cache_capacity(8 << 20)
        .flush_every_ms(flusher.then_some(500))
        .open()
        .expect("open")
}

fn commit(a: &sled::Tree, b: &sled::Tree, n: u64) {
    (a, b)
        .transaction(|(a, b)| {
            a.insert(&n.to_be_bytes(), vec![7u8; 200])?;
            // Rewritten keys leave garbage, so sled's segment cleaner runs as in a long log.
            b.insert(&(n % 64).to_be_bytes(), vec![0u8; 1000])?;
            Ok::<(), ConflictableTransactionError<()>>(())
        })
        .expect("transaction");
}

/// The worker bodies of `scenario`, each called in a loop on its own thread.
fn scenario(name: &str, root: &std::path::Path) -> Vec<(&'static str, Body)> {
    match name {
        "close-vs-commit" => {
            let a_dir = root.join("a");
            let b = open(&root.join("b"), true);
            let (t1, t2) = (
                b.open_tree("events").unwrap(),
                b.open_tree("index").unwrap(),
            );
            let mut n = 0;
            let mut round = 0u64;
            vec![
                (
                    "open-write-close log A",
                    Box::new(move || {
                        // A new log each round, as each test of a binary opens its own; its
                        // overwrites leave garbage for sled's segment cleaner.
                        round += 1;
                        let a = open(&a_dir.join(round.to_string()), true);
                        let t = a.open_tree("events").unwrap();
                        for i in 0..200u64 {
                            t.insert((i % 20).to_be_bytes(), vec![1u8; 2000]).unwrap();
                        }
                        a.flush().unwrap();
                        drop(t);
                        drop(a);
                        // Thousands of rounds: never leave their files behind.
                        let _ = std::fs::remove_dir_all(a_dir.join(round.to_string()));
                    }) as Body,
                ),
                (
                    "commit+flush log B",
                    Box::new(move || {
                        n += 1;
                        commit(&t1, &t2, n);
                        b.flush().unwrap();
                    }) as Body,
                ),
            ]
        }
        "many" => {
            // The test binaries' shape: several logs opening, committing, flushing from a
            // second thread (the shipper's cursor flush before 63da643) and closing at once.
            let mut bodies = Vec::new();
            for k in 0..2 {
                let mut first = scenario("close-vs-commit", &root.join(format!("pair{k}")));
                bodies.append(&mut first);
            }
            let db = open(&root.join("shared"), true);
            let (t1, t2) = (
                db.open_tree("events").unwrap(),
                db.open_tree("index").unwrap(),
            );
            let other = db.clone();
            let mut n = 0;
            bodies.push((
                "commit shared log",
                Box::new(move || {
                    n += 1;
                    commit(&t1, &t2, n);
                }) as Body,
            ));
            bodies.push((
                "flush shared log from another thread",
                Box::new(move || {
                    other.flush().unwrap();
                }) as Body,
            ));
            bodies
        }
        "stores" => stores(root),
        "flush-vs-commit" => {
            let db = open(&root.join("one"), true);
            let (t1, t2) = (
                db.open_tree("events").unwrap(),
                db.open_tree("index").unwrap(),
            );
            let flusher = db.clone();
            let mut n = 0;
            vec![
                (
                    "commit",
                    Box::new(move || {
                        n += 1;
                        commit(&t1, &t2, n);
                    }) as Body,
                ),
                (
                    "flush",
                    Box::new(move || {
                        flusher.flush().unwrap();
                    }) as Body,
                ),
            ]
        }
        "single-writer" => {
            let db = open(&root.join("one"), true);
            let (t1, t2) = (
                db.open_tree("events").unwrap(),
                db.open_tree("index").unwrap(),
            );
            let mut n = 0;
            vec![(
                "commit+flush",
                Box::new(move || {
                    n += 1;
                    commit(&t1, &t2, n);
                    db.flush().unwrap();
                }) as Body,
            )]
        }
        other => panic!("unknown scenario {other}"),
    }
}

/// The store's own shape, as the test binaries run it: two threads each open a `Store` on a
/// fresh log, append, move a cursor, and close it (every other round by dropping the last
/// handle, which closes it in the background), over and over, while a long-lived
/// `Store` appends on its writer thread and a reader thread scans its log (the shipper) and
/// reads one incident's events (the enricher).
fn stores(root: &std::path::Path) -> Vec<(&'static str, Body)> {
    use store::events::{IncidentObserved, Source};
    use store::writer::Execution;
    use store::{Command, IncidentKey, Store, StoreConfig, TenantId};

    fn observed(n: u64) -> IncidentObserved {
        IncidentObserved {
            source: Source::Sentinel,
            name: format!("incident-{n}"),
            etag: format!("\"{n}\""),
            incident_number: n as i64,
            title: "Multiple failed sign-ins".into(),
            severity: "High".into(),
            status: "New".into(),
            owner: None,
            created_ms: 1_764_000_000_000,
            last_modified_ms: 1_764_000_000_000 + n as i64,
            incident_url: String::new(),
            labels: vec![],
            raw_json: "x".repeat(1_500),
        }
    }
    fn config() -> StoreConfig {
        let mut config = StoreConfig::default();
        config.open.background_flush = FLUSHER.load(Ordering::Relaxed);
        config
    }
    fn observe(store: &Store, n: u64) {
        let tenant = TenantId::from_name("contoso");
        let incident = IncidentKey(uuid::Uuid::from_u64_pair(7, n % 50 + 1));
        store
            .execute_blocking(Execution::incident(
                tenant,
                incident,
                Command::Observe(observed(n)),
            ))
            .expect("append");
    }

    let mut bodies: Vec<(&'static str, Body)> = Vec::new();
    for (k, label) in ["open-append-close store 1", "open-append-close store 2"]
        .into_iter()
        .enumerate()
    {
        let dir = root.join(format!("short{k}"));
        let mut round = 0u64;
        bodies.push((
            label,
            Box::new(move || {
                round += 1;
                let store = Store::open(&dir.join(round.to_string()), config()).unwrap();
                for n in 0..20 {
                    observe(&store, n);
                }
                store.set_cursor("shipper", 10).unwrap();
                if round.is_multiple_of(2) {
                    store.snapshot_now().unwrap();
                    store.shutdown().unwrap();
                } else {
                    // As a test ends: the last handle dropped, the writer thread takes its
                    // final snapshot and closes the log in the background while the next
                    // round already commits.
                    drop(store);
                }
                let _ = std::fs::remove_dir_all(dir.join(round.to_string()));
            }),
        ));
    }
    let long = Store::open(&root.join("long"), config()).unwrap();
    let reader = long.clone();
    let mut n = 0u64;
    bodies.push((
        "append to the long-lived store",
        Box::new(move || {
            n += 1;
            observe(&long, n);
        }),
    ));
    bodies.push((
        "read the long-lived store's log",
        Box::new(move || {
            let log = reader.log();
            let read = log.raw_from(1).take(200).count();
            let tenant = TenantId::from_name("contoso");
            let incident = IncidentKey(uuid::Uuid::from_u64_pair(7, 1));
            let _ = log.incident_events(tenant, incident).unwrap();
            std::hint::black_box(read);
        }),
    ));
    bodies
}

/// Runs `name` for `run_for`; true when it stalled (some worker made no progress for `stall`).
fn run(name: &str, run_for: Duration, stall: Duration) -> bool {
    let root = tempfile::tempdir().expect("tempdir");
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    let mut handles = Vec::new();
    for (label, mut body) in scenario(name, root.path()) {
        let worker = Arc::new(Worker {
            name: label,
            rounds: AtomicU64::new(0),
        });
        let (w, stop) = (worker.clone(), stop.clone());
        handles.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                body();
                w.rounds.fetch_add(1, Ordering::Relaxed);
            }
        }));
        workers.push(worker);
    }
    let started = Instant::now();
    let mut last: Vec<(u64, Instant)> = workers.iter().map(|_| (0, Instant::now())).collect();
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let now = Instant::now();
        for (worker, (seen, since)) in workers.iter().zip(last.iter_mut()) {
            let rounds = worker.rounds.load(Ordering::Relaxed);
            if rounds != *seen {
                *seen = rounds;
                *since = now;
            }
        }
        if let Some((worker, (rounds, since))) = workers
            .iter()
            .zip(&last)
            .find(|(_, (_, since))| now - *since > stall)
        {
            println!(
                "{name}: STALLED after {:.1} s: `{}` made no progress for {:.1} s (after {rounds} \
                 rounds); rounds per worker: {}",
                started.elapsed().as_secs_f64(),
                worker.name,
                (now - *since).as_secs_f64(),
                summary(&workers)
            );
            // The stuck threads keep their open files; the directory goes (Linux unlinks it
            // under them) and the process exits right after.
            drop(root);
            return true;
        }
        if started.elapsed() >= run_for {
            stop.store(true, Ordering::Relaxed);
            println!(
                "{name}: no stall in {:.0} s; rounds per worker: {}",
                run_for.as_secs_f64(),
                summary(&workers)
            );
            // Each worker finishes its round, then its logs close and the files go.
            for handle in handles {
                let _ = handle.join();
            }
            drop(root);
            return false;
        }
    }
}

fn summary(workers: &[Arc<Worker>]) -> String {
    workers
        .iter()
        .map(|w| format!("{}={}", w.name, w.rounds.load(Ordering::Relaxed)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn main() {
    let mut scenarios = Vec::new();
    let mut seconds = 20u64;
    let mut stall = 5u64;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => seconds = args.next().and_then(|s| s.parse().ok()).expect("N"),
            "--stall-seconds" => stall = args.next().and_then(|s| s.parse().ok()).expect("M"),
            "--no-flusher" => FLUSHER.store(false, Ordering::Relaxed),
            name => scenarios.push(name.to_string()),
        }
    }
    if scenarios.is_empty() {
        // A stalled scenario leaves its threads spinning on the lock, which would then stall
        // every later one: the single-log scenario goes first.
        scenarios = [
            "single-writer",
            "flush-vs-commit",
            "close-vs-commit",
            "many",
            "stores",
        ]
        .map(String::from)
        .to_vec();
    }
    let mut stalled = false;
    for name in &scenarios {
        stalled |= run(
            name,
            Duration::from_secs(seconds),
            Duration::from_secs(stall),
        );
        if stalled {
            break;
        }
    }
    std::process::exit(i32::from(stalled));
}
