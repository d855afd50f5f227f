//! Helpers shared by the file connector's tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use futures::TryStreamExt;
use serde_json::json;
use tandem_connector_file::FileConnector;
use tandem_core::{Batch, Change, Record, RecordError, Source, Target};

/// A temporary directory with one file in it.
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

    /// Writes a file and returns its path.
    pub fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

/// A connector on `path` keyed by `id`, with extra settings.
pub fn connector(path: &Path, extra: serde_json::Value) -> FileConnector {
    let mut config = json!({ "path": path, "key": ["id"] });
    for (k, v) in extra.as_object().unwrap() {
        config[k] = v.clone();
    }
    FileConnector::from_config(config).unwrap()
}

/// Reads every batch of a full read.
pub async fn batches(c: &FileConnector, batch_size: usize) -> tandem_core::Result<Vec<Batch>> {
    let request = tandem_core::ReadRequest::full(c.entity()).with_batch_size(batch_size);
    c.read(request).await?.try_collect().await
}

/// Reads every record and rejected row.
pub async fn read_all(c: &FileConnector) -> tandem_core::Result<(Vec<Record>, Vec<RecordError>)> {
    let mut records = Vec::new();
    let mut rejected = Vec::new();
    for batch in batches(c, 1000).await? {
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

/// Reads every record; panics on an error.
pub async fn records(c: &FileConnector) -> Vec<Record> {
    read_all(c).await.unwrap().0
}

/// The text of a field, for short assertions.
pub fn text(r: &Record, field: &str) -> Option<String> {
    r.get(field).filter(|v| !v.is_null()).map(|v| v.canonical())
}

/// Applies changes in one transaction and commits.
pub async fn commit(c: &FileConnector, changes: Vec<Change>) {
    let mut tx = c.begin(c.entity()).await.unwrap();
    tx.apply(changes).await.unwrap();
    tx.commit().await.unwrap();
}

/// The location and message of a bad-record error.
pub fn bad_record(err: tandem_core::Error) -> (String, String) {
    match err {
        tandem_core::Error::BadRecord {
            location, message, ..
        } => (location, message),
        other => panic!("expected Error::BadRecord, got {other:?}"),
    }
}
