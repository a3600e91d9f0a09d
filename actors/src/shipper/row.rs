//! One `SIGNL4_CL` row per Signl lifecycle event: what the shipper sends, and its columns.
//!
//! Invariants:
//! - [`row`] is a pure function of the incident's state *before* the event and the event itself,
//!   so replaying the same log always yields the same rows (a re-sent batch is byte-identical
//!   apart from nothing: same `EventId`, same values), which is what makes the documented KQL
//!   deduplication on `EventId` exact.
//! - Every row has every column of [`COLUMNS`], in that order, `null` where a value is unknown;
//!   `deploy/signl4_cl/` declares the same columns (a test compares them).
//! - Text fields are cut to [`MAX_TEXT_BYTES`] on a character boundary: the service refuses
//!   values over 64 KB, and one oversized note must not block the table.
//! - Measures sit on the row of the action that ends them: `SecondsToAcknowledge` on
//!   acknowledgements, `SecondsToClose` on closes and resolves, so averaging a column over its
//!   action never counts one response twice.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use store::aggregate::{Incident, SignlStatus};
use store::events::{Effect, Event, Signl4Action};
use store::ids::external_id;
use store::{StoredEvent, TenantId};

/// The columns of `SIGNL4_CL` with their Log Analytics types, in the order rows carry them.
pub const COLUMNS: &[(&str, &str)] = &[
    ("TimeGenerated", "datetime"),
    ("Connector", "string"),
    ("AzureTenantId", "string"),
    ("IncidentName", "string"),
    ("IncidentNumber", "long"),
    ("IncidentTitle", "string"),
    ("IncidentUrl", "string"),
    ("Severity", "string"),
    ("Round", "int"),
    ("SignlId", "string"),
    ("ExternalId", "string"),
    ("Action", "string"),
    ("User", "string"),
    ("Note", "string"),
    ("SecondsToAcknowledge", "real"),
    ("SecondsToClose", "real"),
    ("EventId", "string"),
    ("EventSeq", "long"),
];

/// Longest text value sent (note, title); the service's limit is 64 KB per value.
pub const MAX_TEXT_BYTES: usize = 32 * 1024;

/// What happened to the Signl, as the `Action` column spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Action {
    /// SIGNL4 accepted the page (the raise's outcome).
    Created,
    /// A SIGNL4 user acknowledged.
    Acknowledged,
    /// A SIGNL4 user (or SIGNL4 itself) closed the Signl.
    Closed,
    /// A SIGNL4 user added a note.
    Annotated,
    /// The incident was closed in Sentinel and the connector resolved the Signl.
    ResolvedFromSentinel,
    /// An owner was set in Sentinel and the connector acknowledged the Signl.
    AcknowledgedFromSentinel,
    /// An analyst commented in Sentinel and the connector annotated the Signl.
    AnnotatedFromSentinel,
}

/// Who the rows are about: fixed per shipper.
#[derive(Clone, Debug, PartialEq)]
pub struct RowSource {
    /// The connector's configured name.
    pub connector: String,
    /// The connector's tenant stream in the log.
    pub tenant: TenantId,
    /// The Entra tenant of the workspace (the `AzureTenantId` column).
    pub azure_tenant_id: String,
}

/// One row of `SIGNL4_CL`. Field order and names are [`COLUMNS`].
#[derive(Clone, Debug, PartialEq, Serialize)]
#[allow(non_snake_case)]
pub struct Row {
    pub TimeGenerated: String,
    pub Connector: String,
    pub AzureTenantId: String,
    pub IncidentName: String,
    pub IncidentNumber: i64,
    pub IncidentTitle: String,
    pub IncidentUrl: String,
    pub Severity: String,
    pub Round: u32,
    pub SignlId: Option<String>,
    pub ExternalId: String,
    pub Action: Action,
    pub User: Option<String>,
    pub Note: Option<String>,
    pub SecondsToAcknowledge: Option<f64>,
    pub SecondsToClose: Option<f64>,
    pub EventId: String,
    pub EventSeq: u64,
}

