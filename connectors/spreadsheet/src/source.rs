//! The workbook as a source: discover its sheets, stream a sheet's rows in
//! batches.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use calamine::Data;
use tandem_core::{
    Batch, BatchStream, Capabilities, Change, EntitySchema, Error, Key, ReadRequest, ReadScope,
    Result, Source,
};
use tokio::sync::mpsc;

use crate::config::{OnBadRecord, Settings, SheetSettings};
use crate::table::Table;
use crate::workbook::Workbook;
use crate::{CONNECTOR, SpreadsheetConnector, blocking, sheet, stream};

/// How many batches the reading thread may be ahead of the consumer.
const BATCHES_AHEAD: usize = 2;

pub(crate) fn capabilities(settings: &Settings) -> Capabilities {
    Capabilities {
        cursors: false,
        deletes: false,
        days: false,
        transactions: settings.writable(),
        idempotent_upsert: true,
    }
}

#[async_trait]
impl Source for SpreadsheetConnector {
    fn capabilities(&self) -> Capabilities {
        capabilities(&self.settings)
    }

    async fn entities(&self) -> Result<Vec<EntitySchema>> {
        let settings = Arc::clone(&self.settings);
        blocking(move || sheet::discover(&settings)).await
    }

    async fn read(&self, request: ReadRequest) -> Result<BatchStream> {
        match request.scope {
            ReadScope::Full => {}
            ReadScope::Since(_) => {
                return Err(Error::config(
                    CONNECTOR,
                    "cursors are not supported: sheets are read in full and diffed against the base",
                ));
            }
            _ => return Err(Error::config(CONNECTOR, "per-day reads are not supported")),
        }
        let sheet = self.settings.entity(&request.entity)?;
        let shown = format!("{}, sheet {:?}", self.settings.path.display(), sheet.name);
        let stopped =
            move || Error::other(CONNECTOR, format!("reading {shown} stopped unexpectedly"));
        let (tx, mut rx) = mpsc::channel(BATCHES_AHEAD);
        let settings = Arc::clone(&self.settings);
        let size = request.batch_size.max(1);
        tokio::task::spawn_blocking(move || {
            let mut out = RowSender::new(size, tx);
            let read = read_sheet(&settings, sheet, &mut out);
            out.finish(read);
        });
        // Opening the workbook and reading the header happen before the
        // stream is returned, so their errors are the read's.
        let table = match rx.recv().await {
            Some(Message::Ready(table)) => table,
            Some(Message::End) => return Ok(Box::pin(futures::stream::empty())),
            Some(Message::Failed(e)) => return Err(e),
            Some(Message::Rows(_)) | None => return Err(stopped()),
        };
        let records = Records {
            keep: table.keep(request.fields.as_deref()),
            table,
            seen: HashMap::new(),
            path: self.settings.path.clone(),
            skip: self.settings.on_bad_record == OnBadRecord::Skip,
        };
        // The reading thread says when it is done, so that a thread that
        // died is an error, not a short read (which would look like deletes).
        Ok(Box::pin(futures::stream::unfold(
            Some((rx, records)),
            move |state| {
                let stopped = stopped.clone();
                async move {
                    let (mut rx, mut records) = state?;
                    let batch = match rx.recv().await {
                        Some(Message::Rows(rows)) => records.batch(rows),
                        Some(Message::Failed(e)) => Err(e),
                        Some(Message::End) => return None,
                        Some(Message::Ready(_)) | None => Err(stopped()),
                    };
                    let more = batch.is_ok().then_some((rx, records));
                    Some((batch, more))
                }
            },
        )))
    }
}

/// What the reading thread sends.
enum Message {
    /// The workbook is open and the header read: rows follow.
    Ready(Arc<Table>),
    /// The next rows that are not blank.
    Rows(Rows),
    /// The error that ends the read.
    Failed(Error),
    /// Every row was read.
    End,
}

/// Rows as the reading thread sends them: for each, its number and the
/// cells of the table's named columns, in column order.
///
/// Records are made on the consumer's side, so that the parts of a record
/// (field names, key, field list) are allocated on the thread that drops
/// them: freeing another thread's allocations costs the allocator dearly
/// (this halved the time of a full read).
#[derive(Default)]
struct Rows {
    numbers: Vec<u32>,
    cells: Vec<Data>,
}

