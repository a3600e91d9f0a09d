//! Commands: what the actors ask the log to record. A command names an intention ("this was
//! observed", "perform this effect", "this effect worked"); `decide` checks it against the state
//! and answers with the events to append.

use crate::events::{
    ConnectorStarted, Effect, EffectResult, IncidentEnriched, IncidentMerged, IncidentObserved,
    Signl4ActionReceived, WatermarkAdvanced,
};
use crate::ids::EffectId;

/// A request to record a transition of one incident or of one tenant's stream.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Incident: the Poller saw it (new, changed, closed or reopened).
    Observe(IncidentObserved),
    /// Incident: the Enricher gathered its alerts, entities and search results.
    RecordEnrichment(IncidentEnriched),
    /// Incident: record the intent of a side effect before performing it.
    Request(Effect),
    /// Incident: a side effect worked.
    Succeed {
        effect_id: EffectId,
        result: EffectResult,
    },
    /// Incident: a side effect cannot work; stop retrying it.
    Fail {
        effect_id: EffectId,
        reason: String,
        attempts: u32,
    },
    /// Incident: a side effect met a refusal an operator can fix; its intent stays open. A
    /// repeat with the reason already recorded decides to nothing (once per change of state).
    Park {
        effect_id: EffectId,
        reason: String,
        attempts: u32,
    },
    /// Incident: an open intent must no longer be performed (closes it without a call).
    Cancel { effect_id: EffectId, reason: String },
    /// Incident: SIGNL4 told us what a user did.
    RecordSignl4Action(Signl4ActionReceived),
    /// Incident: Defender merged it into another incident.
    RecordMerge(IncidentMerged),
    /// Tenant stream: the Poller's watermark moved.
    AdvanceWatermark(WatermarkAdvanced),
    /// Tenant stream: a connector started on this log.
    StartConnector(ConnectorStarted),
}

impl Command {
    /// True for commands of the tenant stream rather than of an incident.
    pub fn is_tenant_command(&self) -> bool {
        matches!(
            self,
            Command::AdvanceWatermark(_) | Command::StartConnector(_)
        )
    }
}
