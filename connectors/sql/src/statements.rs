//! The statements the connector runs, built by sea-query in the dialect of
//! the database: pages of a read, upserts, deletes, soft deletes.

use sea_orm::Statement;
use sea_orm::sea_query::{
    self, Alias, Cond, DeleteStatement, Expr, ExprTrait, InsertStatement, OnConflict, Order, Query,
    SelectStatement, UpdateStatement,
};
use tandem_core::FieldType;

use crate::config::Backend;
use crate::db::Db;
use crate::encode;
use crate::schema::{Column, Table};

fn col(c: &Column) -> Expr {
    Expr::col(Alias::new(c.name.as_str()))
}

/// A column as selected: cast to text where the driver has no exact type.
fn selected(c: &Column, backend: Backend) -> Expr {
    match (c.text_read, backend) {
        (true, Backend::Postgres) => col(c).cast_as(Alias::new("text")),
        (true, Backend::MySql) => col(c).cast_as(Alias::new("char")),
        _ => col(c),
    }
}

/// `(a, b)` for several columns, `a` for one.
pub(crate) fn columns(table: &Table, idx: &[usize]) -> Expr {
    match idx {
        [i] => col(&table.columns[*i]),
        _ => Expr::tuple(idx.iter().map(|&i| col(&table.columns[i]))),
    }
}

/// `(?, ?)` for several values, `?` for one.
pub(crate) fn values(mut exprs: Vec<Expr>) -> Expr {
    if exprs.len() == 1 {
        exprs.remove(0)
    } else {
        Expr::tuple(exprs)
    }
}

/// The condition that a row is not marked deleted.
pub(crate) fn alive(table: &Table) -> Option<Expr> {
    let c = &table.columns[table.soft_delete?];
    Some(match c.kind {
        FieldType::Bool => Cond::any()
            .add(col(c).is_null())
            .add(col(c).eq(false))
            .into(),
        _ => col(c).is_null(),
    })
}

/// A page of rows: the columns `select`, where `filter` holds, in the
/// order of the columns `order` (descending when `desc`), at most `limit`.
pub(crate) fn page(
    db: &Db,
    table: &Table,
    select: &[usize],
    filter: Vec<Expr>,
    order: &[usize],
    desc: bool,
    limit: usize,
) -> Statement {
    let mut q: SelectStatement = Query::select();
    for &i in select {
        q.expr(selected(&table.columns[i], db.backend));
    }
    q.from(table.table_ref());
    for f in filter {
        q.and_where(f);
    }
    let dir = if desc { Order::Desc } else { Order::Asc };
    for &i in order {
        q.order_by(Alias::new(table.columns[i].name.as_str()), dir.clone());
    }
    q.limit(limit as u64);
    db.db_backend().build(&q)
}

/// The text of an upsert of `rows` rows (each the values of `cols`, in
/// order) on the table's key, setting the non-key columns of `cols`. The
/// text depends only on the columns and the number of rows, so a
/// transaction builds it once and binds each batch's values to it.
pub(crate) fn upsert(db: &Db, table: &Table, cols: &[usize], rows: usize) -> String {
    let mut q: InsertStatement = Query::insert();
    q.into_table(table.table_ref());
    q.columns(
        cols.iter()
            .map(|&i| Alias::new(table.columns[i].name.as_str())),
    );
    for _ in 0..rows {
        q.values_panic(
            cols.iter()
                .map(|&i| encode::cast(&table.columns[i], Expr::val(sea_query::Value::Bool(None)))),
        );
    }
    let key: Vec<Alias> = table
        .key
        .iter()
        .map(|&i| Alias::new(table.columns[i].name.as_str()))
        .collect();
    let update: Vec<Alias> = cols
        .iter()
        .filter(|i| !table.key.contains(i))
        .map(|&i| Alias::new(table.columns[i].name.as_str()))
        .collect();
    let mut on = OnConflict::columns(key.clone());
    if update.is_empty() {
        match db.backend {
            // MySQL has no DO NOTHING: set a key column to itself.
            Backend::MySql => on.value(key[0].clone(), Expr::col(key[0].clone())),
            _ => on.do_nothing(),
        };
    } else {
        on.update_columns(update);
    }
    q.on_conflict(on);
    db.db_backend().build(&q).sql
}

/// A delete of the rows with these keys.
pub(crate) fn delete(db: &Db, table: &Table, keys: Vec<Expr>) -> Statement {
    let mut q: DeleteStatement = Query::delete();
    q.from_table(table.table_ref());
    q.and_where(columns(table, &table.key).is_in(keys));
    db.db_backend().build(&q)
}

/// Marks the rows with these keys deleted (those not marked yet),
/// setting `set` (the mark, and the cursor).
pub(crate) fn soft_delete(
    db: &Db,
    table: &Table,
    set: Vec<(usize, Expr)>,
    keys: Vec<Expr>,
) -> Statement {
    let mut q: UpdateStatement = Query::update();
    q.table(table.table_ref());
    for (i, value) in set {
        q.value(Alias::new(table.columns[i].name.as_str()), value);
    }
    q.and_where(columns(table, &table.key).is_in(keys));
    if let Some(a) = alive(table) {
        q.and_where(a);
    }
    db.db_backend().build(&q)
}

