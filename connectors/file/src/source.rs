//! The file as a source: discover its columns, stream its rows in batches.

use std::sync::Arc;

use async_trait::async_trait;
use tandem_core::{
    Batch, BatchStream, Capabilities, Change, Cursor, EntitySchema, Error, FieldSchema, FieldType,
    Key, ReadRequest, ReadScope, Result, Source, Value,
};
use tokio::sync::mpsc;

use crate::config::{Format, OnBadRecord, Settings};
use crate::cursor::{self, Fingerprint, Since, Tracker};
use crate::rows::{Next, Rows};
use crate::{CONNECTOR, FileConnector, blocking};

/// How many JSON Lines rows `entities` looks at to find the fields.
const SCHEMA_SAMPLE: usize = 1000;

/// How many batches the reading thread may be ahead of the consumer.
const BATCHES_AHEAD: usize = 2;

pub(crate) fn capabilities() -> Capabilities {
    Capabilities {
        cursors: true,
        deletes: true,
        days: false,
        transactions: true,
        idempotent_upsert: true,
    }
}

#[async_trait]
impl Source for FileConnector {
    fn capabilities(&self) -> Capabilities {
        capabilities()
    }

    async fn entities(&self) -> Result<Vec<EntitySchema>> {
        let settings = Arc::clone(&self.settings);
        let fields = blocking(move || discover(&settings)).await?;
        Ok(vec![EntitySchema {
            name: self.settings.entity.clone(),
            key: self.settings.key.clone(),
            fields,
        }])
    }

    async fn read(&self, request: ReadRequest) -> Result<BatchStream> {
        self.check_entity(&request.entity)?;
        let since = match &request.scope {
            ReadScope::Full => None,
            ReadScope::Since(c) => Some((c.clone(), Since::decode(&self.settings, c)?)),
            _ => {
                return Err(Error::config(CONNECTOR, "per-day reads are not supported"));
            }
        };
        // The fingerprint before the rows: a file replaced in between has
        // another length or time when the read ends, and gets none.
        let settings = Arc::clone(&self.settings);
        let (fp, rows) = blocking(move || {
            let fp = cursor::fingerprint(&settings)?;
            Ok((fp, Rows::open(&settings)?))
        })
        .await?;
        // A file that went away is not a file whose rows were all deleted:
        // the engine reads in full instead, and its empty-side guard stops
        // the run.
        if since.is_some() && fp.is_none() {
            return Err(Error::CursorExpired {
                connector: CONNECTOR.into(),
                entity: self.settings.entity.clone(),
                message: format!("{} is missing", self.settings.shown()),
            });
        }
        let (tx, rx) = mpsc::channel(BATCHES_AHEAD);
        let settings = Arc::clone(&self.settings);
        let path = self.settings.shown().to_string();
        tokio::task::spawn_blocking(move || {
            let read = Read {
                settings: &settings,
                request: &request,
                tx: &tx,
            };
            if let Err(e) = read.run(since, fp, rows) {
                let _ = tx.blocking_send(Message::Batch(Err(e)));
            }
        });
        // The reading thread says when it is done, so that a thread that
        // died is an error, not a short read (which would look like deletes).
        Ok(Box::pin(futures::stream::unfold(Some(rx), move |rx| {
            let path = path.clone();
            async move {
                let mut rx = rx?;
                match rx.recv().await {
                    Some(Message::Batch(Ok(batch))) => Some((Ok(batch), Some(rx))),
                    Some(Message::Batch(Err(e))) => Some((Err(e), None)),
                    Some(Message::End) => None,
                    None => {
                        let message = format!("reading {path} stopped unexpectedly");
                        Some((Err(Error::other(CONNECTOR, message)), None))
                    }
                }
            }
        })))
    }

