//! The workbook as a source: discover its sheets, stream a sheet's rows in
//! batches.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use calamine::{Data, Range};
use tandem_core::{
    Batch, BatchStream, Capabilities, Change, EntitySchema, Error, ReadRequest, ReadScope, Result,
    Source,
};
use tokio::sync::mpsc;

use crate::config::{OnBadRecord, Settings};
use crate::table::Table;
use crate::{CONNECTOR, SpreadsheetConnector, blocking, sheet};

/// How many batches the converting thread may be ahead of the consumer.
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
        let settings = Arc::clone(&self.settings);
        let loaded = blocking(move || sheet::load(&settings, sheet)).await?;
        let Some(table) = loaded.table else {
            return Ok(Box::pin(futures::stream::empty()));
        };
        let (tx, rx) = mpsc::channel(BATCHES_AHEAD);
        let settings = Arc::clone(&self.settings);
        let range = loaded.range;
        tokio::task::spawn_blocking(move || stream_rows(&settings, &table, range, &request, tx));
        let sheet = request_sheet_name(&self.settings, &loaded.sheet.name);
        // The converting thread says when it is done, so that a thread that
        // died is an error, not a short read (which would look like deletes).
        Ok(Box::pin(futures::stream::unfold(Some(rx), move |rx| {
            let sheet = sheet.clone();
            async move {
                let mut rx = rx?;
                match rx.recv().await {
                    Some(Message::Batch(Ok(batch))) => Some((Ok(batch), Some(rx))),
                    Some(Message::Batch(Err(e))) => Some((Err(e), None)),
                    Some(Message::End) => None,
                    None => {
                        let message = format!("reading {sheet} stopped unexpectedly");
                        Some((Err(Error::other(CONNECTOR, message)), None))
                    }
                }
            }
        })))
    }
}

/// `path, sheet NAME`, for messages.
fn request_sheet_name(settings: &Settings, sheet: &str) -> String {
    format!("{}, sheet {sheet:?}", settings.path.display())
}

/// What the converting thread sends.
enum Message {
    /// A batch, or the error that ends the read.
    Batch(Result<Batch>),
    /// Every row was read.
    End,
}

/// Converts the rows below the header one by one into batches of at most
/// `request.batch_size` records and rejected rows; stops when the stream is
/// dropped. Blank rows are passed over. Converting the range row by row
/// keeps the records in memory at a few batches.
fn stream_rows(
    settings: &Settings,
    table: &Table,
    mut range: Range<Data>,
    request: &ReadRequest,
    tx: mpsc::Sender<Message>,
) {
    let size = request.batch_size.max(1);
    let keep = table.keep(request.fields.as_deref());
    let mut seen = HashMap::new();
    let mut batch = Batch {
        changes: Vec::with_capacity(size.min(range.height())),
        ..Batch::default()
    };
    let (first_row, first_col) = range.start().unwrap_or_default();
    for row in table.data_rows(&range) {
        // The range is this read's own: the values are taken out of it.
        let cells = &mut range[(row - first_row) as usize];
        match table.take_record(row, first_col, cells, keep.as_deref(), &mut seen) {
            Ok(None) => continue,
            Ok(Some(record)) => batch.changes.push(Change::Upsert(record)),
            Err(bad) if settings.on_bad_record == OnBadRecord::Skip => {
                let rejected = bad.to_record_error(&settings.path);
                tracing::warn!(location = %rejected.location, "skipped row: {}", rejected.message);
                batch.rejected.push(rejected);
            }
            Err(bad) => {
                let _ = tx.blocking_send(Message::Batch(Err(bad.to_error(&settings.path))));
                return;
            }
        }
        if batch.changes.len() + batch.rejected.len() >= size {
            let next = Batch {
                changes: Vec::with_capacity(size),
                ..Batch::default()
            };
            if tx
                .blocking_send(Message::Batch(Ok(std::mem::replace(&mut batch, next))))
                .is_err()
            {
                return; // The reader went away.
            }
        }
    }
    if !batch.changes.is_empty() || !batch.rejected.is_empty() {
        let _ = tx.blocking_send(Message::Batch(Ok(batch)));
    }
    let _ = tx.blocking_send(Message::End);
}
