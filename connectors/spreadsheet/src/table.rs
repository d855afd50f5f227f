//! A sheet as a table: its header row, and its rows below as records.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::Path;

use calamine::{Data, Dimensions, Range};
use tandem_core::{Error, Key, Record, RecordError, Value};

use crate::CONNECTOR;
use crate::cells::{self, cell_name, sheet_ref};
use crate::config::SheetSettings;

/// One named column of a sheet.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Column {
    /// The 0-based absolute column.
    pub col: u32,
    /// The header cell's text.
    pub name: String,
}

/// The header of a sheet: its named columns and where the key is.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    /// The sheet's name.
    pub sheet: String,
    /// The 0-based absolute header row.
    pub header_row: u32,
    /// The named columns, left to right.
    pub columns: Vec<Column>,
    /// The positions in `columns` of the key columns, in key order.
    key: Vec<usize>,
}

/// A row that could not be read.
#[derive(Debug, Clone)]
pub(crate) struct BadRow {
    /// The cell to blame (`Sheet1!C7`), or the row (`Sheet1!7:7`).
    pub location: String,
    /// The row's key, when it could be read.
    pub key: Option<Key>,
    /// What is wrong.
    pub message: String,
}

impl BadRow {
    /// The error that fails a read (`on_bad_record = "fail"`).
    pub fn to_error(&self, path: &Path) -> Error {
        Error::BadRecord {
            connector: CONNECTOR.into(),
            location: format!("{}, {}", path.display(), self.location),
            message: self.message.clone(),
        }
    }

    /// The report of a skipped row (`on_bad_record = "skip"`).
    pub fn to_record_error(&self, path: &Path) -> RecordError {
        RecordError {
            location: format!("{}, {}", path.display(), self.location),
            key: self.key.as_ref().map(|k| k.as_str().to_owned()),
            message: self.message.clone(),
        }
    }
}

/// A header problem: an error naming the file, sheet and cell.
fn header_error(path: &Path, sheet: &str, row: u32, col: u32, message: String) -> Error {
    Error::BadRecord {
        connector: CONNECTOR.into(),
        location: format!(
            "{}, {}!{}",
            path.display(),
            sheet_ref(sheet),
            cell_name(row, col)
        ),
        message,
    }
}

/// The error for a blank header cell over a column that holds data: named
/// as merged when the cell is inside a merged region. Merges are looked up
/// only here, to explain the blank cell, since finding them in xlsx means
/// parsing the sheet again.
pub(crate) fn blank_header(
    path: &Path,
    sheet: &SheetSettings,
    col: u32,
    merges: &mut dyn FnMut() -> Result<Vec<Dimensions>, Error>,
) -> Error {
    let row = sheet.header_row - 1;
    let merged = match merges() {
        Ok(merges) => merges.into_iter().find(|m| m.contains(row, col)),
        Err(e) => return e,
    };
    let message = match merged {
        Some(m) => format!(
            "the header cell is merged ({}:{}); unmerge the header cells and name each column",
            cell_name(m.start.0, m.start.1),
            cell_name(m.end.0, m.end.1)
        ),
        None => {
            "the header cell is blank, and the column below it holds data; name the column".into()
        }
    };
    header_error(path, &sheet.name, row, col, message)
}

impl Table {
    /// Reads the header of a sheet from its cells. `None` when the sheet
    /// holds nothing at or below the header row (an empty entity).
    ///
    /// A column counts when its header cell or any cell below it holds
    /// something; a counted column with a blank header cell (named as merged
    /// when it is inside a merged region), a repeated name, or a key column
    /// missing from the header is an error naming the cell. Merged header
    /// cells over columns that hold nothing are harmless and pass.
    pub fn parse(
        path: &Path,
        sheet: &SheetSettings,
        range: &Range<Data>,
        merges: &mut dyn FnMut() -> Result<Vec<Dimensions>, Error>,
    ) -> Result<Option<Table>, Error> {
        let header_row = sheet.header_row - 1;
        let (Some(start), Some(end)) = (range.start(), range.end()) else {
            return Ok(None);
        };
        if end.0 < header_row {
            return Ok(None);
        }
        let header: Vec<Data> = (0..=end.1)
            .map(|col| {
                range
                    .get_value((header_row, col))
                    .cloned()
                    .unwrap_or_default()
            })
            .collect();
        for col in start.1..=end.1 {
            let below = || {
                (header_row + 1..=end.0).any(|r| {
                    range
                        .get_value((r, col))
                        .is_some_and(|c| !cells::is_blank(c))
                })
            };
            if cells::is_blank(&header[col as usize]) && below() {
                return Err(blank_header(path, sheet, col, merges));
            }
        }
        Table::from_header(path, sheet, &header)
    }