/// Most annotation texts of our own an incident's [`Provenance`] keeps (newest kept).
const OWN_NOTES_KEPT: usize = 64;

/// What the connector itself asked SIGNL4 to do for one incident, beyond what the aggregate
/// keeps: the texts of the annotations it added (the aggregate keeps their SIGNL4 ids, which a
/// recorded echo does not carry). Folded from the incident's own events, so it is as
/// reproducible as the aggregate.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Provenance {
    own_notes: std::collections::VecDeque<String>,
}

impl Provenance {
    /// Folds one event of the incident.
    pub fn apply(&mut self, event: &Event) {
        if let Event::EffectRequested(r) = event {
            if let Effect::AnnotateSignl { text, .. } = &r.effect {
                if self.own_notes.len() >= OWN_NOTES_KEPT {
                    self.own_notes.pop_front();
                }
                self.own_notes.push_back(text.clone());
            }
        }
    }

    /// True when the connector asked to add an annotation with exactly this text.
    pub fn is_own_note(&self, text: &str) -> bool {
        self.own_notes.iter().any(|own| own == text)
    }
}

/// True when a userless SIGNL4 change is the echo of the connector's own request: its *intent*
/// is in the log (open or done), whether or not the call's outcome was recorded yet. SIGNL4
/// sends the echo milliseconds after the request, usually before the outcome, so the Signl's
/// status alone cannot tell.
fn echo_of_our_request(before: &Incident, action: &Signl4Action) -> bool {
    // The ExternalID as StatusSync names it in the effects it asks for.
    let external = external_id(before.tenant, before.key);
    let round = before.round;
    let resolve = || {
        before.requested(&Effect::ResolveSignl {
            external_id: external.clone(),
            round,
        })
    };
    match action {
        Signl4Action::Closed => before.signl.status == SignlStatus::Closed || resolve(),
        Signl4Action::Acknowledged => {
            matches!(
                before.signl.status,
                SignlStatus::Acknowledged | SignlStatus::Closed
            ) || before.requested(&Effect::AcknowledgeSignl {
                external_id: external.clone(),
                round,
            }) || resolve()
        }
        Signl4Action::Annotated { .. } => false,
    }
}

/// The row for `stored`, given the incident's state before it; `None` for events that are not
/// Signl activity (observations, enrichment, intents, Sentinel write-backs, tenant events) and
/// for the echo SIGNL4 sends of a change the connector itself made (recognised from the intent
/// in the log, [`echo_of_our_request`], and for annotations from their text, [`Provenance`]).
pub fn row(
    source: &RowSource,
    before: &Incident,
    provenance: &Provenance,
    stored: &StoredEvent,
) -> Option<Row> {
    let signl = &before.signl;
    // A Signl recovered by its ExternalID (reply lost, or a crash between the call and its
    // outcome) has no recorded raise time; the intent's time is when the page went out.
    let raised = signl.raised_at_ms.or(signl.requested_at_ms);
    let since_raise = |at_ms: i64| raised.map(|raised| (at_ms - raised).max(0) as f64 / 1000.0);
    let (action, user, note, signl_id, to_ack, to_close) = match &stored.event {
        Event::EffectSucceeded(e) => match before.open_effects.get(&e.effect_id)? {
            Effect::RaiseSignl { .. } => (Action::Created, None, None, None, None, None),
            Effect::ResolveSignl { .. } => (
                Action::ResolvedFromSentinel,
                before.owner.clone(),
                None,
                None,
                None,
                since_raise(stored.recorded_at_ms),
            ),
            Effect::AcknowledgeSignl { .. } => (
                Action::AcknowledgedFromSentinel,
                before.owner.clone(),
                None,
                None,
                since_raise(stored.recorded_at_ms),
                None,
            ),
            Effect::AnnotateSignl { signl_id, text, .. } => (
                Action::AnnotatedFromSentinel,
                None,
                Some(text.clone()),
                Some(signl_id.clone()),
                None,
                None,
            ),
            _ => return None,
        },
        Event::Signl4ActionReceived(e) => {
            let user = e.user_email.clone().or_else(|| e.user_name.clone());
            let id = Some(e.signl_id.clone());
            if user.is_none() && echo_of_our_request(before, &e.action) {
                return None;
            }
            match &e.action {
                Signl4Action::Acknowledged => {
                    let to_ack = since_raise(e.raised_at_ms);
                    (Action::Acknowledged, user, None, id, to_ack, None)
                }
                Signl4Action::Closed => {
                    let to_close = since_raise(e.raised_at_ms);
                    (Action::Closed, user, None, id, None, to_close)
                }
                Signl4Action::Annotated { text } => {
                    // Our own note coming back (with or without the API user named): the
                    // AnnotatedFromSentinel row counts it already.
                    if provenance.is_own_note(text) {
                        return None;
                    }
                    (Action::Annotated, user, Some(text.clone()), id, None, None)
                }
            }
        }
        _ => return None,
    };
    Some(Row {
        TimeGenerated: timestamp(stored.recorded_at_ms),
        Connector: source.connector.clone(),
        AzureTenantId: source.azure_tenant_id.clone(),
        IncidentName: before.name.clone(),
        IncidentNumber: before.number,
        IncidentTitle: cut(&before.title),
        IncidentUrl: before.url.clone(),
        Severity: before.severity.clone(),
        Round: before.round,
        SignlId: signl_id.or_else(|| signl.signl_id.clone()),
        ExternalId: external_id(source.tenant, stored.incident),
        Action: action,
        User: user,
        Note: note.map(|n| cut(&n)),
        SecondsToAcknowledge: to_ack,
        SecondsToClose: to_close,
        EventId: stored.event_id.to_string(),
        EventSeq: stored.seq,
    })
}

