//! Two `tandem sync` of one pair started together, through the binary: the
//! fresh store opens in both, and one run at a time holds the pair. The
//! other process is refused (it names the run that holds the pair) or runs
//! after it; the two never interleave.

use std::process::{Command, Stdio};

use serde_json::Value;
use tandem_e2e::{Sandbox, events_endpoints, tandem_bin};

/// Trials; each starts from a fresh store.
const TRIALS: usize = 15;

/// Source rows: enough for a run to take a while.
const ROWS: usize = 3_000;

fn manifest() -> String {
    format!(
        r#"{endpoints}
[pairs.events]
a = "src"
b = "dst"
a_entity = "events"
b_entity = "out"
mode = "send"
batch_size = 500
"#,
        endpoints = events_endpoints()
    )
}

fn source(version: &str) -> String {
    let mut text = String::from("id,time,value\n");
    for i in 0..ROWS {
        text.push_str(&format!(
            "r{i:06},2024-08-{:02}T10:00:00Z,{version}-{i}\n",
            1 + i % 28
        ));
    }
    text
}

/// What one process did.
struct Outcome {
    code: i32,
    stderr: String,
}

/// Starts `tandem sync events` twice at once and waits for both.
fn sync_twice_at_once(s: &Sandbox) -> [Outcome; 2] {
    let spawn = || {
        let mut cmd = Command::new(tandem_bin());
        cmd.args(["sync", "events"])
            .current_dir(s.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("TANDEM_")) {
            cmd.env_remove(k);
        }
        cmd.spawn().expect("tandem starts")
    };
    let (first, second) = (spawn(), spawn());
    [first, second].map(|child| {
        let out = child.wait_with_output().expect("tandem ends");
        Outcome {
            code: out.status.code().unwrap_or(-1),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    })
}

fn history(s: &Sandbox) -> Vec<Value> {
    let run = s.tandem(&["history", "--per-page", "50", "--json"], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    run.json()["runs"].as_array().unwrap().clone()
}

/// A run's time (RFC 3339 in UTC, as history prints it) in a form that
/// sorts as the time does: the fraction of a second padded to nanoseconds.
fn time(run: &Value, field: &str) -> String {
    let text = run[field]
        .as_str()
        .unwrap_or_else(|| panic!("run without {field}: {run}"));
    let utc = text
        .strip_suffix('Z')
        .unwrap_or_else(|| panic!("{field} is not in UTC: {run}"));
    let (seconds, fraction) = utc.split_once('.').unwrap_or((utc, ""));
    format!("{seconds}.{fraction:0<9}")
}

/// Checks one trial: each process ran or was refused by the run holding
/// the pair, the runs that ran did not overlap, and the target holds the
/// source.
fn check(s: &Sandbox, trial: usize, outcomes: &[Outcome; 2], expected: &str) {
    for o in outcomes {
        let refused = o.code == 1 && o.stderr.contains("is already running");
        assert!(
            o.code == 0 || refused,
            "trial {trial}: a sync neither ran nor was refused: exit {}\n{}",
            o.code,
            o.stderr
        );
    }
    let runs = history(s);
    let ran = outcomes.iter().filter(|o| o.code == 0).count();
    assert!(ran >= 1, "trial {trial}: no sync ran");
    let mut spans: Vec<(String, String)> = runs
        .iter()
        .map(|r| {
            assert_eq!(r["status"], "completed", "trial {trial}: {r}");
            (time(r, "started"), time(r, "ended"))
        })
        .collect();
    spans.sort();
    for w in spans.windows(2) {
        assert!(
            w[0].1 <= w[1].0,
            "trial {trial}: two runs of the pair overlapped: {:?} and {:?}",
            w[0],
            w[1]
        );
    }
    assert_eq!(s.read("out.csv"), expected, "trial {trial}: the target");
}

#[test]
fn two_syncs_of_one_pair_never_interleave() {
    let mut refusals = 0;
    for trial in 0..TRIALS {
        let s = Sandbox::new();
        s.write("plugins.toml", &manifest());
        let v1 = source("v1");
        s.write("events.csv", &v1);
        // A fresh store, opened by both at once.
        let first = sync_twice_at_once(&s);
        check(&s, trial, &first, &v1);
        let runs_before = history(&s).len();
        // A store with history, and a change to send.
        let v2 = source("v2");
        s.write("events.csv", &v2);
        let second = sync_twice_at_once(&s);
        check(&s, trial, &second, &v2);
        let ran = second.iter().filter(|o| o.code == 0).count();
        assert_eq!(history(&s).len(), runs_before + ran, "trial {trial}");
        refusals += first.iter().chain(&second).filter(|o| o.code != 0).count();
    }
    println!("{refusals} syncs of {} were refused", TRIALS * 4);
}
