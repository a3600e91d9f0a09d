//! The open check: a log is opened only if sled can read every page of it, within a deadline.
//!
//! Why: sled 0.34 opens a log whose `db` has a zeroed page without complaint and then spins
//! (or panics) the first time a reader reaches that page, so a connector started on it and
//! every tool reading it hung with no output. The open check finds such damage up front:
//! 1. sled's small files (`conf`, `snap.*`) are checked by reading them first ([`files`]);
//! 2. sled opens the log, and every entry of every tree is read once, on a child thread whose
//!    progress is watched ([`watch`]); a step that exceeds its budget, a panic, or a corruption
//!    error becomes a [`Damage`] that says what is damaged, where, and the recovery step;
//! 3. the log must reach the seq its high-water mark recorded ([`mark`]): sled reads a
//!    truncated `db` as a shorter sound log.
//!
//! Invariants:
//! - [`open_checked`] returns only a log whose every tree was read end to end, or an error;
//!   it never blocks its caller for longer than the [`Limits`] allow.
//! - The check writes nothing of its own (sled itself writes on open: read-only callers open
//!   a private copy, see the CLI's `data_dir`).
//! - The cost is one scan of the trees at open (see the store bench for the figure).

pub mod damage;
pub mod files;
pub mod mark;
pub mod watch;

use std::path::{Path, PathBuf};

pub use damage::{Damage, Place};
pub use watch::{bounded, Limits, Watch, EXIT_DAMAGED};

use crate::error::StoreError;
use crate::log::{EventLog, OpenOptions};

/// Opens the log in `dir` after checking that sled can read all of it (see the module docs).
pub fn open_checked(
    dir: &Path,
    options: &OpenOptions,
    limits: Limits,
) -> Result<EventLog, StoreError> {
    let owned_dir = dir.to_path_buf();
    let options = options.clone();
    bounded(dir, limits, move |watch| {
        open_traversed(&owned_dir, &options, limits, watch)
    })
    .map_err(StoreError::damaged)?
}

/// The open check's work, for callers that run more bounded work after it on the same thread
/// (the CLI's read-only commands): checks the files, opens, and reads every tree once.
pub fn open_traversed(
    dir: &Path,
    options: &OpenOptions,
    limits: Limits,
    watch: &Watch,
) -> Result<EventLog, StoreError> {
    files::check(dir).map_err(StoreError::damaged)?;
    watch.enter("opening sled's files", limits.open_budget(dir_bytes(dir)));
    let log = EventLog::open(dir, options).map_err(|e| classify(dir, e, watch))?;
    watch.enter("reading every tree of the log", limits.stall);
    log.traverse(watch).map_err(|e| classify(dir, e, watch))?;
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
    Ok(log)
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
    fn disk_pointers_give_their_offset() {
        assert_eq!(first_number("Inline(1057099)"), Some(1057099));
        assert_eq!(first_number("Blob(12, 7)"), Some(12));
        assert_eq!(first_number("None"), None);
    }
}
