//! Pipeline benchmarks on the built-in sandbox (figures printed, never asserted).
//!
//! Run: `cargo bench --bench pipeline` (about three minutes; `S4_BENCH_IDLE_CONNECTORS` and
//! `S4_BENCH_IDLE_SECS` size the idle run).
//!
//! 1. Latency from an incident being recorded by the Poller to its Signl being accepted, without
//!    Log Analytics enrichment (the poll wait is excluded by construction: both ends are events
//!    in the log), p50 and p99 over a few hundred incidents arriving in small bursts.
//! 2. HTTP requests per forwarded incident, by kind and by the actor that makes it, from the
//!    sandbox's request log (4.11 on 2026-12-05: a share of the list per poll, the alerts and
//!    entities, the page and the tag: what the APIs require).
//! 3. Idle cost of many connectors polling every 60 s: CPU share of one core and RSS of this
//!    process (the sandbox runs in a child process so it is not counted).
//! 4. Write-back latency under a burst with the default Sentinel budgets (75 incident writes,
//!    75 comment writes, 100 reads per 5 min per subscription): the demo's 3 tenants x 40
//!    incidents, every Signl acknowledged and closed at once, and the 99th percentile of SIGNL4
//!    action -> Sentinel write (`writeback_p99`, as the demo prints it). `S4_BENCH_BURST=0`
//!    skips it (it can take minutes when the budget runs out).

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sandbox::control::IncidentSpec;
use sandbox::options::ThrottleLimits;
use sandbox::scenario::{generate, ScenarioSpec};
use sandbox::{Sandbox, SandboxOptions};
use sentinel_signl4::config::{self, Env, Secret, SecretSource};
use sentinel_signl4::http::{BudgetLimits, HttpContext, HttpSettings};
use sentinel_signl4::run::{settle, start_connectors};
use store::events::{EffectResult, Event};
use store::{Store, StoreConfig};

fn http() -> HttpContext {
    HttpContext::new(HttpSettings {
        budget: BudgetLimits::unlimited(),
        use_env_proxy: false,
        ..HttpSettings::default()
    })
    .unwrap()
}

