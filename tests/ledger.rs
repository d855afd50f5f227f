//! The day ledger through the `tandem` binary, as a Panorama user works it:
//! a grey day synced on its own, a forced resync of a green day, a custom
//! range, a month resync, late events that make a day stale, the history
//! (pages and one run in full) and undo, with CSV files on both sides.

use std::collections::BTreeMap;

use serde_json::Value;
use tandem_e2e::{Run, Sandbox};

/// `events.csv` (id,time,value) sent to `out.csv` by day in Rome's time
/// zone; `plain` is the same pair without a ledger.
fn manifest() -> String {
    format!(
        r#"
{endpoints}
{events}
[pairs.plain]
a = "src"
b = "dst"
a_entity = "events"
b_entity = "out"
mode = "send"
"#,
        endpoints = tandem_e2e::events_endpoints(),
        events = tandem_e2e::EVENTS_PAIR
    )
}

/// An event: its id, its time (RFC 3339) and a value.
type Event = (&'static str, &'static str, &'static str);

fn sandbox(events: &[Event]) -> Sandbox {
    let s = Sandbox::new();
    s.write("plugins.toml", &manifest());
    write_events(&s, events);
    s
}

fn write_events(s: &Sandbox, events: &[Event]) {
    let mut text = String::from("id,time,value\n");
    for (id, time, value) in events {
        text.push_str(&format!("{id},{time},{value}\n"));
    }
    s.write("events.csv", &text);
}

/// Runs `tandem ARGS` and expects exit 0.
fn ok(s: &Sandbox, args: &[&str]) -> Run {
    let run = s.tandem(args, &[]);
    assert_eq!(run.code, 0, "tandem {args:?}: {run:?}");
    run
}

/// The rows of the target by id (`id -> value`); no target is no rows.
fn target(s: &Sandbox) -> BTreeMap<String, String> {
    if !s.path().join("out.csv").exists() {
        return BTreeMap::new();
    }
    let text = s.read("out.csv");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("id,time,value"), "{text}");
    let mut rows = BTreeMap::new();
    for line in lines {
        let mut cells = line.split(',');
        let (id, _, value) = (cells.next().unwrap(), cells.next(), cells.next().unwrap());
        assert!(
            rows.insert(id.to_owned(), value.to_owned()).is_none(),
            "{id} is in the target twice:\n{text}"
        );
    }
    rows
}

fn ids(s: &Sandbox) -> Vec<String> {
    target(s).into_keys().collect()
}

/// `calendar --json` for August 2024: day of the month -> (status, events).
fn august(s: &Sandbox) -> (BTreeMap<i64, (String, u64)>, Value) {
    let cal = ok(s, &["calendar", "events", "--month", "2024-08", "--json"]).json();
    let days = cal["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let day: i64 = d["day"].as_str().unwrap()[8..].parse().unwrap();
            (
                day,
                (
                    d["status"].as_str().unwrap().to_owned(),
                    d["events"].as_u64().unwrap(),
                ),
            )
        })
        .collect();
    (days, cal)
}

fn status_of(days: &BTreeMap<i64, (String, u64)>, day: i64) -> (&str, u64) {
    let (s, e) = &days[&day];
    (s.as_str(), *e)
}

const E1: Event = ("e1", "2024-08-01T10:00:00Z", "1");
/// 23:30 UTC on 31 July is 01:30 on 1 August in Rome.
const E2: Event = ("e2", "2024-07-31T23:30:00Z", "2");
const E3: Event = ("e3", "2024-08-02T10:00:00Z", "3");
const E4: Event = ("e4", "2024-08-05T09:00:00Z", "4");
const E5: Event = ("e5", "2024-08-20T18:00:00Z", "5");
const SEPT: Event = ("s1", "2024-09-02T08:00:00Z", "9");

