//! The connector's test world, shared by the pipeline, status sync, SIGNL4_CL and wire tests: a
//! sandbox, a configuration parsed from the sandbox's own `connector_toml` (so the tests run what
//! an operator would run), and a fresh event log on disk.
//!
//! Invariants: the log lives in a [`store::scratch`] directory, removed at process exit and never
//! while an actor may still hold the log (a log whose files vanished under it hung sled); every
//! connector polls fast (300 ms, 10 s overlap) unless a test tunes it otherwise; the HTTP context
//! has no rate budgets, because these tests are about the pipeline, not throttling (the sandbox's
//! throttles still answer when a test asks for them).
#![allow(dead_code)]

use std::path::Path;
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use sandbox::control::{AnalystAction, IncidentSpec, TenantSpec};
use sandbox::options::ThrottleLimits;
use sandbox::{Sandbox, SandboxHandle, SandboxOptions};
use sentinel_signl4::config::{self, Config, ConnectorConfig, Env};
use sentinel_signl4::http::{BudgetLimits, HttpContext, HttpSettings};
use sentinel_signl4::run::{serve_webhooks, start_connectors, Running};
use serde_json::Value;
use store::scratch::ScratchDir;
use store::{Store, StoreConfig};

/// A sandbox, the connector configuration pointing at it, and the connector's event log; what
/// every end-to-end test starts from. `names` holds the incidents the test created through
/// [`World::with_incidents`] (empty otherwise).
pub struct World {
    pub sandbox: SandboxHandle,
    pub config: Config,
    pub store: Store,
    pub names: Vec<String>,
    pub dir: ScratchDir,
}

/// Starts a sandbox (and the connector's telemetry, off unless `RUST_LOG` asks, so a failing
/// test can show what the connector did).
pub fn sandbox(options: SandboxOptions) -> SandboxHandle {
    sentinel_signl4::telemetry::init("off", false);
    Sandbox::start(options).expect("the sandbox starts")
}

/// The sandbox's test options without throttling: for tests not about throttling.
pub fn roomy() -> SandboxOptions {
    let mut options = SandboxOptions::for_tests();
    options.throttle = ThrottleLimits::unlimited();
    options
}

/// An HTTP context without rate budgets (see the module header).
pub fn http() -> HttpContext {
    HttpContext::new(HttpSettings {
        budget: BudgetLimits::unlimited(),
        ..HttpSettings::for_tests()
    })
    .expect("the HTTP context")
}

/// Creates tenant `name` in the sandbox.
pub fn tenant(sandbox: &SandboxHandle, name: &str) {
    sandbox
        .control()
        .create_tenant(TenantSpec {
            name: Some(name.into()),
            ..TenantSpec::default()
        })
        .expect("the tenant is created");
}

/// Creates `count` New, High Sentinel incidents titled `Incident <n>` in `tenant`; their names.
pub fn incidents(sandbox: &SandboxHandle, tenant: &str, count: usize) -> Vec<String> {
    (0..count)
        .map(|n| {
            let spec = IncidentSpec {
                title: format!("Incident {n}"),
                severity: "High".into(),
                ..IncidentSpec::default()
            };
            let incident = sandbox.control().create_incident(tenant, spec).unwrap();
            incident["name"].as_str().unwrap().to_string()
        })
        .collect()
}

