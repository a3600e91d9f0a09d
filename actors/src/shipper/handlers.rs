//! The Shipper's messages: `ShipNow` (one pass, atomic, answered with its report) and
//! `ShipperStatus` (the counters, between passes).

use actix::{ActorFutureExt, AtomicResponse, Handler, MessageResult, WrapFuture};

use super::{PassReport, ShipError, Shipper};
use crate::messages::{ShipNow, ShipperStatus};
use crate::ports::LogsIngestionApi;

impl<L: LogsIngestionApi + 'static> Handler<ShipNow> for Shipper<L> {
    type Result = AtomicResponse<Self, Result<PassReport, ShipError>>;

    fn handle(&mut self, _: ShipNow, _: &mut Self::Context) -> Self::Result {
        let context = self.context.clone();
        let pass = async move { context.ship().await };
        AtomicResponse::new(Box::pin(pass.into_actor(self).map(|result, act, _| {
            let connector = &act.context.settings.connector;
            match &result {
                Ok(report) if report.rows > 0 => tracing::info!(
                    %connector, rows = report.rows, batches = report.batches, cursor = report.cursor,
                    "SIGNL4_CL rows shipped"
                ),
                Ok(_) => {}
                Err(ShipError::Halted(reason)) if !act.halt_reported => {
                    act.halt_reported = true;
                    tracing::error!(%connector, %reason, "SIGNL4_CL shipping is halted until a restart");
                }
                Err(ShipError::Halted(_)) => {}
                Err(error) => tracing::warn!(%connector, %error, "SIGNL4_CL pass ended early; the next one resumes at the cursor"),
            }
            result
        })))
    }
}

impl<L: LogsIngestionApi + 'static> Handler<ShipperStatus> for Shipper<L> {
    type Result = MessageResult<ShipperStatus>;

    fn handle(&mut self, _: ShipperStatus, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.context.stats())
    }
}
