//! What every check shares: writing through transactions, reading whole
//! streams, and comparing what was read with what was written.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Display};

use futures::TryStreamExt;

use super::Fixture;
use crate::record::{Change, Cursor, Key, Record};
use crate::source::{Batch, Capabilities, ReadRequest};
use crate::target::Transaction;
use crate::value::Value;

/// The records an entity should hold, by key.
pub(super) type Model = BTreeMap<Key, Record>;

/// How many differences a failure message lists.
const SHOWN: usize = 5;

/// One check running on its fixture.
pub(super) struct Suite {
    pub f: Fixture,
    check: &'static str,
}

/// Everything one read returned.
pub(super) struct Read {
    /// The changes of every batch, in order.
    pub changes: Vec<Change>,
    /// The cursor of the last batch.
    pub cursor: Option<Cursor>,
}

impl Suite {
    pub fn new(check: &'static str, f: Fixture) -> Self {
        Suite { f, check }
    }

    /// Fails the check at a contract point.
    #[track_caller]
    pub fn fail(&self, point: &str, detail: impl Display) -> ! {
        panic!(
            "conformance check {} on entity {:?}: {point}\n  {detail}",
            self.check, self.f.entity
        )
    }

    pub fn source_caps(&self) -> Capabilities {
        self.f.source.capabilities()
    }

    /// A record as the suite writes it: key field, `name`, `amount`.
    pub fn record(&self, key: &str, name: impl Into<Value>, amount: impl Into<Value>) -> Record {
        Record::new(key)
            .with(self.f.key_field.as_str(), key)
            .with("name", name)
            .with("amount", amount)
    }

    /// Records `prefix00000`.. for each `i`, with a name and an amount.
    pub fn records(&self, prefix: &str, range: std::ops::Range<usize>) -> Vec<Record> {
        range
            .map(|i| {
                let amount = if i % 7 == 3 {
                    Value::Null
                } else {
                    Value::Int(i as i64 * 10 - 25)
                };
                self.record(&format!("{prefix}{i:05}"), format!("name {i}"), amount)
            })
            .collect()
    }

    pub async fn begin(&self) -> Box<dyn Transaction> {
        self.f
            .target
            .begin(&self.f.entity)
            .await
            .unwrap_or_else(|e| self.fail("Target::begin succeeds on an existing entity", e))
    }

    /// Applies changes and checks that there is one `Applied` per change, in
    /// order.
    pub async fn apply(&self, tx: &mut Box<dyn Transaction>, changes: Vec<Change>) {
        let keys: Vec<Key> = changes.iter().map(|c| c.key().clone()).collect();
        let applied = tx
            .apply(changes)
            .await
            .unwrap_or_else(|e| self.fail("Transaction::apply accepts valid changes", e));
        if applied.len() != keys.len() {
            self.fail(
                "Transaction::apply returns one Applied per change",
                format_args!("{} changes applied, {} results", keys.len(), applied.len()),
            );
        }
        for (i, (a, key)) in applied.iter().zip(&keys).enumerate() {
            if &a.key != key {
                self.fail(
                    "Transaction::apply returns one Applied per change, in order, \
                     under the key the record carries",
                    format_args!(
                        "change {i} has key {:?}, its result {:?}",
                        key.as_str(),
                        a.key.as_str()
                    ),
                );
            }
        }
    }

    pub async fn commit(&self, tx: Box<dyn Transaction>) {
        tx.commit()
            .await
            .unwrap_or_else(|e| self.fail("Transaction::commit succeeds", e));
    }

    /// Writes changes in one transaction and commits it.
    pub async fn write(&self, changes: Vec<Change>) {
        let mut tx = self.begin().await;
        self.apply(&mut tx, changes).await;
        self.commit(tx).await;
    }

    /// Reads a whole stream, checking batch sizes, rejections and cursors.
    pub async fn read(&self, request: ReadRequest) -> Read {
        let limit = request.batch_size.max(1);
        let stream = self
            .f
            .source
            .read(request.clone())
            .await
            .unwrap_or_else(|e| {
                self.fail(
                    "Source::read succeeds on an existing entity",
                    format_args!("{request:?}: {e}"),
                )
            });
        let batches: Vec<Batch> = stream.try_collect().await.unwrap_or_else(|e| {
            self.fail(
                "a read stream yields batches, not errors, for records the suite wrote",
                format_args!("{request:?}: {e}"),
            )
        });
        let mut changes = Vec::new();
        for (i, batch) in batches.iter().enumerate() {
            if batch.changes.len() > limit {
                self.fail(
                    "a batch holds at most the request's batch_size changes",
                    format_args!(
                        "batch {i} holds {} changes, batch_size is {limit}",
                        batch.changes.len()
                    ),
                );
            }
            if let Some(r) = batch.rejected.first() {
                self.fail(
                    "a record the suite wrote reads back without being rejected",
                    format_args!("{} rejected, first: {r:?}", batch.rejected.len()),
                );
            }
            changes.extend(batch.changes.iter().cloned());
        }
        let cursor = batches.last().and_then(|b| b.cursor.clone());
        if self.source_caps().cursors && cursor.is_none() {
            self.fail(
                "with capabilities().cursors, the last batch of a read carries a cursor",
                format_args!("{} batches, the last without a cursor", batches.len()),
            );
        }
        Read { changes, cursor }
    }

