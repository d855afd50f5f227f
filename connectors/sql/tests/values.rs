//! Values keep their types on every database, both in tables the
//! application made and in tables the connector creates; a value that does
//! not fit its column fails the batch, naming where, and writes nothing.

mod common;

use common::{ALL, Place};
use futures::TryStreamExt;
use serde_json::json;
use tandem_connector_sql::SqlConnector;
use tandem_core::{Batch, Change, Error, FieldType, ReadRequest, Record, Source, Target, Value};

async fn read_all(c: &SqlConnector, entity: &str) -> Vec<Record> {
    let batches: Vec<Batch> = c
        .read(ReadRequest::full(entity))
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    batches
        .into_iter()
        .flat_map(|b| b.changes)
        .map(|c| match c {
            Change::Upsert(r) => r,
            other => panic!("a full read yields upserts: {other:?}"),
        })
        .collect()
}

async fn write(c: &SqlConnector, entity: &str, changes: Vec<Change>) -> tandem_core::Result<()> {
    let mut tx = c.begin(entity).await?;
    match tx.apply(changes).await {
        Ok(_) => tx.commit().await,
        Err(e) => {
            tx.rollback().await?;
            Err(e)
        }
    }
}

fn typed_records() -> Vec<Record> {
    let at: jiff::Timestamp = "2024-03-01T10:00:00.123456Z".parse().unwrap();
    vec![
        Record::new("1")
            .with("id", 1)
            .with("price", Value::Decimal("12345.6789".into()))
            .with("at", Value::DateTime(at))
            .with("day", Value::Date(jiff::civil::date(2024, 2, 29)))
            .with("data", Value::Bytes(vec![0, 1, 0xfe, 0xff]))
            .with("flag", true)
            .with("ratio", 0.25)
            .with("note", "ünïcode ✓"),
        Record::new("2")
            .with("id", 2)
            .with("price", Value::Decimal("-0.5".into()))
            .with("at", Value::Null)
            .with("day", Value::Null)
            .with("data", Value::Null)
            .with("flag", false)
            .with("ratio", Value::Null)
            .with("note", Value::Null),
    ]
}

fn check_typed(kind: common::Kind, what: &str, read: &[Record]) {
    let written = typed_records();
    assert_eq!(read.len(), written.len(), "{kind:?} {what}");
    for (w, r) in written.iter().zip(read) {
        assert_eq!(w.key, r.key, "{kind:?} {what}");
        for (name, value) in &w.fields {
            let got = r
                .get(name)
                .unwrap_or_else(|| panic!("{kind:?} {what}: {name} missing"));
            let same = match (value, got) {
                (Value::Decimal(a), Value::Decimal(b)) => {
                    Value::Decimal(a.clone()).same_content(&Value::Decimal(b.clone()))
                }
                (a, b) => a == b,
            };
            assert!(
                same,
                "{kind:?} {what}: key {}, {name}: wrote {value:?}, read {got:?}",
                w.key
            );
        }
    }
}

#[tokio::test]
async fn values_keep_their_types() {
    for kind in ALL {
        let Some(place) = Place::new(kind, "typed round trip").await else {
            continue;
        };
        let (ts, bytes) = (place.timestamp(), place.bytes());
        let boolean = if kind == common::Kind::MySql {
            "TINYINT(1)"
        } else {
            "BOOLEAN"
        };
        let double = if kind == common::Kind::Postgres {
            "DOUBLE PRECISION"
        } else {
            "DOUBLE"
        };
        place
            .exec(&format!(
                "CREATE TABLE {{t}}typed (id BIGINT PRIMARY KEY, price DECIMAL(20,4), at {ts}, day DATE, \
                 data {bytes}, flag {boolean}, ratio {double}, note TEXT)"
            ))
            .await;
        let c = place.connector(json!({ "table": { "made": { "key": ["id"], "create": true } } }));
        let entities = c.entities().await.unwrap();
        let typed = entities
            .iter()
            .find(|e| e.name == "typed")
            .expect("discovered");
        assert_eq!(typed.key, ["id"]);
        let kinds: Vec<FieldType> = typed.fields.iter().map(|f| f.kind).collect();
        use FieldType::*;
        assert_eq!(
            kinds,
            [Int, Decimal, DateTime, Date, Bytes, Bool, Float, Text],
            "{kind:?}"
        );

        for table in ["typed", "made"] {
            let upserts = typed_records().into_iter().map(Change::Upsert).collect();
            write(&c, table, upserts).await.unwrap();
            check_typed(kind, table, &read_all(&c, table).await);
            let fetched = c
                .fetch(table, &["2".into(), "1".into(), "9".into()])
                .await
                .unwrap();
            let keys: Vec<&str> = fetched.iter().map(|r| r.key.as_str()).collect();
            assert_eq!(
                keys,
                ["2", "1"],
                "{kind:?} {table}: fetch returns the keys that exist"
            );
        }
        place.drop_all().await;
    }
}

