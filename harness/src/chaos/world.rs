//! The world a chaos run happens in: the sandbox (in this process, so it survives every kill),
//! its tenants, and the connector configuration file every connector process reads.
//!
//! Invariant: the configuration is written once, before the first process starts; the webhook
//! listener's address and each connector's token stay the same across restarts, so SIGNL4's
//! retried outbound webhooks reach whichever process runs next.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sandbox::control::Control;
use sandbox::options::ThrottleLimits;
use sandbox::scenario::{generate, ScenarioSpec};
use sandbox::{Sandbox, SandboxHandle, SandboxOptions};

use super::ChaosOptions;

/// The sandbox and the files of one run.
pub struct World {
    sandbox: SandboxHandle,
    dir: PathBuf,
    tenants: Vec<String>,
}

impl World {
    /// Starts the sandbox, creates the tenants and writes the configuration.
    pub fn start(options: &ChaosOptions) -> Result<World, Box<dyn std::error::Error>> {
        let mut sandbox_options = SandboxOptions::default();
        // SIGNL4 retries outbound webhooks for a long time, so notifications sent while no
        // connector runs arrive at the next one (about 25 minutes of retries here).
        sandbox_options.signl4.outbound_max_attempts = 60;
        sandbox_options.signl4.outbound_backoff = Duration::from_millis(200);
        // Polls every 400 ms over tiny pages would exceed ARM's read limits within minutes;
        // throttling has its own tests, this run is about kills.
        sandbox_options.throttle = ThrottleLimits::unlimited();
        let sandbox = Sandbox::start(sandbox_options)?;
        generate(
            sandbox.control(),
            &ScenarioSpec {
                tenants: options.tenants,
                incidents_per_tenant: 0,
                alerts_per_incident: 1,
                seed: options.seed,
                outbound_url: None,
            },
        )?;
        std::fs::create_dir_all(&options.work_dir)?;
        let tenants: Vec<String> = sandbox
            .control()
            .tenants()
            .into_iter()
            .map(|t| t.name)
            .collect();
        let world = World {
            sandbox,
            dir: options.work_dir.clone(),
            tenants,
        };
        world.write_config(options)?;
        Ok(world)
    }

    /// Edits the configuration the sandbox prints (as a user would) and points SIGNL4's
    /// outbound webhooks at the listener every connector process will open.
    fn write_config(&self, options: &ChaosOptions) -> Result<(), Box<dyn std::error::Error>> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut file: toml::Table = toml::from_str(&self.sandbox.connector_toml())?;
        file.insert(
            "data_dir".into(),
            self.log_dir().to_string_lossy().into_owned().into(),
        );
        let mut webhook = toml::Table::new();
        webhook.insert("bind".into(), format!("127.0.0.1:{port}").into());
        file.insert("webhook".into(), webhook.into());
        // Any free port: several connector processes may run on this machine at once.
        let mut admin = toml::Table::new();
        admin.insert("bind".into(), "127.0.0.1:0".into());
        file.insert("admin".into(), admin.into());
        let connectors = file
            .get_mut("connector")
            .and_then(toml::Value::as_array_mut)
            .ok_or("the sandbox's configuration has no [[connector]]")?;
        for connector in connectors.iter_mut() {
            let table = connector
                .as_table_mut()
                .ok_or("a [[connector]] is not a table")?;
            let name = table
                .get("name")
                .and_then(toml::Value::as_str)
                .ok_or("a [[connector]] has no name")?
                .to_string();
            let token = uuid::Uuid::new_v4().simple().to_string();
            table.insert("poll_interval".into(), "400ms".into());
            table.insert("poll_overlap".into(), "10s".into());
            table.insert("enrichment_deadline".into(), "2s".into());
            // Tiny pages, so listings page and the crash point between pages is reached.
            table.insert("page_size".into(), 3.into());
            table.insert("webhook_token".into(), token.clone().into());
            if !options.api_key {
                if let Some(signl4) = table.get_mut("signl4").and_then(toml::Value::as_table_mut) {
                    signl4.remove("api_key");
                }
            }
            self.control().set_outbound_url(
                &name,
                Some(format!("http://127.0.0.1:{port}/signl4/{name}/{token}")),
            )?;
        }
        std::fs::write(self.config_path(), toml::to_string(&file)?)?;
        Ok(())
    }

    pub fn control(&self) -> Control {
        self.sandbox.control().clone()
    }

    pub fn tenants(&self) -> &[String] {
        &self.tenants
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("chaos.toml")
    }

    pub fn log_dir(&self) -> PathBuf {
        self.dir.join("log")
    }
}
