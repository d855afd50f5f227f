//! Crashes, kills and stops of `tandem sync`, through the binary: a process
//! that dies at any point of a run (fault injection with `TANDEM_FAULT`, or
//! a real SIGKILL at a random time) loses nothing and duplicates nothing
//! once the next run has recovered; a stop from another process, or Ctrl-C,
//! leaves the target byte for byte as it was.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tandem_e2e::{Run, Sandbox, events_endpoints, tandem_bin};

/// How the pair of a case runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `mode = "send"`, plain `tandem sync`.
    Send,
    /// `mode = "two_way"`: side B is read (prefetched) too.
    TwoWay,
    /// `mode = "send"` with a day ledger, synced with `--month 2024-08`.
    Ledger,
}

/// `events.csv` (id,time,value) to `out.csv`.
fn manifest(kind: Kind, on_crash: &str, batch_size: usize) -> String {
    let (mode, ledger) = match kind {
        Kind::Send => ("send", ""),
        Kind::TwoWay => ("two_way", ""),
        Kind::Ledger => (
            "send",
            "ledger = { field = \"time\", time_zone = \"Europe/Rome\" }",
        ),
    };
    format!(
        r#"{endpoints}
[pairs.events]
a = "src"
b = "dst"
a_entity = "events"
b_entity = "out"
mode = "{mode}"
batch_size = {batch_size}
on_crash = "{on_crash}"
{ledger}
"#,
        endpoints = events_endpoints()
    )
}

/// Rows by id: `id -> "id,time,value"`.
type Rows = BTreeMap<String, String>;

fn row(i: usize, value: &str) -> (String, String) {
    let id = format!("r{i:06}");
    let line = format!("{id},2024-08-{:02}T10:00:00Z,{value}", 1 + i % 31);
    (id, line)
}

/// The first version of the source: `n` rows spread over August 2024.
fn first_version(n: usize) -> Rows {
    (0..n).map(|i| row(i, &format!("v1-{i}"))).collect()
}

/// The source after a round of edits: every 7th row updated, every 11th
/// deleted, `n / 5` rows inserted.
fn second_version(n: usize) -> Rows {
    let mut rows = Rows::new();
    for i in 0..n + n / 5 {
        if i < n && i % 11 == 0 {
            continue;
        }
        let value = if i >= n || i % 7 == 0 {
            format!("v2-{i}")
        } else {
            format!("v1-{i}")
        };
        let (id, line) = row(i, &value);
        rows.insert(id, line);
    }
    rows
}

fn write_rows(s: &Sandbox, name: &str, rows: &Rows) {
    let mut text = String::with_capacity(rows.len() * 40 + 16);
    text.push_str("id,time,value\n");
    for line in rows.values() {
        text.push_str(line);
        text.push('\n');
    }
    s.write(name, &text);
}

/// A CSV file's rows by id; a key that appears twice fails the test.
fn read_rows(s: &Sandbox, name: &str) -> Rows {
    let text = s.read(name);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("id,time,value"), "{name}");
    let mut rows = Rows::new();
    for line in lines {
        let id = line.split(',').next().unwrap().to_owned();
        if let Some(old) = rows.insert(id.clone(), line.to_owned()) {
            panic!("{name}: {id} is there twice: {old:?} and {line:?}");
        }
    }
    rows
}

/// Compares two sets of rows, naming the first few differences.
#[track_caller]
fn assert_rows(actual: &Rows, expected: &Rows, what: &str) {
    if actual == expected {
        return;
    }
    let missing: Vec<&String> = expected
        .keys()
        .filter(|k| !actual.contains_key(*k))
        .take(5)
        .collect();
    let extra: Vec<&String> = actual
        .keys()
        .filter(|k| !expected.contains_key(*k))
        .take(5)
        .collect();
    let differ: Vec<(&String, &String)> = actual
        .iter()
        .filter(|(k, v)| expected.get(*k).is_some_and(|e| e != *v))
        .take(5)
        .collect();
    panic!(
        "{what}: {} rows, expected {}; missing {missing:?}, extra {extra:?}, different {differ:?}",
        actual.len(),
        expected.len()
    );
}

fn sync_args(kind: Kind) -> Vec<&'static str> {
    match kind {
        Kind::Ledger => vec!["sync", "events", "--month", "2024-08"],
        _ => vec!["sync", "events"],
    }
}

