//! Column types: SQL type names to Tandem field types and back.

use tandem_core::{FieldType, Value};

use crate::config::Backend;

/// The field type of a column, from its SQL type name as the catalog gives
/// it (SQLite: the declared type; PostgreSQL: the `udt_name`; MySQL: the
/// `column_type`).
pub(crate) fn kind_of(backend: Backend, sql_type: &str) -> FieldType {
    let t = sql_type.to_ascii_lowercase();
    match backend {
        Backend::Sqlite => sqlite_kind(&t),
        Backend::Postgres => match t.as_str() {
            "int2" | "int4" | "int8" => FieldType::Int,
            "float4" | "float8" => FieldType::Float,
            "numeric" => FieldType::Decimal,
            "bool" => FieldType::Bool,
            "text" | "varchar" | "bpchar" | "name" | "citext" | "uuid" => FieldType::Text,
            "bytea" => FieldType::Bytes,
            "date" => FieldType::Date,
            "timestamptz" | "timestamp" => FieldType::DateTime,
            "json" | "jsonb" => FieldType::Json,
            _ => FieldType::Unknown,
        },
        Backend::MySql => {
            let base = t.split(['(', ' ']).next().unwrap_or_default();
            match base {
                "tinyint" if t.starts_with("tinyint(1)") => FieldType::Bool,
                "bool" | "boolean" => FieldType::Bool,
                "bigint" if t.contains("unsigned") => FieldType::Decimal,
                "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint" => {
                    FieldType::Int
                }
                "decimal" | "numeric" => FieldType::Decimal,
                "float" | "double" | "real" => FieldType::Float,
                "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" | "enum"
                | "set" => FieldType::Text,
                "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" => {
                    FieldType::Bytes
                }
                "date" => FieldType::Date,
                "datetime" | "timestamp" => FieldType::DateTime,
                "json" => FieldType::Json,
                _ => FieldType::Unknown,
            }
        }
    }
}

/// SQLite's declared types, after its affinity rules, refined by the names
/// people use for booleans, dates and decimals.
fn sqlite_kind(t: &str) -> FieldType {
    if t.contains("bool") {
        FieldType::Bool
    } else if t.contains("int") {
        FieldType::Int
    } else if t.contains("datetime") || t.contains("timestamp") {
        FieldType::DateTime
    } else if t.contains("date") {
        FieldType::Date
    } else if t.contains("json") {
        FieldType::Json
    } else if t.contains("char") || t.contains("clob") || t.contains("text") {
        FieldType::Text
    } else if t.contains("blob") {
        FieldType::Bytes
    } else if t.contains("real") || t.contains("floa") || t.contains("doub") {
        FieldType::Float
    } else if t.contains("dec") || t.contains("numeric") {
        FieldType::Decimal
    } else {
        FieldType::Unknown
    }
}

/// Whether a PostgreSQL or MySQL column is read through a cast to text
/// (the driver has no exact Rust type for it: decimals, JSON, and types
/// Tandem does not know; or the text form drops PostgreSQL's padding).
pub(crate) fn read_as_text(backend: Backend, kind: FieldType, sql_type: &str) -> bool {
    match backend {
        Backend::Sqlite => false,
        Backend::Postgres => {
            matches!(
                kind,
                FieldType::Decimal | FieldType::Json | FieldType::Unknown
            ) || sql_type.eq_ignore_ascii_case("uuid")
                || sql_type.eq_ignore_ascii_case("citext")
                // `CHAR(n)` pads with spaces that PostgreSQL holds
                // insignificant; its text is without them.
                || sql_type.eq_ignore_ascii_case("bpchar")
        }
        Backend::MySql => {
            matches!(
                kind,
                FieldType::Decimal | FieldType::Json | FieldType::Unknown
            )
        }
    }
}

/// The PostgreSQL type a bound parameter is cast to, for columns that do
/// not take the driver's own types (numeric, json, uuid, enums, ...).
pub(crate) fn pg_cast(kind: FieldType, sql_type: &str) -> Option<String> {
    let plain = matches!(
        sql_type,
        "int2"
            | "int4"
            | "int8"
            | "float4"
            | "float8"
            | "bool"
            | "text"
            | "varchar"
            | "bpchar"
            | "name"
            | "bytea"
            | "date"
            | "timestamptz"
            | "timestamp"
    );
    match kind {
        _ if plain => None,
        _ if sql_type.is_empty() => None,
        _ => Some(sql_type.to_owned()),
    }
}

/// The field type that a created column gets for a value.
pub(crate) fn kind_of_value(value: &Value) -> Option<FieldType> {
    Some(match value {
        Value::Null => return None,
        Value::Bool(_) => FieldType::Bool,
        Value::Int(_) => FieldType::Int,
        Value::Float(_) => FieldType::Float,
        Value::Decimal(_) => FieldType::Decimal,
        Value::Text(_) => FieldType::Text,
        Value::Bytes(_) => FieldType::Bytes,
        Value::Date(_) => FieldType::Date,
        Value::DateTime(_) => FieldType::DateTime,
        Value::List(_) | Value::Map(_) => FieldType::Json,
    })
}

/// The SQL type of a created column (`key`: it is part of the primary key,
/// which MySQL cannot make of `TEXT`).
pub(crate) fn ddl_type(backend: Backend, kind: FieldType, key: bool) -> &'static str {
    use Backend::*;
    use FieldType::*;
    match (backend, kind) {
        (_, Int) => "BIGINT",
        (Postgres, Float) => "DOUBLE PRECISION",
        (_, Float) => "DOUBLE",
        (_, Decimal) => "DECIMAL(38,10)",
        (Sqlite, Bool) => "BOOLEAN",
        (Postgres, Bool) => "BOOLEAN",
        (MySql, Bool) => "TINYINT(1)",
        (Postgres, Bytes) => "BYTEA",
        (MySql, Bytes) if key => "VARBINARY(255)",
        (_, Bytes) => "BLOB",
        (_, Date) => "DATE",
        (Postgres, DateTime) => "TIMESTAMPTZ",
        (MySql, DateTime) => "DATETIME(6)",
        (Sqlite, DateTime) => "TIMESTAMP",
        (Postgres, Json) => "JSONB",
        (MySql, Json) => "JSON",
        (Sqlite, Json) => "JSON",
        (MySql, _) if key => "VARCHAR(255)",
        (MySql, _) => "LONGTEXT",
        (_, _) => "TEXT",
    }
}

/// The type name as the catalog reports it for a created column.
#[cfg(test)]
fn catalog_type(backend: Backend, kind: FieldType, key: bool) -> String {
    let ddl = ddl_type(backend, kind, key).to_ascii_lowercase();
    match backend {
        Backend::Postgres => match kind {
            FieldType::Int => "int8",
            FieldType::Float => "float8",
            FieldType::Decimal => "numeric",
            FieldType::Bool => "bool",
            FieldType::Bytes => "bytea",
            FieldType::Date => "date",
            FieldType::DateTime => "timestamptz",
            FieldType::Json => "jsonb",
            _ => "text",
        }
        .to_owned(),
        _ => ddl,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_created_types() {
        use FieldType::*;
        for backend in [Backend::Sqlite, Backend::Postgres, Backend::MySql] {
            for kind in [Int, Float, Decimal, Bool, Text, Bytes, Date, DateTime, Json] {
                for key in [false, true] {
                    let t = catalog_type(backend, kind, key);
                    assert_eq!(kind_of(backend, &t), kind, "{backend:?} {kind:?} {t}");
                }
            }
        }
    }
}
