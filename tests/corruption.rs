//! The corruption suite: the real binary on logs damaged the ways disks and people damage them
//! (`db` truncated at many offsets, 4 KiB pages zeroed, random files in place of `db`, `conf`
//! and sled's snapshot, a truncated snapshot, a damaged mark). Every command must end (the
//! harness gives each 60 s and fails the test if one is still running then), and a damaged log
//! must get a clear report (what, where, `recovery:`) and a non-zero exit, never a panic trace
//! or sled's bare "offset None backtrace ()". Read-only commands must leave every byte of the
//! log as it was; `run` must refuse a damaged log with the same message as `verify`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_sentinel-signl4");

/// The harness's failure condition for a command that does not end: generous on purpose
/// (a loaded 2-core machine), and not a speed assertion.
const HARNESS_TIMEOUT: Duration = Duration::from_secs(60);

/// Exit code of a damaged log (store::guard::EXIT_DAMAGED).
const DAMAGED: i32 = 3;

const READ_ONLY: [&str; 3] = ["verify", "audit", "export"];

/// How a run of the binary ended: its exit code and what it printed.
struct Finished {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs the binary, killing it and failing the test if it runs past [`HARNESS_TIMEOUT`].
fn run(args: &[&str]) -> Finished {
    run_in(args, None)
}

/// [`run`] with the child's temporary directory set to `tmp`.
fn run_in(args: &[&str], tmp: Option<&Path>) -> Finished {
    run_with(args, tmp, &[])
}

/// [`run_in`] with extra environment variables.
fn run_with(args: &[&str], tmp: Option<&Path>, env: &[(&str, &str)]) -> Finished {
    let out = tempfile::tempdir().unwrap();
    let (stdout_path, stderr_path) = (out.path().join("stdout"), out.path().join("stderr"));
    let mut command = Command::new(BIN);
    if let Some(tmp) = tmp {
        command.env("TMPDIR", tmp);
    }
    let mut child = command
        .args(args)
        .env_remove("S4_LOG_TIMEOUT")
        .env_remove("FAILPOINTS")
        .env("NO_COLOR", "1")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > HARNESS_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "`sentinel-signl4 {}` was still running after {HARNESS_TIMEOUT:?}; stderr so far:\n{}",
                args.join(" "),
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Finished {
        code: status.code(),
        stdout: std::fs::read_to_string(&stdout_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&stderr_path).unwrap_or_default(),
    }
}

/// A sound log written once per test binary: scripted lifecycles of 3 x 40 incidents, opened
/// once more so that sled writes its page-table snapshot file (`snap.*`).
fn template() -> &'static (tempfile::TempDir, u64) {
    static TEMPLATE: OnceLock<(tempfile::TempDir, u64)> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("log");
        let out = run(&[
            "demo-log",
            "--data-dir",
            data.to_str().unwrap(),
            "--tenants",
            "3",
            "--incidents",
            "40",
        ]);
        assert_eq!(out.code, Some(0), "demo-log failed: {}", out.stderr);
        drop(store::EventLog::open(&data, &store::OpenOptions::default()).unwrap());
        let verify = run(&["verify", "--data-dir", data.to_str().unwrap()]);
        assert_eq!(verify.code, Some(0), "{}", verify.stdout);
        let events = verify
            .stdout
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .expect("verify prints the event count first");
        assert!(
            std::fs::read_dir(&data).unwrap().any(|e| e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("snap.")),
            "sled wrote no snapshot file"
        );
        (dir, events)
    })
}

/// A fresh copy of the template, to damage.
fn copy_of_template(holder: &tempfile::TempDir) -> PathBuf {
    let to = holder.path().join("log");
    copy_dir(&template().0.path().join("log"), &to);
    to
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

/// Every file of the log and its bytes, to prove a command changed nothing.
fn contents(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn snapshot_file(dir: &Path) -> PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("snap.")
        })
        .expect("the template has a sled snapshot")
}

/// Pseudo-random bytes (a fixed seed: a failure must reproduce).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// Damages the log in the directory it is given.
type DamageFn = fn(&Path);

