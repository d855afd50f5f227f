//! The database as a target: a Tandem transaction is a database
//! transaction; changes become multi-row upserts and deletes.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use async_trait::async_trait;
use sea_orm::sea_query::Expr;
use sea_orm::sea_query::Value as SeaValue;
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbErr, Statement, TransactionTrait};
use tandem_core::{
    Applied, Capabilities, Change, Error, FieldType, Key, Record, Result, Target, Transaction,
    Value,
};

use crate::copy::{self, Copier, PgTx, Segment, Unwritten};
use crate::db::DbError;
use crate::group::{Group, Op, grouped};
use crate::schema::Table;
use crate::{CONNECTOR, SqlConnector, ddl, encode, read, schema, statements};

#[async_trait]
impl Target for SqlConnector {
    fn capabilities(&self) -> Capabilities {
        SqlConnector::capabilities(self)
    }

    async fn begin(&self, entity: &str) -> Result<Box<dyn Transaction>> {
        let table = self.table(entity).await?;
        Ok(Box::new(SqlTransaction {
            connector: self.clone(),
            table,
            tx: None,
            copy: true,
            sql: Default::default(),
        }))
    }

    async fn fetch(&self, entity: &str, keys: &[Key]) -> Result<Vec<Record>> {
        let table = self.table(entity).await?;
        if !table.exists || keys.is_empty() {
            return Ok(Vec::new());
        }
        let db = self.db().await?;
        let select = read::selection(&table, None);
        let per_query = (db.bind_limit / table.key.len()).clamp(1, 10_000);
        let mut found = std::collections::HashMap::new();
        for chunk in keys.chunks(per_query) {
            let tuples = chunk
                .iter()
                .map(|k| key_values(&table, k, db.backend).map(|v| key_exprs(&table, v)));
            let mut filter = vec![
                statements::columns(&table, &table.key).is_in(tuples.collect::<Result<Vec<_>>>()?),
            ];
            filter.extend(statements::alive(&table));
            let stmt =
                statements::page(db, &table, &select, filter, &table.key, false, chunk.len());
            let rows =
                db.conn.query_all_raw(stmt).await.map_err(|e| {
                    DbError(e).context(format!("fetching from table {}", table.name))
                })?;
            for row in &rows {
                if let Change::Upsert(r) = read::change(&table, &select, row, false)? {
                    found.insert(r.key.clone(), r);
                }
            }
        }
        Ok(keys.iter().filter_map(|k| found.remove(k)).collect())
    }
}

use sea_orm::sea_query::ExprTrait;

/// The key columns' values of a key, checked against their types.
fn key_values(table: &Table, key: &Key, backend: crate::config::Backend) -> Result<Vec<SeaValue>> {
    let parts: Vec<&str> = key.parts().collect();
    if parts.len() != table.key.len() {
        return Err(bad(
            table,
            key,
            None,
            format!(
                "the key has {} parts, the table's key {} columns",
                parts.len(),
                table.key.len()
            ),
        ));
    }
    table
        .key
        .iter()
        .zip(parts)
        .map(|(&i, part)| {
            let c = &table.columns[i];
            encode::bind_value(c, Value::Text(part.into()), backend)
                .map_err(|m| bad(table, key, Some(i), m))
        })
        .collect()
}

/// Key values as an expression for `IN`, with the columns' casts.
fn key_exprs(table: &Table, values: Vec<SeaValue>) -> Expr {
    let exprs = table
        .key
        .iter()
        .zip(values)
        .map(|(&i, v)| encode::cast(&table.columns[i], Expr::val(v)));
    statements::values(exprs.collect())
}

/// A change the table cannot take, naming the table, key and column.
fn bad(table: &Table, key: &Key, column: Option<usize>, message: String) -> Error {
    let location = match column {
        Some(i) => {
            let c = &table.columns[i];
            format!(
                "entity {}, key {key}, column {} ({})",
                table.name, c.name, c.sql_type
            )
        }
        None => format!("entity {}, key {key}", table.name),
    };
    Error::BadRecord {
        connector: CONNECTOR.into(),
        location,
        message,
    }
}

/// The time writes stamp the cursor with: now, in microseconds, and always
/// later than the last stamp this process gave.
fn stamp() -> jiff::Timestamp {
    static LAST: AtomicI64 = AtomicI64::new(0);
    let now = jiff::Timestamp::now().as_microsecond();
    let prev = LAST.fetch_max(now, Ordering::SeqCst);
    let micros = if prev >= now {
        LAST.fetch_add(1, Ordering::SeqCst) + 1
    } else {
        now
    };
    jiff::Timestamp::from_microsecond(micros).unwrap_or_else(|_| jiff::Timestamp::now())
}

