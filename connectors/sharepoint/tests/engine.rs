//! SharePoint through the engine, paired with the in-memory connector
//! (SQLite state store in a temporary folder; the file connector cannot be
//! linked beside another connector in one test binary, as both export the
//! plugin descriptor), and Graph misbehaving: an expired delta
//! token (410 resyncRequired), a 429 storm, a token that expires mid-run,
//! malformed JSON, an item changed while a run writes it.

mod common;

use std::time::Duration;

use futures::TryStreamExt;
use serde_json::json;
use tandem_connector_sharepoint::SharePointConnector;
use tandem_core::engine::{Endpoint, Engine, Mode, PairConfig, RunOptions};
use tandem_core::memory::MemoryConnector;
use tandem_core::store::{RunStatus, Side, StateStore};
use tandem_core::{Change, Error, ReadRequest, ResolverKind, Source, Target, Value};
use tandem_sim::graph::GraphSim;

use common::{LIST, SITE, customer};

struct World {
    sim: GraphSim,
    engine: Engine,
    list: SharePointConnector,
    other: MemoryConnector,
    pair: PairConfig,
    _dir: tempfile::TempDir,
}

async fn world_with(extra: serde_json::Value) -> World {
    let sim = common::sim().await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("state.db").display());
    let engine = Engine::new(StateStore::open(&url).await.unwrap());
    let mut settings = json!({ "fields": ["Code", "Title", "Country"], "page_size": 10 });
    if let (Some(s), serde_json::Value::Object(extra)) = (settings.as_object_mut(), extra) {
        s.extend(extra);
    }
    let list = common::connector(&sim, settings);
    let other = MemoryConnector::from_config(
        "other",
        json!({ "entities": { "customers": { "key": ["Code"] } } }),
    )
    .unwrap();
    let mut pair = PairConfig::new("customers", LIST, "customers");
    pair.mode = Mode::Send;
    pair.max_delete = 100.0;
    World {
        sim,
        engine,
        list,
        other,
        pair,
        _dir: dir,
    }
}

async fn world() -> World {
    world_with(json!({})).await
}

impl World {
    async fn sync(&self) -> tandem_core::Result<tandem_core::engine::RunReport> {
        let a = Endpoint::new("customers_list", self.list.clone());
        let b = Endpoint::new("other", self.other.clone());
        self.engine.run(&self.pair, &a, &b, RunOptions::new()).await
    }

    /// The other side's records as `Code,Title,Country` lines.
    fn csv_text(&self) -> String {
        let text =
            |r: &tandem_core::Record, f: &str| r.get(f).map(|v| v.to_string()).unwrap_or_default();
        self.other
            .records("customers")
            .iter()
            .map(|r| {
                format!(
                    "{},{},{}\n",
                    text(r, "Code"),
                    text(r, "Title"),
                    text(r, "Country")
                )
            })
            .collect()
    }

    fn many(&self, n: usize) {
        for i in 0..n {
            customer(
                &self.sim,
                &format!("M{i:03}"),
                &format!("Customer {i}"),
                "DK",
            );
        }
    }

    async fn last_run_status(&self) -> RunStatus {
        let (runs, _) = self
            .engine
            .store()
            .runs(Some("customers"), 1, 1)
            .await
            .unwrap();
        runs[0].status
    }
}

