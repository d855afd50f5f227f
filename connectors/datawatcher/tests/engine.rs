//! Data Watcher through the engine, as Panorama uses it: a day ledger pair
//! from the feed (side A) to an in-memory target (side B), with a SQLite
//! state store; and the feed misbehaving: a 429 storm, a token that
//! expires mid-run, the retention horizon, malformed JSON.

mod common;

use std::sync::Arc;
use std::time::Duration;

use jiff::civil::{Date, date};
use serde_json::json;
use tandem_connector_datawatcher::DataWatcherConnector;
use tandem_core::engine::{Endpoint, Engine, LedgerConfig, Mode, PairConfig, Period, RunOptions};
use tandem_core::memory::MemoryConnector;
use tandem_core::store::{DayStatus, RunStatus, Side, StateStore};
use tandem_core::{Error, Source, Value};
use tandem_sim::datawatcher::DataWatcherSim;

struct World {
    sim: DataWatcherSim,
    engine: Engine,
    source: DataWatcherConnector,
    b: MemoryConnector,
    pair: PairConfig,
    _dir: tempfile::TempDir,
}

fn aug(d: i8) -> Date {
    date(2024, 8, d)
}

/// Noon in Rome on a day of August 2024, as the feed writes times.
fn noon(d: i8) -> String {
    format!("2024-08-{d:02}T10:00:00Z")
}

async fn world_with(extra: serde_json::Value) -> World {
    let sim = DataWatcherSim::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("state.db").display());
    let engine = Engine::new(StateStore::open(&url).await.unwrap());
    let source = common::connector(&sim, extra);
    let b = MemoryConnector::from_config(
        "panorama",
        json!({ "entities": { "events": { "key": ["id"] } } }),
    )
    .unwrap();
    let mut pair = PairConfig::new("watcher", "events", "events");
    pair.mode = Mode::Send;
    pair.time_zone = "Europe/Rome".into();
    pair.batch_size = 25;
    pair.ledger = Some(LedgerConfig {
        field: "time".into(),
        time_zone: None,
    });
    World {
        sim,
        engine,
        source,
        b,
        pair,
        _dir: dir,
    }
}

async fn world() -> World {
    world_with(json!({})).await
}

impl World {
    async fn sync(&self, opts: RunOptions) -> tandem_core::Result<tandem_core::engine::RunReport> {
        let a = Endpoint {
            name: "watcher".into(),
            source: Arc::new(self.source.clone()),
            target: None,
        };
        let b = Endpoint::new("panorama", self.b.clone());
        self.engine.run(&self.pair, &a, &b, opts).await
    }

    async fn day(&self, day: Date) -> (DayStatus, u64) {
        let rows = self
            .engine
            .store()
            .ledger("watcher", day, day)
            .await
            .unwrap();
        rows.first()
            .map(|r| (r.status, r.events))
            .unwrap_or((DayStatus::NotSynced, 0))
    }

    fn status_on_b(&self, id: &str) -> Option<Value> {
        self.b.get("events", id)?.get("status").cloned()
    }

    /// Many events on one day.
    fn many(&self, n: usize, d: i8) {
        for i in 0..n {
            common::put(
                &self.sim,
                &format!("m{i:04}"),
                &noon(d),
                "completed",
                json!({"i": i}),
            );
        }
    }

    async fn last_run_status(&self) -> RunStatus {
        let (runs, _) = self
            .engine
            .store()
            .runs(Some("watcher"), 1, 1)
            .await
            .unwrap();
        runs[0].status
    }
}

#[tokio::test]
async fn a_grey_day_syncs_and_a_late_update_makes_it_stale() {
    let w = world().await;
    common::put(&w.sim, "e1", &noon(1), "running", json!({}));
    common::put(&w.sim, "e2", &noon(1), "completed", json!({}));
    common::put(&w.sim, "e3", &noon(2), "completed", json!({}));
    // 23:30 UTC on 31 July is 1 August in Rome: the feed lists it on 31 July.
    common::put(&w.sim, "e0", "2024-07-31T23:30:00Z", "completed", json!({}));

    let r = w
        .sync(RunOptions::new().period(Period::day(aug(1))))
        .await
        .unwrap();
    assert_eq!(
        r.counts.created_b, 3,
        "e0, e1, e2 belong to 1 August in Rome"
    );
    assert!(
        w.b.get("events", "e3").is_none(),
        "another day is not touched"
    );
    assert_eq!(w.day(aug(1)).await, (DayStatus::Synced, 3));
    assert_eq!(w.day(aug(2)).await.0, DayStatus::NotSynced);

    // A plain sync reads the feed and syncs the grey day only.
    w.sync(RunOptions::new()).await.unwrap();
    assert_eq!(w.day(aug(2)).await, (DayStatus::Synced, 1));
    assert_eq!(w.day(aug(1)).await.0, DayStatus::Synced);
    let cursor = w.engine.store().cursor("watcher", Side::A).await.unwrap();
    assert!(cursor.is_some(), "a plain sync stores the feed's cursor");

    // e1 completes later: it reappears with a higher seq.
    common::put(&w.sim, "e1", &noon(1), "completed", json!({}));
    let pending = w.source.pending("events", cursor.as_ref()).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!((pending[0].day, pending[0].count), (aug(1), 1));

    let r = w.sync(RunOptions::new()).await.unwrap();
    assert_eq!(r.counts.updated_b, 0, "a late update is not applied");
    assert_eq!(w.status_on_b("e1"), Some(Value::from("running")));
    assert_eq!(w.day(aug(1)).await.0, DayStatus::Stale);

    let r = w
        .sync(RunOptions::new().period(Period::day(aug(1))).force(true))
        .await
        .unwrap();
    assert_eq!(r.counts.updated_b, 1);
    assert_eq!(w.status_on_b("e1"), Some(Value::from("completed")));
    assert_eq!(w.day(aug(1)).await, (DayStatus::Synced, 3));
}

