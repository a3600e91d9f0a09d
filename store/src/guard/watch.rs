//! Bounded sled work: run it on a child thread and give up when it stops making progress.
//!
//! Why: sled 0.34 does not always fail on a damaged file. A zeroed page makes its tree
//! traversal retry a missing page up to a million times per step (`Tree::view_for_key`), which
//! looks like a hang at full CPU; a truncated segment can make it panic. Neither can be
//! interrupted from outside, so the work runs on a thread of its own and the caller waits for
//! it with a deadline. When the deadline passes, the caller reports where the work was and
//! returns; the spinning thread is abandoned (a command then exits, which ends it).
//!
//! Invariants:
//! - The deadline is a *stall* deadline: it restarts whenever the work reports progress
//!   ([`Watch::step`]), so a long healthy log is never cut short, while one step that does
//!   not return within its budget ends the wait. A phase may carry its own budget (opening
//!   sled recovers the whole file in one call, so it gets more).
//! - A panic on the worker thread is caught and reported with the phase and place it
//!   happened in. In a `panic = "abort"` build it cannot be caught: the panic hook then prints
//!   the same report and exits the process with [`EXIT_DAMAGED`] instead of aborting.
//! - The caller never touches sled while the worker may still be running: everything the work
//!   needs is moved into it, and its result comes back over a channel.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use super::damage::{Damage, Place};

/// Exit code of a process that stopped because its log is damaged (see the panic hook).
pub const EXIT_DAMAGED: i32 = 3;

/// How long bounded work may go without progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest wait for one step (reading one record, decoding one snapshot).
    pub stall: Duration,
    /// Longest wait for sled to open the files (its recovery reads the data file in one call),
    /// before the size allowance below.
    pub open: Duration,
    /// Extra time for opening, per GiB of files in the log's directory.
    pub open_per_gib: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            stall: Duration::from_secs(10),
            open: Duration::from_secs(20),
            open_per_gib: Duration::from_secs(20),
        }
    }
}

impl Limits {
    /// Every budget set to `stall` (tests and operators on slow disks set one number).
    pub fn uniform(stall: Duration) -> Limits {
        Limits {
            stall,
            open: stall,
            open_per_gib: stall,
        }
    }

    /// The budget for opening a log of `bytes` bytes.
    pub fn open_budget(&self, bytes: u64) -> Duration {
        let gib = bytes as f64 / (1u64 << 30) as f64;
        self.open + self.open_per_gib.mul_f64(gib)
    }
}

/// What the worker reports: how far it got and where it is. Shared with the waiting caller.
pub struct Watch {
    path: PathBuf,
    steps: AtomicU64,
    state: Mutex<State>,
}

/// The part of the watch that changes with each phase, under one lock so that the waiter reads
/// a consistent place, budget and panic message.
struct State {
    place: Place,
    budget: Duration,
    panic: Option<String>,
}

impl Watch {
    fn new(path: &Path, budget: Duration) -> Watch {
        Watch {
            path: path.to_path_buf(),
            steps: AtomicU64::new(0),
            state: Mutex::new(State {
                place: Place::default(),
                budget,
                panic: None,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The log this work reads.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Starts a phase (what is being done, in words) with the budget of its steps.
    pub fn enter(&self, phase: &str, budget: Duration) {
        let mut state = self.state();
        state.place = Place {
            phase: phase.to_string(),
            ..Place::default()
        };
        state.budget = budget;
        drop(state);
        self.steps.fetch_add(1, Ordering::Release);
    }

    /// Starts reading tree `tree` within the current phase.
    pub fn enter_tree(&self, tree: &'static str) {
        let mut state = self.state();
        state.place.tree = Some(tree);
        state.place.last_key = None;
        state.place.entries = 0;
        drop(state);
        self.steps.fetch_add(1, Ordering::Release);
    }

    /// One entry of the current tree was read (its key, for the report of where reading stopped).
    pub fn step_key(&self, key: &[u8]) {
        let mut state = self.state();
        let last = state.place.last_key.get_or_insert_with(Vec::new);
        last.clear();
        last.extend_from_slice(key);
        state.place.entries += 1;
        drop(state);
        self.steps.fetch_add(1, Ordering::Release);
    }

    /// Progress without a place (a batch of records replayed, exported, verified).
    pub fn step(&self) {
        self.steps.fetch_add(1, Ordering::Release);
    }

    /// Where the work is now.
    pub fn place(&self) -> Place {
        self.state().place.clone()
    }

    fn snapshot(&self) -> (u64, Duration, Place, Option<String>) {
        let state = self.state();
        (
            self.steps.load(Ordering::Acquire),
            state.budget,
            state.place.clone(),
            state.panic.clone(),
        )
    }
}

thread_local! {
    /// The watch of the bounded work running on this thread, for the panic hook.
    static CURRENT: RefCell<Option<Arc<Watch>>> = const { RefCell::new(None) };
}

/// Installs (once) a panic hook that reports panics of bounded work with their place, and
/// leaves every other panic to the previous hook.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let watch = CURRENT.with(|c| c.borrow().clone());
            // A closed stdout or stderr (`audit | head`) is the reader's business, not damage:
            // the command's own hook ends it quietly.
            let printing = panic_message(info.payload())
                .is_some_and(|m| m.starts_with("failed printing to std"));
            let Some(watch) = watch.filter(|_| !printing) else {
                previous(info);
                return;
            };
            let message = panic_message(info.payload())
                .map(|m| match info.location() {
                    Some(at) => format!("{m} (at {}:{})", at.file(), at.line()),
                    None => m,
                })
                .unwrap_or_else(|| "a panic without message".into());
            watch.state().panic = Some(message.clone());
            if cfg!(panic = "abort") {
                // The process is about to abort and the caller will never hear of it: say what
                // happened, as the caller would have, and end with the documented exit code.
                let place = watch.state().place.clone();
                let damage = Damage::Panicked {
                    path: watch.path.clone(),
                    place: Box::new(place),
                    message,
                };
                eprintln!("error: {damage}");
                std::process::exit(EXIT_DAMAGED);
            }
        }));
    });
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> Option<String> {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
}

