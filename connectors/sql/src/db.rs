//! The database connection: opened on first use, one pool per connector.

use std::time::Duration;

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, QueryResult,
    Statement, sea_query,
};
use tandem_core::{Error, Result};

use crate::CONNECTOR;
use crate::config::{Backend, Settings};

/// An open database.
#[derive(Debug, Clone)]
pub(crate) struct Db {
    pub conn: DatabaseConnection,
    pub backend: Backend,
    /// How many parameters one statement may bind.
    pub bind_limit: usize,
    /// The schema (PostgreSQL) or database (MySQL) the tables are in.
    pub schema: String,
}

/// Creates the folder of a SQLite database file, so a new database can be
/// made in a new folder (SQLite creates the file, not its folder).
fn create_folder(url: &str) {
    let path = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let path = path.split('?').next().unwrap_or(path);
    if let Some(parent) = std::path::Path::new(path).parent()
        && !parent.as_os_str().is_empty()
    {
        let _ = std::fs::create_dir_all(parent);
    }
}

impl Db {
    /// Connects; a failure names the URL without its password.
    pub async fn connect(settings: &Settings) -> Result<Db> {
        let mut options = ConnectOptions::new(settings.url.clone());
        options
            .sqlx_logging(false)
            .connect_timeout(Duration::from_secs(10))
            .acquire_timeout(Duration::from_secs(20));
        match settings.backend {
            Backend::Sqlite => {
                if settings.url.contains(":memory:") {
                    // Each connection of a pool would get its own database.
                    options.max_connections(1);
                } else {
                    options.max_connections(4);
                    create_folder(&settings.url);
                }
                options.map_sqlx_sqlite_opts(|o| {
                    o.create_if_missing(true)
                        .journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                        .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                        .busy_timeout(Duration::from_secs(30))
                        // 64 MiB of page cache (the default is 2 MiB): a
                        // large transaction spills fewer pages to the WAL
                        // before it commits.
                        .pragma("cache_size", "-65536")
                });
            }
            Backend::Postgres => {
                options.max_connections(4);
                options.map_sqlx_postgres_opts(|o| o.options([("timezone", "UTC")]));
            }
            Backend::MySql => {
                options.max_connections(4);
            }
        }
        let conn = Database::connect(options).await.map_err(|e| {
            Error::other(
                CONNECTOR,
                format!(
                    "cannot connect to {}: {}",
                    settings.shown_url,
                    clean(e, settings)
                ),
            )
        })?;
        let mut db = Db {
            conn,
            backend: settings.backend,
            bind_limit: 65_535,
            schema: String::new(),
        };
        let probe = match settings.backend {
            Backend::Sqlite => "SELECT sqlite_version()",
            Backend::Postgres => "SELECT current_schema()::text",
            Backend::MySql => "SELECT DATABASE()",
        };
        let row = db
            .query_one(probe, vec![])
            .await
            .map_err(|e| e.context(format!("cannot use {}", settings.shown_url)))?;
        let text = row.and_then(|r| text_at(&r, 0)).unwrap_or_default();
        match settings.backend {
            Backend::Sqlite => {
                // SQLITE_MAX_VARIABLE_NUMBER: 999 before 3.32, 32766 since.
                let version: Vec<u32> = text.split('.').filter_map(|p| p.parse().ok()).collect();
                db.bind_limit = if version >= vec![3, 32] { 32_766 } else { 999 };
                db.schema = "main".into();
            }
            _ => db.schema = settings.schema.clone().unwrap_or(text),
        }
        if db.schema.is_empty() {
            return Err(Error::config(
                CONNECTOR,
                format!(
                    "{} names no database; add one to the URL or set schema",
                    settings.shown_url
                ),
            ));
        }
        Ok(db)
    }

    /// The sea-orm backend.
    pub fn db_backend(&self) -> DbBackend {
        match self.backend {
            Backend::Sqlite => DbBackend::Sqlite,
            Backend::Postgres => DbBackend::Postgres,
            Backend::MySql => DbBackend::MySql,
        }
    }

    /// A statement of raw SQL with `?` placeholders written for this
    /// backend.
    pub fn raw(&self, sql: &str, values: Vec<sea_query::Value>) -> Statement {
        let sql = match self.backend {
            Backend::Postgres => numbered(sql),
            _ => sql.to_owned(),
        };
        Statement::from_sql_and_values(self.db_backend(), sql, values)
    }

    /// Runs a catalog query.
    pub async fn query_all(
        &self,
        sql: &str,
        values: Vec<sea_query::Value>,
    ) -> Result<Vec<QueryResult>, DbError> {
        self.conn
            .query_all_raw(self.raw(sql, values))
            .await
            .map_err(DbError)
    }

    async fn query_one(
        &self,
        sql: &str,
        values: Vec<sea_query::Value>,
    ) -> Result<Option<QueryResult>, DbError> {
        self.conn
            .query_one_raw(self.raw(sql, values))
            .await
            .map_err(DbError)
    }
}

/// A database error waiting for the context that names what was done.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct DbError(pub DbErr);

impl DbError {
    /// The error naming what was being done (entity, key, URL).
    pub fn context(self, what: impl std::fmt::Display) -> Error {
        Error::Remote {
            connector: CONNECTOR.into(),
            status: None,
            message: format!("{what}: {}", self.0),
            request_id: None,
        }
    }
}

impl From<DbErr> for DbError {
    fn from(e: DbErr) -> Self {
        DbError(e)
    }
}

/// A connection error's text, with any password it quotes removed.
fn clean(e: DbErr, settings: &Settings) -> String {
    let mut text = e.to_string();
    if text.contains(&settings.url) {
        text = text.replace(&settings.url, &settings.shown_url);
    }
    text
}

/// `?` placeholders as PostgreSQL's `$1, $2, ...` (catalog queries only:
/// they hold no `?` in literals).
fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    out
}

/// A text column of a catalog row (some catalogs give bytes).
pub(crate) fn text_at(row: &QueryResult, i: usize) -> Option<String> {
    if let Ok(s) = row.try_get_by_index::<Option<String>>(i) {
        return s;
    }
    if let Ok(b) = row.try_get_by_index::<Option<Vec<u8>>>(i) {
        return b.map(|b| String::from_utf8_lossy(&b).into_owned());
    }
    row.try_get_by_index::<Option<i64>>(i)
        .ok()
        .flatten()
        .map(|i| i.to_string())
}
