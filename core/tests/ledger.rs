//! The day ledger, history, stop and undo, as Panorama users rely on them,
//! on the in-memory connector and the SQLite state store.

use std::sync::Arc;

use jiff::civil::{Date, date};
use tandem_core::engine::{
    Endpoint, Engine, LedgerConfig, Mode, PairConfig, Period, RunOptions, StopSignal,
};
use tandem_core::memory::MemoryConnector;
use tandem_core::store::{DayStatus, RunStatus, StateStore};
use tandem_core::{Error, Record, Value};

struct World {
    engine: Engine,
    a: MemoryConnector,
    b: MemoryConnector,
    ea: Endpoint,
    eb: Endpoint,
    pair: PairConfig,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(&format!("sqlite://{}", dir.path().join("t.db").display()))
        .await
        .unwrap();
    let config = serde_json::json!({ "entities": { "events": { "key": ["id"] } } });
    let a = MemoryConnector::from_config("watcher", config.clone()).unwrap();
    let b = MemoryConnector::from_config("panorama", config).unwrap();
    let mut pair = PairConfig::new("events", "events", "events");
    pair.mode = Mode::Send;
    pair.max_delete = 100.0;
    pair.time_zone = "Europe/Rome".into();
    pair.ledger = Some(LedgerConfig {
        field: "time".into(),
        time_zone: None,
    });
    World {
        engine: Engine::new(store),
        ea: Endpoint::new("watcher", a.clone()),
        eb: Endpoint::new("panorama", b.clone()),
        a,
        b,
        pair,
        _dir: dir,
    }
}

impl World {
    /// An event at noon (Rome) on a day.
    fn event(&self, id: &str, day: Date, value: i64) {
        let at = day
            .at(12, 0, 0, 0)
            .to_zoned(jiff::tz::TimeZone::get("Europe/Rome").unwrap())
            .unwrap()
            .timestamp();
        self.a.put(
            "events",
            Record::new(id)
                .with("id", id)
                .with("time", Value::DateTime(at))
                .with("value", value),
        );
    }

    async fn sync(&self, opts: RunOptions) -> tandem_core::Result<tandem_core::engine::RunReport> {
        self.engine.run(&self.pair, &self.ea, &self.eb, opts).await
    }

    async fn day(&self, day: Date) -> (DayStatus, u64) {
        let rows = self
            .engine
            .store()
            .ledger("events", day, day)
            .await
            .unwrap();
        rows.first()
            .map(|r| (r.status, r.events))
            .unwrap_or((DayStatus::NotSynced, 0))
    }

    fn on_b(&self, id: &str) -> Option<Record> {
        self.b.get("events", id)
    }
}

fn aug(d: i8) -> Date {
    date(2024, 8, d)
}

#[tokio::test]
async fn a_grey_day_is_synced_on_its_own() {
    let w = world().await;
    w.event("e1", aug(1), 1);
    w.event("e2", aug(1), 2);
    w.event("e3", aug(2), 3);
    let r = w
        .sync(RunOptions::new().period(Period::day(aug(1))))
        .await
        .unwrap();
    assert_eq!(r.counts.created_b, 2);
    assert!(w.on_b("e3").is_none(), "another day is not touched");
    assert_eq!(w.day(aug(1)).await, (DayStatus::Synced, 2));
    assert_eq!(w.day(aug(2)).await.0, DayStatus::NotSynced);
    let run = w
        .engine
        .store()
        .run(r.run_id.unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (run.saved_days, run.saved_events, run.period),
        (1, 2, Some((aug(1), aug(1))))
    );
}

#[tokio::test]
async fn days_follow_the_pairs_time_zone() {
    let w = world().await;
    // 23:30 UTC on 31 July is already 1 August in Rome.
    let at: jiff::Timestamp = "2024-07-31T23:30:00Z".parse().unwrap();
    w.a.put(
        "events",
        Record::new("late")
            .with("id", "late")
            .with("time", Value::DateTime(at)),
    );
    w.sync(RunOptions::new().period(Period::day(aug(1))))
        .await
        .unwrap();
    assert!(w.on_b("late").is_some());
    assert_eq!(w.day(aug(1)).await, (DayStatus::Synced, 1));
}

