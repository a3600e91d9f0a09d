//! The Enricher's lifecycle: nothing to do at start; a larger mailbox absorbs a poll's burst.

use actix::{Actor, Context};

use super::Enricher;
use crate::ports::{LogAnalyticsApi, SentinelApi};

impl<S: SentinelApi + 'static, L: LogAnalyticsApi + 'static> Actor for Enricher<S, L> {
    type Context = Context<Self>;
}
