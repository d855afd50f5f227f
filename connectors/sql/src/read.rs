//! The database as a source: discover its tables, read them in full or
//! from a cursor, page by page.

use std::sync::Arc;

use async_trait::async_trait;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ConnectionTrait, QueryResult};
use tandem_core::{
    Batch, BatchStream, Capabilities, Change, EntitySchema, Error, FieldType, Key, ReadRequest,
    ReadScope, Record, Result, Source, Value,
};

use crate::cursor::{self, Position, Seen, State, Window};
use crate::db::Db;
use crate::schema::Table;
use crate::{CONNECTOR, SqlConnector, decode, encode, schema, statements};

#[async_trait]
impl Source for SqlConnector {
    fn capabilities(&self) -> Capabilities {
        SqlConnector::capabilities(self)
    }

    async fn entities(&self) -> Result<Vec<EntitySchema>> {
        let db = self.db().await?;
        let mut out = Vec::new();
        let settings = self.settings();
        for name in schema::table_names(db, settings).await? {
            let table = match self.table(&name).await {
                // A table nobody asked for that has no key is left out.
                Err(e @ Error::Config { .. })
                    if settings.tables.is_none() && !settings.table.contains_key(&name) =>
                {
                    tracing::warn!(table = %name, "not an entity: {e}");
                    continue;
                }
                other => other?,
            };
            let mut entity = table.entity();
            if !table.exists {
                entity.key = table.config.key.clone().unwrap_or_default();
            }
            out.push(entity);
        }
        Ok(out)
    }

    async fn read(&self, request: ReadRequest) -> Result<BatchStream> {
        let table = self.table(&request.entity).await?;
        let state = match &request.scope {
            ReadScope::Full => None,
            ReadScope::Since(c) => {
                if table.config.cursor.is_none() {
                    return Err(Error::config(
                        CONNECTOR,
                        format!(
                            "table {}: an incremental read needs a cursor column; \
                             set cursor = \"COLUMN\" in its table settings",
                            table.name
                        ),
                    ));
                }
                Some(cursor::decode(&table.name, c)?)
            }
            _ => return Err(Error::config(CONNECTOR, "per-day reads are not supported")),
        };
        if !table.exists {
            // A table to be created reads as empty.
            let batch = Batch {
                cursor: table
                    .config
                    .cursor
                    .as_ref()
                    .map(|_| cursor::encode(&table.name, state.unwrap_or_default())),
                ..Batch::default()
            };
            return Ok(Box::pin(futures::stream::iter([Ok(batch)])));
        }
        let db = self.db().await?.clone();
        let select = selection(&table, request.fields.as_deref());
        let upper = match table.cursor {
            Some(_) => last_position(&db, &table).await?,
            None => None,
        };
        let mut pager = Pager {
            db,
            table,
            select,
            since: state.is_some(),
            after: None,
            after_key: None,
            upper,
            from: None,
            read_before: None,
            window: None,
            limit: request.batch_size.max(1),
            done: false,
        };
        pager.start(state);
        Ok(Box::pin(futures::stream::try_unfold(
            pager,
            |mut pager| async move {
                if pager.done {
                    return Ok(None);
                }
                let batch = pager.next_batch().await?;
                Ok(Some((batch, pager)))
            },
        )))
    }
}

/// The columns a read selects: the key, the requested fields (all by
/// default), the cursor and the soft-delete mark.
pub(crate) fn selection(table: &Table, fields: Option<&[String]>) -> Vec<usize> {
    let mut select = table.key.clone();
    for (i, c) in table.columns.iter().enumerate() {
        let wanted = table.is_field(i) && fields.is_none_or(|f| f.contains(&c.name));
        if wanted && !select.contains(&i) {
            select.push(i);
        }
    }
    select.extend(table.cursor);
    select.extend(table.soft_delete);
    select
}

/// The last `(cursor, key)` position of the table now: the upper bound of
/// a read that starts now.
async fn last_position(db: &Db, table: &Table) -> Result<Option<Position>> {
    let cursor = table.cursor.expect("a table with a cursor");
    let mut order = vec![cursor];
    order.extend(&table.key);
    let filter = vec![
        Expr::col(sea_orm::sea_query::Alias::new(
            table.columns[cursor].name.as_str(),
        ))
        .is_not_null(),
    ];
    let stmt = statements::page(db, table, &order, filter, &order, true, 1);
    let rows = db
        .conn
        .query_all_raw(stmt)
        .await
        .map_err(|e| read_error(table, e))?;
    rows.first()
        .map(|row| position(table, row, &order, 0))
        .transpose()
}

/// Reads the position held by the columns `order` starting at `first`.
fn position(table: &Table, row: &QueryResult, order: &[usize], first: usize) -> Result<Position> {
    let mut values = Vec::with_capacity(order.len());
    for (k, &i) in order.iter().enumerate() {
        let name = &table.columns[i].name;
        values.push(decode::raw(row, first + k).map_err(|m| bad_cell(table, name, m))?);
    }
    let at = values.remove(0);
    Ok(Position { at, key: values })
}

