//! The outbound webhook dispatcher: POSTs queued notifications to the team's receiver URL
//! (the connector), retrying failures with exponential backoff, and applying the outbound faults
//! (`duplicate` sends a notification twice, `out_of_order` holds one back until the next one
//! went out, `delay` waits first).
//!
//! Invariants: delivery is sequential (one notification at a time) so ordering only changes when
//! a fault says so; attempts per notification are bounded by `outbound_max_attempts`, each POST by
//! `outbound_timeout`, and a held-back notification waits at most 300 ms for a successor.

use std::time::Duration;

use tokio::sync::mpsc::UnboundedReceiver;

use crate::faults::{take_fault, FaultKind, Service};
use crate::state::Shared;

/// Runs until the queue closes (the sandbox stops).
pub async fn run(shared: Shared, mut rx: UnboundedReceiver<String>) {
    let timeout = shared.lock().opts.signl4.outbound_timeout;
    let client = match reqwest::Client::builder()
        .timeout(timeout)
        .no_proxy()
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "sandbox outbound client could not be built");
            return;
        }
    };
    let mut held: Option<String> = None;
    loop {
        let next = if held.is_some() {
            match tokio::time::timeout(Duration::from_millis(300), rx.recv()).await {
                Ok(n) => n,
                Err(_) => {
                    if let Some(h) = held.take() {
                        deliver(&shared, &client, &h, 1).await;
                    }
                    continue;
                }
            }
        } else {
            rx.recv().await
        };
        let Some(id) = next else { break };
        let fault = {
            let mut w = shared.lock();
            take_fault(&mut w.faults, Service::Outbound, "POST", "")
        };
        match fault {
            Some(FaultKind::OutOfOrder) if held.is_none() => {
                held = Some(id);
                continue;
            }
            Some(FaultKind::Duplicate) => deliver(&shared, &client, &id, 2).await,
            Some(FaultKind::Delay { ms }) => {
                tokio::time::sleep(Duration::from_millis(ms.min(60_000))).await;
                deliver(&shared, &client, &id, 1).await
            }
            _ => deliver(&shared, &client, &id, 1).await,
        }
        if let Some(h) = held.take() {
            deliver(&shared, &client, &h, 1).await;
        }
    }
}

/// Delivers record `id` `copies` times, each with bounded retries.
async fn deliver(shared: &Shared, client: &reqwest::Client, id: &str, copies: u32) {
    for _ in 0..copies {
        let (url, payload, max, backoff) = {
            let w = shared.lock();
            let Some(rec) = w.outbound.iter().rev().find(|r| r.id == id) else {
                return;
            };
            let url = w
                .tenants
                .iter()
                .find(|t| t.team.id == rec.team_id)
                .and_then(|t| t.team.outbound_url.clone());
            (
                url,
                rec.payload.clone(),
                w.opts.signl4.outbound_max_attempts.max(1),
                w.opts.signl4.outbound_backoff,
            )
        };
        let Some(url) = url else {
            set_result(shared, id, None, "no outbound URL configured".into());
            return;
        };
        let mut wait = backoff;
        for attempt in 1..=max {
            let res = client.post(&url).json(&payload).send().await;
            let (ok, text) = match res {
                Ok(r) => (r.status().is_success(), r.status().as_u16().to_string()),
                Err(e) => (false, format!("transport error: {}", e.without_url())),
            };
            set_result(shared, id, Some(ok), text);
            if ok {
                break;
            }
            if attempt < max {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(30));
            }
        }
    }
}

fn set_result(shared: &Shared, id: &str, ok: Option<bool>, text: String) {
    let mut w = shared.lock();
    if let Some(rec) = w.outbound.iter_mut().rev().find(|r| r.id == id) {
        if ok.is_some() {
            rec.attempts += 1;
        }
        if ok == Some(true) {
            rec.deliveries += 1;
        }
        rec.last_result = Some(text);
    }
}
