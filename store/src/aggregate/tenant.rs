//! The tenant stream: per-connector facts that belong to no incident (the Poller's durable
//! watermark, connector starts). Invariant: the watermark only moves forward.

use serde::{Deserialize, Serialize};

use super::{Command, DecideError};
use crate::events::{Event, Source};

/// What the log knows about one connector.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TenantState {
    /// The configured name, from the last start.
    pub name: Option<String>,
    /// The read source of the last start.
    pub source: Option<Source>,
    /// The Poller lists incidents modified at or after this (minus its overlap).
    pub watermark_ms: i64,
    /// Highest incident number seen.
    pub max_incident_number: i64,
    /// How many times a connector started on this tenant.
    pub starts: u32,
    /// Events applied to the tenant stream.
    pub version: u64,
}

impl TenantState {
    /// The events a tenant command implies.
    pub fn decide(&self, command: &Command) -> Result<Vec<Event>, DecideError> {
        match command {
            Command::AdvanceWatermark(w) => {
                if w.watermark_ms < self.watermark_ms {
                    return Err(DecideError::WatermarkRegressed {
                        current: self.watermark_ms,
                        proposed: w.watermark_ms,
                    });
                }
                if w.watermark_ms == self.watermark_ms
                    && w.max_incident_number <= self.max_incident_number
                {
                    return Ok(Vec::new());
                }
                Ok(vec![Event::WatermarkAdvanced(w.clone())])
            }
            Command::StartConnector(c) => Ok(vec![Event::ConnectorStarted(c.clone())]),
            _ => Err(DecideError::WrongStream),
        }
    }

    /// Folds a tenant-stream event.
    pub fn apply(&mut self, event: &Event) {
        self.version += 1;
        match event {
            Event::WatermarkAdvanced(w) => {
                self.watermark_ms = self.watermark_ms.max(w.watermark_ms);
                self.max_incident_number = self.max_incident_number.max(w.max_incident_number);
            }
            Event::ConnectorStarted(c) => {
                self.name = Some(c.name.clone());
                self.source = Some(c.source);
                self.starts += 1;
            }
            _ => {}
        }
    }
}