#[track_caller]
fn ok(s: &Sandbox, args: &[&str]) -> Run {
    let run = s.tandem(args, &[]);
    assert_eq!(run.code, 0, "tandem {args:?}: {run:?}");
    run
}

/// The runs in history, newest first.
fn runs(s: &Sandbox) -> Vec<Value> {
    let page = ok(s, &["history", "--per-page", "50", "--json"]).json();
    page["runs"].as_array().unwrap().clone()
}

fn run_by_id(s: &Sandbox, id: i64) -> Value {
    runs(s)
        .into_iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no run {id} in the history"))
}

fn last_error(run: &Value) -> String {
    run["errors"]
        .as_array()
        .and_then(|e| e.last())
        .and_then(|e| e["message"].as_str())
        .unwrap_or_default()
        .to_owned()
}

/// A sync after everything settled writes nothing and finds every record
/// synchronized (every day synced, none stale, for a ledger pair).
fn assert_settled(s: &Sandbox, kind: Kind, expected: &Rows) {
    let report = ok(s, &["sync", "events", "--json"]).json();
    let counts = &report[0]["report"]["counts"];
    for write in [
        "created_a",
        "updated_a",
        "deleted_a",
        "created_b",
        "updated_b",
        "deleted_b",
        "conflict",
    ] {
        assert_eq!(counts[write], 0, "{write}: {report}");
    }
    if kind == Kind::Ledger {
        let cal = ok(s, &["calendar", "events", "--month", "2024-08", "--json"]).json();
        assert_eq!(cal["synced"], 31, "{cal}");
        let events: u64 = cal["days"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["events"].as_u64().unwrap())
            .sum();
        assert_eq!(
            events,
            expected.len() as u64,
            "the ledger counts every event once"
        );
    } else {
        assert_eq!(counts["synchronized"], expected.len() as u64, "{report}");
    }
}

/// Rows and batch size of the fault-injection cases: several batches.
const ROWS: usize = 300;
const BATCH: usize = 50;

/// One fault-injection case: a clean first sync, edits on side A, a sync
/// that dies at `point`, then recovery and a clean sync; the target ends
/// equal to side A, the crashed run is in history as interrupted, and a
/// further sync has nothing to do.
fn crash_case(point: &str, kind: Kind, on_crash: &str) {
    let s = Sandbox::new();
    s.write("plugins.toml", &manifest(kind, on_crash, BATCH));
    let v1 = first_version(ROWS);
    write_rows(&s, "events.csv", &v1);
    ok(&s, &sync_args(kind));
    assert_rows(&read_rows(&s, "out.csv"), &v1, "after the first sync");

    let v2 = second_version(ROWS);
    write_rows(&s, "events.csv", &v2);
    let crashed = s.tandem(&sync_args(kind), &[("TANDEM_FAULT", point)]);
    assert_ne!(crashed.code, 0, "the run dies at {point}: {crashed:?}");
    assert!(
        crashed
            .stderr
            .contains(&format!("fault injected at {point}")),
        "{point} is passed: {crashed:?}"
    );
    // The fault at `engine.committed` strikes after the store committed.
    let committed = point == "engine.committed";

    if on_crash == "rollback" {
        let recovered = ok(&s, &["recover", "events"]);
        assert!(
            recovered.stdout.contains("run 2 recovered, now stopped"),
            "{recovered:?}"
        );
        assert_rows(
            &read_rows(&s, "out.csv"),
            &v1,
            "rolled back: the target is as before the crashed run",
        );
    }

    ok(&s, &sync_args(kind));
    assert_rows(&read_rows(&s, "out.csv"), &v2, "after recovery");
    if kind == Kind::TwoWay {
        assert_rows(&read_rows(&s, "events.csv"), &v2, "side A after recovery");
    }

    let history = runs(&s);
    assert_eq!(history[0]["status"], "completed", "{:?}", history[0]);
    let crashed_run = run_by_id(&s, 2);
    let expected_status = match (committed, on_crash) {
        (true, _) => "completed",
        (false, "rollback") => "stopped",
        (false, _) => "error",
    };
    assert_eq!(crashed_run["status"], expected_status, "{crashed_run}");
    if !committed {
        assert!(
            last_error(&crashed_run).starts_with("interrupted"),
            "{crashed_run}"
        );
        assert!(crashed_run["ended"].is_string(), "{crashed_run}");
    }
    assert!(
        history
            .iter()
            .all(|r| r["status"] != "running" && r["status"] != "stopping"),
        "no run is left running"
    );
    assert_settled(&s, kind, &v2);
}

