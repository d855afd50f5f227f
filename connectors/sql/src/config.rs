//! `SqlConfig`: what the user writes, and its pure validation.

use std::collections::BTreeMap;

use serde::Deserialize;
use tandem_core::{Error, Result};

use crate::CONNECTOR;

/// The configuration of a SQL endpoint: a database, and which of its tables
/// are entities.
///
/// ```toml
/// url = "sqlite://data/shop.db"   # or postgres://..., mysql://...
/// tables = ["customers", "orders"]
///
/// [table.customers]
/// key = ["id"]
/// cursor = "updated_at"
/// soft_delete = "deleted_at"
/// create = true
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SqlConfig {
    /// The database: `sqlite://PATH` (a relative path is relative to the
    /// manifest's folder; the file is created when missing),
    /// `sqlite::memory:`, `postgres://USER:PASSWORD@HOST:PORT/DB` or
    /// `mysql://USER:PASSWORD@HOST:PORT/DB` (MySQL and MariaDB). Keep the
    /// password out of the manifest with `url_env = "VAR"`: the host puts
    /// the variable's value here.
    pub url: String,
    /// PostgreSQL: the schema whose tables are entities (default: the
    /// first schema of the search path, normally `public`). MySQL: the
    /// database (default: the one in the URL). Not used with SQLite.
    #[serde(default)]
    pub schema: Option<String>,
    /// The tables that are entities, by name. Default: every table of the
    /// database (or schema), plus the tables of `table` with `create = true`.
    #[serde(default)]
    pub tables: Option<Vec<String>>,
    /// Settings per table, by table name (`[table.NAME]`).
    #[serde(default)]
    pub table: BTreeMap<String, TableConfig>,
}

/// The largest `lookback_seconds`: a year.
const MAX_LOOKBACK_SECONDS: u64 = 366 * 24 * 3600;

/// The settings of one table.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TableConfig {
    /// The key columns, in order. Default: the table's primary key. They
    /// need a primary key or unique index for upserts. A table with neither
    /// a primary key nor a configured key is a configuration error.
    #[serde(default)]
    pub key: Option<Vec<String>>,
    /// A column that grows on every change (a timestamp such as
    /// `updated_at`, or a version number): incremental reads return the rows
    /// whose `(cursor, key)` is past the last read, and for a timestamp, the
    /// rows of the lookback window that changed since (see
    /// `lookback_seconds`). Writes set it to the
    /// current time (UTC) when it is a timestamp column and the record does
    /// not carry it. Its value is the record's `modified` time, not a field.
    #[serde(default)]
    pub cursor: Option<String>,
    /// How far back, in seconds, an incremental read of a timestamp
    /// `cursor` column reads again before the newest stamp it read, for
    /// transactions that commit after a read with an older stamp (a
    /// writer stamps a row before its transaction commits). A transaction
    /// that commits later than this after its stamp may be missed until a
    /// full read. Default: 600 (10 minutes).
    #[serde(default)]
    pub lookback_seconds: Option<u64>,
    /// A column that marks a row as deleted when it is set (a timestamp, or
    /// `true` for a boolean column). Such rows are left out of full reads,
    /// reported as deletes by incremental reads, and a delete sets the
    /// column instead of removing the row; an upsert clears it. Not a field.
    #[serde(default)]
    pub soft_delete: Option<String>,
    /// Create the table on the first write when it does not exist, with
    /// column types taken from the values written and the key as the
    /// primary key (plus the `cursor` and `soft_delete` columns). Until
    /// then the table reads as empty. Default: `false`.
    #[serde(default)]
    pub create: bool,
}

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    MySql,
}

/// A checked configuration with its defaults filled in.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// The URL to connect to (a SQLite path resolved).
    pub url: String,
    /// The URL without its password, for messages.
    pub shown_url: String,
    pub backend: Backend,
    pub schema: Option<String>,
    pub tables: Option<Vec<String>>,
    pub table: BTreeMap<String, TableConfig>,
}

