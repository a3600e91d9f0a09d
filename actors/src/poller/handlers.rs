//! The Poller's messages: `PollNow` starts a poll unless one is running; `InFlight` reports it.

use actix::{ActorFutureExt, AsyncContext, Handler, WrapFuture};

use std::time::Instant;

use super::{poll_once, PollError, Poller};
use crate::messages::{InFlight, PollNow};
use crate::ports::{ApiError, IncidentSource};

impl<S: IncidentSource + 'static> Handler<PollNow> for Poller<S> {
    type Result = ();

    fn handle(&mut self, _: PollNow, ctx: &mut Self::Context) {
        if self.tracker.count() > 0 {
            return; // a poll is running; this tick is skipped, not queued
        }
        let now = Instant::now();
        if self.throttled_until.is_some_and(|until| now < until) {
            return; // Retry-After not over yet
        }
        let guard = self.tracker.start();
        let context = self.context.clone();
        let sweep = self
            .last_sweep
            .is_none_or(|at| at.elapsed() >= context.settings.sweep_interval);
        let poll = async move {
            let result = poll_once(&context, sweep).await;
            (result, context.settings.name.clone())
        };
        ctx.spawn(poll.into_actor(self).map(move |(result, name), poller, _| {
            drop(guard);
            // The operator's view (`/readyz`, `/status`): the outcome of every poll.
            let health = crate::health::registry();
            match &result {
                Ok(_) => health.poll_succeeded(&name, crate::health::now_ms()),
                Err(error) => health.poll_failed(&name, crate::health::now_ms(), error.to_string()),
            }
            match result {
                Ok(stats) => {
                    if sweep {
                        poller.last_sweep = Some(now);
                    }
                    poller.throttled_until = None;
                    tracing::debug!(connector = %name, ?stats, "poll done")
                }
                Err(PollError::Api(ApiError::Throttled { retry_after })) => {
                    poller.throttled_until = Some(Instant::now() + retry_after);
                    tracing::warn!(
                        connector = %name,
                        retry_after_s = retry_after.as_secs(),
                        "Sentinel throttles this subscription; polls pause until Retry-After"
                    )
                }
                Err(error) => {
                    tracing::warn!(connector = %name, %error, "poll failed; retrying next tick")
                }
            }
        }));
    }
}

impl<S: IncidentSource + 'static> Handler<InFlight> for Poller<S> {
    type Result = usize;

    fn handle(&mut self, _: InFlight, _: &mut Self::Context) -> usize {
        self.tracker.count()
    }
}
