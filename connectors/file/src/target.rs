//! The file as a target: transactions stage changes in memory; `fetch`
//! scans the file.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use tandem_core::{Applied, Capabilities, Change, Key, Record, Result, Target, Transaction, Value};

use crate::config::{Format, OnBadRecord, Settings};
use crate::error::bad_change;
use crate::rows::{Rows, key_of, open_file};
use crate::{FileConnector, blocking, commit, source};

#[async_trait]
impl Target for FileConnector {
    fn capabilities(&self) -> Capabilities {
        source::capabilities()
    }

    async fn begin(&self, entity: &str) -> Result<Box<dyn Transaction>> {
        self.check_entity(entity)?;
        if !self.settings.create {
            // A missing file is `NotFound` now rather than at commit.
            let settings = Arc::clone(&self.settings);
            blocking(move || open_file(&settings).map(drop)).await?;
        }
        Ok(Box::new(FileTransaction {
            connector: self.clone(),
            staged: Staged::default(),
        }))
    }

    async fn fetch(&self, entity: &str, keys: &[Key]) -> Result<Vec<Record>> {
        self.check_entity(entity)?;
        let settings = Arc::clone(&self.settings);
        let wanted: HashSet<Key> = keys.iter().cloned().collect();
        let mut found = blocking(move || scan_for(&settings, wanted)).await?;
        Ok(keys.iter().filter_map(|k| found.remove(k)).collect())
    }
}

/// Scans the file for the records with these keys.
fn scan_for(settings: &Settings, mut wanted: HashSet<Key>) -> Result<HashMap<Key, Record>> {
    let mut found = HashMap::new();
    let Some(mut rows) = Rows::open(settings)? else {
        return Ok(found);
    };
    while !wanted.is_empty() {
        let Some(row) = rows.next_row()? else { break };
        match row.outcome {
            Ok(record) => {
                if wanted.remove(&record.key) {
                    found.insert(record.key.clone(), record);
                }
            }
            Err(bad) if settings.on_bad_record == OnBadRecord::Fail => {
                return Err(bad.to_error(settings));
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

struct FileTransaction {
    connector: FileConnector,
    staged: Staged,
}

#[async_trait]
impl Transaction for FileTransaction {
    async fn apply(&mut self, changes: Vec<Change>) -> Result<Vec<Applied>> {
        let settings = &self.connector.settings;
        // Check every change before staging any, so a failed batch stages
        // nothing.
        let mut checked = Vec::with_capacity(changes.len());
        for change in changes {
            checked.push(match change {
                Change::Upsert(record) => {
                    let record = keyed(settings, record)?;
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
        let FileTransaction { connector, staged } = *self;
        if staged.changes.is_empty() {
            return Ok(());
        }
        let _guard = connector.commit_lock.lock().await;
        let settings = Arc::clone(&connector.settings);
        blocking(move || commit::commit(&settings, &staged)).await
    }

    async fn rollback(self: Box<Self>) -> Result<()> {
        // Nothing was written: dropping the staged changes is the rollback.
        Ok(())
    }
}

/// The record with its key made of its key columns; when they are missing,
/// they are filled in (first, in key order) from the record's key.
fn keyed(settings: &Settings, mut record: Record) -> Result<Record> {
    match key_of(&settings.key, &record.fields) {
        Ok(key) => record.key = key,
        Err(_) => {
            let parts: Vec<String> = record.key.parts().map(str::to_owned).collect();
            if record.key.as_str().is_empty() || parts.iter().any(String::is_empty) {
                return Err(bad_change(
                    settings,
                    &record.key,
                    format!(
                        "the record has no value for the key columns {:?}",
                        settings.key
                    ),
                ));
            }
            if parts.len() != settings.key.len() {
                return Err(bad_change(
                    settings,
                    &record.key,
                    format!(
                        "the key has {} parts, and the file has {} key columns",
                        parts.len(),
                        settings.key.len()
                    ),
                ));
            }
            let mut front = 0;
            for (column, part) in settings.key.iter().zip(parts) {
                match record.fields.iter_mut().find(|(n, _)| n == column) {
                    Some(slot) => slot.1 = Value::Text(part.into()),
                    None => {
                        record
                            .fields
                            .insert(front, (column.as_str().into(), Value::Text(part.into())));
                        front += 1;
                    }
                }
            }
        }
    }
    if settings.format == Format::Csv && !settings.header {
        let columns = settings.columns.as_deref().unwrap_or_default();
        if let Some((name, _)) = record
            .fields
            .iter()
            .find(|(n, _)| !columns.iter().any(|c| c == n))
        {
            return Err(bad_change(
                settings,
                &record.key,
                format!("field {name:?} is not one of the configured columns (header = false)"),
            ));
        }
    }
    Ok(record)
}