#[tokio::test]
async fn resync_required_reads_in_full_and_reconciles() {
    let w = world().await;
    let c1 = customer(&w.sim, "C001", "Nordlys", "DK");
    let c2 = customer(&w.sim, "C002", "Fjord", "NO");
    customer(&w.sim, "C003", "Sakura", "JP");
    w.sync().await.unwrap();
    assert!(w.csv_text().contains("C002,Fjord,NO"), "{}", w.csv_text());
    assert!(
        w.engine
            .store()
            .cursor("customers", Side::A)
            .await
            .unwrap()
            .is_some()
    );

    w.sim
        .update_item(SITE, LIST, &c1, json!({ "Title": "Nordlys ApS" }));
    w.sim.delete_item(SITE, LIST, &c2);
    customer(&w.sim, "C004", "Alpen", "AT");
    w.sim.expire_delta_tokens();
    let r = w.sync().await.unwrap();
    assert_eq!(w.sim.faults.count(410), 1, "the delta token had expired");
    assert_eq!(
        (r.counts.created_b, r.counts.updated_b, r.counts.deleted_b),
        (1, 1, 1)
    );
    let text = w.csv_text();
    assert!(text.contains("C001,Nordlys ApS,DK"), "{text}");
    assert!(
        !text.contains("C002"),
        "the delete no cursor reported is reconciled: {text}"
    );
    assert!(text.contains("C004,Alpen,AT"), "{text}");

    // The full read left a fresh cursor: incremental again.
    customer(&w.sim, "C005", "Tundra", "FI");
    let r = w.sync().await.unwrap();
    assert_eq!(r.counts.created_b, 1);
    assert_eq!(w.sim.faults.count(410), 1);
}

#[tokio::test]
async fn deltas_report_the_last_occurrence_and_deletes() {
    let w = world().await;
    let c1 = customer(&w.sim, "C001", "Nordlys", "DK");
    let c2 = customer(&w.sim, "C002", "Fjord", "NO");
    let c3 = customer(&w.sim, "C003", "Sakura", "JP");
    let read = |r: ReadRequest| {
        let list = w.list.clone();
        async move {
            let batches: Vec<_> = list.read(r).await.unwrap().try_collect().await.unwrap();
            let cursor = batches.last().and_then(|b| b.cursor.clone()).unwrap();
            let changes: Vec<Change> = batches.into_iter().flat_map(|b| b.changes).collect();
            (changes, cursor)
        }
    };
    let (_, cursor) = read(ReadRequest::full(LIST)).await;
    w.sim
        .update_item(SITE, LIST, &c1, json!({ "Title": "first" }));
    w.sim
        .update_item(SITE, LIST, &c1, json!({ "Title": "second" }));
    w.sim.delete_item(SITE, LIST, &c2);
    w.sim
        .update_item(SITE, LIST, &c3, json!({ "Code": "C033" }));
    let gone = customer(&w.sim, "C009", "Short-lived", "SE");
    w.sim.delete_item(SITE, LIST, &gone);

    let (changes, _) = read(ReadRequest::since(LIST, cursor)).await;
    let shown: Vec<String> = changes
        .iter()
        .map(|c| match c {
            Change::Upsert(r) => format!("upsert {} {}", r.key, r.get("Title").unwrap()),
            Change::Delete { key, .. } => format!("delete {key}"),
        })
        .collect();
    assert_eq!(
        shown,
        [
            "upsert C001 second",
            "delete C002",
            "delete C003",
            "upsert C033 Sakura"
        ],
        "the last occurrence of an item wins; a new code is a delete and an upsert"
    );
}

#[tokio::test]
async fn a_429_storm_is_ridden_out() {
    let w = world().await;
    w.many(60);
    w.sim.faults.retry_after(Some("0.2")).throttle_every(3);
    let r = w.sync().await.unwrap();
    assert_eq!(r.counts.created_b, 60);
    let log = w.sim.faults.log();
    let throttled = log.iter().filter(|s| s.status == 429).count();
    assert!(throttled >= 2, "{throttled} throttled answers");
    for pair in log.windows(2).filter(|p| p[0].status == 429) {
        let gap = pair[1].at - pair[0].at;
        assert!(
            gap >= Duration::from_millis(200),
            "Retry-After not respected: {gap:?}"
        );
    }
}

