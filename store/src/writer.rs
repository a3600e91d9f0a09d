//! The single writer: decides commands against the live projection and appends with group commit.
//!
//! Invariants:
//! - One thread owns the sequence counter, the `events` tree's tail and the projection's mutation.
//!   Callers on any thread (actors, HTTP handlers) send it [`Execution`]s and wait for the reply.
//! - Group commit: the thread takes every request already waiting (up to
//!   [`StoreConfig::max_batch_events`]), decides them in arrival order, commits them in one sled
//!   transaction and one `flush`, then replies to each. A request's executions are never split
//!   across commits.
//! - A reply carrying appended events is sent only after the flush returned: acknowledged means
//!   durable. The projection's write lock is held only while deciding (in memory), not during the
//!   flush, so readers are never blocked by the disk; they may see the state of a batch that is
//!   being flushed. That is safe because nobody acts on state alone: every side effect waits for
//!   its own intent's reply, which comes after the flush of that intent's batch, and the log is
//!   always a prefix, so everything the intent was decided on is durable by then.
//! - If a commit or flush fails, every request of the batch gets the error and the projection is
//!   rebuilt from what the log holds, so memory never runs ahead of disk.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, Sender};
use uuid::Uuid;

use crate::aggregate::{Command, DecideError};
use crate::envelope::{EventMeta, StoredEvent};
use crate::error::StoreError;
use crate::events::{Event, Keyframe, MAX_PAYLOAD_BYTES};
use crate::guard::Limits;
use crate::ids::{IncidentKey, TenantId};
use crate::log::{EventLog, OpenOptions, PreparedEvent};
use crate::projection::Projection;
use crate::replay::{self, ReplayReport};
use crate::snapshot;

/// Tuning of the store.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// sled options.
    pub open: OpenOptions,
    /// Take a snapshot after this many events (0: only on shutdown and on request).
    pub snapshot_every: u64,
    /// Snapshots kept (older ones are pruned).
    pub snapshots_kept: usize,
    /// Most events decided into one commit.
    pub max_batch_events: usize,
    /// Deadlines of the open check (see [`crate::guard`]).
    pub limits: Limits,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            open: OpenOptions::default(),
            snapshot_every: 10_000,
            snapshots_kept: 3,
            max_batch_events: 4_096,
            limits: Limits::default(),
        }
    }
}

/// One command for one stream, with the metadata of the events it may produce.
#[derive(Clone, Debug, PartialEq)]
pub struct Execution {
    pub tenant: TenantId,
    pub incident: IncidentKey,
    pub command: Command,
    pub meta: EventMeta,
}

impl Execution {
    /// A command for an incident.
    pub fn incident(tenant: TenantId, incident: IncidentKey, command: Command) -> Execution {
        Execution {
            tenant,
            incident,
            command,
            meta: EventMeta::default(),
        }
    }

    /// A command for a tenant's stream.
    pub fn tenant(tenant: TenantId, command: Command) -> Execution {
        Execution::incident(tenant, IncidentKey::TENANT_STREAM, command)
    }

    /// Deduplicate on this inbox key (see [`crate::keys::inbox`]).
    pub fn with_inbox_key(mut self, key: Vec<u8>) -> Execution {
        self.meta.inbox_key = Some(key);
        self
    }

    /// Record what caused the events.
    pub fn caused_by(mut self, cause: Uuid) -> Execution {
        self.meta.causation = Some(cause);
        self
    }

    /// Group the events with others of one flow.
    pub fn correlated(mut self, correlation: Uuid) -> Execution {
        self.meta.correlation = Some(correlation);
        self
    }
}

/// What became of one execution.
#[derive(Clone, Debug, PartialEq)]
pub enum ExecuteOutcome {
    /// The events were appended and are durable.
    Appended(Vec<StoredEvent>),
    /// The command changed nothing (a repeat observation, an unchanged watermark).
    Unchanged,
    /// The inbox key was recorded before, by the event at `seq`.
    Duplicate { seq: u64 },
    /// The lifecycle does not allow it; nothing was appended.
    Rejected(DecideError),
}

impl ExecuteOutcome {
    /// The appended events, if any.
    pub fn events(&self) -> &[StoredEvent] {
        match self {
            ExecuteOutcome::Appended(events) => events,
            _ => &[],
        }
    }
}

