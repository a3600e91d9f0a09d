//! The Enricher's lifecycle: nothing to do at start. The mailbox keeps actix's default capacity;
//! a poll's burst does not wait there but at its sender, whose `Enrich` is answered only once it
//! holds one of the enrichment permits (see `handlers.rs`).

use actix::{Actor, Context};

use super::Enricher;
use crate::ports::{IncidentSource, LogAnalyticsApi};

impl<S: IncidentSource + 'static, L: LogAnalyticsApi + 'static> Actor for Enricher<S, L> {
    type Context = Context<Self>;
}
