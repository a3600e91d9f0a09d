//! Shipper: the connector's SIGNL4 activity into the workspace's `SIGNL4_CL` table through the
//! Azure Monitor Logs Ingestion API, so security teams can query how fast on-call people respond.
//!
//! It reads the event log after a durable cursor, turns each Signl lifecycle event of its
//! connector into a row ([`row`]), packs rows into JSON arrays under
//! [`ShipperSettings::max_batch_bytes`] and POSTs them in log order.
//!
//! Invariants:
//! - **Durable cursor.** `cursors["signl4_cl/{connector}"]` holds the last seq whose row (if it
//!   has one) the service accepted with a 204. It moves only after a 204 (or over events that
//!   make no row), and it is flushed before the next batch is sent, so a restart resumes at the
//!   first row not confirmed.
//! - **At-least-once.** A crash between a 204 and its cursor write sends that batch again after
//!   the restart, and nothing else twice; the service does not deduplicate, so every row carries
//!   the log record's `EventId` and queries deduplicate on it (docs/signl4_cl.md).
//! - **Only durable events.** A pass reads only up to the seq the writer has already flushed
//!   (`Store::durable_seq`; the shipper never flushes the log itself): a row never describes an
//!   event that a crash could take back.
//! - **Bounded failure handling, never an endless loop.** 429 and 5xx (and resets, timeouts)
//!   are retried in place with `Retry-After` and jittered backoff ([`crate::retry`]) within the
//!   backoff's bounds; past them the pass ends and the next tick resumes at the cursor. A 413
//!   splits the batch in halves. A 400 (or a single row still too large) means the rule and the
//!   rows disagree: retrying cannot help and skipping would lose rows, so the shipper *halts*
//!   at that batch (error logged with the service's words, `rejected_batches` counted, cursor
//!   unmoved) until the connector is restarted with a fixed rule or stream. 401/403/404 wait for
//!   the next tick (a role assignment being granted needs no restart).
//! - Passes never overlap (`ShipNow` is an atomic response), so rows leave in seq order.

mod actor;
mod handlers;
pub mod row;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::time::Duration;

use store::aggregate::Incident;
use store::{IncidentKey, Store, StoreError, StoredEvent, TenantId};
use uuid::Uuid;

use crate::ports::{ApiError, LogsIngestionApi};
use crate::retry::{retry, Backoff};
use row::RowSource;

/// The stream of the custom table, as `deploy/signl4_cl/` declares it.
pub const DEFAULT_STREAM: &str = "Custom-SIGNL4_CL";

/// Largest request body sent: under the service's documented 1 MB per call.
pub const MAX_BATCH_BYTES: usize = 1_000_000;

/// Default time between passes.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);

/// Events read from the log per chunk of a pass (bounds the rows held in memory).
const EVENTS_PER_CHUNK: usize = 20_000;

/// Incident states kept between events; past this the least recently used half is dropped
/// (rebuilding one incident's state reads only that incident's events).
const CACHED_INCIDENTS: usize = 8_192;

/// How one connector's shipper behaves.
#[derive(Clone, Debug, PartialEq)]
pub struct ShipperSettings {
    /// The connector's configured name (its tenant stream and the `Connector` column).
    pub connector: String,
    /// The workspace's Entra tenant (the `AzureTenantId` column).
    pub azure_tenant_id: String,
    /// The DCR stream the port uploads to (named in error messages).
    pub stream: String,
    /// Time between passes.
    pub interval: Duration,
    /// Largest request body; at most [`MAX_BATCH_BYTES`] against the real service.
    pub max_batch_bytes: usize,
    /// Retry bounds of one upload.
    pub backoff: Backoff,
}

impl ShipperSettings {
    /// Defaults for connector `connector` of Entra tenant `azure_tenant_id`.
    pub fn new(connector: &str, azure_tenant_id: &str) -> ShipperSettings {
        ShipperSettings {
            connector: connector.to_string(),
            azure_tenant_id: azure_tenant_id.to_string(),
            stream: DEFAULT_STREAM.to_string(),
            interval: DEFAULT_INTERVAL,
            max_batch_bytes: MAX_BATCH_BYTES,
            backoff: Backoff::default(),
        }
    }

    /// The name of this shipper's cursor in the log.
    pub fn cursor_name(&self) -> String {
        format!("signl4_cl/{}", self.connector)
    }
}

