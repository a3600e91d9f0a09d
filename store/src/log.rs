//! The sled database under the log: its trees, the atomic commit, reads and scans.
//!
//! Invariants:
//! - [`EventLog::commit`] writes a batch of events, their `by_incident` entries, the outbox
//!   insertions and removals they imply and their inbox keys in **one** sled transaction, so the
//!   indexes never disagree with the log, even after a crash.
//! - Nothing here decides what to write: callers (the single writer) assign sequence numbers and
//!   check them. This layer never skips a record: iteration reports undecodable records and gaps.
//! - `meta["store_format"]` is written when a log is created; opening a log whose format is newer
//!   than [`STORE_FORMAT`] fails with [`StoreError::NewerFormat`] before anything is written.
//! - Consumer cursors (the `cursors` tree) live beside the log, never inside it: setting one
//!   appends nothing and changes no event encoding; [`EventLog::set_cursor`] returns once the
//!   value is durable.

use std::path::{Path, PathBuf};

use sled::transaction::{
    ConflictableTransactionError, TransactionError, Transactional, TransactionalTree,
};

use crate::envelope::{EnvelopeError, Header, StoredEvent};
use crate::error::{DecodeError, StoreError};
use crate::events::{Event, Keyframe, NoBases, RawBases};
use crate::ids::{EffectId, IncidentKey, TenantId};
use crate::keys;

/// The layout version of the trees (not of the envelope, which has its own format byte).
pub const STORE_FORMAT: u32 = 1;

const META_FORMAT: &[u8] = b"store_format";

/// Longest cursor name accepted (names are ASCII keys such as `signl4_cl/contoso`).
pub const MAX_CURSOR_NAME: usize = 200;

/// Tuning of the sled database.
#[derive(Clone, Debug)]
pub struct OpenOptions {
    /// sled's page cache in bytes. The log is read mostly at start, so it can be small.
    pub cache_bytes: u64,
    /// Run sled's background flusher (every 500 ms), which also reclaims the space of
    /// rewritten pages (snapshots, outbox entries). Every commit is flushed explicitly anyway.
    ///
    /// Keep it on: a test run with it off (several logs in one process) hung with the writer
    /// waiting for sled's process-wide lock, so explicit flushes alone are not enough for sled.
    pub background_flush: bool,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            cache_bytes: 64 << 20,
            background_flush: true,
        }
    }
}

/// One event ready to commit: encoded, with what it does to the indexes.
#[derive(Clone, Debug)]
pub struct PreparedEvent {
    pub seq: u64,
    pub tenant: TenantId,
    pub incident: IncidentKey,
    /// The envelope bytes.
    pub record: Vec<u8>,
    /// The payload's length before compression (what decoding is bounded by).
    pub payload_len: usize,
    /// An observation stored as a keyframe: later ones of its incident may be stored against it.
    pub keyframe: bool,
    /// An intent: insert into the outbox.
    pub opens: Option<EffectId>,
    /// An outcome: remove from the outbox.
    pub closes: Option<EffectId>,
    /// An inbound notification's dedup key.
    pub inbox_key: Option<Vec<u8>>,
}

impl PreparedEvent {
    /// Encodes `event` with its index effects (an observation as a keyframe).
    pub fn new(event: &StoredEvent, inbox_key: Option<Vec<u8>>) -> PreparedEvent {
        PreparedEvent::against(event, inbox_key, None)
    }

    /// Encodes `event` with its index effects, an observation's raw JSON against `keyframe`
    /// (the same incident's last keyframe observation, at a lower seq) when that pays.
    pub fn against(
        event: &StoredEvent,
        inbox_key: Option<Vec<u8>>,
        keyframe: Option<Keyframe<'_>>,
    ) -> PreparedEvent {
        let encoded = event.encode_against(keyframe);
        PreparedEvent {
            seq: event.seq,
            tenant: event.tenant,
            incident: event.incident,
            record: encoded.bytes,
            payload_len: encoded.payload_len,
            keyframe: encoded.keyframe,
            opens: event.event.opens_effect(),
            closes: event.event.closes_effect(),
            inbox_key,
        }
    }
}

