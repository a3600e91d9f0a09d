//! The main job end to end, as README's first command runs it: the real binary runs every
//! connector against the built-in sandbox, simulated SIGNL4 users acknowledge and close every
//! Signl, and the demo exits once every incident went round the loop. Then the log it wrote
//! must verify and every incident must show the whole lifecycle.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_sentinel-signl4");

#[test]
fn every_incident_goes_round_the_loop_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("log");
    let out = Command::new(BIN)
        .args(["demo", "--until-done", "--tenants", "3", "--incidents", "4"])
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
        summary.contains("incidents=12 round_trips=12 signls=12 duplicates=0 comments=24"),
        "{summary}"
    );
    // Each incident's page, acknowledgement and close reached SIGNL4_CL.
    assert!(summary.contains("signl4_cl_rows=36"), "{summary}");
    // Every acknowledge and close was written back, so the write-back percentile is a number.
    let p99 = summary
        .split_whitespace()
        .find_map(|f| f.strip_prefix("writeback_p99="))
        .expect("writeback_p99 in the summary");
    assert!(
        p99.strip_suffix('s')
            .is_some_and(|n| n.parse::<f64>().is_ok()),
        "{summary}"
    );
    assert!(stdout.contains("ok: the log is contiguous"), "{stdout}");

    let timeline = Command::new(BIN)
        .args(["audit", "--tenant", "tenant-2", "3", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    let timeline = String::from_utf8_lossy(&timeline.stdout);
    for step in [
        "IncidentObserved",
        "IncidentEnriched",
        "raise Signl (round 1)",
        "Signl raised",
        "tag incident \"SIGNL4\"",
        "SIGNL4: acknowledged by",
        "acknowledge incident (owner",
        "Acknowledged in SIGNL4 by",
        "SIGNL4: closed by",
        "close incident as Undetermined",
        "ClosedInSentinel",
    ] {
        assert!(timeline.contains(step), "missing {step:?} in\n{timeline}");
    }
}
