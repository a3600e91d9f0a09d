//! Golden fixtures: the bytes of one record of every event version (and every variant of the
//! enums inside payloads), committed when the version was introduced and decoded here forever.
//!
//! A failure means the encoding drifted (a field reordered, a serde attribute, a bincode or
//! envelope change): a log written by an older build would be misread. Never "fix" it by
//! regenerating a fixture; add a new version and an upcast instead.
//!
//! A new fixture (a new kind or version) is written with `UPDATE_GOLDEN=1 cargo test -p store
//! --test golden`; existing fixtures are never overwritten.

use std::path::PathBuf;

use store::events::*;
use store::{EffectId, IncidentKey, StoredEvent, TenantId};
use uuid::Uuid;

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/events")
}

fn record(seq: u64, incident: IncidentKey, event: Event) -> StoredEvent {
    StoredEvent {
        seq,
        event_id: Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 + seq as u128),
        recorded_at_ms: 1_764_072_000_000 + seq as i64,
        tenant: TenantId(Uuid::from_u128(0x6c1f_0000_0000_5000_8000_0000_0000_0001)),
        incident,
        causation: seq.is_multiple_of(2).then(|| Uuid::from_u128(seq as u128)),
        correlation: Uuid::from_u128(0xc0_0000 + seq as u128),
        event,
    }
}

fn effect_id(n: u128) -> EffectId {
    EffectId(Uuid::from_u128(
        0xeff0_0000_0000_5000_8000_0000_0000_0000 + n,
    ))
}

