//! The SQL connector passes the core conformance suite on SQLite,
//! PostgreSQL and MySQL/MariaDB: on a table it creates on first write, and
//! on a table it creates with a cursor and a soft-delete column (so that
//! incremental reads and reported deletes are checked too).

mod common;

use std::sync::{Arc, Mutex};

use common::{Kind, Place};
use serde_json::json;
use tandem_core::conformance::{self, Fixture};

/// Runs the suite on fresh places of one database, with these table
/// settings; drops the places once it passed.
async fn suite(kind: Kind, test: &str, table: serde_json::Value) {
    if kind.server(test).is_none() {
        return;
    }
    let places = Arc::new(Mutex::new(Vec::new()));
    conformance::run_all(|| {
        let (places, table) = (places.clone(), table.clone());
        async move {
            let place = Place::new(kind, test).await.expect("server checked above");
            let connector = Arc::new(place.connector(json!({ "table": { "people": table } })));
            places.lock().unwrap().push(place);
            Fixture::new(connector, "people", "id")
        }
    })
    .await;
    let places = std::mem::take(&mut *places.lock().unwrap());
    for place in places {
        place.drop_all().await;
    }
}

fn created() -> serde_json::Value {
    json!({ "key": ["id"], "create": true })
}

fn with_cursor() -> serde_json::Value {
    json!({ "key": ["id"], "create": true, "cursor": "updated_at", "soft_delete": "deleted_at" })
}

#[tokio::test]
async fn sqlite_passes_the_suite() {
    suite(Kind::Sqlite, "sqlite_passes_the_suite", created()).await;
}

#[tokio::test]
async fn sqlite_with_cursor_passes_the_suite() {
    suite(
        Kind::Sqlite,
        "sqlite_with_cursor_passes_the_suite",
        with_cursor(),
    )
    .await;
}

#[tokio::test]
async fn postgres_passes_the_suite() {
    suite(Kind::Postgres, "postgres_passes_the_suite", created()).await;
}

#[tokio::test]
async fn postgres_with_cursor_passes_the_suite() {
    suite(
        Kind::Postgres,
        "postgres_with_cursor_passes_the_suite",
        with_cursor(),
    )
    .await;
}

#[tokio::test]
async fn mysql_passes_the_suite() {
    suite(Kind::MySql, "mysql_passes_the_suite", created()).await;
}

#[tokio::test]
async fn mysql_with_cursor_passes_the_suite() {
    suite(
        Kind::MySql,
        "mysql_with_cursor_passes_the_suite",
        with_cursor(),
    )
    .await;
}

#[test]
fn bad_configs_are_config_errors() {
    use tandem_connector_sql::SqlConnector;
    let cases = [
        json!({}),
        json!({ "url": "" }),
        json!({ "url": "oracle://scott:tiger@db/x" }),
        json!({ "url": "sqlite://a.db", "colour": "red" }),
        json!({ "url": "sqlite://a.db", "tables": [] }),
        json!({ "url": "sqlite://a.db", "tables": ["a", "a"] }),
        json!({ "url": "sqlite://a.db", "tables": ["a"], "table": { "b": { "key": ["id"] } } }),
        json!({ "url": "sqlite://a.db", "table": { "a": { "key": [] } } }),
        json!({ "url": "sqlite://a.db", "table": { "a": { "key": "id" } } }),
        json!({ "url": "sqlite://a.db", "table": { "a": { "create": true } } }),
        json!({ "url": "sqlite://a.db", "table": { "a": { "key": ["id"], "cursor": "id" } } }),
        json!({ "url": "sqlite://a.db", "table": { "a": { "cursor": "t", "soft_delete": "t" } } }),
        json!({ "url": "sqlite://a.db", "table": { "a": { "key": ["id"], "colour": 1 } } }),
        json!({ "url": "sqlite://a.db", "schema": "public" }),
        json!({ "url": "postgres://" }),
    ];
    for config in cases {
        conformance::bad_config("sql", SqlConnector::from_config(config));
    }
}