type Replies = Result<Vec<ExecuteOutcome>, StoreError>;

enum Reply {
    Blocking(Sender<Replies>),
    Async(tokio::sync::oneshot::Sender<Replies>),
}

impl Reply {
    fn send(self, replies: Replies) {
        // A caller that gave up waiting is not an error of the store.
        match self {
            Reply::Blocking(tx) => drop(tx.send(replies)),
            Reply::Async(tx) => drop(tx.send(replies)),
        }
    }
}

enum Message {
    Execute {
        executions: Vec<Execution>,
        reply: Reply,
    },
    Snapshot(Sender<Result<u64, StoreError>>),
    SetCursor {
        name: String,
        seq: u64,
        reply: Sender<Result<(), StoreError>>,
    },
    Shutdown(Sender<Result<(), StoreError>>),
}

struct Shared {
    log: EventLog,
    /// The last seq known to be flushed: readers outside the writer (the `SIGNL4_CL` shipper)
    /// read up to here and never see an event a crash could still take back.
    durable_seq: AtomicU64,
    projection: RwLock<Projection>,
    replay: ReplayReport,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// A handle on the event store. Cheap to clone; every clone talks to the same writer thread.
#[derive(Clone)]
pub struct Store {
    tx: Sender<Message>,
    shared: Arc<Shared>,
}

impl Store {
    /// Opens the log in `dir` after the open check ([`crate::guard::open_checked`]: a damaged
    /// log is refused with a [`StoreError::Damaged`] report instead of being run on), replays
    /// it (snapshot + tail) and starts the writer thread.
    pub fn open(dir: &Path, config: StoreConfig) -> Result<Store, StoreError> {
        // The replay runs on the open check's watched thread, so that every read of a start
        // is under its deadlines (a page the check did not read, such as a record behind a
        // snapshot that does not decode, cannot hang the caller); each 4096 records replayed
        // count as progress.
        let limits = config.limits;
        let (log, (projection, report)) =
            crate::guard::open_checked_then(dir, &config.open, limits, move |log, watch| {
                watch.enter("replaying the log from the newest snapshot", limits.stall);
                replay::rebuild(log, replay::From::NewestSnapshot, &mut |_, _| watch.step())
            })?;
        tracing::info!(
            last_seq = report.last_seq,
            snapshot = ?report.snapshot_seq,
            replayed = report.replayed,
            elapsed_ms = report.elapsed.as_millis() as u64,
            "event log replayed"
        );
        let (tx, rx) = crossbeam_channel::unbounded();
        let shared = Arc::new(Shared {
            durable_seq: AtomicU64::new(report.last_seq),
            log,
            projection: RwLock::new(projection),
            replay: report,
            thread: Mutex::new(None),
        });
        let writer = Writer {
            shared: shared.clone(),
            config,
            since_snapshot: 0,
            keyframes: KeyframeCache::default(),
        };
        let thread = std::thread::Builder::new()
            .name("event-store-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| StoreError::Io {
                doing: "starting the writer thread",
                source: sled::Error::Io(e),
            })?;
        *shared.thread.lock().unwrap_or_else(|e| e.into_inner()) = Some(thread);
        Ok(Store { tx, shared })
    }

    /// The last seq known to be on disk (every event up to it survives a crash).
    pub fn durable_seq(&self) -> u64 {
        self.shared.durable_seq.load(Ordering::Acquire)
    }

