//! One connector process: started with an optional crash point armed, run while the simulated
//! users act, and killed with SIGKILL when its time is up (if a crash point did not kill it
//! first).
//!
//! Invariant: a process that exits any other way (an error exit, a panic) is a failure of the
//! run, reported with the tail of its output; only SIGKILL is an expected end.

use std::fs::OpenOptions;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::world::World;

/// How to start the connector: the program and the arguments that come before `run ...`.
#[derive(Clone, Debug)]
pub struct ConnectorCommand {
    pub program: PathBuf,
    pub prefix: Vec<String>,
}

/// A running connector process.
pub struct Connector {
    child: Child,
    log: PathBuf,
}

/// SIGKILL's number: how a killed process's status reads.
const SIGKILL: i32 = 9;

impl Connector {
    /// Starts `run --config ...`, with `crash_point` (name, passes before it fires) armed.
    pub fn spawn(
        command: &ConnectorCommand,
        world: &World,
        crash_point: Option<(&str, u32)>,
    ) -> std::io::Result<Connector> {
        let log = world.dir().join("connector.log");
        let output = OpenOptions::new().create(true).append(true).open(&log)?;
        let mut cmd = Command::new(&command.program);
        cmd.args(&command.prefix)
            .arg("run")
            .arg("--config")
            .arg(world.config_path())
            // Snapshots every few events, so kills land in and around them too.
            .args(["--snapshot-every", "8"])
            .env("RUST_LOG", "warn")
            .env_remove("FAILPOINTS")
            .stdin(Stdio::null())
            .stdout(output.try_clone()?)
            .stderr(output);
        if let Some((name, passes)) = crash_point {
            cmd.env("FAILPOINTS", format!("{name}={passes}*off->return"));
        }
        Ok(Connector {
            child: cmd.spawn()?,
            log,
        })
    }

    /// Lets it run for `life` (calling `tick` about every 100 ms), then kills it. Returns true
    /// when it died by itself at its crash point first.
    pub fn run_for(
        &mut self,
        life: Duration,
        mut tick: impl FnMut() -> Result<(), Box<dyn std::error::Error>>,
    ) -> Result<bool, Box<dyn std::error::Error>> {
        let deadline = Instant::now() + life;
        while Instant::now() < deadline {
            tick()?;
            if let Some(status) = self.child.try_wait()? {
                if status.signal() == Some(SIGKILL) {
                    return Ok(true);
                }
                return Err(self
                    .failure(&format!("connector exited with {status}"))
                    .into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // It may have died at its point during the last sleep: that is not our kill.
        if let Some(status) = self.child.try_wait()? {
            return Ok(status.signal() == Some(SIGKILL));
        }
        self.kill()?;
        Ok(false)
    }

    /// SIGKILL, then reap.
    pub fn kill(&mut self) -> std::io::Result<()> {
        if self.child.try_wait()?.is_none() {
            self.child.kill()?;
        }
        self.child.wait()?;
        Ok(())
    }

    /// SIGTERM (a graceful stop: the listener, the actors, then a final snapshot), then reap.
    pub fn stop(&mut self) -> Result<(), Box<dyn std::error::Error>> {
        if self.child.try_wait()?.is_none() {
            // SAFETY: kill(2) with a pid we own and a constant signal.
            unsafe {
                libc::kill(self.child.id() as i32, libc::SIGTERM);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait()? {
                if status.success() {
                    return Ok(());
                }
                return Err(self
                    .failure(&format!("connector stopped with {status}"))
                    .into());
            }
            if Instant::now() > deadline {
                self.kill()?;
                return Err(self.failure("connector did not stop within 30 s").into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether it is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn failure(&self, what: &str) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(30).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        format!(
            "{what}; last lines of {}:\n{}",
            self.log.display(),
            tail.join("\n")
        )
    }
}

impl Drop for Connector {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}