#[tokio::test]
async fn a_synced_day_is_not_read_again_without_force_and_late_events_make_it_stale() {
    let w = world().await;
    w.event("e1", aug(1), 1);
    w.sync(RunOptions::new().period(Period::day(aug(1))))
        .await
        .unwrap();
    let (_, before) = w.engine.store().runs(Some("events"), 1, 10).await.unwrap();

    // Asking again changes nothing and records no run.
    let r = w
        .sync(RunOptions::new().period(Period::day(aug(1))))
        .await
        .unwrap();
    assert!(r.run_id.is_none());
    assert!(
        r.days[0]
            .note
            .as_deref()
            .unwrap()
            .contains("already synced")
    );
    assert_eq!(
        w.engine
            .store()
            .runs(Some("events"), 1, 10)
            .await
            .unwrap()
            .1,
        before
    );

    // A late event for the synced day, and a new day: the plain sync applies
    // the new day and only marks the synced one stale.
    w.event("late", aug(1), 9);
    w.a.put(
        "events",
        Record::new("e1")
            .with("id", "e1")
            .with(
                "time",
                w.a.get("events", "e1")
                    .unwrap()
                    .get("time")
                    .unwrap()
                    .clone(),
            )
            .with("value", 100),
    );
    w.event("e2", aug(2), 2);
    let r = w.sync(RunOptions::new()).await.unwrap();
    assert!(w.on_b("late").is_none(), "late events are not applied");
    assert_eq!(
        w.on_b("e1").unwrap().get("value"),
        Some(&Value::Int(1)),
        "nor are late changes"
    );
    assert!(w.on_b("e2").is_some());
    assert_eq!(
        w.day(aug(1)).await,
        (DayStatus::Stale, 1),
        "stale keeps the saved count"
    );
    assert_eq!(w.day(aug(2)).await, (DayStatus::Synced, 1));
    assert!(
        r.days
            .iter()
            .any(|d| d.day == aug(1) && d.status == DayStatus::Stale)
    );

    // Still stale on the next plain sync; a forced resync applies it.
    w.sync(RunOptions::new()).await.unwrap();
    assert_eq!(w.day(aug(1)).await.0, DayStatus::Stale);
    let r = w
        .sync(RunOptions::new().period(Period::day(aug(1))).force(true))
        .await
        .unwrap();
    assert_eq!((r.counts.created_b, r.counts.updated_b), (1, 1));
    assert_eq!(w.on_b("e1").unwrap().get("value"), Some(&Value::Int(100)));
    assert_eq!(w.day(aug(1)).await, (DayStatus::Synced, 2));
}

#[tokio::test]
async fn a_month_resync_covers_every_day_and_a_custom_range_its_days() {
    let w = world().await;
    for d in [1, 5, 20] {
        w.event(&format!("e{d}"), aug(d), d.into());
    }
    let r = w
        .sync(RunOptions::new().period(Period {
            from: aug(3),
            to: aug(6),
        }))
        .await
        .unwrap();
    assert_eq!(r.counts.created_b, 1, "the custom range holds one event");
    assert_eq!(w.day(aug(5)).await, (DayStatus::Synced, 1));
    assert_eq!(
        w.day(aug(4)).await,
        (DayStatus::Synced, 0),
        "an empty day is synced with Saved: 0"
    );
    assert_eq!(w.day(aug(1)).await.0, DayStatus::NotSynced);

    let r = w
        .sync(
            RunOptions::new()
                .period(Period {
                    from: aug(1),
                    to: aug(31),
                })
                .force(true),
        )
        .await
        .unwrap();
    assert_eq!(r.counts.created_b, 2);
    let ledger = w
        .engine
        .store()
        .ledger("events", aug(1), aug(31))
        .await
        .unwrap();
    assert_eq!(ledger.len(), 31);
    assert!(ledger.iter().all(|d| d.status == DayStatus::Synced));
    assert_eq!(ledger.iter().map(|d| d.events).sum::<u64>(), 3);
}

#[tokio::test]
async fn history_pages_newest_first() {
    let w = world().await;
    for d in 1..=25 {
        w.event(&format!("e{d}"), aug(d), 1);
        w.sync(RunOptions::new().period(Period::day(aug(d))))
            .await
            .unwrap();
    }
    let (page1, total) = w.engine.store().runs(Some("events"), 1, 10).await.unwrap();
    let (page3, _) = w.engine.store().runs(Some("events"), 3, 10).await.unwrap();
    assert_eq!((total, page1.len(), page3.len()), (25, 10, 5));
    assert!(page1.windows(2).all(|w| w[0].id > w[1].id));
    assert_eq!(page1[0].period, Some((aug(25), aug(25))));
    assert_eq!(page3.last().unwrap().period, Some((aug(1), aug(1))));
}