/// The outcome every read-only command must have on a damaged log; returns verify's report.
fn assert_reported_by_every_command(dir: &Path, what: &str) -> String {
    let before = contents(dir);
    let data = dir.to_str().unwrap();
    let mut first_line = None;
    for command in READ_ONLY {
        let out = run(&[command, "--data-dir", data]);
        assert_eq!(
            out.code,
            Some(DAMAGED),
            "{what}: `{command}` exited {:?}\nstdout: {}\nstderr: {}",
            out.code,
            out.stdout.chars().take(500).collect::<String>(),
            out.stderr
        );
        assert_clear(&out.stderr, what, command);
        // Every command names the same damage (where it is, not how far sled's reader got into
        // the tree before it: that depends on which pages sled had loaded and varies by run).
        let line = damage_site(&error_line(&out.stderr));
        assert_eq!(
            first_line.get_or_insert_with(|| line.clone()),
            &line,
            "{what}: {command} reports differently"
        );
        assert!(
            contents(dir) == before,
            "{what}: `{command}` changed the files of the log"
        );
    }
    first_line.unwrap()
}

fn error_line(stderr: &str) -> String {
    stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_default()
        .to_string()
}

fn assert_clear(stderr: &str, what: &str, command: &str) {
    let line = error_line(stderr);
    assert!(
        line.contains("is damaged") || line.contains("has lost its tail"),
        "{what}: `{command}` gave no damage report:\n{stderr}"
    );
    assert!(
        stderr.contains("\nrecovery: "),
        "{what}: `{command}` gave no recovery step:\n{stderr}"
    );
    // sled's own log lines (kept: they are its diagnostics) may quote its error texts; the
    // report itself must not, and nothing may panic with a trace.
    assert!(
        !line.contains("backtrace ()") && !line.contains("offset None"),
        "{what}: `{command}`: {line}"
    );
    for noise in ["stack backtrace", "RUST_BACKTRACE"] {
        assert!(
            !stderr.contains(noise),
            "{what}: `{command}` printed {noise:?}:\n{stderr}"
        );
    }
}

#[test]
fn a_db_truncated_at_any_of_many_offsets_is_reported_by_every_command() {
    let size = std::fs::metadata(template().0.path().join("log/db"))
        .unwrap()
        .len();
    let segment = 512 * 1024; // sled's segment size
    let offsets = [
        0,
        1,
        100,
        4096,
        segment / 2,
        segment - 1,
        segment,
        segment + 1,
        size / 4,
        size / 3,
        size / 2,
        size * 3 / 4,
    ];
    // The last pages of `db` may hold only superseded data or padding (sled is log-structured):
    // cutting them is then no damage, which verify must confirm with every event present.
    let tail = [size - 4096, size - 1];
    let (_, events) = template();
    for offset in offsets.into_iter().chain(tail) {
        let holder = tempfile::tempdir().unwrap();
        let dir = copy_of_template(&holder);
        let db = std::fs::OpenOptions::new()
            .write(true)
            .open(dir.join("db"))
            .unwrap();
        db.set_len(offset).unwrap();
        drop(db);
        let what = format!("db truncated to {offset} bytes");
        if tail.contains(&offset) {
            let verify = run(&["verify", "--data-dir", dir.to_str().unwrap()]);
            if verify.code == Some(0) {
                assert!(
                    verify.stdout.starts_with(&format!("{events} events")),
                    "{what}: verify passed with events missing:\n{}",
                    verify.stdout
                );
                continue;
            }
        }
        assert_reported_by_every_command(&dir, &what);
    }
}

#[test]
fn zeroed_pages_are_reported_or_lie_in_space_sled_no_longer_uses() {
    let (_, events) = template();
    let size = std::fs::metadata(template().0.path().join("log/db"))
        .unwrap()
        .len();
    let pages = size / 4096;
    let mut reported = 0;
    for page in [
        0,
        1,
        2,
        8,
        16,
        64,
        128,
        pages / 4,
        pages / 2,
        pages * 3 / 4,
        pages - 1,
    ] {
        let holder = tempfile::tempdir().unwrap();
        let dir = copy_of_template(&holder);
        let mut bytes = std::fs::read(dir.join("db")).unwrap();
        let at = (page * 4096) as usize;
        bytes[at..at + 4096].fill(0);
        std::fs::write(dir.join("db"), &bytes).unwrap();
        let what = format!("4 KiB zeroed at page {page} of {pages}");
        let verify = run(&["verify", "--data-dir", dir.to_str().unwrap()]);
        if verify.code == Some(0) {
            // Only acceptable when nothing was lost: sled is log-structured, and a page of
            // superseded data is never read again. verify decoded every event and checked
            // every index and snapshot against them.
            assert!(
                verify.stdout.starts_with(&format!("{events} events")),
                "{what}: verify passed with events missing:\n{}",
                verify.stdout
            );
            continue;
        }
        reported += 1;
        assert_reported_by_every_command(&dir, &what);
    }
    assert!(reported >= 3, "only {reported} zeroed pages were noticed");
}

