//! Between the port's words and the log's: an [`IncidentRecord`] as the `IncidentObserved`
//! event that records it, and an incident effect as the port operation that carries it out.
//!
//! Invariant: pure translation, no I/O; every field the log records comes from the record as
//! the service returned it.

use store::events::{Effect, IncidentObserved, Source};

use crate::ports::{IncidentChange, IncidentRecord};

/// The event recording an observation of `record`.
pub fn observed(record: &IncidentRecord, source: Source) -> IncidentObserved {
    IncidentObserved {
        source,
        name: record.name.clone(),
        etag: record.etag.clone(),
        incident_number: record.number,
        title: record.title.clone(),
        severity: record.severity.clone(),
        status: record.status.clone(),
        owner: record.owner.clone(),
        created_ms: record.created_ms,
        last_modified_ms: record.last_modified_ms,
        incident_url: record.url.clone(),
        labels: record.labels.clone(),
        raw_json: record.raw_json.clone(),
    }
}

/// The incident operation that carries out `effect`, for the effects that change the incident
/// itself (tag, acknowledge, close); `None` for the others.
pub fn incident_change(effect: &Effect) -> Option<IncidentChange> {
    Some(match effect {
        Effect::TagIncident { label } => IncidentChange::AddLabel(label.clone()),
        Effect::AcknowledgeIncident {
            owner, set_active, ..
        } => IncidentChange::Acknowledge {
            owner: owner.clone(),
            activate: *set_active,
        },
        Effect::CloseIncident {
            owner,
            classification,
            classification_reason,
            classification_comment,
            ..
        } => IncidentChange::Close {
            owner: owner.clone(),
            classification: classification.clone(),
            reason: classification_reason.clone(),
            comment: classification_comment.clone(),
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incident_effects_become_incident_operations() {
        let ack = Effect::AcknowledgeIncident {
            owner: Some("rene@contoso.com".into()),
            set_active: true,
            cause: "ack/round-1/u".into(),
        };
        assert_eq!(
            incident_change(&ack),
            Some(IncidentChange::Acknowledge {
                owner: Some("rene@contoso.com".into()),
                activate: true
            })
        );
        let tag = Effect::TagIncident {
            label: "SIGNL4".into(),
        };
        assert_eq!(
            incident_change(&tag),
            Some(IncidentChange::AddLabel("SIGNL4".into()))
        );
        let comment = Effect::WriteComment {
            comment_id: uuid::Uuid::nil(),
            message: "m".into(),
        };
        assert_eq!(incident_change(&comment), None);
    }
}
