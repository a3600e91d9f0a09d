//! Defender merges over the sandbox with the real clients, log and actors: when Defender merges
//! a paged incident into another one (it turns `redirected` with `redirectIncidentId`), its
//! Signl follows the surviving incident:
//! - the survivor has its own Signl: the merged one's Signl is annotated ("Merged in Defender
//!   into incident N") and resolved, not left as a second page;
//! - the survivor has none: the Signl is annotated and stays up for the survivor, which is not
//!   paged again; acknowledging that Signl writes to the survivor, and the survivor's close
//!   resolves it.
//!
//! Both are recorded as `IncidentMerged` in the log, and `audit` shows them.

mod common;

use common::world::{wait_until as wait_for, World};

use std::time::Duration;

use chrono::Utc;
use sandbox::control::UserAction;
use sandbox::defender::DefenderIncidentSpec;
use sandbox::{SandboxHandle, SandboxOptions};
use sentinel_signl4::config::{Secret, SecretSource};
use sentinel_signl4::run::{serve_webhooks, settle, start_connectors};
use serde_json::{json, Map, Value};
use store::events::Event;
use store::{IncidentKey, TenantId};

const TENANT: &str = "tenant-1";

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

fn add(sandbox: &SandboxHandle, fields: Value) -> String {
    sandbox
        .control()
        .add_graph_incident(
            TENANT,
            DefenderIncidentSpec {
                fields: obj(fields),
                alerts: vec![obj(json!({"title": "alert", "evidence": []}))],
            },
        )
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn external(id: &str) -> String {
    store::ids::external_id(TenantId::from_name(TENANT), IncidentKey::from_source_id(id))
}

fn signls_of(sandbox: &SandboxHandle, id: &str) -> Vec<Value> {
    let ext = external(id);
    sandbox
        .control()
        .signls(TENANT)
        .unwrap()
        .into_iter()
        .filter(|s| s["externalId"] == ext.as_str())
        .collect()
}

fn annotated(signl: &Value, needle: &str) -> bool {
    signl["sandbox"]["annotations"].as_array().is_some_and(|a| {
        a.iter()
            .any(|n| n["text"].as_str().is_some_and(|t| t.contains(needle)))
    })
}

/// The shared world reading Defender incidents, polling every 200 ms.
fn world(sandbox: SandboxHandle) -> World {
    World::configured(
        sandbox,
        |text| text.replace("read_source = \"sentinel\"", "read_source = \"defender\""),
        |c| {
            c.poll_interval = Duration::from_millis(200);
            c.poll_overlap = Duration::from_secs(5);
            // No sweep during the test, and a lookback of an hour: an incident last changed two
            // hours ago stays unlisted until a merge changes it (so the survivor without a Signl is first seen merged into).
            c.sweep_interval = Duration::from_secs(3600);
            c.lookback = Duration::from_secs(3600);
            c.webhook_token = Some(Secret::new("m".repeat(32), SecretSource::Inline));
        },
    )
}

#[test]
fn a_merged_incidents_signl_follows_the_survivor() {
    let sandbox = common::world::sandbox(SandboxOptions::for_tests());
    common::world::tenant(&sandbox, TENANT);
    let World {
        sandbox,
        config,
        store,
        dir: _dir,
        ..
    } = world(sandbox);
    let control = sandbox.control();
    let merged_b = add(&sandbox, json!({"severity": "high"}));
    let survivor_b = add(&sandbox, json!({"severity": "high"}));
    let merged_a = add(&sandbox, json!({"severity": "medium"}));
    // Last changed long ago: not listed until the merge moves it.
    let old = (Utc::now() - chrono::Duration::hours(2)).to_rfc3339();
    let survivor_a = add(
        &sandbox,
        json!({"severity": "high", "createdDateTime": old, "lastUpdateDateTime": old}),
    );
    let tenant = TenantId::from_name(TENANT);
    let user_mail = control.with_world(|w| w.tenants[0].team.users[0].mail.clone());
    actix_rt::System::new().block_on(async {
        let http = common::world::http();
        let running = start_connectors(&config, &store, &http).await.unwrap();
        let (server, address) =
            serve_webhooks(running.routes.clone(), ([127, 0, 0, 1], 0).into()).unwrap();
        control
            .set_outbound_url(
                TENANT,
                Some(format!("http://{address}/signl4/{TENANT}/{}", "m".repeat(32))),
            )
            .unwrap();
        wait_for("three incidents paged", Duration::from_secs(30), || {
            [&merged_b, &survivor_b, &merged_a]
                .iter()
                .all(|id| signls_of(&sandbox, id).len() == 1)
                && store.read(|p| p.open_effects().is_empty())
        })
        .await;
        assert!(signls_of(&sandbox, &survivor_a).is_empty());

        // The survivor has its own Signl: the merged one's is annotated and resolved.
        control
            .merge_graph_incidents(TENANT, &merged_b, &survivor_b)
            .unwrap();
        wait_for("merged Signl resolved", Duration::from_secs(30), || {
            let s = &signls_of(&sandbox, &merged_b)[0];
            s["status"] == 4
                && annotated(
                    s,
                    &format!("Merged in Defender into incident {survivor_b}, which has its own Signl"),
                )
        })
        .await;
        assert_eq!(signls_of(&sandbox, &survivor_b)[0]["status"], 1, "the survivor's stays up");

        // The survivor has none: the Signl stays up for it, and the survivor is not paged.
        control
            .merge_graph_incidents(TENANT, &merged_a, &survivor_a)
            .unwrap();
        wait_for("Signl annotated for its survivor", Duration::from_secs(30), || {
            annotated(
                &signls_of(&sandbox, &merged_a)[0],
                &format!("Merged in Defender into incident {survivor_a}; this Signl now stands for it"),
            )
        })
        .await;
        let survivor_key = IncidentKey::from_source_id(&survivor_a);
        wait_for("the survivor observed", Duration::from_secs(30), || {
            store.read(|p| p.incident(tenant, survivor_key).is_some_and(|i| i.observed()))
        })
        .await;
        // Several more polls see it, and still nobody pages it.
        let lists = |n: usize| {
            control
                .requests()
                .iter()
                .filter(|r| r.path.contains("/security/incidents?"))
                .count()
                >= n
        };
        let after = control.requests().len();
        let target = control
            .requests()
            .iter()
            .filter(|r| r.path.contains("/security/incidents?"))
            .count()
            + 4;
        wait_for("more polls", Duration::from_secs(30), || lists(target)).await;
        settle(&running, Duration::from_millis(50), 40).await;
        assert!(control.requests().len() > after);
        assert!(signls_of(&sandbox, &survivor_a).is_empty(), "paged twice");
        assert_eq!(signls_of(&sandbox, &merged_a)[0]["status"], 1);

        // Acknowledging the Signl that stands for the survivor writes to the survivor.
        let signl = signls_of(&sandbox, &merged_a)[0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        control
            .user_action(TENANT, &signl, None, UserAction::Acknowledge)
            .unwrap();
        wait_for("the survivor acknowledged", Duration::from_secs(30), || {
            let s = control.graph_incident(TENANT, &survivor_a).unwrap();
            s["status"] == "inProgress"
                && s["assignedTo"] == user_mail.as_str()
                && s["comments"].as_array().is_some_and(|c| c.len() == 1)
        })
        .await;
        let merged = control.graph_incident(TENANT, &merged_a).unwrap();
        assert_eq!(merged["status"], "redirected", "the merged incident is left alone");

        // The survivor is resolved by an analyst: the Signl that stood for it is resolved.
        control
            .analyst_graph_incident(TENANT, &survivor_a, obj(json!({"status": "resolved"})))
            .unwrap();
        wait_for("the follower resolved", Duration::from_secs(30), || {
            signls_of(&sandbox, &merged_a)[0]["status"] == 4
        })
        .await;
        settle(&running, Duration::from_millis(50), 40).await;
        server.stop(true).await;
    });

    // Both merges are in the log, once each.
    let merges = |id: &str| -> Vec<(String, bool)> {
        store
            .log()
            .incident_events(tenant, IncidentKey::from_source_id(id))
            .unwrap()
            .into_iter()
            .filter_map(|e| match e.event {
                Event::IncidentMerged(m) => Some((m.into_name, m.survivor_paged)),
                _ => None,
            })
            .collect()
    };
    assert_eq!(merges(&merged_b), [(survivor_b.clone(), true)]);
    assert_eq!(merges(&merged_a), [(survivor_a.clone(), false)]);
    assert!(store.read(|p| p.open_effects().is_empty()));
    store.shutdown().unwrap();

    // `audit` shows the merge in the merged incident's timeline.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sentinel-signl4"))
        .args(["audit", &merged_a, "--tenant", TENANT, "--data-dir"])
        .arg(&config.data_dir)
        .output()
        .unwrap();
    let timeline = String::from_utf8_lossy(&out.stdout);
    assert!(
        timeline.contains("IncidentMerged")
            && timeline.contains(&format!("merged in Defender into incident #{survivor_a}")),
        "{timeline}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
