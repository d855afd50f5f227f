//! Rows as records: keys, duplicate detection, and opening the file.

use std::collections::hash_map::Entry;
use std::fs::File;
use std::io::ErrorKind;

use tandem_core::{Error, Key, Name, Record, Value};

use crate::CONNECTOR;
use crate::config::Settings;
use crate::cursor::{ByKeyHash, Seen, Tracker, key_hash};
use crate::error::{BadRow, io_error};
use crate::format::{self, Scanner};

/// One row of the file, read as a record or not.
#[derive(Debug)]
pub(crate) struct Row {
    /// The byte offset where the row starts.
    pub start: u64,
    /// The 1-based line where the row starts.
    pub line: u64,
    /// The record, or what is wrong with the row.
    pub outcome: Result<Record, BadRow>,
}

/// Reads a file's rows as records: each key made of the key columns, each
/// key once.
pub(crate) struct Rows {
    settings: Settings,
    scanner: Box<dyn Scanner>,
    /// The line each key (by its hash) was first seen on; in a read since
    /// a cursor, only keys the cursor does not hold.
    seen: ByKeyHash<u64>,
}

impl Rows {
    /// Opens the file; `None` when it is missing and `create` is on.
    pub fn open(settings: &Settings) -> tandem_core::Result<Option<Rows>> {
        let Some(file) = open_file(settings)? else {
            return Ok(None);
        };
        let scanner = format::open(settings, file)?;
        Ok(Some(Rows {
            settings: settings.clone(),
            scanner,
            seen: ByKeyHash::default(),
        }))
    }

    /// The file's scanner: its columns, data start and line ends.
    pub fn scanner(&self) -> &dyn Scanner {
        self.scanner.as_ref()
    }

    /// The next row, or `None` at the end of the file. Errors are I/O
    /// errors and a broken CSV header; bad rows are [`Row::outcome`]s.
    pub fn next_row(&mut self) -> tandem_core::Result<Option<Row>> {
        let Some((start, line)) = self.scanner.advance()? else {
            return Ok(None);
        };
        Ok(Some(self.convert(start, line)))
    }

    /// The next row, as [`Rows::next_row`], but where the format tells the
    /// row's key and a hash of its bytes without converting it (CSV), the
    /// tracker is asked first, and a row unchanged since its cursor is
    /// skipped unconverted. Keys of the cursor are checked for duplicates
    /// by the tracker, new keys here.
    pub fn next_unless(&mut self, tracker: &mut Tracker) -> tandem_core::Result<Option<Next>> {
        let Some((start, line)) = self.scanner.advance()? else {
            return Ok(None);
        };
        let Some((key, hash)) = self.scanner.quick() else {
            return Ok(Some(Next::Row(self.convert(start, line))));
        };
        let duplicate = |key: Key, first: u64| {
            let outcome = Err(duplicate(line, key, first));
            Ok(Some(Next::Row(Row {
                start,
                line,
                outcome,
            })))
        };
        match tracker.seen(&key, hash, line) {
            Seen::Unchanged => return Ok(Some(Next::Unchanged)),
            Seen::Again(first) => return duplicate(key, first),
            Seen::Changed => {}
            Seen::New => {
                if let Some(first) = self.first_seen(&key, line) {
                    return duplicate(key, first);
                }
                tracker.keep_new(&key, hash);
            }
        }
        let outcome = match self.scanner.fields() {
            Ok(fields) => Ok(Record {
                key,
                fields,
                version: None,
                modified: None,
            }),
            Err(fault) => Err(BadRow {
                line,
                column: fault.column,
                key: Some(key),
                duplicate: false,
                message: fault.message,
            }),
        };
        Ok(Some(Next::Hashed(Row {
            start,
            line,
            outcome,
        })))
    }

    /// Converts the row the scanner just read.
    fn convert(&mut self, start: u64, line: u64) -> Row {
        let bad = |column: Option<String>, key: Option<Key>, message: String| BadRow {
            line,
            column,
            key,
            duplicate: false,
            message,
        };
        let outcome = match self.scanner.fields() {
            Err(fault) => Err(bad(fault.column, self.scanner.key(), fault.message)),
            Ok(fields) => match key_of(&self.settings.key, &fields) {
                Err(column) => Err(bad(
                    Some(column.clone()),
                    None,
                    format!("key column {column:?} is missing or empty"),
                )),
                Ok(key) => match self.first_seen(&key, line) {
                    Some(first) => Err(duplicate(line, key, first)),
                    None => Ok(Record {
                        key,
                        fields,
                        version: None,
                        modified: None,
                    }),
                },
            },
        };
        Row {
            start,
            line,
            outcome,
        }
    }
}

impl Rows {
    /// The line `key` was first read on, or `None` when this is the first
    /// time (which is then remembered).
    fn first_seen(&mut self, key: &Key, line: u64) -> Option<u64> {
        match self.seen.entry(key_hash(key)) {
            Entry::Occupied(first) => Some(*first.get()),
            Entry::Vacant(slot) => {
                slot.insert(line);
                None
            }
        }
    }
}

/// A row on `line` whose key was first read on line `first`.
fn duplicate(line: u64, key: Key, first: u64) -> BadRow {
    BadRow {
        line,
        column: None,
        message: format!("duplicate key {key} (first on line {first})"),
        key: Some(key),
        duplicate: true,
    }
}

/// What [`Rows::next_unless`] read.
pub(crate) enum Next {
    /// A row unchanged since the cursor, not converted.
    Unchanged,
    /// A row the tracker has recorded by the hash of its bytes.
    Hashed(Row),
    /// A row the format could not hash unconverted; the tracker was not
    /// asked.
    Row(Row),
}

/// The key made of the key columns' canonical text, or the first key
/// column that is missing, null or empty.
pub(crate) fn key_of(key_columns: &[String], fields: &[(Name, Value)]) -> Result<Key, String> {
    let mut parts = Vec::with_capacity(key_columns.len());
    for column in key_columns {
        match fields.iter().find(|(n, _)| n == column) {
            Some((_, v)) if !v.is_null() => {
                let text = v.canonical();
                if text.is_empty() {
                    return Err(column.clone());
                }
                parts.push(text);
            }
            _ => return Err(column.clone()),
        }
    }
    Ok(Key::composite(&parts))
}

/// Opens the file for reading; `None` when it is missing and `create` is on,
/// [`Error::NotFound`] when it is missing and `create` is off.
pub(crate) fn open_file(settings: &Settings) -> tandem_core::Result<Option<File>> {
    match File::open(&settings.path) {
        Ok(file) => Ok(Some(file)),
        Err(e) if e.kind() == ErrorKind::NotFound && settings.create => Ok(None),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            tracing::debug!(path = %settings.shown(), "file not found and create = false");
            Err(Error::NotFound {
                connector: CONNECTOR.into(),
                entity: settings.entity.clone(),
            })
        }
        Err(e) => Err(io_error("opening", &settings.path, e)),
    }
}