/// An open database transaction. PostgreSQL's is sqlx's own, on a
/// connection of the pool, so that it can `COPY`; SQLite's too, so that a
/// statement's values are bound as they are rather than copied first.
enum Tx {
    Orm(DatabaseTransaction),
    Lite(sea_orm::sqlx::Transaction<'static, sea_orm::sqlx::Sqlite>),
    Pg(PgTx),
    /// PostgreSQL's while its `COPY` task holds it.
    Copying(Copier),
}

impl Tx {
    async fn execute(&mut self, stmt: Statement) -> std::result::Result<(), DbErr> {
        match self {
            Tx::Orm(tx) => tx.execute_raw(stmt).await.map(|_| ()),
            Tx::Lite(tx) => sqlx_execute(&mut **tx, stmt).await,
            Tx::Pg(tx) => sqlx_execute(&mut **tx, stmt).await,
            Tx::Copying(_) => unreachable!("a statement runs on a settled transaction"),
        }
    }

    async fn commit(self) -> std::result::Result<(), DbErr> {
        match self {
            Tx::Orm(tx) => tx.commit().await,
            Tx::Lite(tx) => tx.commit().await.map_err(sqlx_error),
            Tx::Pg(tx) => tx.commit().await.map_err(sqlx_error),
            Tx::Copying(_) => unreachable!("a commit settles the transaction first"),
        }
    }

    async fn rollback(self) -> std::result::Result<(), DbErr> {
        match self {
            Tx::Orm(tx) => tx.rollback().await,
            Tx::Lite(tx) => tx.rollback().await.map_err(sqlx_error),
            Tx::Pg(tx) => tx.rollback().await.map_err(sqlx_error),
            Tx::Copying(copier) => match copier.settle().await {
                Ok(settled) => settled.tx.rollback().await.map_err(sqlx_error),
                // The task's end dropped the transaction: rolled back.
                Err(_) => Ok(()),
            },
        }
    }
}

/// Runs a statement on a connection of sqlx's own, its values as they are.
async fn sqlx_execute<'c, DB, C>(conn: C, stmt: Statement) -> std::result::Result<(), DbErr>
where
    DB: sea_orm::sqlx::Database,
    C: sea_orm::sqlx::Executor<'c, Database = DB>,
    sea_query_sqlx::SqlxValues: sea_orm::sqlx::IntoArguments<DB>,
{
    let values = stmt
        .values
        .unwrap_or(sea_orm::sea_query::Values(Vec::new()));
    sea_orm::sqlx::query_with(
        sea_orm::sqlx::AssertSqlSafe(stmt.sql),
        sea_query_sqlx::SqlxValues(values),
    )
    .execute(conn)
    .await
    .map(|_| ())
    .map_err(sqlx_error)
}

fn sqlx_error(e: sea_orm::sqlx::Error) -> DbErr {
    DbErr::Exec(sea_orm::RuntimeErr::SqlxError(Arc::new(e)))
}

struct SqlTransaction {
    connector: SqlConnector,
    table: Arc<Table>,
    tx: Option<Tx>,
    /// PostgreSQL: whether inserts still try `COPY` first, until one meets
    /// a row that exists, after which the transaction upserts.
    copy: bool,
    /// Upsert texts by columns and number of rows.
    sql: std::sync::Mutex<std::collections::HashMap<(Vec<usize>, usize), String>>,
}

impl SqlTransaction {
    /// Checks and binds every change, so that a bad one fails the batch
    /// before anything is written.
    fn prepare(&self, changes: Vec<Change>, now: jiff::Timestamp) -> Result<Vec<Op>> {
        let table = &self.table;
        let backend = self.connector.settings().backend;
        let mut ops = Vec::with_capacity(changes.len());
        // A record's values by column, emptied for each record.
        let mut slots: Vec<Option<SeaValue>> = vec![None; table.columns.len()];
        let mut cols: Arc<[usize]> = Arc::new([]);
        for change in changes {
            let record = match change {
                Change::Delete { key, .. } => {
                    let row = key_values(table, &key, backend)?;
                    ops.push(Op::Delete { key, row });
                    continue;
                }
                Change::Upsert(record) => record,
            };
            let key = record.key;
            for (&i, e) in table.key.iter().zip(key_values(table, &key, backend)?) {
                slots[i] = Some(e);
            }
            for (name, value) in record.fields {
                let Some(i) = table.column(&name) else {
                    return Err(bad(
                        table,
                        &key,
                        None,
                        format!("table {} has no column {name:?}", table.name),
                    ));
                };
                if table.key.contains(&i) {
                    continue;
                }
                let e = encode::bind_value(&table.columns[i], value, backend)
                    .map_err(|m| bad(table, &key, Some(i), m))?;
                slots[i] = Some(e);
            }
            if let Some(i) = table
                .cursor
                .filter(|&i| read::is_instant(table, i) && slots[i].is_none())
            {
                slots[i] = Some(self.bind_const(i, Value::DateTime(now)));
            }
            if let Some(i) = table.soft_delete.filter(|&i| slots[i].is_none()) {
                let cleared = match table.columns[i].kind {
                    FieldType::Bool => Value::Bool(false),
                    _ => Value::Null,
                };
                slots[i] = Some(self.bind_const(i, cleared));
            }
            // Rows of the same columns share one list of them.
            let present = || {
                slots
                    .iter()
                    .enumerate()
                    .filter_map(|(i, v)| v.as_ref().map(|_| i))
            };
            if !cols.iter().copied().eq(present()) {
                cols = present().collect();
            }
            let row = slots.iter_mut().filter_map(Option::take).collect();
            ops.push(Op::Upsert {
                key,
                cols: cols.clone(),
                row,
            });
        }
        Ok(ops)
    }

