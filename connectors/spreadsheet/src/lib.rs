//! Tandem connector for spreadsheets: reads xlsx, xlsm, xls and ods
//! workbooks, writes xlsx.
//!
//! One workbook is one endpoint; each worksheet is an entity. A sheet is a
//! table: a header row names the columns, each row below it is a record,
//! and blank rows are passed over. The engine finds what changed by diffing
//! a full read against its base, so the source has no cursors. An xlsx or
//! xlsm sheet is read cell by cell (calamine's cell reader), so memory
//! holds a row and a few batches whatever the sheet's size; xls and ods
//! sheets are loaded whole by calamine, one at a time, and taken row by
//! row. A reading thread parses; records are made as the stream is polled.
//!
//! Writing (xlsx only) stages the changes in memory; commit rewrites the
//! workbook into a temporary file beside it (rust_xlsxwriter in
//! constant-memory mode), syncs it and renames it over the original, so
//! readers see the old workbook or the new one, never a part. Rollback, or
//! a dropped transaction, leaves the file byte for byte as it was. The
//! changed sheet keeps its rows in order (changed records in place, new
//! ones at the end); other sheets keep their cell values. Formatting,
//! formulas (their last values are kept), column widths, comments, charts
//! and images are not kept: sync into a workbook made for it.
//!
//! # Configuration
//!
//! The endpoint's settings in the manifest (`type = "spreadsheet"`):
//!
//! ```toml
//! path = "data/orders.xlsx"      # .xlsx, .xlsm, .xls or .ods; relative to the manifest
//! key = ["id"]                   # the key columns of every sheet
//! # sheets = ["Orders", "Customers"]                   # only these sheets
//! # sheets = { Orders = { key = ["order_no"] }, Customers = {} }
//! # header_row = 1               # the row that names the columns
//! # on_bad_record = "skip"       # default "fail"
//! ```
//!
//! See [`SpreadsheetConfig`] for every setting. Building a connector checks
//! the settings without touching the file:
//!
//! ```
//! use tandem_connector_spreadsheet::SpreadsheetConnector;
//!
//! let connector = SpreadsheetConnector::from_config(serde_json::json!({
//!     "path": "data/orders.xlsx",
//!     "key": ["id"],
//!     "sheets": { "Orders": { "key": ["order_no"] }, "Customers": {} },
//! }))?;
//! # let _ = connector;
//! # Ok::<(), tandem_core::Error>(())
//! ```
//!
//! # Values
//!
//! Empty cells and empty text read as null (xlsx cannot store empty text
//! apart from a blank cell); numbers as [`Value::Int`](tandem_core::Value)
//! when whole and within ±2^53, else as floats (xlsx and ods store every
//! number as a double, so `3` and `3.0` are the same cell); booleans and
//! text as themselves; date-formatted cells as dates on a whole day and as
//! date-times (wall time taken as UTC, to the millisecond) otherwise;
//! formula cells as their last computed values.
//! Writing is the reverse; values without a cell type of their own (bytes,
//! lists, maps, integers beyond ±2^53, dates before 1900-03-01, date-times
//! at exactly midnight UTC, which would read back as dates) are written as
//! their canonical text, so they read back with the same content.
//!
//! # Bad input
//!
//! A blank or merged header cell over a column that holds data, a repeated
//! column name or a key column missing from the header fails the read with
//! [`Error::BadRecord`](tandem_core::Error::BadRecord) naming the file,
//! sheet and cell (`book.xlsx, Sheet1!B1`). A row with an error cell
//! (`#DIV/0!`) or a missing or duplicate key is a bad record at its cell,
//! or with `on_bad_record = "skip"` a
//! [`RecordError`](tandem_core::RecordError) in the batch's `rejected`
//! list. A corrupt or password-protected workbook is an error naming the
//! file; a sheet that is not an entity is
//! [`Error::NotFound`](tandem_core::Error::NotFound).
#![warn(missing_docs)]

mod cells;
mod commit;
mod config;
mod sheet;
mod source;
mod stream;
mod table;
mod target;
mod workbook;
mod write;

use std::sync::Arc;

use tandem_core::{Error, Result};

pub use config::{OnBadRecord, SheetConfig, SpreadsheetConfig};

use config::Settings;

/// The connector's name, as manifests' `type` and errors say it.
pub const CONNECTOR: &str = "spreadsheet";

/// A workbook, as a [`Source`](tandem_core::Source) and (xlsx only) a
/// [`Target`](tandem_core::Target). Clones share the commit lock, so two
/// transactions on clones commit one after the other.
#[derive(Debug, Clone)]
pub struct SpreadsheetConnector {
    settings: Arc<Settings>,
    commit_lock: Arc<tokio::sync::Mutex<()>>,
}

impl SpreadsheetConnector {
    /// A connector from a checked configuration. Pure: the workbook is first
    /// opened when it is read or written.
    pub fn new(config: SpreadsheetConfig) -> Result<Self> {
        Ok(SpreadsheetConnector {
            settings: Arc::new(config.resolve()?),
            commit_lock: Arc::default(),
        })
    }

    /// A connector from its configuration as the manifest gives it; a bad
    /// configuration is [`Error::Config`] naming the setting.
    pub fn from_config(config: serde_json::Value) -> Result<Self> {
        SpreadsheetConnector::new(parse(config)?)
    }
}

fn parse(config: serde_json::Value) -> Result<SpreadsheetConfig> {
    serde_json::from_value(config).map_err(|e| Error::config(CONNECTOR, e.to_string()))
}

impl tandem_core::plugin::Connector for SpreadsheetConnector {
    const NAME: &'static str = CONNECTOR;
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    /// A relative `path` is resolved against the manifest's folder.
    fn open(config: serde_json::Value, context: &tandem_core::plugin::OpenContext) -> Result<Self> {
        let mut config = parse(config)?;
        config.path = context.resolve(&config.path);
        SpreadsheetConnector::new(config)
    }

    fn as_target(&self) -> Option<&dyn tandem_core::Target> {
        Some(self)
    }
}

tandem_core::export_connector!(SpreadsheetConnector);

/// Runs blocking workbook work off the async threads.
async fn blocking<T, F>(work: F) -> Result<T>
where
    F: FnOnce() -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::other(CONNECTOR, format!("workbook task failed: {e}")))?
}
