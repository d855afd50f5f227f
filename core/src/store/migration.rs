//! The store's schema migrations, run by [`StateStore::open`](super::StateStore::open) one process at a time.

use std::time::Duration;

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, SqliteTransactionMode, TransactionOptions,
    TransactionTrait,
};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, big_integer_null, big_pk_auto, boolean, string, string_null,
};

/// The store's migrations, oldest first. Applied migrations are recorded in
/// `seaql_migrations`; a migration, once released, never changes.
pub(crate) struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(M0001CreateTables),
            Box::new(M0002LedgerJournal),
            Box::new(M0003Schedules),
            Box::new(M0004LargePairs),
            Box::new(M0005LinkTableBehind),
            Box::new(M0006PairLocks),
        ]
    }
}

/// How long an open waits for another process's migrations.
const MIGRATION_WAIT: Duration = Duration::from_secs(60);

/// The PostgreSQL advisory lock (and MySQL named lock) that migrations
/// hold: "tandem-m" in ASCII.
const MIGRATION_LOCK: i64 = 0x7461_6e64_656d_2d6d;

/// Brings the schema up to date, one process at a time: processes that
/// open a fresh store at once would otherwise each create the tables, and
/// all but one fail half-way. Under the lock the pending migrations are
/// read again, so a process that waited finds them applied.
///
/// - SQLite: inside one `BEGIN IMMEDIATE` transaction (the file's single
///   writer lock, waited for up to the busy timeout); the migrations run
///   as savepoints and land together.
/// - PostgreSQL: inside one transaction holding an advisory lock.
/// - MySQL: DDL commits on its own there, so a connection held apart from
///   the pool takes a named lock (`GET_LOCK`) around the migrations.
pub(super) async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    if Migrator::get_pending_migrations_read_only(db)
        .await?
        .is_empty()
    {
        return Ok(());
    }
    let wait = MIGRATION_WAIT.as_secs();
    match db.get_database_backend() {
        DbBackend::Postgres => {
            let tx = db.begin().await?;
            tx.execute_unprepared(&format!("SET LOCAL lock_timeout = '{wait}s'"))
                .await?;
            tx.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
                .await?;
            Migrator::up(&tx, None).await?;
            tx.commit().await
        }
        DbBackend::MySql => {
            use sea_orm::sqlx;
            let sqlx_err = |e: sqlx::Error| DbErr::Custom(format!("migration lock: {e}"));
            let mut holder = db
                .get_mysql_connection_pool()
                .acquire()
                .await
                .map_err(sqlx_err)?
                .detach();
            let got: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(?, ?)")
                .bind(format!("tandem-migrations-{MIGRATION_LOCK}"))
                .bind(wait as i64)
                .fetch_one(&mut holder)
                .await
                .map_err(sqlx_err)?;
            if got != Some(1) {
                return Err(DbErr::Custom(format!(
                    "another process held the migration lock for {wait} s"
                )));
            }
            let result = Migrator::up(db, None).await;
            // Closing the session releases its lock.
            let _ = sqlx::Connection::close(holder).await;
            result
        }
        _ => {
            let opts = TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..TransactionOptions::default()
            };
            let tx = db.begin_with_options(opts).await?;
            Migrator::up(&tx, None).await?;
            tx.commit().await
        }
    }
}

/// Creates `runs`, `links`, `cursors` and `conflicts`.
struct M0001CreateTables;