    /// The table of a header row (its cells from column A): `None` when it
    /// names no column. A repeated name or a missing key column is an error
    /// naming the cell; blank cells are for the caller to check against the
    /// data below (see [`blank_header`]).
    pub fn from_header(
        path: &Path,
        sheet: &SheetSettings,
        header: &[Data],
    ) -> Result<Option<Table>, Error> {
        let header_row = sheet.header_row - 1;
        let name = &sheet.name;
        let error = |col, message| Err(header_error(path, name, header_row, col, message));
        let mut columns: Vec<Column> = Vec::new();
        for (col, cell) in (0..).zip(header) {
            if cells::is_blank(cell) {
                continue;
            }
            let text = match cells::value(cell) {
                Ok(v) => v.canonical(),
                Err(message) => {
                    return error(col, format!("the header cell is not a name: {message}"));
                }
            };
            let text = text.trim().to_owned();
            if let Some(first) = columns.iter().find(|c| c.name == text) {
                return error(
                    col,
                    format!(
                        "the column name {text:?} is used twice (first in {})",
                        cell_name(header_row, first.col)
                    ),
                );
            }
            columns.push(Column { col, name: text });
        }
        if columns.is_empty() {
            return Ok(None);
        }
        let mut key = Vec::with_capacity(sheet.key.len());
        for k in &sheet.key {
            match columns.iter().position(|c| &c.name == k) {
                Some(i) => key.push(i),
                None => {
                    let first = columns[0].col;
                    return error(
                        first,
                        format!(
                            "the key column {k:?} is not in the header row {}",
                            sheet.header_row
                        ),
                    );
                }
            }
        }
        Ok(Some(Table {
            sheet: name.clone(),
            header_row,
            columns,
            key,
        }))
    }

    /// The first column of a row's cells (from column A) that holds
    /// something and has no name.
    pub fn unnamed(&self, cells: &[Data]) -> Option<u32> {
        (0..)
            .zip(cells)
            .find(|(col, cell)| {
                !cells::is_blank(cell) && !self.columns.iter().any(|c| c.col == *col)
            })
            .map(|(col, _)| col)
    }

    /// The absolute rows below the header.
    pub fn data_rows(&self, range: &Range<Data>) -> std::ops::RangeInclusive<u32> {
        let end = range.end().map_or(0, |e| e.0);
        self.header_row + 1..=end
    }

    /// The cells of an absolute row of the range, or an empty slice.
    pub fn row(range: &Range<Data>, row: u32) -> &[Data] {
        match range.start() {
            Some(start) if row >= start.0 && ((row - start.0) as usize) < range.height() => {
                &range[(row - start.0) as usize]
            }
            _ => &[],
        }
    }

    /// The record of an absolute row: `Ok(None)` for a blank row. `keep`
    /// says which columns (by position in `columns`) go into the record.
    /// Checks that the key was not seen before, in `seen`.
    pub fn record(
        &self,
        range: &Range<Data>,
        row: u32,
        keep: Option<&[bool]>,
        seen: &mut HashMap<Key, u32>,
    ) -> Result<Option<Record>, BadRow> {
        let mut cells: Vec<Data> = self
            .columns
            .iter()
            .map(|c| range.get_value((row, c.col)).cloned().unwrap_or_default())
            .collect();
        if cells.iter().all(cells::is_blank) {
            return Ok(None);
        }
        self.record_of(row, &mut cells, keep, seen).map(Some)
    }