/// Counters of one shipper since it started, for tests, the demo and operators' logs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ShipperStats {
    /// The cursor: every row up to this seq was accepted.
    pub cursor: u64,
    /// Rows accepted (204), re-sends included.
    pub rows_shipped: u64,
    /// Calls answered 204.
    pub batches_shipped: u64,
    /// Upload calls made, retries and refused ones included.
    pub calls: u64,
    /// Calls repeated after a 429, 5xx or transport failure.
    pub retries: u64,
    /// Batches split in halves after a 413.
    pub splits: u64,
    /// Batches the service refused (400, or one row still too large): the shipper halts.
    pub rejected_batches: u64,
    /// Why the shipper halted, if it did.
    pub halted: Option<String>,
    /// The last failure, if any.
    pub last_error: Option<String>,
}

/// What one pass did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PassReport {
    /// Rows accepted in this pass.
    pub rows: u64,
    /// Calls answered 204 in this pass.
    pub batches: u64,
    /// The cursor at the end of the pass.
    pub cursor: u64,
}

/// Why a pass ended early.
#[derive(Clone, Debug, thiserror::Error)]
pub enum ShipError {
    /// The log could not be read or the cursor written.
    #[error("event log: {0}")]
    Store(#[from] StoreError),
    /// The service refused a batch; nothing more is sent until a restart.
    #[error("halted: {0}")]
    Halted(String),
    /// A failure that may pass (throttling past the retry bounds, an outage, a missing role
    /// assignment): the next pass resumes at the cursor.
    #[error("deferred to the next pass: {0}")]
    Deferred(ApiError),
    /// The test hook `ShipContext::crash_after_uploads` fired (crash-test builds only).
    #[cfg(feature = "failpoints")]
    #[error("simulated crash between a 204 and its cursor write")]
    SimulatedCrash,
}

/// Everything a pass needs; shared with the pass in flight.
pub struct ShipContext<L> {
    pub settings: ShipperSettings,
    pub store: Store,
    pub api: L,
    /// Test hook: after this many accepted uploads, skip that upload's cursor write and halt,
    /// as if the process had been killed between the 204 and the write. Only in crash-test
    /// builds (feature `failpoints`, which the root package's tests enable), never in the product.
    #[cfg(feature = "failpoints")]
    pub crash_after_uploads: Option<u64>,
    source: RowSource,
    uploads: Cell<u64>,
    stats: RefCell<ShipperStats>,
    cache: RefCell<HashMap<IncidentKey, Cached>>,
}

/// An incident's state (and the provenance the rows need) folded through event `through`.
struct Cached {
    state: Incident,
    provenance: row::Provenance,
    through: u64,
}

/// Rows of one chunk: `(seq, row JSON)`, in seq order.
type Rows = Vec<(u64, Vec<u8>)>;

impl<L: LogsIngestionApi> ShipContext<L> {
    /// A context for `settings` on `store`, uploading through `api`.
    pub fn new(settings: ShipperSettings, store: Store, api: L) -> Self {
        let source = RowSource {
            connector: settings.connector.clone(),
            tenant: TenantId::from_name(&settings.connector),
            azure_tenant_id: settings.azure_tenant_id.clone(),
        };
        ShipContext {
            settings,
            store,
            api,
            #[cfg(feature = "failpoints")]
            crash_after_uploads: None,
            source,
            uploads: Cell::new(0),
            stats: RefCell::new(ShipperStats::default()),
            cache: RefCell::new(HashMap::new()),
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> ShipperStats {
        self.stats.borrow().clone()
    }

    /// Ships everything the log holds beyond the cursor, in chunks, until caught up or a failure
    /// ends the pass.
    pub async fn ship(&self) -> Result<PassReport, ShipError> {
        if let Some(reason) = self.stats.borrow().halted.clone() {
            return Err(ShipError::Halted(reason));
        }
        let result = self.pass().await;
        if let Err(error) = &result {
            let mut stats = self.stats.borrow_mut();
            stats.last_error = Some(error.to_string());
            if let ShipError::Halted(reason) = error {
                stats.halted = Some(reason.clone());
            }
        }
        result
    }

    async fn pass(&self) -> Result<PassReport, ShipError> {
        let log = self.store.log();
        let name = self.settings.cursor_name();
        // Only what the writer has flushed: a crash cannot take it back. (The shipper never
        // flushes itself: see `Store::set_cursor` for why all flushes stay on the writer.)
        let last = self.store.durable_seq();
        let mut cursor = log.cursor(&name)?;
        if cursor > last {
            tracing::warn!(
                connector = %self.settings.connector, cursor, last,
                "SIGNL4_CL cursor is past the end of the log (a restored backup?); starting at the end"
            );
            cursor = last;
            self.store.set_cursor(&name, cursor)?;
        }
        let mut report = PassReport {
            cursor,
            ..PassReport::default()
        };
        self.stats.borrow_mut().cursor = cursor;
        while report.cursor < last {
            let (rows, scanned_to) = self.collect(report.cursor + 1, last)?;
            if scanned_to <= report.cursor {
                // Nothing readable after the cursor although the log is longer: never spin.
                return Err(ShipError::Store(StoreError::Gap {
                    expected: report.cursor + 1,
                    found: last,
                }));
            }
            for batch in batches(rows, self.settings.max_batch_bytes) {
                self.deliver(&batch, &mut report).await?;
            }
            if scanned_to > report.cursor {
                // The tail of the chunk made no row (other tenants, non-Signl events).
                self.store.set_cursor(&name, scanned_to)?;
                report.cursor = scanned_to;
                self.stats.borrow_mut().cursor = scanned_to;
            }
        }
        Ok(report)
    }

    /// The rows of events `from..=last` (at most one chunk) and the last seq read.
    fn collect(&self, from: u64, last: u64) -> Result<(Rows, u64), StoreError> {
        let log = self.store.log();
        let mut rows = Vec::new();
        let mut scanned_to = from - 1;
        for stored in log.events_from(from).take(EVENTS_PER_CHUNK) {
            let stored = stored?;
            if stored.seq > last {
                break;
            }
            scanned_to = stored.seq;
            if stored.tenant != self.source.tenant || stored.incident.is_tenant_stream() {
                continue;
            }
            if let Some(row) = self.row_of(&stored)? {
                // Serialising a struct of strings and numbers cannot fail.
                rows.push((stored.seq, serde_json::to_vec(&row).unwrap_or_default()));
            }
        }
        Ok((rows, scanned_to))
    }

    /// The row of one event of this connector, folding it into the incident's cached state.
    fn row_of(&self, stored: &StoredEvent) -> Result<Option<row::Row>, StoreError> {
        let mut cache = self.cache.borrow_mut();
        let fresh = cache
            .get(&stored.incident)
            .is_some_and(|c| c.through < stored.seq);
        if !fresh {
            // Unknown, or folded past this event (a pass that failed and starts over): rebuild
            // from the incident's own events before this one.
            let mut state = Incident::new(stored.tenant, stored.incident);
            let mut provenance = row::Provenance::default();
            for earlier in self
                .store
                .log()
                .incident_events(stored.tenant, stored.incident)?
            {
                if earlier.seq >= stored.seq {
                    break;
                }
                state.apply(&earlier.event, earlier.recorded_at_ms);
                provenance.apply(&earlier.event);
            }
            if cache.len() >= CACHED_INCIDENTS {
                evict_older_half(&mut cache);
            }
            cache.insert(
                stored.incident,
                Cached {
                    state,
                    provenance,
                    through: 0,
                },
            );
        }
        let cached = cache.get_mut(&stored.incident).expect("inserted above");
        let row = row::row(&self.source, &cached.state, &cached.provenance, stored);
        cached.state.apply(&stored.event, stored.recorded_at_ms);
        cached.provenance.apply(&stored.event);
        cached.through = stored.seq;
        Ok(row)
    }

    /// Uploads one batch, splitting it on 413, and moves the cursor after each accepted part.
    async fn deliver(
        &self,
        batch: &[(u64, Vec<u8>)],
        report: &mut PassReport,
    ) -> Result<(), ShipError> {
        // Parts still to send, the next one last (halves are pushed second half first).
        let mut pending: Vec<&[(u64, Vec<u8>)]> = vec![batch];
        while let Some(part) = pending.pop() {
            let body = body(part);
            let (first, upto) = (part[0].0, part[part.len() - 1].0);
            let request_id = Uuid::new_v5(
                &Uuid::NAMESPACE_OID,
                format!("{}/{first}-{upto}", self.settings.cursor_name()).as_bytes(),
            );
            let (result, attempts) =
                retry(self.settings.backoff, || self.api.upload(&body, request_id)).await;
            {
                let mut stats = self.stats.borrow_mut();
                stats.calls += u64::from(attempts);
                stats.retries += u64::from(attempts.saturating_sub(1));
            }
            match result {
                Ok(()) => self.confirm(upto, part.len() as u64, report)?,
                Err(ApiError::Rejected { status: 413, .. }) if part.len() > 1 => {
                    self.stats.borrow_mut().splits += 1;
                    let (a, b) = part.split_at(part.len() / 2);
                    tracing::info!(
                        connector = %self.settings.connector, rows = part.len(), bytes = body.len(),
                        "SIGNL4_CL batch too large (413); sending it in halves"
                    );
                    pending.push(b);
                    pending.push(a);
                }
                Err(error @ ApiError::Rejected { status, .. })
                    if !matches!(status, 401 | 403 | 404) =>
                {
                    self.stats.borrow_mut().rejected_batches += 1;
                    let reason = format!(
                        "the Logs Ingestion API refused rows of events {first}..={upto} of \
                         connector {:?} ({error}); check that the data collection rule declares \
                         stream {:?} with the columns in deploy/signl4_cl/, then restart. The \
                         cursor stays at {}, so nothing is lost",
                        self.settings.connector, self.settings.stream, report.cursor
                    );
                    tracing::error!(connector = %self.settings.connector, %reason, "SIGNL4_CL shipping halted");
                    return Err(ShipError::Halted(reason));
                }
                Err(error) => return Err(ShipError::Deferred(error)),
            }
        }
        Ok(())
    }

    /// Records an accepted upload: the cursor moves to `upto` and is durable on return.
    fn confirm(&self, upto: u64, rows: u64, report: &mut PassReport) -> Result<(), ShipError> {
        self.uploads.set(self.uploads.get() + 1);
        {
            let mut stats = self.stats.borrow_mut();
            stats.rows_shipped += rows;
            stats.batches_shipped += 1;
        }
        report.rows += rows;
        report.batches += 1;
        #[cfg(feature = "failpoints")]
        if self.crash_after_uploads == Some(self.uploads.get()) {
            self.stats.borrow_mut().halted = Some("simulated crash".into());
            return Err(ShipError::SimulatedCrash);
        }
        self.store.set_cursor(&self.settings.cursor_name(), upto)?;
        report.cursor = upto;
        self.stats.borrow_mut().cursor = upto;
        Ok(())
    }
}

/// Drops the cached incidents whose last event is older than the median's (approximately the
/// least recently used half), so that a busy connector keeps its active incidents cached.
fn evict_older_half(cache: &mut HashMap<IncidentKey, Cached>) {
    let mut throughs: Vec<u64> = cache.values().map(|c| c.through).collect();
    let middle = throughs.len() / 2;
    let (_, median, _) = throughs.select_nth_unstable(middle);
    let median = *median;
    cache.retain(|_, c| c.through > median);
}

/// Packs rows into batches whose JSON array body stays within `max_bytes` (a single row larger
/// than that travels alone; the service's 413 then decides).
pub fn batches(rows: Rows, max_bytes: usize) -> Vec<Rows> {
    let mut out = Vec::new();
    let mut current: Rows = Vec::new();
    // "[" and "]", plus a "," before every row but the first.
    let mut size = 2;
    for (seq, row) in rows {
        let added = row.len() + usize::from(!current.is_empty());
        if !current.is_empty() && size + added > max_bytes {
            out.push(std::mem::take(&mut current));
            size = 2;
        }
        size += row.len() + usize::from(!current.is_empty());
        current.push((seq, row));
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// The JSON array of `rows`.
pub fn body(rows: &[(u64, Vec<u8>)]) -> Vec<u8> {
    let len = 2 + rows.iter().map(|(_, r)| r.len() + 1).sum::<usize>();
    let mut out = Vec::with_capacity(len);
    out.push(b'[');
    for (i, (_, row)) in rows.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(row);
    }
    out.push(b']');
    out
}

/// The shipper of one connector.
pub struct Shipper<L: LogsIngestionApi + 'static> {
    context: std::rc::Rc<ShipContext<L>>,
    /// Whether the halt was logged already (logged once, not every tick).
    halt_reported: bool,
}

impl<L: LogsIngestionApi + 'static> Shipper<L> {
    /// A shipper running `context`'s passes.
    pub fn new(context: ShipContext<L>) -> Self {
        Shipper {
            context: std::rc::Rc::new(context),
            halt_reported: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(sizes: &[usize]) -> Rows {
        sizes
            .iter()
            .enumerate()
            .map(|(i, n)| (i as u64 + 1, vec![b'x'; *n]))
            .collect()
    }

    #[test]
    fn batches_stay_under_the_limit_and_keep_the_order() {
        let all = rows(&[40, 40, 40, 40, 90, 10]);
        let packed = batches(all.clone(), 100);
        for batch in &packed {
            assert!(body(batch).len() <= 100 || batch.len() == 1);
        }
        let flat: Rows = packed.concat();
        assert_eq!(flat, all);
        assert_eq!(packed.len(), 4, "{packed:?}");
        assert_eq!(body(&rows(&[1, 1])), b"[x,x]".to_vec());
        assert!(batches(Vec::new(), 100).is_empty());
    }
}
