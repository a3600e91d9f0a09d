//! Process-level crash test of the event store: a child process appends continuously from
//! several threads and is killed with SIGKILL at random moments, many times over one log. After
//! every kill: every append the child acknowledged is present, the sequence is contiguous, and
//! `verify` (the real binary) passes. The child finishes the previous run's open intents on each
//! start, so restarts themselves are exercised too.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use store::{EventLog, OpenOptions};

const BIN: &str = env!("CARGO_BIN_EXE_sentinel-signl4");
const CYCLES: usize = 12;

#[test]
fn acknowledged_appends_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    let mut acked_total = 0usize;
    for cycle in 0..CYCLES {
        let mut child = Command::new(BIN)
            .args([
                "torture-append",
                "--writers",
                "3",
                "--snapshot-every",
                "150",
            ])
            .arg("--data-dir")
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(seq) = line.strip_prefix("ack ") {
                    let _ = tx.send(seq.parse::<u64>().unwrap());
                }
            }
        });
        // Wait for the first acknowledgement (replay done), then a random while, then kill.
        let first = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("child acknowledged nothing");
        let deadline = Instant::now() + Duration::from_millis(rng.random_range(20..300));
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        reader.join().unwrap();
        let mut acked: Vec<u64> = std::iter::once(first).chain(rx.try_iter()).collect();
        acked.sort_unstable();
        acked_total += acked.len();

        let log = EventLog::open(dir.path(), &OpenOptions::default()).unwrap();
        let last = log.last_seq().unwrap();
        let max_acked = *acked.last().unwrap();
        assert!(
            last >= max_acked,
            "cycle {cycle}: acknowledged seq {max_acked} lost, log ends at {last}"
        );
        for seq in &acked {
            assert!(
                log.read(*seq).unwrap().is_some(),
                "cycle {cycle}: acknowledged seq {seq} missing"
            );
        }
        let contiguous: Vec<u64> = log.raw_from(1).map(|e| e.unwrap().0).collect();
        assert_eq!(
            contiguous,
            (1..=last).collect::<Vec<u64>>(),
            "cycle {cycle}: gap"
        );
        drop(log);

        let verify = Command::new(BIN)
            .args(["verify", "--max-intent-age", "1d"])
            .arg("--data-dir")
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            verify.status.success(),
            "cycle {cycle}: verify failed:\n{}",
            String::from_utf8_lossy(&verify.stdout)
        );
    }
    assert!(
        acked_total > CYCLES * 10,
        "too few appends to mean anything: {acked_total}"
    );
}
