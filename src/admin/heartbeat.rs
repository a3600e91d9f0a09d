//! Heartbeats: for each connector with a `heartbeat_url`, a GET every `heartbeat_interval`
//! while that connector is healthy, so a monitor (SIGNL4's heartbeat monitoring, or any)
//! pages the team when the calls stop: when the process dies or hangs, or the connector is in
//! error.
//!
//! Invariants:
//! - A call is made only when the connector is OK (the same view as `/readyz`) and the event
//!   log writer makes progress (`/healthz`); otherwise the beat is skipped, which is the point.
//! - The URL is a secret (it often embeds one): never logged; failures log the status or the
//!   transport error kind only, once per failure streak, at WARN.
//! - Each beat has a timeout shorter than the interval, so beats never pile up.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::config::Config;

/// Beats sent and failed per connector, for `/metrics` and `/status`.
#[derive(Debug, Default)]
pub struct HeartbeatStats {
    counts: Mutex<BTreeMap<String, HeartbeatCounts>>,
}

/// One connector's heartbeat numbers.
#[derive(Debug, Clone, Default)]
pub struct HeartbeatCounts {
    pub sent: u64,
    pub failed: u64,
    /// When the last beat was answered 2xx (ms since the epoch).
    pub last_ok_ms: Option<i64>,
}

impl HeartbeatStats {
    fn record(&self, connector: &str, ok: bool) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let entry = counts.entry(connector.to_string()).or_default();
        if ok {
            entry.sent += 1;
            entry.last_ok_ms = Some(actors::health::now_ms());
        } else {
            entry.failed += 1;
        }
    }

    /// The numbers of every connector with a heartbeat.
    pub fn snapshot(&self) -> BTreeMap<String, HeartbeatCounts> {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Starts one heartbeat task per connector with a `heartbeat_url` on the current actix
/// System. `healthy(connector)` says whether a beat may be sent now.
pub fn start(
    config: &Config,
    stats: Arc<HeartbeatStats>,
    healthy: Arc<dyn Fn(&str) -> bool + Send + Sync>,
) -> Result<(), reqwest::Error> {
    for c in &config.connectors {
        let Some(heartbeat) = &c.heartbeat else {
            continue;
        };
        let timeout = heartbeat.interval.min(Duration::from_secs(10));
        let client = reqwest::Client::builder().timeout(timeout).build()?;
        let name = c.name.clone();
        let url = heartbeat.url.expose().to_string();
        let interval = heartbeat.interval;
        let stats = stats.clone();
        let healthy = healthy.clone();
        let streak = AtomicU64::new(0);
        actix_rt::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if !healthy(&name) {
                    continue;
                }
                let outcome = match client.get(&url).send().await {
                    Ok(response) if response.status().is_success() => Ok(()),
                    Ok(response) => Err(format!("answered {}", response.status().as_u16())),
                    Err(error) => Err(transport_kind(&error).to_string()),
                };
                stats.record(&name, outcome.is_ok());
                match outcome {
                    Ok(()) => {
                        if streak.swap(0, Ordering::Relaxed) > 0 {
                            tracing::info!(connector = %name, "heartbeat delivered again");
                        }
                    }
                    Err(why) => {
                        if streak.fetch_add(1, Ordering::Relaxed) == 0 {
                            tracing::warn!(
                                connector = %name,
                                %why,
                                "heartbeat not delivered (logged once until one is delivered)"
                            );
                        }
                    }
                }
            }
        });
        tracing::info!(
            connector = %c.name,
            interval_s = heartbeat.interval.as_secs_f64(),
            "heartbeat on"
        );
    }
    Ok(())
}

/// What kind of transport failure, without the URL reqwest errors carry.
fn transport_kind(error: &reqwest::Error) -> &'static str {
    if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else {
        "request failed"
    }
}