/// The open database and its trees.
#[derive(Clone)]
pub struct EventLog {
    path: PathBuf,
    db: sled::Db,
    pub(crate) events: sled::Tree,
    pub(crate) by_incident: sled::Tree,
    pub(crate) outbox: sled::Tree,
    pub(crate) inbox: sled::Tree,
    pub(crate) snapshots: sled::Tree,
    meta: sled::Tree,
    /// Consumers' positions in the log (see [`EventLog::cursor`]).
    cursors: sled::Tree,
}

impl EventLog {
    /// Opens (or creates) the log in directory `path`.
    pub fn open(path: &Path, options: &OpenOptions) -> Result<EventLog, StoreError> {
        let db = open_db(path, options)?;
        let tree = |name: &str| db.open_tree(name).map_err(StoreError::io("opening a tree"));
        let log = EventLog {
            path: path.to_path_buf(),
            events: tree("events")?,
            by_incident: tree("by_incident")?,
            outbox: tree("outbox")?,
            inbox: tree("inbox")?,
            snapshots: tree("snapshots")?,
            meta: tree("meta")?,
            cursors: tree("cursors")?,
            db,
        };
        log.check_format()?;
        Ok(log)
    }

    fn check_format(&self) -> Result<(), StoreError> {
        match self
            .meta
            .get(META_FORMAT)
            .map_err(StoreError::io("reading meta"))?
        {
            Some(bytes) => {
                let found = <[u8; 4]>::try_from(bytes.as_ref())
                    .map(u32::from_be_bytes)
                    .map_err(|_| StoreError::BadMeta {
                        path: self.path.clone(),
                        key: "store_format".into(),
                    })?;
                if found > STORE_FORMAT {
                    return Err(StoreError::NewerFormat {
                        path: self.path.clone(),
                        found,
                        supported: STORE_FORMAT,
                    });
                }
            }
            None => {
                self.meta
                    .insert(META_FORMAT, &STORE_FORMAT.to_be_bytes())
                    .map_err(StoreError::io("writing meta"))?;
                self.flush()?;
            }
        }
        Ok(())
    }

