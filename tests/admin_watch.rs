//! Heartbeats and the watchdog with the real binary: a connector's heartbeat URL (a loopback
//! listener here) is called while that connector is healthy and never while it is in error;
//! a log writer that stops committing fails `/healthz`, then the watchdog logs ERROR and aborts.

mod admin_util;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::unix::process::ExitStatusExt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use admin_util::{config, connector_table, edit, sandbox, wait_for, Broken, Connector};

/// A loopback HTTP listener answering 200 to everything and counting requests per path.
fn heartbeat_monitor() -> (String, Arc<Mutex<BTreeMap<String, usize>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let hits = Arc::new(Mutex::new(BTreeMap::new()));
    let counted = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut line = String::new();
            if BufReader::new(&stream).read_line(&mut line).is_err() {
                continue;
            }
            if let Some(path) = line.split_whitespace().nth(1) {
                *counted.lock().unwrap().entry(path.to_string()).or_insert(0) += 1;
            }
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (address, hits)
}

#[test]
fn heartbeats_are_sent_only_while_the_connector_is_healthy() {
    let (monitor, hits) = heartbeat_monitor();
    let sb = sandbox(1, 1);
    let dir = tempfile::tempdir().unwrap();
    let file = config(&sb, dir.path(), Broken::ClientSecret);
    edit(&file, |f| {
        for name in ["tenant-1", "broken"] {
            let c = connector_table(f, name);
            c.insert(
                "heartbeat_url".into(),
                format!("http://{monitor}/beat/{name}?key=k").into(),
            );
            c.insert("heartbeat_interval".into(), "200ms".into());
        }
    });
    let connector = Connector::start(&file, dir.path(), &[], &[]);
    wait_for("3 heartbeats of tenant-1", Duration::from_secs(60), || {
        let hits = hits.lock().unwrap();
        (hits.get("/beat/tenant-1?key=k").copied().unwrap_or(0) >= 3).then_some(())
    });
    // broken has been in error all along (its first poll already failed): never a beat.
    assert_eq!(hits.lock().unwrap().get("/beat/broken?key=k"), None);
    let (_, metrics) = connector.get("/metrics");
    assert!(
        metrics.contains("sentinel_signl4_heartbeats_sent_total{connector=\"tenant-1\"}"),
        "{metrics}"
    );
    assert!(
        !metrics.contains("sentinel_signl4_heartbeats_sent_total{connector=\"broken\"}"),
        "{metrics}"
    );
    // The heartbeat URL (a secret) is not logged.
    assert!(!connector.log().contains("/beat/"), "{}", connector.log());
}

#[test]
fn a_stalled_log_writer_fails_healthz_then_the_watchdog_aborts() {
    let sb = sandbox(1, 1);
    let dir = tempfile::tempdir().unwrap();
    let file = config(&sb, dir.path(), Broken::Nothing);
    edit(&file, |f| {
        let admin = f
            .get_mut("admin")
            .and_then(toml::Value::as_table_mut)
            .unwrap();
        admin.insert("stall_limit".into(), "2s".into());
        admin.insert("abort_after".into(), "6s".into());
    });
    // The first commit (the connector's start) passes; the next one hangs forever, as a
    // writer stuck in a dead disk would.
    let mut connector = Connector::start(
        &file,
        dir.path(),
        &[],
        &[("FAILPOINTS", "store.commit.before_flush=1*off->pause")],
    );
    let body = wait_for("/healthz 503", Duration::from_secs(30), || {
        let (status, body) = admin_util::try_get(&connector.admin, "/healthz")?;
        (status == 503).then_some(body)
    });
    assert!(body.contains("event log writer stalled"), "{body}");
    let status = wait_for("the watchdog's abort", Duration::from_secs(30), || {
        connector.child.try_wait().unwrap()
    });
    assert_eq!(status.signal(), Some(libc::SIGABRT), "{status}");
    let log = connector.log();
    assert!(
        log.lines()
            .any(|l| l.contains("ERROR") && l.contains("watchdog")),
        "{log}"
    );
}

#[test]
fn a_stalled_actor_system_fails_healthz_then_the_watchdog_aborts() {
    let sb = sandbox(1, 3);
    let dir = tempfile::tempdir().unwrap();
    let file = config(&sb, dir.path(), Broken::Nothing);
    edit(&file, |f| {
        let admin = f
            .get_mut("admin")
            .and_then(toml::Value::as_table_mut)
            .unwrap();
        admin.insert("stall_limit".into(), "2s".into());
        admin.insert("abort_after".into(), "6s".into());
        // Pages of one, so the first poll passes between pages.
        connector_table(f, "tenant-1").insert("page_size".into(), 1.into());
    });
    // The poll blocks the actor system's thread between two pages, as a handler stuck in a
    // blocking call would.
    let mut connector = Connector::start(
        &file,
        dir.path(),
        &[],
        &[("FAILPOINTS", "poller.between_pages=pause")],
    );
    let body = wait_for("/healthz 503", Duration::from_secs(30), || {
        let (status, body) = admin_util::try_get(&connector.admin, "/healthz")?;
        (status == 503).then_some(body)
    });
    assert!(body.contains("actor system stalled"), "{body}");
    let status = wait_for("the watchdog's abort", Duration::from_secs(30), || {
        connector.child.try_wait().unwrap()
    });
    assert_eq!(status.signal(), Some(libc::SIGABRT), "{status}");
    assert!(
        connector
            .log()
            .lines()
            .any(|l| l.contains("ERROR") && l.contains("the actor system has not run")),
        "{}",
        connector.log()
    );
}
