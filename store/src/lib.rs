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
//!   versions are upcast on read. The envelope starts with a format byte and `meta` records the
//!   store format, so a build never misreads a log written by a newer one.
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
pub use writer::{Execution, Outcome as ExecuteOutcome, Store, StoreConfig};