    /// The directory of the log.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes a meta entry (used by tests to simulate a log from a newer build).
    pub fn set_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.meta
            .insert(key.as_bytes(), value)
            .map_err(StoreError::io("writing meta"))?;
        Ok(())
    }

    /// The durable position of consumer `name` (the last seq it finished with), 0 when it was
    /// never set. Consumers of the log that deliver it elsewhere (the `SIGNL4_CL` shipper) keep
    /// their progress here so that a restart resumes where the last confirmed delivery ended.
    pub fn cursor(&self, name: &str) -> Result<u64, StoreError> {
        match self
            .cursors
            .get(cursor_key(name)?)
            .map_err(StoreError::io("reading a cursor"))?
        {
            None => Ok(0),
            Some(bytes) => keys::event_seq(&bytes).ok_or_else(|| StoreError::BadMeta {
                path: self.path.clone(),
                key: format!("cursors/{name}"),
            }),
        }
    }

    /// Sets consumer `name`'s position to `seq` and returns once that is durable (flushed).
    pub fn set_cursor(&self, name: &str, seq: u64) -> Result<(), StoreError> {
        self.cursors
            .insert(cursor_key(name)?, &keys::event(seq))
            .map_err(StoreError::io("writing a cursor"))?;
        self.flush()?;
        Ok(())
    }

    /// The highest sequence number in the log, 0 when empty.
    pub fn last_seq(&self) -> Result<u64, StoreError> {
        self.edge_seq(self.events.last())
    }

    /// The lowest sequence number in the log, 0 when empty.
    pub fn first_seq(&self) -> Result<u64, StoreError> {
        self.edge_seq(self.events.first())
    }

    fn edge_seq(
        &self,
        entry: sled::Result<Option<(sled::IVec, sled::IVec)>>,
    ) -> Result<u64, StoreError> {
        match entry.map_err(StoreError::io("reading the log's end"))? {
            None => Ok(0),
            Some((key, _)) => keys::event_seq(&key).ok_or_else(|| StoreError::BadKey {
                key_hex: keys::hex(&key),
            }),
        }
    }

    /// Records the log should hold, from its first and last keys (no scan: for progress bars,
    /// where [`EventLog::len`] would read every record before the work starts).
    pub fn expected_len(&self) -> Result<u64, StoreError> {
        let (first, last) = (self.first_seq()?, self.last_seq()?);
        Ok(if last == 0 { 0 } else { last - first + 1 })
    }

    /// Number of records in the log (reads every record).
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// True when the log holds no event.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Commits a batch atomically (not yet durable: call [`EventLog::flush`]).
    pub fn commit(&self, batch: &[PreparedEvent]) -> Result<(), StoreError> {
        // Most batches (observations) touch neither outbox nor inbox; a transaction over fewer
        // trees is measurably cheaper in sled, and atomicity is the same.
        let side_trees = batch
            .iter()
            .any(|e| e.opens.is_some() || e.closes.is_some() || e.inbox_key.is_some());
        let result: Result<(), TransactionError<()>> = if side_trees {
            (&self.events, &self.by_incident, &self.outbox, &self.inbox).transaction(
                |(events, by_incident, outbox, inbox)| {
                    write_batch(batch, events, by_incident, Some((outbox, inbox)))
                },
            )
        } else {
            (&self.events, &self.by_incident)
                .transaction(|(events, by_incident)| write_batch(batch, events, by_incident, None))
        };
        result.map_err(|e| match e {
            TransactionError::Storage(source) => StoreError::Io {
                doing: "committing events",
                source,
            },
            TransactionError::Abort(()) => unreachable!("the commit closure never aborts"),
        })
    }

    /// Makes every commit so far durable.
    pub fn flush(&self) -> Result<usize, StoreError> {
        self.db.flush().map_err(StoreError::io("flushing the log"))
    }

    /// Reads and decodes the event at `seq`.
    pub fn read(&self, seq: u64) -> Result<Option<StoredEvent>, StoreError> {
        let key = keys::event(seq);
        match self
            .events
            .get(key)
            .map_err(StoreError::io("reading an event"))?
        {
            None => Ok(None),
            Some(bytes) => Ok(Some(decode_record_with(
                seq,
                &key,
                &bytes,
                &mut self.bases(),
            )?)),
        }
    }

    /// Raw records from `seq` on, in order: `(seq, bytes)`.
    pub fn raw_from(
        &self,
        seq: u64,
    ) -> impl Iterator<Item = Result<(u64, sled::IVec), StoreError>> + '_ {
        self.events.range(keys::event(seq)..).map(|entry| {
            let (key, value) = entry.map_err(StoreError::io("iterating the log"))?;
            let seq = keys::event_seq(&key).ok_or_else(|| StoreError::BadKey {
                key_hex: keys::hex(&key),
            })?;
            Ok((seq, value))
        })
    }

    /// Decoded events from `seq` on, in order; a gap or an undecodable record ends the iteration
    /// with an error naming it.
    pub fn events_from(
        &self,
        seq: u64,
    ) -> impl Iterator<Item = Result<StoredEvent, StoreError>> + '_ {
        let mut expected: Option<u64> = None;
        let mut bases = self.bases();
        self.raw_from(seq).map(move |entry| {
            let (seq, bytes) = entry?;
            if let Some(expected) = expected {
                if seq != expected {
                    return Err(StoreError::Gap {
                        expected,
                        found: seq,
                    });
                }
            }
            expected = Some(seq + 1);
            Ok(decode_record_with(
                seq,
                &keys::event(seq),
                &bytes,
                &mut bases,
            )?)
        })
    }

    /// Every event of one incident, in order.
    pub fn incident_events(
        &self,
        tenant: TenantId,
        incident: IncidentKey,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let mut out = Vec::new();
        let mut bases = self.bases();
        for entry in self
            .by_incident
            .scan_prefix(keys::incident_prefix(tenant, incident))
        {
            let (key, _) = entry.map_err(StoreError::io("scanning an incident"))?;
            let (_, _, seq) = keys::split_by_incident(&key).ok_or_else(|| StoreError::BadKey {
                key_hex: keys::hex(&key),
            })?;
            let key = keys::event(seq);
            let bytes = self
                .events
                .get(key)
                .map_err(StoreError::io("reading an event"))?;
            if let Some(bytes) = bytes {
                out.push(decode_record_with(seq, &key, &bytes, &mut bases)?);
            }
        }
        Ok(out)
    }

    /// Open intents: `(effect, seq of the intent)`.
    pub fn outbox(&self) -> Result<Vec<(EffectId, u64)>, StoreError> {
        self.outbox
            .iter()
            .map(|entry| {
                let (key, value) = entry.map_err(StoreError::io("reading the outbox"))?;
                let effect = uuid::Uuid::from_slice(&key).map_err(|_| StoreError::BadKey {
                    key_hex: keys::hex(&key),
                })?;
                let seq = keys::event_seq(&value).ok_or_else(|| StoreError::BadKey {
                    key_hex: keys::hex(&value),
                })?;
                Ok((EffectId(effect), seq))
            })
            .collect()
    }

    /// The seq that recorded inbound notification `key`, if it was recorded.
    pub fn inbox_get(&self, key: &[u8]) -> Result<Option<u64>, StoreError> {
        Ok(self
            .inbox
            .get(key)
            .map_err(StoreError::io("reading the inbox"))?
            .and_then(|v| keys::event_seq(&v)))
    }

    /// Stores a snapshot taken at `seq` and keeps only the newest `keep`.
    pub fn save_snapshot(&self, seq: u64, bytes: &[u8], keep: usize) -> Result<(), StoreError> {
        self.snapshots
            .insert(keys::snapshot(seq), bytes)
            .map_err(StoreError::io("writing a snapshot"))?;
        let all: Vec<_> = self
            .snapshots
            .iter()
            .keys()
            .collect::<Result<_, _>>()
            .map_err(StoreError::io("listing snapshots"))?;
        for old in all.iter().rev().skip(keep.max(1)) {
            self.snapshots
                .remove(old)
                .map_err(StoreError::io("pruning snapshots"))?;
        }
        crate::crash::point("store.snapshot.before_flush");
        self.flush()?;
        Ok(())
    }

    /// Snapshots, newest first: `(seq, bytes)`.
    pub fn snapshots_newest_first(&self) -> Result<Vec<(u64, sled::IVec)>, StoreError> {
        self.snapshots
            .iter()
            .rev()
            .map(|entry| {
                let (key, value) = entry.map_err(StoreError::io("reading snapshots"))?;
                let seq = keys::event_seq(&key).ok_or_else(|| StoreError::BadKey {
                    key_hex: keys::hex(&key),
                })?;
                Ok((seq, value))
            })
            .collect()
    }

    /// Reads every entry of every tree once, reporting each key to `watch` (the open check:
    /// a damaged page is found here, with its tree and the last key before it, instead of by
    /// the first reader that reaches it).
    pub fn traverse(&self, watch: &crate::guard::Watch) -> Result<u64, StoreError> {
        let trees: [(&'static str, &sled::Tree); 7] = [
            ("meta", &self.meta),
            ("cursors", &self.cursors),
            ("snapshots", &self.snapshots),
            ("outbox", &self.outbox),
            ("inbox", &self.inbox),
            ("by_incident", &self.by_incident),
            ("events", &self.events),
        ];
        let mut entries = 0;
        for (name, tree) in trees {
            watch.enter_tree(name);
            // Tests stand in for a sled step that spins or panics here (`FAILPOINTS=
            // "store.open.each_tree=sleep(60000)"` or `=panic(..)`); not a crash point.
            #[cfg(feature = "failpoints")]
            fail::fail_point!("store.open.each_tree");
            for entry in tree.iter() {
                let (key, _) = entry.map_err(StoreError::io("reading every tree"))?;
                watch.step_key(&key);
                entries += 1;
            }
        }
        Ok(entries)
    }

    /// The open check of a start ([`crate::guard::open_checked`]): reads what a start reads and
    /// the ends of everything else, so its cost does not grow with the log.
    ///
    /// - `meta`, `cursors` and `outbox` are read whole: they are small (a few keys, the open
    ///   intents), and a start reads them.
    /// - `inbox` and `by_incident` are read at their first and last entry: sled walks from the
    ///   tree's root to both ends, so a damaged root or index page is found here.
    /// - `snapshots` is read at its last entry only, the newest snapshot, which replay reads
    ///   next (from sled's cache): each is the size of the projection, so reading every kept
    ///   one would cost a start several times that. An older one is read only if the newest
    ///   does not decode, by the replay, under the same deadlines.
    /// - `events` is read at its first entry and its last `tail` records, each decoded, with
    ///   their sequence numbers contiguous (replay from the snapshot reads the rest it needs).
    ///
    /// Damage elsewhere in the middle of a tree is found by `verify` (and every read-only
    /// command), which reads every tree whole ([`EventLog::traverse`]).
    pub fn check_ends(&self, watch: &crate::guard::Watch, tail: u64) -> Result<(), StoreError> {
        let whole: [(&'static str, &sled::Tree); 3] = [
            ("meta", &self.meta),
            ("cursors", &self.cursors),
            ("outbox", &self.outbox),
        ];
        for (name, tree) in whole {
            watch.enter_tree(name);
            #[cfg(feature = "failpoints")]
            fail::fail_point!("store.open.each_tree");
            for entry in tree.iter() {
                let (key, _) = entry.map_err(StoreError::io("reading the log's trees"))?;
                watch.step_key(&key);
            }
        }
        let ends: [(&'static str, &sled::Tree, bool); 3] = [
            ("snapshots", &self.snapshots, false),
            ("inbox", &self.inbox, true),
            ("by_incident", &self.by_incident, true),
        ];
        for (name, tree, both) in ends {
            watch.enter_tree(name);
            #[cfg(feature = "failpoints")]
            fail::fail_point!("store.open.each_tree");
            let first = if both { tree.first() } else { Ok(None) };
            for end in [first, tree.last()] {
                if let Some((key, _)) = end.map_err(StoreError::io("reading the log's trees"))? {
                    watch.step_key(&key);
                }
            }
        }
        watch.enter_tree("events");
        #[cfg(feature = "failpoints")]
        fail::fail_point!("store.open.each_tree");
        let first = self.first_seq()?;
        let last = self.last_seq()?;
        if last == 0 {
            return Ok(());
        }
        watch.step_key(&keys::event(first));
        let from = last.saturating_sub(tail.saturating_sub(1)).max(first);
        let mut bases = self.bases();
        for (expected, entry) in (from..).zip(self.raw_from(from)) {
            let (seq, bytes) = entry?;
            if seq != expected {
                return Err(StoreError::Gap {
                    expected,
                    found: seq,
                });
            }
            let key = keys::event(seq);
            decode_record_with(seq, &key, &bytes, &mut bases)?;
            watch.step_key(&key);
        }
        Ok(())
    }

    /// A reader of the keyframes that delta-stored observations of this log refer to (one per
    /// pass over the log: it caches what it read).
    pub fn bases(&self) -> LogBases<'_> {
        LogBases {
            log: self,
            cache: rustc_hash::FxHashMap::default(),
        }
    }

    /// Bytes sled uses on disk for this log.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        self.db
            .size_on_disk()
            .map_err(StoreError::io("measuring size"))
    }

    /// Overwrites a record with raw bytes. Only for tests that need a corrupt record.
    #[doc(hidden)]
    pub fn overwrite_raw(&self, seq: u64, bytes: &[u8]) -> Result<(), StoreError> {
        self.events
            .insert(keys::event(seq), bytes)
            .map_err(StoreError::io("overwriting a record"))?;
        self.flush()?;
        Ok(())
    }

    /// Removes a record. Only for tests that need a gap.
    #[doc(hidden)]
    pub fn remove_raw(&self, seq: u64) -> Result<(), StoreError> {
        self.events
            .remove(keys::event(seq))
            .map_err(StoreError::io("removing a record"))?;
        self.flush()?;
        Ok(())
    }
}