fn read_error(table: &Table, e: sea_orm::DbErr) -> Error {
    crate::db::DbError(e).context(format!("reading table {}", table.name))
}

fn bad_cell(table: &Table, column: &str, message: String) -> Error {
    Error::BadRecord {
        connector: CONNECTOR.into(),
        location: format!("entity {}, column {column}", table.name),
        message,
    }
}

/// A read in progress.
struct Pager {
    db: Db,
    table: Arc<Table>,
    select: Vec<usize>,
    /// An incremental read (else a full one).
    since: bool,
    /// Incremental: the position read up to.
    after: Option<Position>,
    /// Full: the key read up to.
    after_key: Option<Vec<Value>>,
    /// The last position when the read started.
    upper: Option<Position>,
    /// Incremental, with a window: the rows stamped from here on are read.
    from: Option<jiff::Timestamp>,
    /// Incremental: the position the cursor's read ended at.
    read_before: Option<Position>,
    /// A timestamp cursor column's window: the rows reported in it.
    window: Option<Window>,
    limit: usize,
    done: bool,
}

impl Pager {
    /// Sets where the read starts. A timestamp cursor column reads again
    /// the window of the cursor (a cursor made before windows starts one
    /// at its position); another goes on after the cursor's position.
    fn start(&mut self, state: Option<State>) {
        let windowed = self
            .table
            .cursor
            .is_some_and(|c| is_instant(&self.table, c));
        let Some(state) = state else {
            if windowed {
                let newest = self.upper.as_ref().and_then(|p| self.stamp(&p.at));
                self.from = newest.map(|t| t.min(jiff::Timestamp::now()) - self.lookback());
                self.window = Some(Window::default());
            }
            return;
        };
        if windowed {
            let lookback = self.lookback();
            let from = match &state.window {
                Some(w) => w.from,
                None => state
                    .after
                    .as_ref()
                    .and_then(|p| self.stamp(&p.at))
                    .map(|t| t - lookback),
            };
            if from.is_some() || state.after.is_none() {
                self.from = from;
                self.window = Some(state.window.unwrap_or_default());
            } else {
                // A position whose stamp does not read as an instant.
                self.after = state.after.clone();
            }
        } else {
            self.after = state.after.clone();
        }
        self.read_before = state.after;
    }

    /// The table's lookback window.
    fn lookback(&self) -> jiff::SignedDuration {
        let secs = self
            .table
            .config
            .lookback_seconds
            .unwrap_or(cursor::DEFAULT_LOOKBACK_SECONDS);
        jiff::SignedDuration::from_secs(i64::try_from(secs).unwrap_or(i64::MAX))
    }

    /// A cursor value as the instant it stamps.
    fn stamp(&self, at: &Value) -> Option<jiff::Timestamp> {
        let column = &self.table.columns[self.table.cursor?];
        match decode::typed(column, at.clone()) {
            Value::DateTime(t) => Some(t),
            _ => None,
        }
    }

    /// Whether a change goes out: always in a full read (which remembers
    /// the rows of the next window); in an incremental read with a window,
    /// unless it was reported before as it is.
    fn keep(&mut self, change: &Change) -> bool {
        let Some(window) = self.window.as_mut() else {
            return true;
        };
        let (at, hash) = match change {
            Change::Upsert(r) => (r.modified, Some(r)),
            Change::Delete { at, .. } => (*at, None),
        };
        let Some(at) = at else {
            return true;
        };
        // A full read remembers only the rows of the next window.
        if !self.since && self.from.is_some_and(|f| at < f) {
            return true;
        }
        let seen = Seen::new(at, hash.map(Record::content_hash));
        let new = window.report(change.key().as_str(), seen);
        if window.seen.len() > 2 * cursor::MAX_SEEN {
            window.trim();
        }
        new || !self.since
    }