    /// The text of an upsert of `rows` rows of `cols`, built once per
    /// transaction.
    fn upsert_sql(&self, db: &crate::db::Db, cols: &[usize], rows: usize) -> String {
        let mut cache = self.sql.lock().expect("statement cache");
        let key = (cols.to_vec(), rows);
        let build = || match db.backend {
            crate::config::Backend::Postgres => statements::pg_upsert(&self.table, cols),
            _ => statements::upsert(db, &self.table, cols, rows),
        };
        cache.entry(key).or_insert_with(build).clone()
    }

    /// A value the connector writes itself (stamps, marks).
    fn bind_const(&self, i: usize, value: Value) -> SeaValue {
        let backend = self.connector.settings().backend;
        encode::bind_value(&self.table.columns[i], value, backend).unwrap_or(SeaValue::String(None))
    }

    /// Runs the ops as few statements as the parameter limit allows; a key
    /// seen twice starts a new statement, so the last change of a key wins.
    async fn execute(&mut self, ops: Vec<Op>, now: jiff::Timestamp) -> Result<()> {
        let db = self.begin().await?;
        for group in grouped(ops, db.bind_limit) {
            self.flush(&db, group, now).await?;
        }
        Ok(())
    }

    /// Begins the database transaction if it is not yet.
    async fn begin(&mut self) -> Result<crate::db::Db> {
        let db = self.connector.db().await?.clone();
        if self.tx.is_none() {
            let begun = match db.backend {
                crate::config::Backend::Postgres => db
                    .conn
                    .get_postgres_connection_pool()
                    .begin()
                    .await
                    .map(Tx::Pg)
                    .map_err(sqlx_error),
                crate::config::Backend::Sqlite => db
                    .conn
                    .get_sqlite_connection_pool()
                    .begin()
                    .await
                    .map(Tx::Lite)
                    .map_err(sqlx_error),
                _ => db.conn.begin().await.map(Tx::Orm),
            };
            let tx = begun.map_err(|e| {
                DbError(e).context(format!(
                    "starting a transaction on table {}",
                    self.table.name
                ))
            })?;
            self.tx = Some(tx);
        }
        Ok(db)
    }

    /// Sends a batch to the `COPY` task as one group; a batch the task
    /// does not write is upserted.
    async fn copy_batch(
        &mut self,
        changes: Vec<Change>,
        cols: Arc<[usize]>,
        data: Vec<u8>,
        now: jiff::Timestamp,
    ) -> Result<()> {
        let db = self.begin().await?;
        let segment = Segment {
            sql: statements::pg_copy(&self.table, &cols),
            data,
            cols,
            first: changes.first().map(|c| c.key().clone()),
            last: changes.last().map(|c| c.key().clone()),
            rows: Unwritten::Changes(changes),
        };
        self.send_copy(&db, segment, now).await
    }

