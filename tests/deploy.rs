//! The deployment material: `deploy/azure/setup.sh` run against a recording stand-in for `az`
//! (every call it makes, the role it defines, the TOML it prints, which the loader accepts),
//! shellcheck clean; the systemd unit's restart and hardening options; the example
//! configuration loads.

use std::path::{Path, PathBuf};
use std::process::Command;

use sentinel_signl4::config::{self, Env};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A stand-in `az`: appends its arguments to `$AZ_LOG`, answers the queries setup.sh makes,
/// and copies a role definition file to `$AZ_ROLE_COPY`.
const FAKE_AZ: &str = r#"#!/usr/bin/env bash
echo "$*" >> "$AZ_LOG"
case "$*" in
  "account show"*) echo "11111111-2222-3333-4444-555555555555" ;;
  "monitor log-analytics workspace show"*) echo "2bb4a3d5-8b3e-4f4c-9a52-2f4c1a5b6d7e" ;;
  "ad app create"*) echo "a8fdfbd0-da97-42d9-8f1a-fd6a7cb650b4" ;;
  "ad sp create"*) echo "99999999-8888-7777-6666-555555555555" ;;
  "ad app credential reset"*) echo "Sup3r~Secret.Value" ;;
  "role definition create"*)
    for a in "$@"; do case "$a" in @*) cp "${a#@}" "$AZ_ROLE_COPY" ;; esac; done ;;
esac
exit 0
"#;

