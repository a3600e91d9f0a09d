//! Helpers of the operator-surface tests: a sandbox with a connector configuration made from
//! what it prints, the real binary running it (`run`), and plain HTTP/1.0 requests to its
//! admin listener.
//!
//! Invariants: every wait polls a condition with a deadline (no fixed sleeps); a connector
//! process still running when its [`Connector`] is dropped is killed, so no test leaks one.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use sandbox::scenario::{generate, ScenarioSpec};
use sandbox::{Sandbox, SandboxHandle, SandboxOptions};

pub const BIN: &str = env!("CARGO_BIN_EXE_sentinel-signl4");

/// Polls `f` every 50 ms until it returns `Some`, or panics naming `what` after `limit`.
pub fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = f() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::park_timeout(Duration::from_millis(50));
    }
}

/// A sandbox with `tenants` tenants of `incidents` incidents each.
pub fn sandbox(tenants: usize, incidents: usize) -> SandboxHandle {
    let sandbox = Sandbox::start(SandboxOptions::for_tests()).unwrap();
    generate(
        sandbox.control(),
        &ScenarioSpec {
            tenants,
            incidents_per_tenant: incidents,
            ..ScenarioSpec::default()
        },
    )
    .unwrap();
    sandbox
}

/// What [`config`] adds: nothing, or one more connector named `broken` (a copy of the first)
/// with a wrong secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Broken {
    Nothing,
    /// A wrong Entra client secret: its polls fail.
    ClientSecret,
    /// A SIGNL4 team secret SIGNL4 does not know: its polls work, its Signls are refused.
    TeamSecret,
}

/// The sandbox's configuration with fast polls, listeners on free ports, the log in `dir`, a
/// webhook token per connector, and what `broken` says.
pub fn config(sandbox: &SandboxHandle, dir: &Path, broken: Broken) -> PathBuf {
    let mut file: toml::Table = toml::from_str(&sandbox.connector_toml()).unwrap();
    file.insert(
        "data_dir".into(),
        dir.join("data").to_string_lossy().into_owned().into(),
    );
    for table in ["webhook", "admin"] {
        let mut t = toml::Table::new();
        t.insert("bind".into(), "127.0.0.1:0".into());
        file.insert(table.into(), t.into());
    }
    let connectors = file
        .get_mut("connector")
        .and_then(toml::Value::as_array_mut)
        .unwrap();
    for c in connectors.iter_mut() {
        let c = c.as_table_mut().unwrap();
        c.insert("poll_interval".into(), "300ms".into());
        let name = c["name"].as_str().unwrap().to_string();
        c.insert("webhook_token".into(), webhook_token(&name).into());
    }
    if broken != Broken::Nothing {
        let mut bad = connectors[0].as_table().unwrap().clone();
        bad.insert("name".into(), "broken".into());
        if broken == Broken::ClientSecret {
            bad.insert("client_secret".into(), "this-is-not-the-secret".into());
        } else {
            let signl4 = bad
                .get_mut("signl4")
                .and_then(toml::Value::as_table_mut)
                .unwrap();
            signl4.insert("team_secret".into(), "no-such-team-secret".into());
        }
        bad.insert("webhook_token".into(), webhook_token("broken").into());
        bad.remove("signl4_cl");
        connectors.push(bad.into());
    }
    let path = dir.join("connector.toml");
    std::fs::write(&path, toml::to_string(&file).unwrap()).unwrap();
    path
}

/// The webhook token [`config`] gives connector `name`.
pub fn webhook_token(name: &str) -> String {
    format!("{name}-webhook-token-0123456789abcdefghij")
}

/// The real binary running `run`; killed on drop if still running.
pub struct Connector {
    pub child: Child,
    pub stderr: PathBuf,
    pub admin: String,
    pub webhook: String,
}

impl Connector {
    /// Starts `run --config config` with `extra` arguments and waits for its start line.
    pub fn start(config: &Path, dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Connector {
        let stderr = dir.join("connector.stderr");
        let child = Command::new(BIN)
            .arg("run")
            .arg("--config")
            .arg(config)
            .args(extra)
            .env_remove("RUST_LOG")
            .env_remove("S4_DATA_DIR")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        let mut connector = Connector {
            child,
            stderr,
            admin: String::new(),
            webhook: String::new(),
        };
        let line = wait_for("the start line", Duration::from_secs(30), || {
            if let Ok(Some(status)) = connector.child.try_wait() {
                panic!("connector exited {status}: {}", connector.log());
            }
            let log = connector.log();
            let line = log
                .lines()
                .find(|l| l.contains("sentinel-signl4 started"))?;
            Some(line.to_string())
        });
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(name))
                .unwrap_or_else(|| panic!("no {name} in {line}"))
                .to_string()
        };
        connector.admin = field("admin=");
        connector.webhook = field("webhook=");
        connector
    }

    /// Everything it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// GET `path` on its admin listener.
    pub fn get(&self, path: &str) -> (u16, String) {
        get(&self.admin, path)
    }

    /// Sends `signal` and waits for the process to end.
    pub fn signal_and_wait(&mut self, signal: i32) -> ExitStatus {
        send_signal(&self.child, signal);
        wait_for("the connector to exit", Duration::from_secs(30), || {
            self.child.try_wait().unwrap()
        })
    }
}

impl Drop for Connector {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Sends `signal` to `child`.
pub fn send_signal(child: &Child, signal: i32) {
    // SAFETY: kill(2) on our own child's pid.
    let rc = unsafe { libc::kill(child.id() as i32, signal) };
    assert_eq!(rc, 0, "kill failed");
}

/// A plain HTTP/1.0 GET: the status and the body.
pub fn get(address: &str, path: &str) -> (u16, String) {
    try_get(address, path).unwrap_or_else(|| panic!("GET {path} on {address} failed"))
}

/// [`get`], `None` when the connection or the response fails (a process going away).
pub fn try_get(address: &str, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(address).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

/// Rewrites the configuration at `path` through `f`.
pub fn edit(path: &Path, f: impl FnOnce(&mut toml::Table)) {
    let mut file: toml::Table = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    f(&mut file);
    std::fs::write(path, toml::to_string(&file).unwrap()).unwrap();
}

/// The `[[connector]]` named `name` of a configuration table.
pub fn connector_table<'a>(file: &'a mut toml::Table, name: &str) -> &'a mut toml::Table {
    file.get_mut("connector")
        .and_then(toml::Value::as_array_mut)
        .unwrap()
        .iter_mut()
        .filter_map(toml::Value::as_table_mut)
        .find(|t| t.get("name").and_then(toml::Value::as_str) == Some(name))
        .unwrap()
}