/// Waits (bounded) until `done` holds; the failure says what did not happen within `limit`.
pub async fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl World {
    /// A world on `sandbox` whose configuration is the sandbox's `connector_toml` as `edit`
    /// rewrites it (`read_source`, the tag), with fast polls and then `tune` applied to every
    /// connector.
    pub fn configured(
        sandbox: SandboxHandle,
        edit: impl FnOnce(String) -> String,
        tune: impl FnMut(&mut ConnectorConfig),
    ) -> World {
        let text = edit(sandbox.connector_toml());
        let mut config = config::parse_str(&text, Path::new("sandbox.toml"), &Env::process())
            .expect("the sandbox's configuration parses");
        let dir = store::scratch::dir();
        config.data_dir = dir.path().join("log");
        for c in &mut config.connectors {
            c.poll_interval = Duration::from_millis(300);
            // Short polls with the default 5-minute overlap would re-list every incident each
            // time; the start-up sweep and the cap at the poll's start keep this safe.
            c.poll_overlap = Duration::from_secs(10);
        }
        config.connectors.iter_mut().for_each(tune);
        let store = Store::open(&config.data_dir, StoreConfig::default()).expect("the log opens");
        World {
            sandbox,
            config,
            store,
            names: Vec::new(),
            dir,
        }
    }

    /// A world on `sandbox` with its configuration as the sandbox writes it (see
    /// [`World::configured`]).
    pub fn new(sandbox: SandboxHandle, tune: impl FnMut(&mut ConnectorConfig)) -> World {
        World::configured(sandbox, |text| text, tune)
    }

    /// A world with one tenant `tenant` holding `count` New incidents (see [`incidents`]),
    /// their names in `names`.
    pub fn with_incidents(
        options: SandboxOptions,
        tenant_name: &str,
        count: usize,
        tune: impl FnMut(&mut ConnectorConfig),
    ) -> World {
        let sandbox = sandbox(options);
        tenant(&sandbox, tenant_name);
        let names = incidents(&sandbox, tenant_name, count);
        World {
            names,
            ..World::new(sandbox, tune)
        }
    }

    /// The same world after a process restart: the log closed and opened again, as a second
    /// process on the same directory would open it.
    pub fn reopen(self) -> World {
        let World {
            sandbox,
            config,
            store,
            names,
            dir,
        } = self;
        store.shutdown().expect("the log closes");
        let store = Store::open(&config.data_dir, StoreConfig::default()).expect("the log opens");
        World {
            sandbox,
            config,
            store,
            names,
            dir,
        }
    }

    /// Starts the configured connectors on this world's log.
    pub async fn start(&self) -> Running {
        start_connectors(&self.config, &self.store, &http())
            .await
            .expect("the connectors start")
    }

    /// Serves the connectors' webhook listener on a loopback port and points `tenant`'s SIGNL4
    /// outbound webhook at it (with `token`, the connector's webhook token).
    pub fn serve_webhooks(&self, running: &Running, tenant: &str, token: &str) -> ServerHandle {
        let (server, address) = serve_webhooks(running.routes.clone(), ([127, 0, 0, 1], 0).into())
            .expect("the webhook listener binds");
        let url = format!("http://{address}/signl4/{tenant}/{token}");
        self.sandbox
            .control()
            .set_outbound_url(tenant, Some(url))
            .expect("the outbound URL is set");
        server
    }

    /// The log verified, whatever the age of its open intents (a test's log is young).
    pub fn verified(&self) -> store::verify::Report {
        store::verify::verify(
            self.store.log(),
            store::verify::Options {
                max_intent_age_ms: i64::MAX,
                now_ms: 0,
            },
            &mut |_, _| {},
        )
    }

    /// The Signls of `tenant`'s team, as the sandbox holds them.
    pub fn signls(&self, tenant: &str) -> Vec<Value> {
        self.sandbox.control().signls(tenant).unwrap()
    }
}

/// The id of the Signl raised for incident `name` of the first connector (by its ExternalID),
/// if SIGNL4 holds one.
pub fn signl_of(world: &World, name: &str) -> Option<String> {
    let connector = &world.config.connectors[0];
    let external = store::ids::external_id(
        connector.settings().tenant(),
        store::IncidentKey::from_source_id(name),
    );
    world
        .signls(&connector.name)
        .iter()
        .find(|s| s["externalId"] == external.as_str())
        .map(|s| s["id"].as_str().unwrap().to_string())
}

/// An analyst (`ann@contoso.example`) acts on incident `name` of the first connector's tenant.
pub fn analyst(world: &World, name: &str, action: AnalystAction) {
    world
        .sandbox
        .control()
        .analyst(
            &world.config.connectors[0].name,
            name,
            AnalystAction {
                analyst: Some("ann@contoso.example".into()),
                ..action
            },
        )
        .unwrap();
}

/// True when every outbound webhook SIGNL4 sent got an answer (or could not be sent).
pub fn outbound_done(world: &World) -> bool {
    world
        .sandbox
        .control()
        .outbound()
        .iter()
        .all(|r| r.last_result.is_some())
}