macro_rules! crash_cases {
    ($($name:ident: $point:literal, $kind:ident, $on_crash:literal;)*) => {
        $(
            #[test]
            fn $name() {
                crash_case($point, Kind::$kind, $on_crash);
            }
        )*
    };
}

// The crashed run reads side A since its cursor: only the 127 rows that
// changed, in three batches of 50 (the last one with the deletes).
crash_cases! {
    send_stream_batch_1: "engine.stream_batch:1", Send, "resume";
    send_stream_batch_3: "engine.stream_batch:3", Send, "resume";
    send_stream_batch_2: "engine.stream_batch:2", Send, "resume";
    send_journal_written_1: "engine.journal_written:1", Send, "resume";
    send_journal_written_2: "engine.journal_written:2", Send, "resume";
    send_before_apply_1: "engine.before_apply:1", Send, "resume";
    send_before_apply_2: "engine.before_apply:2", Send, "resume";
    send_after_apply_1: "engine.after_apply:1", Send, "resume";
    send_after_apply_2: "engine.after_apply:2", Send, "resume";
    send_before_commit: "engine.before_commit", Send, "resume";
    send_between_commits: "engine.between_commits", Send, "resume";
    send_targets_committed: "engine.targets_committed", Send, "resume";
    send_store_in_commit: "store.in_commit", Send, "resume";
    send_committed: "engine.committed", Send, "resume";
    send_file_before_rename: "file.before_rename", Send, "resume";
    send_file_after_rename: "file.after_rename", Send, "resume";
    two_way_prefetch_batch_1: "engine.prefetch_batch:1", TwoWay, "resume";
    two_way_prefetch_batch_5: "engine.prefetch_batch:5", TwoWay, "resume";
    two_way_stream_batch_2: "engine.stream_batch:2", TwoWay, "resume";
    two_way_after_apply_1: "engine.after_apply:1", TwoWay, "resume";
    two_way_between_commits: "engine.between_commits", TwoWay, "resume";
    two_way_file_after_rename: "file.after_rename", TwoWay, "resume";
    two_way_store_in_commit: "store.in_commit", TwoWay, "resume";
    ledger_stream_batch_2: "engine.stream_batch:2", Ledger, "resume";
    ledger_before_apply_1: "engine.before_apply:1", Ledger, "resume";
    ledger_file_after_rename: "file.after_rename", Ledger, "resume";
    ledger_store_in_commit: "store.in_commit", Ledger, "resume";
    rollback_after_apply_2: "engine.after_apply:2", Send, "rollback";
    rollback_file_before_rename: "file.before_rename", Send, "rollback";
    rollback_file_after_rename: "file.after_rename", Send, "rollback";
    rollback_store_in_commit: "store.in_commit", Send, "rollback";
    rollback_ledger_targets_committed: "engine.targets_committed", Ledger, "rollback";
}

/// `tandem ARGS` started in the sandbox, not waited for.
fn spawn(s: &Sandbox, args: &[&str]) -> Child {
    let mut cmd = Command::new(tandem_bin());
    cmd.args(args)
        .current_dir(s.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("TANDEM_") || k == "RUST_LOG") {
        cmd.env_remove(k);
    }
    cmd.spawn().expect("tandem starts")
}

