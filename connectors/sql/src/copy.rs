//! PostgreSQL's `COPY` on a task of its own: while the server loads one
//! group of rows, the connector prepares the next and the engine plans the
//! batch after it.
//!
//! Each group is one `COPY ... FROM STDIN` inside a savepoint of its own.
//! The task holds the transaction until the connector settles it (before
//! any other statement, the commit or the rollback). A group that meets a
//! row that exists is rolled back to its savepoint; it and every group
//! queued after it come back unwritten, in order, for the connector to
//! upsert. Any other error comes back with the group that met it.
//!
//! [`text`] writes a batch of upserts straight into `COPY`'s text format.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sea_orm::sea_query::Value as SeaValue;
use sea_orm::sqlx::{self, Executor, Postgres};
use tandem_core::{Change, FieldType, Key, Value};

use crate::config::Backend;
use crate::schema::Table;
use crate::{encode, read, statements};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// A PostgreSQL transaction of sqlx's own.
pub(crate) type PgTx = sqlx::Transaction<'static, Postgres>;

/// Groups queued for the task beyond the one it is copying.
const DEPTH: usize = 2;

/// Rows sent as one `COPY`.
pub(crate) struct Segment {
    /// The `COPY` statement.
    pub sql: String,
    /// The rows in `COPY`'s text format; emptied once sent.
    pub data: Vec<u8>,
    pub cols: Arc<[usize]>,
    /// The rows, kept to be upserted instead.
    pub rows: Unwritten,
    pub first: Option<Key>,
    pub last: Option<Key>,
}

/// A group's rows as kept for an upsert: bound values, or the changes they
/// were written from (checked again when they are upserted).
pub(crate) enum Unwritten {
    Rows(Vec<Vec<SeaValue>>),
    Changes(Vec<tandem_core::Change>),
}

/// The transaction back from the task, with what it did not write.
pub(crate) struct Settled {
    pub tx: PgTx,
    /// The first error other than a row that exists, with its group.
    pub error: Option<(Segment, sqlx::Error)>,
    /// Groups not written because a row of the first of them exists.
    pub unwritten: Vec<Segment>,
}

/// The task copying groups into a transaction it holds.
pub(crate) struct Copier {
    queue: mpsc::Sender<Segment>,
    task: JoinHandle<Settled>,
    /// Set when the task stopped copying: a row existed or an error.
    stopped: Arc<AtomicBool>,
}

impl Copier {
    /// Starts the task on the current runtime; it holds `tx` until settled.
    pub fn start(mut tx: PgTx) -> Copier {
        let (queue, mut rx) = mpsc::channel::<Segment>(DEPTH);
        let stopped = Arc::new(AtomicBool::new(false));
        let flag = stopped.clone();
        let task = tokio::spawn(async move {
            let mut error = None;
            let mut unwritten = Vec::new();
            while let Some(mut segment) = rx.recv().await {
                if error.is_some() || !unwritten.is_empty() {
                    unwritten.push(segment);
                    continue;
                }
                let data = std::mem::take(&mut segment.data);
                match copy(&mut tx, &segment.sql, data).await {
                    Ok(true) => {}
                    Ok(false) => {
                        flag.store(true, Ordering::Release);
                        unwritten.push(segment);
                    }
                    Err(e) => {
                        flag.store(true, Ordering::Release);
                        error = Some((segment, e));
                    }
                }
            }
            if error.is_some() {
                unwritten.clear();
            }
            Settled {
                tx,
                error,
                unwritten,
            }
        });
        Copier {
            queue,
            task,
            stopped,
        }
    }

    /// Queues a group, waiting while the queue is full. The group comes
    /// back when the task has stopped copying: the connector settles it.
    pub async fn send(&self, segment: Segment) -> Result<(), Segment> {
        if self.stopped.load(Ordering::Acquire) {
            return Err(segment);
        }
        self.queue.send(segment).await.map_err(|e| e.0)
    }

    /// Waits until every queued group is copied or returned, and takes the
    /// transaction back.
    pub async fn settle(self) -> Result<Settled, tokio::task::JoinError> {
        drop(self.queue);
        self.task.await
    }
}