impl MigrationName for M0001CreateTables {
    fn name(&self) -> &str {
        "m0001_create_tables"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0001CreateTables {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let backend = m.get_database_backend();

        m.create_table(
            Table::create()
                .table("runs")
                .col(big_pk_auto("id"))
                .col(string("pair"))
                .col(string("mode"))
                .col(string("trigger"))
                .col(boolean("dry_run"))
                .col(string("status"))
                .col(big_integer("started"))
                .col(big_integer_null("ended"))
                .col(long_text(backend, "counts"))
                .col(long_text(backend, "errors"))
                .take(),
        )
        .await?;
        index(m, "runs", "idx_runs_pair_id", &["pair", "id"], false).await?;
        index(m, "runs", "idx_runs_status", &["status"], false).await?;

        m.create_table(
            Table::create()
                .table("links")
                .col(big_pk_auto("id"))
                .col(string("pair"))
                .col(string_null("a_key"))
                .col(string_null("b_key"))
                .col(big_integer_null("hash_a"))
                .col(big_integer_null("hash_b"))
                .col(long_blob(backend, "base").null().take())
                .col(boolean("disabled"))
                .take(),
        )
        .await?;
        index(m, "links", "idx_links_pair_a_key", &["pair", "a_key"], true).await?;
        index(m, "links", "idx_links_pair_b_key", &["pair", "b_key"], true).await?;
        index(m, "links", "idx_links_pair_id", &["pair", "id"], false).await?;

        m.create_table(
            Table::create()
                .table("cursors")
                .col(big_pk_auto("id"))
                .col(string("pair"))
                .col(string("side"))
                .col(long_blob(backend, "cursor").null().take())
                .col(big_integer("updated"))
                .take(),
        )
        .await?;
        index(
            m,
            "cursors",
            "idx_cursors_pair_side",
            &["pair", "side"],
            true,
        )
        .await?;

        m.create_table(
            Table::create()
                .table("conflicts")
                .col(big_pk_auto("id"))
                .col(string("pair"))
                .col(big_integer("run_id"))
                .col(big_integer_null("link_id"))
                .col(string_null("a_key"))
                .col(string_null("b_key"))
                .col(long_blob(backend, "conflict").not_null().take())
                .col(string("status"))
                .col(long_blob(backend, "resolution").null().take())
                .col(string_null("resolved_by"))
                .col(long_blob(backend, "loser").null().take())
                .col(big_integer("created"))
                .col(big_integer_null("resolved"))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_conflicts_run_id")
                        .from("conflicts", "run_id")
                        .to("runs", "id")
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_conflicts_link_id")
                        .from("conflicts", "link_id")
                        .to("links", "id")
                        .on_delete(ForeignKeyAction::SetNull),
                )
                .take(),
        )
        .await?;
        let conflicts_pair_status = &["pair", "status"];
        index(
            m,
            "conflicts",
            "idx_conflicts_pair_status",
            conflicts_pair_status,
            false,
        )
        .await?;
        index(m, "conflicts", "idx_conflicts_run_id", &["run_id"], false).await?;
        index(m, "conflicts", "idx_conflicts_link_id", &["link_id"], false).await?;
        Ok(())
    }

    fn use_transaction(&self) -> Option<bool> {
        // All tables or none, on SQLite too.
        Some(true)
    }
}

/// Adds the day ledger, the journal of before-images, the day of each link,
/// and the runs' period, day detail and owner.
struct M0002LedgerJournal;

