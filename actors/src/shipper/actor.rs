//! The Shipper's lifecycle: a pass at start, then one every `interval`.

use actix::{Actor, AsyncContext, Context};

use super::Shipper;
use crate::messages::ShipNow;
use crate::ports::LogsIngestionApi;

impl<L: LogsIngestionApi + 'static> Actor for Shipper<L> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.notify(ShipNow);
        let interval = self.context.settings.interval;
        ctx.run_interval(interval, |_, ctx| ctx.notify(ShipNow));
    }
}
