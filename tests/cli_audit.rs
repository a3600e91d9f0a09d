//! The audit tool as a user runs it: the real binary on a log `demo-log` wrote, a live log read
//! through `--copy`, a corrupt log reported precisely, and bad arguments answered clearly.

use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_sentinel-signl4");

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn demo_log() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let out = run(&[
        "demo-log",
        "--data-dir",
        data,
        "--tenants",
        "2",
        "--incidents",
        "4",
    ]);
    assert!(out.status.success(), "demo failed: {}", stdout(&out));
    dir
}

#[test]
fn the_demo_writes_a_log_that_audits_and_verifies() {
    let dir = demo_log();
    let data = dir.path().to_str().unwrap();

    let tenants = stdout(&run(&["audit", "--data-dir", data]));
    assert!(
        tenants.contains("tenant-1") && tenants.contains("tenant-2"),
        "{tenants}"
    );

    let incidents = stdout(&run(&["audit", "--data-dir", data, "--tenant", "tenant-1"]));
    assert_eq!(incidents.lines().count(), 1 + 4, "{incidents}");
    assert!(incidents.contains("acknowledged"), "{incidents}");

    let timeline = stdout(&run(&[
        "audit",
        "--data-dir",
        data,
        "--tenant",
        "tenant-1",
        "#1",
    ]));
    for expected in [
        "IncidentObserved",
        "raise Signl",
        "SIGNL4: closed by",
        "ClosedInSentinel",
    ] {
        assert!(
            timeline.contains(expected),
            "missing {expected}: {timeline}"
        );
    }

    let json = stdout(&run(&[
        "audit",
        "--data-dir",
        data,
        "--tenant",
        "tenant-1",
        "1",
        "--json",
    ]));
    let first: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(first["kind"], "IncidentObserved");
    assert_eq!(first["payload"]["incident_number"], 1);

    let export = dir.path().join("export.jsonl");
    let out = run(&[
        "export",
        "--data-dir",
        data,
        "--out",
        export.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let lines = std::fs::read_to_string(&export).unwrap();
    let seqs: Vec<u64> = lines
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());

    let verify = run(&["verify", "--data-dir", data]);
    assert!(verify.status.success(), "{}", stdout(&verify));
    assert!(stdout(&verify).contains("2 open intents"));
}

#[test]
fn a_live_log_is_audited_through_a_copy() {
    let dir = demo_log();
    let data = dir.path().to_str().unwrap();
    // Hold the log open as a running connector would.
    let _live = store::EventLog::open(dir.path(), &store::OpenOptions::default()).unwrap();
    let direct = run(&["audit", "--data-dir", data]);
    assert_eq!(direct.status.code(), Some(2));
    let message = String::from_utf8_lossy(&direct.stderr);
    assert!(message.contains("--copy"), "{message}");
    let copied = run(&["audit", "--data-dir", data, "--copy"]);
    assert!(copied.status.success());
    assert!(stdout(&copied).contains("tenant-1"));
}

#[test]
fn a_corrupt_record_fails_verify_with_its_seq() {
    let dir = demo_log();
    let data = dir.path().to_str().unwrap();
    {
        let log = store::EventLog::open(dir.path(), &store::OpenOptions::default()).unwrap();
        log.overwrite_raw(7, b"\x01\x00garbage").unwrap();
    }
    let verify = run(&["verify", "--data-dir", data]);
    assert_eq!(verify.status.code(), Some(1));
    let report = stdout(&verify);
    assert!(
        report.contains("seq 7 (key 0000000000000007) cannot be read"),
        "{report}"
    );
    // Export stops at the bad record, naming it, after writing everything before it.
    let export = run(&["export", "--data-dir", data]);
    assert_eq!(export.status.code(), Some(2));
    assert_eq!(stdout(&export).lines().count(), 6);
    assert!(String::from_utf8_lossy(&export.stderr).contains("seq 7"));
}

#[test]
fn bad_arguments_get_clear_errors() {
    let missing = run(&["audit", "--data-dir", "/nonexistent/sentinel-signl4"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no event log at /nonexistent"));
    assert!(!std::path::Path::new("/nonexistent/sentinel-signl4").exists());

    let dir = demo_log();
    let data = dir.path().to_str().unwrap();
    let tenant = run(&["audit", "--data-dir", data, "--tenant", "nobody"]);
    assert!(String::from_utf8_lossy(&tenant.stderr).contains("no tenant \"nobody\""));
    let since = run(&[
        "audit",
        "--data-dir",
        data,
        "--tenant",
        "tenant-1",
        "--since",
        "yesterday-ish",
    ]);
    assert!(String::from_utf8_lossy(&since.stderr).contains("expected a duration like 24h"));
    let incident = run(&[
        "audit",
        "--data-dir",
        data,
        "12345678-aaaa-bbbb-cccc-000000000000",
    ]);
    assert!(String::from_utf8_lossy(&incident.stderr).contains("no incident"));
}
