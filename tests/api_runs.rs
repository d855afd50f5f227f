//! Runs of `tandem daemon` over its HTTP API: a running sync stopped by
//! a call or by SIGTERM, and the automatic syncs (after start, after a
//! change, none after a failure until a manual sync succeeds).

use std::time::{Duration, Instant};

use serde_json::json;
use tandem_e2e::api::*;

#[test]
fn a_running_sync_is_stopped_and_a_second_is_refused() {
    let s = sandbox();
    big(&s, 150_000);
    let d = start(&s);
    let started = admin(&d, "POST", "/api/v1/pairs/big/sync", Some(json!({})), 202);
    let id = started["run_id"].as_i64().unwrap();
    let again = admin(&d, "POST", "/api/v1/pairs/big/sync", Some(json!({})), 409);
    assert!(
        again["error"].as_str().unwrap().contains("running already"),
        "{again}"
    );
    wait_applying(&d, "big");
    let live = admin(&d, "GET", &format!("/api/v1/runs/{id}"), None, 200);
    assert_eq!(live["run"]["status"], "running");
    assert_eq!(live["live"]["run_id"], id, "{live}");
    let stop = admin(&d, "POST", &format!("/api/v1/runs/{id}/stop"), None, 202);
    assert_eq!(stop["status"], "stopping");
    let run = wait_run(&d, id);
    assert_eq!(run["status"], "stopped", "{run}");
    assert!(
        !s.path().join("bigout.csv").exists(),
        "the target is rolled back to nothing"
    );
}

#[test]
fn sigterm_stops_a_running_sync_and_exits_0() {
    let s = sandbox();
    big(&s, 150_000);
    let mut d = start(&s);
    let started = admin(&d, "POST", "/api/v1/pairs/big/sync", Some(json!({})), 202);
    let id = started["run_id"].as_i64().unwrap();
    wait_applying(&d, "big");
    let code = d.terminate(Duration::from_secs(60));
    assert_eq!(code, Some(0), "{}", d.log());
    assert!(d.log().contains("shutting down"), "{}", d.log());
    let show = s.tandem(&["history", "show", &id.to_string(), "--json"], &[]);
    assert_eq!(show.json()["status"], "stopped", "{show:?}");
    assert!(!s.path().join("bigout.csv").exists());
}

#[test]
fn automatic_syncs_after_start_and_after_a_change() {
    let s = sandbox();
    let manifest = manifest().replace(
        "active = false\nevery = 15",
        "active = true\nafter_start = \"1s\"\nafter_change = true",
    );
    assert!(manifest.contains("after_start"));
    s.write("plugins.toml", &manifest);
    let d = start(&s);
    let run = wait_trigger(&d, "events", "start");
    assert_eq!(
        run["saved_days"], 3,
        "the start sync synced every waiting day: {run}"
    );
    // A new event: the next poll finds it waiting, and a change sync follows.
    let mut events = s.read("events.csv");
    events.push_str("e5,2024-08-04T09:00:00+02:00,e\n");
    s.write("events.csv", &events);
    let poll = admin(&d, "POST", "/api/v1/pairs/events/poll", None, 200);
    assert_eq!(poll["pending"], 1, "{poll}");
    let run = wait_trigger(&d, "events", "change");
    assert_eq!(run["saved_events"], 1, "{run}");
    assert!(s.read("out.csv").contains("e5,"));
    // Nothing waits any more: no further automatic sync.
    std::thread::sleep(Duration::from_millis(2500));
    let h = admin(&d, "GET", "/api/v1/history?pair=events", None, 200);
    assert_eq!(h["total"], 2, "{h}");
}

#[test]
fn no_automatic_sync_after_a_failed_run_until_a_manual_one_succeeds() {
    let s = sandbox();
    let manifest = manifest().replace(
        "active = false\nevery = 15",
        "active = true\nevery = \"1s\"",
    );
    s.write("plugins.toml", &manifest);
    let d = start(&s);
    wait_trigger(&d, "events", "schedule");
    // The source goes away: the next automatic sync fails, and no other follows.
    std::fs::remove_file(s.path().join("events.csv")).unwrap();
    let start = Instant::now();
    let failed = loop {
        let h = admin(&d, "GET", "/api/v1/history?pair=events", None, 200);
        if h["runs"][0]["status"] == "error" {
            break h["runs"][0]["id"].as_i64().unwrap();
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{h}");
        std::thread::sleep(Duration::from_millis(100));
    };
    std::thread::sleep(Duration::from_millis(3000));
    let h = admin(&d, "GET", "/api/v1/history?pair=events", None, 200);
    assert_eq!(
        h["runs"][0]["id"], failed,
        "nothing ran after the failure: {h}"
    );
    // A manual sync that succeeds lets the schedule run again.
    s.write(
        "events.csv",
        "id,time,value\ne1,2024-08-01T10:00:00+02:00,a\n",
    );
    let run = sync(&d, "events", json!({ "force": true }));
    assert_eq!(run["status"], "completed", "{run}");
    let start = Instant::now();
    loop {
        let h = admin(&d, "GET", "/api/v1/history?pair=events", None, 200);
        if h["runs"][0]["trigger"] == "schedule" && h["runs"][0]["id"].as_i64() > run["id"].as_i64()
        {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{h}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