#[tokio::test]
async fn a_value_that_does_not_fit_writes_nothing() {
    for kind in ALL {
        let Some(place) = Place::new(kind, "bad value").await else {
            continue;
        };
        let key = place.text_key();
        place
            .exec(&format!(
                "CREATE TABLE {{t}}people (id {key} PRIMARY KEY, name TEXT, amount BIGINT)"
            ))
            .await;
        let c = place.connector(json!({}));
        let good = |k: &str| {
            Change::Upsert(
                Record::new(k)
                    .with("id", k)
                    .with("name", "n")
                    .with("amount", "42"),
            )
        };
        let mut tx = c.begin("people").await.unwrap();
        tx.apply(vec![good("a"), good("b")]).await.unwrap();
        let bad = Change::Upsert(Record::new("c").with("id", "c").with("amount", "forty-two"));
        let err = tx.apply(vec![good("d"), bad]).await.unwrap_err();
        let shown = err.to_string();
        assert!(matches!(err, Error::BadRecord { .. }), "{kind:?}: {shown}");
        for part in ["sql", "people", "key c", "amount", "forty-two"] {
            assert!(
                shown.contains(part),
                "{kind:?}: {shown:?} does not name {part:?}"
            );
        }
        tx.rollback().await.unwrap();
        assert!(
            read_all(&c, "people").await.is_empty(),
            "{kind:?}: nothing was written"
        );

        let err = write(
            &c,
            "people",
            vec![Change::Upsert(Record::new("x").with("colour", "red"))],
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("colour"), "{kind:?}: {err}");
        place.drop_all().await;
    }
}

#[tokio::test]
async fn a_table_without_a_key_is_a_config_error_naming_it() {
    for kind in ALL {
        let Some(place) = Place::new(kind, "no primary key").await else {
            continue;
        };
        place.exec("CREATE TABLE {t}loose (a TEXT, b TEXT)").await;
        place
            .exec(&format!(
                "CREATE TABLE {{t}}keyed (id {} PRIMARY KEY)",
                place.text_key()
            ))
            .await;
        let c = place.connector(json!({}));
        let err = c
            .read(ReadRequest::full("loose"))
            .await
            .err()
            .expect("an error");
        assert!(matches!(err, Error::Config { .. }), "{kind:?}: {err}");
        assert!(err.to_string().contains("loose"), "{kind:?}: {err}");
        // Discover leaves it out rather than failing.
        let names: Vec<String> = c
            .entities()
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, ["keyed"], "{kind:?}");
        // With a configured key it is an entity.
        let c = place.connector(json!({ "table": { "loose": { "key": ["a"] } } }));
        assert!(read_all(&c, "loose").await.is_empty());
        place.drop_all().await;
    }
}

#[tokio::test]
async fn a_connection_failure_names_the_url_without_its_password() {
    let c = SqlConnector::from_config(json!({ "url": "postgres://app:s3cret@127.0.0.1:1/shop" }))
        .unwrap();
    let err = c.entities().await.unwrap_err().to_string();
    assert!(err.contains("postgres://app:***@127.0.0.1:1/shop"), "{err}");
    assert!(!err.contains("s3cret"), "{err}");
}

