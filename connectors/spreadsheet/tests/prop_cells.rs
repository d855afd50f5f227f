//! Cells as values, over arbitrary cells: every kind of cell calamine reads
//! (numbers, text, booleans, date, time and duration serials of both
//! epochs, ISO dates and durations, error cells) becomes a value or an
//! error naming the cell's error, never a panic; dates are the days their
//! serials say, and a serial no date holds stays a number.
//!
//! The conversion is private to the crate, so its module is compiled into
//! this test as it is. `PROPTEST_CASES=N` runs N cases of each property.

#[allow(dead_code)]
#[path = "../src/cells.rs"]
mod cells;

use calamine::{CellErrorType, Data, ExcelDateTime, ExcelDateTimeType};
use jiff::civil;
use proptest::prelude::*;
use tandem_core::Value;

/// The cases of a property: `default` unless `PROPTEST_CASES` says. The
/// random numbers come from XorShift unless `PROPTEST_RNG_ALGORITHM` says:
/// unoptimised, ChaCha took most of the time of a case.
fn config(default: u32) -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = default;
    }
    if std::env::var_os("PROPTEST_RNG_ALGORITHM").is_none() {
        config.rng_algorithm = proptest::test_runner::RngAlgorithm::XorShift;
    }
    config
}

/// 1970-01-01 as a serial of the 1900 epoch.
const UNIX_EPOCH_SERIAL: f64 = 25_569.0;
/// The days between the 1900 and 1904 epochs.
const EPOCH_1904: f64 = 1_462.0;
/// The last day Excel holds, 9999-12-31, as serials of each epoch.
const LAST_DAY_1900: f64 = 2_958_465.0;
const LAST_DAY_1904: f64 = 2_957_003.0;

fn serial() -> impl Strategy<Value = f64> {
    prop_oneof![
        3 => 0.0..LAST_DAY_1900 + 1.0,
        2 => 0.0f64..1.0,
        1 => (0u32..3_000_000).prop_map(f64::from),
        1 => -10.0f64..0.0,
        1 => LAST_DAY_1904 - 2.0..LAST_DAY_1900 + 2.0,
        1 => any::<f64>(),
        1 => prop_oneof![
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(f64::MAX),
            Just(f64::MIN),
            Just(-0.0),
            Just(60.0),
            Just(61.0),
            Just(0.999_999_999_9),
            Just(LAST_DAY_1900 + 0.999_999_999),
            Just(LAST_DAY_1904 + 0.999_999_999),
            Just(1e17),
            Just(-1e300),
        ],
    ]
}

fn excel_datetime() -> impl Strategy<Value = ExcelDateTime> {
    (serial(), any::<bool>(), any::<bool>()).prop_map(|(s, duration, is_1904)| {
        let kind = if duration {
            ExcelDateTimeType::TimeDelta
        } else {
            ExcelDateTimeType::DateTime
        };
        ExcelDateTime::new(s, kind, is_1904)
    })
}

/// Text near an ISO date, time or duration, and any text.
fn iso_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[+-]?[0-9]{1,6}-[0-9]{1,2}-[0-9]{1,2}",
        "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\\.[0-9]{1,12})?)?(Z|[+-][0-9]{2}:?[0-9]{2})?",
        "-?P([0-9]{1,20}[YMWD])*(T([0-9]{1,20}(\\.[0-9]{1,9})?[HMS])*)?",
        any::<String>(),
    ]
}

fn error_type() -> impl Strategy<Value = CellErrorType> {
    proptest::sample::select(vec![
        CellErrorType::Div0,
        CellErrorType::NA,
        CellErrorType::Name,
        CellErrorType::Null,
        CellErrorType::Num,
        CellErrorType::Ref,
        CellErrorType::Value,
        CellErrorType::GettingData,
    ])
}

fn cell() -> impl Strategy<Value = Data> {
    prop_oneof![
        Just(Data::Empty),
        any::<i64>().prop_map(Data::Int),
        prop_oneof![any::<f64>(), serial(), -1e16f64..1e16].prop_map(Data::Float),
        any::<String>().prop_map(Data::String),
        Just(Data::String(String::new())),
        any::<bool>().prop_map(Data::Bool),
        excel_datetime().prop_map(Data::DateTime),
        iso_text().prop_map(Data::DateTimeIso),
        iso_text().prop_map(Data::DurationIso),
        error_type().prop_map(Data::Error),
    ]
}

/// The value as the engine then uses it: canonical text, JSON, display.
fn use_value(v: &Value) {
    let _ = v.canonical();
    let _ = v.to_json();
    let _ = v.to_string();
}

/// Two results alike, NaN equal to NaN.
fn same(a: &Result<Value, String>, b: &Result<Value, String>) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