/// The key of cursor `name`: its ASCII bytes, refused when empty, too long or not printable
/// (a programming error of the caller, reported rather than stored under an odd key).
fn cursor_key(name: &str) -> Result<&[u8], StoreError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_CURSOR_NAME
        && name.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(name.as_bytes())
    } else {
        Err(StoreError::BadKey {
            key_hex: keys::hex(name.as_bytes()),
        })
    }
}

/// The body of the commit transaction; may run more than once, so it only writes.
fn write_batch(
    batch: &[PreparedEvent],
    events: &TransactionalTree,
    by_incident: &TransactionalTree,
    side: Option<(&TransactionalTree, &TransactionalTree)>,
) -> Result<(), ConflictableTransactionError<()>> {
    for event in batch {
        let seq = keys::event(event.seq);
        events.insert(&seq[..], event.record.as_slice())?;
        let index = keys::by_incident(event.tenant, event.incident, event.seq);
        by_incident.insert(&index[..], &[][..])?;
        if let Some((outbox, inbox)) = side {
            if let Some(effect) = event.opens {
                outbox.insert(&keys::outbox(effect)[..], &seq[..])?;
            }
            if let Some(effect) = event.closes {
                outbox.remove(&keys::outbox(effect)[..])?;
            }
            if let Some(key) = &event.inbox_key {
                inbox.insert(key.as_slice(), &seq[..])?;
            }
        }
    }
    Ok(())
}

