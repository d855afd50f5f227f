//! The conformance suite every connector's tests call.
//!
//! One suite, many endpoints (the way `object_store` tests its backends):
//! each check takes a [`Fixture`], a fresh and empty entity on an endpoint
//! that is both a [`Source`] and a [`Target`], writes records through the
//! target's transactions, reads them back through the source, and panics
//! with the contract point that failed. What an endpoint cannot do is said
//! by [`Capabilities`](crate::Capabilities) and by the fixture's flags, never
//! by skipping a check.
//!
//! Records the suite writes have exactly three fields, in this order: the
//! fixture's key field (text equal to the record key), `name` (text or null)
//! and `amount` (an integer or null). An endpoint with a fixed schema
//! creates those three columns in its fixture.
//!
//! ```no_run
//! use std::sync::Arc;
//! use tandem_core::conformance::{self, Fixture};
//! use tandem_core::memory::MemoryConnector;
//!
//! async fn fixture() -> Fixture {
//!     let config = serde_json::json!({ "entities": { "people": { "key": ["id"] } } });
//!     let connector = Arc::new(MemoryConnector::from_config("memory", config).unwrap());
//!     Fixture::new(connector, "people", "id")
//! }
//!
//! # async fn run() {
//! conformance::run_all(fixture).await;
//! # }
//! ```

mod harness;
mod read;
mod values;
mod write;

use std::future::Future;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::source::Source;
use crate::target::Target;

pub use read::{deletes_reported, full_read, incremental_read};
pub use values::unicode_empty_null;
pub use write::{delete_missing_is_ok, large_batch, rollback_leaves_nothing, upsert_idempotent};

/// A fresh, empty entity on an endpoint that is both a source and a target.
#[derive(Clone)]
pub struct Fixture {
    /// The endpoint as a source: the suite reads through it.
    pub source: Arc<dyn Source>,
    /// The same endpoint as a target: the suite writes through it.
    pub target: Arc<dyn Target>,
    /// The entity, existing and empty.
    pub entity: String,
    /// The key field name; records written by the suite carry it as a field whose value equals the record key.
    pub key_field: String,
    /// The endpoint cannot tell an empty text from null (CSV): the suite then treats them as equal.
    pub null_is_empty: bool,
    /// The endpoint stores every value as text (CSV): compare values by Value::same_content instead of ==.
    pub text_only: bool,
}

impl Fixture {
    /// A fixture on a connector that is both source and target, with typed
    /// values that tell null from empty text.
    pub fn new<C>(
        connector: Arc<C>,
        entity: impl Into<String>,
        key_field: impl Into<String>,
    ) -> Self
    where
        C: Source + Target + 'static,
    {
        Fixture {
            source: connector.clone(),
            target: connector,
            entity: entity.into(),
            key_field: key_field.into(),
            null_is_empty: false,
            text_only: false,
        }
    }
}

/// Asserts that building a connector from a bad configuration failed with
/// [`Error::Config`], with a non-empty message and naming the connector.
pub fn bad_config<T>(connector: &str, result: Result<T>) {
    match result {
        Ok(_) => panic!(
            "conformance check bad_config: a bad configuration is Error::Config\n  \
             connector {connector:?} accepted it"
        ),
        Err(err @ Error::Config { .. }) => {
            let Error::Config { message, .. } = &err else {
                unreachable!()
            };
            assert!(
                !message.trim().is_empty(),
                "conformance check bad_config: a configuration error says what is wrong\n  \
                 connector {connector:?} gave an empty message: {err}"
            );
            let shown = err.to_string();
            assert!(
                shown.contains(connector),
                "conformance check bad_config: an error names the connector\n  \
                 {shown:?} does not name {connector:?}"
            );
        }
        Err(other) => panic!(
            "conformance check bad_config: a bad configuration is Error::Config\n  \
             connector {connector:?} returned another kind of error: {other} ({other:?})"
        ),
    }
}

/// Runs every async check of the suite, each on a fresh fixture from `make`.
pub async fn run_all<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Fixture>,
{
    full_read(make().await).await;
    incremental_read(make().await).await;
    deletes_reported(make().await).await;
    upsert_idempotent(make().await).await;
    delete_missing_is_ok(make().await).await;
    rollback_leaves_nothing(make().await).await;
    large_batch(make().await).await;
    unicode_empty_null(make().await).await;
}
