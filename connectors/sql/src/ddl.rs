//! Creating a table (`create = true`) with types taken from the records
//! of its first write.

use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Alias, ColumnDef, Index, Table as TableStmt};
use tandem_core::{Change, FieldType, Result};

use crate::config::Backend;
use crate::db::{Db, DbError};
use crate::schema::Table;
use crate::types::{ddl_type, kind_of_value};

/// Creates the table for these changes (if no one else did meanwhile):
/// the key columns (types from the records' key fields, text by default),
/// then every field in the order the records first carry them, then the
/// cursor and soft-delete columns as timestamps.
pub(crate) async fn create(db: &Db, table: &Table, changes: &[Change]) -> Result<()> {
    let key = table.config.key.clone().unwrap_or_default();
    let mut columns: Vec<(String, Option<FieldType>)> =
        key.iter().map(|k| (k.clone(), None)).collect();
    for change in changes {
        let Change::Upsert(record) = change else {
            continue;
        };
        for (name, value) in &record.fields {
            match columns.iter_mut().find(|(n, _)| n == name) {
                Some((_, kind @ None)) => *kind = kind_of_value(value),
                Some(_) => {}
                None => columns.push((name.to_string(), kind_of_value(value))),
            }
        }
    }
    for c in [&table.config.cursor, &table.config.soft_delete]
        .into_iter()
        .flatten()
    {
        columns.retain(|(n, _)| n != c);
        columns.push((c.clone(), Some(FieldType::DateTime)));
    }
    let mut stmt = TableStmt::create();
    stmt.table(table.table_ref()).if_not_exists();
    for (name, kind) in &columns {
        let is_key = key.contains(name);
        let sql_type = ddl_type(db.backend, kind.unwrap_or(FieldType::Text), is_key);
        let mut def = ColumnDef::new(Alias::new(name.as_str()));
        def.custom(Alias::new(sql_type));
        if is_key {
            def.not_null();
        }
        stmt.col(&mut def);
    }
    let mut pk = Index::create();
    for k in &key {
        pk.col(Alias::new(k.as_str()));
    }
    stmt.primary_key(&mut pk);
    let index = table.config.cursor.as_ref().map(|cursor| {
        let mut index = Index::create();
        index
            .name(format!("{}_{}_tandem_cursor", table.name, cursor))
            .table(table.table_ref())
            .col(Alias::new(cursor.as_str()));
        for k in &key {
            index.col(Alias::new(k.as_str()));
        }
        index
    });
    let inline = db.backend == Backend::MySql;
    if let (Some(mut index), true) = (index.clone(), inline) {
        // MySQL has no CREATE INDEX IF NOT EXISTS: the index goes inline.
        stmt.index(&mut index);
    }
    let context = |e: sea_orm::DbErr| DbError(e).context(format!("creating table {}", table.name));
    db.conn.execute(&stmt).await.map_err(context)?;
    if let (Some(mut index), false) = (index, inline) {
        db.conn
            .execute(index.if_not_exists())
            .await
            .map_err(context)?;
    }
    Ok(())
}