#[tokio::test]
async fn unknown_tables_are_not_found() {
    let Some(place) = Place::new(common::Kind::Sqlite, "not found").await else {
        return;
    };
    let c = place.connector(json!({}));
    let err = c.read(ReadRequest::full("nope")).await.err().unwrap();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    assert!(matches!(
        c.begin("nope").await.err().unwrap(),
        Error::NotFound { .. }
    ));
}

#[tokio::test]
async fn composite_keys_page_fetch_and_delete() {
    for kind in ALL {
        let Some(place) = Place::new(kind, "composite key").await else {
            continue;
        };
        let key = place.text_key();
        place
            .exec(&format!(
                "CREATE TABLE {{t}}lines (order_id BIGINT, line {key}, qty BIGINT, PRIMARY KEY (order_id, line))"
            ))
            .await;
        let c = place.connector(json!({}));
        let mut changes = Vec::new();
        for order in [10, 2, 7] {
            for line in ["b", "a", "c"] {
                let k = tandem_core::Key::composite(&[order.to_string(), line.to_owned()]);
                changes.push(Change::Upsert(Record::new(k).with("qty", order)));
            }
        }
        write(&c, "lines", changes).await.unwrap();
        let batches: Vec<Batch> = c
            .read(ReadRequest::full("lines").with_batch_size(2))
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        let keys: Vec<String> = batches
            .iter()
            .flat_map(|b| &b.changes)
            .map(|c| c.key().to_string())
            .collect();
        let want = [
            "2|a", "2|b", "2|c", "7|a", "7|b", "7|c", "10|a", "10|b", "10|c",
        ];
        assert_eq!(keys, want, "{kind:?}: key order, in pages of two");
        let k = |o: &str, l: &str| tandem_core::Key::composite(&[o, l]);
        let fetched = c.fetch("lines", &[k("7", "b"), k("8", "b")]).await.unwrap();
        assert_eq!(fetched.len(), 1, "{kind:?}");
        assert_eq!(fetched[0].get("qty"), Some(&Value::Int(7)), "{kind:?}");
        write(
            &c,
            "lines",
            vec![Change::delete(k("7", "b")), Change::delete(k("2", "c"))],
        )
        .await
        .unwrap();
        assert_eq!(read_all(&c, "lines").await.len(), 7, "{kind:?}");
        // A record of key columns only: inserted once, then left alone.
        let bare = || vec![Change::Upsert(Record::new(k("99", "z")))];
        write(&c, "lines", bare()).await.unwrap();
        write(&c, "lines", bare()).await.unwrap();
        assert_eq!(read_all(&c, "lines").await.len(), 8, "{kind:?}");
        let err = write(&c, "lines", vec![Change::delete("7")])
            .await
            .unwrap_err();
        assert!(matches!(err, Error::BadRecord { .. }), "{kind:?}: {err}");
        place.drop_all().await;
    }
}

