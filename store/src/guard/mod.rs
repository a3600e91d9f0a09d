//! The open check: a log is opened only if sled can read what a start needs, within a deadline.
//!
//! Why: sled 0.34 opens a log whose `db` has a zeroed page without complaint and then spins
//! (or panics) the first time a reader reaches that page, so a connector started on it and
//! every tool reading it hung with no output. The open check finds such damage up front:
//! 1. sled's small files (`conf`, `snap.*`) are checked by reading them first ([`files`]);
//! 2. sled opens the log, and the log is read on a child thread whose progress is watched
//!    ([`watch`]); a step that exceeds its budget, a panic, or a corruption error becomes a
//!    [`Damage`] that says what is damaged, where, and the recovery step;
//! 3. the log must reach the seq its high-water mark recorded ([`mark`]): sled reads a
//!    truncated `db` as a shorter sound log.
//!
//! Two depths of step 2, because a start must not slow down as the log grows:
//! - [`open_checked`] (a start, `Store::open`): the small trees whole, the index trees at both
//!   ends, the newest snapshot, and the last [`TAIL_EVENTS`] records of `events`, decoded and
//!   contiguous ([`EventLog::check_ends`]); a start then replays from the newest snapshot on the same
//!   watched thread ([`open_checked_then`]), which reads the rest of the tail. Its cost is
//!   bounded by the snapshot interval and the number of open intents, not by the log's length.
//!   When it meets corruption it reads every tree, as `verify` does, to name the same place.
//! - [`open_traversed`] (`verify`, `audit`, `export`, which read a private copy of the whole
//!   log anyway): every entry of every tree ([`EventLog::traverse`]).
//!
//! Invariants:
//! - Both return only a log whose checked parts were read, or an error; neither blocks its
//!   caller for longer than the [`Limits`] allow.
//! - Every read of a start, the replay from the snapshot included (and a replay from further
//!   back when the newest snapshot does not decode), runs under the deadlines.
//! - The check writes nothing of its own (sled itself writes on open: read-only callers open
//!   a private copy, see the CLI's `data_dir`).
//! - Damage in the middle of a large tree is not seen by a start; `verify` finds it, and a
//!   reader that reaches it at run time stalls the writer, which the watchdog reports.

pub mod damage;
pub mod files;
pub mod mark;
pub mod watch;

use std::path::{Path, PathBuf};

pub use damage::{Damage, Place};
pub use watch::{bounded, Limits, Watch, EXIT_DAMAGED};

use crate::error::StoreError;
use crate::log::{EventLog, OpenOptions};

/// Records of `events` before its end that a start reads and decodes even when the newest
/// snapshot is more recent (a damaged tail is then refused at start, not met by the writer).
pub const TAIL_EVENTS: u64 = 1_024;

/// Opens the log in `dir` after the bounded check of a start (see the module docs).
pub fn open_checked(
    dir: &Path,
    options: &OpenOptions,
    limits: Limits,
) -> Result<EventLog, StoreError> {
    open_checked_then(dir, options, limits, |_, _| Ok(())).map(|(log, ())| log)
}

/// [`open_checked`], then `then` on the same watched thread (a start's replay): every read of
/// a start is under the same deadlines, and sled's corruption errors in `then` become a
/// [`Damage`] with the place `then` reported on the [`Watch`].
pub fn open_checked_then<T, F>(
    dir: &Path,
    options: &OpenOptions,
    limits: Limits,
    then: F,
) -> Result<(EventLog, T), StoreError>
where
    T: Send + 'static,
    F: FnOnce(&EventLog, &Watch) -> Result<T, StoreError> + Send + 'static,
{
    let owned_dir = dir.to_path_buf();
    let options = options.clone();
    bounded(dir, limits, move |watch| {
        let log = open_sled(&owned_dir, &options, limits, watch)?;
        watch.enter("checking the ends of every tree of the log", limits.stall);
        if let Err(error) = log.check_ends(watch, TAIL_EVENTS) {
            let error = classify(&owned_dir, error, watch);
            if matches!(error.damage(), Some(Damage::Db { .. })) {
                // sled found corruption: read every tree as `verify` does, so that a start
                // names the damage where `verify` names it (the first damaged page in the same
                // order), not wherever the ends happened to meet it. Only a damaged log pays.
                watch.enter("reading every tree of the log", limits.stall);
                log.traverse(watch)
                    .map_err(|e| classify(&owned_dir, e, watch))?;
            }
            return Err(error);
        }
        check_mark(&owned_dir, &log)?;
        let value = then(&log, watch).map_err(|e| classify(&owned_dir, e, watch))?;
        Ok((log, value))
    })
    .map_err(StoreError::damaged)?
}