/// Decodes one record that needs no other, naming it on failure (an observation stored as a
/// delta needs its keyframe: [`decode_record_with`]).
pub fn decode_record(seq: u64, key: &[u8], bytes: &[u8]) -> Result<StoredEvent, DecodeError> {
    decode_record_with(seq, key, bytes, &mut NoBases)
}

/// Decodes one record, reading a delta-stored raw JSON's keyframe through `bases`, naming the
/// record on failure.
pub fn decode_record_with(
    seq: u64,
    key: &[u8],
    bytes: &[u8],
    bases: &mut dyn RawBases,
) -> Result<StoredEvent, DecodeError> {
    let named = |source| DecodeError {
        seq,
        key_hex: keys::hex(key),
        source,
    };
    let event = StoredEvent::decode_with(bytes, bases).map_err(named)?;
    if event.seq != seq {
        return Err(named(EnvelopeError::SeqMismatch {
            key: seq,
            header: event.seq,
        }));
    }
    Ok(event)
}

/// The raw JSON of keyframe record `bytes` (at `seq`), checked to be an observation of `tenant`
/// and `incident` stored as a keyframe: what a delta of that incident may refer to.
pub fn keyframe_raw(
    seq: u64,
    bytes: &[u8],
    tenant: TenantId,
    incident: IncidentKey,
) -> Result<String, String> {
    let (header, _) = Header::read(bytes).map_err(|e| format!("record at seq {seq}: {e}"))?;
    if (header.tenant, header.incident) != (tenant, incident) {
        return Err(format!(
            "the record at seq {seq} belongs to incident {} of tenant {}, not to this one",
            header.incident, header.tenant.0
        ));
    }
    match StoredEvent::decode(bytes) {
        Ok(StoredEvent {
            event: Event::IncidentObserved(observed),
            ..
        }) => Ok(observed.raw_json),
        Ok(other) => Err(format!(
            "the record at seq {seq} is {}, not an observation",
            other.event.kind().name()
        )),
        Err(e) => Err(format!("the record at seq {seq} is not a keyframe: {e}")),
    }
}

