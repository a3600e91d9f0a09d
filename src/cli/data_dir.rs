//! `--data-dir` and `--copy`: where a command finds the event log, and how it reads it safely.
//!
//! Invariants of every read-only command (`audit`, `verify`, `export`):
//! - **It never writes to the log.** sled writes to its files whenever it opens them (recovery,
//!   and it rewrites a short `conf`), so a read-only command reads a private copy, made in a
//!   temporary directory and removed afterwards; the log itself is only read by the copy.
//! - **It never hangs on a damaged log.** The copy is opened with the store's open check and
//!   the whole command runs on a watched thread ([`store::guard`]): when sled stops making
//!   progress, or panics, or reports corruption, the command ends with the damage report (what,
//!   where, recovery step) and exit code [`store::guard::EXIT_DAMAGED`].
//! - **It never creates a log** where there was none.
//!
//! sled lets one process hold a log. Without `--copy` a log held by a running connector is
//! refused (the copy could be taken mid-write); with `--copy` it is copied anyway, which is
//! like reading it after a crash: sled recovers a consistent prefix, so the copy shows every
//! event that was durable when the copy was taken, perhaps a few less.
//!
//! `S4_LOG_TIMEOUT` (a duration such as `30s`) replaces every budget of the open check's
//! deadlines, for slow disks (and for tests, which use short ones).

use std::error::Error;
use std::path::{Path, PathBuf};
use std::time::Duration;

use store::guard::{self, Limits, Watch};
use store::{EventLog, OpenOptions, StoreError};

/// An error a command's body may return from the reading thread.
pub type BodyError = Box<dyn Error + Send + Sync>;

/// Where the event log lives.
#[derive(clap::Args, Debug, Clone)]
pub struct DataDir {
    /// Directory of the event log.
    #[arg(long, env = "S4_DATA_DIR", default_value = "sentinel-signl4-data")]
    pub data_dir: PathBuf,

    /// Read the log even while a connector is running on it (the copy read may miss the
    /// last events written).
    #[arg(long)]
    pub copy: bool,
}

/// The deadlines of the open check: the defaults, or every budget set by `S4_LOG_TIMEOUT`.
pub fn limits() -> Result<Limits, Box<dyn Error>> {
    match std::env::var("S4_LOG_TIMEOUT") {
        Err(_) => Ok(Limits::default()),
        Ok(text) => {
            let budget: Duration = humantime::parse_duration(&text).map_err(|e| {
                format!("S4_LOG_TIMEOUT={text:?}: expected a duration such as 30s ({e})")
            })?;
            Ok(Limits::uniform(budget))
        }
    }
}

impl DataDir {
    /// Runs `body` on a private copy of the log, once the copy passed the open check, on a
    /// watched thread (see the module docs). `body` reports progress on the [`Watch`].
    pub fn read<T, F>(&self, body: F) -> Result<T, Box<dyn Error>>
    where
        T: Send + 'static,
        F: FnOnce(&EventLog, &Watch) -> Result<T, BodyError> + Send + 'static,
    {
        let limits = limits()?;
        let original = self.data_dir.clone();
        if !original.join("db").is_file() {
            return Err(format!(
                "no event log at {} (pass --data-dir, or set S4_DATA_DIR)",
                original.display()
            )
            .into());
        }
        // 0700: the copy holds the whole log. Registered so that a panic, a closed pipe or a
        // signal removes it too.
        let copy = tempfile::Builder::new()
            .prefix("sentinel-signl4-read-")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir()?;
        super::output::remove_on_exit(copy.path());
        {
            // Held while copying, so that a connector cannot start writing mid-copy.
            let _lock = if self.copy {
                None
            } else {
                Some(lock(&original)?)
            };
            copy_log(&original, copy.path())
                .map_err(|e| format!("copying {} failed: {e}", original.display()))?;
        }
        let copy_path = copy.path().to_path_buf();
        let result = guard::bounded(&original, limits, move |watch| {
            let log = guard::open_traversed(&copy_path, &OpenOptions::default(), limits, watch)
                .map_err(|e| rebase(e, &copy_path, watch.path()))?;
            watch.enter("running the command", limits.stall);
            body(&log, watch)
        });
        // `copy` lives until here: it is removed after the reading thread is done with it
        // (or, when that thread is stuck, when the process ends).
        let outcome = match result {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(unsend(error)),
            Err(damage) => Err(Box::new(StoreError::Damaged(Box::new(damage))) as Box<dyn Error>),
        };
        drop(copy);
        outcome
    }
}

/// Converts a body error back to a plain boxed error (keeping its type for `downcast`).
fn unsend(error: BodyError) -> Box<dyn Error> {
    error
}

/// Names the original directory instead of the private copy in a damage report.
fn rebase(error: StoreError, copy: &Path, original: &Path) -> BodyError {
    match error {
        StoreError::Damaged(damage) => Box::new(StoreError::Damaged(Box::new(
            damage.rebased(copy, original),
        ))),
        other => Box::new(other),
    }
}

/// Takes the lock sled takes (an exclusive `flock` on `db`), or says who holds it.
fn lock(dir: &Path) -> Result<std::fs::File, Box<dyn Error>> {
    let path = dir.join("db");
    let file =
        std::fs::File::open(&path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(format!(
            "cannot read the event log at {}: another process, probably a running connector, \
             has it open (sled allows one process per log). Read a copy instead: pass --copy",
            dir.display()
        )
        .into()),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(format!("cannot lock {}: {e}", path.display()).into())
        }
    }
}

/// Copies the log's directory. The high-water mark goes first: with `--copy` the connector may
/// write while we copy, and a mark copied after `db` could name a seq the copied `db` does not
/// hold yet, which the open check would report as a lost tail.
fn copy_log(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    let mark = from.join(guard::mark::FILE);
    if mark.exists() {
        std::fs::copy(&mark, to.join(guard::mark::FILE))?;
    }
    copy_dir(from, to)
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if target.exists() {
            continue; // the mark, copied first
        }
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}
