//! Discover: the tables of the database, their columns, types and keys.

use sea_orm::sea_query::{Alias, IntoTableRef, TableRef};
use tandem_core::{EntitySchema, Error, FieldSchema, FieldType, Result};

use crate::CONNECTOR;
use crate::config::{Backend, Settings, TableConfig};
use crate::db::{Db, text_at};
use crate::types::{self, kind_of};

/// One column of a table.
#[derive(Debug, Clone)]
pub(crate) struct Column {
    pub name: String,
    pub kind: FieldType,
    /// The type as the catalog names it, lowercase.
    pub sql_type: String,
    pub nullable: bool,
    /// PostgreSQL: the type a bound value is cast to.
    pub cast: Option<String>,
    /// Read through a cast to text.
    pub text_read: bool,
}

impl Column {
    pub fn new(backend: Backend, name: String, sql_type: String, nullable: bool) -> Column {
        let sql_type = sql_type.to_ascii_lowercase();
        let kind = kind_of(backend, &sql_type);
        let cast = match backend {
            Backend::Postgres => types::pg_cast(kind, &sql_type),
            _ => None,
        };
        Column {
            text_read: types::read_as_text(backend, kind, &sql_type),
            name,
            kind,
            sql_type,
            nullable,
            cast,
        }
    }
}

/// A table as an entity: its columns and which of them are the key, the
/// cursor and the soft-delete mark.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    pub name: String,
    /// The schema (PostgreSQL) or database (MySQL) it is in.
    pub schema: Option<String>,
    pub columns: Vec<Column>,
    /// Indexes into `columns`.
    pub key: Vec<usize>,
    pub cursor: Option<usize>,
    pub soft_delete: Option<usize>,
    /// Whether it exists yet (a `create = true` table may not).
    pub exists: bool,
    pub config: TableConfig,
}

impl Table {
    /// The table as sea-query names it.
    pub fn table_ref(&self) -> TableRef {
        match &self.schema {
            Some(s) => (Alias::new(s.as_str()), Alias::new(self.name.as_str())).into_table_ref(),
            None => Alias::new(self.name.as_str()).into_table_ref(),
        }
    }

    /// The index of a column.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// Whether a column is a field of records (not the cursor or the
    /// soft-delete mark).
    pub fn is_field(&self, i: usize) -> bool {
        Some(i) != self.cursor && Some(i) != self.soft_delete
    }

    /// The entity schema that discover reports.
    pub fn entity(&self) -> EntitySchema {
        EntitySchema {
            name: self.name.clone(),
            key: self
                .key
                .iter()
                .map(|&i| self.columns[i].name.clone())
                .collect(),
            fields: (0..self.columns.len())
                .filter(|&i| self.is_field(i))
                .map(|i| {
                    let c = &self.columns[i];
                    FieldSchema {
                        name: c.name.clone(),
                        kind: c.kind,
                        nullable: c.nullable,
                    }
                })
                .collect(),
        }
    }

    /// Builds a table from its columns and primary key, checking the
    /// configured key, cursor and soft-delete columns against them.
    pub fn build(
        name: &str,
        schema: Option<String>,
        columns: Vec<Column>,
        primary_key: Vec<String>,
        config: TableConfig,
    ) -> Result<Table> {
        let err = |m: String| Err(Error::config(CONNECTOR, format!("table {name}: {m}")));
        let find = |setting: &str, c: &str| match columns.iter().position(|col| col.name == c) {
            Some(i) => Ok(i),
            None => Err(Error::config(
                CONNECTOR,
                format!("table {name}: {setting}: no column {c:?}"),
            )),
        };
        let key_names = config.key.clone().unwrap_or(primary_key);
        if key_names.is_empty() {
            return err("it has no primary key and no key is configured; \
                        set key = [\"column\", ...] in its table settings"
                .into());
        }
        let key = key_names
            .iter()
            .map(|k| find("key", k))
            .collect::<Result<Vec<_>>>()?;
        let cursor = config
            .cursor
            .as_deref()
            .map(|c| find("cursor", c))
            .transpose()?;
        let soft_delete = config
            .soft_delete
            .as_deref()
            .map(|c| find("soft_delete", c))
            .transpose()?;
        Ok(Table {
            name: name.to_owned(),
            schema,
            columns,
            key,
            cursor,
            soft_delete,
            exists: true,
            config,
        })
    }
}

