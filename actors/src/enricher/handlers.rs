//! The Enricher's messages: `Enrich` starts one enrichment once it holds one of the
//! `enrichment_concurrency` permits; `EnrichBacklog` hands over the incidents a restart found
//! unpaged, one at a time; `InFlight` reports how many are running or waiting.
//!
//! Invariant (the bound): the answer to `Enrich` is sent only when its enrichment holds a permit
//! and is spawned. A sender that awaits the answer (the Poller, the backlog) therefore waits
//! while every permit is taken, so at most `enrichment_concurrency` enrichments run and at most
//! one waits per sender, however large the burst: waiting futures are bounded, not just the
//! mailbox. (`do_send` would not wait for the answer; no caller uses it for `Enrich`.)

use actix::{ActorFutureExt, AsyncContext, Handler, ResponseActFuture, WrapFuture};

use super::{enrich_and_forward, Enricher};
use crate::messages::{Enrich, EnrichBacklog, InFlight};
use crate::ports::{IncidentSource, LogAnalyticsApi};
use crate::tracker::spawn_tracked;

impl<S: IncidentSource + 'static, L: LogAnalyticsApi + 'static> Handler<Enrich> for Enricher<S, L> {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, message: Enrich, _: &mut Self::Context) -> Self::Result {
        // Counted while it waits, so a quiet pipeline is never reported while one waits.
        let waiting = self.tracker.start();
        let permits = self.context.permits.clone();
        Box::pin(
            async move { permits.acquire_owned().await }
                .into_actor(self)
                .map(move |permit, act, ctx| {
                    // The semaphore is never closed; were it, nothing could be enriched.
                    let Ok(permit) = permit else { return };
                    let context = act.context.clone();
                    let work = async move {
                        let _permit = permit;
                        enrich_and_forward(
                            &context,
                            message.tenant,
                            message.incident,
                            message.correlation,
                        )
                        .await
                    };
                    let tracker = act.tracker.clone();
                    spawn_tracked(act, ctx, &tracker, "enrichment not recorded", work);
                    // Only now: the spawned work is counted before the wait stops counting.
                    drop(waiting);
                }),
        )
    }
}

impl<S: IncidentSource + 'static, L: LogAnalyticsApi + 'static> Handler<EnrichBacklog>
    for Enricher<S, L>
{
    type Result = ();

    fn handle(&mut self, backlog: EnrichBacklog, ctx: &mut Self::Context) {
        let me = ctx.address();
        let work = async move {
            for incident in backlog.incidents {
                // Waits for a permit like any sender (see the module header).
                me.send(Enrich {
                    tenant: backlog.tenant,
                    incident,
                    correlation: backlog.correlation,
                })
                .await?;
            }
            Ok::<(), actix::MailboxError>(())
        };
        let tracker = self.tracker.clone();
        spawn_tracked(self, ctx, &tracker, "backlog not handed over", work);
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
