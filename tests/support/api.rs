//! What the tests of `tandem daemon` and its HTTP API share: a sandbox
//! with three pairs, a daemon started on it, and calls as the admin.

use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::Sandbox;
use crate::daemon::DaemonProcess;

pub const ADMIN: &str = "admin-s3cret";
pub const VIEWER: &str = "viewer-s3cret";

pub fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `events` (a day ledger, send), `big` (the same source, a big file,
/// send) and `people` (two-way, manual conflicts); schedules inactive so
/// that nothing runs on its own during a test.
pub fn manifest() -> String {
    format!(
        r#"
{endpoints}
[endpoints.bigsrc]
type = "file"
path = "big.csv"
entity = "big"
key = ["id"]

[endpoints.bigdst]
type = "file"
path = "bigout.csv"
entity = "bigout"
key = ["id"]

[endpoints.left]
type = "file"
path = "left.csv"
key = ["id"]

[endpoints.right]
type = "file"
path = "right.csv"
key = ["id"]

{events}
[pairs.events.schedule]
grid = ["Mon-Fri 08-18"]
active = false
every = 15

[pairs.big]
a = "bigsrc"
b = "bigdst"
a_entity = "big"
b_entity = "bigout"
mode = "send"
batch_size = 500

[pairs.big.schedule]
active = false

[pairs.people]
a = "left"
b = "right"
a_entity = "left"
b_entity = "right"
mode = "two_way"
resolver = "manual"

[daemon]
poll_interval = "1h"

[daemon.tokens.ops]
role = "admin"
hash = "sha256:{admin}"

[daemon.tokens.wall]
role = "viewer"
token_env = "WALL_TOKEN"
"#,
        endpoints = crate::events_endpoints(),
        events = crate::EVENTS_PAIR,
        admin = sha256_hex(ADMIN),
    )
}

pub fn sandbox() -> Sandbox {
    let s = Sandbox::new();
    s.write("plugins.toml", &manifest());
    s.write(
        "events.csv",
        "id,time,value\n\
         e1,2024-08-01T10:00:00+02:00,a\n\
         e2,2024-08-01T12:00:00+02:00,b\n\
         e3,2024-08-02T09:00:00+02:00,c\n\
         e4,2024-08-03T09:00:00+02:00,d\n",
    );
    s.write(
        "left.csv",
        "id,name,city\n1,Ann,Oslo\n2,Bob,Rome\n3,Cid,Lund\n",
    );
    s.write("right.csv", "id,name,city\n");
    s
}

pub fn start(s: &Sandbox) -> DaemonProcess {
    DaemonProcess::start(s, &[("WALL_TOKEN", VIEWER)])
}

/// Calls as admin and expects `status`.
pub fn admin(
    d: &DaemonProcess,
    method: &str,
    path: &str,
    body: Option<Value>,
    status: u16,
) -> Value {
    let (code, out) = d.call(method, path, Some(ADMIN), body);
    assert_eq!(code, status, "{method} {path}: {out}\n{}", d.log());
    out
}

/// Waits until run `id` has ended; returns it.
pub fn wait_run(d: &DaemonProcess, id: i64) -> Value {
    let start = Instant::now();
    loop {
        let out = admin(d, "GET", &format!("/api/v1/runs/{id}"), None, 200);
        let status = out["run"]["status"].as_str().unwrap().to_owned();
        if status != "running" && status != "stopping" {
            return out["run"].clone();
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "run {id} did not end: {out}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts a sync through the API and waits for its end.
pub fn sync(d: &DaemonProcess, pair: &str, body: Value) -> Value {
    let (code, out) = d.call(
        "POST",
        &format!("/api/v1/pairs/{pair}/sync"),
        Some(ADMIN),
        Some(body.clone()),
    );
    match code {
        202 => wait_run(d, out["run_id"].as_i64().unwrap()),
        // It ended before its id was seen: the run as the history has it.
        200 if out["run_id"].is_i64() => wait_run(d, out["run_id"].as_i64().unwrap()),
        200 => out["report"].clone(),
        _ => panic!("sync {pair} {body}: {code} {out}\n{}", d.log()),
    }
}

/// A big source: a first sync of `n` rows takes long enough to be stopped.
pub fn big(s: &Sandbox, n: usize) {
    let mut text = String::with_capacity(n * 24);
    text.push_str("id,value\n");
    for i in 0..n {
        text.push_str(&format!("r{i:07},v{i}\n"));
    }
    s.write("big.csv", &text);
}

/// Waits until the pair's live run has applied something.
pub fn wait_applying(d: &DaemonProcess, pair: &str) {
    let start = Instant::now();
    loop {
        let st = admin(d, "GET", &format!("/api/v1/pairs/{pair}/status"), None, 200);
        if st["live"]["progress"]["read_a"].as_u64().unwrap_or(0) > 0 {
            return;
        }
        assert!(
            st["live"].is_object(),
            "the run ended before it was seen: {st}"
        );
        assert!(start.elapsed() < Duration::from_secs(30), "{st}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for a completed run of `pair` started by `trigger`.
pub fn wait_trigger(d: &DaemonProcess, pair: &str, trigger: &str) -> Value {
    let start = Instant::now();
    loop {
        let h = admin(
            d,
            "GET",
            &format!("/api/v1/history?pair={pair}&per_page=50"),
            None,
            200,
        );
        if let Some(r) = h["runs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["trigger"] == trigger && r["status"] == "completed")
        {
            return r.clone();
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no {trigger} run of {pair}: {h}\n{}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
