//! A connector that reads Microsoft Defender XDR incidents (`read_source = "defender"`), over
//! real HTTP against the sandbox with the real clients, log and actors: incidents listed over
//! several pages (`$expand=alerts`, `$filter` on status, severity and `lastUpdateDateTime`) are
//! each paged exactly once, enriched from their expanded alerts' evidence; the tag goes into
//! `customTags`; SIGNL4 acknowledge and close become incident PATCHes (status, assignedTo,
//! classification + determination from the close settings) and comments; an analyst's comment
//! in Defender becomes a SIGNL4 annotation; an analyst's resolve resolves the Signl and a reopen
//! pages again; a restart sends nothing twice; no Sentinel (ARM) call is made.

mod common;

use common::world::{wait_until as wait_for, World};

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::Utc;
use sandbox::control::UserAction;
use sandbox::defender::DefenderIncidentSpec;
use sandbox::{SandboxHandle, SandboxOptions};
use sentinel_signl4::config::{
    Classification, ClassificationReason, Secret, SecretSource, Severity,
};
use sentinel_signl4::run::{settle, Running};
use serde_json::{json, Map, Value};
use store::{IncidentKey, TenantId};

const TENANT: &str = "tenant-1";
/// Incidents the connector must page: active or in progress, high or medium, recent.
const PAGED: usize = 7;

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

fn add(sandbox: &SandboxHandle, fields: Value, alerts: usize) -> String {
    let made = sandbox
        .control()
        .add_graph_incident(
            TENANT,
            DefenderIncidentSpec {
                fields: obj(fields),
                alerts: (0..alerts)
                    .map(|k| {
                        obj(
                            json!({"title": format!("alert {k}"), "category": "Execution",
                        "evidence": [{"@odata.type": "#microsoft.graph.security.deviceEvidence",
                            "deviceDnsName": format!("host-{k}")}]}),
                        )
                    })
                    .collect(),
            },
        )
        .unwrap();
    made["id"].as_str().unwrap().to_string()
}

fn world() -> World {
    let sandbox = common::world::sandbox(SandboxOptions::for_tests());
    common::world::tenant(&sandbox, TENANT);
    for k in 0..PAGED {
        add(
            &sandbox,
            json!({"displayName": format!("Multi-stage incident {k}"),
                "severity": if k % 2 == 0 { "high" } else { "medium" },
                "status": if k == 3 { "inProgress" } else { "active" }}),
            1 + k % 2,
        );
    }
    // Filtered out: low severity, already resolved, last changed before the lookback.
    let old = (Utc::now() - chrono::Duration::days(3)).to_rfc3339();
    for fields in [
        json!({"severity": "low"}),
        json!({"status": "resolved", "severity": "high"}),
        json!({"severity": "high", "createdDateTime": old, "lastUpdateDateTime": old}),
    ] {
        add(&sandbox, fields, 1);
    }
    World::configured(
        sandbox,
        |text| text.replace("read_source = \"sentinel\"", "read_source = \"defender\""),
        |c| {
            c.page_size = 3;
            c.severities = vec![Severity::High, Severity::Medium];
            c.enrichment_deadline = Duration::from_secs(2);
            c.webhook_token = Some(Secret::new("d".repeat(32), SecretSource::Inline));
            c.on_close.classification = Classification::FalsePositive;
            c.on_close.classification_reason = Some(ClassificationReason::InaccurateData);
            c.comments_to_signl4 = true;
        },
    )
}

fn signls(world: &World) -> Vec<Value> {
    world.sandbox.control().signls(TENANT).unwrap()
}

/// The sandbox's copy of incident `id` (alerts expanded).
fn incident(world: &World, id: &str) -> Value {
    world.sandbox.control().graph_incident(TENANT, id).unwrap()
}

fn external(id: &str) -> String {
    store::ids::external_id(TenantId::from_name(TENANT), IncidentKey::from_source_id(id))
}

/// The Signls raised for incident `id`, oldest first.
fn signls_of(world: &World, id: &str) -> Vec<Value> {
    let ext = external(id);
    signls(world)
        .into_iter()
        .filter(|s| s["externalId"] == ext.as_str())
        .collect()
}

async fn run_until_paged(world: &World, paged: usize) -> Running {
    let running = world.start().await;
    wait_for("every incident paged", Duration::from_secs(60), || {
        signls(world).len() >= paged && world.store.read(|p| p.open_effects().is_empty())
    })
    .await;
    running
}