/// Waits for a child, failing the test after `limit`.
fn wait(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("tandem did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits until run `id` is recorded as running.
fn wait_running(s: &Sandbox, id: i64, child: &mut Child) {
    let start = Instant::now();
    loop {
        let runs = runs(s);
        if runs
            .first()
            .is_some_and(|r| r["id"] == id && r["status"] == "running")
        {
            return;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the sync ended ({status}) before it was seen running: {runs:?}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "run {id} never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A first sync of 1,000 rows, then a source of `big` rows (the first
/// 1,000 changed): the sandbox and the target's bytes before the big run.
fn big_run_sandbox(big: usize) -> (Sandbox, Vec<u8>) {
    let s = Sandbox::new();
    s.write("plugins.toml", &manifest(Kind::Send, "resume", 1000));
    write_rows(&s, "events.csv", &first_version(1000));
    ok(&s, &["sync", "events"]);
    let before = std::fs::read(s.path().join("out.csv")).unwrap();
    let rows: Rows = (0..big).map(|i| row(i, &format!("big-{i}"))).collect();
    write_rows(&s, "events.csv", &rows);
    (s, before)
}

#[test]
fn a_stop_from_another_process_restores_the_target_byte_for_byte() {
    let (s, before) = big_run_sandbox(200_000);
    let mut child = spawn(&s, &["sync", "events"]);
    wait_running(&s, 2, &mut child);
    // Let it read and apply some batches first.
    std::thread::sleep(Duration::from_millis(300));
    let stop = ok(&s, &["stop", "2"]);
    assert!(
        stop.stdout.contains("run 2 of pair events is stopping"),
        "{stop:?}"
    );
    let status = wait(&mut child, Duration::from_secs(60));
    assert!(!status.success(), "a stopped sync exits non-zero: {status}");
    let run = run_by_id(&s, 2);
    assert_eq!(run["status"], "stopped", "{run}");
    assert_eq!(
        std::fs::read(s.path().join("out.csv")).unwrap(),
        before,
        "the target is byte for byte as before"
    );
    let again = s.tandem(&["stop", "2"], &[]);
    assert_eq!(again.code, 1, "a run that is not running: {again:?}");
    assert!(
        again.stderr.contains("not running (it is stopped)"),
        "{again:?}"
    );
}

#[test]
fn ctrl_c_stops_a_foreground_sync_and_restores_the_target() {
    let (s, before) = big_run_sandbox(100_000);
    let mut child = spawn(&s, &["sync", "events"]);
    wait_running(&s, 2, &mut child);
    std::thread::sleep(Duration::from_millis(200));
    let interrupted = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let status = wait(&mut child, Duration::from_secs(60));
    assert_eq!(status.code(), Some(1), "{status}");
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(stderr.contains("stopping"), "{stderr}");
    assert_eq!(run_by_id(&s, 2)["status"], "stopped");
    assert_eq!(std::fs::read(s.path().join("out.csv")).unwrap(), before);
}

/// A small deterministic generator (xorshift), so that the kills happen at
/// the same times on every machine run.
struct Seeded(u64);

impl Seeded {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn real_kills_at_random_times_lose_nothing() {
    const ROWS: usize = 20_000;
    let mut rng = Seeded(0x7a4d_e115_eed5_0001);
    let s = Sandbox::new();
    s.write("plugins.toml", &manifest(Kind::Send, "resume", 1000));
    let mut source = first_version(ROWS);
    write_rows(&s, "events.csv", &source);
    ok(&s, &["sync", "events"]);
    let mut next_id = ROWS;
    let (mut last_run, mut interrupted) = (1, 0);
    for round in 0..4u64 {
        // Update about 8 %, delete about 2 %, insert 600.
        let keys: Vec<String> = source.keys().cloned().collect();
        for key in keys {
            match rng.below(100) {
                0..=7 => {
                    let line = source.get_mut(&key).unwrap();
                    let time = line.split(',').nth(1).unwrap().to_owned();
                    *line = format!("{key},{time},round{round}");
                }
                8 | 9 => {
                    source.remove(&key);
                }
                _ => {}
            }
        }
        for _ in 0..600 {
            let (id, line) = row(next_id, &format!("new{round}"));
            source.insert(id, line);
            next_id += 1;
        }
        write_rows(&s, "events.csv", &source);

        let delay = Duration::from_millis(40 + rng.below(150) + round * 150);
        let mut child = spawn(&s, &["sync", "events"]);
        std::thread::sleep(delay);
        let _ = child.kill();
        let status = wait(&mut child, Duration::from_secs(30));

        ok(&s, &["sync", "events"]);
        assert_rows(
            &read_rows(&s, "out.csv"),
            &source,
            &format!("round {round}"),
        );
        let history = runs(&s);
        assert_eq!(history[0]["status"], "completed");
        let killed = history.get(1).filter(|r| r["id"].as_i64() > Some(last_run));
        eprintln!(
            "round {round}: killed after {delay:?} ({status}); the killed run: {}",
            killed.map_or("not started".into(), |r| format!(
                "{} {}",
                r["id"], r["status"]
            ))
        );
        interrupted += killed.is_some_and(|r| r["status"] == "error") as u32;
        last_run = history[0]["id"].as_i64().unwrap();
        for r in &history[1..] {
            match r["status"].as_str().unwrap() {
                "completed" => {}
                "error" => assert!(last_error(r).starts_with("interrupted"), "{r}"),
                other => panic!("run {} is {other}", r["id"]),
            }
        }
    }
    assert!(interrupted >= 1, "at least one kill lands inside a run");
    assert_settled(&s, Kind::Send, &source);
}