#[test]
fn random_files_and_a_truncated_snapshot_are_reported_with_the_file_to_fix() {
    let cases: [(&str, DamageFn, &str); 7] = [
        (
            "random bytes in place of db",
            |dir| {
                let len = std::fs::metadata(dir.join("db")).unwrap().len() as usize;
                std::fs::write(dir.join("db"), noise(len, 7)).unwrap();
            },
            "`db`",
        ),
        (
            "random bytes in place of conf",
            |dir| std::fs::write(dir.join("conf"), noise(62, 11)).unwrap(),
            "conf",
        ),
        (
            "conf cut to one byte (sled would rewrite it silently)",
            |dir| std::fs::write(dir.join("conf"), b"s").unwrap(),
            "conf",
        ),
        (
            "sled's snapshot truncated to half",
            |dir| {
                let snap = snapshot_file(dir);
                let bytes = std::fs::read(&snap).unwrap();
                std::fs::write(&snap, &bytes[..bytes.len() / 2]).unwrap();
            },
            "snap.",
        ),
        (
            "sled's snapshot replaced by random bytes",
            |dir| {
                let snap = snapshot_file(dir);
                let len = std::fs::metadata(&snap).unwrap().len() as usize;
                std::fs::write(&snap, noise(len, 13)).unwrap();
            },
            "snap.",
        ),
        (
            "sled's snapshot emptied",
            |dir| std::fs::write(snapshot_file(dir), b"").unwrap(),
            "snap.",
        ),
        (
            "the mark file replaced by random bytes",
            |dir| std::fs::write(dir.join("sentinel-signl4.mark"), noise(65, 17)).unwrap(),
            "sentinel-signl4.mark",
        ),
    ];
    for (what, damage, names) in cases {
        let holder = tempfile::tempdir().unwrap();
        let dir = copy_of_template(&holder);
        damage(&dir);
        let line = assert_reported_by_every_command(&dir, what);
        assert!(
            line.contains(names),
            "{what}: the report does not name {names}: {line}"
        );
    }
}

#[test]
fn the_recovery_step_for_a_bad_snapshot_works() {
    let (_, events) = template();
    let holder = tempfile::tempdir().unwrap();
    let dir = copy_of_template(&holder);
    let snap = snapshot_file(&dir);
    let bytes = std::fs::read(&snap).unwrap();
    std::fs::write(&snap, &bytes[..bytes.len() / 2]).unwrap();
    let verify = run(&["verify", "--data-dir", dir.to_str().unwrap()]);
    assert!(
        verify.stderr.contains("recovery: move"),
        "{}",
        verify.stderr
    );
    // Follow it: move the file aside.
    std::fs::rename(&snap, holder.path().join("snap.damaged")).unwrap();
    let verify = run(&["verify", "--data-dir", dir.to_str().unwrap()]);
    assert_eq!(verify.code, Some(0), "{}{}", verify.stdout, verify.stderr);
    assert!(verify.stdout.starts_with(&format!("{events} events")));
}

#[test]
fn read_only_commands_leave_a_sound_log_byte_for_byte_as_it_was() {
    let holder = tempfile::tempdir().unwrap();
    let dir = copy_of_template(&holder);
    let before = contents(&dir);
    for command in READ_ONLY {
        let out = run(&[command, "--data-dir", dir.to_str().unwrap()]);
        assert_eq!(out.code, Some(0), "{command}: {}", out.stderr);
        assert!(!out.stdout.is_empty(), "{command} printed nothing");
        assert!(contents(&dir) == before, "`{command}` wrote to the log");
    }
}

#[test]
fn the_private_copy_is_removed_afterwards() {
    let holder = tempfile::tempdir().unwrap();
    let dir = copy_of_template(&holder);
    let tmp = holder.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    for command in READ_ONLY {
        let out = run_in(&[command, "--data-dir", dir.to_str().unwrap()], Some(&tmp));
        assert_eq!(out.code, Some(0), "{command}: {}", out.stderr);
        let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().collect();
        assert!(left.is_empty(), "{command} left {left:?}");
    }
    // And on a damaged log too.
    std::fs::write(dir.join("conf"), b"s").unwrap();
    let out = run_in(&["verify", "--data-dir", dir.to_str().unwrap()], Some(&tmp));
    assert_eq!(out.code, Some(DAMAGED));
    assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
}

