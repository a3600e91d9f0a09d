//! `/metrics`: the Prometheus text format, written with `prometheus-client`, every name
//! prefixed `sentinel_signl4_`.
//!
//! Invariants: gauges are computed from the same views as `/readyz` and `/status` at scrape
//! time (a fresh registry per scrape, so a removed connector leaves no stale series); the
//! commit latency histogram is the probe's, kept across scrapes. Labels hold connector names,
//! effect kinds, service names and status codes only: never a secret, never request text.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::view::ConnectorView;
use super::AdminState;

type Labels = Vec<(String, String)>;
type FloatGauge = Gauge<f64, AtomicU64>;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The whole exposition for one scrape.
pub fn render(state: &AdminState, views: &[ConnectorView]) -> String {
    let mut registry = Registry::with_prefix("sentinel_signl4");

    let up = Family::<Labels, Gauge>::default();
    let last_poll = Family::<Labels, FloatGauge>::default();
    let effects_open = Family::<Labels, Gauge>::default();
    let oldest = Family::<Labels, FloatGauge>::default();
    let rows = Family::<Labels, Counter>::default();
    let halted = Family::<Labels, Gauge>::default();
    let expiry = Family::<Labels, Gauge>::default();
    let failed = Family::<Labels, Counter>::default();
    let parked = Family::<Labels, Gauge>::default();
    for v in views {
        for ((kind, reason), n) in &v.effects_parked {
            parked
                .get_or_create(&labels(&[
                    ("connector", &v.connector),
                    ("kind", kind),
                    ("reason", reason),
                ]))
                .set(*n as i64);
        }
        for (kind, n) in &v.effects_failed {
            failed
                .get_or_create(&labels(&[("connector", &v.connector), ("kind", kind)]))
                .inc_by(*n);
        }
        let c = labels(&[("connector", &v.connector)]);
        up.get_or_create(&c).set(i64::from(v.is_ok()));
        if let Some(ms) = v.last_poll_ok_ms {
            last_poll.get_or_create(&c).set(ms as f64 / 1000.0);
        }
        for (kind, n) in &v.effects_open {
            effects_open
                .get_or_create(&labels(&[("connector", &v.connector), ("kind", kind)]))
                .set(*n as i64);
        }
        oldest
            .get_or_create(&c)
            .set(v.oldest_open_effect_age_seconds.unwrap_or(0.0));
        if let Some(shipped) = v.signl4_cl_rows_shipped {
            rows.get_or_create(&c).inc_by(shipped);
            halted
                .get_or_create(&c)
                .set(i64::from(v.signl4_cl_halted.is_some()));
        }
        if let Some(days) = v.client_secret_expires_in_days {
            expiry.get_or_create(&c).set(days);
        }
    }
    registry.register(
        "connector_up",
        "1 when the connector's last poll succeeded, 0 otherwise",
        up,
    );
    registry.register(
        "last_poll_success_timestamp_seconds",
        "Unix time of the connector's last successful poll",
        last_poll,
    );
    registry.register(
        "effects_open",
        "Open intents (side effects asked for, outcome not yet recorded) by kind",
        effects_open,
    );
    registry.register(
        "effects_open_oldest_age_seconds",
        "Age of the connector's oldest open intent (0 when none)",
        oldest,
    );
    registry.register(
        "effects_parked",
        "Open side effects parked on an error an operator must fix (retried with backoff)",
        parked,
    );
    registry.register(
        "effects_failed",
        "Side effects that failed permanently (recorded as failed, not retried) by kind",
        failed,
    );
    registry.register(
        "signl4_cl_rows_shipped",
        "Rows delivered to SIGNL4_CL through the Logs Ingestion API since start",
        rows,
    );
    registry.register(
        "signl4_cl_shipping_halted",
        "1 when SIGNL4_CL shipping is halted (a permanent rejection), 0 otherwise",
        halted,
    );
    registry.register(
        "client_secret_expires_in_days",
        "Days until the configured client_secret_expires date (negative: expired)",
        expiry,
    );

    let beats = Family::<Labels, Counter>::default();
    let beats_failed = Family::<Labels, Counter>::default();
    for (name, counts) in state.heartbeats.snapshot() {
        let c = labels(&[("connector", &name)]);
        beats.get_or_create(&c).inc_by(counts.sent);
        beats_failed.get_or_create(&c).inc_by(counts.failed);
    }
    registry.register(
        "heartbeats_sent",
        "Heartbeats delivered (answered 2xx), sent only while the connector is healthy",
        beats,
    );
    registry.register(
        "heartbeats_failed",
        "Heartbeats not delivered (error status or transport failure)",
        beats_failed,
    );

    let http = Family::<Labels, Counter>::default();
    for (connector, service, status, n) in super::http_counts::snapshot() {
        http.get_or_create(&labels(&[
            ("connector", &connector),
            ("service", service),
            ("status", &status),
        ]))
        .inc_by(n);
    }
    registry.register(
        "http_requests",
        "Outbound HTTP exchanges by connector, service and status (transport_error: no \
         response; connector empty for calls outside a connector)",
        http,
    );

    let remaining = Family::<Labels, Gauge>::default();
    let waiting = Family::<Labels, Gauge>::default();
    let waits = Family::<Labels, Counter>::default();
    let waited = Family::<Labels, Counter<f64, AtomicU64>>::default();
    for (budget, lanes) in state.http.iter().flat_map(|h| h.budget_snapshots()) {
        for lane in lanes {
            let l = labels(&[("budget", &budget), ("class", lane.class)]);
            remaining.get_or_create(&l).set(lane.remaining as i64);
            waiting.get_or_create(&l).set(lane.waiting as i64);
            waits.get_or_create(&l).inc_by(lane.waits);
            waited
                .get_or_create(&l)
                .inc_by(lane.waited_ms as f64 / 1000.0);
        }
    }
    registry.register(
        "rate_budget_remaining",
        "Calls the rate budget still allows in its current window, by budget (subscription or \
         graph/tenant) and class",
        remaining,
    );
    registry.register(
        "rate_budget_waiting",
        "Calls waiting for the rate budget now",
        waiting,
    );
    registry.register(
        "rate_budget_waits",
        "Calls that had to wait for the rate budget",
        waits,
    );
    registry.register(
        "rate_budget_wait_seconds",
        "Time calls spent waiting for the rate budget",
        waited,
    );

    let rejected = Family::<Labels, Counter>::default();
    for (reason, n) in crate::webhook::reject::rejections().counts() {
        rejected
            .get_or_create(&labels(&[("reason", reason.label())]))
            .inc_by(n);
    }
    registry.register(
        "webhook_rejected",
        "Webhook requests refused, by reason",
        rejected,
    );

    registry.register(
        "store_commit_seconds",
        "Latency of a commit through the event log writer (a probe commit every few seconds)",
        state.probe.commit_seconds.clone(),
    );
    let size = Gauge::<i64>::default();
    size.set(state.store.log().size_on_disk().unwrap_or(0) as i64);
    registry.register(
        "store_log_size_bytes",
        "Size of the event log on disk",
        size,
    );
    let healthy = Gauge::<i64>::default();
    healthy.set(i64::from(state.probe.liveness().ok));
    registry.register(
        "store_writer_healthy",
        "1 when the event log writer makes progress (what /healthz reports)",
        healthy,
    );

    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut out, &registry);
    out
}
