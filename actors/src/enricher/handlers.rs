//! The Enricher's messages: `Enrich` starts one enrichment (bounded by the semaphore);
//! `InFlight` reports how many are running or waiting.

use actix::Handler;

use super::{enrich_and_forward, Enricher};
use crate::messages::{Enrich, InFlight};
use crate::ports::{IncidentSource, LogAnalyticsApi};
use crate::tracker::spawn_tracked;

impl<S: IncidentSource + 'static, L: LogAnalyticsApi + 'static> Handler<Enrich> for Enricher<S, L> {
    type Result = ();

    fn handle(&mut self, message: Enrich, ctx: &mut Self::Context) {
        let context = self.context.clone();
        let work = async move {
            enrich_and_forward(
                &context,
                message.tenant,
                message.incident,
                message.correlation,
            )
            .await
        };
        let tracker = self.tracker.clone();
        spawn_tracked(self, ctx, &tracker, "enrichment not recorded", work);
    }
}

impl<S: IncidentSource + 'static, L: LogAnalyticsApi + 'static> Handler<InFlight>
    for Enricher<S, L>
{
    type Result = usize;

    fn handle(&mut self, _: InFlight, _: &mut Self::Context) -> usize {
        self.tracker.count()
    }
}
