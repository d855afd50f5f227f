//! `tandem daemon` and its HTTP API, driven over HTTP as an operator's
//! tools drive it: tokens and roles, every documented route, syncs by day
//! started in the background, the calendar and history after them, undo,
//! schedules, the sync window of a two-way pair, and metrics. Stopping
//! runs and automatic syncs are in `api_runs.rs`.

use serde_json::json;
use tandem_e2e::api::*;
use tandem_e2e::daemon::DaemonProcess;

/// The documented operations: (method, path with example parameters).
fn documented(d: &DaemonProcess) -> Vec<(String, String)> {
    let (code, doc) = d.call("GET", "/api/v1/openapi.json", None, None);
    assert_eq!(code, 200);
    assert_eq!(doc["openapi"], "3.0.3");
    let mut out = Vec::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            let concrete = path.replace("{pair}", "events").replace("{id}", "1");
            out.push((method.to_uppercase(), concrete));
        }
    }
    out
}

#[test]
fn tokens_roles_and_every_documented_route() {
    let s = sandbox();
    let d = start(&s);
    let (code, body) = d.call("GET", "/healthz", None, None);
    assert_eq!((code, body), (200, json!("ok\n")));

    let ops = documented(&d);
    let expected = [
        "GET /api/v1/me",
        "GET /api/v1/pairs",
        "GET /api/v1/status",
        "GET /api/v1/pairs/events/status",
        "GET /api/v1/pairs/events/calendar",
        "POST /api/v1/pairs/events/sync",
        "GET /api/v1/pairs/events/schedule",
        "PUT /api/v1/pairs/events/schedule",
        "POST /api/v1/pairs/events/schedule/reset",
        "GET /api/v1/pairs/events/window",
        "GET /api/v1/pairs/events/conflicts",
        "POST /api/v1/pairs/events/resolve",
        "POST /api/v1/pairs/events/link",
        "POST /api/v1/pairs/events/unlink",
        "POST /api/v1/pairs/events/disable",
        "POST /api/v1/pairs/events/enable",
        "GET /api/v1/history",
        "GET /api/v1/runs/1",
        "POST /api/v1/runs/1/stop",
        "POST /api/v1/runs/1/undo",
        "GET /healthz",
        "GET /metrics",
    ];
    let listed: Vec<String> = ops.iter().map(|(m, p)| format!("{m} {p}")).collect();
    for e in expected {
        assert!(listed.contains(&e.to_owned()), "{e} is not documented");
    }
    // An undocumented route is not served.
    let (code, _) = d.call("GET", "/api/v1/nothing", Some(ADMIN), None);
    assert_eq!(code, 404);

    for (method, path) in &ops {
        let public = ["/healthz", "/metrics", "/api/v1/openapi.json"].contains(&path.as_str());
        if public {
            let (code, _) = d.call(method, path, None, None);
            assert_eq!(code, 200, "{method} {path} is public");
            continue;
        }
        // Routed and guarded: 401 without a token or with a wrong one
        // (an unrouted path would be 404).
        let body = (method != "GET").then(|| json!({}));
        let (code, out) = d.call(method, path, None, body.clone());
        assert_eq!(code, 401, "{method} {path} without a token: {out}");
        assert!(
            out["error"].as_str().unwrap().contains("bearer token"),
            "{out}"
        );
        let (code, _) = d.call(method, path, Some("wrong"), body.clone());
        assert_eq!(code, 401, "{method} {path} with a wrong token");
        if method == "GET" {
            let (code, out) = d.call(method, path, Some(VIEWER), None);
            assert_ne!(code, 401, "{method} {path}: {out}");
            assert_ne!(code, 403, "{method} {path}: a viewer reads: {out}");
        } else {
            let (code, out) = d.call(method, path, Some(VIEWER), body);
            assert_eq!(code, 403, "{method} {path}: a viewer may not: {out}");
            assert!(
                out["error"].as_str().unwrap().contains("needs admin"),
                "{out}"
            );
        }
    }

    let me = admin(&d, "GET", "/api/v1/me", None, 200);
    assert_eq!(me, json!({ "name": "ops", "role": "admin" }));
    let (_, me) = d.call("GET", "/api/v1/me", Some(VIEWER), None);
    assert_eq!(me, json!({ "name": "wall", "role": "viewer" }));
    assert!(
        !d.log().contains(ADMIN) && !d.log().contains(VIEWER),
        "tokens are never logged"
    );

    // Settings: the polling interval.
    assert_eq!(
        admin(&d, "GET", "/api/v1/settings", None, 200)["poll_interval"],
        "1h"
    );
    let set = admin(
        &d,
        "PUT",
        "/api/v1/settings",
        Some(json!({ "poll_interval": "30m" })),
        200,
    );
    assert_eq!(set["poll_interval_secs"], 1800);
    admin(
        &d,
        "PUT",
        "/api/v1/settings",
        Some(json!({ "poll_interval": "soon" })),
        400,
    );

    // Unknown pairs and runs are 404, bad bodies 400.
    admin(&d, "GET", "/api/v1/pairs/nope/status", None, 404);
    admin(&d, "GET", "/api/v1/runs/999", None, 404);
    admin(
        &d,
        "POST",
        "/api/v1/pairs/events/sync",
        Some(json!({ "day": "1 August" })),
        400,
    );
    admin(
        &d,
        "POST",
        "/api/v1/pairs/people/sync",
        Some(json!({ "day": "2024-08-01" })),
        400,
    );
    admin(&d, "GET", "/api/v1/history?per_page=30", None, 400);
}