    /// Sends a group to the `COPY` task, started on the transaction if it
    /// is not running yet. A group the task no longer takes is upserted
    /// after the ones it returns.
    async fn send_copy(
        &mut self,
        db: &crate::db::Db,
        segment: Segment,
        now: jiff::Timestamp,
    ) -> Result<()> {
        if let Some(Tx::Pg(_)) = self.tx
            && let Some(Tx::Pg(tx)) = self.tx.take()
        {
            self.tx = Some(Tx::Copying(Copier::start(tx)));
        }
        let Some(Tx::Copying(copier)) = &self.tx else {
            unreachable!("copies go on PostgreSQL's transaction")
        };
        match copier.send(segment).await {
            Ok(()) => Ok(()),
            Err(segment) => {
                self.settle(db, now).await?;
                self.upsert_unwritten(db, segment, now).await
            }
        }
    }

    /// Upserts a group the `COPY` task did not write.
    async fn upsert_unwritten(
        &mut self,
        db: &crate::db::Db,
        segment: Segment,
        now: jiff::Timestamp,
    ) -> Result<()> {
        match segment.rows {
            Unwritten::Rows(rows) => {
                let group = Group {
                    params: rows.len() * segment.cols.len(),
                    cols: Some(segment.cols),
                    rows,
                    keys: HashSet::new(),
                    first: segment.first,
                    last: segment.last,
                };
                self.write(db, group, now).await
            }
            Unwritten::Changes(changes) => {
                let ops = self.prepare(changes, now)?;
                for group in grouped(ops, db.bind_limit) {
                    self.write(db, group, now).await?;
                }
                Ok(())
            }
        }
    }

    async fn flush(
        &mut self,
        db: &crate::db::Db,
        group: Group,
        now: jiff::Timestamp,
    ) -> Result<()> {
        // PostgreSQL: rows new to the table go in by COPY, on a task of its
        // own.
        if let Some(cols) = group.cols.clone()
            && self.copy
            && matches!(self.tx, Some(Tx::Pg(_) | Tx::Copying(_)))
        {
            let segment = Segment {
                sql: statements::pg_copy(&self.table, &cols),
                data: statements::pg_copy_rows(&group.rows),
                cols,
                rows: Unwritten::Rows(group.rows),
                first: group.first,
                last: group.last,
            };
            return self.send_copy(db, segment, now).await;
        }
        self.settle(db, now).await?;
        self.write(db, group, now).await
    }

    /// Takes the transaction back from the `COPY` task, if it holds it,
    /// and upserts the groups it did not write.
    async fn settle(&mut self, db: &crate::db::Db, now: jiff::Timestamp) -> Result<()> {
        if !matches!(self.tx, Some(Tx::Copying(_))) {
            return Ok(());
        }
        let Some(Tx::Copying(copier)) = self.tx.take() else {
            unreachable!("checked above")
        };
        let settled = copier.settle().await.map_err(|e| Error::Transaction {
            connector: CONNECTOR.into(),
            message: format!("table {}: the COPY task failed: {e}", self.table.name),
        })?;
        self.tx = Some(Tx::Pg(settled.tx));
        if let Some((segment, e)) = settled.error {
            return Err(write_error(
                &self.table,
                &segment.first,
                &segment.last,
                sqlx_error(e),
            ));
        }
        if !settled.unwritten.is_empty() {
            self.copy = false;
        }
        for segment in settled.unwritten {
            self.upsert_unwritten(db, segment, now).await?;
        }
        Ok(())
    }

