//! The high-water mark: a small file beside sled's that records how far the log was known to
//! reach, so that a log that lost its tail to damage is not taken for a shorter sound one.
//!
//! Why: sled 0.34 recovers a `db` truncated at most offsets as if a crash had cut it short:
//! it opens without error and shows a prefix of the log (truncated to half, it can show no
//! event at all). Nothing inside sled can tell that from a sound log, so the writer records the
//! last durable seq outside sled, and the open check compares.
//!
//! Invariants:
//! - The mark is written only with a seq that is durable (after a snapshot's flush and at
//!   shutdown), so a sound log, even after a crash, always reaches its mark.
//! - It is replaced atomically (write a temporary file, fsync, rename), so a crash leaves the old
//!   mark or the new one, never a torn one.
//! - A log without a mark (written by an older build, or never snapshotted) is not checked.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::damage::Damage;

/// The mark's file name in the log's directory (sled ignores files it does not know).
pub const FILE: &str = "sentinel-signl4.mark";

const HEADER: &str = "sentinel-signl4 event log mark v1";

/// The mark's path for the log in `dir`.
pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

/// Records that the log in `dir` durably reaches `last_seq`.
pub fn write(dir: &Path, last_seq: u64) -> std::io::Result<()> {
    let body = format!("{HEADER}\nlast_seq: {last_seq}\n");
    let text = format!("{body}crc32: {:08x}\n", crc32fast::hash(body.as_bytes()));
    let temporary = dir.join(format!("{FILE}.tmp"));
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&temporary, path(dir))?;
    // The rename is durable once the directory is synced.
    std::fs::File::open(dir)?.sync_all()
}

/// The seq the log in `dir` is known to reach, if a mark was written.
pub fn read(dir: &Path) -> Result<Option<u64>, Damage> {
    let path = path(dir);
    let damaged = |reason: String| Damage::Mark {
        path: path.clone(),
        reason,
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(damaged(format!("cannot be read: {e}"))),
    };
    let Some((body, crc_line)) = text
        .strip_suffix('\n')
        .and_then(|t| t.rsplit_once('\n'))
        .map(|(body, crc)| (format!("{body}\n"), crc))
    else {
        return Err(damaged("not a mark file".into()));
    };
    let stored = crc_line
        .strip_prefix("crc32: ")
        .and_then(|hex| u32::from_str_radix(hex, 16).ok())
        .ok_or_else(|| damaged("no checksum line".into()))?;
    if stored != crc32fast::hash(body.as_bytes()) {
        return Err(damaged("checksum mismatch".into()));
    }
    let mut lines = body.lines();
    if lines.next() != Some(HEADER) {
        return Err(damaged("unknown header".into()));
    }
    lines
        .next()
        .and_then(|l| l.strip_prefix("last_seq: "))
        .and_then(|n| n.parse().ok())
        .map(Some)
        .ok_or_else(|| damaged("no last_seq line".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_a_damaged_mark() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()), Ok(None));
        write(dir.path(), 1947).unwrap();
        assert_eq!(read(dir.path()), Ok(Some(1947)));
        let text = std::fs::read_to_string(path(dir.path())).unwrap();
        std::fs::write(path(dir.path()), text.replace("1947", "9947")).unwrap();
        let err = read(dir.path()).unwrap_err();
        assert!(err.to_string().contains("checksum mismatch"), "{err}");
        std::fs::write(path(dir.path()), "x").unwrap();
        assert!(read(dir.path()).is_err());
    }
}
