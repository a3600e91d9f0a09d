//! StatusSync's messages: `Signl4Notified` (answered once durable; the write-back follows),
//! `SentinelChanged`, `Reconcile`, `PollSignl4` (one REST poll at a time) and `InFlight`.

use actix::{ActorFutureExt, Handler, ResponseActFuture, WrapFuture};

use super::StatusSync;
use crate::messages::{InFlight, PollSignl4, Reconcile, Recorded, SentinelChanged, Signl4Notified};
use crate::ports::{IncidentSource, Signl4Api};
use crate::tracker::{spawn_exclusive, spawn_tracked};

impl<S: IncidentSource + 'static, G: Signl4Api + 'static> Handler<Signl4Notified>
    for StatusSync<S, G>
{
    type Result = ResponseActFuture<Self, Result<Recorded, store::StoreError>>;

    fn handle(&mut self, message: Signl4Notified, _: &mut Self::Context) -> Self::Result {
        let context = self.context.clone();
        let notification = message.0;
        let record = async move {
            let recorded = context.record(&notification).await;
            (recorded, notification)
        };
        Box::pin(
            record
                .into_actor(self)
                .map(|(recorded, _notification), act, ctx| {
                    let (recorded, work) = recorded?;
                    if let Some((incident, intents)) = work {
                        let context = act.context.clone();
                        let work = async move { context.write_back(incident, intents).await };
                        let tracker = act.tracker.clone();
                        spawn_tracked(act, ctx, &tracker, "write-back not recorded", work);
                    }
                    Ok(recorded)
                }),
        )
    }
}

impl<S: IncidentSource + 'static, G: Signl4Api + 'static> Handler<SentinelChanged>
    for StatusSync<S, G>
{
    type Result = ();

    fn handle(&mut self, message: SentinelChanged, ctx: &mut Self::Context) {
        let context = self.context.clone();
        let work = async move { context.sentinel_changed(message.incident).await };
        let tracker = self.tracker.clone();
        spawn_tracked(self, ctx, &tracker, "Sentinel change not synced", work);
    }
}

impl<S: IncidentSource + 'static, G: Signl4Api + 'static> Handler<Reconcile> for StatusSync<S, G> {
    type Result = ();

    fn handle(&mut self, _: Reconcile, ctx: &mut Self::Context) {
        let context = self.context.clone();
        let work = async move { context.reconcile().await };
        let (tracker, reconciling) = (self.tracker.clone(), self.reconciling.clone());
        // One pass at a time: a tick while a (slow) pass runs is skipped, not stacked.
        spawn_exclusive(
            self,
            ctx,
            &tracker,
            &reconciling,
            "StatusSync reconciliation not recorded",
            work,
        );
    }
}

impl<S: IncidentSource + 'static, G: Signl4Api + 'static> Handler<PollSignl4> for StatusSync<S, G> {
    type Result = ();

    fn handle(&mut self, _: PollSignl4, ctx: &mut Self::Context) {
        if self.context.polls.rest_polling.replace(true) {
            return; // a poll is running; this tick is skipped, not queued
        }
        let context = self.context.clone();
        let work = async move {
            let result = context.poll_signl4().await;
            context.polls.rest_polling.set(false);
            result.map(|stats| tracing::debug!(?stats, "SIGNL4 polled"))
        };
        let tracker = self.tracker.clone();
        spawn_tracked(self, ctx, &tracker, "SIGNL4 poll not recorded", work);
    }
}

impl<S: IncidentSource + 'static, G: Signl4Api + 'static> Handler<InFlight> for StatusSync<S, G> {
    type Result = usize;

    fn handle(&mut self, _: InFlight, _: &mut Self::Context) -> usize {
        self.tracker.count()
    }
}