impl Settings {
    /// The settings of a table (defaults when it has none).
    pub fn table(&self, name: &str) -> TableConfig {
        self.table.get(name).cloned().unwrap_or_default()
    }

    /// Whether a table may be an entity.
    pub fn allows(&self, name: &str) -> bool {
        self.tables
            .as_ref()
            .is_none_or(|t| t.iter().any(|n| n == name))
    }
}

impl SqlConfig {
    /// A configuration for a database URL, every table an entity.
    pub fn new(url: impl Into<String>) -> Self {
        SqlConfig {
            url: url.into(),
            schema: None,
            tables: None,
            table: BTreeMap::new(),
        }
    }

    /// Checks the configuration and fills in the defaults; `resolve_path`
    /// turns a relative SQLite path into the one to open. Pure: no I/O.
    pub(crate) fn resolve(&self, resolve_path: impl Fn(&str) -> String) -> Result<Settings> {
        let err = |m: String| Err(Error::config(CONNECTOR, m));
        let url = self.url.trim();
        let (backend, url) = if let Some(rest) = url.strip_prefix("sqlite:") {
            (Backend::Sqlite, sqlite_url(rest, &resolve_path)?)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_owned())
        } else if url.starts_with("mysql://") || url.starts_with("mariadb://") {
            (Backend::MySql, url.replacen("mariadb://", "mysql://", 1))
        } else if url.is_empty() {
            return err("url: must not be empty".into());
        } else {
            return err(format!(
                "url: {} is not a sqlite://, postgres:// or mysql:// URL",
                redact(url)
            ));
        };
        if backend != Backend::Sqlite && url.split_once("://").is_none_or(|(_, r)| r.is_empty()) {
            return err(format!("url: {} names no server", redact(&url)));
        }
        match &self.schema {
            Some(_) if backend == Backend::Sqlite => {
                return err("schema: only applies to PostgreSQL and MySQL".into());
            }
            Some(s) if s.trim().is_empty() => return err("schema: must not be empty".into()),
            _ => {}
        }
        if let Some(tables) = &self.tables {
            check_names("tables", tables)?;
            if let Some(name) = self.table.keys().find(|n| !tables.contains(n)) {
                return err(format!(
                    "table.{name}: {name:?} is not one of tables; add it there or remove its settings"
                ));
            }
        }
        for (name, table) in &self.table {
            table.check(name)?;
        }
        Ok(Settings {
            shown_url: redact(&url),
            url,
            backend,
            schema: self.schema.clone(),
            tables: self.tables.clone(),
            table: self.table.clone(),
        })
    }
}

impl TableConfig {
    fn check(&self, table: &str) -> Result<()> {
        let err = |m: String| Err(Error::config(CONNECTOR, format!("table.{table}.{m}")));
        if table.is_empty() {
            return Err(Error::config(
                CONNECTOR,
                "table: a table name must not be empty",
            ));
        }
        if let Some(key) = &self.key {
            check_names(&format!("table.{table}.key"), key)?;
        }
        if self.create && self.key.is_none() {
            return err(
                "key: required with create = true (the created table's primary key)".into(),
            );
        }
        let key = self.key.as_deref().unwrap_or_default();
        for (setting, column) in [("cursor", &self.cursor), ("soft_delete", &self.soft_delete)] {
            match column {
                Some(c) if c.is_empty() => return err(format!("{setting}: must not be empty")),
                Some(c) if key.contains(c) => {
                    return err(format!("{setting}: {c:?} is a key column"));
                }
                _ => {}
            }
        }
        if self.cursor.is_some() && self.cursor == self.soft_delete {
            return err("soft_delete: must differ from cursor".into());
        }
        match self.lookback_seconds {
            Some(_) if self.cursor.is_none() => {
                return err("lookback_seconds: applies to a cursor column; set cursor too".into());
            }
            Some(s) if s > MAX_LOOKBACK_SECONDS => {
                return err(format!(
                    "lookback_seconds: {s} is more than a year ({MAX_LOOKBACK_SECONDS})"
                ));
            }
            _ => {}
        }
        Ok(())
    }
}