/// ISO 8601 UTC with milliseconds, as `TimeGenerated` expects.
fn timestamp(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `text` cut to at most [`MAX_TEXT_BYTES`] bytes on a character boundary.
fn cut(text: &str) -> String {
    if text.len() <= MAX_TEXT_BYTES {
        return text.to_string();
    }
    let mut end = MAX_TEXT_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use store::events::{EffectResult, EffectSucceeded, Signl4ActionReceived};
    use store::{EffectId, IncidentKey};
    use uuid::Uuid;

    fn source() -> RowSource {
        RowSource {
            connector: "contoso".into(),
            tenant: TenantId::from_name("contoso"),
            azure_tenant_id: "72f988bf-86f1-41af-91ab-2d7cd011db47".into(),
        }
    }

    fn stored(seq: u64, at: i64, event: Event) -> StoredEvent {
        StoredEvent {
            seq,
            event_id: Uuid::now_v7(),
            recorded_at_ms: at,
            tenant: source().tenant,
            incident: IncidentKey::from_source_id("73e01a99-5cd7-4139-a149-9f2736ff2ab5"),
            causation: None,
            correlation: Uuid::nil(),
            event,
        }
    }

    fn raised_incident() -> Incident {
        let mut incident = Incident::new(source().tenant, IncidentKey::default());
        incident.name = "73e01a99-5cd7-4139-a149-9f2736ff2ab5".into();
        incident.number = 42;
        incident.severity = "High".into();
        incident.round = 1;
        incident.signl.status = SignlStatus::Open;
        incident.signl.raised_at_ms = Some(1_000_000);
        incident
    }

    fn action(action: Signl4Action, user: Option<&str>, at: i64) -> Event {
        Event::Signl4ActionReceived(Signl4ActionReceived {
            notification_id: "n".into(),
            signl_id: "s1".into(),
            action,
            user_email: user.map(str::to_string),
            user_name: None,
            raised_at_ms: at,
        })
    }

    #[test]
    fn every_row_carries_every_column_in_order() {
        let event = stored(
            7,
            1_060_000,
            action(Signl4Action::Acknowledged, Some("a@x"), 1_060_500),
        );
        let row = row(
            &source(),
            &raised_incident(),
            &Provenance::default(),
            &event,
        )
        .unwrap();
        let json = serde_json::to_value(&row).unwrap();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut expected: Vec<&str> = COLUMNS.iter().map(|(c, _)| *c).collect();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        expected.sort_unstable();
        assert_eq!(sorted, expected);
        let text = serde_json::to_string(&row).unwrap();
        let positions: Vec<usize> = COLUMNS
            .iter()
            .map(|(c, _)| text.find(&format!("\"{c}\":")).unwrap())
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
        assert_eq!(row.Action, Action::Acknowledged);
        assert_eq!(row.SecondsToAcknowledge, Some(60.5));
        assert_eq!(row.TimeGenerated, "1970-01-01T00:17:40.000Z");
        assert_eq!(row.EventSeq, 7);
    }

    #[test]
    fn raises_and_resolves_are_rows_other_effects_are_not() {
        let mut before = raised_incident();
        let raise = EffectId(Uuid::from_u128(1));
        let resolve = EffectId(Uuid::from_u128(2));
        let tag = EffectId(Uuid::from_u128(3));
        before.open_effects.insert(
            raise,
            Effect::RaiseSignl {
                external_id: "x".into(),
                round: 1,
            },
        );
        before.open_effects.insert(
            resolve,
            Effect::ResolveSignl {
                external_id: "x".into(),
                round: 1,
            },
        );
        before
            .open_effects
            .insert(tag, Effect::TagIncident { label: "S".into() });
        before.owner = Some("ana@contoso.com".into());
        let done = |id| {
            Event::EffectSucceeded(EffectSucceeded {
                effect_id: id,
                result: EffectResult::AlreadyDone { detail: "".into() },
            })
        };
        let created = row(
            &source(),
            &before,
            &Provenance::default(),
            &stored(1, 5, done(raise)),
        )
        .unwrap();
        assert_eq!(created.Action, Action::Created);
        let resolved = row(
            &source(),
            &before,
            &Provenance::default(),
            &stored(2, 1_300_000, done(resolve)),
        )
        .unwrap();
        assert_eq!(resolved.Action, Action::ResolvedFromSentinel);
        assert_eq!(resolved.SecondsToClose, Some(300.0));
        assert_eq!(resolved.User.as_deref(), Some("ana@contoso.com"));
        assert_eq!(
            row(
                &source(),
                &before,
                &Provenance::default(),
                &stored(3, 5, done(tag))
            ),
            None
        );
    }

    #[test]
    fn echoes_of_our_own_changes_are_not_rows_and_long_notes_are_cut() {
        let mut closed = raised_incident();
        closed.signl.status = SignlStatus::Closed;
        let echo = stored(9, 5, action(Signl4Action::Closed, None, 5));
        assert_eq!(row(&source(), &closed, &Provenance::default(), &echo), None);
        let long = "é".repeat(MAX_TEXT_BYTES);
        let note = stored(
            10,
            5,
            action(Signl4Action::Annotated { text: long }, Some("a@x"), 5),
        );
        let row = row(&source(), &raised_incident(), &Provenance::default(), &note).unwrap();
        let text = row.Note.unwrap();
        assert!(text.len() <= MAX_TEXT_BYTES && text.len() > MAX_TEXT_BYTES - 2);
    }

    fn with_intent(before: &mut Incident, effect: Effect) -> EffectId {
        let id = store::aggregate::effect_id(before.tenant, before.key, &effect);
        before.open_effects.insert(id, effect);
        id
    }

    fn ours(before: &Incident) -> String {
        external_id(before.tenant, before.key)
    }

    #[test]
    fn a_userless_echo_is_recognised_from_the_intent_before_the_outcome() {
        // The resolve's intent is recorded, its outcome not yet: the Signl is still Open.
        let mut before = raised_incident();
        let external = ours(&before);
        with_intent(
            &mut before,
            Effect::ResolveSignl {
                external_id: external.clone(),
                round: 1,
            },
        );
        assert_eq!(before.signl.status, SignlStatus::Open);
        let echo = stored(5, 1_000_003, action(Signl4Action::Closed, None, 1_000_003));
        assert_eq!(row(&source(), &before, &Provenance::default(), &echo), None);
        // Its acknowledge-shaped echo too (SIGNL4 may report the resolve as a status change).
        let ack_echo = stored(
            6,
            1_000_003,
            action(Signl4Action::Acknowledged, None, 1_000_003),
        );
        assert_eq!(
            row(&source(), &before, &Provenance::default(), &ack_echo),
            None
        );

        let mut acked = raised_incident();
        with_intent(
            &mut acked,
            Effect::AcknowledgeSignl {
                external_id: external,
                round: 1,
            },
        );
        let echo = stored(
            7,
            1_000_003,
            action(Signl4Action::Acknowledged, None, 1_000_003),
        );
        assert_eq!(row(&source(), &acked, &Provenance::default(), &echo), None);

        // Without an intent of ours, a userless close is SIGNL4's own (another integration's
        // resolve): a row.
        let theirs = stored(8, 1_000_009, action(Signl4Action::Closed, None, 1_000_009));
        let r = row(
            &source(),
            &raised_incident(),
            &Provenance::default(),
            &theirs,
        )
        .unwrap();
        assert_eq!((r.Action, r.User), (Action::Closed, None));
        // A user's acknowledge while our resolve is in flight is still the user's.
        let user_ack = stored(
            9,
            1_060_000,
            action(Signl4Action::Acknowledged, Some("a@x"), 1_060_000),
        );
        let r = row(&source(), &before, &Provenance::default(), &user_ack).unwrap();
        assert_eq!(r.Action, Action::Acknowledged);
        assert_eq!(r.SecondsToAcknowledge, Some(60.0));
    }

    #[test]
    fn our_annotation_echo_is_recognised_by_its_text_with_or_without_its_outcome() {
        let before = raised_incident();
        let intent = Event::EffectRequested(store::events::EffectRequested {
            effect_id: EffectId(Uuid::from_u128(9)),
            effect: Effect::AnnotateSignl {
                signl_id: "s1".into(),
                text: "Ann in Sentinel: look at host 7".into(),
                cause: "c1".into(),
            },
        });
        let mut provenance = Provenance::default();
        provenance.apply(&intent);
        let echo = stored(
            4,
            5,
            action(
                Signl4Action::Annotated {
                    text: "Ann in Sentinel: look at host 7".into(),
                },
                None,
                5,
            ),
        );
        assert_eq!(row(&source(), &before, &provenance, &echo), None);
        let user_note = stored(
            5,
            5,
            action(
                Signl4Action::Annotated {
                    text: "on my way".into(),
                },
                Some("a@x"),
                5,
            ),
        );
        let r = row(&source(), &before, &provenance, &user_note).unwrap();
        assert_eq!(r.Note.as_deref(), Some("on my way"));
    }

    #[test]
    fn a_signl_recovered_by_its_external_id_still_measures_response_times() {
        // Recovered: the raise's outcome is AlreadyDone, so no raise time was recorded; the
        // intent's time stands in for it.
        let mut recovered = raised_incident();
        recovered.signl.raised_at_ms = None;
        recovered.signl.requested_at_ms = Some(1_000_000);
        let ack = stored(
            3,
            1_090_000,
            action(Signl4Action::Acknowledged, Some("a@x"), 1_090_000),
        );
        let r = row(&source(), &recovered, &Provenance::default(), &ack).unwrap();
        assert_eq!(r.SecondsToAcknowledge, Some(90.0));
        let close = stored(
            4,
            1_120_000,
            action(Signl4Action::Closed, Some("a@x"), 1_120_000),
        );
        let r = row(&source(), &recovered, &Provenance::default(), &close).unwrap();
        assert_eq!(r.SecondsToClose, Some(120.0));
        let resolve = with_intent(
            &mut recovered,
            Effect::ResolveSignl {
                external_id: "x".into(),
                round: 1,
            },
        );
        let done = stored(
            5,
            1_300_000,
            Event::EffectSucceeded(EffectSucceeded {
                effect_id: resolve,
                result: EffectResult::Signl4Accepted {
                    reference: "e".into(),
                },
            }),
        );
        let r = row(&source(), &recovered, &Provenance::default(), &done).unwrap();
        assert_eq!(r.SecondsToClose, Some(300.0));
    }
}