#[tokio::test]
async fn a_token_that_expires_mid_run_is_renewed() {
    let w = world().await;
    w.many(60);
    w.sim.tokens.max_uses(Some(3));
    let r = w.sync().await.unwrap();
    assert_eq!(r.counts.created_b, 60);
    assert!(
        w.sim.tokens.issued() >= 3,
        "{} tokens",
        w.sim.tokens.issued()
    );
    assert_eq!(w.sim.tokens.refused(), w.sim.tokens.issued() - 1);
}

#[tokio::test]
async fn malformed_json_fails_the_run_and_applies_nothing() {
    let w = world().await;
    w.many(60);
    // The delta link and two pages read fine, then a page is cut short.
    w.sim.faults.malformed_after(3, 1);
    let err = w.sync().await.unwrap_err();
    let shown = err.to_string();
    assert!(
        shown.starts_with(
            "sharepoint: reading the items of list Customers: the response is not valid: "
        ),
        "{shown}"
    );
    assert!(shown.contains("(request id "), "{shown}");
    assert_eq!(w.last_run_status().await, RunStatus::Error);
    assert!(!w.csv_text().contains("M000"), "nothing applied");
    let r = w.sync().await.unwrap();
    assert_eq!(r.counts.created_b, 60, "the next run does it all");
}

#[tokio::test]
async fn an_item_changed_meanwhile_is_not_overwritten() {
    let w = world().await;
    let id = customer(&w.sim, "C001", "Nordlys", "DK");
    let mut tx = w.list.begin(LIST).await.unwrap();
    let record = tandem_core::Record::new("C001")
        .with("Code", "C001")
        .with("Title", "from the sync");
    tx.apply(vec![Change::Upsert(record)]).await.unwrap();
    w.sim
        .update_item(SITE, LIST, &id, json!({ "Title": "by a person" }));
    let err = tx.commit().await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Remote {
                status: Some(412),
                ..
            }
        ),
        "{err:?}"
    );
    let shown = err.to_string();
    assert!(
        shown.contains("list Customers, item 1 (key C001)"),
        "{shown}"
    );
    assert!(shown.contains("eTag"), "{shown}");
    assert_eq!(w.sim.items(SITE, LIST)[0]["Title"], "by a person");
}

#[tokio::test]
async fn two_way_with_newest_wins() {
    let mut w = world().await;
    w.pair.mode = Mode::TwoWay;
    w.pair.resolver = ResolverKind::Newest;
    let id = customer(&w.sim, "C001", "Nordlys", "DK");
    w.other.put(
        "customers",
        tandem_core::Record::new("C100")
            .with("Code", "C100")
            .with("Title", "Made on the other side")
            .with("Country", "SE"),
    );
    let r = w.sync().await.unwrap();
    assert_eq!((r.counts.created_a, r.counts.created_b), (1, 1));
    let items = w.sim.items(SITE, LIST);
    assert!(
        items
            .iter()
            .any(|i| i["Code"] == "C100" && i["Title"] == "Made on the other side")
    );

    // A conflict: both sides change C001; the SharePoint edit is newer.
    let an_hour_ago = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1);
    w.other.put(
        "customers",
        tandem_core::Record::new("C001")
            .with("Code", "C001")
            .with("Title", "older edit")
            .with("Country", "DK")
            .modified_at(an_hour_ago),
    );
    w.sim.update_item(
        SITE,
        LIST,
        &id,
        json!({ "Title": "newer edit", "Country": "FO" }),
    );
    let r = w.sync().await.unwrap();
    assert_eq!(r.counts.updated_b, 1, "{r:?}");
    assert!(
        w.csv_text().contains("C001,newer edit,FO"),
        "{}",
        w.csv_text()
    );
    assert_eq!(w.sim.items(SITE, LIST)[0]["Title"], "newer edit");
    let fetched = w
        .list
        .fetch(LIST, &["C100".into(), "nope".into()])
        .await
        .unwrap();
    assert_eq!(fetched.len(), 1);
    assert_eq!(fetched[0].get("Country"), Some(&Value::from("SE")));
}
