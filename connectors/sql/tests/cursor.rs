//! Incremental reads on every database: rows that share a cursor value
//! across batch boundaries are neither skipped nor repeated, rows written
//! after a read started are left for the next read, and rows marked
//! deleted are reported as deletes.

mod common;

use std::collections::BTreeMap;

use common::{ALL, Place};
use futures::{StreamExt, TryStreamExt};
use serde_json::json;
use tandem_connector_sql::SqlConnector;
use tandem_core::{Batch, Change, Cursor, ReadRequest, Source};

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

/// The keys of changes, checked to appear once each.
fn keys_once(changes: &[Change]) -> Vec<String> {
    let mut seen = BTreeMap::new();
    for c in changes {
        *seen.entry(c.key().as_str().to_owned()).or_insert(0) += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "keys read more than once: {twice:?}");
    seen.into_keys().collect()
}

async fn events_table(place: &Place) -> SqlConnector {
    let (key, ts) = (place.text_key(), place.timestamp());
    place
        .exec(&format!(
            "CREATE TABLE {{t}}events (id {key} PRIMARY KEY, name TEXT, updated_at {ts}, deleted_at {ts})"
        ))
        .await;
    place.connector(
        json!({ "table": { "events": { "cursor": "updated_at", "soft_delete": "deleted_at" } } }),
    )
}

#[tokio::test]
async fn rows_sharing_a_timestamp_are_never_skipped_or_repeated() {
    for kind in ALL {
        let Some(place) = Place::new(kind, "cursor tiebreak").await else {
            continue;
        };
        let c = events_table(&place).await;
        let mut values = vec!["('early', 'e', '2024-01-01 09:00:00')".to_owned()];
        for i in 0..10 {
            values.push(format!("('k{i:02}', 'n', '2024-01-01 10:00:00')"));
        }
        place
            .exec(&format!(
                "INSERT INTO {{t}}events (id, name, updated_at) VALUES {}",
                values.join(", ")
            ))
            .await;

        let (changes, cursor) = read(&c, ReadRequest::full("events").with_batch_size(3)).await;
        assert_eq!(keys_once(&changes).len(), 11, "{kind:?}");

        // Five rows at one later instant, keys before, between and after
        // the others, read two per batch.
        place
            .exec(
                "INSERT INTO {t}events (id, name, updated_at) VALUES ('a', 'n', '2024-01-01 11:00:00'), \
                 ('k05x', 'n', '2024-01-01 11:00:00'), ('z', 'n', '2024-01-01 11:00:00'), \
                 ('zz', 'n', '2024-01-01 11:00:00')",
            )
            .await;
        place.exec("UPDATE {t}events SET name = 'changed', updated_at = '2024-01-01 11:00:00' WHERE id = 'k03'").await;
        let since = ReadRequest::since("events", cursor.clone()).with_batch_size(2);
        let (changes, next) = read(&c, since.clone()).await;
        assert_eq!(
            keys_once(&changes),
            ["a", "k03", "k05x", "z", "zz"],
            "{kind:?}"
        );
        let (again, _) = read(&c, since).await;
        assert_eq!(again, changes, "{kind:?}: reading again yields the same");
        let (none, _) = read(&c, ReadRequest::since("events", next.clone())).await;
        assert!(
            none.is_empty(),
            "{kind:?}: nothing after the last cursor: {none:?}"
        );

        // A row the application marks deleted is reported as a delete.
        place
            .exec("UPDATE {t}events SET deleted_at = '2024-01-02 00:00:00', updated_at = '2024-01-02 00:00:00' WHERE id = 'k07'")
            .await;
        let (changes, _) = read(&c, ReadRequest::since("events", next)).await;
        assert!(
            matches!(changes.as_slice(), [Change::Delete { key, .. }] if key.as_str() == "k07"),
            "{kind:?}: {changes:?}"
        );
        let (full, _) = read(&c, ReadRequest::full("events")).await;
        assert!(
            !keys_once(&full).contains(&"k07".to_owned()),
            "{kind:?}: a deleted row is not in a full read"
        );
        place.drop_all().await;
    }
}

#[tokio::test]
async fn rows_written_after_a_read_started_wait_for_the_next_read() {
    for kind in ALL {
        let Some(place) = Place::new(kind, "cursor upper bound").await else {
            continue;
        };
        let c = events_table(&place).await;
        place.exec("INSERT INTO {t}events (id, name, updated_at) VALUES ('k0', 'n', '2024-01-01 10:00:00')").await;
        let (_, cursor) = read(&c, ReadRequest::full("events")).await;
        let values: Vec<String> = (1..6)
            .map(|i| format!("('k{i}', 'n', '2024-01-01 10:00:0{i}')"))
            .collect();
        place
            .exec(&format!(
                "INSERT INTO {{t}}events (id, name, updated_at) VALUES {}",
                values.join(", ")
            ))
            .await;

        let mut stream = c
            .read(ReadRequest::since("events", cursor).with_batch_size(1))
            .await
            .unwrap();
        let mut changes = stream.next().await.unwrap().unwrap().changes;
        // Written while the read is under way: later and earlier keys.
        place
            .exec("INSERT INTO {t}events (id, name, updated_at) VALUES ('late', 'n', '2024-01-01 12:00:00'), ('a-late', 'n', '2024-01-01 12:00:00')")
            .await;
        let mut cursor = None;
        while let Some(batch) = stream.next().await {
            let batch = batch.unwrap();
            changes.extend(batch.changes);
            cursor = batch.cursor.or(cursor);
        }
        assert_eq!(
            keys_once(&changes),
            ["k1", "k2", "k3", "k4", "k5"],
            "{kind:?}"
        );
        let (next, _) = read(&c, ReadRequest::since("events", cursor.unwrap())).await;
        assert_eq!(
            keys_once(&next),
            ["a-late", "late"],
            "{kind:?}: the next read returns them"
        );
        place.drop_all().await;
    }
}

#[tokio::test]
async fn an_incremental_read_needs_a_cursor_column() {
    let Some(place) = Place::new(common::Kind::Sqlite, "since without cursor").await else {
        return;
    };
    place
        .exec("CREATE TABLE plain (id TEXT PRIMARY KEY, name TEXT)")
        .await;
    let c = place
        .connector(json!({ "table": { "plain": {}, "other": { "cursor": "t", "key": ["id"] } } }));
    let cursor = Cursor::from_text("{}");
    let err = c
        .read(ReadRequest::since("plain", cursor))
        .await
        .err()
        .expect("an error");
    assert!(matches!(err, tandem_core::Error::Config { .. }), "{err}");
    assert!(err.to_string().contains("plain"), "{err}");
}
