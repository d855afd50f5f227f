//! Values on their way in: checked against the column's type, then bound.

use sea_orm::sea_query::{self, Alias, Expr, ExprTrait};
use tandem_core::{FieldType, Value};

use crate::config::Backend;
use crate::schema::Column;

/// Converts a value to the type of a column: the same value, or text that
/// reads as that type (`"42"` into an integer column), or an error saying
/// why it does not fit.
pub(crate) fn coerce(value: Value, kind: FieldType) -> Result<Value, String> {
    use FieldType as K;
    let fail = |v: &Value| Err(format!("{} is not a valid {}", describe(v), name(kind)));
    Ok(match (kind, value) {
        (_, Value::Null) => Value::Null,
        (K::Int, v @ Value::Int(_)) => v,
        (K::Int, Value::Text(s) | Value::Decimal(s)) => match parse_int(&s) {
            Some(i) => Value::Int(i),
            None => return fail(&Value::Text(s)),
        },
        (K::Int, Value::Float(f)) if f.fract() == 0.0 && f.abs() < 9.0e18 => Value::Int(f as i64),
        (K::Float, v @ Value::Float(_)) => v,
        (K::Float, Value::Int(i)) => Value::Float(i as f64),
        (K::Float, Value::Text(s) | Value::Decimal(s)) => match s.trim().parse::<f64>() {
            Ok(f) if !s.trim().is_empty() => Value::Float(f),
            _ => return fail(&Value::Text(s)),
        },
        (K::Decimal, Value::Decimal(s)) => Value::Decimal(s),
        (K::Decimal, Value::Int(i)) => Value::Decimal(i.to_string().into()),
        (K::Decimal, Value::Float(f)) if f.is_finite() => Value::Decimal(format!("{f}").into()),
        (K::Decimal, Value::Text(s)) if is_decimal(s.trim()) => Value::Decimal(s.trim().into()),
        (K::Bool, v @ Value::Bool(_)) => v,
        (K::Bool, Value::Int(i @ (0 | 1))) => Value::Bool(i == 1),
        (K::Bool, Value::Text(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "t" | "1" | "yes" => Value::Bool(true),
            "false" | "f" | "0" | "no" => Value::Bool(false),
            _ => return fail(&Value::Text(s)),
        },
        (K::Bytes, v @ Value::Bytes(_)) => v,
        // Bytes in text are hex, as every side writes them.
        (K::Bytes, Value::Text(s)) => match from_hex(&s) {
            Some(b) => Value::Bytes(b),
            None => {
                let shown = describe(&Value::Text(s));
                return Err(format!(
                    "{shown} is not valid bytes (hex, two digits a byte)"
                ));
            }
        },
        (K::Date, v @ Value::Date(_)) => v,
        (K::Date, Value::Text(s)) => match s.trim().parse::<jiff::civil::Date>() {
            Ok(d) => Value::Date(d),
            Err(_) => return fail(&Value::Text(s)),
        },
        (K::DateTime, v @ Value::DateTime(_)) => v,
        (K::DateTime, Value::Date(d)) => match d.to_zoned(jiff::tz::TimeZone::UTC) {
            Ok(z) => Value::DateTime(z.timestamp()),
            Err(_) => return fail(&Value::Date(d)),
        },
        (K::DateTime, Value::Text(s)) => match parse_timestamp(&s) {
            Some(t) => Value::DateTime(t),
            None => return fail(&Value::Text(s)),
        },
        (K::Json, v @ (Value::List(_) | Value::Map(_))) => v,
        (K::Json, Value::Text(s)) => match serde_json::from_str::<serde_json::Value>(&s) {
            Ok(j) => Value::from_json(j),
            Err(_) => return fail(&Value::Text(s)),
        },
        (K::Json, v @ (Value::Int(_) | Value::Float(_) | Value::Bool(_) | Value::Decimal(_))) => v,
        (K::Text | K::Unknown, v @ Value::Text(_)) => v,
        (K::Text | K::Unknown, v @ (Value::List(_) | Value::Map(_))) => {
            Value::Text(v.to_json().to_string().into())
        }
        (K::Text | K::Unknown, v) => Value::Text(v.canonical().into()),
        (_, v) => return fail(&v),
    })
}

/// The sea-query value of a coerced value, typed by the column so that a
/// null binds with the column's type.
pub(crate) fn to_sea(value: Value, kind: FieldType, backend: Backend) -> sea_query::Value {
    use sea_query::Value as S;
    let sqlite = backend == Backend::Sqlite;
    match (kind, value) {
        (FieldType::Int, Value::Int(i)) => S::BigInt(Some(i)),
        (FieldType::Int, _) => S::BigInt(None),
        (FieldType::Float, Value::Float(f)) => S::Double(Some(f)),
        (FieldType::Float, _) => S::Double(None),
        (FieldType::Bool, Value::Bool(b)) => S::Bool(Some(b)),
        (FieldType::Bool, _) => S::Bool(None),
        (FieldType::Bytes, Value::Bytes(b)) => S::Bytes(Some(b)),
        (FieldType::Bytes, _) => S::Bytes(None),
        (FieldType::DateTime, Value::DateTime(t)) if sqlite => S::String(Some(sqlite_timestamp(t))),
        (FieldType::DateTime, Value::DateTime(t)) => S::ChronoDateTimeUtc(Some(chrono_utc(t))),
        (FieldType::DateTime, _) if sqlite => S::String(None),
        (FieldType::DateTime, _) => S::ChronoDateTimeUtc(None),
        (FieldType::Date, Value::Date(d)) if sqlite => S::String(Some(d.to_string())),
        (FieldType::Date, Value::Date(d)) => S::ChronoDate(chrono_date(d)),
        (FieldType::Date, _) if sqlite => S::String(None),
        (FieldType::Date, _) => S::ChronoDate(None),
        (FieldType::Json, Value::Null) => S::String(None),
        (FieldType::Json, v) => S::String(Some(v.to_json().to_string())),
        (_, Value::Null) => S::String(None),
        (_, Value::Text(s) | Value::Decimal(s)) => S::String(Some(s.into_string())),
        (_, v) => S::String(Some(v.canonical())),
    }
}

/// A value as bound for a column: coerced, then cast where PostgreSQL
/// needs it (numeric, json, uuid, ...).
pub(crate) fn bind(column: &Column, value: Value, backend: Backend) -> Result<Expr, String> {
    Ok(cast(column, Expr::val(bind_value(column, value, backend)?)))
}

/// A value as bound for a column, without the cast (statements whose text
/// holds the casts).
pub(crate) fn bind_value(
    column: &Column,
    value: Value,
    backend: Backend,
) -> Result<sea_query::Value, String> {
    let value = coerce(value, column.kind)?;
    Ok(to_sea(value, column.kind, backend))
}

/// A value read from a column, bound as it was read (cursor and key
/// positions): SQLite compares stored values as they are, so they are
/// bound unchanged; the others are typed like any value.
pub(crate) fn bind_raw(column: &Column, raw: &Value, backend: Backend) -> Result<Expr, String> {
    if backend != Backend::Sqlite {
        return bind(column, raw.clone(), backend);
    }
    use sea_query::Value as S;
    Ok(Expr::val(match raw {
        Value::Int(i) => S::BigInt(Some(*i)),
        Value::Float(f) => S::Double(Some(*f)),
        Value::Bytes(b) => S::Bytes(Some(b.clone())),
        Value::Bool(b) => S::Bool(Some(*b)),
        Value::Null => S::String(None),
        Value::Text(s) => S::String(Some(s.to_string())),
        other => return bind(column, other.clone(), backend),
    }))
}

/// Wraps a bound value in the column's cast, when it has one.
pub(crate) fn cast(column: &Column, expr: Expr) -> Expr {
    match &column.cast {
        Some(t) => expr.cast_as(Alias::new(t.as_str())),
        None => expr,
    }
}

/// How SQLite stores instants: UTC, microseconds, no zone suffix, so that
/// text order is time order (and `datetime()` understands it).
pub(crate) fn sqlite_timestamp(t: jiff::Timestamp) -> String {
    t.to_zoned(jiff::tz::TimeZone::UTC)
        .strftime("%Y-%m-%d %H:%M:%S%.6f")
        .to_string()
}

/// Reads an instant written as text: RFC 3339, or `YYYY-MM-DD HH:MM:SS[.f]`
/// with or without an offset (none means UTC), or a date (midnight UTC).
pub(crate) fn parse_timestamp(s: &str) -> Option<jiff::Timestamp> {
    let s = s.trim();
    if let Ok(t) = s.parse::<jiff::Timestamp>() {
        return Some(t);
    }
    if let Ok(dt) = s.parse::<jiff::civil::DateTime>() {
        return dt
            .to_zoned(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp());
    }
    // `+00` offsets and the like, as some databases print them.
    let padded = format!("{s}:00");
    padded.parse::<jiff::Timestamp>().ok()
}

pub(crate) fn chrono_utc(t: jiff::Timestamp) -> chrono::DateTime<chrono::Utc> {
    let (mut secs, mut nanos) = (t.as_second(), t.subsec_nanosecond());
    if nanos < 0 {
        secs -= 1;
        nanos += 1_000_000_000;
    }
    chrono::DateTime::from_timestamp(secs, nanos as u32).unwrap_or_default()
}

fn chrono_date(d: jiff::civil::Date) -> Option<chrono::NaiveDate> {
    chrono::NaiveDate::from_ymd_opt(d.year().into(), d.month() as u32, d.day() as u32)
}

fn parse_int(s: &str) -> Option<i64> {
    let s = s.trim();
    s.parse::<i64>().ok().or_else(|| {
        // `"12.000"` is an integer; `"12.5"` is not.
        let (int, frac) = s.split_once('.')?;
        frac.bytes().all(|b| b == b'0').then(|| int.parse().ok())?
    })
}

/// Bytes from their text form, lowercase or uppercase hex.
fn from_hex(s: &str) -> Option<Vec<u8>> {
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let s = s.as_bytes();
    if !s.len().is_multiple_of(2) {
        return None;
    }
    s.chunks_exact(2)
        .map(|p| Some(digit(p[0])? << 4 | digit(p[1])?))
        .collect()
}

/// Whether text is a plain decimal number: `-12.50`, `3`, `.5`.
fn is_decimal(s: &str) -> bool {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    !(int.is_empty() && frac.is_empty())
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
}

fn describe(v: &Value) -> String {
    let shown = v.canonical();
    let shown = if shown.chars().count() > 40 {
        format!("{}...", shown.chars().take(40).collect::<String>())
    } else {
        shown
    };
    let what = match v {
        Value::Text(_) => "text",
        Value::Int(_) => "integer",
        Value::Float(_) => "float",
        Value::Decimal(_) => "decimal",
        Value::Bool(_) => "boolean",
        Value::Bytes(_) => "bytes",
        Value::Date(_) => "date",
        Value::DateTime(_) => "timestamp",
        Value::List(_) | Value::Map(_) => "JSON",
        Value::Null => "null",
    };
    format!("{what} {shown:?}")
}

/// The name of a field type in messages.
pub(crate) fn name(kind: FieldType) -> &'static str {
    match kind {
        FieldType::Bool => "boolean",
        FieldType::Int => "integer",
        FieldType::Float => "float",
        FieldType::Decimal => "decimal",
        FieldType::Text => "text",
        FieldType::Bytes => "bytes",
        FieldType::Date => "date",
        FieldType::DateTime => "timestamp",
        FieldType::Json => "JSON",
        _ => "untyped",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_that_reads_as_the_type_fits() {
        assert_eq!(coerce("42".into(), FieldType::Int), Ok(Value::Int(42)));
        assert_eq!(coerce("12.000".into(), FieldType::Int), Ok(Value::Int(12)));
        assert!(coerce("12.5".into(), FieldType::Int).is_err());
        assert!(coerce("abc".into(), FieldType::Int).is_err());
        assert_eq!(
            coerce("-12.50".into(), FieldType::Decimal),
            Ok(Value::Decimal("-12.50".into()))
        );
        assert!(coerce("1e5".into(), FieldType::Decimal).is_err());
        assert_eq!(
            coerce("true".into(), FieldType::Bool),
            Ok(Value::Bool(true))
        );
        assert_eq!(
            coerce(Value::Int(7), FieldType::Text),
            Ok(Value::Text("7".into()))
        );
    }

    #[test]
    fn bytes_in_text_are_hex() {
        let bytes = |s: &str| coerce(s.into(), FieldType::Bytes);
        assert_eq!(bytes("00fF10"), Ok(Value::Bytes(vec![0, 0xff, 0x10])));
        assert_eq!(bytes(""), Ok(Value::Bytes(vec![])));
        for bad in ["abc", "zz", "k1", "0x00", "é0"] {
            let err = bytes(bad).unwrap_err();
            assert!(err.contains("not valid bytes"), "{bad}: {err}");
        }
    }

    #[test]
    fn timestamps_parse_in_the_usual_forms() {
        let want: jiff::Timestamp = "2024-03-01T10:00:00.5Z".parse().unwrap();
        for s in [
            "2024-03-01T10:00:00.5Z",
            "2024-03-01 10:00:00.5",
            "2024-03-01 10:00:00.500000",
            "2024-03-01 11:00:00.5+01:00",
            "2024-03-01 10:00:00.5+00",
        ] {
            assert_eq!(parse_timestamp(s), Some(want), "{s}");
        }
        assert_eq!(sqlite_timestamp(want), "2024-03-01 10:00:00.500000");
    }
}
