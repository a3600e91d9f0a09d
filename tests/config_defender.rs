//! `read_source = "defender"` in the configuration: it loads (any casing), keeps the tag (Defender
//! incidents have `customTags`, unlike alerts), runs as a Graph source in the pipeline settings,
//! and `check-config` names the endpoint and the permission it needs; a misspelt source is an
//! error naming the line and the three choices.

use std::path::Path;
use std::process::Command;

use sandbox::control::TenantSpec;
use sandbox::{Sandbox, SandboxOptions};
use sentinel_signl4::config::{self, Env, ReadSource};
use store::events::Source;

const BIN: &str = env!("CARGO_BIN_EXE_sentinel-signl4");

#[test]
fn the_defender_source_loads_keeps_its_tag_and_is_checked() {
    let sb = Sandbox::start(SandboxOptions::for_tests()).unwrap();
    sb.control().create_tenant(TenantSpec::default()).unwrap();
    let text = sb
        .connector_toml()
        .replace("read_source = \"sentinel\"", "read_source = \"Defender\"");
    let c = config::parse_str(&text, Path::new("d.toml"), &Env::process()).unwrap();
    let connector = &c.connectors[0];
    assert_eq!(connector.read_source, ReadSource::Defender);
    assert_eq!(connector.tag.as_deref(), Some("SIGNL4"));
    assert_eq!(connector.settings().source, Source::Graph);
    assert_eq!(connector.settings().tag, "SIGNL4");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("d.toml");
    std::fs::write(&file, &text).unwrap();
    let out = Command::new(BIN)
        .args(["check-config", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("defender (XDR incidents at")
            && stdout.contains("/security/incidents")
            && stdout.contains("SecurityIncident.ReadWrite.All"),
        "{stdout}"
    );

    let bad = text.replace("read_source = \"Defender\"", "read_source = \"xdr\"");
    let line = bad
        .lines()
        .position(|l| l.starts_with("read_source"))
        .unwrap()
        + 1;
    let errors = config::parse_str(&bad, Path::new("d.toml"), &Env::process()).unwrap_err();
    let text = errors.to_string();
    assert!(
        text.contains(&format!("d.toml:{line}"))
            && text.contains("read_source")
            && text.contains("\"sentinel\", \"graph\" or \"defender\""),
        "{text}"
    );
}
