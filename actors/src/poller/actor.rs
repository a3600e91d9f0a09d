//! The Poller's lifecycle: poll once at start, then every `poll_interval`.

use actix::{Actor, AsyncContext, Context};

use super::Poller;
use crate::messages::PollNow;
use crate::ports::IncidentSource;

impl<S: IncidentSource + 'static> Actor for Poller<S> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.notify(PollNow);
        let interval = self.context.settings.poll_interval;
        ctx.run_interval(interval, |_, ctx| ctx.notify(PollNow));
    }
}
