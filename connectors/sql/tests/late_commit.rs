//! The cursor column never skips a change that commits late: a
//! transaction that stamps its rows before another commits (PostgreSQL's
//! `now()` is the time the transaction began), or a writer whose stamp is
//! older than rows already read, or one in the same instant, is read by the
//! next incremental read, which reads again its lookback window and
//! reports no row twice. Rows of the window beyond what the cursor
//! remembers are reported again, and the engine finds them unchanged.

mod common;

use std::collections::BTreeMap;

use common::{ALL, Kind, Place};
use futures::TryStreamExt;
use sea_orm::{ConnectionTrait, TransactionTrait};
use serde_json::json;
use tandem_connector_sql::SqlConnector;
use tandem_core::engine::{Endpoint, Engine, Mode, PairConfig, RunOptions};
use tandem_core::memory::MemoryConnector;
use tandem_core::store::StateStore;
use tandem_core::{Batch, Change, Cursor, ReadRequest, Source, Value};

/// The changes of a read and its cursor.
async fn read(c: &SqlConnector, request: ReadRequest) -> (Vec<Change>, Cursor) {
    let batches: Vec<Batch> = c.read(request).await.unwrap().try_collect().await.unwrap();
    let cursor = batches
        .last()
        .and_then(|b| b.cursor.clone())
        .expect("the last batch has a cursor");
    (
        batches.into_iter().flat_map(|b| b.changes).collect(),
        cursor,
    )
}

async fn since(c: &SqlConnector, cursor: Cursor) -> (Vec<Change>, Cursor) {
    read(c, ReadRequest::since("events", cursor).with_batch_size(2)).await
}

/// The name each change carries, by key, checked to appear once each.
fn names(changes: &[Change]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for c in changes {
        let name = match c {
            Change::Upsert(r) => match r.get("name") {
                Some(Value::Text(s)) => s.to_string(),
                other => format!("{other:?}"),
            },
            Change::Delete { .. } => "deleted".into(),
        };
        let key = c.key().as_str().to_owned();
        assert!(out.insert(key.clone(), name).is_none(), "{key} read twice");
    }
    out
}

