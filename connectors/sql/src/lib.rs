//! Tandem connector for SQL tables: SQLite, PostgreSQL, MySQL and MariaDB,
//! through sea-orm, as a source and a target.
//!
//! Each table is an entity. One code path serves every database: the URL
//! picks the driver, and sea-query writes each statement in the database's
//! dialect. Nothing is opened until the connector is first used.
//!
//! # Configuration
//!
//! The endpoint's settings in the manifest (`type = "sql"`):
//!
//! ```toml
//! [endpoints.shop]
//! type = "sql"
//! url = "sqlite://data/shop.db"     # relative to the manifest; or
//! # url_env = "SHOP_DATABASE_URL"   # postgres://... or mysql://..., from the environment
//! # schema = "sales"                # PostgreSQL schema / MySQL database
//! # tables = ["customers"]          # default: every table
//!
//! [endpoints.shop.table.customers]
//! key = ["id"]                      # default: the primary key
//! cursor = "updated_at"             # incremental reads
//! # lookback_seconds = 600          # how late a transaction may commit
//! soft_delete = "deleted_at"        # deletes that incremental reads see
//! create = true                     # create the table on the first write
//! ```
//!
//! See [`SqlConfig`] and [`TableConfig`] for every setting. Building a
//! connector checks the settings without connecting:
//!
//! ```
//! use tandem_connector_sql::SqlConnector;
//!
//! let connector = SqlConnector::from_config(serde_json::json!({
//!     "url": "postgres://app:secret@db.internal/shop",
//!     "table": { "customers": { "cursor": "updated_at" } },
//! }))?;
//! assert_eq!(connector.shown_url(), "postgres://app:***@db.internal/shop");
//! # Ok::<(), tandem_core::Error>(())
//! ```
//!
//! # Reading
//!
//! A full read streams the table in key order, `batch_size` rows per query
//! (keyset pagination), so memory is bounded by the batch size. A table
//! with a `cursor` column is also read incrementally, up to the last
//! `(cursor, key)` position that existed when the read started (rows
//! written during the read are left for the next one). A timestamp cursor
//! column is stamped before its transaction commits, so a row can become
//! visible with a stamp older than rows already read (or equal to theirs):
//! each read therefore reads again a lookback window before the newest
//! stamp read (`lookback_seconds`, 10 minutes by default) and reports a row
//! of it only when its stamp or content changed since it was reported. A
//! transaction that commits later than the window after its stamp may be
//! missed until a full read. A cursor column of another type goes on after
//! the last position read: exact when its values are assigned in commit
//! order. With a `soft_delete` column, rows marked deleted are reported as
//! deletes; without one, the engine finds deletes by a full read.
//!
//! # Writing
//!
//! A transaction is a database transaction. Upserts are `INSERT ... ON
//! CONFLICT ... DO UPDATE` (SQLite, PostgreSQL) or `... ON DUPLICATE KEY
//! UPDATE` (MySQL) statements setting the columns the records carry. On
//! MySQL a statement holds as many rows as the parameter limit allows
//! (65535). SQLite steps one prepared single-row statement per row through
//! its own API, binding the values where they lie, as `sqlite3 .import`
//! does: cheaper per row than a multi-row statement. PostgreSQL
//! upserts bind one text array per column and unnest them (`INSERT ...
//! SELECT ... FROM unnest($1, $2, ...)`), so a statement of ten thousand
//! rows is still a small statement to plan. Before that, PostgreSQL tries
//! a batch as `COPY ... FROM STDIN` inside a savepoint: rows new to the
//! table (a first load) go in at the speed of `COPY`; when the batch meets
//! a row that exists, the savepoint is rolled back and the batch, and the
//! rest of the transaction, is upserted. A batch of upserts of the same
//! columns (on a table that neither stamps a cursor column nor marks
//! deletes) is checked and written straight into `COPY`'s text, one `COPY`
//! per batch, keeping the changes themselves for the upsert should it come
//! to that; any other batch is bound first. The copies run on a task of their
//! own that holds the transaction, so the server loads one batch while the
//! next is prepared; an error the server finds in a copied batch (a null
//! in a `NOT NULL` column, say) therefore fails a later `apply` or the
//! commit, still naming the batch's keys, and the transaction writes
//! nothing.
//! Every value is checked against its column's type before anything is
//! written: a value that does not fit is
//! [`Error::BadRecord`](tandem_core::Error::BadRecord) naming the table,
//! the key and the column, and the batch writes nothing.
//!
//! # Values
//!
//! Integers, floats, exact decimals ([`Value::Decimal`](tandem_core::Value)
//! text; SQLite keeps 15 significant digits), text, bytes, booleans, dates,
//! instants (PostgreSQL `timestamptz`; UTC elsewhere; SQLite stores them as
//! `YYYY-MM-DD HH:MM:SS.ffffff` text), JSON and nulls keep their types.
#![warn(missing_docs)]

