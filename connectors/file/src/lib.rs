//! Tandem connector for CSV and JSON Lines files, as a source and a target.
//!
//! One file is one entity. Reading streams the file in batches (memory is
//! bounded by the batch size, not the file size). Each read ends with a
//! cursor holding the file's fingerprint and a hash per row; a read since
//! that cursor skips a file that did not change without parsing it, and
//! otherwise sends only the rows that are new or changed and a delete for
//! each row that is gone. Writing stages the changes in memory and commits them
//! atomically: the file is rewritten into a temporary file beside it, which
//! then replaces it. Rows that were not changed are copied byte for byte,
//! so a sync never reformats what it did not touch.
//!
//! # Configuration
//!
//! The endpoint's settings in the manifest (`type = "file"`):
//!
//! ```toml
//! path = "data/customers.csv"   # relative to the manifest
//! key = ["id"]                  # required: the key columns
//! # format = "csv"              # or "jsonl"; default from the extension
//! # entity = "customers"        # default: the file name without extension
//! # delimiter = ";"             # default "," (a tab for .tsv)
//! # quote = '"'
//! # header = false              # then name the columns:
//! # columns = ["id", "name", "amount"]
//! # on_bad_record = "skip"      # default "fail"
//! # create = false              # default true: a missing file is empty
//! ```
//!
//! See [`FileConfig`] for every setting. Building a connector checks the
//! settings without touching the file:
//!
//! ```
//! use tandem_connector_file::FileConnector;
//!
//! let connector = FileConnector::from_config(serde_json::json!({
//!     "path": "data/customers.csv",
//!     "key": ["id"],
//!     "delimiter": ";",
//! }))
//! .expect("a valid configuration");
//! assert_eq!(connector.entity(), "customers");
//! ```
//!
//! # Values
//!
//! CSV: every value reads as [`Value::Text`](tandem_core::Value::Text), an
//! empty cell as null; values are written as their canonical text, null as
//! an empty cell (so CSV cannot tell null from empty text). JSON Lines: each
//! line is one object whose fields become the record's, in order.
//!
//! # Bad rows
//!
//! A row with the wrong number of fields, invalid UTF-8, a line that is not
//! a JSON object, or a missing, empty or duplicate key is
//! [`Error::BadRecord`](tandem_core::Error::BadRecord) at `path:line` (the
//! line where the row starts), or with `on_bad_record = "skip"` a
//! [`RecordError`](tandem_core::RecordError) in the batch's `rejected` list.
//! A rejected row carries its key whenever its key cells can be read for
//! certain: in a row with a bad value, and in a CSV row with a field too many
//! or too few when the key columns lead the row (elsewhere a cell may have
//! moved). A key cell that is itself invalid UTF-8 gives no key. Read since
//! a cursor, a rejected row's key is never reported deleted; when a rejected
//! row has no key, no key is, since the row could hold any of them.
#![warn(missing_docs)]

mod commit;
mod config;
mod cursor;
mod error;
mod format;
mod rows;
mod source;
mod target;

use std::sync::Arc;

use tandem_core::{Error, Result};

pub use config::{FileConfig, Format, OnBadRecord};

use config::Settings;

/// The connector's name, as manifests' `type` and errors say it.
pub const CONNECTOR: &str = "file";

/// A CSV or JSON Lines file, as a [`Source`](tandem_core::Source) and a
/// [`Target`](tandem_core::Target). Clones share the commit lock, so two
/// transactions on clones commit one after the other.
#[derive(Debug, Clone)]
pub struct FileConnector {
    settings: Arc<Settings>,
    commit_lock: Arc<tokio::sync::Mutex<()>>,
}

impl FileConnector {
    /// A connector from a checked configuration. Pure: the file is first
    /// opened when it is read or written.
    pub fn new(config: FileConfig) -> Result<Self> {
        Ok(FileConnector {
            settings: Arc::new(config.resolve()?),
            commit_lock: Arc::default(),
        })
    }

    /// A connector from its configuration as the manifest gives it; a bad
    /// configuration is [`Error::Config`] naming the setting.
    pub fn from_config(config: serde_json::Value) -> Result<Self> {
        let config: FileConfig =
            serde_json::from_value(config).map_err(|e| Error::config(CONNECTOR, e.to_string()))?;
        FileConnector::new(config)
    }

    /// The entity this file holds.
    pub fn entity(&self) -> &str {
        &self.settings.entity
    }

    /// The cursor to read from next, after a read that returned `cursor`
    /// and a commit that then wrote the rows of `written` (upserted or
    /// deleted). The next read sends each of those rows whatever it holds,
    /// or reports it gone, so that a later edit of a written row is seen
    /// even when it puts back what `cursor` saw: a row written after the
    /// read and then deleted, a value written and then edited back, a row
    /// deleted and then put back. A cursor this connector did not write is
    /// [`Error::CursorExpired`].
    pub fn cursor_after_write(
        &self,
        entity: &str,
        cursor: &tandem_core::Cursor,
        written: &[tandem_core::Key],
    ) -> Result<tandem_core::Cursor> {
        self.check_entity(entity)?;
        cursor::Since::decode(&self.settings, cursor)?.written(written)
    }

    fn check_entity(&self, entity: &str) -> Result<()> {
        if entity == self.settings.entity {
            Ok(())
        } else {
            Err(Error::NotFound {
                connector: CONNECTOR.into(),
                entity: entity.to_owned(),
            })
        }
    }
}

impl tandem_core::plugin::Connector for FileConnector {
    const NAME: &'static str = CONNECTOR;
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    /// A relative `path` is resolved against the manifest's folder.
    fn open(config: serde_json::Value, context: &tandem_core::plugin::OpenContext) -> Result<Self> {
        let mut config: FileConfig =
            serde_json::from_value(config).map_err(|e| Error::config(CONNECTOR, e.to_string()))?;
        config.path = context.resolve(&config.path);
        FileConnector::new(config)
    }

    fn as_target(&self) -> Option<&dyn tandem_core::Target> {
        Some(self)
    }
}

tandem_core::export_connector!(FileConnector);

/// Runs blocking file work off the async threads.
async fn blocking<T, F>(work: F) -> Result<T>
where
    F: FnOnce() -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::other(CONNECTOR, format!("file task failed: {e}")))?
}