/// Reads a sheet into `out`: an xlsx sheet cell by cell, other formats
/// from the sheet's cells that calamine loads, taken row by row.
fn read_sheet(settings: &Settings, sheet: SheetSettings, out: &mut RowSender) -> Result<()> {
    if settings.format.is_ooxml()
        && let Some(workbook) = Workbook::open(settings)?
        && workbook.sheet_names().contains(&sheet.name)
        && let Workbook::Xlsx(book) = workbook
    {
        return stream::xlsx(settings, book, &sheet, out);
    }
    let loaded = sheet::load(settings, sheet)?;
    let Some(table) = loaded.table else {
        return Ok(());
    };
    let table = Arc::new(table);
    out.ready(&table);
    let mut range = loaded.range;
    let (first_row, first_col) = range.start().unwrap_or_default();
    for row in table.data_rows(&range) {
        // The range is this read's own: the values are taken out of it.
        let cells = &mut range[(row - first_row) as usize];
        if !out.row(row, cells, first_col) {
            break;
        }
    }
    Ok(())
}

/// Gathers the rows that are not blank into chunks of at most
/// `batch_size` and sends them: memory holds a few batches.
pub(crate) struct RowSender {
    tx: mpsc::Sender<Message>,
    size: usize,
    table: Option<Arc<Table>>,
    rows: Rows,
}

impl RowSender {
    fn new(size: usize, tx: mpsc::Sender<Message>) -> Self {
        RowSender {
            tx,
            size,
            table: None,
            rows: Rows::default(),
        }
    }

    /// Says that the header is read and rows follow.
    pub fn ready(&mut self, table: &Arc<Table>) {
        self.table = Some(Arc::clone(table));
        let width = table.columns.len();
        self.rows.numbers.reserve(self.size);
        self.rows.cells.reserve(self.size * width);
        // A reader that went away is found out at the first rows.
        let _ = self.tx.blocking_send(Message::Ready(Arc::clone(table)));
    }

    /// Adds a row, by its cells (the first at `first_col`), unless it is
    /// blank; `false` when the reader went away.
    pub fn row(&mut self, row: u32, cells: &mut [Data], first_col: u32) -> bool {
        let table = self.table.as_ref().expect("ready before rows");
        if !table.take_row(cells, first_col, &mut self.rows.cells) {
            return true;
        }
        self.rows.numbers.push(row);
        if self.rows.numbers.len() < self.size {
            return true;
        }
        let width = table.columns.len();
        let next = Rows {
            numbers: Vec::with_capacity(self.size),
            cells: Vec::with_capacity(self.size * width),
        };
        let full = std::mem::replace(&mut self.rows, next);
        self.tx.blocking_send(Message::Rows(full)).is_ok()
    }

    /// Ends the read: the last rows and the end, or the error.
    fn finish(mut self, read: Result<()>) {
        if let Err(e) = read {
            let _ = self.tx.blocking_send(Message::Failed(e));
            return;
        }
        let rows = std::mem::take(&mut self.rows);
        if !rows.numbers.is_empty() {
            let _ = self.tx.blocking_send(Message::Rows(rows));
        }
        let _ = self.tx.blocking_send(Message::End);
    }
}

/// The consumer's side of a read: rows into records, keys checked once.
struct Records {
    table: Arc<Table>,
    keep: Option<Vec<bool>>,
    seen: HashMap<Key, u32>,
    path: PathBuf,
    skip: bool,
}

impl Records {
    /// A batch of the records of these rows, the bad ones rejected or the
    /// error.
    fn batch(&mut self, mut rows: Rows) -> Result<Batch> {
        let width = self.table.columns.len();
        let mut batch = Batch {
            changes: Vec::with_capacity(rows.numbers.len()),
            ..Batch::default()
        };
        for (row, cells) in rows.numbers.iter().zip(rows.cells.chunks_exact_mut(width)) {
            match self
                .table
                .record_of(*row, cells, self.keep.as_deref(), &mut self.seen)
            {
                Ok(record) => batch.changes.push(Change::Upsert(record)),
                Err(bad) if self.skip => {
                    let rejected = bad.to_record_error(&self.path);
                    tracing::warn!(location = %rejected.location, "skipped row: {}", rejected.message);
                    batch.rejected.push(rejected);
                }
                Err(bad) => return Err(bad.to_error(&self.path)),
            }
        }
        Ok(batch)
    }
}
