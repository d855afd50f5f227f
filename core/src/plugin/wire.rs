//! What crosses the plugin boundary: requests, responses and errors, as
//! postcard bytes.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::record::{Change, Cursor, EntitySchema, Key, Record};
use crate::source::{Batch, Capabilities, DayCount, ReadRequest};
use crate::target::Applied;

/// The most a message buffer is sized ahead for.
const SIZE_HINT_MAX: usize = 16 << 20;

/// Encodes a message into a buffer sized from `largest`, the largest
/// message so far (up to 16 MiB), which it then updates: a batch is
/// megabytes, and growing its buffer from nothing copies it over and over.
/// Pages a small message leaves unused are never touched.
pub(crate) fn encode_sized<T: Serialize>(
    message: &T,
    largest: &AtomicUsize,
) -> postcard::Result<Vec<u8>> {
    let bytes = postcard::to_extend(message, Vec::with_capacity(largest.load(Relaxed)))?;
    largest.fetch_max(bytes.len().min(SIZE_HINT_MAX), Relaxed);
    Ok(bytes)
}

/// A call from the host to a connector instance.
#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    /// What the connector can do, and whether it is a target.
    Describe,
    /// `Source::entities`.
    Entities,
    /// `Source::read`: opens a stream.
    Read(ReadRequest),
    /// The next batch of an open stream.
    Next(u64),
    /// Drops an open stream.
    CloseRead(u64),
    /// `Source::pending`.
    Pending {
        /// The entity.
        entity: String,
        /// The cursor.
        cursor: Option<Cursor>,
    },
    /// `Source::horizon`.
    Horizon(String),
    /// `Target::begin`: opens a transaction.
    Begin(String),
    /// `Transaction::apply`.
    Apply {
        /// The transaction.
        tx: u64,
        /// The changes.
        changes: Vec<Change>,
    },
    /// `Transaction::commit`.
    Commit(u64),
    /// `Transaction::rollback`.
    Rollback(u64),
    /// `Target::fetch`.
    Fetch {
        /// The entity.
        entity: String,
        /// The keys.
        keys: Vec<Key>,
    },
    /// `Source::after_write`.
    AfterWrite {
        /// The entity.
        entity: String,
        /// The cursor its read returned.
        cursor: Cursor,
        /// The keys the run wrote, `None` for more than it lists.
        written: Option<Vec<Key>>,
    },
}

/// A connector's answer.
#[derive(Debug, Serialize, Deserialize)]
pub enum Response {
    /// To `Describe`.
    Described {
        /// The capabilities.
        capabilities: Capabilities,
        /// Whether the connector is also a target.
        target: bool,
    },
    /// To `Entities`.
    Entities(Vec<EntitySchema>),
    /// An opened stream or transaction.
    Handle(u64),
    /// To `Next`: `None` at the end of the stream.
    Batch(Option<Batch>),
    /// To `Pending`.
    Pending(Vec<DayCount>),
    /// To `Horizon`.
    Horizon(Option<jiff::civil::Date>),
    /// To `Apply`.
    Applied(Vec<Applied>),
    /// To `Fetch`.
    Records(Vec<Record>),
    /// To `AfterWrite`.
    Cursor(Option<Cursor>),
    /// Done, nothing to return.
    Done,
}

/// An [`Error`] as it crosses the boundary.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum WireError {
    /// [`Error::Config`].
    Config(String, String),
    /// [`Error::NotFound`].
    NotFound(String, String),
    /// [`Error::BadRecord`].
    BadRecord(String, String, String),
    /// [`Error::Remote`].
    Remote(String, Option<u16>, String, Option<String>),
    /// [`Error::Throttled`], with the wait in milliseconds.
    Throttled(String, String, Option<u64>),
    /// [`Error::CursorExpired`].
    CursorExpired(String, String, String),
    /// [`Error::Transaction`].
    Transaction(String, String),
    /// Anything else, as connector and message.
    Other(String, String),
}

impl From<Error> for WireError {
    fn from(e: Error) -> Self {
        match e {
            Error::Config { connector, message } => WireError::Config(connector, message),
            Error::NotFound { connector, entity } => WireError::NotFound(connector, entity),
            Error::BadRecord {
                connector,
                location,
                message,
            } => WireError::BadRecord(connector, location, message),
            Error::Remote {
                connector,
                status,
                message,
                request_id,
            } => WireError::Remote(connector, status, message, request_id),
            Error::Throttled {
                connector,
                message,
                retry_after,
            } => WireError::Throttled(
                connector,
                message,
                retry_after.map(|d| d.as_millis() as u64),
            ),
            Error::CursorExpired {
                connector,
                entity,
                message,
            } => WireError::CursorExpired(connector, entity, message),
            Error::Transaction { connector, message } => WireError::Transaction(connector, message),
            Error::Io {
                connector,
                context,
                source,
            } => WireError::Other(connector, format!("{context}: {source}")),
            Error::Other { connector, message } => WireError::Other(connector, message),
            other => WireError::Other(String::new(), other.to_string()),
        }
    }
}

impl From<WireError> for Error {
    fn from(e: WireError) -> Self {
        match e {
            WireError::Config(connector, message) => Error::Config { connector, message },
            WireError::NotFound(connector, entity) => Error::NotFound { connector, entity },
            WireError::BadRecord(connector, location, message) => Error::BadRecord {
                connector,
                location,
                message,
            },
            WireError::Remote(connector, status, message, request_id) => Error::Remote {
                connector,
                status,
                message,
                request_id,
            },
            WireError::Throttled(connector, message, ms) => Error::Throttled {
                connector,
                message,
                retry_after: ms.map(std::time::Duration::from_millis),
            },
            WireError::CursorExpired(connector, entity, message) => Error::CursorExpired {
                connector,
                entity,
                message,
            },
            WireError::Transaction(connector, message) => Error::Transaction { connector, message },
            WireError::Other(connector, message) => Error::Other { connector, message },
        }
    }
}

/// A response or an error, as the plugin writes it.
pub type WireResult = Result<Response, WireError>;
