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

impl Table {
    /// Reads the header of a sheet. `None` when the sheet holds nothing at
    /// or below the header row (an empty entity).
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
        let name = &sheet.name;
        let error = |col, message| Err(header_error(path, name, header_row, col, message));
        let mut columns: Vec<Column> = Vec::new();
        let mut anything = false;
        for col in start.1..=end.1 {
            let cell = range.get_value((header_row, col)).unwrap_or(&Data::Empty);
            let blank = cells::is_blank(cell);
            let below = || {
                (header_row + 1..=end.0).any(|r| {
                    range
                        .get_value((r, col))
                        .is_some_and(|c| !cells::is_blank(c))
                })
            };
            if blank && !below() {
                continue; // A column that holds nothing.
            }
            anything = true;
            if blank {
                // Merges are looked up only to explain a blank header cell:
                // finding them in xlsx means parsing the sheet again.
                if let Some(m) = merges()?.iter().find(|m| m.contains(header_row, col)) {
                    let region = format!(
                        "{}:{}",
                        cell_name(m.start.0, m.start.1),
                        cell_name(m.end.0, m.end.1)
                    );
                    return error(
                        col,
                        format!(
                            "the header cell is merged ({region}); unmerge the header cells and name each column"
                        ),
                    );
                }
                return error(
                    col,
                    "the header cell is blank, and the column below it holds data; name the column"
                        .into(),
                );
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
        if !anything {
            return Ok(None);
        }
        let mut key = Vec::with_capacity(sheet.key.len());
        for k in &sheet.key {
            match columns.iter().position(|c| &c.name == k) {
                Some(i) => key.push(i),
                None => {
                    let first = columns.first().map_or(start.1, |c| c.col);
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
        let mut cells = Self::row(range, row).to_vec();
        let first_col = range.start().map_or(0, |s| s.1);
        self.take_record(row, first_col, &mut cells, keep, seen)
    }

    /// [`Table::record`] from a row's cells (the first at `first_col`),
    /// taking their values out rather than copying them.
    pub fn take_record(
        &self,
        row: u32,
        first_col: u32,
        cells: &mut [Data],
        keep: Option<&[bool]>,
        seen: &mut HashMap<Key, u32>,
    ) -> Result<Option<Record>, BadRow> {
        let at = |col: u32| (col - first_col) as usize;
        if self
            .columns
            .iter()
            .all(|c| cells.get(at(c.col)).is_none_or(cells::is_blank))
        {
            return Ok(None);
        }
        let bad = |col: Option<u32>, key: Option<Key>, message: String| BadRow {
            location: match col {
                Some(col) => format!("{}!{}", sheet_ref(&self.sheet), cell_name(row, col)),
                None => format!("{}!{}:{}", sheet_ref(&self.sheet), row + 1, row + 1),
            },
            key,
            message,
        };
        // Every column's value (the first bad cell remembered), then the key.
        let mut fields = Vec::with_capacity(self.columns.len());
        let mut key_values: Vec<Result<Value, String>> = vec![Ok(Value::Null); self.key.len()];
        let mut first_bad: Option<(u32, String)> = None;
        for (i, column) in self.columns.iter().enumerate() {
            let cell = cells.get_mut(at(column.col)).map(std::mem::take);
            let in_key = self.key.iter().position(|&k| k == i);
            let value = match cells::take_value(cell.unwrap_or_default()) {
                Ok(v) => v,
                Err(message) => {
                    let message = format!("column {:?}: {message}", column.name);
                    if let Some(k) = in_key {
                        key_values[k] = Err(message.clone());
                    }
                    first_bad.get_or_insert((column.col, message));
                    continue;
                }
            };
            if let Some(k) = in_key {
                key_values[k] = Ok(value.clone());
            }
            if keep.is_none_or(|k| k[i]) {
                fields.push((column.name.clone(), value));
            }
        }
        let mut parts = Vec::with_capacity(self.key.len());
        for (&i, value) in self.key.iter().zip(&key_values) {
            let column = &self.columns[i];
            let text = match value {
                Ok(Value::Text(s)) => s.clone(),
                Ok(Value::Null) => String::new(),
                Ok(v) => v.canonical(),
                Err(message) => return Err(bad(Some(column.col), None, format!("key {message}"))),
            };
            if text.is_empty() {
                let message = format!("the key column {:?} is empty", column.name);
                return Err(bad(Some(column.col), None, message));
            }
            parts.push(text);
        }
        let key = match parts.len() {
            1 => Key(parts.pop().expect("one part")),
            _ => Key::composite(&parts),
        };
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
        Ok(Some(Record {
            key,
            fields,
            version: None,
            modified: None,
        }))
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
