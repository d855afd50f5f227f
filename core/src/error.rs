//! The error type of connectors and the engine, sorted by what the caller does.

use std::time::Duration;

/// A result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, sorted by what the caller does about it.
///
/// Every variant names the connector (or the pair, for engine errors) and,
/// where it applies, the entity, the record key, the file and line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is invalid: fix it and try again.
    #[error("{connector}: invalid configuration: {message}")]
    Config {
        /// The connector (or `pair NAME`) whose configuration it is.
        connector: String,
        /// What is wrong, naming the key.
        message: String,
    },
    /// An entity (table, file, list) does not exist.
    #[error("{connector}: entity {entity:?} not found")]
    NotFound {
        /// The connector.
        connector: String,
        /// The entity that was asked for.
        entity: String,
    },
    /// A record could not be read or written as it is.
    #[error("{connector}: {location}: {message}")]
    BadRecord {
        /// The connector.
        connector: String,
        /// Where: `file:line, column C`, or `entity E, key K`.
        location: String,
        /// What is wrong with it.
        message: String,
    },
    /// Reading or writing local files failed.
    #[error("{connector}: {context}: {source}")]
    Io {
        /// The connector.
        connector: String,
        /// What was being done, naming the path.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A remote system answered with an error.
    #[error("{connector}: {message}{}", request_id.as_ref().map(|r| format!(" (request id {r})")).unwrap_or_default())]
    Remote {
        /// The connector.
        connector: String,
        /// The HTTP status, when there is one.
        status: Option<u16>,
        /// The remote system's message.
        message: String,
        /// The request id the remote system gave, for its support.
        request_id: Option<String>,
    },
    /// The remote system throttled us for longer than we may wait.
    #[error("{connector}: throttled: {message}")]
    Throttled {
        /// The connector.
        connector: String,
        /// What the remote system said.
        message: String,
        /// How long it asked us to wait.
        retry_after: Option<Duration>,
    },
    /// A stored cursor is no longer valid; the engine falls back to a full read.
    #[error("{connector}: cursor expired for entity {entity:?}: {message}")]
    CursorExpired {
        /// The connector.
        connector: String,
        /// The entity.
        entity: String,
        /// What the source said.
        message: String,
    },
    /// A transaction could not be committed or rolled back.
    #[error("{connector}: transaction failed: {message}")]
    Transaction {
        /// The connector.
        connector: String,
        /// What failed.
        message: String,
    },
    /// A guard refused the run; `--force` overrides it.
    #[error("pair {pair}: {message} (use force to override)")]
    Guard {
        /// The pair.
        pair: String,
        /// Which guard and why.
        message: String,
    },
    /// The run was asked to stop.
    #[error("pair {pair}: run stopped")]
    Stopped {
        /// The pair.
        pair: String,
    },
    /// Another run of the pair is going; one run per pair at a time.
    #[error("pair {pair}: run {run_id} is already running ({owner})")]
    Busy {
        /// The pair.
        pair: String,
        /// The running run.
        run_id: i64,
        /// Its process (`host:pid`).
        owner: String,
    },
    /// The state store failed.
    #[error("state store: {message}")]
    Store {
        /// What failed.
        message: String,
    },
    /// A plugin library could not be loaded or used.
    #[error("plugin {path}: {message}")]
    Plugin {
        /// The library file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// Something else, from a connector.
    #[error("{connector}: {message}")]
    Other {
        /// The connector.
        connector: String,
        /// What went wrong.
        message: String,
    },
}

impl Error {
    /// A configuration error.
    pub fn config(connector: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Config {
            connector: connector.into(),
            message: message.into(),
        }
    }

    /// Some other connector error.
    pub fn other(connector: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Other {
            connector: connector.into(),
            message: message.into(),
        }
    }

    /// A state-store error.
    pub fn store(message: impl std::fmt::Display) -> Self {
        Error::Store {
            message: message.to_string(),
        }
    }

    /// An I/O error with the context of what was being done.
    pub fn io(
        connector: impl Into<String>,
        context: impl Into<String>,
        source: std::io::Error,
    ) -> Self {
        Error::Io {
            connector: connector.into(),
            context: context.into(),
            source,
        }
    }
}

/// A record that a source could not read and skipped (`on_bad_record =
/// "skip"`): reported in the run's errors and counted, never dropped silently.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RecordError {
    /// Where: `file:line, column C`, or the key.
    pub location: String,
    /// The record's key, when it could be read.
    pub key: Option<String>,
    /// What is wrong with it.
    pub message: String,
}
