//! The `Target` trait: what the engine writes to.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::record::{Change, Key, Record};
use crate::source::Capabilities;

/// The outcome of one applied change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// The key the target holds the record under (a target that assigns its
    /// own ids returns them here).
    pub key: Key,
    /// The record's new version, when the target has versions.
    pub version: Option<String>,
}

/// Something the engine writes to.
///
/// # Contract
///
/// - Changes are applied inside a [`Transaction`]; nothing is visible to
///   readers of the target as committed data before `commit`, and after
///   `rollback` (or a dropped, uncommitted transaction) the target is as it
///   was, byte for byte where the target is a file.
/// - Upserting a record that exists replaces it; upserting the same record
///   twice leaves the same state as once.
/// - Deleting a key that does not exist is not an error.
/// - `fetch` returns the current records for the keys that exist, and
///   nothing for the others.
#[async_trait]
pub trait Target: Send + Sync {
    /// What this target can do.
    fn capabilities(&self) -> Capabilities;

    /// Starts a transaction on an entity.
    async fn begin(&self, entity: &str) -> Result<Box<dyn Transaction>>;

    /// The current records for these keys (before-images).
    async fn fetch(&self, entity: &str, keys: &[Key]) -> Result<Vec<Record>>;
}

/// A unit of work on one entity of a target.
///
/// # Contract
///
/// `apply` returns one [`Applied`] per change, in order. `commit` makes every
/// applied change durable at once; `rollback` discards them all.
#[async_trait]
pub trait Transaction: Send {
    /// Applies a batch of changes.
    async fn apply(&mut self, changes: Vec<Change>) -> Result<Vec<Applied>>;

    /// Makes the changes durable.
    async fn commit(self: Box<Self>) -> Result<()>;

    /// Discards the changes.
    async fn rollback(self: Box<Self>) -> Result<()>;
}
