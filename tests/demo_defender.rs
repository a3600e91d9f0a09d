//! The demo on the Defender XDR source: the real binary with `--read-source defender` reads the
//! sandbox's Defender incidents (the same incidents as the Sentinel demo, with their alerts)
//! from Graph `security/incidents`, pages each once, and the simulated SIGNL4 users'
//! acknowledge and close go back as incident PATCHes and comments; the log verifies and the
//! timeline shows the whole loop.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_sentinel-signl4");

#[test]
fn the_defender_demo_goes_round_the_loop_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("log");
    let out = Command::new(BIN)
        .args(["demo", "--until-done", "--read-source", "defender"])
        .args(["--tenants", "2", "--incidents", "3"])
        .args(["--poll-interval", "500ms", "--timeout", "90s"])
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("demo: "))
        .expect("a summary line");
    assert!(
        summary.contains("incidents=6 round_trips=6 signls=6 duplicates=0 comments=12"),
        "{summary}"
    );
    assert!(stdout.contains("ok: the log is contiguous"), "{stdout}");
    assert!(
        stdout.contains("acknowledged \"Defender "),
        "Signls name Defender: {stdout}"
    );

    let timeline = Command::new(BIN)
        .args(["audit", "--tenant", "tenant-2", "2", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    let timeline = String::from_utf8_lossy(&timeline.stdout);
    for step in [
        "IncidentObserved",
        "IncidentEnriched       2 alerts",
        "raise Signl (round 1)",
        "tag incident \"SIGNL4\"",
        "acknowledge incident (owner",
        "close incident as Undetermined",
        "ClosedInSentinel",
    ] {
        assert!(timeline.contains(step), "missing {step:?} in\n{timeline}");
    }

    let bad = Command::new(BIN)
        .args(["demo", "--read-source", "xdr"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("\"defender\""),
        "the error names the choices"
    );
}
