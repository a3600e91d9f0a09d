//! The chaos harness's small run (issue #6): the real binary, with its crash points compiled
//! in, killed with SIGKILL at random times and at every named crash point while simulated
//! SIGNL4 users and analysts act; afterwards nothing is lost or duplicated, every action is
//! reflected in Sentinel, the log verifies and replays to the same state. The long run is
//! `cargo run --release --example chaos -- --kills 200`.

use std::time::Duration;

use harness::chaos::{self, ChaosOptions, ConnectorCommand};

fn options(api_key: bool, kills: u32, seed: u64) -> (ChaosOptions, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let options = ChaosOptions {
        command: ConnectorCommand {
            program: env!("CARGO_BIN_EXE_sentinel-signl4").into(),
            prefix: Vec::new(),
        },
        kills,
        tenants: 2,
        incidents: 6,
        api_key,
        max_life: Duration::from_millis(2500),
        seed,
        work_dir: dir.path().to_path_buf(),
        verbose: true,
    };
    (options, dir)
}

#[test]
fn with_an_api_key_kills_at_every_crash_point_lose_and_duplicate_nothing() {
    // Every other kill arms the next crash point (each of them twice); whether it is reached
    // depends on timing, so only "some" is asserted and the report lists which.
    let points = store::crash::POINTS.len() as u32;
    let (options, _dir) = options(true, 4 * points, 11);
    let report = chaos::run(&options).unwrap();
    println!("{}", report.line());
    assert_eq!(report.kills, 4 * points);
    assert!(report.crash_point_kills > 0, "no crash point was reached");
    println!("crash points reached: {:?}", report.points_reached);
    println!("crash points not reached: {:?}", report.points_missed());
    // The summary says how many of all the crash points were reached.
    let reached = report.points_reached.len();
    assert!(
        report
            .line()
            .ends_with(&format!(" points={reached}/{points}")),
        "{}",
        report.line()
    );
    assert_eq!(reached + report.points_missed().len(), points as usize);
    assert_eq!(report.incidents, 12);
    assert!(
        report.is_clean(),
        "{}: {:#?}",
        report.line(),
        report.findings.problems
    );
    assert_eq!(report.findings.known_at_least_once, 0, "{}", report.line());
    assert!(report.findings.events > 0);
}

#[test]
fn without_an_api_key_resends_are_counted_never_silent() {
    let (options, _dir) = options(false, 10, 5);
    let report = chaos::run(&options).unwrap();
    println!("{}", report.line());
    assert_eq!(report.findings.duplicates, 0, "{}", report.line());
    assert_eq!(report.findings.lost, 0, "{}", report.line());
    assert!(
        report.findings.problems.is_empty(),
        "{:#?}",
        report.findings.problems
    );
}
