//! Version 1 payloads of the Defender XDR event kinds, frozen (the same rules as [`super::v1`]:
//! never edit, reorder or remove a field; new meaning gets a new version and an upcast).
//!
//! Kept apart from `v1.rs` so the kinds of one feature stay together and their frozen structs
//! are easy to find next to their golden fixtures (`store/tests/fixtures/events/incident_merged_v1.bin`).

use serde::{Deserialize, Serialize};

/// Defender merged this incident into another one: it turned `redirected` with
/// `redirectIncidentId`. Its Signl follows the surviving incident (annotated; resolved when the
/// survivor has a Signl of its own, so nobody is paged twice for one attack).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IncidentMerged {
    /// The surviving incident's source id (`redirectIncidentId`).
    pub into_name: String,
    /// Its number as shown (the Defender incident id; 0 when not numeric).
    pub into_number: i64,
    /// Whether the survivor had a Signl of its own when the merge was recorded.
    pub survivor_paged: bool,
}