/// Inserts the rows with `COPY` inside a savepoint. `Ok(false)` when a row
/// exists already: the savepoint is rolled back and nothing was written.
async fn copy(tx: &mut PgTx, sql: &str, data: Vec<u8>) -> Result<bool, sqlx::Error> {
    let conn: &mut sqlx::PgConnection = tx;
    conn.execute("SAVEPOINT tandem_copy").await?;
    let copied = async {
        let mut copy = conn.copy_in_raw(sql).await?;
        if let Err(e) = copy.send(data).await {
            let _ = copy.abort(e.to_string()).await;
            return Err(e);
        }
        copy.finish().await
    }
    .await;
    match copied {
        Ok(_) => {
            conn.execute("RELEASE SAVEPOINT tandem_copy").await?;
            Ok(true)
        }
        Err(e) => {
            conn.execute("ROLLBACK TO SAVEPOINT tandem_copy").await?;
            let exists = e
                .as_database_error()
                .is_some_and(|d| d.code().as_deref() == Some("23505"));
            if exists { Ok(false) } else { Err(e) }
        }
    }
}

/// A batch of upserts of the same columns, checked and
/// written straight into `COPY`'s text format, with its columns and
/// its first and last keys. `None` when the batch holds anything else
/// (deletes, records of other columns, a value that does not fit, a
/// table that stamps or marks rows): it then goes the way of every
/// batch, which also words any error.
pub(crate) fn text(
    table: &Table,
    backend: Backend,
    changes: &[Change],
) -> Option<(Arc<[usize]>, Vec<u8>)> {
    if table.soft_delete.is_some() || table.cursor.is_some_and(|i| read::is_instant(table, i)) {
        return None;
    }
    let mut slots: Vec<Option<Value>> = vec![None; table.columns.len()];
    let mut cols: Option<Arc<[usize]>> = None;
    let mut out = Vec::with_capacity(changes.len() * 64);
    for change in changes {
        let Change::Upsert(record) = change else {
            return None;
        };
        let mut parts = record.key.parts();
        for &i in &table.key {
            let part = parts.next()?;
            slots[i] = Some(encode::coerce(Value::Text(part.into()), table.columns[i].kind).ok()?);
        }
        if parts.next().is_some() {
            return None;
        }
        for (name, value) in &record.fields {
            let i = table.column(name)?;
            if table.key.contains(&i) {
                continue;
            }
            slots[i] = Some(encode::coerce(value.clone(), table.columns[i].kind).ok()?);
        }
        let present = || {
            slots
                .iter()
                .enumerate()
                .filter_map(|(i, v)| v.as_ref().map(|_| i))
        };
        match &cols {
            Some(c) if c.iter().copied().eq(present()) => {}
            Some(_) => return None,
            None => cols = Some(present().collect()),
        }
        for (n, (i, slot)) in slots
            .iter_mut()
            .enumerate()
            .filter(|(_, v)| v.is_some())
            .enumerate()
        {
            if n > 0 {
                out.push(b'\t');
            }
            let value = slot.take().expect("a present slot");
            cell(value, table.columns[i].kind, backend, &mut out);
        }
        out.push(b'\n');
    }
    Some((cols?, out))
}

/// One coerced value in `COPY`'s text format, as its bound value would be
/// written ([`statements::pg_copy_value`]); the common types directly.
fn cell(value: Value, kind: FieldType, backend: Backend, out: &mut Vec<u8>) {
    use std::io::Write;
    match (kind, value) {
        (_, Value::Null) => out.extend_from_slice(b"\\N"),
        (FieldType::Int, Value::Int(i)) => {
            let _ = write!(out, "{i}");
        }
        (FieldType::Float, Value::Float(f)) if f.is_finite() => {
            let _ = write!(out, "{f:?}");
        }
        (FieldType::Bool, Value::Bool(b)) => out.push(if b { b't' } else { b'f' }),
        (
            FieldType::Text | FieldType::Decimal | FieldType::Unknown,
            Value::Text(s) | Value::Decimal(s),
        ) => statements::pg_copy_escape(s.as_bytes(), out),
        (kind, value) => statements::pg_copy_value(&encode::to_sea(value, kind, backend), out),
    }
}
