//! The `Source` trait: what the engine reads from.

use async_trait::async_trait;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};

use crate::error::{RecordError, Result};
use crate::record::{Change, Cursor, EntitySchema, Key};

/// What an endpoint can do; the engine adapts to it.
///
/// A source without cursors is read in full and diffed against the stored
/// base; a target without transactions is rolled back by compensation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Capabilities {
    /// `read` with [`ReadScope::Since`] returns only later changes.
    pub cursors: bool,
    /// Incremental reads report deletes as [`Change::Delete`].
    pub deletes: bool,
    /// `read` with [`ReadScope::Days`] reads only those days, and `pending`
    /// counts per day.
    pub days: bool,
    /// Target transactions roll back completely.
    pub transactions: bool,
    /// Applying the same upsert twice leaves the same state as once.
    pub idempotent_upsert: bool,
}

/// Which part of an entity to read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[non_exhaustive]
pub enum ReadScope {
    /// Every current record, as upserts; what is absent is gone.
    #[default]
    Full,
    /// The changes after this cursor, deletes included when the source
    /// reports them.
    Since(Cursor),
    /// The events whose day (in `time_zone`) is within `from..=to`.
    Days {
        /// The first day.
        from: jiff::civil::Date,
        /// The last day, inclusive.
        to: jiff::civil::Date,
        /// The IANA time zone that days are computed in.
        time_zone: String,
    },
}

/// One read: an entity, a scope, optionally a field subset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ReadRequest {
    /// The entity to read.
    pub entity: String,
    /// Which records.
    pub scope: ReadScope,
    /// Only these fields (the key fields are always read); `None` for all.
    pub fields: Option<Vec<String>>,
    /// How many changes a batch should hold at most.
    pub batch_size: usize,
}

impl Default for ReadRequest {
    fn default() -> Self {
        ReadRequest {
            entity: String::new(),
            scope: ReadScope::Full,
            fields: None,
            batch_size: 1000,
        }
    }
}

impl ReadRequest {
    /// A full read of an entity.
    pub fn full(entity: impl Into<String>) -> Self {
        ReadRequest {
            entity: entity.into(),
            ..Default::default()
        }
    }

    /// An incremental read from a cursor.
    pub fn since(entity: impl Into<String>, cursor: Cursor) -> Self {
        ReadRequest {
            entity: entity.into(),
            scope: ReadScope::Since(cursor),
            ..Default::default()
        }
    }

    /// Sets the field subset.
    pub fn with_fields(mut self, fields: Option<Vec<String>>) -> Self {
        self.fields = fields;
        self
    }

    /// Sets the batch size.
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }
}

/// One batch of a read.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Batch {
    /// The changes, in the source's order.
    pub changes: Vec<Change>,
    /// The cursor to read from next time, set on the last batch by sources
    /// with cursors. Never past what this read returned.
    pub cursor: Option<Cursor>,
    /// Records the source could not read and skipped (`on_bad_record = "skip"`).
    pub rejected: Vec<RecordError>,
}

/// A stream of batches.
pub type BatchStream = BoxStream<'static, Result<Batch>>;

/// The number of events of one day that a source has and the engine has not
/// read yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayCount {
    /// The day.
    pub day: jiff::civil::Date,
    /// How many events.
    pub count: u64,
}

/// Something the engine reads from.
///
/// # Contract
///
/// - `read` with [`ReadScope::Full`] yields every current record of the
///   entity exactly once, as [`Change::Upsert`]; records are complete for the
///   requested fields, and the key fields are always present.
/// - With `capabilities().cursors`, the last batch carries a cursor, and
///   `read` with [`ReadScope::Since`] from it yields only the changes made
///   after the read that returned it. A change made during a read may be
///   returned again by the next read, but never lost.
/// - With `capabilities().deletes`, incremental reads report deletes.
/// - An unknown entity is [`Error::NotFound`](crate::Error::NotFound); a bad
///   record is [`Error::BadRecord`](crate::Error::BadRecord) naming where it
///   is, unless the connector is configured to skip it, in which case it is
///   listed in [`Batch::rejected`].
/// - Reading never changes the source.
#[async_trait]
pub trait Source: Send + Sync {
    /// What this source can do.
    fn capabilities(&self) -> Capabilities;

    /// The entities this source exposes (discover).
    async fn entities(&self) -> Result<Vec<EntitySchema>>;

    /// Reads an entity.
    async fn read(&self, request: ReadRequest) -> Result<BatchStream>;

    /// Counts per day of the events not read yet after `cursor`. Sources
    /// that cannot tell return an empty list.
    async fn pending(&self, entity: &str, cursor: Option<&Cursor>) -> Result<Vec<DayCount>> {
        let _ = (entity, cursor);
        Ok(Vec::new())
    }

    /// The oldest day the source still holds (its retention horizon), for
    /// sources that delete old events; `None` when it keeps everything or
    /// cannot tell. Days before it can no longer be synced.
    async fn horizon(&self, entity: &str) -> Result<Option<jiff::civil::Date>> {
        let _ = entity;
        Ok(None)
    }

    /// The cursor to keep after a run that read `cursor` from `entity` and
    /// then wrote these keys to it (`None`: more keys than a run lists).
    /// `Ok(None)` reads the entity in full next time.
    ///
    /// A source whose cursor is a position in a log of changes keeps it as
    /// it is (the default): the run's writes come after it, are read again
    /// and found unchanged. A source whose cursor is a picture of what the
    /// read saw (a file's rows) must mark the written keys, so that the
    /// next read reports whatever they then hold: else a row written by
    /// the run and then deleted or edited back by a person looks as it was
    /// when read, and that edit is never synced.
    async fn after_write(
        &self,
        entity: &str,
        cursor: Cursor,
        written: Option<&[Key]>,
    ) -> Result<Option<Cursor>> {
        let _ = (entity, written);
        Ok(Some(cursor))
    }
}
