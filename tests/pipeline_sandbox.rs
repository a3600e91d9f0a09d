//! The pipeline over real HTTP against the sandbox, with the real clients, log and actors:
//! hundreds of incidents (1,500 on request) over paged listings each paged exactly once; an outage of Sentinel caught up
//! without loss; tokens expiring mid-run; a 429 storm from SIGNL4; 409s while tagging; a restart
//! that sends nothing twice; a configuration that cannot run refused with its connector's name.
//! (The same pipeline reading Microsoft Graph alerts: `pipeline_graph.rs`.)

mod common;

use common::world::{http, World};

use std::path::Path;
use std::time::{Duration, Instant};

use sandbox::options::ThrottleLimits;
use sandbox::scenario::{generate, ScenarioSpec};
use sandbox::{FaultKind, FaultSpec, SandboxOptions, Service};
use sentinel_signl4::config::{self, Env, Secret, SecretSource};
use sentinel_signl4::run::{settle, start_connectors, Running};

/// The shared world on a sandbox with `tenants` x `incidents` (a generated scenario).
fn world(tenants: usize, incidents: usize, options: SandboxOptions) -> World {
    let sandbox = common::world::sandbox(options);
    generate(
        sandbox.control(),
        &ScenarioSpec {
            tenants,
            incidents_per_tenant: incidents,
            alerts_per_incident: 1,
            seed: 7,
            outbound_url: None,
        },
    )
    .unwrap();
    World::new(sandbox, |c| {
        c.page_size = 200;
        c.enrichment_deadline = Duration::from_secs(2);
        c.webhook_token = Some(Secret::new("t".repeat(32), SecretSource::Inline));
    })
}

/// Generous limits everywhere: these tests are not about throttling unless they say so.
fn roomy() -> SandboxOptions {
    SandboxOptions {
        throttle: ThrottleLimits::unlimited(),
        ..SandboxOptions::default()
    }
}

/// Signls of a tenant's team: (count, distinct ExternalIDs).
fn signls(world: &World, tenant: &str) -> (usize, usize) {
    let signls = world.sandbox.control().signls(tenant).unwrap();
    let mut ids: Vec<String> = signls
        .iter()
        .map(|s| s["externalId"].as_str().unwrap_or("").to_string())
        .collect();
    ids.sort();
    ids.dedup();
    (signls.len(), ids.len())
}

fn tagged(world: &World, tenant: &str) -> usize {
    world
        .sandbox
        .control()
        .incidents(tenant)
        .unwrap()
        .iter()
        .filter(|i| {
            i["properties"]["labels"]
                .as_array()
                .is_some_and(|l| l.iter().any(|l| l["labelName"] == "SIGNL4"))
        })
        .count()
}