fn expect(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

async fn events_table(place: &Place) -> SqlConnector {
    let (key, ts) = (place.text_key(), place.timestamp());
    place
        .exec(&format!(
            "CREATE TABLE {{t}}events (id {key} PRIMARY KEY, name TEXT, updated_at {ts})"
        ))
        .await;
    place.connector(json!({ "table": { "events": { "cursor": "updated_at" } } }))
}

#[tokio::test]
async fn a_transaction_committed_after_a_read_with_an_older_stamp_is_read() {
    for kind in [Kind::Postgres, Kind::MySql] {
        let Some(place) = Place::new(kind, "late commit").await else {
            continue;
        };
        let c = events_table(&place).await;
        // Stamped by the database: PostgreSQL's `now()` is when the
        // transaction began.
        let stamp = match kind {
            Kind::Postgres => "now()",
            _ => "UTC_TIMESTAMP(6)",
        };
        place
            .exec(&format!(
                "INSERT INTO {{t}}events (id, name, updated_at) VALUES ('k1', 'first', {stamp}), ('k2', 'first', {stamp})"
            ))
            .await;
        let (_, cursor) = read(&c, ReadRequest::full("events")).await;

        // A writer stamps an update and a new row, and commits only after
        // another writer's later change was read.
        let late = place.admin.begin().await.unwrap();
        let t = |sql: String| sql.replace("{t}", &format!("{}.", schema_of(&place)));
        for sql in [
            format!("UPDATE {{t}}events SET name = 'late', updated_at = {stamp} WHERE id = 'k1'"),
            format!(
                "INSERT INTO {{t}}events (id, name, updated_at) VALUES ('k0', 'late new', {stamp})"
            ),
        ] {
            late.execute_unprepared(&t(sql)).await.unwrap();
        }
        place
            .exec(&format!(
                "UPDATE {{t}}events SET name = 'second', updated_at = {stamp} WHERE id = 'k2'"
            ))
            .await;
        let (changes, cursor) = since(&c, cursor).await;
        assert_eq!(names(&changes), expect(&[("k2", "second")]), "{kind:?}");
        late.commit().await.unwrap();

        let (changes, next) = since(&c, cursor.clone()).await;
        assert_eq!(
            names(&changes),
            expect(&[("k0", "late new"), ("k1", "late")]),
            "{kind:?}: the late transaction's rows are read"
        );
        let (again, _) = since(&c, cursor).await;
        assert_eq!(again, changes, "{kind:?}: reading again yields the same");
        let (none, _) = since(&c, next).await;
        assert!(none.is_empty(), "{kind:?}: nothing is read twice: {none:?}");
        place.drop_all().await;
    }
}

/// The schema (PostgreSQL) or database (MySQL) of a place.
fn schema_of(place: &Place) -> String {
    place.base["schema"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| {
            let url = place.base["url"].as_str().unwrap();
            url.rsplit('/').next().unwrap().to_owned()
        })
}

#[tokio::test]
async fn rows_stamped_at_or_before_rows_already_read_are_read() {
    for kind in ALL {
        let Some(place) = Place::new(kind, "older stamps").await else {
            continue;
        };
        let c = events_table(&place).await;
        place
            .exec(
                "INSERT INTO {t}events (id, name, updated_at) VALUES ('k1', 'first', '2024-01-01 10:00:00'), \
                 ('k2', 'first', '2024-01-01 10:00:00'), ('k3', 'first', '2024-01-01 10:00:00')",
            )
            .await;
        let (_, cursor) = read(&c, ReadRequest::full("events")).await;

        // Committed after the read: a row with a key before the last one
        // read and the same stamp, a change of content that kept its
        // stamp (second precision), and a row stamped by a clock five
        // minutes behind.
        place
            .exec(
                "INSERT INTO {t}events (id, name, updated_at) VALUES ('a', 'same instant', '2024-01-01 10:00:00'), \
                 ('late', 'older stamp', '2024-01-01 09:55:00')",
            )
            .await;
        place
            .exec("UPDATE {t}events SET name = 'same stamp' WHERE id = 'k2'")
            .await;
        let (changes, next) = since(&c, cursor).await;
        assert_eq!(
            names(&changes),
            expect(&[
                ("a", "same instant"),
                ("k2", "same stamp"),
                ("late", "older stamp")
            ]),
            "{kind:?}"
        );
        let (none, _) = since(&c, next).await;
        assert!(none.is_empty(), "{kind:?}: nothing is read twice: {none:?}");
        place.drop_all().await;
    }
}

#[tokio::test]
async fn rows_beyond_what_the_cursor_remembers_are_read_again_and_change_nothing() {
    let Some(place) = Place::new(Kind::Sqlite, "window beyond memory").await else {
        return;
    };
    let c = events_table(&place).await;
    // 50 rows more than a cursor remembers, all stamped now.
    let rows: u64 = 10_050;
    place
        .exec(&format!(
            "INSERT INTO events (id, name, updated_at) \
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows}) \
             SELECT printf('k%05d', i), 'n', strftime('%Y-%m-%d %H:%M:%f', 'now') FROM n"
        ))
        .await;
    let (_, cursor) = read(&c, ReadRequest::full("events")).await;
    let (again, _) = read(&c, ReadRequest::since("events", cursor)).await;
    assert_eq!(again.len(), 50, "the rows the cursor forgot are read again");

    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}", dir.path().join("state.db").display());
    let engine = Engine::new(StateStore::open(&store).await.unwrap());
    let other = MemoryConnector::from_config(
        "other",
        json!({ "entities": { "events": { "key": ["id"] } } }),
    )
    .unwrap();
    let mut pair = PairConfig::new("events", "events", "events");
    pair.mode = Mode::Send;
    let a = Endpoint::new("sql", c.clone());
    let b = Endpoint::new("other", other.clone());
    let first = engine.run(&pair, &a, &b, RunOptions::new()).await.unwrap();
    assert_eq!(first.counts.created_b, rows, "{:?}", first.counts);
    let second = engine.run(&pair, &a, &b, RunOptions::new()).await.unwrap();
    let n = &second.counts;
    assert_eq!(
        (n.created_b, n.updated_b, n.deleted_b, n.changed_a),
        (0, 0, 0, 0),
        "rows read again are unchanged: {n:?}"
    );
    assert_eq!(other.records("events").len(), rows as usize);
}