#[test]
fn run_refuses_a_damaged_log_with_the_same_message() {
    let cases: [(&str, DamageFn); 3] = [
        ("db truncated to half", |dir| {
            let db = std::fs::OpenOptions::new()
                .write(true)
                .open(dir.join("db"))
                .unwrap();
            let len = db.metadata().unwrap().len();
            db.set_len(len / 2).unwrap();
        }),
        ("random bytes in place of db", |dir| {
            let len = std::fs::metadata(dir.join("db")).unwrap().len() as usize;
            std::fs::write(dir.join("db"), noise(len, 23)).unwrap();
        }),
        ("sled's snapshot truncated", |dir| {
            let snap = snapshot_file(dir);
            let bytes = std::fs::read(&snap).unwrap();
            std::fs::write(&snap, &bytes[..bytes.len() / 2]).unwrap();
        }),
    ];
    for (what, damage) in cases {
        let holder = tempfile::tempdir().unwrap();
        let dir = copy_of_template(&holder);
        damage(&dir);
        let verify_line = assert_reported_by_every_command(&dir, what);
        let config = holder.path().join("connector.toml");
        std::fs::write(&config, connector_config(&dir)).unwrap();
        let out = run(&["run", "--config", config.to_str().unwrap()]);
        assert_eq!(out.code, Some(DAMAGED), "{what}: run: {}", out.stderr);
        assert_clear(&out.stderr, what, "run");
        assert_eq!(damage_site(&error_line(&out.stderr)), verify_line, "{what}");
    }
}

/// A connector whose every endpoint is a closed loopback port: if `run` ever got past the
/// open check, it would reach nothing outside this machine.
fn connector_config(data_dir: &Path) -> String {
    format!(
        r#"data_dir = "{}"

[webhook]
bind = "127.0.0.1:0"

[admin]
bind = "127.0.0.1:0"

[[connector]]
name = "damaged"
tenant_id = "72f988bf-86f1-41af-91ab-2d7cd011db47"
subscription_id = "d0cfe6b2-9ac0-4464-9919-dccaee2e48c0"
client_id = "a8fdfbd0-da97-42d9-8f1a-fd6a7cb650b4"
client_secret = "not-a-secret"
resource_group = "rg-damaged"
workspace_name = "ws-damaged"

[connector.signl4]
team_secret = "team"

[connector.endpoints]
authority_host = "https://127.0.0.1:9/"
arm = "https://127.0.0.1:9/"
log_analytics = "https://127.0.0.1:9/"
graph = "https://127.0.0.1:9/"
"#,
        data_dir.display()
    )
}

/// A damage report without the reader's progress ("after N entries (last key read ...)").
fn damage_site(line: &str) -> String {
    match line.find(" after ") {
        Some(at) if line[at..].contains(" entries") => line[..at].to_string(),
        _ => line.to_string(),
    }
}

#[test]
fn a_sled_step_that_never_returns_ends_every_command_at_its_deadline() {
    // sled spinning on a damaged page, stood in for by a fail point that sleeps for two
    // minutes at the start of each tree of the open check; the deadline is set to 5 s (long
    // enough that opening sled on a loaded machine never exceeds it first).
    let holder = tempfile::tempdir().unwrap();
    let dir = copy_of_template(&holder);
    let config = holder.path().join("connector.toml");
    std::fs::write(&config, connector_config(&dir)).unwrap();
    let env = [
        ("FAILPOINTS", "store.open.each_tree=sleep(120000)"),
        ("S4_LOG_TIMEOUT", "5s"),
    ];
    let data = dir.to_str().unwrap();
    let runs: [&[&str]; 4] = [
        &["verify", "--data-dir", data],
        &["audit", "--data-dir", data],
        &["export", "--data-dir", data],
        &["run", "--config", config.to_str().unwrap()],
    ];
    for args in runs {
        let out = run_with(args, None, &env);
        assert_eq!(out.code, Some(DAMAGED), "{args:?}: {}", out.stderr);
        assert_clear(&out.stderr, "a stalled sled", args[0]);
        let line = error_line(&out.stderr);
        assert!(
            line.contains("made no progress for 5.") && line.contains("in tree `meta`"),
            "{args:?}: {line}"
        );
    }
}

#[test]
fn a_sled_panic_while_reading_is_reported_with_where_it_happened() {
    let holder = tempfile::tempdir().unwrap();
    let dir = copy_of_template(&holder);
    let env = [(
        "FAILPOINTS",
        "store.open.each_tree=panic(simulated sled bug)",
    )];
    let out = run_with(&["verify", "--data-dir", dir.to_str().unwrap()], None, &env);
    assert_eq!(out.code, Some(DAMAGED), "{}", out.stderr);
    assert_clear(&out.stderr, "a sled panic", "verify");
    let line = error_line(&out.stderr);
    assert!(
        line.contains("simulated sled bug") && line.contains("while reading every tree"),
        "{line}"
    );
}
