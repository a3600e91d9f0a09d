//! Errors of the store. Each names what failed and where (path, sequence number, key), because
//! the person reading it is an operator with a log that must not be lost.

use std::path::PathBuf;

use crate::envelope::EnvelopeError;
use crate::guard::Damage;

/// A record that cannot be read, with its position.
#[derive(Clone, Debug, thiserror::Error, PartialEq)]
#[error("event seq {seq} (key {key_hex}) cannot be read: {source}")]
pub struct DecodeError {
    /// The sequence number of the record (from its key).
    pub seq: u64,
    /// The record's key in hex.
    pub key_hex: String,
    /// What is wrong with it.
    #[source]
    pub source: EnvelopeError,
}

/// Everything that can go wrong opening, reading or writing the log.
#[derive(Clone, Debug, thiserror::Error)]
pub enum StoreError {
    /// sled refused to open the directory.
    #[error("cannot open the event log at {path}: {source}{hint}")]
    Open {
        path: PathBuf,
        source: sled::Error,
        /// Advice when the cause is likely another process holding the log.
        hint: &'static str,
    },
    /// The log was written by a newer store format.
    #[error("the event log at {path} has store format {found}; this build reads format {supported} and older. Upgrade sentinel-signl4 to read it")]
    NewerFormat {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    /// The meta tree holds something unreadable.
    #[error("the event log at {path} has an unreadable meta entry {key:?}")]
    BadMeta { path: PathBuf, key: String },
    /// A record failed to decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The sequence has a hole.
    #[error("the event log has a gap: seq {expected} is missing (next present is {found})")]
    Gap { expected: u64, found: u64 },
    /// A key in `events` is not 8 bytes.
    #[error("the events tree holds a malformed key {key_hex}")]
    BadKey { key_hex: String },
    /// A sled read or write failed (I/O, disk full, corruption found by sled).
    #[error("event log I/O failed while {doing}: {source}")]
    Io {
        doing: &'static str,
        source: sled::Error,
    },
    /// The log is damaged: what, where, and the recovery step (see [`crate::guard`]).
    #[error(transparent)]
    Damaged(Box<Damage>),
    /// The writer thread is gone (the store was shut down or the thread panicked).
    #[error("the event store writer has stopped")]
    WriterStopped,
}

impl StoreError {
    pub(crate) fn damaged(damage: Damage) -> StoreError {
        StoreError::Damaged(Box::new(damage))
    }

    /// The damage report, when this error is one.
    pub fn damage(&self) -> Option<&Damage> {
        match self {
            StoreError::Damaged(damage) => Some(damage),
            _ => None,
        }
    }

    pub(crate) fn io(doing: &'static str) -> impl FnOnce(sled::Error) -> StoreError {
        move |source| StoreError::Io { doing, source }
    }
}

impl From<sled::Error> for StoreError {
    fn from(source: sled::Error) -> StoreError {
        StoreError::Io {
            doing: "reading",
            source,
        }
    }
}
