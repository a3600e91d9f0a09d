//! Counting work in flight, so that tests, the demo and shutdown can wait for a quiet pipeline.
//! Invariant: every spawned unit of work holds a [`Guard`]; dropping it (on success, error or
//! cancellation) is what decrements, so the count can never leak upward.

use std::cell::Cell;
use std::rc::Rc;

/// Shared counter of one actor's work in flight.
#[derive(Clone, Debug, Default)]
pub struct Tracker(Rc<Cell<usize>>);

/// One unit of work; counted until dropped.
#[derive(Debug)]
pub struct Guard(Rc<Cell<usize>>);

impl Tracker {
    /// Starts counting one unit of work.
    pub fn start(&self) -> Guard {
        self.0.set(self.0.get() + 1);
        Guard(self.0.clone())
    }

    /// Units in flight now.
    pub fn count(&self) -> usize {
        self.0.get()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}
