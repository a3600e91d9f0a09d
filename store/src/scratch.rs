//! Scratch directories for event logs in tests, benches and harnesses.
//!
//! Invariant: a scratch directory is removed when the process exits, never earlier, so it can
//! never vanish under a log that is still open.
//!
//! Why not a temporary directory removed when its guard drops: in a test, the guard drops at the
//! end of the test body while the last handle on the log may live on in an actor of a runtime
//! torn down afterwards. sled then ran its final flush on files that no longer existed and hung
//! for good (issue #17: one full suite run in four timed out). Removal at exit runs after every
//! runtime and handle of the process is gone. Under cargo-nextest every test is a process, so a
//! directory lives exactly as long as its test.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, Once};

/// A directory for a log, removed at process exit (see the module header).
#[derive(Debug)]
pub struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Directories to remove at exit.
static TO_REMOVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Creates a fresh, private (0700) directory under the system's temporary directory.
pub fn dir() -> ScratchDir {
    static AT_EXIT: Once = Once::new();
    AT_EXIT.call_once(|| {
        // SAFETY: `remove_all` is an `extern "C" fn()` that never unwinds (it catches nothing
        // that could panic: poisoned locks are recovered and errors ignored).
        unsafe {
            libc::atexit(remove_all);
        }
    });
    let path = std::env::temp_dir().join(format!("s4-scratch-{}", uuid::Uuid::new_v4()));
    create_private(&path);
    TO_REMOVE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(path.clone());
    ScratchDir { path }
}

fn create_private(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(path)
            .unwrap_or_else(|e| panic!("cannot create scratch directory {}: {e}", path.display()));
    }
    #[cfg(not(unix))]
    std::fs::create_dir(path)
        .unwrap_or_else(|e| panic!("cannot create scratch directory {}: {e}", path.display()));
}

extern "C" fn remove_all() {
    let paths = std::mem::take(&mut *TO_REMOVE.lock().unwrap_or_else(|e| e.into_inner()));
    for path in paths {
        let _ = std::fs::remove_dir_all(path);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_scratch_dir_exists_is_private_and_is_registered_for_exit() {
        let dir = super::dir();
        assert!(dir.path().is_dir());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        drop(dir);
        let registered = super::TO_REMOVE.lock().unwrap();
        assert!(registered.iter().any(|p| p.is_dir()), "kept until exit");
    }
}
