//! Cells as values: typed cells, dates and times, and cell names (`C7`).

use calamine::{Data, ExcelDateTime, ExcelDateTimeType};
use jiff::civil;
use tandem_core::Value;

/// The largest integer a double holds exactly (2^53): whole numbers up to
/// it read as [`Value::Int`], and integers up to it are written as numbers.
pub(crate) const EXACT_INT: i64 = 1 << 53;

/// The value of a cell, or what is wrong with it (an error cell).
///
/// - empty cells and empty text are [`Value::Null`];
/// - numbers are [`Value::Int`] when whole and within ±2^53, else
///   [`Value::Float`] (xlsx and ods store every number as a double, so `3`
///   and `3.0` cannot be told apart; the rule is the same for every format);
/// - date-formatted cells are [`Value::Date`] on a whole day,
///   [`Value::DateTime`] (the cell's wall time taken as UTC, to the
///   millisecond) otherwise; a time of day alone (a serial below 1) is
///   [`Value::Text`] `hh:mm:ss`, and a duration (`[h]:mm:ss`) is ISO 8601
///   text such as `PT36H30M0S`.
pub(crate) fn value(cell: &Data) -> Result<Value, String> {
    match cell {
        Data::String(s) if !s.is_empty() => Ok(Value::Text(s.as_str().into())),
        other => take_value(other.clone()),
    }
}

/// [`value`], taking the cell's text rather than copying it.
pub(crate) fn take_value(cell: Data) -> Result<Value, String> {
    Ok(match cell {
        Data::Empty => Value::Null,
        Data::String(s) if s.is_empty() => Value::Null,
        Data::String(s) => Value::Text(s.into()),
        Data::Int(i) => Value::Int(i),
        Data::Float(f) => number(f),
        Data::Bool(b) => Value::Bool(b),
        Data::DateTime(dt) => excel_datetime(&dt),
        Data::DateTimeIso(s) => iso_datetime(&s),
        Data::DurationIso(s) => Value::Text(s.into()),
        Data::Error(e) => return Err(format!("the cell holds the error {e}")),
    })
}

/// Whether a cell holds nothing.
pub(crate) fn is_blank(cell: &Data) -> bool {
    match cell {
        Data::Empty => true,
        Data::String(s) => s.is_empty(),
        _ => false,
    }
}

/// A number: whole numbers within ±2^53 as integers.
pub(crate) fn number(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() <= EXACT_INT as f64 {
        Value::Int(f as i64)
    } else {
        Value::Float(f)
    }
}

/// The last day Excel holds, 9999-12-31, as a serial of each epoch.
const LAST_DAY_1900: f64 = 2_958_465.0;
const LAST_DAY_1904: f64 = 2_957_003.0;

/// A date-formatted cell. A serial no date holds (negative, NaN, or past
/// 9999-12-31 to the millisecond) stays a number: calamine would read it as
/// its first or last day.
fn excel_datetime(dt: &ExcelDateTime) -> Value {
    let serial = dt.as_f64();
    if dt.is_duration() {
        return match iso_duration(serial) {
            Some(text) => Value::Text(text.into()),
            None => number(serial),
        };
    }
    // `ExcelDateTime` does not tell its epoch, but compares by it.
    let is_1904 = *dt == ExcelDateTime::new(serial, ExcelDateTimeType::DateTime, true);
    let last = if is_1904 {
        LAST_DAY_1904
    } else {
        LAST_DAY_1900
    };
    // NaN fails both comparisons.
    let held = serial >= 0.0 && (serial * 86_400_000.0).round() < (last + 1.0) * 86_400_000.0;
    if !held {
        return number(serial);
    }
    let (y, mo, d, h, mi, s, ms) = dt.to_ymd_hms_milli();
    if serial < 1.0 {
        let time = if ms == 0 {
            format!("{h:02}:{mi:02}:{s:02}")
        } else {
            format!("{h:02}:{mi:02}:{s:02}.{ms:03}")
        };
        return Value::Text(time.into());
    }
    let Ok(date) = civil::Date::new(y as i16, mo as i8, d as i8) else {
        // Excel's phantom 1900-02-29 and serials out of range.
        return number(serial);
    };
    if (h, mi, s, ms) == (0, 0, 0, 0) {
        return Value::Date(date);
    }
    let day_ms = ((i64::from(h) * 60 + i64::from(mi)) * 60 + i64::from(s)) * 1000 + i64::from(ms);
    let unix_ms = i64::from(days_from_civil(date)) * 86_400_000 + day_ms;
    match jiff::Timestamp::from_millisecond(unix_ms) {
        Ok(at) => Value::DateTime(at),
        Err(_) => number(serial),
    }
}