/// Keyframes read so far in one pass over the log are kept up to this many.
const BASES_CACHED: usize = 4_096;

/// Reads the keyframes that delta-stored observations refer to from the log, keeping the
/// recent ones (a replay meets each keyframe's deltas soon after it; see [`EventLog::bases`]).
pub struct LogBases<'a> {
    log: &'a EventLog,
    cache: rustc_hash::FxHashMap<u64, (TenantId, IncidentKey, String)>,
}

impl RawBases for LogBases<'_> {
    fn keyframe(
        &mut self,
        seq: u64,
        tenant: TenantId,
        incident: IncidentKey,
    ) -> Result<&str, String> {
        if !self.cache.contains_key(&seq) {
            let bytes = self
                .log
                .events
                .get(keys::event(seq))
                .map_err(|e| format!("reading seq {seq}: {e}"))?
                .ok_or_else(|| format!("seq {seq} is not in the log"))?;
            let raw = keyframe_raw(seq, &bytes, tenant, incident)?;
            if self.cache.len() >= BASES_CACHED {
                self.cache.clear();
            }
            self.cache.insert(seq, (tenant, incident, raw));
        }
        let (t, i, raw) = &self.cache[&seq];
        if (*t, *i) != (tenant, incident) {
            return Err(format!(
                "the record at seq {seq} belongs to incident {i} of tenant {}, not to this one",
                t.0
            ));
        }
        Ok(raw)
    }

    fn decoded_keyframe(&mut self, seq: u64, tenant: TenantId, incident: IncidentKey, raw: &str) {
        if self.cache.len() >= BASES_CACHED {
            self.cache.clear();
        }
        self.cache.insert(seq, (tenant, incident, raw.to_string()));
    }
}

