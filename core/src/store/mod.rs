//! The state store: links, base records, cursors, conflicts and runs, in SQLite or PostgreSQL.
//!
//! [`StateStore`] is one code path over sea-orm for every backend: an
//! embedded SQLite file by default (WAL, 5 s busy timeout), or a PostgreSQL
//! server that several daemons share (MySQL/MariaDB should work too but is
//! not tested). [`StateStore::open`] runs the migrations, one process at a
//! time. [`StateStore::lease_run`] gives a pair one run at a time across
//! every process that shares the store.
//!
//! A run's results land with [`StateStore::commit`], in one transaction:
//! links and their base records, cursors, conflicts and the run's status all
//! change together or not at all.

mod codec;
mod commit;
mod conflicts;
mod entity;
mod exits;
mod journal;
mod ledger;
mod links;
mod migration;
mod model;
mod runs;
mod schedule;
mod snapshot;
mod sqlite_file;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::sqlx::sqlite::SqliteJournalMode;
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use tokio::sync::{Mutex, MutexGuard};

pub use model::{
    Commit, ConflictRow, ConflictStatus, DayDetail, DayStatus, JournalEntry, LedgerRow, LinkRow,
    LinkSet, LinkUpdate, NewConflict, RunCounts, RunError, RunRow, RunStatus, Side,
};
pub use runs::{LEASE, owner, owner_alive};
pub use schedule::{RunTally, ScheduleRow};

use crate::error::{Error, Result};
use codec::Context;

/// How long SQLite waits for another connection's lock before failing.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections in the pool of an SQLite file (readers run side by side in
/// WAL mode; writers take turns).
const SQLITE_FILE_CONNECTIONS: u32 = 4;

/// A run's commit that changes at least this many links records them in the
/// link snapshot alone and leaves the links table behind (see
/// `snapshot`).
const DEFER_LINK_TABLE_FROM: usize = 10_000;

/// The state store. Cheap to clone: clones share the connection pool.
///
/// Every method is one statement or one transaction. Writes on SQLite take
/// an in-process lock first, so that they queue instead of failing on
/// SQLite's single writer lock; other processes that share the file wait up
/// to the busy timeout.
#[derive(Debug, Clone)]
pub struct StateStore {
    db: DatabaseConnection,
    /// Serializes writes on SQLite; `None` on server databases.
    write_lock: Option<Arc<Mutex<()>>>,
    /// How many changed links make a commit leave the links table behind.
    defer_links_from: usize,
    /// Where the ends of runs that the store refused are kept (an SQLite
    /// file store's `PATH.exits`, see `exits`).
    exits: Option<Arc<Path>>,
}

impl StateStore {
    /// Connects to the store at `url` and brings its schema up to date.
    ///
    /// `sqlite:PATH` creates the file if it is missing (whole, in WAL mode,
    /// see `sqlite_file`) and uses WAL and a 5 s busy timeout; `sqlite::memory:` is a private in-memory store (one
    /// connection, kept open). `postgres://...` (and `mysql://...`) connect
    /// to a server; the database must exist.
    pub async fn open(url: &str) -> Result<StateStore> {
        let is_sqlite = url.starts_with("sqlite:");
        let in_memory = is_sqlite && (url.contains(":memory:") || url.contains("mode=memory"));

        if let Some(file) = sqlite_file::path(url).filter(|_| !in_memory) {
            sqlite_file::create_in_wal_mode(&file).await?;
        }
        let mut opts = ConnectOptions::new(url);
        opts.sqlx_logging(false);
        if is_sqlite {
            opts.map_sqlx_sqlite_opts(|o| {
                o.create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .busy_timeout(SQLITE_BUSY_TIMEOUT)
                    // 64 MiB of page cache (the default is 2 MiB): a run that
                    // writes a million links spills fewer pages early.
                    .pragma("cache_size", "-65536")
            });
            if in_memory {
                // The database lives as long as its connection does.
                opts.max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None);
            } else {
                opts.max_connections(SQLITE_FILE_CONNECTIONS);
            }
        }
        let db = Database::connect(opts).await.map_err(|e| {
            let message = codec::hide_password(&e.to_string(), url);
            Error::store(format!(
                "connecting to {}: {message}",
                codec::redact_url(url)
            ))
        })?;
        migration::migrate(&db)
            .await
            .ctx(|| "running migrations".to_owned())?;

        let write_lock =
            (db.get_database_backend() == DbBackend::Sqlite).then(|| Arc::new(Mutex::new(())));
        let store = StateStore {
            db,
            write_lock,
            defer_links_from: DEFER_LINK_TABLE_FROM,
            exits: exits::path(url).map(Arc::from),
        };
        store.apply_exits().await;
        Ok(store)
    }

    /// Sets how many changed links make a run's commit record them in the
    /// pair's link snapshot alone, leaving the links table behind until a
    /// lookup by key or a change by hand brings it up to date (10,000 by
    /// default; 0 for every commit that can, `usize::MAX` for none).
    pub fn defer_link_table_from(mut self, links: usize) -> Self {
        self.defer_links_from = links;
        self
    }

    /// Closes the connection pool.
    pub async fn close(self) -> Result<()> {
        self.db.close().await.ctx(|| "closing the store".to_owned())
    }

    /// The backend: `sqlite`, `postgres` or `mysql`.
    pub fn backend(&self) -> &'static str {
        match self.db.get_database_backend() {
            DbBackend::Sqlite => "sqlite",
            DbBackend::Postgres => "postgres",
            DbBackend::MySql => "mysql",
            _ => "other",
        }
    }

    /// Waits for this store's turn to write (SQLite only).
    async fn write_turn(&self) -> Option<MutexGuard<'_, ()>> {
        match &self.write_lock {
            Some(lock) => Some(lock.lock().await),
            None => None,
        }
    }

    /// Begins a write transaction; on SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`) so that it never fails half-way on a busy lock.
    /// Dropping the transaction without committing rolls it back.
    async fn begin_write(&self, what: &str) -> Result<DatabaseTransaction> {
        let opts = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        };
        self.db
            .begin_with_options(opts)
            .await
            .ctx(|| format!("beginning transaction for {what}"))
    }
}

/// An error about a row that does not exist.
fn not_found(what: impl std::fmt::Display) -> Error {
    Error::store(format!("{what} not found"))
}
