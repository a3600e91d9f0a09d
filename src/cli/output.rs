//! Output to a pipe that closes early (`audit | head`, `verify | head`) and the temporary copies
//! a command must not leave behind.
//!
//! Invariants:
//! - A closed stdout ends the command quietly with exit 0: an `io::Error` of kind `BrokenPipe`
//!   returned by a command is not reported, and the panic `println!` raises on EPIPE is turned
//!   into a quiet exit by the hook installed here (release builds abort on panic, so the hook
//!   is the only place that runs).
//! - Paths registered with [`remove_on_exit`] (the `--copy` directories) are removed by that
//!   hook too, and on any other panic, before the default hook runs: `panic = "abort"` skips
//!   destructors, so `TempDir`'s own cleanup would not run. They are also removed when the
//!   command is stopped by SIGINT, SIGTERM or SIGHUP (a thread waits for those signals once a
//!   path is registered), which then exits 130, 143 or 129 like the default action would.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Directories to remove if the process ends through the panic hook.
static REMOVE_ON_EXIT: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Registers `path` for removal should the command end by a panic or a closed pipe.
pub fn remove_on_exit(path: &Path) {
    let mut paths = REMOVE_ON_EXIT.lock().unwrap_or_else(|e| e.into_inner());
    paths.push(path.to_path_buf());
    static SIGNALS: std::sync::Once = std::sync::Once::new();
    SIGNALS.call_once(spawn_signal_cleanup);
}

/// Waits for a stopping signal on a thread of its own; removes the registered paths and exits.
fn spawn_signal_cleanup() {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return; // no cleanup on signals, as before; the copy is still 0700
    };
    let _ = std::thread::Builder::new()
        .name("copy-cleanup".into())
        .spawn(move || {
            runtime.block_on(async {
                use tokio::signal::unix::{signal, SignalKind};
                let (Ok(mut int), Ok(mut term), Ok(mut hup)) = (
                    signal(SignalKind::interrupt()),
                    signal(SignalKind::terminate()),
                    signal(SignalKind::hangup()),
                ) else {
                    return;
                };
                let code = tokio::select! {
                    _ = int.recv() => 130,
                    _ = term.recv() => 143,
                    _ = hup.recv() => 129,
                };
                remove_registered();
                std::process::exit(code);
            });
        });
}

fn remove_registered() {
    let paths = std::mem::take(&mut *REMOVE_ON_EXIT.lock().unwrap_or_else(|e| e.into_inner()));
    for path in paths {
        let _ = std::fs::remove_dir_all(path);
    }
}

/// True when `error` (or one of its sources) is a broken pipe.
pub fn is_broken_pipe(error: &(dyn Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::BrokenPipe {
                return true;
            }
        }
        // serde_json's I/O errors do not give their io::Error as a source.
        if let Some(json) = e.downcast_ref::<serde_json::Error>() {
            if json.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe) {
                return true;
            }
        }
        current = e.source();
    }
    false
}

/// Installs the panic hook described in the module docs.
pub fn install_broken_pipe_exit() {
    let default = std::panic::take_hook();
    let epipe = std::io::Error::from_raw_os_error(libc::EPIPE).to_string();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        remove_registered();
        if message.starts_with("failed printing to std") && message.contains(&epipe) {
            std::process::exit(0);
        }
        default(info);
    }));
}