#[test]
fn a_defender_connector_pages_each_incident_once_writes_back_mirrors_and_survives_a_restart() {
    let world = world();
    let (first, second, third) = ("1", "2", "3");
    let user_mail = world
        .sandbox
        .control()
        .with_world(|w| w.tenants[0].team.users[0].mail.clone());
    actix_rt::System::new().block_on(async {
        let running = run_until_paged(&world, PAGED).await;
        settle(&running, Duration::from_millis(50), 40).await;

        // Each wanted incident paged exactly once, under the ExternalID of (tenant, incident id).
        let sent = signls(&world);
        assert_eq!(sent.len(), PAGED);
        let got: BTreeSet<String> = sent
            .iter()
            .map(|s| s["externalId"].as_str().unwrap().to_string())
            .collect();
        let want: BTreeSet<String> = (1..=PAGED).map(|k| external(&k.to_string())).collect();
        assert_eq!(got, want);
        // The Signl shows the incident, the evidence of its alerts, and the Defender link.
        let params = &signls_of(&world, second)[0]["sandbox"]["params"];
        assert_eq!(
            params["Title"],
            "Defender Medium: Multi-stage incident 1 (#2)"
        );
        assert_eq!(params["Entities"], "1. Device: host-0\n2. Device: host-1");
        assert!(
            params["Defender portal"]
                .as_str()
                .is_some_and(|u| u.starts_with("https://security.microsoft.com/incidents/2?tid=")),
            "the Defender portal link is in the Signl: {params}"
        );
        // The tag is in customTags.
        wait_for("tagged", Duration::from_secs(30), || {
            incident(&world, first)["customTags"] == json!(["SIGNL4"])
        })
        .await;
        // Listing expanded the alerts, filtered and paged; ARM was never asked.
        let requests = world.sandbox.control().requests();
        let lists: Vec<_> = requests
            .iter()
            .filter(|r| r.method == "GET" && r.path.contains("/security/incidents?"))
            .collect();
        assert!(lists.iter().any(|r| r.path.contains("skip=")));
        assert!(lists.iter().filter(|r| !r.path.contains("skip=")).all(|r| r
            .path
            .contains("expand=alerts")
            && r.path.contains("severity")
            && r.path.contains("lastUpdateDateTime")));
        assert!(
            requests.iter().all(|r| !r.path.contains("/subscriptions/")),
            "no Sentinel call"
        );

        // SIGNL4 users acknowledge and close: written back as PATCHes and comments.
        let server = world.serve_webhooks(&running, TENANT, &"d".repeat(32));
        let control = world.sandbox.control();
        let signl_of = |id: &str| signls_of(&world, id)[0]["id"].as_str().unwrap().to_string();
        control
            .user_action(TENANT, &signl_of(first), None, UserAction::Acknowledge)
            .unwrap();
        wait_for("acknowledge written back", Duration::from_secs(30), || {
            let i = incident(&world, first);
            i["status"] == "inProgress"
                && i["assignedTo"] == user_mail.as_str()
                && i["comments"].as_array().is_some_and(|c| c.len() == 1)
        })
        .await;
        control
            .user_action(TENANT, &signl_of(first), None, UserAction::Close)
            .unwrap();
        wait_for("close written back", Duration::from_secs(30), || {
            let i = incident(&world, first);
            i["status"] == "resolved"
                && i["classification"] == "falsePositive"
                && i["determination"] == "notEnoughDataToValidate"
                && i["comments"].as_array().is_some_and(|c| c.len() == 2)
        })
        .await;
        let comments = incident(&world, first)["comments"].clone();
        assert!(comments[0]["comment"]
            .as_str()
            .unwrap()
            .starts_with("Acknowledged in SIGNL4 by"));
        assert!(comments[1]["comment"]
            .as_str()
            .unwrap()
            .starts_with("Closed in SIGNL4 by"));

        // An analyst comments in Defender: the comment reaches the Signl as an annotation,
        // and the connector's own comments do not come back.
        control
            .comment_graph_incident(TENANT, third, "Isolating the device now", "kai@contoso.com")
            .unwrap();
        let third_signl = signl_of(third);
        wait_for("analyst comment mirrored", Duration::from_secs(30), || {
            signls_of(&world, third)[0]["sandbox"]["annotations"]
                .as_array()
                .is_some_and(|a| {
                    a.iter().any(|n| {
                        n["text"].as_str().is_some_and(|t| {
                            t.contains("kai@contoso.com via Defender: Isolating the device now")
                        })
                    })
                })
        })
        .await;
        assert!(signls_of(&world, first)[0]["sandbox"]["annotations"]
            .as_array()
            .is_none_or(|a| a
                .iter()
                .all(|n| !n["text"].as_str().unwrap_or("").contains("in SIGNL4 by"))));
        assert_eq!(signl_of(third), third_signl);

        // An analyst resolves another incident in Defender: its Signl is resolved; a reopen
        // pages again (a new round under the same ExternalID).
        control
            .analyst_graph_incident(TENANT, second, obj(json!({"status": "resolved"})))
            .unwrap();
        wait_for("the Signl resolved", Duration::from_secs(30), || {
            signls_of(&world, second)
                .first()
                .is_some_and(|s| s["status"] == 4)
        })
        .await;
        control
            .analyst_graph_incident(TENANT, second, obj(json!({"status": "active"})))
            .unwrap();
        wait_for("paged again on reopen", Duration::from_secs(30), || {
            signls_of(&world, second).len() == 2
        })
        .await;
        settle(&running, Duration::from_millis(50), 40).await;
        server.stop(true).await;
    });

    // A second process on the same log: nothing is sent or written twice.
    let comments_before = incident(&world, first)["comments"]
        .as_array()
        .unwrap()
        .len();
    let signls_before = signls(&world).len();
    let world = world.reopen();
    actix_rt::System::new().block_on(async {
        let running = world.start().await;
        common::after_more_requests(
            &world.sandbox,
            "graph",
            "/security/incidents?",
            4,
            Duration::from_secs(60),
        )
        .await;
        settle(&running, Duration::from_millis(50), 200).await;
    });
    assert_eq!(signls(&world).len(), signls_before);
    assert_eq!(
        incident(&world, first)["comments"]
            .as_array()
            .unwrap()
            .len(),
        comments_before
    );
    assert!(world.store.read(|p| p.open_effects().is_empty()));
}