fn latency_and_requests() {
    let sandbox = Sandbox::start(SandboxOptions {
        throttle: ThrottleLimits::unlimited(),
        ..SandboxOptions::default()
    })
    .unwrap();
    generate(
        sandbox.control(),
        &ScenarioSpec {
            tenants: 1,
            incidents_per_tenant: 0,
            ..ScenarioSpec::default()
        },
    )
    .unwrap();
    let mut config = config::parse_str(
        &sandbox.connector_toml(),
        Path::new("bench.toml"),
        &Env::process(),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    config.data_dir = dir.path().join("log");
    for c in &mut config.connectors {
        c.poll_interval = Duration::from_millis(200);
        c.poll_overlap = Duration::from_secs(5);
        c.workspace_id = None; // no Log Analytics enrichment
        c.webhook_token = Some(Secret::new("b".repeat(32), SecretSource::Inline));
    }
    let store = Store::open(&config.data_dir, StoreConfig::default()).unwrap();
    let incidents = 300;
    actix_rt::System::new().block_on(async {
        let running = start_connectors(&config, &store, &http()).await.unwrap();
        settle(&running, Duration::from_millis(50), 100).await;
        sandbox.control().clear_requests();
        for burst in 0..incidents / 10 {
            for i in 0..10 {
                let spec = IncidentSpec {
                    title: format!("Bench incident {burst}-{i}"),
                    severity: "High".into(),
                    ..IncidentSpec::default()
                };
                sandbox.control().create_incident("tenant-1", spec).unwrap();
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        let started = Instant::now();
        while store.read(|p| p.incidents.values().filter(|i| i.signls_raised > 0).count())
            < incidents
            && started.elapsed() < Duration::from_secs(120)
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        settle(&running, Duration::from_millis(50), 200).await;
    });
    // Latency: IncidentObserved (first) -> EffectSucceeded(SignlRaised), from the log.
    let mut latencies: Vec<i64> = Vec::new();
    let keys: Vec<_> = store.read(|p| p.incidents.keys().copied().collect());
    for (tenant, incident) in keys {
        let events = store.log().incident_events(tenant, incident).unwrap();
        let observed = events
            .iter()
            .find(|e| matches!(e.event, Event::IncidentObserved(_)));
        let raised = events.iter().find(|e| {
            matches!(&e.event, Event::EffectSucceeded(s)
                if matches!(s.result, EffectResult::SignlRaised { .. }))
        });
        if let (Some(o), Some(r)) = (observed, raised) {
            latencies.push(r.recorded_at_ms - o.recorded_at_ms);
        }
    }
    latencies.sort_unstable();
    let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p).round() as usize];
    println!("## Latency, incident recorded -> Signl accepted (no Log Analytics), release build\n");
    println!(
        "{} incidents: p50 {} ms, p99 {} ms, max {} ms",
        latencies.len(),
        pct(0.50),
        pct(0.99),
        latencies.last().unwrap()
    );

    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for request in sandbox.control().requests() {
        let path = request.path.split('?').next().unwrap_or("").to_string();
        let kind = if path.ends_with("/incidents") {
            "GET incidents (list, per poll)".to_string()
        } else if path.contains("/comments/") {
            format!("{} comment", request.method)
        } else if path.ends_with("/comments") {
            // StatusSync looking for analyst comments to mirror (an incident whose etag it has
            // not looked at and whose known state counts comments).
            format!("{} comments (list, StatusSync)", request.method)
        } else if path.ends_with("/alerts") || path.ends_with("/entities") {
            format!(
                "{} {} (Enricher)",
                request.method,
                path.rsplit('/').next().unwrap()
            )
        } else if path.contains("/incidents/") {
            // PUT: the Forwarder's tag; GET: a re-read after a 409 (writes start from the state
            // the Poller listed or our last write answered).
            format!("{} incident (tag; re-read after 409)", request.method)
        } else if path.contains("/webhook/") {
            "POST SIGNL4 webhook (page)".to_string()
        } else if path.contains("/oauth2/") {
            "POST token (Entra, cached)".to_string()
        } else {
            format!("{} {}", request.method, path)
        };
        *kinds.entry(kind).or_default() += 1;
    }
    println!("\n## HTTP requests per forwarded incident, by kind ({incidents} incidents)\n");
    for (kind, count) in kinds {
        println!(
            "{kind:<32} {:>6} ({:.2} per incident)",
            count,
            count as f64 / incidents as f64
        );
    }
    sandbox.stop();
    store.shutdown().unwrap();
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn cpu_time() -> Duration {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct we own; RUSAGE_SELF is always valid.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn idle_connectors() {
    let connectors: usize = std::env::var("S4_BENCH_IDLE_CONNECTORS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let seconds: u64 = std::env::var("S4_BENCH_IDLE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(120);
    let dir = tempfile::tempdir().unwrap();
    let config_file = dir.path().join("idle.toml");
    // The sandbox in its own process, so that only the connectors are measured here.
    let mut child = Command::new(env!("CARGO_BIN_EXE_sentinel-signl4"))
        .args(["sandbox", "--incidents", "0", "--workers", "2"])
        .arg("--tenants")
        .arg(connectors.to_string())
        .arg("--config-out")
        .arg(&config_file)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let started = Instant::now();
    while !config_file.exists() && started.elapsed() < Duration::from_secs(120) {
        let mut line = String::new();
        let _ = stdout.read_line(&mut line);
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::spawn(move || for _ in stdout.lines() {});
    let mut config = config::load_with(&config_file, &Env::process()).unwrap();
    config.data_dir = dir.path().join("log");
    for (i, c) in config.connectors.iter_mut().enumerate() {
        c.poll_interval = Duration::from_secs(60);
        c.webhook_token = Some(Secret::new(format!("{i:0>32}"), SecretSource::Inline));
    }
    let store = Store::open(&config.data_dir, StoreConfig::default()).unwrap();
    actix_rt::System::new().block_on(async {
        let running = start_connectors(&config, &store, &http()).await.unwrap();
        // Let the start-up sweeps finish, then measure a quiet stretch.
        settle(&running, Duration::from_millis(200), 600).await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        let (cpu0, wall0) = (cpu_time(), Instant::now());
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        let cpu = cpu_time() - cpu0;
        let wall = wall0.elapsed();
        println!(
            "\n## Idle cost: {connectors} connectors polling every 60 s, {seconds} s measured\n"
        );
        println!(
            "CPU {:.2}% of one core, RSS {} MiB",
            100.0 * cpu.as_secs_f64() / wall.as_secs_f64(),
            rss_kib() / 1024
        );
        drop(running);
    });
    let _ = child.kill();
    let _ = child.wait();
    store.shutdown().unwrap();
}

fn writeback_burst() {
    if std::env::var("S4_BENCH_BURST").is_ok_and(|v| v == "0") {
        return;
    }
    let (tenants, incidents) = (3, 40);
    let dir = tempfile::tempdir().unwrap();
    let summary = sentinel_signl4::demo::run(&sentinel_signl4::demo::DemoOptions {
        tenants,
        incidents,
        seed: 42,
        data_dir: dir.path().join("log"),
        poll_interval: Duration::from_secs(2),
        until_done: true,
        timeout: Duration::from_secs(900),
        read_source: config::ReadSource::Sentinel,
    })
    .unwrap();
    println!("\n## Write-back under a burst, default Sentinel budgets ({tenants} x {incidents})\n");
    println!(
        "writeback_p99={} round_trips={}/{} in {:.1}s",
        summary
            .writeback_p99
            .map_or_else(|| "-".to_string(), |d| format!("{:.1}s", d.as_secs_f64())),
        summary.done,
        summary.incidents,
        summary.elapsed.as_secs_f64()
    );
}

fn main() {
    latency_and_requests();
    writeback_burst();
    idle_connectors();
}
