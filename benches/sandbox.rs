//! Sandbox throughput: requests per second the Sentinel emulator sustains on loopback with
//! keep-alive connections from several concurrent clients (incident GET, list, and a mix), plus
//! the SIGNL4 webhook. Plain timing with `std::time`; run with `cargo bench --bench sandbox`.
//!
//! Environment knobs: `SANDBOX_BENCH_SECS` (per phase, default 3), `SANDBOX_BENCH_CLIENTS`
//! (default 16), `SANDBOX_BENCH_WORKERS` (actix workers per emulator, default 2).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sandbox::scenario::{generate, ScenarioSpec};
use sandbox::{Sandbox, SandboxOptions};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Which request a phase sends.
#[derive(Clone, Copy)]
enum Kind {
    Get,
    List,
    Mixed,
    Webhook,
}

struct Target {
    si: String,
    token: String,
    ids: Vec<String>,
    hook: String,
}

async fn phase(
    http: &reqwest::Client,
    t: &Arc<Target>,
    kind: Kind,
    clients: u64,
    secs: u64,
) -> (f64, u64) {
    let ok = Arc::new(AtomicU64::new(0));
    let bad = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (http, t, ok, bad) = (http.clone(), t.clone(), ok.clone(), bad.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = c as usize;
            while Instant::now() < deadline {
                n = n.wrapping_add(7);
                let get = |n: usize| format!("{}/incidents/{}?api-version=2025-12-01", t.si, t.ids[n % t.ids.len()]);
                let req = match kind {
                    Kind::Get => http.get(get(n)).bearer_auth(&t.token),
                    Kind::List => http.get(format!("{}/incidents?api-version=2025-12-01&$top=50&$filter=properties/status eq 'New'", t.si)).bearer_auth(&t.token),
                    Kind::Mixed if n.is_multiple_of(4) => http.get(format!("{}/incidents?api-version=2025-12-01&$top=20", t.si)).bearer_auth(&t.token),
                    Kind::Mixed => http.get(get(n)).bearer_auth(&t.token),
                    Kind::Webhook => http.post(&t.hook).json(&serde_json::json!({"Title": "bench", "X-S4-ExternalID": format!("b{}", n % 100)})),
                };
                match req.send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        bad.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    (
        ok.load(Ordering::Relaxed) as f64 / elapsed,
        bad.load(Ordering::Relaxed),
    )
}

fn main() {
    let secs = env_or("SANDBOX_BENCH_SECS", 3);
    let clients = env_or("SANDBOX_BENCH_CLIENTS", 16);
    let workers = env_or("SANDBOX_BENCH_WORKERS", 2) as usize;
    let mut opts = SandboxOptions {
        workers,
        ..Default::default()
    };
    opts.throttle = sandbox::options::ThrottleLimits::unlimited();
    opts.request_log_capacity = 1000;
    let sb = Sandbox::start(opts).expect("sandbox starts");
    let tenants = generate(
        sb.control(),
        &ScenarioSpec {
            tenants: 1,
            incidents_per_tenant: 200,
            seed: 1,
            ..Default::default()
        },
    )
    .expect("scenario");
    let t = &tenants[0];
    let ids: Vec<String> = sb
        .control()
        .incidents(&t.name)
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let http = reqwest::Client::builder().no_proxy().pool_max_idle_per_host(clients as usize).build().unwrap();
        let tok: serde_json::Value = http
            .post(format!("{}/{}/oauth2/v2.0/token", sb.urls().entra, t.tenant_id))
            .form(&[("client_id", t.client_id.as_str()), ("client_secret", t.client_secret.as_str()),
                    ("scope", "https://management.azure.com/.default"), ("grant_type", "client_credentials")])
            .send().await.unwrap().json().await.unwrap();
        let target = Arc::new(Target {
            si: format!("{}/subscriptions/{}/resourceGroups/{}/providers/Microsoft.OperationalInsights/workspaces/{}/providers/Microsoft.SecurityInsights",
                sb.urls().arm, t.subscription_id, t.resource_group, t.workspace_name),
            token: tok["access_token"].as_str().unwrap().to_string(),
            ids,
            hook: format!("{}/webhook/{}", sb.urls().signl4, t.team_secret),
        });
        println!("sandbox bench: {clients} keep-alive clients, {workers} actix workers per emulator, {secs}s per phase, 200 incidents");
        for (name, kind) in [("incident GET", Kind::Get), ("incident list ($top=50, filter)", Kind::List), ("mixed 3 GET : 1 list", Kind::Mixed), ("SIGNL4 webhook POST", Kind::Webhook)] {
            let (rps, errors) = phase(&http, &target, kind, clients, secs).await;
            println!("{name:<34} {rps:>9.0} requests/s  ({errors} errors)");
        }
    });
    sb.stop();
}