    /// Sets cursor `name` to `seq` and flushes, on the writer thread.
    ///
    /// Why through the writer: sled 0.34 guards every tree operation with one process-wide
    /// lock, and its `flush` holds that lock's read side while it waits for the disk. A flush on
    /// another thread while the writer waits to start a transaction was one side of a hang seen
    /// in the tests (with gdb). Keeping every explicit flush and transaction on one thread per
    /// log removes our part of that wait (sled's own background flusher remains; see
    /// `OpenOptions::background_flush`).
    pub fn set_cursor(&self, name: &str, seq: u64) -> Result<(), StoreError> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.send(Message::SetCursor {
            name: name.to_string(),
            seq,
            reply: tx,
        })?;
        rx.recv().map_err(|_| StoreError::WriterStopped)?
    }

    /// Decides and appends one execution; returns once its events are durable.
    pub fn execute_blocking(&self, execution: Execution) -> Result<ExecuteOutcome, StoreError> {
        Ok(self.execute_many_blocking(vec![execution])?.remove(0))
    }

    /// Decides and appends several executions in one commit.
    pub fn execute_many_blocking(
        &self,
        executions: Vec<Execution>,
    ) -> Result<Vec<ExecuteOutcome>, StoreError> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.send(Message::Execute {
            executions,
            reply: Reply::Blocking(tx),
        })?;
        rx.recv().map_err(|_| StoreError::WriterStopped)?
    }

    /// Async [`Store::execute_blocking`]: does not block the calling runtime thread.
    pub async fn execute(&self, execution: Execution) -> Result<ExecuteOutcome, StoreError> {
        Ok(self.execute_many(vec![execution]).await?.remove(0))
    }

    /// Async [`Store::execute_many_blocking`].
    pub async fn execute_many(
        &self,
        executions: Vec<Execution>,
    ) -> Result<Vec<ExecuteOutcome>, StoreError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.send(Message::Execute {
            executions,
            reply: Reply::Async(tx),
        })?;
        rx.await.map_err(|_| StoreError::WriterStopped)?
    }

    /// Reads the live projection (it may include a batch being flushed; see the module docs).
    pub fn read<R>(&self, f: impl FnOnce(&Projection) -> R) -> R {
        let projection = self
            .shared
            .projection
            .read()
            .unwrap_or_else(|e| e.into_inner());
        f(&projection)
    }

    /// The log underneath, for reads (timelines, outbox, audit).
    pub fn log(&self) -> &EventLog {
        &self.shared.log
    }

    /// How the replay at open went.
    pub fn replay_report(&self) -> &ReplayReport {
        &self.shared.replay
    }

    /// Takes a snapshot now; returns its seq.
    pub fn snapshot_now(&self) -> Result<u64, StoreError> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.send(Message::Snapshot(tx))?;
        rx.recv().map_err(|_| StoreError::WriterStopped)?
    }

    /// Takes a final snapshot and stops the writer. Other handles get `WriterStopped` afterwards;
    /// once the last handle is dropped the database is closed and may be opened again.
    pub fn shutdown(self) -> Result<(), StoreError> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.send(Message::Shutdown(tx))?;
        let result = rx.recv().map_err(|_| StoreError::WriterStopped)?;
        if let Some(thread) = self
            .shared
            .thread
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            let _ = thread.join();
        }
        result
    }

    fn send(&self, message: Message) -> Result<(), StoreError> {
        self.tx.send(message).map_err(|_| StoreError::WriterStopped)
    }
}

/// The writer thread's state.
struct Writer {
    shared: Arc<Shared>,
    config: StoreConfig,
    /// Events committed since the last snapshot.
    since_snapshot: u64,
    /// The last keyframe observation committed per incident, which the next observation of the
    /// incident is stored against (see [`crate::events::raw`]). Memory only and bounded: an
    /// incident missing here (after a start, or evicted) gets a keyframe, never a wrong base.
    keyframes: KeyframeCache,
}

/// Keyframes kept by the writer, at most this many incidents (one raw JSON each).
const KEYFRAMES_KEPT: usize = 4_096;

/// The writer's last keyframe per incident: `(seq, raw JSON)`.
type KeyframeCache = rustc_hash::FxHashMap<(TenantId, IncidentKey), (u64, String)>;

/// What deciding a batch yields: the outcomes per request, the records to commit and the
/// keyframes among them.
type Decided = (Vec<Vec<ExecuteOutcome>>, Vec<PreparedEvent>, KeyframeCache);

/// One request inside a group commit.
struct Pending {
    executions: Vec<Execution>,
    reply: Reply,
}