/// The full open check, for callers that run more bounded work after it on the same thread
/// (the CLI's read-only commands): checks the files, opens, and reads every tree once.
pub fn open_traversed(
    dir: &Path,
    options: &OpenOptions,
    limits: Limits,
    watch: &Watch,
) -> Result<EventLog, StoreError> {
    let log = open_sled(dir, options, limits, watch)?;
    watch.enter("reading every tree of the log", limits.stall);
    log.traverse(watch).map_err(|e| classify(dir, e, watch))?;
    check_mark(dir, &log)?;
    Ok(log)
}

/// Steps 1 and 2 of both checks: sled's small files, then sled's open.
fn open_sled(
    dir: &Path,
    options: &OpenOptions,
    limits: Limits,
    watch: &Watch,
) -> Result<EventLog, StoreError> {
    files::check(dir).map_err(StoreError::damaged)?;
    watch.enter("opening sled's files", limits.open_budget(dir_bytes(dir)));
    EventLog::open(dir, options).map_err(|e| classify(dir, e, watch))
}

/// Step 3: the log reaches its high-water mark.
fn check_mark(dir: &Path, log: &EventLog) -> Result<(), StoreError> {
    if let Some(mark) = mark::read(dir).map_err(StoreError::damaged)? {
        let last_seq = log.last_seq()?;
        if last_seq < mark {
            return Err(StoreError::damaged(Damage::Truncated {
                path: dir.to_path_buf(),
                mark,
                last_seq,
            }));
        }
    }
    Ok(())
}

/// Turns sled's corruption errors into a [`Damage`] with the place; other errors pass.
fn classify(dir: &Path, error: StoreError, watch: &Watch) -> StoreError {
    let source = match &error {
        StoreError::Open { source, .. } | StoreError::Io { source, .. } => source,
        _ => return error,
    };
    match source {
        sled::Error::Corruption { at, .. } => StoreError::damaged(Damage::Db {
            path: dir.to_path_buf(),
            offset: at.as_ref().and_then(|at| first_number(&format!("{at:?}"))),
            reason: source.to_string(),
            place: Box::new(watch.place()),
        }),
        // A read past the end of `db`: sled's page table points at a page the file no longer
        // holds (a `db` cut short in a place sled's recovery did not notice). Seen as
        // "failed to fill whole buffer" on a `db` truncated by one page.
        sled::Error::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            StoreError::damaged(Damage::Db {
                path: dir.to_path_buf(),
                offset: None,
                reason: format!(
                    "it ends before a page sled's page table points at, so it was cut short ({io})"
                ),
                place: Box::new(watch.place()),
            })
        }
        sled::Error::Unsupported(reason) => StoreError::damaged(Damage::Conf {
            path: dir.join("conf"),
            reason: reason.clone(),
        }),
        _ => error,
    }
}

/// The first decimal number in `text` (sled's disk pointers print as `Inline(1057099)`).
fn first_number(text: &str) -> Option<u64> {
    let start = text.find(|c: char| c.is_ascii_digit())?;
    let digits: String = text[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Bytes of the files in `dir` and its subdirectories (sled's `db`, `blobs/`, snapshots).
pub fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack: Vec<PathBuf> = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            match entry.metadata() {
                Ok(m) if m.is_dir() => stack.push(entry.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_past_the_end_of_db_is_damage_not_an_io_error() {
        let error = StoreError::Io {
            doing: "reading every tree",
            source: sled::Error::Io(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "failed to fill whole buffer",
            )),
        };
        let dir = Path::new("/var/lib/sentinel-signl4");
        let classified = bounded(dir, Limits::default(), move |watch| {
            watch.enter("reading every tree of the log", Limits::default().stall);
            classify(dir, error, watch)
        })
        .unwrap();
        let damage = classified.damage().expect("a damage report");
        assert!(
            matches!(damage, Damage::Db { offset: None, .. }),
            "{damage}"
        );
        let text = damage.to_string();
        assert!(
            text.contains("cut short") && text.contains("recovery: "),
            "{text}"
        );
    }

    #[test]
    fn disk_pointers_give_their_offset() {
        assert_eq!(first_number("Inline(1057099)"), Some(1057099));
        assert_eq!(first_number("Blob(12, 7)"), Some(12));
        assert_eq!(first_number("None"), None);
    }
}
