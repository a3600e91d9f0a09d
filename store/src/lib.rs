//! The event log and incident model of sentinel-signl4.
//!
//! Every transition of every incident the connector handles is an event appended to one log on
//! disk (sled). The connector's state is nothing but the fold of that log, so a restart replays it,
//! an auditor can read any incident's history, and a side effect that was asked for but never
//! confirmed is still visible after a crash.
//!
//! # Invariants
//! - **Contiguous sequence.** Events are numbered 1, 2, 3, ... with no gap; the number is the sled
//!   key. A gap or an undecodable record is reported with its sequence number and key by
//!   [`replay`] and [`verify`]; nothing is ever skipped silently.
//! - **Durable before acknowledged.** [`Store::execute`] returns only after the events it appended
//!   are flushed to disk. Appends that arrive together share one flush (group commit).
//! - **One writer.** A single thread owns the sequence counter and the live projection; commands
//!   are decided against the state the log already holds, so two actors can never append
//!   contradicting transitions for one incident.
//! - **Intents before effects.** A side effect (a Signl, a tag, an incident write, a comment) is
//!   first appended as an `EffectRequested` intent, which puts its id in the `outbox` tree, and is
//!   only then performed; its `EffectSucceeded`/`EffectFailed` outcome removes it from the outbox
//!   in the same atomic commit. An open intent after a restart means "check the remote side".
//! - **Inbound exactly once.** An inbound notification (a SIGNL4 webhook id, a Sentinel
//!   `(incident, etag)` observation) carries an inbox key; a key already in the `inbox` tree turns
//!   the command into a no-op reported as a duplicate.
//! - **Readable forever.** Payloads are frozen structs per `(kind, version)` (see [`events`]); old
//!   versions are upcast on read. The envelope starts with a format byte (1 from earlier builds,
//!   2 now: read both) and `meta` records the store format, so a build never misreads a log
//!   written by a newer one.
//! - **Small records.** An observation's raw incident JSON is stored once per change: as a
//!   keyframe, or as an LZ4 delta against the incident's last keyframe, which its record names
//!   by seq (see [`events::raw`]); large payloads are LZ4-compressed behind an envelope flag.
//!   Such a record is decoded through the log ([`log::LogBases`]), which reads at most that one
//!   earlier record; every reader gets the whole JSON.
//!
//! # Trees and keys (all integers big-endian so that byte order is numeric order)
//! | tree          | key                                  | value                       |
//! |---------------|--------------------------------------|-----------------------------|
//! | `events`      | `seq:u64`                            | envelope ([`envelope`])     |
//! | `by_incident` | `tenant:16 ‖ incident:16 ‖ seq:u64`  | empty                       |
//! | `outbox`      | `effect_id:16`                       | `seq:u64` of the intent     |
//! | `inbox`       | `source:1 ‖ tenant:16 ‖ id bytes`    | `seq:u64` of the event      |
//! | `snapshots`   | `seq:u64`                            | snapshot ([`snapshot`])     |
//! | `meta`        | ASCII name                           | value                       |
//! | `cursors`     | ASCII consumer name                  | `seq:u64` it finished with  |
//!
//! # Crash guarantees
//! A commit is one sled transaction over `events`, `by_incident`, `outbox` and `inbox`, followed
//! by one `flush`. After a crash (SIGKILL, power loss after the flush returned) every acknowledged
//! event is present; events whose commit never returned may or may not be, but the recovered log
//! is always a contiguous prefix, and the indexes agree with it.
//!
//! # One log per process
//! The connector opens one log per process, and so does every test (the suite runs under
//! cargo-nextest, one process per test). sled 0.34 keeps process-wide state: a concurrency lock
//! shared by every database in the process, and file handles released by background threads a
//! moment after the last handle is dropped. Several logs opening, committing and closing side by
//! side in one process have deadlocked on the first; the second makes a reopen right after a
//! shutdown wait (bounded, see `log::open_db`) for this same process to let go of the file.

//! # Damage and limits
//! - **Open check.** [`Store::open`] and the read-only commands open a log only through
//!   [`guard`]: sled's `conf` and `snap.*` files are checked first, sled opens the log and it is
//!   read on a watched thread with stall deadlines, and the log must reach the seq its
//!   high-water mark file (`sentinel-signl4.mark`, written after each snapshot) recorded.
//!   sled 0.34 otherwise opens a damaged `db` silently and later spins, panics or shows a
//!   shorter log. A start reads the small trees whole, the large ones at their ends and
//!   `events` from the newest snapshot to the end, so its cost does not grow with the log; the
//!   read-only commands (`verify`) read every tree whole. A failure is a [`guard::Damage`]:
//!   what, where, and the recovery step.
//! - **Payload limit.** An event whose payload exceeds [`events::MAX_PAYLOAD_BYTES`] (what
//!   decoding accepts) is refused by the writer before the commit
//!   ([`DecideError::TooLarge`]), so the log never holds a record it cannot read back.
//!
//! # sled 0.34's process-wide lock
//! sled 0.34 has one `RwLock` for the whole process (`concurrency_control.rs`), shared by every
//! log the process opens. Once a transaction has run anywhere in the process, every tree read,
//! insert, iterator step and `flush` takes its read side and every transaction (and
//! `apply_batch`) its write side. The lock is parking_lot's task-fair one: a reader blocks while
//! a writer waits, even though other readers hold it. A hang therefore needs all of:
//! 1. a thread holding the read side while it waits for another thread: `flush` keeps it
//!    while waiting for its I/O buffer to become stable, a closing log's `Tree` drop flushes in
//!    a loop, and sled's background flusher holds it for each round;
//! 2. that other thread needing the read side to make progress;
//! 3. a transaction queueing for the write side between the two, on any log of the process.
//!
//! The suites hit it with several logs in one process: one test's log closing (its final
//! flushes and its flusher) while the next test's writer committed a transaction
//! (commits 63da643, 101c928, 29d64e5, 6ac81d2). `examples/sled_lock.rs` drives those shapes
//! with a progress watchdog (it reports a stall instead of hanging); on the 2-core dev machine
//! it ran 20-90 s per shape without stalling, so the exact interleaving is rare and not yet
//! reproduced outside the suites.
//!
//! A connector process holds one log and meets condition 3 only through its own writer thread:
//! every transaction *and every explicit flush* run on that one thread (so no thread of ours
//! holds the read side in a flush while the writer queues a transaction), the log is closed
//! once, at shutdown, after the writer stopped, and no second log exists to commit during that
//! close. Other threads take the read side only for plain reads that wait on nobody (the
//! shipper's scan, the enricher's `incident_events`); the writer's `flush` and sled's flusher
//! wait on sled's I/O threads, which (in 0.34.7's source) never take the lock, so condition 2
//! is not met. That is a reading of the source, not a proof by reproduction. Test binaries
//! that open many logs should run one test per process (cargo-nextest) rather than rely on it.

pub mod aggregate;
pub mod crash;
pub mod envelope;
pub mod error;
pub mod events;
pub mod guard;
pub mod ids;
pub mod keys;
pub mod log;
pub mod projection;
pub mod replay;
pub mod scratch;
pub mod snapshot;
pub mod verify;
pub mod writer;

pub use aggregate::{Command, DecideError, Incident};
pub use envelope::{EventMeta, StoredEvent};
pub use error::{DecodeError, StoreError};
pub use events::Event;
pub use ids::{EffectId, IncidentKey, TenantId};
pub use log::{EventLog, OpenOptions};
pub use projection::Projection;
pub use writer::{ExecuteOutcome, Execution, Store, StoreConfig};
