//! Values on their way out: a row's cells as the driver gives them, then
//! as the column's type says.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use sea_orm::QueryResult;
use sea_orm::sqlx::{self, Decode, Row, TypeInfo, ValueRef};
use tandem_core::{FieldType, Value};

use crate::encode::parse_timestamp;
use crate::schema::Column;

/// A cell as the driver stores it: SQLite's storage class, the
/// PostgreSQL or MySQL type (decimals, JSON and unknown types arrive as
/// text, cast by the query).
pub(crate) fn raw(row: &QueryResult, i: usize) -> Result<Value, String> {
    if let Some(r) = row.try_as_sqlite_row() {
        return sqlite(r, i).map_err(|e| e.to_string());
    }
    if let Some(r) = row.try_as_pg_row() {
        return postgres(r, i).map_err(|e| e.to_string());
    }
    if let Some(r) = row.try_as_mysql_row() {
        return mysql(r, i).map_err(|e| e.to_string());
    }
    Err("a row of an unknown driver".into())
}

type Decoded = Result<Value, sqlx::error::BoxDynError>;

fn sqlite(row: &sqlx::sqlite::SqliteRow, i: usize) -> Decoded {
    use sqlx::Sqlite as D;
    let v = row.try_get_raw(i)?;
    if v.is_null() {
        return Ok(Value::Null);
    }
    let ty = v.type_info().name().to_owned();
    Ok(match ty.as_str() {
        "INTEGER" => Value::Int(<i64 as Decode<D>>::decode(v)?),
        "REAL" => Value::Float(<f64 as Decode<D>>::decode(v)?),
        "BLOB" => Value::Bytes(<Vec<u8> as Decode<D>>::decode(v)?),
        _ => Value::Text(<String as Decode<D>>::decode(v)?.into()),
    })
}

fn postgres(row: &sqlx::postgres::PgRow, i: usize) -> Decoded {
    use sqlx::Postgres as D;
    let v = row.try_get_raw(i)?;
    if v.is_null() {
        return Ok(Value::Null);
    }
    let ty = v.type_info().name().to_owned();
    Ok(match ty.as_str() {
        "INT2" => Value::Int(<i16 as Decode<D>>::decode(v)?.into()),
        "INT4" => Value::Int(<i32 as Decode<D>>::decode(v)?.into()),
        "INT8" => Value::Int(<i64 as Decode<D>>::decode(v)?),
        "FLOAT4" => Value::Float(<f32 as Decode<D>>::decode(v)?.into()),
        "FLOAT8" => Value::Float(<f64 as Decode<D>>::decode(v)?),
        "BOOL" => Value::Bool(<bool as Decode<D>>::decode(v)?),
        "BYTEA" => Value::Bytes(<Vec<u8> as Decode<D>>::decode(v)?),
        "TIMESTAMPTZ" => instant(<DateTime<Utc> as Decode<D>>::decode(v)?),
        "TIMESTAMP" => instant(<NaiveDateTime as Decode<D>>::decode(v)?.and_utc()),
        "DATE" => date(<NaiveDate as Decode<D>>::decode(v)?),
        _ => Value::Text(<String as Decode<D>>::decode(v)?.into()),
    })
}

fn mysql(row: &sqlx::mysql::MySqlRow, i: usize) -> Decoded {
    use sqlx::MySql as D;
    let v = row.try_get_raw(i)?;
    if v.is_null() {
        return Ok(Value::Null);
    }
    let info = v.type_info().into_owned();
    Ok(match info.name() {
        "BOOLEAN" => Value::Bool(<bool as Decode<D>>::decode(v)?),
        "TINYINT" | "SMALLINT" | "MEDIUMINT" | "INT" | "BIGINT" => {
            Value::Int(<i64 as Decode<D>>::decode(v)?)
        }
        "TINYINT UNSIGNED" | "SMALLINT UNSIGNED" | "MEDIUMINT UNSIGNED" | "INT UNSIGNED" => {
            Value::Int(<u32 as Decode<D>>::decode(v)?.into())
        }
        "FLOAT" => Value::Float(<f32 as Decode<D>>::decode(v)?.into()),
        "DOUBLE" => Value::Float(<f64 as Decode<D>>::decode(v)?),
        "DATETIME" | "TIMESTAMP" => instant(<DateTime<Utc> as Decode<D>>::decode(v)?),
        "DATE" => date(<NaiveDate as Decode<D>>::decode(v)?),
        // The driver names a column BINARY, VARBINARY or BLOB by the
        // protocol's binary flag, which text in a `_bin` collation carries
        // too; only the `binary` character set holds bytes.
        _ if <str as sqlx::Type<D>>::compatible(&info) => {
            Value::Text(<&str as Decode<D>>::decode(v)?.into())
        }
        "BINARY" | "VARBINARY" | "TINYBLOB" | "BLOB" | "MEDIUMBLOB" | "LONGBLOB" => {
            Value::Bytes(<Vec<u8> as Decode<D>>::decode(v)?)
        }
        _ => match <String as Decode<D>>::decode(v.clone()) {
            Ok(s) => Value::Text(s.into()),
            Err(_) => Value::Bytes(<Vec<u8> as Decode<D>>::decode(v)?),
        },
    })
}

fn instant(t: DateTime<Utc>) -> Value {
    match jiff::Timestamp::new(t.timestamp(), t.timestamp_subsec_nanos() as i32) {
        Ok(t) => Value::DateTime(t),
        Err(_) => Value::Text(t.to_rfc3339().into()),
    }
}

fn date(d: NaiveDate) -> Value {
    use chrono::Datelike;
    match jiff::civil::Date::new(d.year() as i16, d.month() as i8, d.day() as i8) {
        Ok(d) => Value::Date(d),
        Err(_) => Value::Text(d.to_string().into()),
    }
}

/// A cell as a value of its column's type: decimals as exact text, JSON
/// as lists and maps, SQLite's text timestamps and 0/1 booleans typed. A
/// cell that does not read as its column's type is kept as stored.
pub(crate) fn typed(column: &Column, raw: Value) -> Value {
    match (column.kind, raw) {
        (FieldType::Decimal, Value::Text(s)) => Value::Decimal(s),
        (FieldType::Decimal, Value::Int(i)) => Value::Decimal(i.to_string().into()),
        (FieldType::Decimal, Value::Float(f)) => Value::Decimal(format!("{f}").into()),
        (FieldType::Json, Value::Text(s)) => match serde_json::from_str(&s) {
            Ok(j) => Value::from_json(j),
            Err(_) => Value::Text(s),
        },
        (FieldType::Bool, Value::Int(i)) => Value::Bool(i != 0),
        (FieldType::DateTime, Value::Text(s)) => match parse_timestamp(&s) {
            Some(t) => Value::DateTime(t),
            None => Value::Text(s),
        },
        (FieldType::DateTime, Value::Int(secs)) => match jiff::Timestamp::from_second(secs) {
            Ok(t) => Value::DateTime(t),
            Err(_) => Value::Int(secs),
        },
        (FieldType::Date, Value::Text(s)) => match s.trim().parse::<jiff::civil::Date>() {
            Ok(d) => Value::Date(d),
            Err(_) => Value::Text(s),
        },
        (FieldType::Float, Value::Int(i)) => Value::Float(i as f64),
        (_, v) => v,
    }
}
