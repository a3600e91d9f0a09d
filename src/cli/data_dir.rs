//! `--data-dir` and `--copy`: where a command finds the event log, and how to read a live one.
//!
//! sled lets one process open a log at a time, so a running connector's log cannot be opened by
//! the audit tool. `--copy` copies the directory to a temporary one first and reads the copy. A
//! copy of a log being written is like a log after a crash: sled recovers a consistent prefix,
//! so the copy shows every event that was durable when the copy was taken, perhaps a few less.
//!
//! Invariant: a command that only reads never creates a log where there was none.

use std::error::Error;
use std::path::{Path, PathBuf};

use store::{EventLog, OpenOptions};

/// Where the event log lives.
#[derive(clap::Args, Debug, Clone)]
pub struct DataDir {
    /// Directory of the event log.
    #[arg(long, env = "S4_DATA_DIR", default_value = "sentinel-signl4-data")]
    pub data_dir: PathBuf,

    /// Read a temporary copy of the log (use this while a connector is running on it).
    #[arg(long)]
    pub copy: bool,
}

/// An opened log, and the temporary copy it may live in.
pub struct OpenedLog {
    pub log: EventLog,
    _copy: Option<tempfile::TempDir>,
}

impl DataDir {
    /// Opens the existing log (or a copy of it) for reading.
    pub fn open_existing(&self) -> Result<OpenedLog, Box<dyn Error>> {
        if !self.data_dir.join("conf").exists() {
            return Err(format!(
                "no event log at {} (pass --data-dir, or set S4_DATA_DIR)",
                self.data_dir.display()
            )
            .into());
        }
        if !self.copy {
            let log = EventLog::open(&self.data_dir, &OpenOptions::default())?;
            return Ok(OpenedLog { log, _copy: None });
        }
        // 0700: the copy holds the whole log. Registered so a panic or a closed pipe removes it.
        let copy = tempfile::Builder::new()
            .prefix("sentinel-signl4-audit-")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir()?;
        super::output::remove_on_exit(copy.path());
        copy_dir(&self.data_dir, copy.path())
            .map_err(|e| format!("copying {} failed: {e}", self.data_dir.display()))?;
        let log = EventLog::open(copy.path(), &OpenOptions::default())?;
        Ok(OpenedLog {
            log,
            _copy: Some(copy),
        })
    }
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}
