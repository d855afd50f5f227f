//! The in-memory connector, the reference implementation, passes the
//! conformance suite.

use std::sync::Arc;

use serde_json::json;
use tandem_core::conformance::{self, Fixture};
use tandem_core::memory::MemoryConnector;

async fn fixture() -> Fixture {
    let config = json!({ "entities": { "people": { "key": ["id"] } } });
    let connector = MemoryConnector::from_config("memory", config).expect("valid configuration");
    Fixture::new(Arc::new(connector), "people", "id")
}

#[tokio::test]
async fn memory_passes_the_suite() {
    conformance::run_all(fixture).await;
}

#[tokio::test]
async fn memory_passes_the_suite_as_a_text_endpoint() {
    // The flags only relax comparisons: a typed endpoint passes with them too.
    conformance::run_all(|| async {
        Fixture {
            null_is_empty: true,
            text_only: true,
            ..fixture().await
        }
    })
    .await;
}

#[test]
fn unknown_config_key_is_a_config_error() {
    let config = json!({ "entities": { "people": { "key": ["id"] } }, "colour": "blue" });
    conformance::bad_config("memory", MemoryConnector::from_config("memory", config));
}

#[test]
fn unknown_entity_config_key_is_a_config_error() {
    let config = json!({ "entities": { "people": { "key": ["id"], "keys": ["id"] } } });
    conformance::bad_config("memory", MemoryConnector::from_config("memory", config));
}

#[test]
fn empty_key_list_is_a_config_error() {
    let config = json!({ "entities": { "people": { "key": [] } } });
    conformance::bad_config("memory", MemoryConnector::from_config("memory", config));
}

#[test]
#[should_panic(expected = "a bad configuration is Error::Config")]
fn bad_config_rejects_a_good_config() {
    let config = json!({ "entities": { "people": { "key": ["id"] } } });
    conformance::bad_config("memory", MemoryConnector::from_config("memory", config));
}

#[test]
#[should_panic(expected = "an error names the connector")]
fn bad_config_wants_the_connector_named() {
    let result: tandem_core::Result<()> = Err(tandem_core::Error::config("other", "bad key"));
    conformance::bad_config("memory", result);
}

/// Connectors that each break one contract point: the suite must catch them.
mod flawed {
    use std::sync::Arc;

    use async_trait::async_trait;
    use futures::StreamExt;
    use tandem_core::conformance::{self, Fixture};
    use tandem_core::memory::MemoryConnector;
    use tandem_core::{
        Applied, BatchStream, Capabilities, Change, EntitySchema, Key, ReadRequest, ReadScope,
        Record, Result, Source, Target, Transaction, Value,
    };

    #[derive(Clone, Copy)]
    enum Flaw {
        /// Full reads return every record twice.
        Duplicates,
        /// The field subset of a request is ignored.
        AllFields,
        /// Every read is one batch, whatever the batch size.
        OneBatch,
        /// Incremental reads return every record.
        SinceIsFull,
        /// Incremental reads leave deletes out.
        NoDeletes,
        /// `rollback` commits.
        RollbackCommits,
        /// Upserts are applied when applied, not at commit.
        WritesThrough,
        /// Text is trimmed.
        Trims,
        /// Empty text is read as null.
        EmptyIsNull,
        /// Upserts merge into the record instead of replacing it.
        Merges,
    }

    struct Flawed {
        inner: MemoryConnector,
        flaw: Flaw,
    }

    impl Flawed {
        fn fixture(flaw: Flaw) -> Fixture {
            let config = serde_json::json!({ "entities": { "people": { "key": ["id"] } } });
            let inner = MemoryConnector::from_config("flawed", config).unwrap();
            Fixture::new(Arc::new(Flawed { inner, flaw }), "people", "id")
        }

        fn read_back(&self, change: Change) -> Change {
            match (self.flaw, change) {
                (Flaw::Trims, Change::Upsert(mut r)) => {
                    for (_, v) in &mut r.fields {
                        if let Value::Text(t) = v {
                            *t = t.trim().into();
                        }
                    }
                    Change::Upsert(r)
                }
                (Flaw::EmptyIsNull, Change::Upsert(mut r)) => {
                    for (_, v) in &mut r.fields {
                        if v.as_str() == Some("") {
                            *v = Value::Null;
                        }
                    }
                    Change::Upsert(r)
                }
                (_, change) => change,
            }
        }
    }

    #[async_trait]
    impl Source for Flawed {
        fn capabilities(&self) -> Capabilities {
            Source::capabilities(&self.inner)
        }

        async fn entities(&self) -> Result<Vec<EntitySchema>> {
            self.inner.entities().await
        }

        async fn read(&self, mut request: ReadRequest) -> Result<BatchStream> {
            let asked = match self.flaw {
                Flaw::OneBatch => usize::MAX,
                _ => request.batch_size,
            };
            match self.flaw {
                Flaw::AllFields => request.fields = None,
                Flaw::OneBatch => request.batch_size = usize::MAX,
                Flaw::SinceIsFull if matches!(request.scope, ReadScope::Since(_)) => {
                    let full = ReadRequest::full(request.entity.clone());
                    let cursor = collect(self.inner.read(request).await?).await.1;
                    let (changes, _) = collect(self.inner.read(full).await?).await;
                    return Ok(stream(changes, cursor, asked));
                }
                _ => {}
            }
            let full = request.scope == ReadScope::Full;
            let (mut changes, cursor) = collect(self.inner.read(request).await?).await;
            match self.flaw {
                Flaw::Duplicates if full => changes.extend(changes.clone()),
                Flaw::NoDeletes => changes.retain(|c| matches!(c, Change::Upsert(_))),
                _ => {}
            }
            let changes = changes.into_iter().map(|c| self.read_back(c)).collect();
            Ok(stream(changes, cursor, asked))
        }
    }

