//! Helpers shared by the spreadsheet connector's tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use futures::TryStreamExt;
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook, Worksheet};
use serde_json::json;
use tandem_connector_spreadsheet::SpreadsheetConnector;
use tandem_core::{Batch, Change, ReadRequest, Record, RecordError, Source, Value};

/// A temporary directory for workbooks.
pub struct Dir {
    pub dir: tempfile::TempDir,
}

impl Dir {
    pub fn new() -> Self {
        Dir {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// A committed fixture workbook under `tests/data`.
pub fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// A connector on `path` keyed by `id`, with extra settings.
pub fn connector(path: &Path, extra: serde_json::Value) -> SpreadsheetConnector {
    let mut config = json!({ "path": path, "key": ["id"] });
    for (k, v) in extra.as_object().unwrap() {
        config[k] = v.clone();
    }
    SpreadsheetConnector::from_config(config).unwrap()
}

/// Reads every batch of a full read of a sheet.
pub async fn batches(
    c: &SpreadsheetConnector,
    sheet: &str,
    batch_size: usize,
) -> tandem_core::Result<Vec<Batch>> {
    let request = ReadRequest::full(sheet).with_batch_size(batch_size);
    c.read(request).await?.try_collect().await
}

/// Reads every record and rejected row of a sheet.
pub async fn read_all(
    c: &SpreadsheetConnector,
    sheet: &str,
) -> tandem_core::Result<(Vec<Record>, Vec<RecordError>)> {
    let mut records = Vec::new();
    let mut rejected = Vec::new();
    for batch in batches(c, sheet, 1000).await? {
        for change in batch.changes {
            match change {
                Change::Upsert(r) => records.push(r),
                other => panic!("a full read yields upserts, got {other:?}"),
            }
        }
        rejected.extend(batch.rejected);
    }
    Ok((records, rejected))
}

/// Reads every record of a sheet, failing on any error or rejected row.
pub async fn records(c: &SpreadsheetConnector, sheet: &str) -> Vec<Record> {
    let (records, rejected) = read_all(c, sheet).await.unwrap();
    assert!(rejected.is_empty(), "rejected: {rejected:?}");
    records
}

/// The error of a read that should fail, at open or while streaming.
pub async fn read_error(c: &SpreadsheetConnector, sheet: &str) -> tandem_core::Error {
    match read_all(c, sheet).await {
        Ok(read) => panic!("the read succeeded: {read:?}"),
        Err(e) => e,
    }
}

/// A field's values of every record, in order.
pub fn column(records: &[Record], field: &str) -> Vec<Value> {
    records
        .iter()
        .map(|r| r.get(field).cloned().unwrap_or_default())
        .collect()
}

/// A UTC instant from its parts.
pub fn utc(y: i16, mo: i8, d: i8, h: i8, mi: i8, s: i8, ms: i32) -> jiff::Timestamp {
    jiff::civil::date(y, mo, d)
        .at(h, mi, s, ms * 1_000_000)
        .to_zoned(jiff::tz::TimeZone::UTC)
        .unwrap()
        .timestamp()
}

/// Fills a sheet.
pub type Fill<'a> = &'a dyn Fn(&mut Worksheet);

/// Writes an xlsx workbook of named sheets, each filled by its function.
pub fn xlsx(path: &Path, sheets: &[(&str, Fill)]) {
    let mut book = Workbook::new();
    for (name, fill) in sheets {
        let ws = book.add_worksheet();
        ws.set_name(*name).unwrap();
        fill(ws);
    }
    book.save(path).unwrap();
}

/// The `People` sheet that `tests/data/make_fixtures.py` writes as xls and
/// ods, here as xlsx.
pub fn people(ws: &mut Worksheet) {
    let date = Format::new().set_num_format("yyyy-mm-dd");
    let stamp = Format::new().set_num_format("yyyy-mm-dd hh:mm:ss");
    for (c, name) in ["id", "name", "amount", "price", "active", "joined", "seen"]
        .iter()
        .enumerate()
    {
        ws.write(0, c as u16, *name).unwrap();
    }
    let day = |y, m, d| ExcelDateTime::from_ymd(y, m, d).unwrap();
    ws.write(1, 0, 1).unwrap();
    ws.write(1, 1, "Ada").unwrap();
    ws.write(1, 2, 3).unwrap();
    ws.write(1, 3, 2.5).unwrap();
    ws.write(1, 4, true).unwrap();
    ws.write_datetime_with_format(1, 5, day(2024, 1, 31), &date)
        .unwrap();
    let seen = day(2024, 1, 31).and_hms(10, 30, 0).unwrap();
    ws.write_datetime_with_format(1, 6, seen, &stamp).unwrap();
    // Row 3 is blank.
    ws.write(3, 0, 2).unwrap();
    ws.write(3, 1, "Grace").unwrap();
    ws.write(3, 2, -7).unwrap();
    ws.write(3, 3, 0.125).unwrap();
    ws.write(3, 4, false).unwrap();
    ws.write_datetime_with_format(3, 5, day(1999, 12, 31), &date)
        .unwrap();
    let seen = day(2000, 1, 1).and_hms(0, 0, 1).unwrap();
    ws.write_datetime_with_format(3, 6, seen, &stamp).unwrap();
    ws.write(4, 0, 3).unwrap();
}