impl Writer {
    fn run(mut self, rx: Receiver<Message>) {
        let mut deferred: Option<Message> = None;
        loop {
            let message = match deferred.take() {
                Some(message) => message,
                None => match rx.recv() {
                    Ok(message) => message,
                    Err(_) => break, // every handle dropped
                },
            };
            match message {
                Message::Execute { executions, reply } => {
                    let mut batch = vec![Pending { executions, reply }];
                    let mut events = batch[0].executions.len();
                    while events < self.config.max_batch_events {
                        match rx.try_recv() {
                            Ok(Message::Execute { executions, reply }) => {
                                events += executions.len();
                                batch.push(Pending { executions, reply });
                            }
                            Ok(other) => {
                                deferred = Some(other);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    self.commit_batch(batch);
                }
                Message::Snapshot(reply) => {
                    let _ = reply.send(self.snapshot());
                }
                Message::SetCursor { name, seq, reply } => {
                    let _ = reply.send(self.shared.log.set_cursor(&name, seq));
                }
                Message::Shutdown(reply) => {
                    let _ = reply.send(self.snapshot().map(|_| ()));
                    return;
                }
            }
        }
        if self.since_snapshot > 0 {
            if let Err(error) = self.snapshot() {
                tracing::warn!(%error, "final snapshot failed; the next start replays more");
            }
        }
    }

    fn commit_batch(&mut self, batch: Vec<Pending>) {
        let shared = self.shared.clone();
        // Decide and fold under the write lock (memory only, fast); commit and flush without
        // it, so readers are never blocked by a disk flush.
        let decided = {
            let mut projection = shared.projection.write().unwrap_or_else(|e| e.into_inner());
            self.decide(&mut projection, &batch)
        };
        let result = decided.and_then(|(outcomes, prepared, keyframes)| {
            if !prepared.is_empty() {
                shared.log.commit(&prepared)?;
                crate::crash::point("store.commit.before_flush");
                shared.log.flush()?;
                if let Some(last) = prepared.last() {
                    shared.durable_seq.store(last.seq, Ordering::Release);
                }
            }
            Ok((outcomes, prepared.len() as u64, keyframes))
        });
        match result {
            Ok((outcomes, appended, keyframes)) => {
                // Only committed keyframes may be referred to.
                for (stream, keyframe) in keyframes {
                    if self.keyframes.len() >= KEYFRAMES_KEPT
                        && !self.keyframes.contains_key(&stream)
                    {
                        let evicted = self.keyframes.keys().next().copied();
                        if let Some(evicted) = evicted {
                            self.keyframes.remove(&evicted);
                        }
                    }
                    self.keyframes.insert(stream, keyframe);
                }
                for (pending, outcomes) in batch.into_iter().zip(outcomes) {
                    pending.reply.send(Ok(outcomes));
                }
                self.since_snapshot += appended;
                if self.config.snapshot_every > 0
                    && self.since_snapshot >= self.config.snapshot_every
                {
                    if let Err(error) = self.snapshot() {
                        tracing::warn!(%error, "periodic snapshot failed");
                    }
                }
            }
            Err(error) => {
                tracing::error!(%error, "commit failed; rebuilding state from the log");
                // What was committed is unknown: the next observations start new keyframes.
                self.keyframes.clear();
                let mut projection = shared.projection.write().unwrap_or_else(|e| e.into_inner());
                match replay::rebuild(&shared.log, replay::From::NewestSnapshot, &mut |_, _| {}) {
                    Ok((rebuilt, _)) => *projection = rebuilt,
                    Err(rebuild_error) => {
                        // Memory may now be ahead of disk: stop rather than decide on state
                        // the log does not hold. The process restarts and replays.
                        tracing::error!(%rebuild_error, "cannot rebuild state; aborting");
                        std::process::abort();
                    }
                }
                drop(projection);
                for pending in batch {
                    pending.reply.send(Err(error.clone()));
                }
            }
        }
    }

    /// Decides every execution of the batch in order and folds the events into `projection`.
    /// Returns the outcomes per request, the records to commit and the keyframes they hold.
    fn decide(
        &self,
        projection: &mut Projection,
        batch: &[Pending],
    ) -> Result<Decided, StoreError> {
        let log = &self.shared.log;
        let now = now_ms();
        let mut next_seq = projection.last_seq + 1;
        let mut prepared = Vec::new();
        let mut inbox_in_batch: HashMap<&[u8], u64> = HashMap::new();
        // Keyframes of this batch: a later observation of the same incident in the batch may
        // refer to one (it commits in the same transaction, at a lower seq).
        let mut batch_keyframes = KeyframeCache::default();
        let mut all_outcomes = Vec::with_capacity(batch.len());
        for pending in batch {
            let mut outcomes = Vec::with_capacity(pending.executions.len());
            for execution in &pending.executions {
                let inbox_key = execution.meta.inbox_key.as_deref();
                if let Some(key) = inbox_key {
                    let seen = match inbox_in_batch.get(key) {
                        Some(seq) => Some(*seq),
                        None => log.inbox_get(key)?,
                    };
                    if let Some(seq) = seen {
                        outcomes.push(ExecuteOutcome::Duplicate { seq });
                        continue;
                    }
                }
                let events = match projection.decide(
                    execution.tenant,
                    execution.incident,
                    &execution.command,
                ) {
                    Err(rejection) => {
                        outcomes.push(ExecuteOutcome::Rejected(rejection));
                        continue;
                    }
                    Ok(events) if events.is_empty() => {
                        outcomes.push(ExecuteOutcome::Unchanged);
                        continue;
                    }
                    Ok(events) => events,
                };
                let correlation = execution.meta.correlation.unwrap_or_else(Uuid::now_v7);
                let mut causation = execution.meta.causation;
                let first_seq = next_seq;
                let mut stored = Vec::with_capacity(events.len());
                let mut records = Vec::with_capacity(events.len());
                let mut new_keyframes = Vec::new();
                for (index, event) in events.into_iter().enumerate() {
                    let record = StoredEvent {
                        seq: first_seq + index as u64,
                        event_id: Uuid::now_v7(),
                        recorded_at_ms: now,
                        tenant: execution.tenant,
                        incident: execution.incident,
                        causation,
                        correlation,
                        event,
                    };
                    // Events derived from the first (ClosedInSentinel, Reopened) name it as
                    // their cause, so the audit trail links them.
                    causation = Some(record.event_id);
                    let inbox = if index == 0 {
                        inbox_key.map(<[u8]>::to_vec)
                    } else {
                        None
                    };
                    let stream = (record.tenant, record.incident);
                    let prepared = match &record.event {
                        Event::IncidentObserved(observed) => {
                            let base = batch_keyframes
                                .get(&stream)
                                .or_else(|| self.keyframes.get(&stream))
                                .map(|(seq, raw_json)| Keyframe {
                                    seq: *seq,
                                    raw_json,
                                });
                            let prepared = PreparedEvent::against(&record, inbox, base);
                            if prepared.keyframe {
                                new_keyframes
                                    .push((stream, (record.seq, observed.raw_json.clone())));
                            }
                            prepared
                        }
                        _ => PreparedEvent::new(&record, inbox),
                    };
                    records.push(prepared);
                    stored.push(record);
                }
                // Refuse the whole execution before anything of it reaches the projection or
                // the log: a payload the log cannot decode would make the log unreadable.
                if let Some((record, event)) = records
                    .iter()
                    .zip(&stored)
                    .find(|(r, _)| r.payload_len > MAX_PAYLOAD_BYTES)
                {
                    let rejection = DecideError::TooLarge {
                        kind: event.event.kind().name(),
                        bytes: record.payload_len,
                        limit: MAX_PAYLOAD_BYTES,
                    };
                    tracing::error!(tenant = %execution.tenant, incident = %execution.incident,
                        %rejection, "event refused");
                    outcomes.push(ExecuteOutcome::Rejected(rejection));
                    continue;
                }
                if let Some(key) = inbox_key {
                    inbox_in_batch.insert(key, first_seq);
                }
                batch_keyframes.extend(new_keyframes);
                next_seq += stored.len() as u64;
                for record in &stored {
                    projection.apply(record);
                }
                prepared.extend(records);
                outcomes.push(ExecuteOutcome::Appended(stored));
            }
            all_outcomes.push(outcomes);
        }
        Ok((all_outcomes, prepared, batch_keyframes))
    }

    fn snapshot(&mut self) -> Result<u64, StoreError> {
        let (seq, bytes) = {
            let projection = self
                .shared
                .projection
                .read()
                .unwrap_or_else(|e| e.into_inner());
            (projection.last_seq, snapshot::encode(&projection))
        };
        if seq > 0 {
            self.shared
                .log
                .save_snapshot(seq, &bytes, self.config.snapshots_kept)?;
            // `seq` is durable (the snapshot was flushed after it): the open check may now
            // require the log to reach it (see guard::mark). A failure costs only that check.
            if let Err(error) = crate::guard::mark::write(self.shared.log.path(), seq) {
                tracing::warn!(%error, "cannot write the log's high-water mark");
            }
        }
        self.since_snapshot = 0;
        Ok(seq)
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