    /// The cursor marks the written rows, so that the next read reports
    /// whatever they then hold (see [`FileConnector::cursor_after_write`]);
    /// a run that wrote more rows than it lists reads the file in full next.
    async fn after_write(
        &self,
        entity: &str,
        cursor: Cursor,
        written: Option<&[Key]>,
    ) -> Result<Option<Cursor>> {
        match written {
            Some(keys) => self.cursor_after_write(entity, &cursor, keys).map(Some),
            None => Ok(None),
        }
    }
}

/// What the reading thread sends.
enum Message {
    /// A batch, or the error that ends the read.
    Batch(Result<Batch>),
    /// The whole file was read.
    End,
}

/// The reading thread's side of a read.
struct Read<'a> {
    settings: &'a Settings,
    request: &'a ReadRequest,
    tx: &'a mpsc::Sender<Message>,
}

/// The reader went away: the read stops.
struct Gone;

impl Read<'_> {
    /// Sends the file's rows (or, since a cursor, the rows that changed and
    /// the keys that are gone) in batches of at most `batch_size` changes
    /// and rejected rows; the last batch carries the cursor. Stops when the
    /// stream is dropped.
    fn run(
        &self,
        since: Option<(tandem_core::Cursor, Since)>,
        fp: Option<Fingerprint>,
        rows: Option<Rows>,
    ) -> Result<()> {
        let (cursor, since) = match since {
            Some((cursor, since)) => (Some(cursor), Some(since)),
            None => (None, None),
        };
        if let (Some(cursor), Some(since)) = (&cursor, &since)
            && since.same_file(fp.as_ref())
        {
            let batch = Batch {
                cursor: Some(cursor.clone()),
                ..Batch::default()
            };
            let _ = self.send(batch);
            let _ = self.tx.blocking_send(Message::End);
            return Ok(());
        }
        let mut tracker = Tracker::new(since);
        let mut batch = Batch::default();
        if let Some(rows) = rows {
            match self.rows(rows, &mut tracker, &mut batch)? {
                Ok(()) => {}
                Err(Gone) => return Ok(()),
            }
        }
        for key in tracker.gone() {
            batch.changes.push(Change::delete(key));
            if self.full(&batch) && self.send(std::mem::take(&mut batch)).is_err() {
                return Ok(());
            }
        }
        let kept = match fp {
            Some(fp) if cursor::unchanged_since(self.settings, &fp)? => Some(fp.hash()),
            _ => None,
        };
        batch.cursor = Some(tracker.cursor(kept)?);
        if self.send(batch).is_ok() {
            let _ = self.tx.blocking_send(Message::End);
        }
        Ok(())
    }

    /// Reads every row into batches; the last, partial batch stays in
    /// `batch`.
    fn rows(
        &self,
        mut rows: Rows,
        tracker: &mut Tracker,
        batch: &mut Batch,
    ) -> Result<std::result::Result<(), Gone>> {
        let settings = self.settings;
        let keep = |name: &str| match &self.request.fields {
            None => true,
            Some(fields) => {
                fields.iter().any(|f| f == name) || settings.key.iter().any(|k| k == name)
            }
        };
        while let Some(next) = rows.next_unless(tracker)? {
            let (row, hashed) = match next {
                Next::Unchanged => continue,
                Next::Hashed(row) => (row, true),
                Next::Row(row) => (row, false),
            };
            match row.outcome {
                Ok(mut record) => {
                    if self.request.fields.is_some() {
                        record.fields.retain(|(n, _)| keep(n));
                    }
                    if hashed || tracker.changed(&record, row.line) {
                        batch.changes.push(Change::Upsert(record));
                    }
                }
                Err(bad) if settings.on_bad_record == OnBadRecord::Skip => {
                    tracker.rejected(&bad);
                    let rejected = bad.to_record_error(settings);
                    tracing::warn!(location = %rejected.location, "skipped row: {}", rejected.message);
                    batch.rejected.push(rejected);
                }
                Err(bad) => return Err(bad.to_error(settings)),
            }
            if self.full(batch) && self.send(std::mem::take(batch)).is_err() {
                return Ok(Err(Gone));
            }
        }
        Ok(Ok(()))
    }

    fn full(&self, batch: &Batch) -> bool {
        batch.changes.len() + batch.rejected.len() >= self.request.batch_size.max(1)
    }

    fn send(&self, batch: Batch) -> std::result::Result<(), Gone> {
        self.tx
            .blocking_send(Message::Batch(Ok(batch)))
            .map_err(|_| Gone)
    }
}