#[tokio::test]
async fn a_stop_rolls_the_target_back_and_records_stopped() {
    let mut w = world().await;
    w.pair.batch_size = 100;
    for i in 0..5000 {
        w.event(&format!("e{i:05}"), aug(1 + (i % 28) as i8), i);
    }
    let stop = StopSignal::default();
    let signal = stop.clone();
    let progress: tandem_core::engine::ProgressFn = Arc::new(move |p| {
        if p.read_a >= 2000 {
            signal.stop();
        }
    });
    let err = w
        .sync(RunOptions::new().stop(stop).progress(progress))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Stopped { .. }), "{err}");
    assert!(w.b.records("events").is_empty(), "the target is as before");
    let (runs, _) = w.engine.store().runs(Some("events"), 1, 1).await.unwrap();
    assert_eq!(runs[0].status, RunStatus::Stopped);
    assert!(
        w.engine
            .store()
            .ledger("events", aug(1), aug(31))
            .await
            .unwrap()
            .is_empty(),
        "no day is marked synced"
    );
    let r = w.sync(RunOptions::new()).await.unwrap();
    assert_eq!(r.counts.created_b, 5000, "the next run does it all");
}

#[tokio::test]
async fn undo_restores_the_target_and_refuses_over_later_runs() {
    let mut w = world().await;
    w.pair.ledger = None;
    for i in 1..=3 {
        w.event(&format!("e{i}"), aug(1), i);
    }
    let first = w.sync(RunOptions::new()).await.unwrap().run_id.unwrap();
    w.event("e1", aug(1), 100);
    w.event("e4", aug(1), 4);
    w.a.remove("events", "e2");
    let second = w.sync(RunOptions::new()).await.unwrap().run_id.unwrap();
    let after_second = w.b.records("events");

    let err = w
        .engine
        .undo(&w.pair, &w.ea, &w.eb, first, false)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains(&format!("later runs ({second})")),
        "{err}"
    );

    let report = w
        .engine
        .undo(&w.pair, &w.ea, &w.eb, second, false)
        .await
        .unwrap();
    assert_eq!(report.restored[1], 3);
    assert_eq!(w.on_b("e1").unwrap().get("value"), Some(&Value::Int(1)));
    assert!(w.on_b("e2").is_some(), "the deleted record is back");
    assert!(w.on_b("e4").is_none(), "the created record is gone");
    assert_ne!(w.b.records("events"), after_second);
    let undo = w.engine.store().run(report.run_id).await.unwrap().unwrap();
    assert_eq!(
        (undo.mode.as_str(), undo.status),
        ("undo", RunStatus::Completed)
    );
    assert!(undo.errors.is_empty());

    // As if run 2 never happened: the next sync brings its changes again,
    // deletes included, and the target matches the source.
    let r = w.sync(RunOptions::new()).await.unwrap();
    assert_eq!(
        (r.counts.updated_b, r.counts.created_b, r.counts.deleted_b),
        (1, 1, 1)
    );
    assert_eq!(w.b.records("events"), w.a.records("events"));
    // A run is undone once; the undone run no longer blocks earlier ones.
    let err = w
        .engine
        .undo(&w.pair, &w.ea, &w.eb, second, false)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("nothing to undo"), "{err}");
}

#[tokio::test]
async fn undoing_a_forced_resync_puts_the_days_back_as_they_were() {
    let w = world().await;
    w.event("e1", aug(1), 1);
    w.event("e2", aug(2), 2);
    w.sync(RunOptions::new().period(Period::day(aug(1))))
        .await
        .unwrap();
    let month = w
        .sync(
            RunOptions::new()
                .period(Period {
                    from: aug(1),
                    to: aug(31),
                })
                .force(true),
        )
        .await
        .unwrap()
        .run_id
        .unwrap();
    assert_eq!(w.day(aug(2)).await.0, DayStatus::Synced);
    w.engine
        .undo(&w.pair, &w.ea, &w.eb, month, false)
        .await
        .unwrap();
    assert_eq!(
        w.day(aug(1)).await,
        (DayStatus::Synced, 1),
        "synced before the month run"
    );
    assert_eq!(w.day(aug(2)).await.0, DayStatus::NotSynced);
    assert!(w.on_b("e1").is_some() && w.on_b("e2").is_none());
}

#[tokio::test]
async fn held_records_are_counted_in_a_category() {
    let w = world().await;
    w.event("e1", aug(1), 1);
    w.event("e2", aug(1), 2);
    w.sync(RunOptions::new().period(Period::day(aug(1))))
        .await
        .unwrap();
    w.event("e2", aug(1), 20);
    let r = w.sync(RunOptions::new()).await.unwrap();
    assert_eq!((r.counts.synchronized, r.counts.changed_a), (1, 1));
}