/// One sample per fixture file: `(file stem, record)`.
fn samples() -> Vec<(String, StoredEvent)> {
    let inc = IncidentKey(Uuid::from_u128(0x73e0_1a99_5cd7_4139_a149_9f27_36ff_2ab5));
    let tenant_stream = IncidentKey::TENANT_STREAM;
    let mut out: Vec<(String, Event, IncidentKey)> = vec![
        (
            "incident_observed_v1".into(),
            Event::IncidentObserved(IncidentObserved {
                source: Source::Sentinel,
                name: "73e01a99-5cd7-4139-a149-9f2736ff2ab5".into(),
                etag: "\"0300bf09-0000-0000-0000-5c37296e0000\"".into(),
                incident_number: 3177,
                title: "My incident".into(),
                severity: "High".into(),
                status: "New".into(),
                owner: Some("john@contoso.com".into()),
                created_ms: 1_546_348_530_000,
                last_modified_ms: 1_546_348_530_541,
                incident_url: "https://portal.azure.com/#asset/Microsoft_Azure_Security_Insights/Incident/x".into(),
                labels: vec!["SIGNL4".into()],
                raw_json: r#"{"name":"73e01a99-5cd7-4139-a149-9f2736ff2ab5","properties":{"title":"My incident"}}"#.into(),
            }),
            inc,
        ),
        (
            "incident_observed_v1_graph".into(),
            Event::IncidentObserved(IncidentObserved {
                source: Source::Graph,
                name: "da637551227677560813_-961444813".into(),
                etag: String::new(),
                incident_number: 0,
                title: "Suspicious execution of hidden file".into(),
                severity: "low".into(),
                status: "new".into(),
                owner: None,
                created_ms: 1,
                last_modified_ms: 2,
                incident_url: String::new(),
                labels: vec![],
                raw_json: "{}".into(),
            }),
            inc,
        ),
        (
            "incident_enriched_v1".into(),
            Event::IncidentEnriched(IncidentEnriched {
                alert_count: 2,
                entity_count: 3,
                products: vec!["Azure Sentinel".into()],
                tactics: vec!["InitialAccess".into(), "Persistence".into()],
                missing: vec!["log analytics: 429 Too Many Requests".into()],
                alerts_json: "[{\"kind\":\"SecurityAlert\"}]".into(),
                entities_json: "[]".into(),
                search_json: String::new(),
            }),
            inc,
        ),
        (
            "effect_failed_v1".into(),
            Event::EffectFailed(EffectFailed {
                effect_id: effect_id(99),
                reason: "400 BadRequest".into(),
                attempts: 4,
            }),
            inc,
        ),
        (
            "closed_in_sentinel_v1".into(),
            Event::ClosedInSentinel(ClosedInSentinel {
                owner: Some("jane@contoso.com".into()),
                etag: "\"e2\"".into(),
            }),
            inc,
        ),
        (
            "reopened_v1".into(),
            Event::Reopened(Reopened {
                round: 2,
                status: "Active".into(),
            }),
            inc,
        ),
        (
            "watermark_advanced_v1".into(),
            Event::WatermarkAdvanced(WatermarkAdvanced {
                watermark_ms: 1_764_072_000_000,
                max_incident_number: 3177,
            }),
            tenant_stream,
        ),
        (
            "connector_started_v1".into(),
            Event::ConnectorStarted(ConnectorStarted {
                name: "contoso".into(),
                source: Source::Sentinel,
                build: "0.1.0".into(),
            }),
            tenant_stream,
        ),
    ];
    let effects = [
        (
            "raise_signl",
            Effect::RaiseSignl {
                external_id: "0e8979f7-0c6a-472d-8918-ecfd339252f8".into(),
                round: 1,
            },
        ),
        (
            "tag_incident",
            Effect::TagIncident {
                label: "SIGNL4".into(),
            },
        ),
        (
            "acknowledge_incident",
            Effect::AcknowledgeIncident {
                owner: Some("rene@contoso.com".into()),
                set_active: true,
                cause: "dd209a2d-e037-41ee-b37d-f605cc0a39fb".into(),
            },
        ),
        (
            "close_incident",
            Effect::CloseIncident {
                classification: "TruePositive".into(),
                classification_reason: Some("SuspiciousActivity".into()),
                classification_comment: "Closed in SIGNL4 by Rene".into(),
                owner: None,
                cause: "n2".into(),
            },
        ),
        (
            "write_comment",
            Effect::WriteComment {
                comment_id: Uuid::from_u128(0xc0ffee),
                message: "Rene via SIGNL4: on my way".into(),
            },
        ),
        (
            "resolve_signl",
            Effect::ResolveSignl {
                external_id: "x".into(),
                round: 1,
            },
        ),
        (
            "acknowledge_signl",
            Effect::AcknowledgeSignl {
                external_id: "x".into(),
                round: 2,
            },
        ),
        (
            "annotate_signl",
            Effect::AnnotateSignl {
                signl_id: "2518981069381242800_2ab1b5e0".into(),
                text: "analyst: escalate".into(),
                cause: "comment-1".into(),
            },
        ),
    ];
    for (i, (name, effect)) in effects.into_iter().enumerate() {
        out.push((
            format!("effect_requested_v1_{name}"),
            Event::EffectRequested(EffectRequested {
                effect_id: effect_id(i as u128),
                effect,
            }),
            inc,
        ));
    }
    let results = [
        (
            "signl_raised",
            EffectResult::SignlRaised {
                event_id: "2518583650940558238_7647c33f-f66d-495f-aeb2-b408fba66404".into(),
            },
        ),
        (
            "signl_raised_unverified",
            EffectResult::SignlRaisedUnverified {
                event_id: "2518583650940558238_0".into(),
            },
        ),
        (
            "incident_written",
            EffectResult::IncidentWritten {
                etag: "\"e9\"".into(),
            },
        ),
        (
            "comment_written",
            EffectResult::CommentWritten {
                etag: "0300bf09".into(),
            },
        ),
        (
            "signl4_accepted",
            EffectResult::Signl4Accepted {
                reference: "2518783235661483318_99eb".into(),
            },
        ),
        (
            "already_done",
            EffectResult::AlreadyDone {
                detail: "incident already Closed".into(),
            },
        ),
    ];
    for (i, (name, result)) in results.into_iter().enumerate() {
        out.push((
            format!("effect_succeeded_v1_{name}"),
            Event::EffectSucceeded(EffectSucceeded {
                effect_id: effect_id(i as u128),
                result,
            }),
            inc,
        ));
    }
    for (name, action) in [
        ("acknowledged", Signl4Action::Acknowledged),
        ("closed", Signl4Action::Closed),
        (
            "annotated",
            Signl4Action::Annotated {
                text: "OK, I'll take care about it.".into(),
            },
        ),
    ] {
        out.push((
            format!("signl4_action_received_v1_{name}"),
            Event::Signl4ActionReceived(Signl4ActionReceived {
                notification_id: "141c0f88-7831-4d5e-b055-f6e83c269770".into(),
                signl_id: "2518783235958846071_4e2d".into(),
                action,
                user_email: Some("rene@signl4.com".into()),
                user_name: Some("Rene".into()),
                raised_at_ms: 1_523_977_232_000,
            }),
            inc,
        ));
    }
    // Kinds added later go last, so the earlier samples keep their sequence numbers.
    out.extend([
        (
            "effect_parked_v1".into(),
            Event::EffectParked(EffectParked {
                effect_id: effect_id(98),
                reason: "authentication failed: AADSTS7000215: Invalid client secret provided"
                    .into(),
                attempts: 3,
            }),
            inc,
        ),
        (
            "effect_cancelled_v1".into(),
            Event::EffectCancelled(EffectCancelled {
                effect_id: effect_id(97),
                reason: "incident closed in Sentinel before its page was sent".into(),
            }),
            inc,
        ),
    ]);
    // Kinds added later go at the end, so earlier samples keep their sequence numbers.
    out.push((
        "incident_merged_v1".into(),
        Event::IncidentMerged(IncidentMerged {
            into_name: "2972400".into(),
            into_number: 2_972_400,
            survivor_paged: true,
        }),
        inc,
    ));
    out.into_iter()
        .enumerate()
        .map(|(i, (name, event, incident))| (name, record(i as u64 + 1, incident, event)))
        .collect()
}

#[test]
fn every_kind_has_a_fixture() {
    let samples = samples();
    for kind in Kind::ALL {
        assert!(
            samples.iter().any(|(_, s)| s.event.kind() == kind),
            "no golden sample for {}",
            kind.name()
        );
    }
}

#[test]
fn golden_fixtures_decode_to_the_same_events_forever() {
    let dir = fixtures_dir();
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut missing = Vec::new();
    for (name, sample) in samples() {
        let path = dir.join(format!("{name}.bin"));
        let Ok(bytes) = std::fs::read(&path) else {
            if update {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, sample.encode()).unwrap();
            } else {
                missing.push(name);
            }
            continue;
        };
        let decoded = StoredEvent::decode(&bytes)
            .unwrap_or_else(|e| panic!("fixture {name} no longer decodes: {e}"));
        assert_eq!(decoded, sample, "fixture {name} decodes to something else");
        assert_eq!(
            sample.encode(),
            bytes,
            "fixture {name}: this build encodes the same event differently"
        );
    }
    assert!(
        missing.is_empty(),
        "missing fixtures {missing:?}: create them with UPDATE_GOLDEN=1 cargo test -p store --test golden"
    );
}
