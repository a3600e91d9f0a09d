//! Checks of sled's small files, done by reading them before sled does.
//!
//! Why: sled 0.34 answers a damaged `conf` with "created using a sled version earlier than
//! 0.29", silently rewrites a `conf` of 8 bytes or less, and answers a damaged snapshot file
//! with "Read corrupted data at file offset None". Reading them first lets us name the file and
//! the fix, and keeps sled from writing over evidence.
//!
//! Invariant: these checks only read. Their formats are sled 0.34.7's (`config.rs`
//! `write_config`, `pagecache/snapshot.rs` `read_snapshot`): the content, then a CRC-32
//! (IEEE, little-endian) of it; a snapshot also has an 8-byte length before the CRC.

use std::path::{Path, PathBuf};

use super::damage::Damage;

/// The `conf` sled 0.34 writes for this store's settings, for the check's message.
const EXPECTED_VERSION: &str = "version: 0.34";

/// Checks `conf` and every `snap.*` file of the log in `dir`. A missing `conf` is fine (sled
/// writes it); a missing directory is the caller's business.
pub fn check(dir: &Path) -> Result<(), Damage> {
    check_conf(&dir.join("conf"))?;
    for snapshot in snapshot_files(dir) {
        check_snapshot(&snapshot)?;
    }
    Ok(())
}

fn check_conf(path: &Path) -> Result<(), Damage> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(Damage::Conf {
                path: path.to_path_buf(),
                reason: format!("cannot be read: {e}"),
            })
        }
    };
    let damaged = |reason: String| Damage::Conf {
        path: path.to_path_buf(),
        reason,
    };
    if bytes.len() <= 8 {
        return Err(damaged(format!(
            "{} bytes, too short for sled's settings",
            bytes.len()
        )));
    }
    let (body, crc) = bytes.split_at(bytes.len() - 4);
    let expected = u32::from_le_bytes(crc.try_into().expect("4 bytes"));
    let actual = crc32fast::hash(body);
    if expected != actual {
        return Err(damaged(format!(
            "checksum mismatch (stored {expected:08x}, computed {actual:08x})"
        )));
    }
    let text = std::str::from_utf8(body).map_err(|_| damaged("not UTF-8 text".into()))?;
    if !text.lines().any(|l| l == EXPECTED_VERSION) {
        return Err(damaged(format!(
            "does not say `{EXPECTED_VERSION}` (it says {:?})",
            text.lines()
                .find(|l| l.starts_with("version"))
                .unwrap_or("nothing")
        )));
    }
    Ok(())
}

/// sled's page-table snapshots: `snap.<16 hex digits>` (sled skips `*.in___motion` files,
/// which are being written).
fn snapshot_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("snap.") && !n.ends_with(".in___motion"))
        })
        .collect();
    files.sort();
    files
}

fn check_snapshot(path: &Path) -> Result<(), Damage> {
    let damaged = |reason: String| Damage::SledSnapshot {
        path: path.to_path_buf(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| damaged(format!("cannot be read: {e}")))?;
    if bytes.len() <= 12 {
        return Err(damaged(format!("{} bytes, too short", bytes.len())));
    }
    let (body, trailer) = bytes.split_at(bytes.len() - 12);
    let expected = u32::from_le_bytes(trailer[8..].try_into().expect("4 bytes"));
    let actual = crc32fast::hash(body);
    if expected != actual {
        return Err(damaged(format!(
            "checksum mismatch (stored {expected:08x}, computed {actual:08x}): truncated or \
             overwritten"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf_bytes(text: &str) -> Vec<u8> {
        let mut out = text.as_bytes().to_vec();
        out.extend_from_slice(&crc32fast::hash(text.as_bytes()).to_le_bytes());
        out
    }

    #[test]
    fn conf_checks_name_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("conf");
        assert_eq!(check(dir.path()), Ok(()), "no conf yet is fine");
        std::fs::write(
            &conf,
            conf_bytes("segment_size: 524288\nuse_compression: false\nversion: 0.34\n"),
        )
        .unwrap();
        assert_eq!(check(dir.path()), Ok(()));
        std::fs::write(&conf, b"x").unwrap();
        let err = check(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("1 bytes, too short") && err.contains("recovery: move"),
            "{err}"
        );
        std::fs::write(&conf, conf_bytes("version: 0.31\n")).unwrap();
        let err = check(dir.path()).unwrap_err().to_string();
        assert!(err.contains("version: 0.31"), "{err}");
        let mut bad = conf_bytes("version: 0.34\n");
        bad[0] ^= 1;
        std::fs::write(&conf, bad).unwrap();
        assert!(check(dir.path())
            .unwrap_err()
            .to_string()
            .contains("checksum"));
    }

    #[test]
    fn a_truncated_snapshot_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let snap = dir.path().join("snap.000000000020EB8D");
        let mut bytes = b"page table".to_vec();
        bytes.extend_from_slice(&10u64.to_le_bytes());
        bytes.extend_from_slice(&crc32fast::hash(b"page table").to_le_bytes());
        std::fs::write(&snap, &bytes).unwrap();
        assert_eq!(check(dir.path()), Ok(()));
        std::fs::write(&snap, &bytes[..15]).unwrap();
        let err = check(dir.path()).unwrap_err();
        assert!(matches!(&err, Damage::SledSnapshot { path, .. } if *path == snap));
        assert!(err.recovery().contains("rebuilds"), "{err}");
    }
}
