//! Turning the connector's failures into [`tandem_core::Error`]s that name
//! the file, line and column.

use std::path::Path;

use tandem_core::{Error, Key, RecordError};

use crate::CONNECTOR;
use crate::config::Settings;

/// An I/O error naming what was being done and the path.
pub(crate) fn io_error(action: &str, path: &Path, source: std::io::Error) -> Error {
    Error::io(CONNECTOR, format!("{action} {}", path.display()), source)
}

/// A row that could not be read.
#[derive(Debug, Clone)]
pub(crate) struct BadRow {
    /// The 1-based line where the row starts.
    pub line: u64,
    /// The column (name or 1-based number), when one is to blame.
    pub column: Option<String>,
    /// The row's key, when it could be read.
    pub key: Option<Key>,
    /// Whether the row is well formed, and bad only because an earlier row
    /// has its key.
    pub duplicate: bool,
    /// What is wrong.
    pub message: String,
}

impl BadRow {
    /// The error that fails a read (`on_bad_record = "fail"`).
    pub fn to_error(&self, settings: &Settings) -> Error {
        Error::BadRecord {
            connector: CONNECTOR.into(),
            location: settings.location(self.line, self.column.as_deref()),
            message: self.message.clone(),
        }
    }

    /// The report of a skipped row (`on_bad_record = "skip"`).
    pub fn to_record_error(&self, settings: &Settings) -> RecordError {
        RecordError {
            location: settings.location(self.line, self.column.as_deref()),
            key: self.key.as_ref().map(|k| k.as_str().to_owned()),
            message: self.message.clone(),
        }
    }
}

/// A record the target cannot write, named by entity and key.
pub(crate) fn bad_change(settings: &Settings, key: &Key, message: impl Into<String>) -> Error {
    Error::BadRecord {
        connector: CONNECTOR.into(),
        location: format!("entity {}, key {key}", settings.entity),
        message: message.into(),
    }
}