/// Batches of rows new to the table (PostgreSQL writes them by COPY), then
/// in the same transaction a batch of rows of which some exist (COPY meets
/// them and the batch is upserted instead), with text that COPY must
/// escape; a rollback after both leaves the table as it was.
#[tokio::test]
async fn new_and_existing_rows_in_one_transaction() {
    for kind in ALL {
        let Some(place) = Place::new(kind, "new and existing rows").await else {
            continue;
        };
        let key = place.text_key();
        place
            .exec(&format!(
                "CREATE TABLE {{t}}notes (id {key} PRIMARY KEY, body TEXT, n BIGINT)"
            ))
            .await;
        let c = place.connector(json!({}));
        let odd = "tab\there, line\nbreak, back\\slash, \\N, \"quoted\", cr\r";
        let rec = |id: &str, n: i64| {
            Record::new(id)
                .with("body", format!("{odd} {id}"))
                .with("n", n)
        };
        write(&c, "notes", vec![Change::Upsert(rec("old", 1))])
            .await
            .unwrap();

        let mut tx = c.begin("notes").await.unwrap();
        let fresh: Vec<Change> = (0..50)
            .map(|i| Change::Upsert(rec(&format!("a{i:02}"), i)))
            .collect();
        tx.apply(fresh).await.unwrap();
        let mixed = vec![
            Change::Upsert(rec("old", 2)),
            Change::Upsert(rec("a07", 700)),
            Change::Upsert(rec("b00", 5)),
            Change::Upsert(Record::new("b01").with("body", Value::Null).with("n", 6)),
        ];
        tx.apply(mixed.clone()).await.unwrap();
        tx.rollback().await.unwrap();
        let read = read_all(&c, "notes").await;
        assert_eq!(
            read.len(),
            1,
            "{kind:?}: a rollback leaves the table as it was"
        );
        assert_eq!(read[0].get("n"), Some(&Value::Int(1)), "{kind:?}");

        let mut tx = c.begin("notes").await.unwrap();
        let fresh: Vec<Change> = (0..50)
            .map(|i| Change::Upsert(rec(&format!("a{i:02}"), i)))
            .collect();
        tx.apply(fresh).await.unwrap();
        tx.apply(mixed).await.unwrap();
        // Batches sent after the one that met a row are written after it,
        // in order.
        let more = (0..3).map(|i| Change::Upsert(rec(&format!("c{i:02}"), i)));
        tx.apply(more.collect()).await.unwrap();
        tx.apply(vec![Change::Upsert(rec("b00", 50)), Change::delete("a09")])
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let read = read_all(&c, "notes").await;
        assert_eq!(
            read.len(),
            55,
            "{kind:?}: old, a00..a49 but a09, b00, b01, c00..c02"
        );
        assert!(read.iter().all(|r| r.key.to_string() != "a09"), "{kind:?}");
        let get = |id: &str| read.iter().find(|r| r.key.to_string() == id).unwrap();
        assert_eq!(get("b00").get("n"), Some(&Value::Int(50)), "{kind:?}");
        assert_eq!(get("c02").get("n"), Some(&Value::Int(2)), "{kind:?}");
        assert_eq!(get("old").get("n"), Some(&Value::Int(2)), "{kind:?}");
        assert_eq!(get("a07").get("n"), Some(&Value::Int(700)), "{kind:?}");
        assert_eq!(get("a08").get("n"), Some(&Value::Int(8)), "{kind:?}");
        assert_eq!(
            get("a08").get("body"),
            Some(&Value::Text(format!("{odd} a08").into())),
            "{kind:?}: text comes back byte for byte"
        );
        assert!(
            get("b01").get("body").is_none_or(|v| *v == Value::Null),
            "{kind:?}: a null stays null: {:?}",
            get("b01")
        );
        place.drop_all().await;
    }
}

#[tokio::test]
async fn a_row_the_database_refuses_fails_the_batch_naming_it() {
    for kind in ALL {
        let Some(place) = Place::new(kind, "refused row").await else {
            continue;
        };
        let key = place.text_key();
        place
            .exec(&format!(
                "CREATE TABLE {{t}}members (id {key} PRIMARY KEY, name TEXT NOT NULL, n BIGINT)"
            ))
            .await;
        let c = place.connector(json!({}));
        let member =
            |id: &str, name: Value| Change::Upsert(Record::new(id).with("name", name).with("n", 1));
        let mut tx = c.begin("members").await.unwrap();
        tx.apply(vec![member("m1", "Ann".into()), member("m2", "Bo".into())])
            .await
            .unwrap();
        // PostgreSQL copies new rows on a task of its own: the refusal may
        // come with a later call, the commit at the latest, which fails.
        let err = match tx
            .apply(vec![member("m3", "Cy".into()), member("m4", Value::Null)])
            .await
        {
            Err(e) => {
                tx.rollback().await.unwrap();
                e
            }
            Ok(_) => tx.commit().await.unwrap_err(),
        };
        let shown = err.to_string().to_lowercase();
        for part in ["sql", "members", "m3", "m4", "null"] {
            assert!(
                shown.contains(part),
                "{kind:?}: {shown:?} does not name {part:?}"
            );
        }
        assert!(
            read_all(&c, "members").await.is_empty(),
            "{kind:?}: nothing was written"
        );
        place.drop_all().await;
    }
}
