//! SQL sides (SQLite, PostgreSQL, MariaDB) through the SQL connector in
//! process. The harness edits the table as a person would, with its own
//! statements on a connection of its own.

use async_trait::async_trait;
use sea_orm::{
    ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement, Value as SqlValue,
};
use serde_json::json;
use tandem_connector_sql::SqlConnector;
use tandem_core::engine::Endpoint;
use tandem_core::{Record, Value};

use crate::program::FIELDS;
use crate::world::SideIo;

/// Where a side's table lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
    Maria,
}

impl Db {
    /// The server's URL from the environment (`None` for SQLite, or when
    /// the variable is unset).
    pub fn server(self) -> Option<String> {
        let var = match self {
            Db::Sqlite => return Some(String::new()),
            Db::Postgres => "TANDEM_TEST_PG_URL",
            Db::Maria => "TANDEM_TEST_MYSQL_URL",
        };
        std::env::var(var).ok().filter(|u| !u.is_empty())
    }
}

pub struct SqlSide {
    name: &'static str,
    conn: DatabaseConnection,
    /// The table as statements name it (qualified on a server).
    table: String,
    config: serde_json::Value,
    /// Run on the admin connection when the world ends.
    pub cleanup: Option<String>,
}

fn unique() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "tm{}_{}_{}",
        std::process::id(),
        nanos % 100_000,
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

impl SqlSide {
    /// A fresh table `people` on `db`: a SQLite file in `dir`, a new
    /// PostgreSQL schema, or a new MariaDB database.
    pub async fn new(db: Db, name: &'static str, dir: &std::path::Path) -> SqlSide {
        let server = db.server().expect("the server's URL");
        let place = unique();
        let (conn, table, config, cleanup) = match db {
            Db::Sqlite => {
                let path = dir.join(format!("{name}.db"));
                let conn = Database::connect(format!("sqlite://{}?mode=rwc", path.display()))
                    .await
                    .expect("open the SQLite side");
                let config = json!({ "url": format!("sqlite://{}", path.display()) });
                (conn, "people".to_owned(), config, None)
            }
            Db::Postgres => {
                let conn = Database::connect(server.as_str())
                    .await
                    .expect("connect to PostgreSQL");
                conn.execute_unprepared(&format!("CREATE SCHEMA {place}"))
                    .await
                    .expect("create a schema");
                let config = json!({ "url": server, "schema": place });
                (
                    conn,
                    format!("{place}.people"),
                    config,
                    Some(format!("DROP SCHEMA {place} CASCADE")),
                )
            }
            Db::Maria => {
                let conn = Database::connect(server.as_str())
                    .await
                    .expect("connect to MariaDB");
                conn.execute_unprepared(&format!(
                    "CREATE DATABASE {place} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                ))
                .await
                .expect("create a database");
                let (root, _) = server.rsplit_once('/').expect("a database in the URL");
                let config = json!({ "url": format!("{root}/{place}") });
                (
                    conn,
                    format!("{place}.people"),
                    config,
                    Some(format!("DROP DATABASE {place}")),
                )
            }
        };
        let key = if db == Db::Maria {
            "VARCHAR(64)"
        } else {
            "TEXT"
        };
        let columns: Vec<String> = FIELDS.iter().map(|f| format!("{f} TEXT")).collect();
        conn.execute_unprepared(&format!(
            "CREATE TABLE {table} (id {key} PRIMARY KEY, {})",
            columns.join(", ")
        ))
        .await
        .expect("create the table");
        let mut config = config;
        config["tables"] = json!(["people"]);
        config["table"] = json!({ "people": { "key": ["id"] } });
        SqlSide {
            name,
            conn,
            table,
            config,
            cleanup,
        }
    }

    fn statement(&self, sql: &str, values: Vec<SqlValue>) -> Statement {
        let backend = self.conn.get_database_backend();
        let sql = if backend == DbBackend::Postgres {
            let mut n = 0;
            sql.chars()
                .map(|c| match c {
                    '?' => {
                        n += 1;
                        format!("${n}")
                    }
                    c => c.to_string(),
                })
                .collect()
        } else {
            sql.to_owned()
        };
        Statement::from_sql_and_values(backend, sql, values)
    }

    pub async fn drop_place(&self) {
        if let Some(sql) = &self.cleanup {
            let _ = self.conn.execute_unprepared(sql).await;
        }
    }
}

#[async_trait]
impl SideIo for SqlSide {
    async fn put(&self, key: &str, fields: &[(String, Option<String>)], _modified: Option<i64>) {
        let del = self.statement(
            &format!("DELETE FROM {} WHERE id = ?", self.table),
            vec![key.into()],
        );
        self.conn.execute_raw(del).await.expect("delete the row");
        let mut values: Vec<SqlValue> = vec![key.into()];
        for f in FIELDS {
            let v = fields
                .iter()
                .find(|(n, _)| n == f)
                .and_then(|(_, v)| v.clone());
            values.push(SqlValue::String(v));
        }
        let marks = vec!["?"; FIELDS.len() + 1].join(", ");
        let sql = format!(
            "INSERT INTO {} (id, {}) VALUES ({marks})",
            self.table,
            FIELDS.join(", ")
        );
        let ins = self.statement(&sql, values);
        self.conn.execute_raw(ins).await.expect("insert the row");
    }

    async fn remove(&self, key: &str) {
        let del = self.statement(
            &format!("DELETE FROM {} WHERE id = ?", self.table),
            vec![key.into()],
        );
        self.conn.execute_raw(del).await.expect("delete the row");
    }

    async fn raw(&self) -> Vec<Record> {
        let sql = format!("SELECT id, {} FROM {}", FIELDS.join(", "), self.table);
        let rows = self
            .conn
            .query_all_raw(self.statement(&sql, Vec::new()))
            .await
            .expect("read the table");
        rows.into_iter()
            .map(|row| {
                let id: String = row.try_get("", "id").expect("an id");
                let mut r = Record::new(id.as_str()).with("id", id.as_str());
                for f in FIELDS {
                    let v: Option<String> = row.try_get("", f).expect("a text column");
                    r.set(f, v.map_or(Value::Null, Value::from));
                }
                r
            })
            .collect()
    }

    async fn finish(&self) {
        self.drop_place().await;
    }

    fn endpoint(&self) -> Endpoint {
        let connector = SqlConnector::from_config(self.config.clone()).expect("a SQL connector");
        Endpoint::new(self.name, connector)
    }
}
