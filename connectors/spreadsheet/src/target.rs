//! The workbook as a target: transactions stage changes in memory; commit
//! rewrites the workbook (see [`crate::commit`]); `fetch` scans the sheet.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use tandem_core::{
    Applied, Capabilities, Change, Error, Key, Record, Result, Target, Transaction, Value,
};

use crate::config::{Format, Settings, SheetSettings};
use crate::workbook::{Workbook, not_found};
use crate::{CONNECTOR, SpreadsheetConnector, blocking, commit, sheet, source, write};

#[async_trait]
impl Target for SpreadsheetConnector {
    fn capabilities(&self) -> Capabilities {
        source::capabilities(&self.settings)
    }

    async fn begin(&self, entity: &str) -> Result<Box<dyn Transaction>> {
        if !self.settings.writable() {
            let format = match self.settings.format {
                Format::Xlsm => "xlsm (macros would be lost)",
                Format::Xls => "xls",
                Format::Ods => "ods",
                Format::Xlsx => unreachable!("xlsx is writable"),
            };
            return Err(Error::config(
                CONNECTOR,
                format!(
                    "path: only xlsx can be written; {} is {format}",
                    self.settings.path.display()
                ),
            ));
        }
        let sheet = self.settings.entity(entity)?;
        let settings = Arc::clone(&self.settings);
        let name = sheet.name.clone();
        blocking(move || check_exists(&settings, &name)).await?;
        Ok(Box::new(SheetTransaction {
            connector: self.clone(),
            sheet,
            staged: Staged::default(),
        }))
    }

    async fn fetch(&self, entity: &str, keys: &[Key]) -> Result<Vec<Record>> {
        let sheet = self.settings.entity(entity)?;
        let settings = Arc::clone(&self.settings);
        let wanted: HashSet<Key> = keys.iter().cloned().collect();
        let mut found = blocking(move || scan_for(&settings, sheet, wanted)).await?;
        Ok(keys.iter().filter_map(|k| found.remove(k)).collect())
    }
}

/// `NotFound` now rather than at commit, for a sheet that is neither in the
/// workbook nor created by it.
fn check_exists(settings: &Settings, sheet: &str) -> Result<()> {
    let listed = settings.sheets.is_some();
    match Workbook::open(settings)? {
        Some(workbook) if workbook.sheet_names().iter().any(|s| s == sheet) => Ok(()),
        _ if listed => Ok(()),
        _ => Err(not_found(sheet)),
    }
}

/// Reads the sheet for the records with these keys.
fn scan_for(
    settings: &Settings,
    sheet: SheetSettings,
    mut wanted: HashSet<Key>,
) -> Result<HashMap<Key, Record>> {
    let loaded = sheet::load(settings, sheet)?;
    let mut found = HashMap::new();
    let Some(table) = loaded.table else {
        return Ok(found);
    };
    let mut seen = HashMap::new();
    for row in table.data_rows(&loaded.range) {
        if wanted.is_empty() {
            break;
        }
        match table.record(&loaded.range, row, None, &mut seen) {
            Ok(Some(record)) => {
                if wanted.remove(&record.key) {
                    found.insert(record.key.clone(), record);
                }
            }
            Ok(None) => {}
            Err(bad) if settings.on_bad_record == crate::OnBadRecord::Fail => {
                return Err(bad.to_error(&settings.path));
            }
            Err(_) => {}
        }
    }
    Ok(found)
}

/// The changes of a transaction, the last per key, in the order each key
/// was first staged.
#[derive(Debug, Default)]
pub(crate) struct Staged {
    /// Each key with its record, or `None` for a delete.
    pub changes: Vec<(Key, Option<Record>)>,
    index: HashMap<Key, usize>,
}

impl Staged {
    fn stage(&mut self, key: Key, record: Option<Record>) {
        match self.index.get(&key) {
            Some(&i) => self.changes[i].1 = record,
            None => {
                self.index.insert(key.clone(), self.changes.len());
                self.changes.push((key, record));
            }
        }
    }

