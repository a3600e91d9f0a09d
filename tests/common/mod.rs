//! Test worlds shared by several integration-test crates. Each crate includes this with
//! `mod common;` and uses the parts it needs.
#![allow(dead_code)]

pub mod http;
pub mod world;

use std::time::{Duration, Instant};

use sandbox::SandboxHandle;

/// Waits until the sandbox has served `more` further requests of `service` whose path contains
/// `path_contains` (counted from the call), failing the test after `limit`.
///
/// "Nothing happens afterwards" is asserted after this, not after a fixed sleep: a sleep proves
/// nothing when a loaded machine ran no poll in it, while N more polls served prove the
/// connector looked again N times and still changed nothing.
pub async fn after_more_requests(
    sandbox: &SandboxHandle,
    service: &str,
    path_contains: &str,
    more: usize,
    limit: Duration,
) {
    let count = || {
        sandbox
            .control()
            .requests()
            .iter()
            .filter(|r| r.service == service && r.path.contains(path_contains))
            .count()
    };
    let target = count() + more;
    let started = Instant::now();
    while count() < target {
        assert!(
            started.elapsed() < limit,
            "fewer than {more} more {service} requests to {path_contains} within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
