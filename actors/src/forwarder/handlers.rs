//! The Forwarder's messages: `Forward` pages (and tags) one incident, `Reconcile` finishes open
//! intents (one pass at a time), `InFlight` reports work in flight.

use actix::Handler;

use super::Forwarder;
use crate::messages::{Forward, InFlight, Reconcile};
use crate::ports::{IncidentSource, Signl4Api};
use crate::tracker::{spawn_exclusive, spawn_tracked};

impl<S: IncidentSource + 'static, G: Signl4Api + 'static> Handler<Forward> for Forwarder<S, G> {
    type Result = ();

    fn handle(&mut self, message: Forward, ctx: &mut Self::Context) {
        let context = self.context.clone();
        let work = async move {
            context
                .forward(message.tenant, message.incident, message.correlation)
                .await
        };
        let tracker = self.tracker.clone();
        spawn_tracked(self, ctx, &tracker, "forwarding not recorded", work);
    }
}

impl<S: IncidentSource + 'static, G: Signl4Api + 'static> Handler<Reconcile> for Forwarder<S, G> {
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
            "reconciliation not recorded",
            work,
        );
    }
}

impl<S: IncidentSource + 'static, G: Signl4Api + 'static> Handler<InFlight> for Forwarder<S, G> {
    type Result = usize;

    fn handle(&mut self, _: InFlight, _: &mut Self::Context) -> usize {
        self.tracker.count()
    }
}