#[tokio::test]
async fn pending_counts_days_and_the_horizon_is_the_cleaners() {
    let w = world().await;
    for (id, d) in [("a", 1), ("b", 1), ("c", 2), ("d", 3)] {
        common::put(&w.sim, id, &noon(d), "completed", json!({}));
    }
    common::put(&w.sim, "a", &noon(1), "error", json!({}));
    let pending = w.source.pending("events", None).await.unwrap();
    let counts: Vec<(Date, u64)> = pending.iter().map(|p| (p.day, p.count)).collect();
    assert_eq!(
        counts,
        [(aug(1), 2), (aug(2), 1), (aug(3), 1)],
        "an updated event counts once"
    );
    assert_eq!(w.source.horizon("events").await.unwrap(), Some(aug(1)));

    w.sim.clean_before(aug(2));
    assert_eq!(w.source.horizon("events").await.unwrap(), Some(aug(2)));
    let err = w
        .sync(RunOptions::new().period(Period {
            from: aug(1),
            to: aug(3),
        }))
        .await
        .unwrap_err();
    let shown = err.to_string();
    assert!(shown.starts_with("datawatcher: "), "{shown}");
    assert!(shown.contains("retention horizon 2024-08-02"), "{shown}");
    assert_eq!(
        w.day(aug(1)).await.0,
        DayStatus::Failed,
        "marked, not synced as empty"
    );
    assert!(w.b.records("events").is_empty());

    let r = w
        .sync(RunOptions::new().period(Period {
            from: aug(2),
            to: aug(3),
        }))
        .await
        .unwrap();
    assert_eq!(r.counts.created_b, 2);
}

#[tokio::test]
async fn a_429_storm_is_ridden_out() {
    let w = world_with(json!({ "page_size": 10 })).await;
    w.many(120, 5);
    w.sim.faults.retry_after(Some("0.05")).throttle_every(2);
    let r = w.sync(RunOptions::new()).await.unwrap();
    assert_eq!(r.counts.created_b, 120);
    let log = w.sim.faults.log();
    let throttled = log.iter().filter(|s| s.status == 429).count();
    assert!(throttled >= 6, "{throttled} throttled answers");
    for pair in log.windows(2).filter(|p| p[0].status == 429) {
        let gap = pair[1].at - pair[0].at;
        assert!(
            gap >= Duration::from_millis(50),
            "Retry-After not respected: {gap:?}"
        );
    }
}

#[tokio::test]
async fn a_token_that_expires_mid_run_is_renewed() {
    let w = world().await;
    let sim_url = w.sim.url();
    let oauth = json!({
        "url": sim_url,
        "page_size": 10,
        "oauth": {
            "token_url": format!("{sim_url}/contoso/oauth2/v2.0/token"),
            "client_id": tandem_sim::oauth::CLIENT_ID,
            "client_secret": tandem_sim::oauth::CLIENT_SECRET,
            "scope": "api://datawatcher/.default",
        },
    });
    let source = DataWatcherConnector::from_config(oauth)
        .unwrap()
        .with_retry(common::quick_retry());
    let w = World { source, ..w };
    w.many(100, 6);
    w.sim.tokens.max_uses(Some(4));
    let r = w.sync(RunOptions::new()).await.unwrap();
    assert_eq!(r.counts.created_b, 100);
    assert!(w.sim.tokens.issued() >= 3, "tokens were renewed");
    assert_eq!(
        w.sim.tokens.refused() as u64,
        w.sim.tokens.issued() - 1,
        "each expiry cost one refused request and one new token"
    );
}

#[tokio::test]
async fn a_bad_static_token_fails_clearly() {
    let w = world().await;
    let source =
        DataWatcherConnector::from_config(json!({ "url": w.sim.url(), "token": "wrong" })).unwrap();
    let w = World { source, ..w };
    common::put(&w.sim, "e1", &noon(1), "completed", json!({}));
    let err = w.sync(RunOptions::new()).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Remote {
                status: Some(401),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("missing or invalid bearer token"),
        "{err}"
    );
    assert!(!err.to_string().contains("wrong"), "{err}");
}

#[tokio::test]
async fn malformed_json_fails_the_run_and_applies_nothing() {
    let w = world_with(json!({ "page_size": 10 })).await;
    w.many(80, 7);
    // The day listing and three pages read fine, then a page is cut short.
    w.sim.faults.malformed_after(4, 1);
    let err = w.sync(RunOptions::new()).await.unwrap_err();
    let shown = err.to_string();
    assert!(
        shown.starts_with("datawatcher: reading the events of 2024-08-07 after seq 30: the response is not valid: "),
        "{shown}"
    );
    assert!(shown.contains("(request id "), "{shown}");
    assert_eq!(w.last_run_status().await, RunStatus::Error);
    assert!(w.b.records("events").is_empty(), "nothing applied");
    assert!(
        w.engine
            .store()
            .cursor("watcher", Side::A)
            .await
            .unwrap()
            .is_none()
    );

    let r = w.sync(RunOptions::new()).await.unwrap();
    assert_eq!(r.counts.created_b, 80, "the next run does it all");
}