/// The 1900-epoch serial of a date-time serial of either epoch.
fn serial_1900(dt: &ExcelDateTime) -> f64 {
    let is_1904 = *dt == ExcelDateTime::new(dt.as_f64(), ExcelDateTimeType::DateTime, true);
    dt.as_f64() + if is_1904 { EPOCH_1904 } else { 0.0 }
}

/// Checks a date-time cell's value against its serial, computed apart from
/// the conversion (from the Unix epoch, without Excel's phantom day, so
/// only for serials after it: 1900-03-01 is serial 61).
fn check_datetime(dt: &ExcelDateTime, value: &Value) -> Result<(), TestCaseError> {
    let serial = dt.as_f64();
    let s1900 = serial_1900(dt);
    let expected_ms = ((s1900 - UNIX_EPOCH_SERIAL) * 86_400_000.0).round();
    match value {
        Value::Date(d) => {
            prop_assert!(serial >= 1.0, "{serial} is a date {d}");
            if s1900 >= 61.0 {
                let days = d
                    .to_zoned(jiff::tz::TimeZone::UTC)
                    .unwrap()
                    .timestamp()
                    .as_millisecond();
                prop_assert_eq!(days as f64, expected_ms, "serial {} read as {}", serial, d);
            }
        }
        Value::DateTime(t) => {
            prop_assert!(serial >= 1.0, "{serial} is a date-time {t}");
            if s1900 >= 61.0 {
                let ms = t.as_millisecond() as f64;
                prop_assert!(
                    (ms - expected_ms).abs() <= 1.0,
                    "serial {} read as {} ({} ms, expected {})",
                    serial,
                    t,
                    ms,
                    expected_ms
                );
            }
        }
        Value::Text(t) => {
            prop_assert!(
                (0.0..1.0).contains(&serial),
                "serial {serial} read as the time {t}"
            );
            prop_assert!(t.len() == 8 || t.len() == 12, "a time hh:mm:ss[.mmm]: {t}");
        }
        Value::Int(_) | Value::Float(_) => {
            prop_assert!(same(&Ok(value.clone()), &Ok(cells::number(serial))));
            // Only a serial no date holds, or Excel's phantom 1900-02-29.
            let is_1904 = s1900 != serial;
            let last = if is_1904 {
                LAST_DAY_1904
            } else {
                LAST_DAY_1900
            };
            let ms = (serial * 86_400_000.0).round();
            let day = 86_400_000.0;
            let outside = !(serial >= 0.0 && ms < (last + 1.0) * day);
            let phantom = !is_1904 && (60.0 * day..61.0 * day).contains(&ms);
            // A time of 9999-12-31 past what a `jiff::Timestamp` holds.
            let past_timestamps = expected_ms > jiff::Timestamp::MAX.as_millisecond() as f64;
            prop_assert!(
                outside || phantom || past_timestamps,
                "serial {serial} read as {value:?}"
            );
        }
        other => prop_assert!(false, "serial {serial} read as {other:?}"),
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(5000))]

    #[test]
    fn every_cell_is_a_value_or_names_its_error(cell in cell()) {
        let by_ref = cells::value(&cell);
        let taken = cells::take_value(cell.clone());
        prop_assert!(same(&by_ref, &taken), "{:?} vs {:?}", by_ref, taken);
        match (&cell, &by_ref) {
            (Data::Error(e), Err(message)) => {
                prop_assert!(message.contains(&e.to_string()), "{message}");
            }
            (Data::Error(_), Ok(v)) => prop_assert!(false, "an error cell read as {v:?}"),
            (_, Err(message)) => prop_assert!(false, "{cell:?} failed: {message}"),
            (_, Ok(v)) => use_value(v),
        }
        prop_assert_eq!(cells::is_blank(&cell), matches!(by_ref, Ok(Value::Null)));
    }

    #[test]
    fn numbers_keep_their_value(f in prop_oneof![any::<f64>(), -1e16f64..1e16, serial()]) {
        match cells::number(f) {
            Value::Int(i) => {
                prop_assert!(f.fract() == 0.0 && (i as f64) == f, "{f} read as {i}");
            }
            Value::Float(g) => prop_assert!(g.to_bits() == f.to_bits(), "{f} read as {g}"),
            other => prop_assert!(false, "{f} read as {other:?}"),
        }
    }

    #[test]
    fn text_is_kept_and_empty_text_is_null(s in any::<String>()) {
        let v = cells::value(&Data::String(s.clone())).unwrap();
        if s.is_empty() {
            prop_assert_eq!(v, Value::Null);
        } else {
            prop_assert_eq!(v, Value::Text(s.as_str().into()));
        }
    }

    #[test]
    fn date_serials_read_as_the_days_they_hold(dt in excel_datetime()) {
        let value = cells::value(&Data::DateTime(dt)).unwrap();
        use_value(&value);
        if dt.is_duration() {
            match &value {
                Value::Text(t) => prop_assert!(t.starts_with("PT") || t.starts_with("-PT"), "{t}"),
                Value::Int(i) => prop_assert_eq!(*i as f64, dt.as_f64()),
                Value::Float(f) => prop_assert!(f.to_bits() == dt.as_f64().to_bits()),
                other => prop_assert!(false, "a duration read as {other:?}"),
            }
        } else {
            check_datetime(&dt, &value)?;
        }
    }

    #[test]
    fn iso_text_is_a_date_a_date_time_or_kept(s in iso_text()) {
        match cells::value(&Data::DateTimeIso(s.clone())).unwrap() {
            Value::Date(d) => prop_assert_eq!(d, s.parse::<civil::Date>().unwrap()),
            Value::DateTime(t) => {
                let at = s.parse::<civil::DateTime>().unwrap();
                prop_assert_eq!(t.to_zoned(jiff::tz::TimeZone::UTC).datetime(), at);
            }
            Value::Text(t) => prop_assert_eq!(t.as_str(), s.as_str()),
            Value::Null => prop_assert!(s.is_empty()),
            other => prop_assert!(false, "{s:?} read as {other:?}"),
        }
        let duration = cells::value(&Data::DurationIso(s.clone())).unwrap();
        prop_assert!(duration == Value::Text(s.as_str().into()) || s.is_empty());
    }
}

