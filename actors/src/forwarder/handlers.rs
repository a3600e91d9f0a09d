//! The Forwarder's messages: `Forward` pages (and tags) one incident, `Reconcile` finishes open
//! intents, `InFlight` reports work in flight.

use actix::{ActorFutureExt, AsyncContext, Handler, WrapFuture};

use super::Forwarder;
use crate::messages::{Forward, InFlight, Reconcile};
use crate::ports::{SentinelApi, Signl4Api};

impl<S: SentinelApi + 'static, G: Signl4Api + 'static> Handler<Forward> for Forwarder<S, G> {
    type Result = ();

    fn handle(&mut self, message: Forward, ctx: &mut Self::Context) {
        let guard = self.tracker.start();
        let context = self.context.clone();
        let work = async move {
            context
                .forward(message.tenant, message.incident, message.correlation)
                .await
        };
        ctx.spawn(work.into_actor(self).map(move |result, _, _| {
            drop(guard);
            if let Err(error) = result {
                tracing::error!(%error, incident = %message.incident, "forwarding not recorded");
            }
        }));
    }
}

impl<S: SentinelApi + 'static, G: Signl4Api + 'static> Handler<Reconcile> for Forwarder<S, G> {
    type Result = ();

    fn handle(&mut self, _: Reconcile, ctx: &mut Self::Context) {
        let guard = self.tracker.start();
        let context = self.context.clone();
        let work = async move { context.reconcile().await };
        ctx.spawn(work.into_actor(self).map(move |result, _, _| {
            drop(guard);
            if let Err(error) = result {
                tracing::error!(%error, "reconciliation not recorded");
            }
        }));
    }
}

impl<S: SentinelApi + 'static, G: Signl4Api + 'static> Handler<InFlight> for Forwarder<S, G> {
    type Result = usize;

    fn handle(&mut self, _: InFlight, _: &mut Self::Context) -> usize {
        self.tracker.count()
    }
}
