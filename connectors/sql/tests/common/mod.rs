//! Fresh databases for the tests: a SQLite file in a temporary folder, a
//! new PostgreSQL schema, a new MySQL/MariaDB database.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};

use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::{Value as Json, json};
use tandem_connector_sql::SqlConnector;

/// The databases a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
    MySql,
}

pub const ALL: [Kind; 3] = [Kind::Sqlite, Kind::Postgres, Kind::MySql];

impl Kind {
    fn variable(self) -> Option<&'static str> {
        match self {
            Kind::Sqlite => None,
            Kind::Postgres => Some("TANDEM_TEST_PG_URL"),
            Kind::MySql => Some("TANDEM_TEST_MYSQL_URL"),
        }
    }

    /// The server's URL, or `None` (with a note) when its variable is unset.
    pub fn server(self, test: &str) -> Option<String> {
        let Some(var) = self.variable() else {
            return Some(String::new());
        };
        match std::env::var(var) {
            Ok(url) if !url.is_empty() => Some(url),
            _ => {
                println!("skipping {test} on {self:?}: {var} is not set");
                None
            }
        }
    }
}

/// A fresh, empty place to make tables in.
pub struct Place {
    pub kind: Kind,
    /// The connector's `url` (and `schema`) settings.
    pub base: Json,
    /// A connection for the test's own statements.
    pub admin: DatabaseConnection,
    /// What qualifies table names in the test's own statements.
    prefix: String,
    cleanup: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

fn unique() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    format!(
        "tandem_t{}_{}_{}",
        std::process::id(),
        now.as_millis() % 100_000,
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

impl Place {
    /// A fresh place on a database; `None` when its server is not configured.
    pub async fn new(kind: Kind, test: &str) -> Option<Place> {
        let server = kind.server(test)?;
        let name = unique();
        Some(match kind {
            Kind::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("test.db");
                let url = format!("sqlite://{}?mode=rwc", path.display());
                Place {
                    kind,
                    base: json!({ "url": format!("sqlite://{}", path.display()) }),
                    admin: Database::connect(url).await.unwrap(),
                    prefix: String::new(),
                    cleanup: None,
                    _dir: Some(dir),
                }
            }
            Kind::Postgres => {
                let admin = Database::connect(server.as_str()).await.unwrap();
                admin
                    .execute_unprepared(&format!("CREATE SCHEMA {name}"))
                    .await
                    .unwrap();
                Place {
                    kind,
                    base: json!({ "url": server, "schema": name }),
                    admin,
                    prefix: format!("{name}."),
                    cleanup: Some(format!("DROP SCHEMA {name} CASCADE")),
                    _dir: None,
                }
            }
            Kind::MySql => {
                let admin = Database::connect(server.as_str()).await.unwrap();
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .unwrap();
                let (root, _) = server.rsplit_once('/').unwrap();
                Place {
                    kind,
                    base: json!({ "url": format!("{root}/{name}") }),
                    admin,
                    prefix: format!("{name}."),
                    cleanup: Some(format!("DROP DATABASE {name}")),
                    _dir: None,
                }
            }
        })
    }

    /// A connector on this place with these extra settings.
    pub fn connector(&self, settings: Json) -> SqlConnector {
        SqlConnector::from_config(self.config(settings)).unwrap()
    }

    /// The configuration with these extra settings.
    pub fn config(&self, settings: Json) -> Json {
        let mut config = self.base.clone();
        for (k, v) in settings.as_object().unwrap() {
            config[k] = v.clone();
        }
        config
    }

    /// Runs a statement; `{t}` is replaced by the qualified table prefix.
    pub async fn exec(&self, sql: &str) {
        let sql = sql.replace("{t}", &self.prefix);
        self.admin
            .execute_unprepared(&sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Drops what the place made (call at the end of a test that passed).
    pub async fn drop_all(self) {
        if let Some(sql) = &self.cleanup {
            let _ = self.admin.execute_unprepared(sql).await;
        }
    }

    /// The SQL type of a timestamp with time zone here.
    pub fn timestamp(&self) -> &'static str {
        match self.kind {
            Kind::Sqlite => "TIMESTAMP",
            Kind::Postgres => "TIMESTAMPTZ",
            Kind::MySql => "DATETIME(6)",
        }
    }

    /// The SQL type of a key column of text.
    pub fn text_key(&self) -> &'static str {
        match self.kind {
            Kind::MySql => "VARCHAR(255)",
            _ => "TEXT",
        }
    }

    /// The SQL type of bytes.
    pub fn bytes(&self) -> &'static str {
        match self.kind {
            Kind::Postgres => "BYTEA",
            _ => "BLOB",
        }
    }
}
