//! The connector's lifecycle as an operator meets it, with the real binary: a listener address
//! that cannot be bound stops the start with the real error (exit 2) and leaves the log
//! untouched, and `check-config` says so first; `run --data-dir` / `S4_DATA_DIR` choose the log
//! (created 0700); SIGHUP does not stop it; SIGTERM stops it with a stop line; logs have no ANSI
//! colours and no sled chatter when stderr is not a terminal; `audit`, `verify` and `export`
//! into a closed pipe end quietly and leave no `--copy` behind; the webhook checks its route
//! before reading a body and bounds how long a body may take.

mod admin_util;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use admin_util::{config, sandbox, send_signal, wait_for, webhook_token, Broken, Connector, BIN};

/// A minimal valid configuration with the webhook on `webhook_bind`.
fn minimal_config(
    dir: &std::path::Path,
    webhook_bind: &str,
    admin_bind: &str,
) -> std::path::PathBuf {
    let text = format!(
        r#"
data_dir = "data"
[webhook]
bind = "{webhook_bind}"
[admin]
bind = "{admin_bind}"
[[connector]]
name = "base"
tenant_id = "72f988bf-86f1-41af-91ab-2d7cd011db47"
subscription_id = "d0cfe6b2-9ac0-4464-9919-dccaee2e48c0"
client_id = "a8fdfbd0-da97-42d9-8f1a-fd6a7cb650b4"
client_secret = "base-client-secret"
resource_group = "rg-sentinel"
workspace_name = "ws-base"
[connector.signl4]
team_secret = "team-secret"
"#
    );
    let path = dir.join("connector.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_listener_address_in_use_stops_the_start_with_exit_2_and_nothing_appended() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();

    for (webhook, admin, which) in [
        (taken_addr.as_str(), "127.0.0.1:0", "webhook"),
        ("127.0.0.1:0", taken_addr.as_str(), "admin"),
    ] {
        let file = minimal_config(dir.path(), webhook, admin);
        let out = Command::new(BIN)
            .args(["check-config", "--config"])
            .arg(&file)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains(&format!("[{which}] bind")), "{err}");
        assert!(err.contains(&taken_addr), "{err}");

        let out = Command::new(BIN)
            .args(["run", "--config"])
            .arg(&file)
            .env_remove("S4_DATA_DIR")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains(&format!(
                "cannot listen on {taken_addr} for the {which} listener"
            )),
            "{err}"
        );
        assert!(err.to_lowercase().contains("in use"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(
            !dir.path().join("data").exists(),
            "the log was created although the start failed"
        );
    }
}

#[test]
fn run_uses_data_dir_survives_sighup_and_logs_plainly() {
    let sb = sandbox(1, 1);
    let dir = tempfile::tempdir().unwrap();
    let file = config(&sb, dir.path(), Broken::Nothing);
    let chosen = dir.path().join("chosen").join("log");
    let mut connector = Connector::start(
        &file,
        dir.path(),
        &[],
        &[("S4_DATA_DIR", chosen.to_str().unwrap())],
    );
    // S4_DATA_DIR overrides the configuration's data_dir; the directory is private.
    assert!(
        chosen.join("conf").exists(),
        "no log at {}",
        chosen.display()
    );
    assert!(!dir.path().join("data").exists());
    let mode = std::fs::metadata(&chosen).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);

    send_signal(&connector.child, libc::SIGHUP);
    wait_for("the SIGHUP line", Duration::from_secs(30), || {
        connector.log().contains("SIGHUP received").then_some(())
    });
    assert_eq!(
        connector.child.try_wait().unwrap(),
        None,
        "SIGHUP stopped it"
    );
    assert_eq!(connector.get("/healthz").0, 200);

    let status = connector.signal_and_wait(libc::SIGTERM);
    assert!(status.success(), "{status}: {}", connector.log());
    let log = connector.log();
    assert!(log.contains(" INFO "), "{log}");
    assert!(log.contains("sentinel-signl4 stopped"), "{log}");
    assert!(
        !log.contains('\u{1b}'),
        "ANSI escapes in a non-terminal log:\n{log}"
    );
    assert!(!log.contains(" sled"), "sled chatter in the log:\n{log}");

    // --data-dir does the same as S4_DATA_DIR.
    let flag_dir = dir.path().join("flag");
    let mut connector = Connector::start(
        &file,
        dir.path(),
        &["--data-dir", flag_dir.to_str().unwrap()],
        &[],
    );
    assert!(flag_dir.join("conf").exists());
    assert!(connector.signal_and_wait(libc::SIGTERM).success());
}