#[test]
fn day_syncs_calendar_history_undo_and_metrics() {
    let s = sandbox();
    let d = start(&s);

    // The poll finds four elements waiting on three days: a red "Sync now".
    let poll = admin(&d, "POST", "/api/v1/pairs/events/poll", None, 200);
    assert_eq!(poll["pending"], 4, "{poll}");
    let status = admin(&d, "GET", "/api/v1/pairs/events/status", None, 200);
    assert_eq!(status["poll"]["pending"], 4);
    assert_eq!(status["has_ledger"], true);

    // A grey day synced through the API turns green.
    let run = sync(&d, "events", json!({ "day": "2024-08-01" }));
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(
        (run["saved_days"].as_u64(), run["saved_events"].as_u64()),
        (Some(1), Some(2))
    );
    let cal = admin(
        &d,
        "GET",
        "/api/v1/pairs/events/calendar?month=2024-08",
        None,
        200,
    );
    assert_eq!(cal["days"][0]["status"], "synced", "{cal}");
    assert_eq!(cal["days"][0]["events"], 2);
    assert_eq!(cal["days"][1]["status"], "not_synced");
    assert_eq!(
        (cal["synced"].as_u64(), cal["days_in_month"].as_u64()),
        (Some(1), Some(31))
    );
    assert!(s.read("out.csv").contains("e2,"), "{}", s.read("out.csv"));

    // Again: already synced, nothing to do (200 with the report).
    let (code, again) = d.call(
        "POST",
        "/api/v1/pairs/events/sync",
        Some(ADMIN),
        Some(json!({ "day": "2024-08-01" })),
    );
    assert_eq!(code, 200, "{again}");
    assert_eq!(again["started"], false);

    // A dry run of a custom range changes nothing.
    let (code, dry) = d.call(
        "POST",
        "/api/v1/pairs/events/sync",
        Some(ADMIN),
        Some(json!({ "from": "2024-08-02", "to": "2024-08-03", "dry_run": true })),
    );
    assert_eq!(code, 200, "{dry}");
    assert_eq!(dry["report"]["dry_run"], true);
    assert!(!s.read("out.csv").contains("e3,"));

    // The custom range for real, then a forced resync of a month.
    let run = sync(
        &d,
        "events",
        json!({ "from": "2024-08-02", "to": "2024-08-03" }),
    );
    assert_eq!(run["saved_days"], 2, "{run}");
    let range_run = run["id"].as_i64().unwrap();
    let run = sync(&d, "events", json!({ "month": "2024-08" }));
    assert_eq!(run["status"], "completed");
    assert_eq!(run["period"][0], "2024-08-01");
    let month_run = run["id"].as_i64().unwrap();

    // The poll after the runs: nothing waits (green).
    let poll = admin(&d, "POST", "/api/v1/pairs/events/poll", None, 200);
    assert_eq!(poll["pending"], 0, "{poll}");
    let status = admin(&d, "GET", "/api/v1/pairs/events/status", None, 200);
    assert_eq!(
        status["ledger"]["covered"]["from"], "2024-08-01",
        "{status}"
    );
    assert!(status["live"].is_null());

    // History: newest first, paged.
    let h = admin(
        &d,
        "GET",
        "/api/v1/history?pair=events&per_page=10",
        None,
        200,
    );
    assert_eq!(h["total"], 3, "{h}");
    assert_eq!(h["runs"][0]["id"], month_run);
    assert_eq!(h["runs"][0]["trigger"], "manual");
    let all = admin(&d, "GET", "/api/v1/history?page=2&per_page=10", None, 200);
    assert_eq!(all["page"], 2);
    assert_eq!(all["runs"].as_array().unwrap().len(), 0);
    let detail = admin(&d, "GET", &format!("/api/v1/runs/{month_run}"), None, 200);
    assert_eq!(detail["run"]["days"].as_array().unwrap().len(), 31);

    // Undo the range (the month resync wrote nothing): its days go grey again.
    let (code, out) = d.call(
        "POST",
        &format!("/api/v1/runs/{month_run}/undo"),
        Some(ADMIN),
        Some(json!({})),
    );
    assert!(code == 400 || code == 409, "nothing to undo: {code} {out}");
    let undo = admin(
        &d,
        "POST",
        &format!("/api/v1/runs/{range_run}/undo"),
        Some(json!({ "force": true })),
        200,
    );
    assert_eq!(undo["undone"], range_run, "{undo}");
    assert_eq!(undo["days"], json!(["2024-08-02", "2024-08-03"]), "{undo}");
    assert!(!s.read("out.csv").contains("e3,"), "{}", s.read("out.csv"));
    let cal = admin(
        &d,
        "GET",
        "/api/v1/pairs/events/calendar?month=2024-08",
        None,
        200,
    );
    assert_eq!(cal["days"][1]["status"], "not_synced", "{cal}");
    assert_eq!(cal["days"][0]["status"], "synced");
    let (code, out) = d.call(
        "POST",
        "/api/v1/runs/999/undo",
        Some(ADMIN),
        Some(json!({})),
    );
    assert_eq!(code, 404, "{out}");
    // A finished run cannot be stopped.
    let (code, out) = d.call(
        "POST",
        &format!("/api/v1/runs/{month_run}/stop"),
        Some(ADMIN),
        None,
    );
    assert_eq!(code, 409, "{out}");

    // Metrics.
    let (code, text) = d.call("GET", "/metrics", None, None);
    assert_eq!(code, 200);
    let text = text.as_str().unwrap().to_owned();
    for line in [
        "tandem_runs{pair=\"events\",status=\"completed\"} 4",
        "tandem_records_applied_total{pair=\"events\"} ",
        "tandem_last_success_timestamp_seconds{pair=\"events\"} ",
        "tandem_pending_elements{pair=\"events\"} ",
        "tandem_run_in_progress{pair=\"events\"} 0",
        "# TYPE tandem_runs gauge",
    ] {
        assert!(text.contains(line), "{line} in:\n{text}");
    }
    let applied: u64 = text
        .lines()
        .find(|l| l.starts_with("tandem_records_applied_total{pair=\"events\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(applied >= 4, "{text}");
}

#[test]
fn schedules_are_saved_and_reset() {
    let s = sandbox();
    let d = start(&s);
    let sched = admin(&d, "GET", "/api/v1/pairs/events/schedule", None, 200);
    assert_eq!(sched["source"], "manifest");
    assert_eq!(sched["grid"], json!(["Mon-Fri 08-18"]));
    assert_eq!(sched["slots"], 50);
    assert_eq!(sched["active"], false);
    assert_eq!(sched["every_secs"], 900);
    assert_eq!(sched["skip_after_error"], true);

    let put = admin(
        &d,
        "PUT",
        "/api/v1/pairs/events/schedule",
        Some(json!({ "grid": ["Sat,Sun 10", "Wed 20-22"], "after_change": true, "every_secs": 0 })),
        200,
    );
    assert_eq!(put["source"], "saved");
    assert_eq!(put["grid"], json!(["Wed 20-22", "Sat-Sun 10"]));
    assert_eq!(put["after_change"], true);
    assert!(put["every_secs"].is_null());
    let hours = put["hours"].as_str().unwrap().to_owned();
    assert_eq!(hours.len(), 168);
    assert_eq!(&hours[5 * 24 + 10..5 * 24 + 11], "1");

    // The 168-character form, and the toggle; the saved schedule survives
    // a restart of the daemon (it is in the store).
    let mut bits = "0".repeat(168);
    bits.replace_range(0..1, "1");
    admin(
        &d,
        "PUT",
        "/api/v1/pairs/events/schedule",
        Some(json!({ "hours": bits, "active": false })),
        200,
    );
    let got = admin(&d, "GET", "/api/v1/pairs/events/schedule", None, 200);
    assert_eq!(got["grid"], json!(["Mon 00"]));
    admin(
        &d,
        "PUT",
        "/api/v1/pairs/events/schedule",
        Some(json!({ "hours": "01" })),
        400,
    );
    admin(
        &d,
        "PUT",
        "/api/v1/pairs/events/schedule",
        Some(json!({ "grid": ["Funday 10"] })),
        400,
    );
    admin(
        &d,
        "PUT",
        "/api/v1/pairs/events/schedule",
        Some(json!({ "colour": "red" })),
        400,
    );
    // The CLI sees the same schedule.
    let cli = s.tandem(&["schedule", "events", "show", "--json"], &[]);
    assert_eq!(cli.code, 0, "{cli:?}");
    assert_eq!(cli.json()["grid"], json!(["Mon 00"]));

    let reset = admin(&d, "POST", "/api/v1/pairs/events/schedule/reset", None, 200);
    assert_eq!(reset["source"], "manifest");
    assert_eq!(reset["grid"], json!(["Mon-Fri 08-18"]));
}

/// The window and a dry run come from one classification: every record in
/// exactly one category, each header counting what it lists.
#[test]
fn the_sync_window_agrees_with_a_dry_run() {
    let s = sandbox();
    let d = start(&s);
    let run = sync(&d, "people", json!({}));
    assert_eq!(run["status"], "completed", "{run}");
    // Ann edited differently on both sides, Bob on A only, Cid on B only.
    s.write(
        "left.csv",
        "id,name,city\n1,Ann,Bergen\n2,Bob,Turin\n3,Cid,Lund\n",
    );
    s.write(
        "right.csv",
        "id,name,city\n1,Ann,Paris\n2,Bob,Rome\n3,Cid,Malmo\n",
    );
    let w = admin(&d, "GET", "/api/v1/pairs/people/window", None, 200);
    let listed = |cat: &str| -> Vec<String> {
        let c = w["categories"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["category"] == cat)
            .unwrap_or_else(|| panic!("no category {cat}: {w}"));
        let records: Vec<String> = c["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["a_key"].as_str().unwrap_or("").to_owned())
            .collect();
        assert_eq!(c["count"], records.len(), "{cat}: header and list: {w}");
        records
    };
    assert_eq!(listed("conflict"), ["1"], "{w}");
    assert_eq!(listed("changed_a"), ["2"], "{w}");
    assert_eq!(listed("changed_b"), ["3"], "{w}");
    assert!(listed("synchronized").is_empty(), "{w}");
    let dry = s
        .tandem(&["sync", "people", "--dry-run", "--json"], &[])
        .json();
    let counts = &dry[0]["report"]["counts"];
    for cat in [
        "conflict",
        "new",
        "deleted",
        "synchronized",
        "changed_a",
        "changed_b",
    ] {
        assert_eq!(counts[cat], w["counts"][cat], "{cat}: {counts} vs {w}");
    }
}

#[test]
fn the_sync_window_of_a_two_way_pair() {
    let s = sandbox();
    let d = start(&s);
    let w = admin(&d, "GET", "/api/v1/pairs/people/window", None, 200);
    let cats: Vec<&str> = w["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["category"].as_str().unwrap())
        .collect();
    assert_eq!(
        cats,
        [
            "conflict",
            "new",
            "deleted",
            "disabled",
            "synchronized",
            "inactive",
            "changed_a",
            "changed_b",
            "merged"
        ]
    );
    assert_eq!(w["categories"][1]["count"], 3, "three new records: {w}");

    let run = sync(&d, "people", json!({}));
    assert_eq!(run["status"], "completed", "{run}");
    assert!(s.read("right.csv").contains("2,Bob,Rome"));
    let w = admin(&d, "GET", "/api/v1/pairs/people/window", None, 200);
    assert_eq!(w["categories"][4]["count"], 3, "synchronized: {w}");
    assert_eq!(w["categories"][4]["records"].as_array().unwrap().len(), 3);

    // Both sides change Ann's city differently: a conflict waits.
    s.write(
        "left.csv",
        "id,name,city\n1,Ann,Bergen\n2,Bob,Rome\n3,Cid,Lund\n",
    );
    s.write(
        "right.csv",
        "id,name,city\n1,Ann,Paris\n2,Bob,Rome\n3,Cid,Lund\n",
    );
    let run = sync(&d, "people", json!({}));
    assert_eq!(run["status"], "completed", "{run}");
    let conflicts = admin(&d, "GET", "/api/v1/pairs/people/conflicts", None, 200);
    assert_eq!(conflicts.as_array().unwrap().len(), 1, "{conflicts}");
    assert_eq!(conflicts[0]["a_key"], "1");
    assert_eq!(conflicts[0]["differences"][0]["field"], "city");
    let w = admin(&d, "GET", "/api/v1/pairs/people/window", None, 200);
    assert_eq!(w["categories"][0]["count"], 1, "{w}");
    assert_eq!(
        w["categories"][0]["records"][0]["conflict"]["differences"][0]["b"],
        "Paris"
    );
    let new = admin(
        &d,
        "GET",
        "/api/v1/pairs/people/conflicts?category=new",
        None,
        200,
    );
    assert_eq!(new["category"], "new");
    admin(
        &d,
        "GET",
        "/api/v1/pairs/people/conflicts?category=purple",
        None,
        400,
    );

    // Resolve by taking side b: Paris on both sides.
    admin(
        &d,
        "POST",
        "/api/v1/pairs/people/resolve",
        Some(json!({ "key": "1", "take": "c" })),
        400,
    );
    admin(
        &d,
        "POST",
        "/api/v1/pairs/people/resolve",
        Some(json!({ "key": "1", "take": "b" })),
        200,
    );
    assert!(
        s.read("left.csv").contains("1,Ann,Paris"),
        "{}",
        s.read("left.csv")
    );
    let conflicts = admin(&d, "GET", "/api/v1/pairs/people/conflicts", None, 200);
    assert_eq!(conflicts, json!([]));
    admin(
        &d,
        "POST",
        "/api/v1/pairs/people/resolve",
        Some(json!({ "key": "1", "take": "a" })),
        400,
    );

    // Disable, enable, unlink and link by hand.
    admin(
        &d,
        "POST",
        "/api/v1/pairs/people/disable",
        Some(json!({ "key": "2" })),
        200,
    );
    let disabled = admin(
        &d,
        "GET",
        "/api/v1/pairs/people/conflicts?category=disabled",
        None,
        200,
    );
    assert_eq!(disabled.as_array().unwrap().len(), 1, "{disabled}");
    let w = admin(&d, "GET", "/api/v1/pairs/people/window", None, 200);
    assert_eq!(w["categories"][3]["count"], 1, "{w}");
    admin(
        &d,
        "POST",
        "/api/v1/pairs/people/enable",
        Some(json!({ "key": "2", "side": "a" })),
        200,
    );
    admin(
        &d,
        "POST",
        "/api/v1/pairs/people/unlink",
        Some(json!({ "key": "3" })),
        200,
    );
    admin(
        &d,
        "POST",
        "/api/v1/pairs/people/unlink",
        Some(json!({ "key": "3" })),
        404,
    );
    let linked = admin(
        &d,
        "POST",
        "/api/v1/pairs/people/link",
        Some(json!({ "a_key": "3", "b_key": "3" })),
        200,
    );
    assert!(linked["link"].as_i64().is_some(), "{linked}");
    admin(
        &d,
        "POST",
        "/api/v1/pairs/people/link",
        Some(json!({})),
        400,
    );
}
