//! StatusSync's lifecycle: reconcile open write-backs at start and every poll interval; poll
//! SIGNL4's REST API at its own interval when that fallback is configured.

use actix::{Actor, AsyncContext, Context};

use super::StatusSync;
use crate::messages::{PollSignl4, Reconcile};
use crate::ports::{IncidentSource, Signl4Api};

impl<S: IncidentSource + 'static, G: Signl4Api + 'static> Actor for StatusSync<S, G> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.notify(Reconcile);
        let interval = self.context.settings.poll_interval;
        ctx.run_interval(interval, |_, ctx| ctx.notify(Reconcile));
        if let Some(interval) = self.context.settings.sync.signl4_poll_interval {
            ctx.notify(PollSignl4);
            ctx.run_interval(interval, |_, ctx| ctx.notify(PollSignl4));
        }
    }
}