    async fn next_batch(&mut self) -> Result<Batch> {
        let table = Arc::clone(&self.table);
        let backend = self.db.backend;
        let bind = |i: usize, v: &Value| {
            encode::bind_raw(&table.columns[i], v, backend)
                .map_err(|m| bad_cell(&table, &table.columns[i].name, m))
        };
        let mut filter = Vec::new();
        let order: Vec<usize> = if self.since {
            let cursor = table.cursor.expect("checked by read");
            let mut order = vec![cursor];
            order.extend(&table.key);
            let Some(upper) = &self.upper else {
                self.done = true;
                return Ok(self.last(Vec::new()));
            };
            let tuple = |p: &Position| -> Result<Expr> {
                let mut v = vec![bind(cursor, &p.at)?];
                for (k, value) in table.key.iter().zip(&p.key) {
                    v.push(bind(*k, value)?);
                }
                Ok(Expr::tuple(v))
            };
            let cols = Expr::tuple(order.iter().map(|&i| {
                Expr::col(sea_orm::sea_query::Alias::new(
                    table.columns[i].name.as_str(),
                ))
            }));
            if let Some(from) = self.from {
                let column = Expr::col(sea_orm::sea_query::Alias::new(
                    table.columns[cursor].name.as_str(),
                ));
                filter.push(column.gte(bind(cursor, &Value::DateTime(from))?));
            }
            if let Some(after) = &self.after {
                filter.push(cols.clone().gt(tuple(after)?));
            }
            filter.push(cols.lte(tuple(upper)?));
            order
        } else {
            if let Some(key) = &self.after_key {
                let v = table
                    .key
                    .iter()
                    .zip(key)
                    .map(|(&i, v)| bind(i, v))
                    .collect::<Result<Vec<_>>>()?;
                filter.push(statements::columns(&table, &table.key).gt(statements::values(v)));
            }
            filter.extend(statements::alive(&table));
            table.key.clone()
        };
        let stmt = statements::page(
            &self.db,
            &table,
            &self.select,
            filter,
            &order,
            false,
            self.limit,
        );
        let rows = self
            .db
            .conn
            .query_all_raw(stmt)
            .await
            .map_err(|e| read_error(&table, e))?;
        let mut changes = Vec::with_capacity(rows.len());
        for row in &rows {
            let change = change(&table, &self.select, row, self.since)?;
            if self.keep(&change) {
                changes.push(change);
            }
        }
        if let Some(row) = rows.last() {
            let key_at = self
                .select
                .iter()
                .position(|&i| i == table.key[0])
                .expect("key selected");
            if self.since {
                let at = self
                    .select
                    .iter()
                    .position(|&i| Some(i) == table.cursor)
                    .expect("cursor selected");
                let mut p = position(&table, row, &[table.cursor.unwrap()], at)?;
                p.key = (0..table.key.len())
                    .map(|k| decode::raw(row, key_at + k).map_err(|m| bad_cell(&table, "key", m)))
                    .collect::<Result<_>>()?;
                self.after = Some(p);
            } else {
                self.after_key = Some(
                    (0..table.key.len())
                        .map(|k| {
                            decode::raw(row, key_at + k).map_err(|m| bad_cell(&table, "key", m))
                        })
                        .collect::<Result<_>>()?,
                );
            }
        }
        if rows.len() < self.limit {
            self.done = true;
            return Ok(self.last(changes));
        }
        Ok(Batch {
            changes,
            ..Batch::default()
        })
    }

    /// The last batch: it carries the cursor, for a table with one. A
    /// full read saw everything up to where the table ended when it
    /// started; an incremental one, up to there too. A window goes on
    /// from the newest stamp of those positions.
    fn last(&mut self, changes: Vec<Change>) -> Batch {
        let after = self.upper.clone().or_else(|| self.read_before.clone());
        let window = self.window.take().map(|w| {
            let stamps = [&self.upper, &self.read_before];
            let newest = stamps
                .into_iter()
                .flatten()
                .filter_map(|p| self.stamp(&p.at))
                .max();
            match newest {
                Some(t) => w.next(t, self.lookback()),
                None => {
                    let mut w = w;
                    w.trim();
                    w
                }
            }
        });
        let cursor = self
            .table
            .cursor
            .map(|_| cursor::encode(&self.table.name, State { after, window }));
        Batch {
            changes,
            cursor,
            ..Batch::default()
        }
    }
}

/// A row (of the columns `select`) as a change: an upsert, or with
/// `deletes` a delete when the row is marked deleted.
pub(crate) fn change(
    table: &Table,
    select: &[usize],
    row: &QueryResult,
    deletes: bool,
) -> Result<Change> {
    let mut key_parts = Vec::with_capacity(table.key.len());
    let mut record = Record::new(Key::new(""));
    let mut deleted = false;
    for (n, &i) in select.iter().enumerate() {
        let c = &table.columns[i];
        let raw = decode::raw(row, n).map_err(|m| bad_cell(table, &c.name, m))?;
        let value = decode::typed(c, raw);
        if table.key.contains(&i) {
            key_parts.push(value.canonical());
        }
        if Some(i) == table.cursor {
            if let Value::DateTime(t) = value {
                record.modified = Some(t);
            }
        } else if Some(i) == table.soft_delete {
            deleted = !matches!(value, Value::Null | Value::Bool(false));
        } else {
            record.fields.push((c.name.as_str().into(), value));
        }
    }
    record.key = Key::composite(&key_parts);
    if deleted && deletes {
        return Ok(Change::Delete {
            key: record.key,
            at: record.modified,
        });
    }
    Ok(Change::Upsert(record))
}

/// Whether a column's cells are instants (the cursor stamps them).
pub(crate) fn is_instant(table: &Table, i: usize) -> bool {
    table.columns[i].kind == FieldType::DateTime
}