/// The entity's fields: the CSV header (all text), or for JSON Lines the
/// union of the fields of the first rows, typed from their values.
fn discover(settings: &Settings) -> Result<Vec<FieldSchema>> {
    let text = |name: &String| FieldSchema {
        name: name.clone(),
        kind: FieldType::Text,
        nullable: true,
    };
    let rows = Rows::open(settings)?;
    if settings.format == Format::Csv {
        let configured = settings.columns.as_deref().unwrap_or_default();
        let header = rows
            .as_ref()
            .and_then(|r| r.scanner().columns())
            .unwrap_or(configured);
        let columns = if header.is_empty() {
            &settings.key[..]
        } else {
            header
        };
        return Ok(columns.iter().map(text).collect());
    }
    // Each field with the type of its values so far: `None` before the
    // first non-null value.
    let mut fields: Vec<(FieldSchema, Option<FieldType>)> = Vec::new();
    let mut seen = 0;
    if let Some(mut rows) = rows {
        while seen < SCHEMA_SAMPLE {
            let Some(row) = rows.next_row()? else { break };
            let Ok(record) = row.outcome else { continue };
            seen += 1;
            for (field, _) in &mut fields {
                if record.get(&field.name).is_none() {
                    field.nullable = true;
                }
            }
            for (name, value) in &record.fields {
                let kind = kind_of(value);
                match fields.iter_mut().find(|(f, _)| f.name == *name) {
                    Some((field, known)) => {
                        field.nullable |= value.is_null();
                        *known = widen(*known, kind);
                    }
                    None => fields.push((
                        FieldSchema {
                            name: name.to_string(),
                            kind: FieldType::Unknown,
                            // A field first seen after the first row was
                            // absent before it.
                            nullable: value.is_null() || seen > 1,
                        },
                        kind,
                    )),
                }
            }
        }
    }
    let mut fields: Vec<FieldSchema> = fields
        .into_iter()
        .map(|(mut field, kind)| {
            field.kind = kind.unwrap_or(FieldType::Unknown);
            field
        })
        .collect();
    for key in settings.key.iter().rev() {
        if !fields.iter().any(|f| f.name == *key) {
            fields.insert(0, text(key));
        }
    }
    Ok(fields)
}

fn kind_of(value: &Value) -> Option<FieldType> {
    Some(match value {
        Value::Null => return None,
        Value::Bool(_) => FieldType::Bool,
        Value::Int(_) => FieldType::Int,
        Value::Float(_) => FieldType::Float,
        Value::Decimal(_) => FieldType::Decimal,
        Value::Text(_) => FieldType::Text,
        Value::Bytes(_) => FieldType::Bytes,
        Value::Date(_) => FieldType::Date,
        Value::DateTime(_) => FieldType::DateTime,
        Value::List(_) | Value::Map(_) => FieldType::Json,
    })
}

/// The type that holds values of both types: ints and floats are floats,
/// other mixes are unknown.
fn widen(known: Option<FieldType>, next: Option<FieldType>) -> Option<FieldType> {
    match (known, next) {
        (None, k) | (k, None) => k,
        (Some(a), Some(b)) if a == b => Some(a),
        (Some(FieldType::Int), Some(FieldType::Float))
        | (Some(FieldType::Float), Some(FieldType::Int)) => Some(FieldType::Float),
        _ => Some(FieldType::Unknown),
    }
}
