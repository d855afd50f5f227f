//! Text stays text and bytes stay bytes on every column type that holds
//! them, whatever the collation: text in a binary collation (MariaDB's
//! `_bin`, PostgreSQL's "C", SQLite's BINARY) and fixed-width text read as
//! the text itself, and a key of it pages, fetches, updates and deletes as
//! that text; bytes read as bytes, and their text form (lowercase hex, as a
//! CSV side holds them) writes the same bytes back, keys included.

mod common;

use common::{Kind, Place};
use futures::{StreamExt, TryStreamExt};
use serde_json::json;
use tandem_connector_sql::SqlConnector;
use tandem_core::{Batch, Change, Error, ReadRequest, Record, Source, Target, Value};

/// What a column holds, as written in SQL and as read back.
#[derive(Clone, Copy)]
enum Cell {
    Text(&'static str),
    Bytes(&'static [u8]),
}

impl Cell {
    fn value(self) -> Value {
        match self {
            Cell::Text(s) => Value::Text(s.into()),
            Cell::Bytes(b) => Value::Bytes(b.to_vec()),
        }
    }

    fn literal(self, kind: Kind) -> String {
        match (self, kind) {
            (Cell::Text(s), _) => format!("'{s}'"),
            (Cell::Bytes(b), Kind::Postgres) => format!("'\\x{}'::bytea", hex(b)),
            (Cell::Bytes(b), _) => format!("X'{}'", hex(b)),
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A column: its name, its SQL type, and the three rows' cells.
struct Col {
    name: &'static str,
    ddl: &'static str,
    cells: [Cell; 3],
}

const fn text(name: &'static str, ddl: &'static str, cells: [&'static str; 3]) -> Col {
    Col {
        name,
        ddl,
        cells: [
            Cell::Text(cells[0]),
            Cell::Text(cells[1]),
            Cell::Text(cells[2]),
        ],
    }
}

const fn bytes(name: &'static str, ddl: &'static str, cells: [&'static [u8]; 3]) -> Col {
    Col {
        name,
        ddl,
        cells: [
            Cell::Bytes(cells[0]),
            Cell::Bytes(cells[1]),
            Cell::Bytes(cells[2]),
        ],
    }
}

/// Bytes that are not UTF-8, bytes that are, and bytes that look like hex.
const B: [&[u8]; 3] = [&[0x00, 0xff, 0x10, 0x80], b"Ann!", b"6b31"];
const T: [&str; 3] = ["Ann", "Zoë", "6b31"];

/// The columns of every text and byte type of a database, and the clause
/// that ends its `CREATE TABLE`.
fn columns(kind: Kind) -> (Vec<Col>, &'static str) {
    match kind {
        Kind::MySql => (
            vec![
                text("name", "TEXT", T),
                text("v", "VARCHAR(20)", T),
                text("c", "CHAR(5)", T),
                text("tt", "TINYTEXT", T),
                text("mt", "MEDIUMTEXT", T),
                text("lt", "LONGTEXT", T),
                text("ci", "VARCHAR(20) COLLATE utf8mb4_general_ci", T),
                text(
                    "latin",
                    "VARCHAR(20) CHARACTER SET latin1 COLLATE latin1_bin",
                    T,
                ),
                text(
                    "ascii_t",
                    "VARCHAR(20) CHARACTER SET ascii COLLATE ascii_bin",
                    ["Ann", "Zoe", "6b31"],
                ),
                text("e", "ENUM('Ann', 'Zoë', '6b31')", T),
                text("s", "SET('Ann', 'Zoë', '6b31')", T),
                bytes("bin", "BINARY(4)", B),
                bytes("cb", "CHAR(4) CHARACTER SET binary", B),
                bytes("vb", "VARBINARY(20)", B),
                bytes("tb", "TINYBLOB", B),
                bytes("b", "BLOB", B),
                bytes("mb", "MEDIUMBLOB", B),
                bytes("lb", "LONGBLOB", B),
            ],
            " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
        ),
        Kind::Postgres => (
            vec![
                text("name", "TEXT COLLATE \"C\"", T),
                text("v", "VARCHAR(20) COLLATE \"C\"", T),
                text("c", "CHAR(5) COLLATE \"C\"", T),
                text("p", "TEXT COLLATE \"POSIX\"", T),
                text("u", "TEXT COLLATE \"ucs_basic\"", T),
                text("n", "NAME", T),
                text("ch", "\"char\"", ["A", "z", "6"]),
                text("ci", "CITEXT", T),
                bytes("b", "BYTEA", B),
            ],
            "",
        ),
        Kind::Sqlite => (
            vec![
                text("name", "TEXT COLLATE BINARY", T),
                text("v", "VARCHAR(20)", T),
                text("c", "CHAR(5)", T),
                bytes("b", "BLOB", B),
            ],
            "",
        ),
    }
}

async fn read_all(c: &SqlConnector, entity: &str) -> Vec<Record> {
    // Pages of one row: each page starts after the key read last. A read
    // that pages in a loop shows as more rows than the table holds.
    let batches: Vec<Batch> = c
        .read(ReadRequest::full(entity).with_batch_size(1))
        .await
        .unwrap()
        .take(20)
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

async fn write(c: &SqlConnector, entity: &str, changes: Vec<Change>) {
    let mut tx = c.begin(entity).await.unwrap();
    tx.apply(changes).await.unwrap();
    tx.commit().await.unwrap();
}

/// The key and the cells of each record, in key order.
fn shown(records: &[Record], cols: &[Col]) -> Vec<(String, Vec<Value>)> {
    records
        .iter()
        .map(|r| {
            let cells = cols
                .iter()
                .map(|c| r.get(c.name).cloned().unwrap_or(Value::Null))
                .collect();
            (r.key.to_string(), cells)
        })
        .collect()
}

async fn citext(place: &Place) -> bool {
    use sea_orm::ConnectionTrait;
    // Created once per database; a test running beside this one may be
    // creating it too, so only its presence afterwards counts.
    let _ = place
        .admin
        .execute_unprepared("CREATE EXTENSION IF NOT EXISTS citext")
        .await;
    let found = place
        .admin
        .query_one_raw(sea_orm::Statement::from_string(
            place.admin.get_database_backend(),
            "SELECT 1 FROM pg_type WHERE typname = 'citext'",
        ))
        .await
        .unwrap();
    if found.is_none() {
        println!("the citext column is left out: the extension is not installed");
    }
    found.is_some()
}

async fn mariadb(place: &Place) -> bool {
    use sea_orm::ConnectionTrait;
    let row = place
        .admin
        .query_one_raw(sea_orm::Statement::from_string(
            place.admin.get_database_backend(),
            "SELECT VERSION()",
        ))
        .await
        .unwrap()
        .expect("a version");
    let version: String = row.try_get_by_index(0).unwrap();
    version.contains("MariaDB")
}

#[tokio::test]
async fn text_in_binary_collations_reads_as_text_and_bytes_as_bytes() {
    for kind in common::ALL {
        let Some(place) = Place::new(kind, "text and bytes").await else {
            continue;
        };
        let (mut cols, table_clause) = columns(kind);
        if kind == Kind::Postgres && !citext(&place).await {
            cols.retain(|c| c.name != "ci");
        }
        if kind == Kind::MySql && mariadb(&place).await {
            // MariaDB's JSON is LONGTEXT in utf8mb4_bin.
            cols.push(text("j", "JSON", ["{\"a\": 1}", "[\"Zoë\"]", "\"6b31\""]));
        }
        let key = match kind {
            Kind::MySql => "VARCHAR(10)",
            Kind::Postgres => "TEXT COLLATE \"C\"",
            Kind::Sqlite => "TEXT COLLATE BINARY",
        };
        let defs: Vec<String> = cols
            .iter()
            .map(|c| format!("{} {}", c.name, c.ddl))
            .collect();
        place
            .exec(&format!(
                "CREATE TABLE {{t}}items (id {key} PRIMARY KEY, {}){table_clause}",
                defs.join(", ")
            ))
            .await;
        let names: Vec<&str> = cols.iter().map(|c| c.name).collect();
        for (row, id) in ["k1", "k2", "k3"].iter().enumerate() {
            let cells: Vec<String> = cols.iter().map(|c| c.cells[row].literal(kind)).collect();
            place
                .exec(&format!(
                    "INSERT INTO {{t}}items (id, {}) VALUES ('{id}', {})",
                    names.join(", "),
                    cells.join(", ")
                ))
                .await;
        }
        let c = place.connector(json!({}));
        let want =
            |row: usize| -> Vec<Value> { cols.iter().map(|c| c.cells[row].value()).collect() };
        let read = read_all(&c, "items").await;
        assert_eq!(
            shown(&read, &cols),
            [
                ("k1".into(), want(0)),
                ("k2".into(), want(1)),
                ("k3".into(), want(2))
            ],
            "{kind:?}: columns {names:?}"
        );
        let fetched = c.fetch("items", &["k2".into(), "k1".into()]).await.unwrap();
        assert_eq!(
            shown(&fetched, &cols),
            [("k2".into(), want(1)), ("k1".into(), want(0))],
            "{kind:?}: fetch by key"
        );

        // What a CSV side sends back: every cell as text, bytes as hex.
        let as_text = |id: &str, row: usize| {
            let mut r = Record::new(id).with("id", id);
            for col in &cols {
                r.set(
                    col.name,
                    Value::Text(col.cells[row].value().canonical().into()),
                );
            }
            Change::Upsert(r)
        };
        // New rows alone (PostgreSQL copies them), then a batch that
        // updates, inserts and deletes.
        write(&c, "items", vec![as_text("k5", 0)]).await;
        write(
            &c,
            "items",
            vec![as_text("k1", 1), as_text("k4", 2), Change::delete("k3")],
        )
        .await;
        let read = read_all(&c, "items").await;
        assert_eq!(
            shown(&read, &cols),
            [
                ("k1".into(), want(1)),
                ("k2".into(), want(1)),
                ("k4".into(), want(2)),
                ("k5".into(), want(0)),
            ],
            "{kind:?}: text written back as read"
        );
        place.drop_all().await;
    }
}

#[tokio::test]
async fn a_key_of_bytes_reads_fetches_and_writes_as_hex() {
    for kind in common::ALL {
        let Some(place) = Place::new(kind, "bytes key").await else {
            continue;
        };
        let key = match kind {
            Kind::MySql => "VARBINARY(16)",
            Kind::Postgres => "BYTEA",
            Kind::Sqlite => "BLOB",
        };
        place
            .exec(&format!(
                "CREATE TABLE {{t}}blobs (id {key} PRIMARY KEY, note TEXT)"
            ))
            .await;
        let (k1, k2) = (Cell::Bytes(&[0x00, 0xff]), Cell::Bytes(b"K1"));
        for (id, note) in [(k1, "zero"), (k2, "text")] {
            place
                .exec(&format!(
                    "INSERT INTO {{t}}blobs (id, note) VALUES ({}, '{note}')",
                    id.literal(kind)
                ))
                .await;
        }
        let c = place.connector(json!({}));
        let notes = |records: &[Record]| -> Vec<(String, Value)> {
            records
                .iter()
                .map(|r| {
                    (
                        r.key.to_string(),
                        r.get("note").cloned().unwrap_or_default(),
                    )
                })
                .collect()
        };
        let read = read_all(&c, "blobs").await;
        assert_eq!(
            notes(&read),
            [
                ("00ff".into(), "zero".into()),
                ("4b31".into(), "text".into())
            ],
            "{kind:?}"
        );
        assert_eq!(
            read[1].get("id"),
            Some(&Value::Bytes(b"K1".to_vec())),
            "{kind:?}"
        );
        let fetched = c.fetch("blobs", &["4b31".into()]).await.unwrap();
        assert_eq!(
            notes(&fetched),
            [("4b31".into(), "text".into())],
            "{kind:?}"
        );
        write(
            &c,
            "blobs",
            vec![
                Change::Upsert(Record::new("00ff").with("note", "changed")),
                Change::Upsert(Record::new("ab01").with("note", "new")),
                Change::delete("4b31"),
            ],
        )
        .await;
        assert_eq!(
            notes(&read_all(&c, "blobs").await),
            [
                ("00ff".into(), "changed".into()),
                ("ab01".into(), "new".into())
            ],
            "{kind:?}"
        );
        // Text that is not hex is no key of bytes: the batch fails, naming it.
        let mut tx = c.begin("blobs").await.unwrap();
        let err = tx
            .apply(vec![Change::Upsert(Record::new("k1").with("note", "x"))])
            .await
            .unwrap_err();
        tx.rollback().await.unwrap();
        let shown = err.to_string();
        assert!(matches!(err, Error::BadRecord { .. }), "{kind:?}: {shown}");
        for part in ["blobs", "key k1", "not valid bytes"] {
            assert!(
                shown.contains(part),
                "{kind:?}: {shown:?} does not name {part:?}"
            );
        }
        place.drop_all().await;
    }
}