    async fn collect(stream: BatchStream) -> (Vec<Change>, Option<tandem_core::Cursor>) {
        let batches: Vec<_> = stream.map(Result::unwrap).collect().await;
        let cursor = batches.last().and_then(|b| b.cursor.clone());
        (
            batches.into_iter().flat_map(|b| b.changes).collect(),
            cursor,
        )
    }

    fn stream(
        changes: Vec<Change>,
        cursor: Option<tandem_core::Cursor>,
        size: usize,
    ) -> BatchStream {
        let mut batches: Vec<tandem_core::Batch> = changes
            .chunks(size.clamp(1, changes.len().max(1)))
            .map(|c| tandem_core::Batch {
                changes: c.to_vec(),
                ..Default::default()
            })
            .collect();
        if batches.is_empty() {
            batches.push(Default::default());
        }
        batches.last_mut().unwrap().cursor = cursor;
        Box::pin(futures::stream::iter(batches.into_iter().map(Ok)))
    }

    #[async_trait]
    impl Target for Flawed {
        fn capabilities(&self) -> Capabilities {
            Target::capabilities(&self.inner)
        }

        async fn begin(&self, entity: &str) -> Result<Box<dyn Transaction>> {
            Ok(Box::new(FlawedTransaction {
                inner: self.inner.begin(entity).await?,
                connector: self.inner.clone(),
                entity: entity.to_owned(),
                flaw: self.flaw,
            }))
        }

        async fn fetch(&self, entity: &str, keys: &[Key]) -> Result<Vec<Record>> {
            self.inner.fetch(entity, keys).await
        }
    }

    struct FlawedTransaction {
        inner: Box<dyn Transaction>,
        connector: MemoryConnector,
        entity: String,
        flaw: Flaw,
    }

    #[async_trait]
    impl Transaction for FlawedTransaction {
        async fn apply(&mut self, changes: Vec<Change>) -> Result<Vec<Applied>> {
            match self.flaw {
                Flaw::WritesThrough => {
                    for c in &changes {
                        match c {
                            Change::Upsert(r) => self.connector.put(&self.entity, r.clone()),
                            Change::Delete { key, .. } => {
                                self.connector.remove(&self.entity, key.as_str())
                            }
                        }
                    }
                }
                Flaw::Merges => {
                    let changes = changes
                        .into_iter()
                        .map(|c| match c {
                            Change::Upsert(r) => {
                                let mut merged = self
                                    .connector
                                    .get(&self.entity, r.key.as_str())
                                    .unwrap_or_else(|| Record::new(r.key.clone()));
                                for (n, v) in r.fields {
                                    if !v.is_null() {
                                        merged.set(n, v);
                                    }
                                }
                                Change::Upsert(merged)
                            }
                            other => other,
                        })
                        .collect();
                    return self.inner.apply(changes).await;
                }
                _ => {}
            }
            self.inner.apply(changes).await
        }

        async fn commit(self: Box<Self>) -> Result<()> {
            self.inner.commit().await
        }

        async fn rollback(self: Box<Self>) -> Result<()> {
            match self.flaw {
                Flaw::RollbackCommits => self.inner.commit().await,
                _ => self.inner.rollback().await,
            }
        }
    }

    macro_rules! caught {
        ($($name:ident: $flaw:ident => $check:ident, $message:literal;)*) => {$(
            #[tokio::test]
            #[should_panic(expected = $message)]
            async fn $name() {
                conformance::$check(Flawed::fixture(Flaw::$flaw)).await;
            }
        )*};
    }

    caught! {
        duplicates_are_caught: Duplicates => full_read, "exactly once";
        ignored_field_subsets_are_caught: AllFields => full_read, "and those fields only";
        oversized_batches_are_caught: OneBatch => large_batch, "at most the request's batch_size";
        full_incremental_reads_are_caught: SinceIsFull => incremental_read, "keys not changed since the cursor";
        missing_deletes_are_caught: NoDeletes => deletes_reported, "reports a deleted key";
        committing_rollbacks_are_caught: RollbackCommits => rollback_leaves_nothing, "after rollback";
        uncommitted_writes_are_caught: WritesThrough => rollback_leaves_nothing, "visible to readers before commit";
        trimmed_text_is_caught: Trims => unicode_empty_null, "reads back as written";
        empty_read_as_null_is_caught: EmptyIsNull => unicode_empty_null, "empty text reads back as empty text";
        merging_upserts_are_caught: Merges => upsert_idempotent, "replaces it";
    }

    /// A text endpoint that cannot tell empty text from null passes with
    /// `null_is_empty`.
    #[tokio::test]
    async fn empty_read_as_null_passes_with_null_is_empty() {
        conformance::unicode_empty_null(Fixture {
            null_is_empty: true,
            ..Flawed::fixture(Flaw::EmptyIsNull)
        })
        .await;
    }
}
