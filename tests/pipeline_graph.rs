//! A connector that reads Microsoft Graph security alerts (`read_source = "graph"`), over real
//! HTTP against the sandbox with the real clients, log and actors: alerts listed over several
//! pages are each paged exactly once with a stable ExternalID, the status, severity and time
//! filters hold, no Sentinel (ARM) call is made, SIGNL4 acknowledge and close are written back
//! as alert PATCHes and comments, an analyst's alert comment becomes a SIGNL4 annotation, an
//! alert resolved in Graph resolves its Signl, and a restart
//! sends nothing twice.

mod common;

use common::world::{wait_until as wait_for, World};

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::Utc;
use sandbox::control::UserAction;
use sandbox::SandboxOptions;
use sentinel_signl4::config::{Secret, SecretSource, Severity};
use sentinel_signl4::run::{settle, Running};
use serde_json::{json, Map, Value};
use store::{IncidentKey, TenantId};

const TENANT: &str = "tenant-1";
/// Alerts the connector must page: new, high or medium, changed within the lookback.
const PAGED: usize = 17;

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

fn world() -> World {
    let sandbox = common::world::sandbox(SandboxOptions::for_tests());
    common::world::tenant(&sandbox, TENANT);
    let control = sandbox.control();
    for k in 0..PAGED {
        control
            .add_graph_alert(
                TENANT,
                obj(json!({
                    "id": format!("da6375512276775{k:05}_-96144"),
                    "title": format!("Hidden file executed {k}"),
                    "severity": if k % 2 == 0 { "high" } else { "medium" },
                    "incidentId": (28000 + k).to_string(),
                    "evidence": [{"@odata.type": "#microsoft.graph.security.deviceEvidence",
                        "deviceDnsName": format!("host-{k}")}],
                })),
            )
            .unwrap();
    }
    // Filtered out: low severity, already resolved, last changed before the lookback.
    let old = (Utc::now() - chrono::Duration::days(3)).to_rfc3339();
    for (id, fields) in [
        ("low-1", json!({"severity": "low"})),
        ("low-2", json!({"severity": "informational"})),
        (
            "resolved-1",
            json!({"status": "resolved", "severity": "high"}),
        ),
        (
            "old-1",
            json!({"severity": "high", "createdDateTime": old, "lastUpdateDateTime": old}),
        ),
    ] {
        let mut fields = obj(fields);
        fields.insert("id".into(), json!(id));
        control.add_graph_alert(TENANT, fields).unwrap();
    }
    World::configured(
        sandbox,
        |text| {
            text.replace("read_source = \"sentinel\"", "read_source = \"graph\"")
                .replace("tag = \"SIGNL4\"", "tag = \"\"")
        },
        |c| {
            c.page_size = 5;
            c.severities = vec![Severity::High, Severity::Medium];
            c.enrichment_deadline = Duration::from_secs(2);
            c.webhook_token = Some(Secret::new("g".repeat(32), SecretSource::Inline));
        },
    )
}

fn signls(world: &World) -> Vec<Value> {
    world.sandbox.control().signls(TENANT).unwrap()
}

/// The sandbox's copy of alert `id`.
fn alert(world: &World, id: &str) -> Value {
    world.sandbox.control().with_world(|w| {
        w.tenants[0]
            .graph_alerts
            .iter()
            .find(|a| a["id"] == id)
            .cloned()
            .unwrap()
    })
}

async fn run_until_paged(world: &World) -> Running {
    let running = world.start().await;
    wait_for("every alert paged", Duration::from_secs(60), || {
        signls(world).len() >= PAGED && world.store.read(|p| p.open_effects().is_empty())
    })
    .await;
    running
}