mod config;
mod copy;
mod cursor;
mod db;
mod ddl;
mod decode;
mod encode;
mod group;
mod lite;
mod read;
mod schema;
mod statements;
mod types;
mod write;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tandem_core::{Capabilities, Error, Result};
use tokio::sync::OnceCell;

pub use config::{SqlConfig, TableConfig};

use config::Settings;
use db::Db;
use schema::Table;

/// The connector's name, as manifests' `type` and errors say it.
pub const CONNECTOR: &str = "sql";

/// The tables of a SQL database, as a [`Source`](tandem_core::Source) and
/// a [`Target`](tandem_core::Target). Clones share the connection pool.
#[derive(Clone)]
pub struct SqlConnector {
    inner: Arc<Inner>,
}

struct Inner {
    settings: Settings,
    db: OnceCell<Db>,
    /// Tables as loaded from the catalog (or created), by name.
    tables: Mutex<HashMap<String, Arc<Table>>>,
}

impl std::fmt::Debug for SqlConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlConnector")
            .field("url", &self.inner.settings.shown_url)
            .finish()
    }
}

impl SqlConnector {
    /// A connector from a checked configuration (a relative SQLite path is
    /// relative to the working directory). Pure: nothing is opened until
    /// the connector is used.
    pub fn new(config: SqlConfig) -> Result<Self> {
        let settings = config.resolve(|p| p.to_owned())?;
        Ok(Self::with_settings(settings))
    }

    /// A connector from its configuration as the manifest gives it; a bad
    /// configuration is [`Error::Config`] naming the setting.
    pub fn from_config(config: serde_json::Value) -> Result<Self> {
        SqlConnector::new(parse(config)?)
    }

    fn with_settings(settings: Settings) -> Self {
        SqlConnector {
            inner: Arc::new(Inner {
                settings,
                db: OnceCell::new(),
                tables: Mutex::default(),
            }),
        }
    }

    /// The database URL, without its password.
    pub fn shown_url(&self) -> &str {
        &self.inner.settings.shown_url
    }

    /// The open database, connecting on first use.
    pub(crate) async fn db(&self) -> Result<&Db> {
        self.inner
            .db
            .get_or_try_init(|| Db::connect(&self.inner.settings))
            .await
    }

    /// A table that is an entity: from the cache, else the catalog. A table
    /// with `create = true` that does not exist yet has no columns.
    pub(crate) async fn table(&self, name: &str) -> Result<Arc<Table>> {
        let settings = &self.inner.settings;
        let not_found = || Error::NotFound {
            connector: CONNECTOR.into(),
            entity: name.to_owned(),
        };
        if !settings.allows(name) {
            return Err(not_found());
        }
        if let Some(t) = self.cached(name) {
            return Ok(t);
        }
        let db = self.db().await?;
        match schema::load_table(db, settings, name).await? {
            Some(table) => Ok(self.remember(table)),
            None if settings.table(name).create => Ok(Arc::new(Table {
                name: name.to_owned(),
                schema: (db.backend != config::Backend::Sqlite).then(|| db.schema.clone()),
                columns: Vec::new(),
                key: Vec::new(),
                cursor: None,
                soft_delete: None,
                exists: false,
                config: settings.table(name),
            })),
            None => Err(not_found()),
        }
    }

    fn cached(&self, name: &str) -> Option<Arc<Table>> {
        self.inner
            .tables
            .lock()
            .expect("table cache")
            .get(name)
            .cloned()
    }

    /// Keeps a loaded or created table.
    pub(crate) fn remember(&self, table: Table) -> Arc<Table> {
        let table = Arc::new(table);
        let mut tables = self.inner.tables.lock().expect("table cache");
        tables.insert(table.name.clone(), Arc::clone(&table));
        table
    }

    pub(crate) fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    fn capabilities(&self) -> Capabilities {
        let tables = &self.inner.settings.table;
        let with_cursor: Vec<_> = tables.values().filter(|t| t.cursor.is_some()).collect();
        Capabilities {
            cursors: !with_cursor.is_empty(),
            deletes: !with_cursor.is_empty() && with_cursor.iter().all(|t| t.soft_delete.is_some()),
            days: false,
            transactions: true,
            idempotent_upsert: true,
        }
    }
}

fn parse(config: serde_json::Value) -> Result<SqlConfig> {
    serde_json::from_value(config).map_err(|e| Error::config(CONNECTOR, e.to_string()))
}

impl tandem_core::plugin::Connector for SqlConnector {
    const NAME: &'static str = CONNECTOR;
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    /// A relative SQLite path is resolved against the manifest's folder.
    fn open(config: serde_json::Value, context: &tandem_core::plugin::OpenContext) -> Result<Self> {
        let config = parse(config)?;
        let settings = config.resolve(|p| context.resolve(p).to_string_lossy().into_owned())?;
        Ok(SqlConnector::with_settings(settings))
    }

    fn as_target(&self) -> Option<&dyn tandem_core::Target> {
        Some(self)
    }
}

tandem_core::export_connector!(SqlConnector);