#[test]
fn a_grey_day_is_synced_on_its_own_and_not_read_again() {
    let s = sandbox(&[E1, E2, E3, E4]);
    let run = ok(&s, &["sync", "events", "--day", "2024-08-01"]);
    assert!(
        run.stdout.contains("1 day synced, 2 events saved"),
        "{run:?}"
    );
    assert_eq!(
        ids(&s),
        ["e1", "e2"],
        "only that day's rows land, in Rome's time zone"
    );

    let (days, cal) = august(&s);
    assert_eq!(status_of(&days, 1), ("synced", 2));
    assert!(
        days.iter()
            .filter(|(d, _)| **d != 1)
            .all(|(_, (st, n))| st == "not_synced" && *n == 0)
    );
    assert_eq!(
        (cal["synced"].as_u64(), cal["days_in_month"].as_u64()),
        (Some(1), Some(31))
    );
    assert_eq!(cal["month"], "2024-08");
    assert!(cal["today"].is_string());

    let text = ok(&s, &["calendar", "events", "--month", "2024-08"]);
    assert!(text.stdout.contains("01/08/2024  Saved: 2"), "{text:?}");
    assert!(text.stdout.contains("1/31 days synchronized"), "{text:?}");
    assert!(
        text.stdout
            .contains(" Mon   Tue   Wed   Thu   Fri   Sat   Sun"),
        "{text:?}"
    );
    // 1 August 2024 is a Thursday: the first week starts with three blanks.
    assert!(
        text.stdout
            .contains("\n                   01✓   02·   03·   04·\n"),
        "{text:?}"
    );
    assert!(
        !text.stdout.contains('\x1b'),
        "no colour when stdout is not a terminal"
    );

    // Asked again, the synced day is left alone and no run is recorded.
    let run = ok(&s, &["sync", "events", "--day", "2024-08-01"]);
    assert!(
        run.stdout.contains("already synced; use --force"),
        "{run:?}"
    );
    let history = ok(&s, &["history", "events", "--json"]).json();
    assert_eq!(history["total"], 1);

    // Syncing by day needs a ledger: a configuration error.
    let run = s.tandem(&["sync", "plain", "--day", "2024-08-01"], &[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("day ledger"), "{run:?}");
    let run = s.tandem(&["calendar", "plain"], &[]);
    assert_eq!(run.code, 2, "{run:?}");
}

#[test]
fn a_green_day_is_resynced_only_when_forced() {
    let s = sandbox(&[E1, E2, E3]);
    ok(&s, &["sync", "events", "--day", "2024-08-01"]);
    // A changed and a new event for the synced day.
    write_events(
        &s,
        &[
            ("e1", E1.1, "100"),
            E2,
            E3,
            ("e6", "2024-08-01T12:00:00Z", "6"),
        ],
    );
    let before = s.read("out.csv");
    let run = ok(&s, &["sync", "events", "--day", "2024-08-01"]);
    assert!(run.stdout.contains("already synced"), "{run:?}");
    assert_eq!(
        s.read("out.csv"),
        before,
        "nothing is read or written without --force"
    );

    let run = ok(
        &s,
        &["sync", "events", "--day", "2024-08-01", "--force", "--json"],
    );
    let report = &run.json()[0]["report"];
    assert_eq!(
        (
            report["counts"]["created_b"].as_u64(),
            report["counts"]["updated_b"].as_u64()
        ),
        (Some(1), Some(1)),
        "{run:?}"
    );
    assert_eq!(report["days"][0]["events"], 3);
    let rows = target(&s);
    assert_eq!(rows["e1"], "100");
    assert!(rows.contains_key("e6") && !rows.contains_key("e3"));
    let (days, _) = august(&s);
    assert_eq!(status_of(&days, 1), ("synced", 3));
}

#[test]
fn a_custom_range_syncs_its_days_and_skips_synced_ones() {
    let s = sandbox(&[E1, E2, E3, E4, E5]);
    ok(&s, &["sync", "events", "--day", "2024-08-02"]);
    write_events(&s, &[E1, E2, ("e3", E3.1, "30"), E4, E5]);
    let run = ok(
        &s,
        &[
            "sync",
            "events",
            "--from",
            "2024-08-02",
            "--to",
            "2024-08-06",
        ],
    );
    assert!(
        run.stdout.contains("4 days synced, 1 event saved"),
        "{run:?}"
    );
    let rows = target(&s);
    assert_eq!(rows.keys().collect::<Vec<_>>(), ["e3", "e4"]);
    assert_eq!(
        rows["e3"], "3",
        "the synced day in the range is skipped without --force"
    );
    let (days, cal) = august(&s);
    assert_eq!(status_of(&days, 1), ("not_synced", 0));
    assert_eq!(
        status_of(&days, 2),
        ("stale", 1),
        "its changed event is not applied but shown"
    );
    assert_eq!(
        status_of(&days, 3),
        ("synced", 0),
        "an empty day is synced with Saved: 0"
    );
    assert_eq!(status_of(&days, 5), ("synced", 1));
    assert_eq!(status_of(&days, 7), ("not_synced", 0));
    assert_eq!(
        cal["synced"], 4,
        "the stale day is not counted as synchronized"
    );

    let run = s.tandem(
        &[
            "sync",
            "events",
            "--from",
            "2024-08-06",
            "--to",
            "2024-08-02",
        ],
        &[],
    );
    assert_eq!(run.code, 2, "{run:?}");
    let run = s.tandem(&["sync", "events", "--from", "2024-08-02"], &[]);
    assert_eq!(run.code, 2, "--from needs --to: {run:?}");
}

#[test]
fn a_month_resync_covers_the_whole_past_month_and_nothing_else() {
    let s = sandbox(&[E1, E2, E3, E4, E5, SEPT]);
    ok(&s, &["sync", "events", "--day", "2024-08-02"]);
    write_events(&s, &[E1, E2, ("e3", E3.1, "30"), E4, E5, SEPT]);
    let run = ok(&s, &["sync", "events", "--month", "2024-08"]);
    assert!(
        run.stdout.contains("31 days synced, 5 events saved"),
        "{run:?}"
    );
    let rows = target(&s);
    assert_eq!(
        rows.keys().collect::<Vec<_>>(),
        ["e1", "e2", "e3", "e4", "e5"]
    );
    assert_eq!(rows["e3"], "30", "a month resync implies --force");
    let (days, cal) = august(&s);
    assert!(days.values().all(|(st, _)| st == "synced"));
    assert_eq!(days.values().map(|(_, n)| n).sum::<u64>(), 5);
    assert_eq!(cal["synced"], 31);
    let text = ok(&s, &["calendar", "events", "--month", "2024-08"]);
    assert!(text.stdout.contains("31/31 days synchronized"), "{text:?}");
    assert!(text.stdout.contains("20/08/2024  Saved: 1"), "{text:?}");

    let history = ok(&s, &["history", "events", "--json"]).json();
    let month = &history["runs"][0];
    assert_eq!(
        month["period"],
        serde_json::json!(["2024-08-01", "2024-08-31"])
    );
    assert_eq!(
        (month["saved_days"].as_u64(), month["saved_events"].as_u64()),
        (Some(31), Some(5))
    );

    let run = s.tandem(&["sync", "events", "--month", "2999-01"], &[]);
    assert_eq!(run.code, 2, "a month that has not started: {run:?}");
}

#[test]
fn late_events_make_a_day_stale_and_are_applied_only_when_forced() {
    let s = sandbox(&[E1, E2, E3]);
    ok(&s, &["sync", "events", "--month", "2024-08"]);
    let late = ("e7", "2024-08-02T15:00:00Z", "7");
    write_events(&s, &[E1, E2, E3, late, SEPT]);

    let run = ok(&s, &["sync", "events"]);
    assert!(run.stdout.contains("1 day stale"), "{run:?}");
    let rows = target(&s);
    assert!(!rows.contains_key("e7"), "a late event is not applied");
    assert!(rows.contains_key("s1"), "a new day is");
    let (days, _) = august(&s);
    assert_eq!(
        status_of(&days, 2),
        ("stale", 1),
        "stale keeps its saved count"
    );
    let text = ok(&s, &["calendar", "events", "--month", "2024-08"]);
    assert!(text.stdout.contains("02!"), "{text:?}");

    let status = ok(&s, &["status", "events", "--json"]).json();
    let ledger = &status[0]["ledger"];
    assert_eq!(ledger["stale_days"], serde_json::json!(["2024-08-02"]));
    assert_eq!(ledger["covered"]["from"], "2024-08-01");
    assert_eq!(ledger["covered"]["to"], "2024-09-02");
    assert!(ledger["last_sync"].is_string());
    assert_eq!(ledger["pending"]["how"], "full_read");
    assert_eq!(ledger["pending"]["total"], 0, "{ledger}");

    // Still stale after another plain sync; a forced day resync applies it.
    ok(&s, &["sync", "events"]);
    assert!(!target(&s).contains_key("e7"));
    let run = ok(&s, &["sync", "events", "--day", "2024-08-02", "--force"]);
    assert!(
        run.stdout.contains("1 day synced, 2 events saved"),
        "{run:?}"
    );
    assert_eq!(target(&s)["e7"], "7");
    let (days, _) = august(&s);
    assert_eq!(status_of(&days, 2), ("synced", 2));
}

#[test]
fn status_counts_pending_elements_per_day() {
    let s = sandbox(&[E1, E2, E3, E4, ("e8", "2024-08-05T20:00:00Z", "8"), SEPT]);
    ok(&s, &["sync", "events", "--day", "2024-08-01"]);
    let status = ok(&s, &["status", "events", "--json"]).json();
    let pending = &status[0]["ledger"]["pending"];
    assert_eq!(pending["total"], 4, "{pending}");
    let per_day: Vec<(String, u64)> = pending["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["day"].as_str().unwrap().to_owned(),
                d["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        per_day,
        [
            ("2024-08-02".into(), 1),
            ("2024-08-05".into(), 2),
            ("2024-09-02".into(), 1)
        ]
    );
    let text = ok(&s, &["status", "events"]);
    assert!(
        text.stdout
            .contains("pending: 4 elements to sync on 3 days"),
        "{text:?}"
    );
    assert!(
        text.stdout.contains("covered period: 2024-08-01"),
        "{text:?}"
    );
}

#[test]
fn history_pages_newest_first_and_shows_one_run_in_full() {
    let events: Vec<Event> = (1..=12)
        .map(|d| {
            let id: &'static str = Box::leak(format!("d{d:02}").into_boxed_str());
            let time: &'static str =
                Box::leak(format!("2024-08-{d:02}T10:00:00Z").into_boxed_str());
            (id, time, "1")
        })
        .collect();
    let s = sandbox(&events);
    for d in 1..=12 {
        ok(&s, &["sync", "events", "--day", &format!("2024-08-{d:02}")]);
    }
    let page = ok(
        &s,
        &[
            "history",
            "events",
            "--per-page",
            "10",
            "--page",
            "2",
            "--json",
        ],
    )
    .json();
    assert_eq!(
        (
            page["page"].as_u64(),
            page["total"].as_u64(),
            page["pages"].as_u64()
        ),
        (Some(2), Some(12), Some(2))
    );
    let runs = page["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert!(
        runs[0]["id"].as_i64() > runs[1]["id"].as_i64(),
        "newest first"
    );
    assert_eq!(
        runs[1]["period"],
        serde_json::json!(["2024-08-01", "2024-08-01"])
    );
    let first = ok(&s, &["history", "--per-page", "10", "--json"]).json();
    assert_eq!(first["runs"].as_array().unwrap().len(), 10);
    assert_eq!(
        first["runs"][0]["period"],
        serde_json::json!(["2024-08-12", "2024-08-12"])
    );

    let table = ok(&s, &["history", "events", "--per-page", "20"]);
    for column in [
        "run",
        "pair",
        "trigger",
        "mode",
        "status",
        "period",
        "started",
        "ended",
        "saved days",
        "saved events",
    ] {
        assert!(
            table.stdout.lines().nth(1).unwrap().contains(column),
            "{column}: {table:?}"
        );
    }
    assert!(table.stdout.contains("2024-08-12  "), "{table:?}");
    let run = s.tandem(&["history", "--per-page", "30"], &[]);
    assert_eq!(run.code, 2, "{run:?}");

    // A run with a record whose event time cannot be read: its error names the key.
    let mut more = events.clone();
    more.push(("bad", "not a time", "0"));
    more.push(("d13", "2024-08-13T10:00:00Z", "1"));
    write_events(&s, &more);
    let run = s.tandem(&["sync", "events"], &[]);
    assert_eq!(run.code, 4, "a run with rejected records exits 4: {run:?}");
    let id = ok(&s, &["history", "--per-page", "10", "--json"]).json()["runs"][0]["id"]
        .as_i64()
        .unwrap();
    let shown = ok(&s, &["history", "show", &id.to_string()]);
    for part in [
        "status:  partial",
        "categories:",
        "new",
        "key bad",
        "days:",
        "2024-08-13  synced  1 event",
    ] {
        assert!(shown.stdout.contains(part), "{part}: {shown:?}");
    }
    let json = ok(&s, &["history", "show", &id.to_string(), "--json"]).json();
    assert_eq!(json["errors"][0]["key"], "bad");
    assert_eq!(json["days"][0]["day"], "2024-08-13");
    assert_eq!(json["counts"]["created_b"], 1);
    let missing = s.tandem(&["history", "show", "999"], &[]);
    assert_eq!(missing.code, 1, "{missing:?}");
}

#[test]
fn undo_restores_the_target_and_refuses_over_later_runs_unless_forced() {
    let s = sandbox(&[E1, E2, E3]);
    ok(&s, &["sync", "events", "--day", "2024-08-01"]);
    let after_first = target(&s);
    // Run 2: e1 changed, e2 deleted, e6 new, all on the synced day.
    write_events(
        &s,
        &[("e1", E1.1, "100"), E3, ("e6", "2024-08-01T12:00:00Z", "6")],
    );
    ok(&s, &["sync", "events", "--day", "2024-08-01", "--force"]);
    let after_second = target(&s);
    assert_ne!(after_second, after_first);

    // Run 1 touched e1 and e2, which run 2 changed again.
    let run = s.tandem(&["undo", "1"], &[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("later runs (2)"), "{run:?}");
    assert_eq!(target(&s), after_second, "a refused undo changes nothing");

    let run = ok(&s, &["undo", "2"]);
    assert!(
        run.stdout.contains("run 2 of pair events undone"),
        "{run:?}"
    );
    assert!(
        run.stdout.contains("deleted (the run created them): b e6"),
        "{run:?}"
    );
    assert_eq!(
        target(&s),
        after_first,
        "the target is as it was before run 2"
    );
    let (days, _) = august(&s);
    assert_eq!(
        status_of(&days, 1).0,
        "synced",
        "the day is back as it stood before the undone resync"
    );
    let history = ok(&s, &["history", "--json"]).json();
    assert_eq!(history["runs"][0]["mode"], "undo");
    assert_eq!(history["runs"][0]["status"], "completed");

    // Forced, run 1 is undone over run 2's journal: what it created is gone.
    let run = ok(&s, &["undo", "1", "--force", "--json"]);
    assert_eq!(
        (
            run.json()["undone"].as_i64(),
            run.json()["restored_b"].as_u64()
        ),
        (Some(1), Some(2))
    );
    assert!(target(&s).is_empty(), "{:?}", target(&s));
    let (days, _) = august(&s);
    assert_eq!(
        status_of(&days, 1).0,
        "not_synced",
        "undoing the first sync greys the day"
    );
    let run = s.tandem(&["undo", "999"], &[]);
    assert_eq!(run.code, 1, "{run:?}");
}
