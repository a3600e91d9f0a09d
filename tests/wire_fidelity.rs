//! The connector's own wire, end to end: the real connector (clients, log, actors, webhook
//! listener, SIGNL4_CL shipper) runs against the sandbox while SIGNL4 users and Sentinel
//! analysts act on both sides; afterwards every PUT and POST body it sent, as the sandbox's body
//! log captured it, is validated against the official schemas in `tests/specs` with zero
//! findings, and the `SIGNL4_CL` rows it shipped hold no second, userless row for a change the
//! connector made itself.
//!
//! The sandbox renders unset owner fields as explicit nulls, like Azure, so a write-back that
//! echoed what it read would be caught here.

mod common;
mod schema_util;

use common::world::{analyst, roomy, signl_of, wait_until, World};

use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use sandbox::capture::BodyRecord;
use sandbox::control::{AnalystAction, UserAction};
use schema_util::{findings, ingestion_body_schema, Specs};
use sentinel_signl4::config::{Secret, SecretSource};
use sentinel_signl4::run::Running;
use serde_json::{json, Map, Value};

const TENANT: &str = "contoso";

/// The shared world with one tenant and `incidents` New incidents, listening for SIGNL4's
/// outbound webhooks and shipping SIGNL4_CL every 300 ms.
fn world(incidents: usize) -> World {
    let options = roomy();
    assert!(options.sentinel.owner_nulls, "Azure's nulls are on");
    World::with_incidents(options, TENANT, incidents, |c| {
        c.webhook_token = Some(Secret::new("w".repeat(32), SecretSource::Inline));
        let cl = c
            .signl4_cl
            .as_mut()
            .expect("the sandbox configures SIGNL4_CL");
        cl.interval = Duration::from_millis(300);
    })
}

async fn start(world: &World) -> (Running, ServerHandle) {
    let running = world.start().await;
    let token = world.config.connectors[0].webhook_token.clone().unwrap();
    let server = world.serve_webhooks(&running, TENANT, token.expose());
    (running, server)
}

/// What both sides and the table hold, to see when nothing changes any more.
fn snapshot(world: &World) -> (usize, usize, usize, usize) {
    world.sandbox.control().with_world(|w| {
        let t = w.tenants.iter().find(|t| t.name == TENANT).unwrap();
        (
            t.incidents.values().map(|i| i.comments.len()).sum(),
            t.team.signls.iter().map(|s| s.annotations.len()).sum(),
            t.signl4_cl_rows.len(),
            w.bodies.len(),
        )
    })
}

