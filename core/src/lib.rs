//! Tandem core: records, changes, the three-way diff, conflict resolution,
//! the sync engine and its state store.
//!
//! Connectors implement [`Source`] and [`Target`]; the engine pairs two
//! endpoints and keeps them in step. [`memory::MemoryConnector`] is the
//! reference implementation of both traits.
#![warn(missing_docs)]

#[cfg(feature = "conformance")]
pub mod conformance;
pub mod engine;
pub mod error;
pub mod fault;
pub mod memory;
pub mod merge;
pub mod plugin;
pub mod record;
pub mod resolve;
pub mod source;
pub mod store;
pub mod target;
pub mod value;

pub use error::{Error, RecordError, Result};
pub use record::{Change, Cursor, EntitySchema, FieldSchema, FieldType, Key, Name, Record};
pub use resolve::{Conflict, Resolution, Resolver, ResolverKind};
pub use source::{Batch, BatchStream, Capabilities, DayCount, ReadRequest, ReadScope, Source};
pub use target::{Applied, Target, Transaction};
pub use value::Value;