    /// Moves the cells of the named columns out of a row's cells (the first
    /// at `first_col`) onto `out`, in column order; returns `false`, moving
    /// nothing, for a blank row.
    pub fn take_row(&self, cells: &mut [Data], first_col: u32, out: &mut Vec<Data>) -> bool {
        let at = |col: u32| col.checked_sub(first_col).map(|i| i as usize);
        let cell = |cells: &[Data], col| {
            at(col)
                .and_then(|i| cells.get(i))
                .is_some_and(|c| !cells::is_blank(c))
        };
        if !self.columns.iter().any(|c| cell(cells, c.col)) {
            return false;
        }
        out.extend(self.columns.iter().map(|c| {
            at(c.col)
                .and_then(|i| cells.get_mut(i))
                .map(std::mem::take)
                .unwrap_or_default()
        }));
        true
    }

    /// The record of a row that is not blank, from its named columns' cells
    /// (one per column, in column order, as [`Table::take_row`] gives
    /// them), taking their values out rather than copying them.
    pub fn record_of(
        &self,
        row: u32,
        cells: &mut [Data],
        keep: Option<&[bool]>,
        seen: &mut HashMap<Key, u32>,
    ) -> Result<Record, BadRow> {
        let bad = |col: Option<u32>, key: Option<Key>, message: String| BadRow {
            location: match col {
                Some(col) => format!("{}!{}", sheet_ref(&self.sheet), cell_name(row, col)),
                None => format!("{}!{}:{}", sheet_ref(&self.sheet), row + 1, row + 1),
            },
            key,
            message,
        };
        // Every column's value (bad cells remembered, null in their place),
        // then the key from the key columns' values.
        let mut fields = Vec::with_capacity(self.columns.len());
        let mut errors: Vec<(usize, String)> = Vec::new();
        for (i, column) in self.columns.iter().enumerate() {
            if keep.is_some_and(|k| !k[i]) {
                continue;
            }
            let value =
                cells::take_value(std::mem::take(&mut cells[i])).unwrap_or_else(|message| {
                    errors.push((i, format!("column {:?}: {message}", column.name)));
                    Value::Null
                });
            fields.push((column.name.as_str().into(), value));
        }
        // One key column (the usual case) makes the key without a list.
        let mut single = None;
        let mut parts: Vec<String> = Vec::new();
        for &i in &self.key {
            let column = &self.columns[i];
            if let Some((_, message)) = errors.iter().find(|(e, _)| *e == i) {
                return Err(bad(Some(column.col), None, format!("key {message}")));
            }
            // The key columns are always kept: the position among the kept.
            let at = keep.map_or(i, |k| k[..i].iter().filter(|kept| **kept).count());
            let value = &fields[at].1;
            let empty = match value {
                Value::Null => true,
                Value::Text(s) => s.is_empty(),
                _ => false,
            };
            if empty {
                let message = format!("the key column {:?} is empty", column.name);
                return Err(bad(Some(column.col), None, message));
            }
            let text = match value {
                Value::Text(s) => s.to_string(),
                v => v.canonical(),
            };
            match self.key.len() {
                1 => single = Some(text),
                _ => parts.push(text),
            }
        }
        let key = match single {
            Some(text) => Key::from(text),
            None => Key::composite(&parts),
        };
        let first_bad = errors
            .into_iter()
            .next()
            .map(|(i, message)| (self.columns[i].col, message));
        if let Some((col, message)) = first_bad {
            return Err(bad(Some(col), Some(key), message));
        }
        match seen.entry(key.clone()) {
            Entry::Occupied(first) => {
                let message = format!("duplicate key {key} (first in row {})", first.get() + 1);
                return Err(bad(None, Some(key), message));
            }
            Entry::Vacant(slot) => {
                slot.insert(row);
            }
        }
        Ok(Record {
            key,
            fields,
            version: None,
            modified: None,
        })
    }

    /// Which columns a field subset keeps: the requested ones and the key.
    pub fn keep(&self, fields: Option<&[String]>) -> Option<Vec<bool>> {
        let fields = fields?;
        Some(
            self.columns
                .iter()
                .enumerate()
                .map(|(i, c)| self.key.contains(&i) || fields.contains(&c.name))
                .collect(),
        )
    }
}