/// How long an open waits for a handle of this same process that is still closing the log.
const SAME_PROCESS_CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Opens the sled database, waiting (bounded) while a handle of this very process still holds
/// its lock.
///
/// sled releases its file lock only when the last of its background threads lets go of the
/// file, which can be a moment after `Store::shutdown` returned (seen under load: a reopen right
/// after a shutdown failed with `WouldBlock`). A lock held by *another* process is reported at
/// once with the hint to audit a copy.
fn open_db(path: &Path, options: &OpenOptions) -> Result<sled::Db, StoreError> {
    let deadline = std::time::Instant::now() + SAME_PROCESS_CLOSE_WAIT;
    loop {
        let opened = sled::Config::new()
            .path(path)
            .cache_capacity(options.cache_bytes)
            .flush_every_ms(options.background_flush.then_some(500))
            .open();
        let source = match opened {
            Ok(db) => return Ok(db),
            Err(source) => source,
        };
        let locked = matches!(&source, sled::Error::Io(e)
            if e.kind() == std::io::ErrorKind::WouldBlock
                || e.to_string().contains("could not acquire lock"));
        let ours = locked && this_process_has_open(&path.join("db"));
        if ours && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
            continue;
        }
        let hint = match (locked, ours) {
            (true, true) => {
                " (a handle of this process still holds it and did not close within 10 s)"
            }
            (true, false) => {
                " (another process, probably a running connector, has it open: sled allows \
                 one process per log. Audit a copy instead: pass --copy, or copy the \
                 directory and point --data-dir at the copy)"
            }
            _ => "",
        };
        return Err(StoreError::Open {
            path: path.to_path_buf(),
            source,
            hint,
        });
    }
}

/// True when one of this process's file descriptors points at `file` (Linux `/proc`; false
/// where it cannot be told, so the lock error is then reported at once).
fn this_process_has_open(file: &Path) -> bool {
    let Ok(target) = std::fs::canonicalize(file) else {
        return false;
    };
    let Ok(fds) = std::fs::read_dir("/proc/self/fd") else {
        return false;
    };
    fds.flatten()
        .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|link| link == target))
}