#[test]
fn tools_into_a_closed_pipe_exit_quietly_and_remove_their_copy() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("log");
    let out = Command::new(BIN)
        .args([
            "demo-log",
            "--tenants",
            "2",
            "--incidents",
            "30",
            "--data-dir",
        ])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    for args in [
        vec!["audit", "--tenant", "tenant-1", "--copy"],
        vec!["audit", "--copy"],
        vec!["verify", "--copy"],
        vec!["export", "--copy"],
    ] {
        let mut child = Command::new(BIN)
            .args(&args)
            .arg("--data-dir")
            .arg(&data)
            .env("TMPDIR", &tmp)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The reader goes away before the first line, like `| head -0`.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(!err.contains("Broken pipe"), "{args:?}: {err}");
        let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().collect();
        assert!(left.is_empty(), "{args:?} left {left:?} behind");
    }
}

#[test]
fn a_tool_stopped_by_a_signal_removes_its_copy() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("log");
    let out = Command::new(BIN)
        .args([
            "demo-log",
            "--tenants",
            "4",
            "--incidents",
            "40",
            "--data-dir",
        ])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    // Nobody reads its stdout: the export blocks once the pipe is full, holding its copy.
    let mut child = Command::new(BIN)
        .args(["export", "--copy", "--data-dir"])
        .arg(&data)
        .env("TMPDIR", &tmp)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let copy = wait_for("the copy", Duration::from_secs(30), || {
        let entry = std::fs::read_dir(&tmp).unwrap().next()?.ok()?;
        let mode = entry.metadata().ok()?.permissions().mode() & 0o777;
        Some((entry.path(), mode))
    });
    assert_eq!(copy.1, 0o700, "{} is not private", copy.0.display());
    // Its first line proves the copy is open and being read; then stop it as `kill` would.
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut first).unwrap();
    assert!(first.contains("\"seq\":1,"), "{first}");
    send_signal(&child, libc::SIGTERM);
    let status = wait_for("export to stop", Duration::from_secs(30), || {
        child.try_wait().unwrap()
    });
    drop(stdout);
    assert_eq!(status.code(), Some(143), "{status}");
    assert!(!copy.0.exists(), "{} left behind", copy.0.display());
}

#[test]
fn the_webhook_checks_the_route_before_the_body_and_bounds_slow_bodies() {
    let sb = sandbox(1, 1);
    let dir = tempfile::tempdir().unwrap();
    let file = config(&sb, dir.path(), Broken::Nothing);
    let connector = Connector::start(&file, dir.path(), &[], &[]);
    let webhook = connector.webhook.clone();

    // Forged log lines: a path segment with a newline is escaped in the log (the first
    // rejection, so it is the one logged).
    let (status, _) = post(&webhook, "/signl4/evil%0Aforged%20line/t");
    assert_eq!(status, 404);

    // A wrong token with a 10 MB body declared: 404 at once, the body never read.
    let mut stream = TcpStream::connect(&webhook).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "POST /signl4/tenant-1/wrong-token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: 10000000\r\n\r\n{{"
    )
    .unwrap();
    assert!(read_status(&mut stream).starts_with("HTTP/1.1 404"));

    // A flood of bad requests: counted, logged rate-limited.
    for _ in 0..50 {
        post(&webhook, "/signl4/nobody/nothing");
    }
    let metrics = wait_for("the rejections counted", Duration::from_secs(30), || {
        let (_, m) = connector.get("/metrics");
        m.contains("sentinel_signl4_webhook_rejected_total{reason=\"unknown_route\"} 52")
            .then_some(m)
    });
    assert!(!metrics.is_empty());
    let log = connector.log();
    assert!(!log.lines().any(|l| l.starts_with("forged")), "{log}");
    assert!(log.contains("evil\\nforged"), "{log}");
    let rejected_lines = log
        .lines()
        .filter(|l| l.contains("webhook request rejected"))
        .count();
    assert!(
        rejected_lines <= 2,
        "{rejected_lines} lines for 52 rejections:\n{log}"
    );

    // The right route with a body that never completes is answered 408 once the read timeout
    // passes, not held for as long as the client likes.
    let mut stream = TcpStream::connect(&webhook).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    write!(
        stream,
        "POST /signl4/tenant-1/{} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: 100\r\n\r\n{{",
        webhook_token("tenant-1")
    )
    .unwrap();
    assert!(read_status(&mut stream).starts_with("HTTP/1.1 408"));
    // And an oversized body on the right route is refused from its declared length.
    let mut stream = TcpStream::connect(&webhook).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "POST /signl4/tenant-1/{} HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n{{",
        webhook_token("tenant-1")
    )
    .unwrap();
    assert!(read_status(&mut stream).starts_with("HTTP/1.1 413"));
}

fn read_status(stream: &mut TcpStream) -> String {
    let mut buf = [0u8; 256];
    let n = stream.read(&mut buf).unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn post(address: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.0\r\nHost: x\r\nContent-Length: 2\r\n\r\n{{}}"
    )
    .unwrap();
    let response = read_status(&mut stream);
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, response)
}
