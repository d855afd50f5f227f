//! Values and read cells as xlsx cells.

use calamine::Data;
use rust_xlsxwriter::{ExcelDateTime, Format, Worksheet, XlsxError};
use tandem_core::Value;

use crate::cells::EXACT_INT;

/// The number formats dates and times are written with.
pub(crate) struct Formats {
    date: Format,
    datetime: Format,
    datetime_ms: Format,
    time: Format,
    duration: Format,
}

impl Formats {
    pub fn new() -> Self {
        Formats {
            date: Format::new().set_num_format("yyyy-mm-dd"),
            datetime: Format::new().set_num_format("yyyy-mm-dd hh:mm:ss"),
            datetime_ms: Format::new().set_num_format("yyyy-mm-dd hh:mm:ss.000"),
            time: Format::new().set_num_format("hh:mm:ss"),
            duration: Format::new().set_num_format("[h]:mm:ss"),
        }
    }
}

/// The most UTF-16 units a cell's text holds.
pub(crate) const MAX_TEXT: usize = 32_767;

/// Why a value cannot be written to a cell, if it cannot.
pub(crate) fn unwritable(value: &Value) -> Option<String> {
    let len = match value {
        Value::Text(s) | Value::Decimal(s) => s.encode_utf16().count(),
        Value::Bytes(b) => b.len() * 2,
        Value::List(_) | Value::Map(_) => value.canonical().encode_utf16().count(),
        _ => 0,
    };
    (len > MAX_TEXT).then(|| format!("{len} characters do not fit a cell (at most {MAX_TEXT})"))
}

/// Writes a value: null as nothing; integers beyond ±2^53 and values
/// without a cell type of their own (bytes, lists, maps, decimals a double
/// cannot hold, dates outside 1900-03-01..9999-12-31, a date-time at
/// exactly midnight UTC) as their canonical text, so that they read back
/// with the same content.
pub(crate) fn value(
    ws: &mut Worksheet,
    row: u32,
    col: u16,
    value: &Value,
    formats: &Formats,
) -> Result<(), XlsxError> {
    let text = |ws: &mut Worksheet, s: &str| ws.write_string(row, col, s).map(drop);
    match value {
        Value::Null => Ok(()),
        Value::Bool(b) => ws.write_boolean(row, col, *b).map(drop),
        Value::Int(i) if i.abs() <= EXACT_INT => ws.write_number(row, col, *i as f64).map(drop),
        Value::Float(f) => ws.write_number(row, col, *f).map(drop),
        Value::Text(s) => text(ws, s),
        Value::Decimal(_) => match exact_double(value) {
            Some(f) => ws.write_number(row, col, f).map(drop),
            None => text(ws, &value.canonical()),
        },
        Value::Date(d) => match excel_date(*d) {
            Some(dt) => ws
                .write_datetime_with_format(row, col, dt, &formats.date)
                .map(drop),
            None => text(ws, &value.canonical()),
        },
        Value::DateTime(t) => {
            let civil = t.to_zoned(jiff::tz::TimeZone::UTC).datetime();
            let ms = civil.subsec_nanosecond() / 1_000_000;
            let at_midnight = civil.time() == jiff::civil::Time::midnight();
            let excel = excel_date(civil.date()).and_then(|d| {
                d.and_hms_milli(
                    civil.hour() as u16,
                    civil.minute() as u8,
                    civil.second() as u8,
                    ms as u16,
                )
                .ok()
            });
            match excel {
                Some(dt) if !at_midnight => {
                    let format = if ms == 0 {
                        &formats.datetime
                    } else {
                        &formats.datetime_ms
                    };
                    ws.write_datetime_with_format(row, col, dt, format)
                        .map(drop)
                }
                // Excel cannot tell midnight from a date, which reads back
                // as a date: text keeps the content.
                _ => text(ws, &value.canonical()),
            }
        }
        Value::Int(_) | Value::Bytes(_) | Value::List(_) | Value::Map(_) => {
            text(ws, &value.canonical())
        }
    }
}

/// The double of a decimal whose canonical text it gives back exactly.
fn exact_double(value: &Value) -> Option<f64> {
    let canonical = value.canonical();
    let f: f64 = canonical.parse().ok()?;
    (f.is_finite() && Value::Float(f).canonical() == canonical).then_some(f)
}

/// A date Excel holds: from 1900-03-01 (before it, Excel's serials count a
/// 29 February 1900 that never was) to 9999-12-31.
fn excel_date(d: jiff::civil::Date) -> Option<ExcelDateTime> {
    if d < jiff::civil::date(1900, 3, 1) || d.year() > 9999 {
        return None;
    }
    ExcelDateTime::from_ymd(d.year() as u16, d.month() as u8, d.day() as u8).ok()
}

/// Writes a cell read from the workbook as it was: its value and, for
/// dates and times, a matching number format. An error cell becomes its
/// text (`#DIV/0!`), since its formula is not kept.
pub(crate) fn cell(
    ws: &mut Worksheet,
    row: u32,
    col: u16,
    cell: &Data,
    formats: &Formats,
) -> Result<(), XlsxError> {
    match cell {
        Data::Empty => Ok(()),
        Data::Int(i) => ws.write_number(row, col, *i as f64).map(drop),
        Data::Float(f) => ws.write_number(row, col, *f).map(drop),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => {
            ws.write_string(row, col, s).map(drop)
        }
        Data::Bool(b) => ws.write_boolean(row, col, *b).map(drop),
        Data::Error(e) => ws.write_string(row, col, e.to_string()).map(drop),
        Data::DateTime(dt) => {
            let serial = dt.as_f64();
            let (y, mo, d, h, mi, s, ms) = dt.to_ymd_hms_milli();
            let format = if dt.is_duration() {
                &formats.duration
            } else if serial.abs() < 1.0 {
                &formats.time
            } else if (h, mi, s, ms) == (0, 0, 0, 0) {
                &formats.date
            } else if ms == 0 {
                &formats.datetime
            } else {
                &formats.datetime_ms
            };
            // Through the date's parts, so a 1904-based workbook's dates
            // stay the same dates.
            let parts = ExcelDateTime::from_ymd(y, mo, d)
                .and_then(|date| date.and_hms_milli(u16::from(h), mi, s, ms));
            match parts {
                Ok(excel) if !dt.is_duration() && serial.abs() >= 1.0 => ws
                    .write_datetime_with_format(row, col, excel, format)
                    .map(drop),
                _ => ws
                    .write_number_with_format(row, col, serial, format)
                    .map(drop),
            }
        }
    }
}
