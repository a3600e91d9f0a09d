//! The store writer probe: a small commit (a cursor write and flush) sent through the writer
//! thread every [`ProbeSettings::interval`], timed. It is how `/healthz` knows the writer makes
//! progress, where `/metrics` gets its commit latency histogram, and what the watchdog watches.
//!
//! Invariants:
//! - The probe runs on its own thread: a hung writer blocks the probe, never the admin server,
//!   so `/healthz` can still answer that it is hung.
//! - Healthy means the last probe finished within `stall_limit` of when it was due; a probe
//!   outstanding longer than `stall_limit` makes `/healthz` fail.
//! - The watchdog: a probe outstanding longer than `abort_after` logs ERROR and aborts the
//!   process (`std::process::abort`): the supervisor (systemd `Restart=always`) starts it
//!   again and the log replays. `/healthz` fails before that, since `abort_after >=
//!   stall_limit`.
//! - The actor system is watched the same way: a task on the actix System thread calls
//!   [`Probe::tick`] every second; no tick for `stall_limit` fails `/healthz` ("actor system
//!   stalled": a handler blocking the thread), none for `abort_after` aborts.
//! - [`Probe::stop`] ends and joins the thread, so its handle on the store is gone before the
//!   store shuts down.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use prometheus_client::metrics::histogram::Histogram;
use store::Store;

/// The cursor the probe writes (never read by the pipeline).
const PROBE_CURSOR: &str = "admin.writer-probe";

/// How often to probe and when to call the writer stalled.
#[derive(Debug, Clone, Copy)]
pub struct ProbeSettings {
    pub interval: Duration,
    /// A probe outstanding longer than this fails `/healthz`.
    pub stall_limit: Duration,
    /// A probe outstanding longer than this aborts the process (`None`: never).
    pub abort_after: Option<Duration>,
}

impl Default for ProbeSettings {
    fn default() -> Self {
        ProbeSettings {
            interval: Duration::from_secs(5),
            stall_limit: Duration::from_secs(30),
            abort_after: Some(Duration::from_secs(120)),
        }
    }
}

/// What the probe knows, shared with the admin server.
#[derive(Debug)]
struct State {
    /// When the probe now outstanding started (`None`: none outstanding).
    outstanding_since: Option<Instant>,
    /// When the last probe finished, and whether it succeeded.
    last_done: Option<(Instant, bool)>,
    last_error: Option<String>,
    /// The actor system's last tick.
    last_tick: Instant,
}

/// The running probe. Exists so that the server, the watchdog and shutdown share one view.
pub struct Probe {
    settings: ProbeSettings,
    state: Mutex<State>,
    stop: AtomicBool,
    /// Commit latencies, seconds.
    pub commit_seconds: Histogram,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// Whether the writer is making progress, and why not.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Liveness {
    pub ok: bool,
    pub reason: Option<String>,
}

impl Probe {
    /// Starts the probe thread and the watchdog on `store`.
    pub fn start(store: Store, settings: ProbeSettings) -> std::io::Result<Arc<Probe>> {
        let probe = Arc::new(Probe {
            settings,
            state: Mutex::new(State {
                outstanding_since: None,
                last_done: None,
                last_error: None,
                last_tick: Instant::now(),
            }),
            stop: AtomicBool::new(false),
            commit_seconds: Histogram::new([
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            threads: Mutex::new(Vec::new()),
        });
        let p = probe.clone();
        let prober = std::thread::Builder::new()
            .name("admin-writer-probe".into())
            .spawn(move || p.run(store))?;
        let p = probe.clone();
        let watchdog = std::thread::Builder::new()
            .name("admin-watchdog".into())
            .spawn(move || p.watch())?;
        probe.lock_threads().extend([prober, watchdog]);
        Ok(probe)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_threads(&self) -> std::sync::MutexGuard<'_, Vec<JoinHandle<()>>> {
        self.threads.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn run(&self, store: Store) {
        let mut n = 0u64;
        while !self.stop.load(Ordering::Acquire) {
            let started = Instant::now();
            self.lock().outstanding_since = Some(started);
            n += 1;
            let result = store.set_cursor(PROBE_CURSOR, n);
            let elapsed = started.elapsed();
            self.commit_seconds.observe(elapsed.as_secs_f64());
            {
                let mut state = self.lock();
                state.outstanding_since = None;
                state.last_done = Some((Instant::now(), result.is_ok()));
                state.last_error = result.err().map(|e| e.to_string());
            }
            self.sleep(self.settings.interval);
        }
    }

    /// Sleeps `total`, waking early when stopped.
    fn sleep(&self, total: Duration) {
        let until = Instant::now() + total;
        while !self.stop.load(Ordering::Acquire) {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            std::thread::park_timeout(left.min(Duration::from_millis(100)));
        }
    }

    /// The actor system is alive: called every second from a task on its thread.
    pub fn tick(&self) {
        self.lock().last_tick = Instant::now();
    }

    fn watch(&self) {
        let Some(abort_after) = self.settings.abort_after else {
            return;
        };
        while !self.stop.load(Ordering::Acquire) {
            let last_tick = self.lock().last_tick;
            if last_tick.elapsed() > abort_after {
                tracing::error!(
                    stalled_s = last_tick.elapsed().as_secs(),
                    "watchdog: the actor system has not run for longer than {}s; aborting so \
                     that the supervisor restarts the connector and the log replays",
                    abort_after.as_secs()
                );
                std::process::abort();
            }
            let outstanding = self.lock().outstanding_since;
            if let Some(since) = outstanding {
                if since.elapsed() > abort_after {
                    tracing::error!(
                        stalled_s = since.elapsed().as_secs(),
                        "watchdog: the event log writer has not completed a commit for longer \
                         than {}s; aborting so that the supervisor restarts the connector and \
                         the log replays",
                        abort_after.as_secs()
                    );
                    std::process::abort();
                }
            }
            self.sleep(Duration::from_millis(500));
        }
    }

    /// Whether the writer is making progress (see the module invariants).
    pub fn liveness(&self) -> Liveness {
        let state = self.lock();
        let limit = self.settings.stall_limit;
        if state.last_tick.elapsed() > limit {
            return Liveness {
                ok: false,
                reason: Some(format!(
                    "actor system stalled: its thread has not run for {}s (limit {}s)",
                    state.last_tick.elapsed().as_secs(),
                    limit.as_secs()
                )),
            };
        }
        if let Some(since) = state.outstanding_since {
            if since.elapsed() > limit {
                return Liveness {
                    ok: false,
                    reason: Some(format!(
                        "event log writer stalled: a commit has been outstanding for {}s \
                         (limit {}s)",
                        since.elapsed().as_secs(),
                        limit.as_secs()
                    )),
                };
            }
        }
        match state.last_done {
            Some((_, false)) => Liveness {
                ok: false,
                reason: Some(format!(
                    "event log writer failed: {}",
                    state.last_error.as_deref().unwrap_or("unknown error")
                )),
            },
            _ => Liveness {
                ok: true,
                reason: None,
            },
        }
    }

    /// Stops the probe and the watchdog and waits for them (the probe's store handle is
    /// dropped by then).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        let threads = std::mem::take(&mut *self.lock_threads());
        for thread in threads {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}
