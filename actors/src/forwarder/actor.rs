//! The Forwarder's lifecycle: reconcile open intents at start and then every poll interval, so
//! an intent whose retries ran out is finished once the remote side recovers.

use actix::{Actor, AsyncContext, Context};

use super::Forwarder;
use crate::messages::Reconcile;
use crate::ports::{IncidentSource, Signl4Api};

impl<S: IncidentSource + 'static, G: Signl4Api + 'static> Actor for Forwarder<S, G> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.notify(Reconcile);
        let interval = self.context.settings.poll_interval;
        ctx.run_interval(interval, |_, ctx| ctx.notify(Reconcile));
    }
}
