//! The Enricher's lifecycle: nothing to do at start. The mailbox keeps actix's default capacity;
//! a poll's burst does not wait there, because each `Enrich` is spawned at once and waits for
//! one of the enrichment permits instead (see `handlers.rs`).

use actix::{Actor, Context};

use super::Enricher;
use crate::ports::{IncidentSource, LogAnalyticsApi};

impl<S: IncidentSource + 'static, L: LogAnalyticsApi + 'static> Actor for Enricher<S, L> {
    type Context = Context<Self>;
}
