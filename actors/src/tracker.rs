//! Bookkeeping of work in flight, shared by the actors.
//!
//! - [`Tracker`] counts spawned units of work, so that tests, the demo and shutdown can wait for
//!   a quiet pipeline. Invariant: every unit holds a [`Guard`]; dropping it (on success, error or
//!   cancellation) is what decrements, so the count can never leak upward.
//! - [`Claims`] marks side effects being performed right now, so that a reconcile never performs
//!   an effect that a forward or a write-back is performing at the same moment. Invariant: only
//!   the holder of a [`Claim`] releases it, and no borrow of the set outlives one statement.
//! - [`spawn_tracked`] is how a handler starts async work: counted, with failures logged.
//! - [`Exclusive`] is held by the one unit of a kind that may run at a time (a reconcile pass).
//!   Invariant: it is tried, never waited for; the holder's [`Turn`] frees it when dropped.
//! - [`spawn_exclusive`] starts such work: a request while one runs is skipped, not queued, so
//!   passes never overlap.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::fmt::Display;
use std::future::Future;
use std::rc::Rc;

use actix::{Actor, ActorFutureExt, AsyncContext, Context, WrapFuture};
use store::EffectId;

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

/// A one-at-a-time flag for work that must not overlap (a reconcile pass): a lock that is only
/// ever tried. Shared by clones, like [`Tracker`], so the spawned work can hold it.
#[derive(Clone, Debug, Default)]
pub struct Exclusive(Rc<Cell<bool>>);

/// The right to run the one unit an [`Exclusive`] admits; frees it when dropped.
#[derive(Debug)]
pub struct Turn(Rc<Cell<bool>>);

impl Exclusive {
    /// Takes the turn, or `None` while another unit holds it.
    pub fn try_take(&self) -> Option<Turn> {
        (!self.0.replace(true)).then(|| Turn(self.0.clone()))
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

/// Effects being performed right now.
#[derive(Debug, Default)]
pub struct Claims(RefCell<HashSet<EffectId>>);

/// The right to perform one effect; released when dropped.
#[derive(Debug)]
pub struct Claim<'a> {
    claims: &'a Claims,
    id: EffectId,
}

impl Claims {
    /// Claims `id`, or `None` when someone is performing it already.
    pub fn claim(&self, id: EffectId) -> Option<Claim<'_>> {
        // The borrow ends with this statement; the claim is built only when it is ours (an
        // eagerly built one would release someone else's claim when dropped).
        let inserted = self.0.borrow_mut().insert(id);
        inserted.then(|| Claim { claims: self, id })
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.claims.0.borrow_mut().remove(&self.id);
    }
}

/// Spawns `work` on the actor's context, counted by `tracker`; an error is logged as `what`.
pub fn spawn_tracked<A, F, E>(
    actor: &mut A,
    ctx: &mut Context<A>,
    tracker: &Tracker,
    what: &'static str,
    work: F,
) where
    A: Actor<Context = Context<A>>,
    F: Future<Output = Result<(), E>> + 'static,
    E: Display + 'static,
{
    let guard = tracker.start();
    ctx.spawn(work.into_actor(actor).map(move |result, _, _| {
        drop(guard);
        if let Err(error) = result {
            tracing::error!(%error, "{what}");
        }
    }));
}

/// Like [`spawn_tracked`], but only when no other unit holds `exclusive`: otherwise the request
/// is skipped (logged at debug) and `false` returned. The unit holds its [`Turn`] until it ends
/// (or is cancelled), so at most one runs at any moment.
pub fn spawn_exclusive<A, F, E>(
    actor: &mut A,
    ctx: &mut Context<A>,
    tracker: &Tracker,
    exclusive: &Exclusive,
    what: &'static str,
    work: F,
) -> bool
where
    A: Actor<Context = Context<A>>,
    F: Future<Output = Result<(), E>> + 'static,
    E: Display + 'static,
{
    let Some(running) = exclusive.try_take() else {
        tracing::debug!("the previous pass is still running; this one is skipped ({what})");
        return false;
    };
    let work = async move {
        let result = work.await;
        drop(running);
        result
    };
    spawn_tracked(actor, ctx, tracker, what, work);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exclusive_admits_one_turn_until_it_is_dropped() {
        let exclusive = Exclusive::default();
        let shared = exclusive.clone();
        let turn = exclusive.try_take().expect("free at first");
        assert!(shared.try_take().is_none(), "taken through a clone too");
        drop(turn);
        assert!(shared.try_take().is_some(), "free again once the turn ends");
    }
}
