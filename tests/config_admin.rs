//! The configuration keys of the operator's surface: `[admin] bind` (loopback by default, a
//! positioned error when it is not a socket address) and a connector's `client_secret_expires`
//! (a TOML date or the same as a string; anything else is a positioned error).

use std::path::Path;

use sentinel_signl4::config::{self, Env};

const CONNECTOR: &str = r#"
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
"#;

fn parse(text: &str) -> Result<config::Config, config::ConfigErrors> {
    config::parse_str(text, Path::new("t.toml"), &Env::fixed::<&str, &str>([]))
}

#[test]
fn admin_bind_defaults_to_loopback_and_is_checked() {
    let c = parse(CONNECTOR).unwrap();
    assert_eq!(c.admin.bind.to_string(), config::DEFAULT_ADMIN_BIND);
    assert!(c.admin.bind.ip().is_loopback());

    let c = parse(&format!("[admin]\nbind = \"0.0.0.0:9000\"\n{CONNECTOR}")).unwrap();
    assert_eq!(c.admin.bind.to_string(), "0.0.0.0:9000");

    let errors = parse(&format!("[admin]\nbind = \"localhost\"\n{CONNECTOR}")).unwrap_err();
    let e = &errors.errors[0];
    assert_eq!((e.key.as_str(), e.line), ("admin.bind", Some(2)));
    assert!(e.message.contains("not a socket address"), "{}", e.message);

    let errors = parse(&format!("[admin]\nbinds = \"127.0.0.1:1\"\n{CONNECTOR}")).unwrap_err();
    assert_eq!(errors.errors[0].key, "admin.binds");
}

#[test]
fn client_secret_expires_is_a_date() {
    let with = |value: &str| {
        parse(&CONNECTOR.replace(
            "workspace_name = \"ws-base\"",
            &format!("workspace_name = \"ws-base\"\nclient_secret_expires = {value}"),
        ))
    };
    let date = chrono::NaiveDate::from_ymd_opt(2027, 6, 30);
    assert_eq!(
        with("2027-06-30").unwrap().connectors[0].client_secret_expires,
        date
    );
    assert_eq!(
        with("\"2027-06-30\"").unwrap().connectors[0].client_secret_expires,
        date
    );
    assert_eq!(
        parse(CONNECTOR).unwrap().connectors[0].client_secret_expires,
        None
    );

    let errors = with("\"end of June\"").unwrap_err();
    let e = &errors.errors[0];
    assert_eq!(e.key, "connector[0].client_secret_expires");
    assert_eq!(e.line, Some(10));
    assert!(e.message.contains("YYYY-MM-DD"), "{}", e.message);
    let errors = with("2027-06-30T10:00:00Z").unwrap_err();
    assert!(
        errors.errors[0].message.contains("expected a date"),
        "{errors}"
    );
}