fn fake_az(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let az = bin.join("az");
    std::fs::write(&az, FAKE_AZ).unwrap();
    std::fs::set_permissions(&az, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

#[test]
fn setup_sh_registers_the_app_assigns_least_privilege_and_prints_a_loadable_connector() {
    let dir = tempfile::tempdir().unwrap();
    let bin = fake_az(dir.path());
    let log = dir.path().join("az.log");
    let role_copy = dir.path().join("role.json");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let dcr = "/subscriptions/d0cfe6b2-9ac0-4464-9919-dccaee2e48c0/resourceGroups/rg-sentinel/providers/Microsoft.Insights/dataCollectionRules/dcr-sentinel-signl4";
    let out = Command::new("bash")
        .arg(repo().join("deploy/azure/setup.sh"))
        .args([
            "--subscription",
            "d0cfe6b2-9ac0-4464-9919-dccaee2e48c0",
            "--resource-group",
            "rg-sentinel",
            "--workspace",
            "ws-contoso",
            "--name",
            "contoso",
            "--dcr",
            dcr,
        ])
        .env("PATH", &path)
        .env("AZ_LOG", &log)
        .env("AZ_ROLE_COPY", &role_copy)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");

    let calls = std::fs::read_to_string(&log).unwrap();
    let scope = "/subscriptions/d0cfe6b2-9ac0-4464-9919-dccaee2e48c0/resourceGroups/rg-sentinel/providers/Microsoft.OperationalInsights/workspaces/ws-contoso";
    for expected in [
        "account set --subscription d0cfe6b2-9ac0-4464-9919-dccaee2e48c0".to_string(),
        "ad app create --display-name sentinel-signl4-contoso".to_string(),
        "ad sp create --id a8fdfbd0-da97-42d9-8f1a-fd6a7cb650b4".to_string(),
        "ad app credential reset --id a8fdfbd0-da97-42d9-8f1a-fd6a7cb650b4 --append".to_string(),
        "role definition create --role-definition @".to_string(),
        format!(
            "role assignment create --assignee-object-id 99999999-8888-7777-6666-555555555555 \
             --assignee-principal-type ServicePrincipal --role sentinel-signl4 connector --scope {scope}"
        ),
        format!("--role Monitoring Metrics Publisher --scope {dcr}"),
    ] {
        assert!(calls.contains(&expected), "missing {expected:?} in:\n{calls}");
    }
    // The role: least privilege, assignable on exactly this workspace.
    let role: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&role_copy).unwrap()).unwrap();
    assert_eq!(role["AssignableScopes"], serde_json::json!([scope]));
    let actions: Vec<&str> = role["Actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(actions.contains(&"Microsoft.SecurityInsights/incidents/write"));
    assert!(actions.contains(&"Microsoft.OperationalInsights/workspaces/query/read"));
    assert!(
        !actions.iter().any(|a| *a == "*" || a.ends_with("/delete")),
        "{actions:?}"
    );
    assert!(stderr.contains("the client secret expires"), "{stderr}");

    // The printed fragment, completed with the SIGNL4 side, is a valid configuration.
    let text = format!("{stdout}\n[connector.signl4]\nteam_secret = \"team-secret\"\n");
    let c = config::parse_str(
        &text,
        &dir.path().join("c.toml"),
        &Env::fixed::<&str, &str>([]),
    )
    .unwrap_or_else(|e| panic!("{e}\n{text}"));
    let c = &c.connectors[0];
    assert_eq!(c.name, "contoso");
    assert_eq!(c.client_secret.expose(), "Sup3r~Secret.Value");
    assert_eq!(
        c.workspace_id.unwrap().to_string(),
        "2bb4a3d5-8b3e-4f4c-9a52-2f4c1a5b6d7e"
    );
    let expires = c.client_secret_expires.unwrap();
    let today = chrono::Utc::now().date_naive();
    let days = expires.signed_duration_since(today).num_days();
    assert!((729..=732).contains(&days), "{expires}");

    // Missing arguments: a clear message, exit 2, no az call.
    let out = Command::new("bash")
        .arg(repo().join("deploy/azure/setup.sh"))
        .args(["--subscription", "x"])
        .env("PATH", &path)
        .env("AZ_LOG", dir.path().join("none.log"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--resource-group is required"));
    assert!(!dir.path().join("none.log").exists());
}

#[test]
fn setup_sh_is_shellcheck_clean() {
    let out = Command::new("shellcheck")
        .arg(repo().join("deploy/azure/setup.sh"))
        .output()
        .expect(
            "shellcheck is not installed: this test lints deploy/azure/setup.sh \
             (Debian: apt-get install -y shellcheck; .ci/run installs it)",
        );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn the_systemd_unit_restarts_and_is_hardened_and_the_example_config_loads() {
    let unit =
        std::fs::read_to_string(repo().join("deploy/systemd/sentinel-signl4.service")).unwrap();
    for line in [
        "Restart=always",
        "User=sentinel-signl4",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=",
        "ReadWritePaths=/var/lib/sentinel-signl4",
        "ExecStart=/usr/local/bin/sentinel-signl4 run --config /etc/sentinel-signl4/connector.toml --data-dir /var/lib/sentinel-signl4/log",
    ] {
        assert!(unit.lines().any(|l| l == line), "{line:?} missing");
    }

    // The example, with its secret files made in a temporary /etc.
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo().join("deploy/systemd/connector.example.toml"))
        .unwrap()
        .replace(
            "/etc/sentinel-signl4/",
            &format!("{}/", dir.path().display()),
        );
    for (file, value) in [
        ("contoso-client.secret", "client-secret-value"),
        (
            "contoso-webhook.secret",
            "0123456789abcdef0123456789abcdef-hook",
        ),
        (
            "contoso-heartbeat.secret",
            "https://connect.signl4.com/heartbeat/x",
        ),
        ("contoso-team.secret", "team-secret-value"),
        ("contoso-s4-api.secret", "api-key-value"),
    ] {
        std::fs::write(dir.path().join(file), value).unwrap();
    }
    let c = config::parse_str(
        &text,
        &dir.path().join("connector.toml"),
        &Env::fixed::<&str, &str>([]),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(c.admin.bind.ip().is_loopback());
    assert_eq!(c.admin.abort_after.as_secs(), 120);
    let heartbeat = c.connectors[0].heartbeat.as_ref().unwrap();
    assert_eq!(heartbeat.interval.as_secs(), 60);
}