#[test]
fn a_graph_connector_pages_each_alert_once_writes_back_and_survives_a_restart() {
    let world = world();
    let tenant = TenantId::from_name(TENANT);
    let first = "da637551227677500000_-96144";
    let second = "da637551227677500001_-96144";
    let user_mail = world
        .sandbox
        .control()
        .with_world(|w| w.tenants[0].team.users[0].mail.clone());
    actix_rt::System::new().block_on(async {
        let running = run_until_paged(&world).await;
        settle(&running, Duration::from_millis(50), 40).await;

        // Each wanted alert paged exactly once, under the ExternalID of (tenant, alert id).
        let sent = signls(&world);
        assert_eq!(sent.len(), PAGED);
        let external: BTreeSet<String> = sent
            .iter()
            .map(|s| s["externalId"].as_str().unwrap().to_string())
            .collect();
        let expected: BTreeSet<String> = (0..PAGED)
            .map(|k| {
                let id = format!("da6375512276775{k:05}_-96144");
                store::ids::external_id(tenant, IncidentKey::from_source_id(&id))
            })
            .collect();
        assert_eq!(external, expected);
        // The Signl shows the alert, its Defender incident and its evidence.
        let one = sent
            .iter()
            .find(|s| {
                s["externalId"]
                    == store::ids::external_id(tenant, IncidentKey::from_source_id(first))
            })
            .unwrap();
        let params = &one["sandbox"]["params"];
        assert_eq!(
            params["Title"],
            "Defender alert High: Hidden file executed 0 (#28000)"
        );
        assert_eq!(params["Entities"], "1. Device: host-0");
        assert_eq!(params["Products"], "Microsoft Defender for Endpoint");
        // Listing used the filters and paged; enrichment called nothing; ARM was never asked.
        let requests = world.sandbox.control().requests();
        let lists: Vec<_> = requests
            .iter()
            .filter(|r| r.method == "GET" && r.path.contains("/security/alerts_v2?"))
            .collect();
        assert!(lists
            .iter()
            .any(|r| r.path.contains("%24skip=") || r.path.contains("$skip=")));
        assert!(lists.iter().all(|r| r.path.contains("severity")));
        assert!(
            requests.iter().all(|r| !r.path.contains("/subscriptions/")),
            "no Sentinel call"
        );

        // SIGNL4 users acknowledge and close: written back to the alerts.
        let server = world.serve_webhooks(&running, TENANT, &"g".repeat(32));
        let control = world.sandbox.control();
        let signl_of = |id: &str| {
            let ext = store::ids::external_id(tenant, IncidentKey::from_source_id(id));
            signls(&world)
                .into_iter()
                .find(|s| s["externalId"] == ext.as_str())
                .unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        };
        control
            .user_action(TENANT, &signl_of(first), None, UserAction::Acknowledge)
            .unwrap();
        wait_for("acknowledge written back", Duration::from_secs(30), || {
            let a = alert(&world, first);
            a["status"] == "inProgress"
                && a["assignedTo"] == user_mail.as_str()
                && a["comments"].as_array().is_some_and(|c| c.len() == 1)
        })
        .await;
        control
            .user_action(TENANT, &signl_of(first), None, UserAction::Close)
            .unwrap();
        wait_for("close written back", Duration::from_secs(30), || {
            let a = alert(&world, first);
            a["status"] == "resolved"
                && a["classification"] == "unknown"
                && a["comments"].as_array().is_some_and(|c| c.len() == 2)
        })
        .await;
        let comments = alert(&world, first)["comments"].clone();
        assert!(comments[0]["comment"]
            .as_str()
            .unwrap()
            .starts_with("Acknowledged in SIGNL4 by"));
        assert!(comments[1]["comment"]
            .as_str()
            .unwrap()
            .starts_with("Closed in SIGNL4 by"));

        // An analyst comments on a third alert: the comment reaches its Signl as an
        // annotation (Graph connectors mirror analyst comments too).
        let third = "da637551227677500002_-96144";
        control.with_world(|w| {
            let a = w.tenants[0]
                .graph_alerts
                .iter_mut()
                .find(|a| a["id"] == third)
                .unwrap();
            a["comments"] = json!([{"comment": "Checking the host", "createdByDisplayName":
                "kai@contoso.com", "createdDateTime": Utc::now().to_rfc3339()}]);
            a["lastUpdateDateTime"] = json!(Utc::now().to_rfc3339());
        });
        let ext3 = store::ids::external_id(tenant, IncidentKey::from_source_id(third));
        wait_for("analyst comment mirrored", Duration::from_secs(30), || {
            signls(&world)
                .iter()
                .find(|s| s["externalId"] == ext3.as_str())
                .and_then(|s| s["sandbox"]["annotations"].as_array().cloned())
                .is_some_and(|a| {
                    a.iter().any(|n| {
                        n["text"].as_str().is_some_and(|t| {
                            t.contains("kai@contoso.com") && t.contains("Checking the host")
                        })
                    })
                })
        })
        .await;

        // An analyst resolves another alert in Defender: its Signl is resolved.
        control.with_world(|w| {
            let a = w.tenants[0]
                .graph_alerts
                .iter_mut()
                .find(|a| a["id"] == second)
                .unwrap();
            a["status"] = json!("resolved");
            a["lastUpdateDateTime"] = json!(Utc::now().to_rfc3339());
        });
        let ext = store::ids::external_id(tenant, IncidentKey::from_source_id(second));
        wait_for("the Signl resolved", Duration::from_secs(30), || {
            signls(&world)
                .iter()
                .find(|s| s["externalId"] == ext.as_str())
                .is_some_and(|s| s["status"] == 4)
        })
        .await;
        settle(&running, Duration::from_millis(50), 40).await;
        server.stop(true).await;
    });

    // A second process on the same log: nothing is sent or written twice.
    let comments_before = alert(&world, first)["comments"].as_array().unwrap().len();
    let world = world.reopen();
    actix_rt::System::new().block_on(async {
        let running = world.start().await;
        // Several polls after the restart, each seeing the same alerts.
        common::after_more_requests(
            &world.sandbox,
            "graph",
            "/security/alerts_v2?",
            4,
            Duration::from_secs(60),
        )
        .await;
        settle(&running, Duration::from_millis(50), 200).await;
    });
    assert_eq!(signls(&world).len(), PAGED);
    assert_eq!(
        alert(&world, first)["comments"].as_array().unwrap().len(),
        comments_before
    );
    assert!(world.store.read(|p| p.open_effects().is_empty()));
}