/// The URL of a SQLite database: `rest` follows `sqlite:`; a relative path
/// is resolved, a missing file will be created.
fn sqlite_url(rest: &str, resolve_path: &impl Fn(&str) -> String) -> Result<String> {
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    if path.is_empty() {
        return Err(Error::config(
            CONNECTOR,
            "url: a sqlite:// URL needs a path",
        ));
    }
    let path = if path == ":memory:" {
        path.to_owned()
    } else {
        resolve_path(path)
    };
    Ok(match query {
        Some(q) => format!("sqlite://{path}?{q}"),
        None => format!("sqlite://{path}"),
    })
}

/// The URL with its password (and any `password=` parameter) replaced by
/// `***`, for messages.
pub(crate) fn redact(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some((scheme, rest)) = url.split_once("://") {
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        if let Some(at) = rest[..authority_end].rfind('@')
            && let Some(colon) = rest[..at].find(':')
        {
            out = format!("{scheme}://{}:***{}", &rest[..colon], &rest[at..]);
        }
    }
    if let Some(i) = out.find("password=") {
        let start = i + "password=".len();
        let end = out[start..].find('&').map_or(out.len(), |e| start + e);
        out.replace_range(start..end, "***");
    }
    out
}

/// Checks a list of names: not empty, no empty name, no repeat.
fn check_names(setting: &str, names: &[String]) -> Result<()> {
    let err = |m: String| Err(Error::config(CONNECTOR, format!("{setting}: {m}")));
    if names.is_empty() {
        return err("at least one name is needed".into());
    }
    for (i, name) in names.iter().enumerate() {
        if name.is_empty() {
            return err("a name must not be empty".into());
        }
        if names[..i].contains(name) {
            return err(format!("{name:?} is listed twice"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(config: serde_json::Value) -> Result<Settings> {
        let config: SqlConfig = serde_json::from_value(config).unwrap();
        config.resolve(|p| format!("/base/{p}"))
    }

    #[test]
    fn sqlite_paths_are_resolved() {
        let s = resolve(serde_json::json!({ "url": "sqlite://data/x.db" })).unwrap();
        assert_eq!(s.url, "sqlite:///base/data/x.db");
        let s = resolve(serde_json::json!({ "url": "sqlite::memory:" })).unwrap();
        assert_eq!(s.url, "sqlite://:memory:");
        assert_eq!(s.backend, Backend::Sqlite);
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/shop"),
            "postgres://app:***@db:5432/shop"
        );
        assert_eq!(redact("mysql://root@db/x"), "mysql://root@db/x");
        assert_eq!(
            redact("postgres://db/x?user=a&password=p&x=1"),
            "postgres://db/x?user=a&password=***&x=1"
        );
        let err = resolve(serde_json::json!({ "url": "oracle://u:pw@h/x" })).unwrap_err();
        assert!(!err.to_string().contains("pw@"), "{err}");
    }

    #[test]
    fn table_settings_are_checked() {
        let bad = [
            serde_json::json!({ "url": "sqlite://a.db", "tables": ["a"], "table": { "b": {} } }),
            serde_json::json!({ "url": "sqlite://a.db", "table": { "a": { "key": [] } } }),
            serde_json::json!({ "url": "sqlite://a.db", "table": { "a": { "key": ["id"], "cursor": "id" } } }),
            serde_json::json!({ "url": "sqlite://a.db", "table": { "a": { "cursor": "t", "soft_delete": "t" } } }),
            serde_json::json!({ "url": "sqlite://a.db", "table": { "a": { "lookback_seconds": 60 } } }),
            serde_json::json!({ "url": "sqlite://a.db", "table": { "a": { "cursor": "t", "lookback_seconds": 99_999_999 } } }),
            serde_json::json!({ "url": "sqlite://a.db", "schema": "public" }),
            serde_json::json!({ "url": "postgres://" }),
        ];
        for config in bad {
            assert!(
                matches!(resolve(config.clone()), Err(Error::Config { .. })),
                "{config}"
            );
        }
    }
}