    /// The position of a key's change.
    pub fn position(&self, key: &Key) -> Option<usize> {
        self.index.get(key).copied()
    }
}

struct SheetTransaction {
    connector: SpreadsheetConnector,
    sheet: SheetSettings,
    staged: Staged,
}

#[async_trait]
impl Transaction for SheetTransaction {
    async fn apply(&mut self, changes: Vec<Change>) -> Result<Vec<Applied>> {
        // Check every change before staging any, so a failed batch stages
        // nothing.
        let mut checked = Vec::with_capacity(changes.len());
        for change in changes {
            checked.push(match change {
                Change::Upsert(record) => {
                    let record = keyed(&self.sheet, record)?;
                    (record.key.clone(), Some(record))
                }
                Change::Delete { key, .. } => (key, None),
            });
        }
        let mut applied = Vec::with_capacity(checked.len());
        for (key, record) in checked {
            applied.push(Applied {
                key: key.clone(),
                version: None,
            });
            self.staged.stage(key, record);
        }
        Ok(applied)
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        let SheetTransaction {
            connector,
            sheet,
            staged,
        } = *self;
        if staged.changes.is_empty() {
            return Ok(());
        }
        let _guard = connector.commit_lock.lock().await;
        let settings = Arc::clone(&connector.settings);
        blocking(move || commit::commit(&settings, &sheet, &staged)).await
    }

    async fn rollback(self: Box<Self>) -> Result<()> {
        // Nothing was written: dropping the staged changes is the rollback.
        Ok(())
    }
}

/// A record the target cannot write, named by sheet and key.
fn bad_change(sheet: &SheetSettings, key: &Key, message: impl Into<String>) -> Error {
    Error::BadRecord {
        connector: CONNECTOR.into(),
        location: format!("sheet {:?}, key {key}", sheet.name),
        message: message.into(),
    }
}

/// The record with its key made of its key columns; when they are missing,
/// they are filled in (first, in key order) from the record's key. Checks
/// that every field fits a cell.
fn keyed(sheet: &SheetSettings, mut record: Record) -> Result<Record> {
    let from_fields: Option<Vec<String>> = sheet
        .key
        .iter()
        .map(|column| match record.get(column) {
            Some(v) if !v.is_null() => Some(v.canonical()).filter(|t| !t.is_empty()),
            _ => None,
        })
        .collect();
    match from_fields {
        Some(parts) => record.key = Key::composite(&parts),
        None => {
            let parts: Vec<String> = record.key.parts().map(str::to_owned).collect();
            if record.key.as_str().is_empty() || parts.iter().any(String::is_empty) {
                let message = format!(
                    "the record has no value for the key columns {:?}",
                    sheet.key
                );
                return Err(bad_change(sheet, &record.key, message));
            }
            if parts.len() != sheet.key.len() {
                let message = format!(
                    "the key has {} parts, and the sheet has {} key columns",
                    parts.len(),
                    sheet.key.len()
                );
                return Err(bad_change(sheet, &record.key, message));
            }
            let mut front = 0;
            for (column, part) in sheet.key.iter().zip(parts) {
                match record.fields.iter_mut().find(|(n, _)| n == column) {
                    Some(slot) => slot.1 = Value::Text(part.into()),
                    None => {
                        let field = (column.as_str().into(), Value::Text(part.into()));
                        record.fields.insert(front, field);
                        front += 1;
                    }
                }
            }
        }
    }
    for (name, value) in &record.fields {
        if name.trim().is_empty() {
            return Err(bad_change(sheet, &record.key, "a field has an empty name"));
        }
        if let Some(problem) = write::unwritable(value) {
            return Err(bad_change(
                sheet,
                &record.key,
                format!("field {name:?}: {problem}"),
            ));
        }
    }
    Ok(record)
}
