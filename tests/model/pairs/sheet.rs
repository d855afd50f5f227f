//! A spreadsheet side (`.xlsx`, sheet `people`). The harness edits the
//! workbook as a person would, with its own writer (rust_xlsxwriter) and
//! reader (calamine), never through the connector the engine runs on it.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use calamine::{Data, Reader, Xlsx, open_workbook};
use rust_xlsxwriter::Workbook;
use tandem_core::engine::Endpoint;
use tandem_core::{Record, Value};

use crate::program::FIELDS;
use crate::world::SideIo;

/// The sheet a pair syncs.
pub const SHEET: &str = "people";

type Row = Vec<(String, Option<String>)>;

pub struct SheetSide {
    pub path: PathBuf,
    endpoint: Option<Endpoint>,
}

impl SheetSide {
    pub fn new(dir: &Path, name: &str) -> SheetSide {
        SheetSide {
            path: dir.join(format!("{name}.xlsx")),
            endpoint: None,
        }
    }

    /// The side with the connector the engine runs on it.
    pub fn with_endpoint(mut self, endpoint: Endpoint) -> SheetSide {
        self.endpoint = Some(endpoint);
        self
    }

    fn rows(&self) -> Vec<Row> {
        if !self.path.exists() {
            return Vec::new();
        }
        let mut book: Xlsx<_> = open_workbook(&self.path).expect("open the workbook");
        let Ok(range) = book.worksheet_range(SHEET) else {
            return Vec::new();
        };
        let mut rows = range.rows();
        let Some(header) = rows.next() else {
            return Vec::new();
        };
        let names: Vec<String> = header.iter().map(|c| c.to_string()).collect();
        rows.filter(|r| r.iter().any(|c| !matches!(c, Data::Empty)))
            .map(|r| {
                names
                    .iter()
                    .zip(r.iter())
                    .map(|(n, c)| {
                        let v = match c {
                            Data::Empty => None,
                            other => Some(other.to_string()).filter(|t| !t.is_empty()),
                        };
                        (n.clone(), v)
                    })
                    .collect()
            })
            .collect()
    }

    fn write_rows(&self, rows: &[Row]) {
        let mut book = Workbook::new();
        let sheet = book.add_worksheet();
        sheet.set_name(SHEET).expect("a sheet name");
        let header: Vec<&str> = std::iter::once("id").chain(FIELDS).collect();
        for (c, h) in header.iter().enumerate() {
            sheet.write_string(0, c as u16, *h).expect("a header cell");
        }
        for (r, row) in rows.iter().enumerate() {
            for (c, h) in header.iter().enumerate() {
                if let Some(v) = get(row, h) {
                    sheet
                        .write_string(r as u32 + 1, c as u16, v)
                        .expect("a cell");
                }
            }
        }
        let tmp = self.path.with_extension("edit.xlsx");
        book.save(&tmp).expect("save the edited workbook");
        std::fs::rename(&tmp, &self.path).expect("replace the workbook");
    }
}

fn get(row: &Row, name: &str) -> Option<String> {
    row.iter()
        .find(|(k, _)| k == name)
        .and_then(|(_, v)| v.clone())
}

#[async_trait]
impl SideIo for SheetSide {
    async fn put(&self, key: &str, fields: &[(String, Option<String>)], _modified: Option<i64>) {
        let mut rows = self.rows();
        let mut row: Row = vec![("id".to_owned(), Some(key.to_owned()))];
        row.extend(fields.iter().cloned());
        match rows
            .iter_mut()
            .find(|r| get(r, "id").as_deref() == Some(key))
        {
            Some(r) => *r = row,
            None => rows.push(row),
        }
        self.write_rows(&rows);
    }

    async fn remove(&self, key: &str) {
        let mut rows = self.rows();
        rows.retain(|r| get(r, "id").as_deref() != Some(key));
        self.write_rows(&rows);
    }

    async fn raw(&self) -> Vec<Record> {
        self.rows()
            .into_iter()
            .map(|row| {
                let mut r = Record::new(get(&row, "id").unwrap_or_default());
                for (k, v) in row {
                    r.set(k, v.map_or(Value::Null, Value::from));
                }
                r
            })
            .collect()
    }

    fn endpoint(&self) -> Endpoint {
        self.endpoint
            .clone()
            .expect("a sheet side with its connector")
    }
}