/// Runs `work` on a thread of its own and waits for it while it makes progress.
///
/// `work` reports progress on the [`Watch`] it is given. Returns its result, or
/// [`Damage::Stalled`] when one step took longer than its budget, or [`Damage::Panicked`].
/// In both error cases the thread may still be running; it holds only what was moved into it.
pub fn bounded<T, F>(path: &Path, limits: Limits, work: F) -> Result<T, Damage>
where
    T: Send + 'static,
    F: FnOnce(&Watch) -> T + Send + 'static,
{
    install_panic_hook();
    let watch = Arc::new(Watch::new(path, limits.stall));
    let (tx, rx) = crossbeam_channel::bounded(1);
    let worker_watch = watch.clone();
    let spawned = std::thread::Builder::new()
        .name("event-log-guard".into())
        .spawn(move || {
            CURRENT.with(|c| *c.borrow_mut() = Some(worker_watch.clone()));
            let result =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&worker_watch)));
            CURRENT.with(|c| *c.borrow_mut() = None);
            // Only the Ok case is sent; a panic drops the sender, which the waiter sees.
            if let Ok(value) = result {
                let _ = tx.send(value);
            }
        });
    if let Err(e) = spawned {
        return Err(Damage::Stalled {
            path: path.to_path_buf(),
            place: Box::new(Place {
                phase: format!("starting a thread to read the log ({e})"),
                ..Place::default()
            }),
            waited: Duration::ZERO,
        });
    }
    let mut last_steps = u64::MAX;
    let mut since = Instant::now();
    loop {
        let (steps, budget, place, _) = watch.snapshot();
        if steps != last_steps {
            last_steps = steps;
            since = Instant::now();
        }
        let waited = since.elapsed();
        if waited >= budget {
            return Err(Damage::Stalled {
                path: path.to_path_buf(),
                place: Box::new(place),
                waited,
            });
        }
        let poll = (budget - waited).min(Duration::from_millis(50));
        match rx.recv_timeout(poll) {
            Ok(value) => return Ok(value),
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => continue,
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                // Read again: the worker may have moved on (and panicked) since the top of
                // this loop.
                let (_, _, place, panic) = watch.snapshot();
                return Err(Damage::Panicked {
                    path: path.to_path_buf(),
                    place: Box::new(place),
                    message: panic
                        .unwrap_or_else(|| "the reading thread ended without a result".into()),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_the_result_of_work_that_progresses() {
        let limits = Limits::uniform(Duration::from_secs(5));
        let out = bounded(Path::new("/x"), limits, |watch| {
            for _ in 0..1000 {
                watch.step();
            }
            7
        });
        assert_eq!(out, Ok(7));
    }

    #[test]
    fn a_step_that_never_returns_is_reported_with_its_place() {
        let limits = Limits::uniform(Duration::from_millis(300));
        let (release, wait) = crossbeam_channel::bounded::<()>(0);
        let out = bounded(Path::new("/x"), limits, move |watch| {
            watch.enter("reading every tree", Duration::from_millis(300));
            watch.enter_tree("events");
            watch.step_key(&[0, 0, 0, 0, 0, 0, 0, 9]);
            let _ = wait.recv(); // blocks until the test ends
        });
        drop(release);
        match out {
            Err(Damage::Stalled { place, waited, .. }) => {
                assert_eq!(place.tree, Some("events"));
                assert_eq!(place.last_key, Some(vec![0, 0, 0, 0, 0, 0, 0, 9]));
                assert_eq!(place.phase, "reading every tree");
                assert!(waited >= Duration::from_millis(300));
            }
            other => panic!("expected a stall, got {other:?}"),
        }
    }

    #[test]
    fn a_panic_is_reported_with_its_message() {
        let limits = Limits::uniform(Duration::from_secs(5));
        let out: Result<(), Damage> = bounded(Path::new("/x"), limits, |watch| {
            watch.enter("opening sled", Duration::from_secs(5));
            panic!("index out of bounds: the len is 36 but the index is 48");
        });
        match out {
            Err(Damage::Panicked { message, place, .. }) => {
                assert!(message.contains("the len is 36"), "{message}");
                assert_eq!(place.phase, "opening sled");
            }
            other => panic!("expected a panic report, got {other:?}"),
        }
    }
}