/// No open intent, every outbound webhook answered, and nothing changing over several polls.
async fn quiet(world: &World, limit: Duration) {
    let started = Instant::now();
    let mut last = None;
    let mut stable = 0;
    loop {
        let settled = world.store.read(|p| p.open_effects().is_empty())
            && world
                .sandbox
                .control()
                .outbound()
                .iter()
                .all(|r| r.last_result.is_some());
        let now = snapshot(world);
        stable = if settled && last == Some(now) {
            stable + 1
        } else {
            0
        };
        if stable >= 5 {
            return;
        }
        assert!(started.elapsed() < limit, "no quiet state within {limit:?}");
        last = Some(now);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn user(world: &World, name: &str, action: UserAction) {
    let signl = signl_of(world, name).expect("paged");
    world
        .sandbox
        .control()
        .user_action(TENANT, &signl, None, action)
        .unwrap();
}

fn analyst_close() -> AnalystAction {
    AnalystAction {
        status: Some("Closed".into()),
        classification: Some("BenignPositive".into()),
        classification_reason: Some("SuspiciousButExpected".into()),
        ..AnalystAction::default()
    }
}

/// Every schema finding of one captured body, prefixed with where it was sent.
fn check(specs: &Specs, ingestion: &Value, b: &BodyRecord) -> Vec<String> {
    let path = b.path.split('?').next().unwrap_or_default();
    let parsed = || serde_json::from_str::<Value>(&b.body);
    let found: Vec<String> = match (b.service.as_str(), b.method.as_str()) {
        ("sentinel", "PUT") if path.contains("/comments/") => match parsed() {
            Ok(v) => specs.validate(&specs.inc_key, "IncidentComment", &v),
            Err(e) => vec![format!("not JSON: {e}")],
        },
        ("sentinel", "PUT") => match parsed() {
            Ok(v) => specs.validate(&specs.inc_key, "Incident", &v),
            Err(e) => vec![format!("not JSON: {e}")],
        },
        // The list actions take no body (docs/reference/azure-apis.md §2.3).
        ("sentinel", "POST") => (!b.body.is_empty())
            .then(|| format!("a list action with a body: {}", b.body))
            .into_iter()
            .collect(),
        ("log_analytics", "POST") => match parsed() {
            Ok(v) => specs.validate(&specs.la_key, "queryBody", &v),
            Err(e) => vec![format!("not JSON: {e}")],
        },
        ("ingestion", "POST") => match parsed() {
            Ok(v) => findings(ingestion, &v),
            Err(e) => vec![format!("not JSON: {e}")],
        },
        // SIGNL4 has no schema for event bodies (any JSON object); REST bodies are objects.
        ("signl4", _) => match parsed() {
            Ok(Value::Object(_)) => Vec::new(),
            other => vec![format!("not a JSON object: {other:?}")],
        },
        (service, method) => vec![format!("unexpected {service} {method}")],
    };
    found
        .into_iter()
        .map(|f| format!("{} {} {}: {f}", b.service, b.method, b.path))
        .collect()
}

#[actix_rt::test]
async fn every_body_the_connector_sends_is_schema_valid_and_its_echoes_make_no_rows() {
    let world = world(6);
    let (_running, server) = start(&world).await;
    wait_until(
        "every incident paged and tagged",
        Duration::from_secs(60),
        || {
            world.names.iter().all(|n| {
                signl_of(&world, n).is_some()
                    && world
                        .sandbox
                        .control()
                        .incident(TENANT, n)
                        .map(|i| i["properties"]["labels"].to_string().contains("SIGNL4"))
                        .unwrap_or(false)
            }) && world.store.read(|p| p.open_effects().is_empty())
        },
    )
    .await;
    let [a, b, c, d, e, f] = <[String; 6]>::try_from(world.names.clone()).unwrap();
    // Phone side: acknowledge, note, close.
    user(&world, &a, UserAction::Acknowledge);
    user(
        &world,
        &a,
        UserAction::Annotate {
            text: "on my way".into(),
        },
    );
    // Sentinel side: an owner, a comment and a close on incidents still open in SIGNL4.
    analyst(
        &world,
        &b,
        AnalystAction {
            owner: Some(json!({"userPrincipalName": "ann@contoso.example"})),
            ..AnalystAction::default()
        },
    );
    analyst(
        &world,
        &c,
        AnalystAction {
            comment: Some("host 7 is a honeypot".into()),
            ..AnalystAction::default()
        },
    );
    analyst(&world, &d, analyst_close());
    user(&world, &e, UserAction::Close);
    quiet(&world, Duration::from_secs(120)).await;
    user(&world, &a, UserAction::Close);
    analyst(&world, &b, analyst_close());
    analyst(&world, &c, analyst_close());
    user(&world, &f, UserAction::Acknowledge);
    quiet(&world, Duration::from_secs(120)).await;

    // 1. Every body on the wire validates.
    let specs = Specs::load(true);
    let ingestion = ingestion_body_schema();
    let bodies = world.sandbox.control().with_world(|w| w.bodies.clone());
    let problems: Vec<String> = bodies
        .iter()
        .flat_map(|b| check(&specs, &ingestion, b))
        .collect();
    assert!(problems.is_empty(), "{problems:#?}");
    let incident_puts: Vec<Value> = bodies
        .iter()
        .filter(|b| b.service == "sentinel" && b.method == "PUT" && !b.path.contains("/comments/"))
        .map(|b| serde_json::from_str(&b.body).unwrap())
        .collect();
    // The tag PUTs went out while the incidents were unassigned, read with Azure's nulls.
    let unassigned = incident_puts
        .iter()
        .filter(|p| p["properties"]["owner"] == json!({"ownerType": "Unknown"}))
        .count();
    assert!(unassigned >= 6, "{incident_puts:#?}");
    assert!(
        bodies
            .iter()
            .any(|b| b.service == "sentinel" && b.path.contains("/comments/")),
        "comments were written"
    );
    assert!(
        bodies.iter().any(|b| b.service == "ingestion"),
        "SIGNL4_CL rows were shipped"
    );
    assert!(
        bodies.iter().any(|b| b.service == "log_analytics"),
        "enrichment queried Log Analytics"
    );
    assert!(
        bodies
            .iter()
            .any(|b| b.service == "signl4" && b.path.starts_with("/webhook/***")),
        "Signls were raised and resolved through the webhook"
    );
    assert!(
        bodies
            .iter()
            .any(|b| b.service == "signl4" && b.path.contains("/annotate")),
        "an analyst comment became an annotation"
    );

    // 2. SIGNL4_CL: one row per change, none userless beside the connector's own.
    let rows: Vec<Map<String, Value>> = world
        .sandbox
        .control()
        .with_world(|w| w.tenants[0].signl4_cl_rows.clone());
    let of = |name: &str| -> Vec<(String, Value)> {
        rows.iter()
            .filter(|r| r["IncidentName"] == name)
            .map(|r| (r["Action"].as_str().unwrap().to_string(), r["User"].clone()))
            .collect()
    };
    let userless: Vec<&Map<String, Value>> = rows
        .iter()
        .filter(|r| {
            r["User"].is_null()
                && matches!(
                    r["Action"].as_str(),
                    Some("Closed" | "Acknowledged" | "Annotated")
                )
        })
        .collect();
    assert!(userless.is_empty(), "{userless:#?}");
    let actions = |name: &str| -> Vec<String> { of(name).into_iter().map(|(a, _)| a).collect() };
    assert_eq!(
        actions(&a),
        ["Created", "Acknowledged", "Annotated", "Closed"]
    );
    assert_eq!(
        actions(&b),
        [
            "Created",
            "AcknowledgedFromSentinel",
            "ResolvedFromSentinel"
        ]
    );
    assert_eq!(
        actions(&c),
        ["Created", "AnnotatedFromSentinel", "ResolvedFromSentinel"]
    );
    assert_eq!(actions(&d), ["Created", "ResolvedFromSentinel"]);
    assert_eq!(actions(&e), ["Created", "Closed"]);
    assert_eq!(actions(&f), ["Created", "Acknowledged"]);
    for r in &rows {
        let measured = match r["Action"].as_str().unwrap() {
            "Acknowledged" | "AcknowledgedFromSentinel" => &r["SecondsToAcknowledge"],
            "Closed" | "ResolvedFromSentinel" => &r["SecondsToClose"],
            _ => continue,
        };
        assert!(measured.is_number(), "{r:?}");
    }
    server.stop(true).await;
}