/// PostgreSQL's upsert: one text array per column, unnested and cast to
/// the column's type, so that a statement binds as many parameters as
/// there are columns, whatever the number of rows (see [`pg_array`]).
pub(crate) fn pg_upsert(table: &Table, cols: &[usize]) -> String {
    let q = pg_quote;
    let (target, names) = pg_target(table, cols);
    let exprs: Vec<String> = cols
        .iter()
        .map(|&i| {
            let c = &table.columns[i];
            format!("CAST(u.{} AS {})", q(&c.name), q(&c.sql_type))
        })
        .collect();
    let arrays: Vec<String> = (1..=cols.len())
        .map(|n| format!("CAST(${n} AS text[])"))
        .collect();
    let key: Vec<String> = table
        .key
        .iter()
        .map(|&i| q(&table.columns[i].name))
        .collect();
    let update: Vec<String> = cols
        .iter()
        .filter(|i| !table.key.contains(i))
        .map(|&i| {
            let n = q(&table.columns[i].name);
            format!("{n} = EXCLUDED.{n}")
        })
        .collect();
    let action = if update.is_empty() {
        "DO NOTHING".to_owned()
    } else {
        format!("DO UPDATE SET {}", update.join(", "))
    };
    let names = names.join(", ");
    format!(
        "INSERT INTO {target} ({names}) SELECT {} FROM unnest({}) AS u({names}) ON CONFLICT ({}) {action}",
        exprs.join(", "),
        arrays.join(", "),
        key.join(", "),
    )
}

/// A PostgreSQL array literal of text holding bound values (`NULL` for
/// nulls), for [`pg_upsert`].
pub(crate) fn pg_array<'a>(values: impl Iterator<Item = &'a sea_query::Value>) -> String {
    let mut out = String::from("{");
    for (n, v) in values.enumerate() {
        if n > 0 {
            out.push(',');
        }
        let Some(text) = pg_text(v) else {
            out.push_str("NULL");
            continue;
        };
        out.push('"');
        for c in text.chars() {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
    }
    out.push('}');
    out
}

/// A bound value as the text PostgreSQL reads for its column's type;
/// `None` for a null.
fn pg_text(v: &sea_query::Value) -> Option<String> {
    use sea_query::Value as S;
    use std::fmt::Write;
    Some(match v {
        S::BigInt(Some(i)) => i.to_string(),
        S::Double(Some(f)) => match f {
            f if f.is_nan() => "NaN".to_owned(),
            f if f.is_infinite() && *f > 0.0 => "Infinity".to_owned(),
            f if f.is_infinite() => "-Infinity".to_owned(),
            f => format!("{f:?}"),
        },
        S::Bool(Some(b)) => (if *b { "t" } else { "f" }).to_owned(),
        S::String(Some(s)) => s.clone(),
        S::Bytes(Some(b)) => {
            let mut hex = String::with_capacity(2 + 2 * b.len());
            hex.push_str("\\x");
            for byte in b {
                let _ = write!(hex, "{byte:02x}");
            }
            hex
        }
        S::ChronoDateTimeUtc(Some(t)) => t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        S::ChronoDate(Some(d)) => d.to_string(),
        _ => return None,
    })
}

/// PostgreSQL's `COPY ... FROM STDIN` of `cols` into the table.
pub(crate) fn pg_copy(table: &Table, cols: &[usize]) -> String {
    let (target, names) = pg_target(table, cols);
    format!("COPY {target} ({}) FROM STDIN", names.join(", "))
}

/// A PostgreSQL identifier, quoted.
fn pg_quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The table's qualified name and the names of `cols`, quoted.
fn pg_target(table: &Table, cols: &[usize]) -> (String, Vec<String>) {
    let target = match &table.schema {
        Some(s) => format!("{}.{}", pg_quote(s), pg_quote(&table.name)),
        None => pg_quote(&table.name),
    };
    let names = cols
        .iter()
        .map(|&i| pg_quote(&table.columns[i].name))
        .collect();
    (target, names)
}

/// Rows of bound values as COPY's text format: tab-separated, `\N` for
/// nulls, one line per row.
pub(crate) fn pg_copy_rows(rows: &[Vec<sea_query::Value>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rows.len() * 64);
    for row in rows {
        for (n, v) in row.iter().enumerate() {
            if n > 0 {
                out.push(b'\t');
            }
            pg_copy_value(v, &mut out);
        }
        out.push(b'\n');
    }
    out
}

/// One value in COPY's text format; text is escaped as it is copied.
pub(crate) fn pg_copy_value(v: &sea_query::Value, out: &mut Vec<u8>) {
    use sea_query::Value as S;
    use std::io::Write;
    match v {
        S::BigInt(Some(i)) => {
            let _ = write!(out, "{i}");
        }
        S::Double(Some(f)) if f.is_finite() => {
            let _ = write!(out, "{f:?}");
        }
        S::String(Some(s)) => pg_copy_escape(s.as_bytes(), out),
        v => match pg_text(v) {
            Some(text) => pg_copy_escape(text.as_bytes(), out),
            None => out.extend_from_slice(b"\\N"),
        },
    }
}

pub(crate) fn pg_copy_escape(text: &[u8], out: &mut Vec<u8>) {
    let mut start = 0;
    for (i, &b) in text.iter().enumerate() {
        let escaped: &[u8] = match b {
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            _ => continue,
        };
        out.extend_from_slice(&text[start..i]);
        out.extend_from_slice(escaped);
        start = i + 1;
    }
    out.extend_from_slice(&text[start..]);
}
