//! The Poller's messages: `PollNow` starts a poll unless one is running; `InFlight` reports it.

use actix::{ActorFutureExt, AsyncContext, Handler, WrapFuture};

use super::{poll_once, Poller};
use crate::messages::{InFlight, PollNow};
use crate::ports::SentinelApi;

impl<S: SentinelApi + 'static> Handler<PollNow> for Poller<S> {
    type Result = ();

    fn handle(&mut self, _: PollNow, ctx: &mut Self::Context) {
        if self.tracker.count() > 0 {
            return; // a poll is running; this tick is skipped, not queued
        }
        let guard = self.tracker.start();
        let context = self.context.clone();
        let sweep = self
            .last_sweep
            .is_none_or(|at| at.elapsed() >= context.settings.sweep_interval);
        if sweep {
            self.last_sweep = Some(std::time::Instant::now());
        }
        let poll = async move {
            let result = poll_once(&context, sweep).await;
            (result, context.settings.name.clone())
        };
        ctx.spawn(poll.into_actor(self).map(move |(result, name), _, _| {
            drop(guard);
            match result {
                Ok(stats) => tracing::debug!(connector = %name, ?stats, "poll done"),
                Err(error) => {
                    tracing::warn!(connector = %name, %error, "poll failed; retrying next tick")
                }
            }
        }));
    }
}

impl<S: SentinelApi + 'static> Handler<InFlight> for Poller<S> {
    type Result = usize;

    fn handle(&mut self, _: InFlight, _: &mut Self::Context) -> usize {
        self.tracker.count()
    }
}