/// The days from 1970-01-01 to a date (Howard Hinnant's `days_from_civil`):
/// a few integer operations, where this is the hot path of reading dates.
fn days_from_civil(date: civil::Date) -> i32 {
    let (y, m, d) = (
        i32::from(date.year()),
        i32::from(date.month()),
        i32::from(date.day()),
    );
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A duration in days as ISO 8601 text, to the millisecond; `None` when
/// its milliseconds are NaN or do not fit in an `i64`.
fn iso_duration(days: f64) -> Option<String> {
    let total_ms = (days * 86_400_000.0).round();
    // 2^63 is the first float past i64::MAX.
    if total_ms.is_nan() || total_ms.abs() >= 9_223_372_036_854_775_808.0 {
        return None;
    }
    let sign = if total_ms < 0.0 { "-" } else { "" };
    let ms = (total_ms as i64).unsigned_abs();
    let (h, m, s, frac) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    Some(if frac == 0 {
        format!("{sign}PT{h}H{m}M{s}S")
    } else {
        format!("{sign}PT{h}H{m}M{s}.{frac:03}S")
    })
}

/// An OpenDocument date (`2024-01-31`) or date and time
/// (`2024-01-31T10:30:00`, taken as UTC); other text stays text.
fn iso_datetime(s: &str) -> Value {
    if let Ok(date) = s.parse::<civil::Date>()
        && s.len() == 10
    {
        return Value::Date(date);
    }
    match s.parse::<civil::DateTime>() {
        Ok(dt) => match dt.to_zoned(jiff::tz::TimeZone::UTC) {
            Ok(z) => Value::DateTime(z.timestamp()),
            Err(_) => Value::Text(s.into()),
        },
        Err(_) => Value::Text(s.into()),
    }
}

/// The letters of a 0-based column: 0 is `A`, 26 is `AA`.
pub(crate) fn column_name(col: u32) -> String {
    let mut n = col + 1;
    let mut out = Vec::new();
    while n > 0 {
        let rem = (n - 1) % 26;
        out.push(b'A' + rem as u8);
        n = (n - 1) / 26;
    }
    out.reverse();
    String::from_utf8(out).expect("ASCII letters")
}

/// A cell's name from its 0-based row and column: `(6, 2)` is `C7`.
pub(crate) fn cell_name(row: u32, col: u32) -> String {
    format!("{}{}", column_name(col), row + 1)
}

/// A sheet name as Excel writes it in references: quoted when it holds
/// anything but letters, digits and underscores.
pub(crate) fn sheet_ref(sheet: &str) -> String {
    if !sheet.is_empty() && sheet.chars().all(|c| c.is_alphanumeric() || c == '_') {
        sheet.to_owned()
    } else {
        format!("'{}'", sheet.replace('\'', "''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cells_as_excel_does() {
        assert_eq!(cell_name(6, 2), "C7");
        assert_eq!(column_name(25), "Z");
        assert_eq!(column_name(26), "AA");
        assert_eq!(column_name(701), "ZZ");
        assert_eq!(column_name(702), "AAA");
        assert_eq!(sheet_ref("Sheet1"), "Sheet1");
        assert_eq!(sheet_ref("My sheet"), "'My sheet'");
        assert_eq!(sheet_ref("Bob's"), "'Bob''s'");
    }

    #[test]
    fn numbers_are_ints_when_whole() {
        assert_eq!(number(3.0), Value::Int(3));
        assert_eq!(number(-0.0), Value::Int(0));
        assert_eq!(number(3.5), Value::Float(3.5));
        assert_eq!(number(1e300), Value::Float(1e300));
        assert_eq!(number(9007199254740992.0), Value::Int(1 << 53));
    }

    #[test]
    fn dates_and_times() {
        let dt = |v| Data::DateTime(ExcelDateTime::new(v, ExcelDateTimeType::DateTime, false));
        let date = civil::date(2025, 10, 13);
        assert_eq!(value(&dt(45943.0)), Ok(Value::Date(date)));
        let noon = date
            .at(12, 0, 0, 0)
            .to_zoned(jiff::tz::TimeZone::UTC)
            .unwrap();
        assert_eq!(value(&dt(45943.5)), Ok(Value::DateTime(noon.timestamp())));
        assert_eq!(value(&dt(0.75)), Ok(Value::Text("18:00:00".into())));
        let duration = Data::DateTime(ExcelDateTime::new(1.5, ExcelDateTimeType::TimeDelta, false));
        assert_eq!(value(&duration), Ok(Value::Text("PT36H0M0S".into())));
        let iso = Data::DateTimeIso("2024-02-29".into());
        assert_eq!(value(&iso), Ok(Value::Date(civil::date(2024, 2, 29))));
        let iso = Data::DateTimeIso("2024-02-29T10:30:00".into());
        let at = civil::date(2024, 2, 29).at(10, 30, 0, 0);
        let at = at.to_zoned(jiff::tz::TimeZone::UTC).unwrap().timestamp();
        assert_eq!(value(&iso), Ok(Value::DateTime(at)));
    }

    #[test]
    fn days_from_civil_matches_jiff() {
        for date in [
            civil::date(1970, 1, 1),
            civil::date(1900, 3, 1),
            civil::date(2024, 2, 29),
            civil::date(9999, 12, 30),
            civil::date(1969, 12, 31),
        ] {
            let jiff_days = date
                .to_zoned(jiff::tz::TimeZone::UTC)
                .unwrap()
                .timestamp()
                .as_second()
                / 86_400;
            assert_eq!(i64::from(days_from_civil(date)), jiff_days, "{date}");
        }
    }

    #[test]
    fn errors_and_blanks() {
        let err = value(&Data::Error(calamine::CellErrorType::Div0)).unwrap_err();
        assert!(err.contains("#DIV/0!"), "{err}");
        assert_eq!(value(&Data::String(String::new())), Ok(Value::Null));
        assert!(is_blank(&Data::String(String::new())));
        assert!(!is_blank(&Data::Int(0)));
    }
}