    /// Writes a group with one statement on the settled transaction.
    async fn write(
        &mut self,
        db: &crate::db::Db,
        mut group: Group,
        now: jiff::Timestamp,
    ) -> Result<()> {
        let table = self.table.clone();
        let table = &table;
        let (first, last) = (group.first.take(), group.last.take());
        // The error names the batch's keys; worded only when it fails.
        let failed = |e: DbErr| write_error(table, &first, &last, e);
        // SQLite: upserts go through SQLite's own API.
        if let Some(cols) = &group.cols
            && matches!(self.tx, Some(Tx::Lite(_)))
            && crate::lite::can_bind(&group.rows)
        {
            let sql = self.upsert_sql(db, cols, 1);
            if let Some(Tx::Lite(tx)) = self.tx.as_mut() {
                let mut handle = tx.lock_handle().await.map_err(|e| failed(sqlx_error(e)))?;
                // SAFETY: the locked handle keeps sqlx's worker off the
                // connection for the call.
                let done =
                    unsafe { crate::lite::run_rows(handle.as_raw_handle(), &sql, &group.rows) };
                return done.map_err(|e| {
                    failed(DbErr::Exec(sea_orm::RuntimeErr::Internal(format!(
                        "error returned from database: {e}"
                    ))))
                });
            }
        }
        let stmt = match &group.cols {
            Some(cols) if db.backend == crate::config::Backend::Postgres => {
                let sql = self.upsert_sql(db, cols, 0);
                let arrays = (0..cols.len())
                    .map(|j| {
                        SeaValue::String(Some(statements::pg_array(
                            group.rows.iter().map(|r| &r[j]),
                        )))
                    })
                    .collect::<Vec<_>>();
                Statement::from_sql_and_values(db.db_backend(), sql, arrays)
            }
            Some(cols) => {
                let sql = self.upsert_sql(db, cols, group.rows.len());
                let values = group.rows.into_iter().flatten().collect::<Vec<_>>();
                Statement::from_sql_and_values(db.db_backend(), sql, values)
            }
            None => {
                let keys = group
                    .rows
                    .into_iter()
                    .map(|v| key_exprs(table, v))
                    .collect();
                match table.soft_delete {
                    Some(s) => {
                        let mark = match table.columns[s].kind {
                            FieldType::Bool => Value::Bool(true),
                            _ => Value::DateTime(now),
                        };
                        let cast = |i: usize, v: SeaValue| {
                            (i, encode::cast(&table.columns[i], Expr::val(v)))
                        };
                        let mut set = vec![cast(s, self.bind_const(s, mark))];
                        if let Some(c) = table.cursor.filter(|&c| read::is_instant(table, c)) {
                            set.push(cast(c, self.bind_const(c, Value::DateTime(now))));
                        }
                        statements::soft_delete(db, table, set, keys)
                    }
                    None => statements::delete(db, table, keys),
                }
            }
        };
        let tx = self.tx.as_mut().expect("transaction begun");
        tx.execute(stmt).await.map_err(failed)
    }
}

/// The error of a group's write, naming the table and the group's keys.
fn write_error(table: &Table, first: &Option<Key>, last: &Option<Key>, e: DbErr) -> Error {
    let shown = |k: &Option<Key>| k.as_ref().map(Key::to_string).unwrap_or_default();
    let (first, last) = (shown(first), shown(last));
    let keys = match first == last {
        true => format!("key {first}"),
        false => format!("keys {first} .. {last}"),
    };
    DbError(e).context(format!("writing table {}, {keys}", table.name))
}

#[async_trait]
impl Transaction for SqlTransaction {
    async fn apply(&mut self, changes: Vec<Change>) -> Result<Vec<Applied>> {
        let applied = changes
            .iter()
            .map(|c| Applied {
                key: c.key().clone(),
                version: None,
            })
            .collect();
        if !self.table.exists {
            if !changes.iter().any(|c| matches!(c, Change::Upsert(_))) {
                return Ok(applied); // Deleting from a table that does not exist.
            }
            let db = self.connector.db().await?;
            ddl::create(db, &self.table, &changes).await?;
            let settings = self.connector.settings();
            let table = schema::load_table(db, settings, &self.table.name)
                .await?
                .ok_or_else(|| {
                    Error::other(
                        CONNECTOR,
                        format!("table {} was created but cannot be found", self.table.name),
                    )
                })?;
            self.table = self.connector.remember(table);
        }
        let now = stamp();
        if self.copy
            && self.connector.settings().backend == crate::config::Backend::Postgres
            && let Some((cols, data)) =
                copy::text(&self.table, self.connector.settings().backend, &changes)
        {
            self.copy_batch(changes, cols, data, now).await?;
            return Ok(applied);
        }
        let ops = self.prepare(changes, now)?;
        self.execute(ops, now).await?;
        Ok(applied)
    }

    async fn commit(mut self: Box<Self>) -> Result<()> {
        if matches!(self.tx, Some(Tx::Copying(_))) {
            let db = self.connector.db().await?.clone();
            self.settle(&db, stamp()).await?;
        }
        match self.tx.take() {
            Some(tx) => tx
                .commit()
                .await
                .map_err(|e| transaction_error(&self.table, "commit", e)),
            None => Ok(()),
        }
    }

    async fn rollback(mut self: Box<Self>) -> Result<()> {
        match self.tx.take() {
            Some(tx) => tx
                .rollback()
                .await
                .map_err(|e| transaction_error(&self.table, "roll back", e)),
            None => Ok(()),
        }
    }
}

fn transaction_error(table: &Table, what: &str, e: sea_orm::DbErr) -> Error {
    Error::Transaction {
        connector: CONNECTOR.into(),
        message: format!("table {}: cannot {what}: {e}", table.name),
    }
}
