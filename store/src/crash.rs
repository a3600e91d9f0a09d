//! Named crash points: places where the process can be made to die on purpose, to prove that
//! a restart recovers from exactly that spot.
//!
//! Compiled in only with the `failpoints` cargo feature (the test and example builds turn it on
//! through the root package's dev-dependencies; release binaries never carry it). Without the
//! feature [`point`] is an empty inline function and [`setup`] does nothing.
//!
//! Configuration is the `fail` crate's `FAILPOINTS` environment variable, read once by
//! [`setup`] at process start: `FAILPOINTS="effect.after_call=3*off->return"` lets the point pass
//! three times and kills the process on the fourth hit. The action `return` means "die here":
//! the process sends itself SIGKILL, so no destructor, flush or buffered write runs, exactly as
//! when an operator or the OOM killer kills it. Other `fail` actions (`sleep(ms)`, `pause`,
//! `print`) work as documented by that crate.
//!
//! Invariant: every name a caller passes is listed in [`POINTS`], so harnesses can pick from
//! the list and a typo cannot silently disable a test.

/// Every crash point, with where it sits.
pub const POINTS: &[(&str, &str)] = &[
    (
        "effect.after_intent",
        "an intent is durable, its remote call not yet made",
    ),
    (
        "effect.after_call",
        "the remote call succeeded, its outcome not yet recorded",
    ),
    (
        "store.commit.before_flush",
        "a group commit is written to sled but not flushed",
    ),
    (
        "store.snapshot.before_flush",
        "a snapshot is written to sled but not flushed",
    ),
    (
        "poller.between_pages",
        "one listing page is recorded, the next not yet fetched",
    ),
    (
        "webhook.after_append",
        "a SIGNL4 notification is durable, the 2xx not yet sent",
    ),
    (
        "reconcile.open_intent",
        "restart reconciliation is about to check one open intent",
    ),
    (
        "observation.after_commit",
        "a listing page's observations and the intents they imply are durable, nothing handed on",
    ),
    (
        "action.after_commit",
        "a SIGNL4 action and its write-back's intents are durable, the write-back not started",
    ),
];

/// Reads `FAILPOINTS` once; call at the start of `main`. Does nothing without the feature.
pub fn setup() {
    #[cfg(feature = "failpoints")]
    enabled::setup();
}

/// Dies here if the configuration says so (see the module docs).
#[inline]
pub fn point(name: &'static str) {
    debug_assert!(
        POINTS.iter().any(|(p, _)| *p == name),
        "unknown crash point {name}"
    );
    #[cfg(feature = "failpoints")]
    enabled::point(name);
}

#[cfg(feature = "failpoints")]
mod enabled {
    pub fn setup() {
        // The scenario holds a global lock for its lifetime; a process keeps its crash points
        // until it exits, so it is never torn down.
        std::mem::forget(fail::FailScenario::setup());
    }

    pub fn point(name: &'static str) {
        fail::fail_point!(name, |_| {
            tracing::warn!(point = name, "crash point reached; killing this process");
            // SAFETY: kill(2) on our own pid with a constant signal has no memory effects.
            unsafe {
                libc::kill(libc::getpid(), libc::SIGKILL);
            }
            // The signal is delivered at once; never let code after the point run meanwhile.
            loop {
                std::thread::park();
            }
        });
    }
}
