//! `check-config --online` and `test-signl` with the real binary against the sandbox: every
//! check of a good connector passes, a wrong client secret is named with Entra's AADSTS code,
//! a test Signl reaches the team (and a team secret SIGNL4 does not know is refused).

mod admin_util;

use std::process::{Command, Output};

use admin_util::{config, sandbox, Broken, BIN};

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("S4_CONFIG")
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn check_config_online_names_each_failing_check() {
    let sb = sandbox(1, 1);
    let dir = tempfile::tempdir().unwrap();
    let file = config(&sb, dir.path(), Broken::ClientSecret);
    let out = run(&[
        "check-config",
        "--online",
        "--config",
        file.to_str().unwrap(),
    ]);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    let good = shown
        .split("connector \"tenant-1\": ")
        .nth(1)
        .and_then(|s| s.split("connector \"broken\"").next())
        .unwrap_or_else(|| panic!("no tenant-1 section:\n{shown}"));
    assert!(good.starts_with("OK"), "{shown}");
    for check in [
        "token",
        "read incidents",
        "workspace query",
        "SIGNL4_CL ingestion",
        "SIGNL4 API key",
    ] {
        assert!(
            good.contains(&format!("ok     {check}")),
            "{check}:\n{shown}"
        );
    }
    assert!(shown.contains("connector \"broken\": ERROR"), "{shown}");
    assert!(shown.contains("ERROR  token"), "{shown}");
    assert!(shown.contains("AADSTS7000215"), "{shown}");
    assert!(!shown.contains("this-is-not-the-secret"), "{shown}");

    let file = config(&sb, dir.path(), Broken::Nothing);
    let out = run(&[
        "check-config",
        "--online",
        "--config",
        file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn test_signl_reaches_the_team_or_says_why_not() {
    let sb = sandbox(1, 0);
    let dir = tempfile::tempdir().unwrap();
    let file = config(&sb, dir.path(), Broken::TeamSecret);
    let file = file.to_str().unwrap();

    let out = run(&["test-signl", "--config", file, "--connector", "tenant-1"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("test Signl sent; SIGNL4 event id"),
        "{}",
        text(&out)
    );
    let signls = sb.control().signls("tenant-1").unwrap();
    assert_eq!(signls.len(), 1, "{signls:?}");
    assert!(
        signls[0]
            .to_string()
            .contains("TEST from sentinel-signl4 (tenant-1)"),
        "{}",
        signls[0]
    );

    let out = run(&["test-signl", "--config", file, "--connector", "broken"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("test Signl refused"), "{}", text(&out));
    assert!(
        !text(&out).contains("no-such-team-secret"),
        "{}",
        text(&out)
    );

    let out = run(&["test-signl", "--config", file, "--connector", "nobody"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("no connector \"nobody\""),
        "{}",
        text(&out)
    );
}
