//! What is damaged in a log, where, and what to do about it.
//!
//! Invariant: every [`Damage`] names the file (and offset, tree or key when known) and ends
//! with one recovery step an operator can follow; nothing here suggests deleting data that
//! cannot be rebuilt.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::keys;

/// Where bounded work was when it stopped: the phase, and within a tree the last key read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Place {
    /// What was being done, in words ("opening sled", "reading every tree").
    pub phase: String,
    /// The sled tree being read, if any.
    pub tree: Option<&'static str>,
    /// The last key read from it (the damage lies after it).
    pub last_key: Option<Vec<u8>>,
    /// Entries of the tree read before stopping.
    pub entries: u64,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "while {}", self.phase)?;
        if let Some(tree) = self.tree {
            write!(f, ", in tree `{tree}` after {} entries", self.entries)?;
            match &self.last_key {
                None => write!(f, " (at its first entry)")?,
                Some(key) => {
                    write!(f, " (last key read {}", keys::hex(key))?;
                    if matches!(tree, "events" | "snapshots") {
                        if let Some(seq) = keys::event_seq(key) {
                            write!(f, " = seq {seq}")?;
                        }
                    }
                    write!(f, ")")?;
                }
            }
        }
        Ok(())
    }
}

/// A log that cannot be opened or read, with where and how to recover. (Places are boxed to
/// keep the error small on the happy path.)
#[derive(Clone, Debug, PartialEq)]
pub enum Damage {
    /// sled's settings file is unreadable (it holds only segment size, compression, version).
    Conf { path: PathBuf, reason: String },
    /// One of sled's page-table snapshot files (`snap.*`) is damaged.
    SledSnapshot { path: PathBuf, reason: String },
    /// sled found corruption in its data file `db`.
    Db {
        path: PathBuf,
        offset: Option<u64>,
        reason: String,
        place: Box<Place>,
    },
    /// The log ends before the seq its high-water mark says it durably reached.
    Truncated {
        path: PathBuf,
        mark: u64,
        last_seq: u64,
    },
    /// The high-water mark file itself is unreadable.
    Mark { path: PathBuf, reason: String },
    /// sled stopped making progress (a damaged page makes it retry forever).
    Stalled {
        path: PathBuf,
        place: Box<Place>,
        waited: Duration,
    },
    /// sled panicked on the files.
    Panicked {
        path: PathBuf,
        place: Box<Place>,
        message: String,
    },
}

/// The common recovery of damage inside sled's data file.
const RESTORE: &str = "the damage is inside sled's data file `db`, which this build cannot \
    repair. Keep the directory for investigation (move it aside, do not delete it), restore \
    the data directory from your latest backup (a copy taken with the connector stopped, or \
    with `--copy`), check the restored copy with `sentinel-signl4 verify`, then start the \
    connector on it; it reconciles what changed since with Sentinel and SIGNL4";

impl Damage {
    /// The directory or file concerned.
    pub fn path(&self) -> &PathBuf {
        match self {
            Damage::Conf { path, .. }
            | Damage::SledSnapshot { path, .. }
            | Damage::Db { path, .. }
            | Damage::Truncated { path, .. }
            | Damage::Mark { path, .. }
            | Damage::Stalled { path, .. }
            | Damage::Panicked { path, .. } => path,
        }
    }

    /// The same damage with paths under `from` named under `to` (a report about a private
    /// copy of a log names the log itself).
    pub fn rebased(mut self, from: &Path, to: &Path) -> Damage {
        let path = match &mut self {
            Damage::Conf { path, .. }
            | Damage::SledSnapshot { path, .. }
            | Damage::Db { path, .. }
            | Damage::Truncated { path, .. }
            | Damage::Mark { path, .. }
            | Damage::Stalled { path, .. }
            | Damage::Panicked { path, .. } => path,
        };
        if let Ok(rest) = path.strip_prefix(from) {
            *path = if rest.as_os_str().is_empty() {
                to.to_path_buf()
            } else {
                to.join(rest)
            };
        }
        self
    }

    /// The step an operator should take.
    pub fn recovery(&self) -> String {
        match self {
            Damage::Conf { path, .. } => format!(
                "move {} aside (e.g. `mv {0} {0}.damaged`) and run the command again: the file \
                 holds only sled's settings, which sled writes afresh with the same defaults",
                path.display()
            ),
            Damage::SledSnapshot { path, .. } => format!(
                "move {} aside (e.g. `mv {0} /tmp/`) and run the command again: it is sled's \
                 page-table snapshot, a cache that sled rebuilds by scanning `db` (that start \
                 takes longer). If the log then opens, `sentinel-signl4 verify` checks it",
                path.display()
            ),
            Damage::Mark { path, .. } => format!(
                "move {} aside and run the command again: it only records how far the log \
                 reached, for this check, and the next snapshot writes it again",
                path.display()
            ),
            Damage::Truncated { path, .. } => format!(
                "{RESTORE}. If this directory is an older backup restored on purpose (its mark \
                 file came from a later one), move {} aside to accept the shorter log",
                path.join(super::mark::FILE).display()
            ),
            Damage::Stalled { .. } => format!(
                "if the disk is only slow or busy, run again with a longer deadline \
                 (S4_LOG_TIMEOUT=120s); otherwise {RESTORE}"
            ),
            Damage::Db { .. } | Damage::Panicked { .. } => RESTORE.to_string(),
        }
    }
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Damage::Conf { path, reason } => write!(
                f,
                "the event log's settings file {} is damaged: {reason}",
                path.display()
            )?,
            Damage::SledSnapshot { path, reason } => write!(
                f,
                "the event log's sled snapshot file {} is damaged: {reason}",
                path.display()
            )?,
            Damage::Db {
                path,
                offset,
                reason,
                place,
            } => {
                write!(f, "the event log at {} is damaged: ", path.display())?;
                match offset {
                    // sled's own text ("... file offset Some(Inline(n)) backtrace ()") adds
                    // nothing to the offset.
                    Some(offset) => write!(f, "sled found corrupt data at byte {offset} of `db`")?,
                    None if reason.starts_with("Read corrupted data") => write!(
                        f,
                        "sled found corrupt data in `db` (it names no offset: the data file \
                         does not reach what sled's own snapshot file says it holds, or a \
                         segment header is damaged)"
                    )?,
                    None => write!(f, "sled found corrupt data in `db` ({reason})")?,
                }
                write!(f, " {place}")?
            }
            Damage::Truncated {
                path,
                mark,
                last_seq,
            } => write!(
                f,
                "the event log at {} has lost its tail: it ends at seq {last_seq}, but reached seq \
                 {mark} durably (its mark file {}); sled read `db` as if a crash had cut it short, \
                 which an acknowledged event never is",
                path.display(),
                super::mark::FILE
            )?,
            Damage::Mark { path, reason } => write!(
                f,
                "the event log's mark file {} is damaged: {reason}",
                path.display()
            )?,
            Damage::Stalled {
                path,
                place,
                waited,
            } => write!(
                f,
                "the event log at {} is damaged or unreadable: sled made no progress for {:.1} s \
                 {place} (a damaged page makes sled 0.34 retry without end)",
                path.display(),
                waited.as_secs_f64()
            )?,
            Damage::Panicked {
                path,
                place,
                message,
            } => write!(
                f,
                "the event log at {} is damaged: sled failed {place}: {message}",
                path.display()
            )?,
        }
        write!(f, "\nrecovery: {}", self.recovery())
    }
}

impl std::error::Error for Damage {}
