//! The state store's files failing under a running `tandem sync`, through
//! the binary: a `-shm` file truncated or made read-only (SIGBUS on its
//! memory mapping) exits 1 with an error that names it, and a store that
//! refuses writes leaves the run recorded as failed with its error, not as
//! one whose process died. The next sync recovers and converges.
//!
//! Making a file read-only for the process uses `chattr +i` (root, on a
//! file system with inode flags); without it those cases say so and pass.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;
use tandem_e2e::{Sandbox, events_endpoints, tandem_bin};

/// Source rows: a run in full mode reads them for a few seconds.
const ROWS: usize = 150_000;

fn manifest() -> String {
    format!(
        r#"{endpoints}
[pairs.events]
a = "src"
b = "dst"
a_entity = "events"
b_entity = "out"
mode = "send"
batch_size = 1000
"#,
        endpoints = events_endpoints()
    )
}

/// A sandbox whose pair was synced once.
fn synced() -> Sandbox {
    let s = Sandbox::new();
    s.write("plugins.toml", &manifest());
    let mut text = String::from("id,time,value\n");
    for i in 0..ROWS {
        text.push_str(&format!("r{i:06},2024-08-01T10:00:00Z,v{i}\n"));
    }
    s.write("events.csv", &text);
    let first = s.tandem(&["sync", "events"], &[]);
    assert_eq!(first.code, 0, "{first:?}");
    s
}

/// Starts `tandem sync events --mode full` (a run that reads everything)
/// and returns once its run 2 is in the history as running.
fn start_second_run(s: &Sandbox) -> Child {
    let mut cmd = Command::new(tandem_bin());
    cmd.args(["sync", "events", "--mode", "full"])
        .current_dir(s.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("TANDEM_")) {
        cmd.env_remove(k);
    }
    let mut child = cmd.spawn().expect("tandem starts");
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the sync ended ({status}) before its run was seen");
        }
        if run(s, 2).is_some_and(|r| r["status"] == "running") {
            return child;
        }
    }
}

/// Waits for the sync; its exit code and stderr.
fn finish(child: Child) -> (i32, String) {
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn run(s: &Sandbox, id: i64) -> Option<Value> {
    let history = s.tandem(&["history", "--json"], &[]);
    assert_eq!(history.code, 0, "{history:?}");
    history.json()["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .cloned()
}

fn messages(run: &Value) -> Vec<String> {
    run["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap().to_owned())
        .collect()
}

/// After a failed run: the next sync recovers and sends everything again.
fn recovers(s: &Sandbox) {
    let next = s.tandem(&["sync", "events"], &[]);
    assert_eq!(next.code, 0, "{next:?}");
    assert_eq!(s.read("out.csv"), s.read("events.csv"));
}

/// `chattr +i` on a file while it lives; `chattr -i` when dropped.
struct Immutable(PathBuf);

impl Immutable {
    /// `None` when this machine cannot make files immutable.
    fn set(path: &Path) -> Option<Immutable> {
        let ok = Command::new("chattr")
            .arg("+i")
            .arg(path)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Immutable(path.to_owned()))
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").arg(&self.0).status();
    }
}

/// Whether `chattr +i` works here (root, inode flags).
fn can_make_immutable(s: &Sandbox) -> bool {
    let probe = s.write("probe", "");
    let works = Immutable::set(&probe).is_some();
    if !works {
        println!("skipping: chattr +i does not work here (it needs root and inode flags)");
    }
    works
}

/// SIGBUS is reported, and the next sync converges. When the fault struck
/// during run 2 (`mid_run`), the run is recovered with the reason in its
/// errors; otherwise it may also have struck once the run had ended.
fn bus_error_reported(s: &Sandbox, code: i32, stderr: &str, mid_run: bool) {
    assert_eq!(code, 1, "{stderr}");
    let shm = s.path().join("tandem.db-shm");
    assert!(
        stderr.contains(&format!(
            "error: bus error (SIGBUS) on the state store's shared memory {}",
            shm.canonicalize().unwrap().display()
        )),
        "{stderr}"
    );
    recovers(s);
    let second = run(s, 2).unwrap();
    if !mid_run && second["status"] == "completed" {
        return;
    }
    let errors = messages(&second);
    assert_eq!(errors.len(), 2, "{second}");
    assert!(
        errors[0].starts_with("its process stopped on a bus error (SIGBUS)"),
        "{errors:?}"
    );
    assert!(errors[1].starts_with("interrupted"), "{errors:?}");
}

#[test]
fn shm_truncated_mid_run_exits_1_naming_it() {
    let s = synced();
    let child = start_second_run(&s);
    std::fs::File::options()
        .write(true)
        .open(s.path().join("tandem.db-shm"))
        .unwrap()
        .set_len(0)
        .unwrap();
    let (code, stderr) = finish(child);
    // The run reads the store between batches: the fault strikes mid-run.
    bus_error_reported(&s, code, &stderr, true);
}

#[test]
fn shm_made_read_only_mid_run_exits_1_naming_it() {
    let s = synced();
    if !can_make_immutable(&s) {
        return;
    }
    let child = start_second_run(&s);
    let frozen = Immutable::set(&s.path().join("tandem.db-shm")).unwrap();
    let (code, stderr) = finish(child);
    drop(frozen);
    // The fault strikes at the first write to a page of the mapping that
    // is not dirty yet: during the run, or as the process closes the store.
    bus_error_reported(&s, code, &stderr, false);
}

#[test]
fn store_refusing_writes_mid_run_records_the_run_failed() {
    let s = synced();
    if !can_make_immutable(&s) {
        return;
    }
    let child = start_second_run(&s);
    let frozen = Immutable::set(&s.path().join("tandem.db-wal")).unwrap();
    let (code, stderr) = finish(child);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("the end of run 2 is kept in"), "{stderr}");
    drop(frozen);

    let failed = run(&s, 2).unwrap();
    assert_eq!(failed["status"], "error", "{failed}");
    let errors = messages(&failed);
    assert!(
        errors.iter().any(|e| e.starts_with("state store: ")),
        "the run's own error is recorded: {errors:?}"
    );
    assert!(
        errors.iter().all(|e| !e.contains("died")),
        "the run is not taken for one whose process died: {errors:?}"
    );
    recovers(&s);
}