impl MigrationName for M0002LedgerJournal {
    fn name(&self) -> &str {
        "m0002_ledger_journal"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0002LedgerJournal {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let backend = m.get_database_backend();
        m.alter_table(
            Table::alter()
                .table("links")
                .add_column(string_null("day"))
                .take(),
        )
        .await?;
        index(m, "links", "idx_links_pair_day", &["pair", "day"], false).await?;
        for col in [
            string_null("period_from"),
            string_null("period_to"),
            big_integer("saved_days").default(0).take(),
            big_integer("saved_events").default(0).take(),
            long_text(backend, "days").null().take(),
            string_null("owner"),
            big_integer_null("heartbeat"),
        ] {
            // One column per statement: SQLite adds columns one at a time.
            m.alter_table(Table::alter().table("runs").add_column(col).take())
                .await?;
        }
        m.create_table(
            Table::create()
                .table("ledger")
                .col(big_pk_auto("id"))
                .col(string("pair"))
                .col(string("day"))
                .col(string("status"))
                .col(big_integer("events"))
                .col(big_integer_null("run_id"))
                .col(big_integer("updated"))
                .take(),
        )
        .await?;
        index(m, "ledger", "idx_ledger_pair_day", &["pair", "day"], true).await?;
        m.create_table(
            Table::create()
                .table("journal")
                .col(big_pk_auto("id"))
                .col(big_integer("run_id"))
                .col(string("pair"))
                .col(string("side"))
                .col(string("entity"))
                .col(string("key"))
                .col(long_blob(backend, "before").null().take())
                .col(long_blob(backend, "link").null().take())
                .take(),
        )
        .await?;
        index(m, "journal", "idx_journal_run_id", &["run_id", "id"], false).await?;
        index(
            m,
            "journal",
            "idx_journal_pair_key",
            &["pair", "key"],
            false,
        )
        .await?;
        Ok(())
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

/// Adds the daemon's `schedules` (one per pair) and `settings`.
struct M0003Schedules;

impl MigrationName for M0003Schedules {
    fn name(&self) -> &str {
        "m0003_schedules"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0003Schedules {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let backend = m.get_database_backend();
        m.create_table(
            Table::create()
                .table("schedules")
                .col(big_pk_auto("id"))
                .col(string("pair"))
                .col(string("grid"))
                .col(boolean("active"))
                .col(long_text(backend, "triggers"))
                .col(big_integer("updated"))
                .take(),
        )
        .await?;
        index(m, "schedules", "idx_schedules_pair", &["pair"], true).await?;
        m.create_table(
            Table::create()
                .table("settings")
                .col(big_pk_auto("id"))
                .col(string("name"))
                .col(long_text(backend, "value"))
                .col(big_integer("updated"))
                .take(),
        )
        .await?;
        index(m, "settings", "idx_settings_name", &["name"], true).await?;
        Ok(())
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

/// Makes large pairs cheap to load and commit:
/// - `journal_batches`: a run's before-images one row per applied batch
///   (postcard) instead of one row per change; a first load of a million
///   records writes a hundred rows, not a million. Runs journaled before
///   keep their rows in `journal`, which is still read.
/// - `link_generations` and `link_snapshots`: every change to a pair's
///   links counts up its generation; a run's commit also records the
///   pair's link set (postcard) tagged with the generation it made: whole,
///   in parts, or as a delta on the snapshot before. Loading reads the
///   snapshot when it reaches the current generation, and the `links`
///   table otherwise.
/// - drops `idx_links_pair_day`, which no query used (each index costs a
///   B-tree insert per link).
struct M0004LargePairs;

impl MigrationName for M0004LargePairs {
    fn name(&self) -> &str {
        "m0004_large_pairs"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0004LargePairs {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let backend = m.get_database_backend();
        m.create_table(
            Table::create()
                .table("journal_batches")
                .col(big_pk_auto("id"))
                .col(big_integer("run_id"))
                .col(string("pair"))
                .col(string("side"))
                .col(string("entity"))
                .col(big_integer("entries"))
                .col(long_blob(backend, "data").not_null().take())
                .take(),
        )
        .await?;
        index(
            m,
            "journal_batches",
            "idx_journal_batches_run_id",
            &["run_id", "id"],
            false,
        )
        .await?;
        index(
            m,
            "journal_batches",
            "idx_journal_batches_pair_run",
            &["pair", "run_id"],
            false,
        )
        .await?;
        m.create_table(
            Table::create()
                .table("link_generations")
                .col(big_pk_auto("id"))
                .col(string("pair"))
                .col(big_integer("generation"))
                .take(),
        )
        .await?;
        index(
            m,
            "link_generations",
            "idx_link_generations_pair",
            &["pair"],
            true,
        )
        .await?;
        m.create_table(
            Table::create()
                .table("link_snapshots")
                .col(big_pk_auto("id"))
                .col(string("pair"))
                .col(big_integer("generation"))
                .col(big_integer("base"))
                .col(big_integer("part"))
                .col(big_integer("parts"))
                .col(big_integer("links"))
                .col(long_blob(backend, "data").not_null().take())
                .take(),
        )
        .await?;
        index(
            m,
            "link_snapshots",
            "idx_link_snapshots_pair_generation_part",
            &["pair", "generation", "part"],
            true,
        )
        .await?;
        m.drop_index(
            Index::drop()
                .name("idx_links_pair_day")
                .table("links")
                .to_owned(),
        )
        .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

/// Lets a run's commit record a large change to a pair's links in the
/// snapshot alone: `link_generations.behind` says the `links` table holds
/// an older generation, and is brought up to the snapshot before anything
/// else reads or changes it (see `snapshot::catch_up`).
struct M0005LinkTableBehind;

impl MigrationName for M0005LinkTableBehind {
    fn name(&self) -> &str {
        "m0005_link_table_behind"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0005LinkTableBehind {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("link_generations")
                .add_column(boolean("behind").default(false))
                .to_owned(),
        )
        .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

/// Adds `pair_locks`, one row per pair: the transaction that starts a run
/// locks its pair's row, so that two processes never both find the pair
/// free (see `runs::lease_run`).
struct M0006PairLocks;

impl MigrationName for M0006PairLocks {
    fn name(&self) -> &str {
        "m0006_pair_locks"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0006PairLocks {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("pair_locks")
                .col(big_pk_auto("id"))
                .col(string("pair"))
                .take(),
        )
        .await?;
        index(m, "pair_locks", "idx_pair_locks_pair", &["pair"], true).await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

/// Creates an index on `table`.
async fn index(
    m: &SchemaManager<'_>,
    table: &'static str,
    name: &'static str,
    columns: &[&'static str],
    unique: bool,
) -> Result<(), DbErr> {
    let mut stmt = Index::create();
    stmt.name(name).table(table);
    for &c in columns {
        stmt.col(c);
    }
    if unique {
        stmt.unique();
    }
    m.create_index(stmt).await
}

/// A binary column without a practical size limit (MySQL's `blob` stops at
/// 64 KiB).
fn long_blob(backend: DbBackend, name: &'static str) -> ColumnDef {
    let mut col = ColumnDef::new(name);
    match backend {
        DbBackend::MySql => col.custom("longblob"),
        _ => col.blob(),
    };
    col
}

/// A text column without a practical size limit (MySQL's `text` stops at
/// 64 KiB).
fn long_text(backend: DbBackend, name: &'static str) -> ColumnDef {
    let mut col = ColumnDef::new(name);
    match backend {
        DbBackend::MySql => col.custom("longtext"),
        _ => col.text(),
    };
    col.not_null().take()
}
