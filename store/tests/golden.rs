//! Golden fixtures: the bytes of one record of every event version (and every variant of the
//! enums inside payloads), committed when the version was introduced and decoded here forever.
//!
//! A failure means the encoding drifted (a field reordered, a serde attribute, a bincode or
//! envelope change): a log written by an older build would be misread. Never "fix" it by
//! regenerating a fixture; add a new version and an upcast instead.
//!
//! Two sets: `fixtures/events/*.bin` hold envelope format 1 (every record before format 2), which
//! this build decodes forever but no longer writes; `fixtures/events/f2/*.bin` hold format 2,
//! which this build must also encode byte for byte, including an observation whose raw JSON is a
//! delta against an earlier keyframe (decoded through that keyframe's fixture).
//!
//! A new fixture (a new kind or version) is written with `UPDATE_GOLDEN=1 cargo test -p store
//! --test golden`; existing fixtures are never overwritten.

use std::path::PathBuf;

use store::envelope::{FORMAT, FORMAT_1};
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
fn format_1_fixtures_decode_to_the_same_events_forever() {
    let dir = fixtures_dir();
    for (name, sample) in samples() {
        let path = dir.join(format!("{name}.bin"));
        let bytes = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("format 1 fixture {} is missing: {e}", path.display()));
        assert_eq!(bytes[0], FORMAT_1, "fixture {name} is format 1");
        let decoded = StoredEvent::decode(&bytes)
            .unwrap_or_else(|e| panic!("fixture {name} no longer decodes: {e}"));
        assert_eq!(decoded, sample, "fixture {name} decodes to something else");
    }
}

/// A raw incident JSON long enough to be compressed, as an observation stores it.
fn long_raw(etag: &str, status: &str) -> String {
    format!(
        r#"{{"id":"/subscriptions/d1d8779d-38d7-4f06-91db-9cbc8de0176f/resourceGroups/soc/providers/Microsoft.OperationalInsights/workspaces/ws/providers/Microsoft.SecurityInsights/Incidents/73e01a99-5cd7-4139-a149-9f2736ff2ab5","name":"73e01a99-5cd7-4139-a149-9f2736ff2ab5","etag":"{etag}","properties":{{"title":"My incident","severity":"High","status":"{status}","description":"A user account had many failed sign-ins from an unfamiliar location followed by a success.","labels":[],"incidentNumber":3177}}}}"#
    )
}

fn observed(etag: &str, status: &str) -> Event {
    let etag = format!("\"{etag}\"");
    Event::IncidentObserved(IncidentObserved {
        source: Source::Sentinel,
        name: "73e01a99-5cd7-4139-a149-9f2736ff2ab5".into(),
        raw_json: long_raw(&etag, status),
        etag,
        incident_number: 3177,
        title: "My incident".into(),
        severity: "High".into(),
        status: status.into(),
        owner: None,
        created_ms: 1_546_348_530_000,
        last_modified_ms: 1_546_348_530_541,
        incident_url: String::new(),
        labels: vec![],
    })
}

/// Format 2 samples: every format 1 sample in its current version (named after it), then a
/// keyframe observation and one stored against it: `(file stem, record, keyframe seq)`.
fn samples_f2() -> Vec<(String, StoredEvent, Option<u64>)> {
    let mut out: Vec<(String, StoredEvent, Option<u64>)> = samples()
        .into_iter()
        .map(|(name, sample)| {
            let kind = sample.event.kind();
            let name = name.replacen("_v1", &format!("_v{}", kind.current_version()), 1);
            (name, sample, None)
        })
        .collect();
    let inc = IncidentKey(Uuid::from_u128(0x73e0_1a99_5cd7_4139_a149_9f27_36ff_2ab5));
    let next = out.len() as u64 + 1;
    let keyframe = record(
        next,
        inc,
        observed("0300bf09-0000-0000-0000-5c37296e0000", "New"),
    );
    let delta = record(
        next + 1,
        inc,
        observed("0300c011-0000-0000-0000-5c3729f10000", "Active"),
    );
    out.push(("incident_observed_v2_keyframe".into(), keyframe, None));
    out.push(("incident_observed_v2_delta".into(), delta, Some(next)));
    out
}

/// The keyframes of the format 2 fixtures, read from their files as a log would read them.
struct FixtureBases(Vec<(String, StoredEvent, Option<u64>)>, Option<String>);

impl RawBases for FixtureBases {
    fn keyframe(
        &mut self,
        seq: u64,
        tenant: TenantId,
        incident: IncidentKey,
    ) -> Result<&str, String> {
        let (name, _, _) = self
            .0
            .iter()
            .find(|(_, s, _)| s.seq == seq)
            .ok_or(format!("no fixture at seq {seq}"))?;
        let bytes = std::fs::read(fixtures_dir().join("f2").join(format!("{name}.bin")))
            .map_err(|e| e.to_string())?;
        self.1 = Some(store::log::keyframe_raw(seq, &bytes, tenant, incident)?);
        Ok(self.1.as_deref().unwrap())
    }

    fn decoded_keyframe(&mut self, _: u64, _: TenantId, _: IncidentKey, _: &str) {}
}

#[test]
fn format_2_fixtures_decode_and_encode_the_same_forever() {
    let dir = fixtures_dir().join("f2");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let samples = samples_f2();
    let mut missing = Vec::new();
    for (name, sample, keyframe_seq) in &samples {
        let keyframe_raw = keyframe_seq.map(|seq| {
            let (_, keyframe, _) = samples.iter().find(|(_, s, _)| s.seq == seq).unwrap();
            let Event::IncidentObserved(observed) = &keyframe.event else {
                panic!("keyframe {seq} is not an observation");
            };
            observed.raw_json.clone()
        });
        let keyframe = keyframe_seq
            .zip(keyframe_raw.as_deref())
            .map(|(seq, raw_json)| Keyframe { seq, raw_json });
        let encoded = sample.encode_against(keyframe);
        assert_eq!(
            encoded.keyframe,
            matches!(sample.event, Event::IncidentObserved(_)) && keyframe.is_none(),
            "sample {name}: stored as a keyframe or not as expected"
        );
        let path = dir.join(format!("{name}.bin"));
        let Ok(bytes) = std::fs::read(&path) else {
            if update {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, &encoded.bytes).unwrap();
            } else {
                missing.push(name.clone());
            }
            continue;
        };
        assert_eq!(bytes[0], FORMAT, "fixture {name} is format 2");
        let decoded = StoredEvent::decode_with(&bytes, &mut FixtureBases(samples.clone(), None))
            .unwrap_or_else(|e| panic!("fixture {name} no longer decodes: {e}"));
        assert_eq!(&decoded, sample, "fixture {name} decodes to something else");
        assert_eq!(
            encoded.bytes, bytes,
            "fixture {name}: this build encodes the same event differently"
        );
    }
    assert!(
        missing.is_empty(),
        "missing fixtures {missing:?}: create them with UPDATE_GOLDEN=1 cargo test -p store --test golden"
    );
    // The delta is what it claims: small, and unreadable without its keyframe.
    let delta = std::fs::read(dir.join("incident_observed_v2_delta.bin")).unwrap();
    let keyframe = std::fs::read(dir.join("incident_observed_v2_keyframe.bin")).unwrap();
    assert!(
        delta.len() * 2 < keyframe.len(),
        "delta {} vs keyframe {}",
        delta.len(),
        keyframe.len()
    );
    let error = StoredEvent::decode(&delta).unwrap_err().to_string();
    assert!(error.contains("delta against seq"), "{error}");
}