/// The names of the tables that are entities.
pub(crate) async fn table_names(db: &Db, settings: &Settings) -> Result<Vec<String>> {
    let mut names = match &settings.tables {
        Some(t) => t.clone(),
        None => list_tables(db).await?,
    };
    for (name, t) in &settings.table {
        if t.create && !names.contains(name) {
            names.push(name.clone());
        }
    }
    Ok(names)
}

async fn list_tables(db: &Db) -> Result<Vec<String>> {
    let (sql, values) = match db.backend {
        Backend::Sqlite => (
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
            vec![],
        ),
        Backend::Postgres => (
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = ? AND table_type = 'BASE TABLE' ORDER BY table_name",
            vec![db.schema.clone().into()],
        ),
        Backend::MySql => (
            "SELECT CAST(table_name AS CHAR) FROM information_schema.tables \
             WHERE table_schema = ? AND table_type = 'BASE TABLE' ORDER BY table_name",
            vec![db.schema.clone().into()],
        ),
    };
    let rows = db
        .query_all(sql, values)
        .await
        .map_err(|e| e.context("listing tables"))?;
    Ok(rows.iter().filter_map(|r| text_at(r, 0)).collect())
}

/// Loads a table from the catalog: `None` when it does not exist.
pub(crate) async fn load_table(db: &Db, settings: &Settings, name: &str) -> Result<Option<Table>> {
    let context = |e: crate::db::DbError| e.context(format!("reading the columns of table {name}"));
    let schema = (db.backend != Backend::Sqlite).then(|| db.schema.clone());
    let mut columns = Vec::new();
    let mut primary = Vec::<(i64, String)>::new();
    match db.backend {
        Backend::Sqlite => {
            let sql = "SELECT name, type, \"notnull\", pk FROM pragma_table_info(?) ORDER BY cid";
            for r in db
                .query_all(sql, vec![name.into()])
                .await
                .map_err(context)?
            {
                let col = text_at(&r, 0).unwrap_or_default();
                let not_null = text_at(&r, 2).is_some_and(|n| n != "0");
                let pk: i64 = text_at(&r, 3).and_then(|p| p.parse().ok()).unwrap_or(0);
                if pk > 0 {
                    primary.push((pk, col.clone()));
                }
                columns.push(Column::new(
                    db.backend,
                    col,
                    text_at(&r, 1).unwrap_or_default(),
                    !not_null,
                ));
            }
        }
        Backend::Postgres | Backend::MySql => {
            let (type_col, cast) = match db.backend {
                Backend::Postgres => ("udt_name", "::text"),
                _ => ("column_type", ""),
            };
            let text = |c: &str| match db.backend {
                Backend::Postgres => format!("{c}{cast}"),
                _ => format!("CAST({c} AS CHAR)"),
            };
            let sql = format!(
                "SELECT {}, {}, {} FROM information_schema.columns \
                 WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
                text("column_name"),
                text(type_col),
                text("is_nullable"),
            );
            let values = vec![db.schema.clone().into(), name.into()];
            for r in db.query_all(&sql, values.clone()).await.map_err(context)? {
                let col = text_at(&r, 0).unwrap_or_default();
                let nullable = text_at(&r, 2).is_none_or(|n| n.eq_ignore_ascii_case("YES"));
                columns.push(Column::new(
                    db.backend,
                    col,
                    text_at(&r, 1).unwrap_or_default(),
                    nullable,
                ));
            }
            let sql = format!(
                "SELECT {}, kcu.ordinal_position FROM information_schema.table_constraints tc \
                 JOIN information_schema.key_column_usage kcu \
                 ON tc.constraint_name = kcu.constraint_name AND tc.table_schema = kcu.table_schema \
                 AND tc.table_name = kcu.table_name \
                 WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = ? AND tc.table_name = ? \
                 ORDER BY kcu.ordinal_position",
                text("kcu.column_name"),
            );
            for (i, r) in db
                .query_all(&sql, values)
                .await
                .map_err(context)?
                .iter()
                .enumerate()
            {
                primary.push((i as i64, text_at(r, 0).unwrap_or_default()));
            }
        }
    }
    if columns.is_empty() {
        return Ok(None);
    }
    primary.sort();
    let primary = primary.into_iter().map(|(_, c)| c).collect();
    Table::build(name, schema, columns, primary, settings.table(name)).map(Some)
}