/// Runs until every tenant's team holds `expected` Signls, every incident is tagged and the
/// log has no open intent (bounded). Idleness is not required: with polls every 300 ms on a
/// loaded machine something is nearly always in flight.
async fn wait_for_signls(world: &World, running: &Running, expected: usize, limit: Duration) {
    let started = Instant::now();
    loop {
        let done =
            world.config.connectors.iter().all(|c| {
                signls(world, &c.name).0 >= expected && tagged(world, &c.name) >= expected
            }) && world.store.read(|p| p.open_effects().is_empty());
        if done {
            settle(running, Duration::from_millis(50), 40).await;
            return;
        }
        assert!(
            started.elapsed() < limit,
            "only {:?} Signls after {limit:?}; unpaged in the log: {:?}",
            world
                .config
                .connectors
                .iter()
                .map(|c| signls(world, &c.name))
                .collect::<Vec<_>>(),
            world.store.read(|p| p
                .incidents
                .values()
                .filter(|i| i.signls_raised == 0 || !i.open_effects.is_empty())
                .map(|i| (i.title.clone(), i.signl.status, i.open_effects.len()))
                .collect::<Vec<_>>()),
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Incidents in the paging test: 300 by default, so the suite stays fast on a debug build (the
/// sandbox answers in ~250 ms under this load); `S4_PAGING_INCIDENTS=1500` runs the issue's
/// full acceptance case (passed in 215 s on 2 cores).
fn incidents() -> usize {
    std::env::var("S4_PAGING_INCIDENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

#[test]
fn hundreds_of_incidents_over_paged_listings_are_each_paged_once() {
    let incidents = incidents();
    let mut world = world(1, incidents, roomy());
    for c in &mut world.config.connectors {
        c.page_size = 100;
    }
    // The actors (and their log handles) are gone before the log's directory is removed: a sled
    // log whose files vanished under it hung in its final flush (1 run in 4 of the suite).
    actix_rt::System::new().block_on(async {
        let running = world.start().await;
        wait_for_signls(&world, &running, incidents, Duration::from_secs(600)).await;
    });
    assert_eq!(signls(&world, "tenant-1"), (incidents, incidents));
    assert_eq!(tagged(&world, "tenant-1"), incidents);
    let report = world.verified();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.open_intents, 0);
}

// This test once hung beside other tests' sled logs in one process (sled 0.34's process-wide
// lock, see store/src/lib.rs); the suite runs under cargo-nextest, one process per test, as the
// connector runs one log per process.
#[test]
fn an_outage_a_429_storm_409s_and_expiring_tokens_lose_and_duplicate_nothing() {
    let world = world(
        2,
        10,
        SandboxOptions {
            // Short enough to expire several times during the test, long enough that a request
            // slowed down by a loaded CI machine still arrives with a valid token.
            token_ttl: Duration::from_secs(3),
            ..roomy()
        },
    );
    // The actors (and their log handles) are gone before the log's directory is removed.
    actix_rt::System::new().block_on(async {
        let control = world.sandbox.control();
        // Sentinel is down for the first listings, SIGNL4 throttles, tagging meets stale etags.
        control.add_fault(FaultSpec {
            service: Service::Sentinel,
            kind: FaultKind::Status {
                status: 503,
                retry_after: None,
            },
            times: Some(12),
            probability: None,
            path_contains: Some("/incidents".into()),
            method: Some("GET".into()),
        });
        control.add_fault(FaultSpec {
            service: Service::Signl4,
            kind: FaultKind::Status {
                status: 429,
                retry_after: Some(1),
            },
            times: Some(6),
            probability: None,
            path_contains: Some("/webhook".into()),
            method: None,
        });
        control.add_fault(FaultSpec {
            service: Service::Sentinel,
            kind: FaultKind::Status {
                status: 409,
                retry_after: None,
            },
            times: Some(6),
            probability: None,
            path_contains: None,
            method: Some("PUT".into()),
        });
        let running = world.start().await;
        wait_for_signls(&world, &running, 10, Duration::from_secs(90)).await;
        // Keep running past several token lifetimes while new incidents arrive.
        for round in 0..3 {
            for c in &world.config.connectors {
                let spec = sandbox::control::IncidentSpec {
                    title: format!("Late incident {round}"),
                    ..Default::default()
                };
                control.create_incident(&c.name, spec).unwrap();
            }
            tokio::time::sleep(Duration::from_millis(2000)).await;
        }
        wait_for_signls(&world, &running, 13, Duration::from_secs(120)).await;
        for c in &world.config.connectors {
            assert_eq!(signls(&world, &c.name), (13, 13), "{}", c.name);
            assert_eq!(tagged(&world, &c.name), 13, "{}", c.name);
        }
        let token_requests = control
            .requests()
            .iter()
            .filter(|r| r.path.contains("/oauth2/v2.0/token"))
            .count();
        assert!(
            token_requests > 2,
            "tokens were refreshed: {token_requests}"
        );
        assert!(
            control.faults().iter().all(|f| f.fired > 0),
            "every fault fired"
        );
    });
}

#[test]
fn a_restart_sends_nothing_twice() {
    let world = world(1, 8, roomy());
    actix_rt::System::new().block_on(async {
        let running = world.start().await;
        wait_for_signls(&world, &running, 8, Duration::from_secs(60)).await;
    });
    // The first process is gone; a second one starts on the same log.
    let world = world.reopen();
    actix_rt::System::new().block_on(async {
        let running = world.start().await;
        // Several polls after the restart, each seeing the same incidents.
        common::after_more_requests(
            &world.sandbox,
            "sentinel",
            "/incidents?",
            4,
            Duration::from_secs(60),
        )
        .await;
        // Best effort: with polls every 300 ms something may always be in flight.
        settle(&running, Duration::from_millis(50), 200).await;
    });
    assert_eq!(signls(&world, "tenant-1"), (8, 8));
}

#[actix_rt::test]
async fn a_connector_that_cannot_run_is_refused_by_name() {
    let mut world = world(1, 1, roomy());
    // A valid URL, but not the shape of a SIGNL4 webhook (`/webhook/<team secret>`).
    let text: String = world
        .sandbox
        .connector_toml()
        .lines()
        .map(|line| {
            if line.starts_with("team_secret = ") {
                "webhook_url = \"http://127.0.0.1:9/hooks/elsewhere\"".to_string()
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    world.config = config::parse_str(&text, Path::new("hook.toml"), &Env::process()).unwrap();
    let error = start_connectors(&world.config, &world.store, &http())
        .await
        .err()
        .expect("refused");
    let message = error.to_string();
    assert!(
        message.contains("tenant-1") && message.contains("webhook URL must have the form"),
        "{message}"
    );
}