    /// A full read of the fixture's entity, checked to hold each key once,
    /// as upserts.
    pub async fn read_full(&self, fields: Option<Vec<String>>, batch_size: usize) -> Model {
        let request = ReadRequest::full(self.f.entity.as_str())
            .with_fields(fields)
            .with_batch_size(batch_size);
        self.full_model(self.read(request).await.changes)
    }

    /// Turns the changes of a full read into records, checking that each is
    /// an upsert of a key not seen before, whose fields appear once.
    pub fn full_model(&self, changes: Vec<Change>) -> Model {
        let mut model = Model::new();
        for change in changes {
            let record = match change {
                Change::Upsert(r) => r,
                Change::Delete { key, .. } => self.fail(
                    "a full read yields every current record as Change::Upsert",
                    format_args!("it yielded a delete of {key:?}"),
                ),
            };
            self.check_fields_once(&record);
            if let Some(old) = model.insert(record.key.clone(), record) {
                self.fail(
                    "a full read yields every current record exactly once",
                    format_args!("key {:?} appeared more than once", old.key.as_str()),
                );
            }
        }
        model
    }

    /// Checks that a record names each field once.
    pub fn check_fields_once(&self, record: &Record) {
        let mut seen = BTreeSet::new();
        for (name, _) in &record.fields {
            if !seen.insert(name) {
                self.fail(
                    "a record holds each field once",
                    format_args!("key {:?} holds field {name:?} twice", record.key.as_str()),
                );
            }
        }
    }

    /// A value as compared: empty text is null where the endpoint cannot
    /// tell them apart.
    fn normal<'a>(&self, v: &'a Value) -> &'a Value {
        match v {
            Value::Text(s) if self.f.null_is_empty && s.is_empty() => &Value::Null,
            v => v,
        }
    }

    /// Whether a value read back matches the value written.
    pub fn values_match(&self, expected: &Value, actual: &Value) -> bool {
        let (e, a) = (self.normal(expected), self.normal(actual));
        if self.f.text_only {
            e.same_content(a)
        } else {
            e == a
        }
    }

    /// The first difference between a record written and the one read back;
    /// an absent field is null.
    pub fn record_diff(&self, expected: &Record, actual: &Record) -> Option<String> {
        if expected.key != actual.key {
            return Some(format!(
                "key {:?} read back as {:?}",
                expected.key.as_str(),
                actual.key.as_str()
            ));
        }
        let names = expected.fields.iter().chain(&actual.fields).map(|(n, _)| n);
        for name in names.collect::<BTreeSet<_>>() {
            let e = expected.get(name).unwrap_or(&Value::Null);
            let a = actual.get(name).unwrap_or(&Value::Null);
            if !self.values_match(e, a) {
                return Some(format!(
                    "key {:?}, field {name:?}: wrote {e:?}, read {a:?}",
                    expected.key.as_str()
                ));
            }
        }
        None
    }

    /// Fails unless `actual` holds exactly the records of `expected`, with
    /// the same content, in any order.
    #[track_caller]
    pub fn assert_model(&self, point: &str, expected: &Model, actual: &Model) {
        let keys_not_in = |a: &Model, b: &Model| -> Vec<String> {
            a.keys()
                .filter(|k| !b.contains_key(k))
                .map(|k| format!("{:?}", k.as_str()))
                .collect()
        };
        let missing = keys_not_in(expected, actual);
        let extra = keys_not_in(actual, expected);
        let differ: Vec<String> = expected
            .iter()
            .filter_map(|(k, e)| self.record_diff(e, actual.get(k)?))
            .collect();
        if missing.is_empty() && extra.is_empty() && differ.is_empty() {
            return;
        }
        self.fail(
            point,
            format_args!(
                "expected {} records, read {}{}{}{}",
                expected.len(),
                actual.len(),
                Listed("missing keys", &missing),
                Listed("unexpected keys", &extra),
                Listed("differing records", &differ),
            ),
        );
    }
}

/// A few items of a list of differences, with their count.
struct Listed<'a>(&'static str, &'a [String]);

impl Display for Listed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Listed(what, items) = self;
        if items.is_empty() {
            return Ok(());
        }
        write!(f, "\n  {what} ({}):", items.len())?;
        for item in items.iter().take(SHOWN) {
            write!(f, "\n    {item}")?;
        }
        if items.len() > SHOWN {
            write!(f, "\n    ...")?;
        }
        Ok(())
    }
}

/// The records as a model.
pub(super) fn model(records: &[Record]) -> Model {
    records.iter().map(|r| (r.key.clone(), r.clone())).collect()
}

/// The records as upserts.
pub(super) fn upserts(records: &[Record]) -> Vec<Change> {
    records.iter().cloned().map(Change::Upsert).collect()
}

/// Applies committed changes to a model.
pub(super) fn apply_to(model: &mut Model, changes: &[Change]) {
    for change in changes {
        match change {
            Change::Upsert(r) => {
                model.insert(r.key.clone(), r.clone());
            }
            Change::Delete { key, .. } => {
                model.remove(key);
            }
        }
    }
}

/// The last change of each key, in a read's order.
pub(super) fn latest_by_key(changes: Vec<Change>) -> BTreeMap<Key, Change> {
    changes.into_iter().map(|c| (c.key().clone(), c)).collect()
}