// ---- Found by the properties ----

fn datetime(serial: f64, kind: ExcelDateTimeType, is_1904: bool) -> Result<Value, String> {
    cells::value(&Data::DateTime(ExcelDateTime::new(serial, kind, is_1904)))
}

#[test]
fn a_duration_longer_than_milliseconds_hold_is_a_number_not_a_panic() {
    // The milliseconds of -1e300 days saturate to i64::MIN, whose absolute
    // value overflows.
    let v = datetime(-1e300, ExcelDateTimeType::TimeDelta, false);
    assert_eq!(v, Ok(Value::Float(-1e300)));
    let v = datetime(f64::INFINITY, ExcelDateTimeType::TimeDelta, false);
    assert_eq!(v, Ok(Value::Float(f64::INFINITY)));
    let v = datetime(f64::NAN, ExcelDateTimeType::TimeDelta, false);
    assert!(matches!(v, Ok(Value::Float(f)) if f.is_nan()), "{v:?}");
    // Durations within range are still durations.
    let v = datetime(-1.5, ExcelDateTimeType::TimeDelta, false);
    assert_eq!(v, Ok(Value::Text("-PT36H0M0S".into())));
}

#[test]
fn a_date_serial_past_9999_12_31_stays_a_number() {
    // calamine clamps such serials to its last day, which read as 9999-12-31.
    let dt = ExcelDateTimeType::DateTime;
    assert_eq!(datetime(1e7, dt, false), Ok(Value::Int(10_000_000)));
    assert_eq!(datetime(2_958_466.0, dt, false), Ok(Value::Int(2_958_466)));
    assert_eq!(datetime(2_957_004.0, dt, true), Ok(Value::Int(2_957_004)));
    assert_eq!(
        datetime(2_958_465.0, dt, false),
        Ok(Value::Date(civil::date(9999, 12, 31)))
    );
    assert_eq!(
        datetime(2_957_003.0, dt, true),
        Ok(Value::Date(civil::date(9999, 12, 31)))
    );
    // The last millisecond of 9999-12-31 does not round up into the next day.
    let v = datetime(2_958_465.999_999_999, dt, false);
    assert_eq!(v, Ok(Value::Float(2_958_465.999_999_999)));
}

#[test]
fn a_negative_or_nan_date_serial_stays_a_number() {
    // calamine reads them as its first day (and -0.25 as the time 00:00:00).
    let dt = ExcelDateTimeType::DateTime;
    assert_eq!(datetime(-5.0, dt, false), Ok(Value::Int(-5)));
    assert_eq!(datetime(-0.25, dt, false), Ok(Value::Float(-0.25)));
    assert_eq!(datetime(-3.5, dt, true), Ok(Value::Float(-3.5)));
    let v = datetime(f64::NAN, dt, false);
    assert!(matches!(v, Ok(Value::Float(f)) if f.is_nan()), "{v:?}");
    // The first day and a time of day are still read as such.
    assert_eq!(
        datetime(1.0, dt, false),
        Ok(Value::Date(civil::date(1900, 1, 1)))
    );
    assert_eq!(datetime(0.5, dt, false), Ok(Value::Text("12:00:00".into())));
    assert_eq!(
        datetime(-0.0, dt, false),
        Ok(Value::Text("00:00:00".into()))
    );
}
