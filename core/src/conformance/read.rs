//! Checks of the `Source` contract: full reads, field subsets, incremental
//! reads from a cursor, and reported deletes.

use std::collections::BTreeSet;

use super::Fixture;
use super::harness::{Model, Suite, apply_to, latest_by_key, model, upserts};
use crate::record::{Change, Cursor, Key};
use crate::source::ReadRequest;

/// A full read yields every record written exactly once, as upserts, with
/// the content written, in batches of any requested size; reading does not
/// change the source; a field subset yields the key field and those fields
/// only.
pub async fn full_read(f: Fixture) {
    let s = Suite::new("full_read", f);
    let empty = s.read_full(None, 1000).await;
    s.assert_model(
        "a full read of a fresh, empty entity yields nothing",
        &Model::new(),
        &empty,
    );

    let records = s.records("k", 0..50);
    s.write(upserts(&records)).await;
    let expected = model(&records);
    let read = s.read_full(None, 1000).await;
    s.assert_model(
        "a full read yields every current record exactly once, with its content",
        &expected,
        &read,
    );
    let again = s.read_full(None, 1000).await;
    s.assert_model(
        "reading never changes the source: a second full read yields the same",
        &expected,
        &again,
    );
    let small = s.read_full(None, 7).await;
    s.assert_model(
        "a full read in small batches yields the same records",
        &expected,
        &small,
    );

    let key = s.f.key_field.clone();
    let subsets: [&[&str]; 5] = [
        &["name"],
        &["amount"],
        &["name", "amount"],
        &[key.as_str(), "name"],
        &[],
    ];
    for subset in subsets {
        let fields: Vec<String> = subset.iter().map(|f| f.to_string()).collect();
        let read = s.read_full(Some(fields.clone()), 1000).await;
        let point = format!(
            "a full read of fields {fields:?} yields the key field {key:?} and those fields only"
        );
        for record in read.values() {
            if record.get(&key).is_none() {
                s.fail(
                    &point,
                    format_args!("key {:?} lacks the key field", record.key.as_str()),
                );
            }
            if let Some((name, _)) = record
                .fields
                .iter()
                .find(|(n, _)| *n != key && !fields.iter().any(|f| f == n))
            {
                s.fail(
                    &point,
                    format_args!("key {:?} holds field {name:?}", record.key.as_str()),
                );
            }
        }
        let projected: Model = expected
            .iter()
            .map(|(k, r)| {
                let mut r = r.clone();
                r.fields
                    .retain(|(n, _)| *n == key || fields.iter().any(|f| f == n));
                (k.clone(), r)
            })
            .collect();
        s.assert_model(&point, &projected, &read);
    }
}

/// With `capabilities().cursors`: reading since the cursor of a full read
/// yields exactly the keys changed after it, each at its latest version,
/// the same again when read again, and nothing since the cursor it returns.
/// Passes at once for a source without cursors.
pub async fn incremental_read(f: Fixture) {
    let s = Suite::new("incremental_read", f);
    if !s.source_caps().cursors {
        return;
    }
    let records = s.records("k", 0..10);
    s.write(upserts(&records)).await;
    let mut expected = model(&records);
    let cursor = s.cursor_of_full_read().await;

    let batches = [
        vec![
            Change::Upsert(s.record("k00002", "changed once", 2)),
            Change::Upsert(s.record("k00020", "new", 20)),
        ],
        vec![Change::Upsert(s.record("k00003", "first change", 3))],
        vec![
            Change::Upsert(s.record("k00003", "second change", 33)),
            Change::Upsert(s.record("k00020", "new, then changed", None::<i64>)),
        ],
    ];
    for changes in batches {
        s.write(changes.clone()).await;
        apply_to(&mut expected, &changes);
    }
    let changed = ["k00002", "k00003", "k00020"];

    let point = "with capabilities().cursors, reading since a cursor yields exactly the \
                 changes made after the read that returned it, the latest version of each key";
    let next = s
        .check_since(point, &cursor, &expected, &changed, &[])
        .await;
    s.check_since(
        "reading never changes the source: reading since the same cursor again \
         yields the same changes",
        &cursor,
        &expected,
        &changed,
        &[],
    )
    .await;
    s.check_since(
        "reading since the cursor of an incremental read that saw every change yields nothing",
        &next,
        &expected,
        &[],
        &[],
    )
    .await;
}

/// Deletes are reported: with `cursors` and `deletes`, an incremental read
/// yields a delete for a deleted key; in every case the deleted record is
/// absent from the next full read.
pub async fn deletes_reported(f: Fixture) {
    let s = Suite::new("deletes_reported", f);
    let records = s.records("k", 0..6);
    s.write(upserts(&records)).await;
    let mut expected = model(&records);
    let caps = s.source_caps();

    if caps.cursors && caps.deletes {
        let cursor = s.cursor_of_full_read().await;
        let batches = [
            vec![Change::delete("k00001")],
            vec![Change::Upsert(s.record("k00002", "changed", 22))],
            vec![Change::Upsert(s.record("k00009", "short-lived", 9))],
            vec![Change::delete("k00009")],
        ];
        for changes in batches {
            s.write(changes.clone()).await;
            apply_to(&mut expected, &changes);
        }
        let point = "with capabilities().deletes, an incremental read reports a deleted key \
                     as Change::Delete";
        let next = s
            .check_since(
                point,
                &cursor,
                &expected,
                &["k00001", "k00002"],
                &["k00009"],
            )
            .await;
        s.check_since(
            "reading since the cursor of an incremental read that saw every delete \
             yields nothing",
            &next,
            &expected,
            &[],
            &[],
        )
        .await;
    } else {
        let changes = vec![Change::delete("k00001"), Change::delete("k00004")];
        s.write(changes.clone()).await;
        apply_to(&mut expected, &changes);
    }

    let read = s.read_full(None, 1000).await;
    s.assert_model(
        "a deleted record is absent from the next full read",
        &expected,
        &read,
    );
}

impl Suite {
    /// The cursor of a full read, checked to hold what was written.
    async fn cursor_of_full_read(&self) -> Cursor {
        let read = self.read(ReadRequest::full(self.f.entity.as_str())).await;
        let cursor = read.cursor.clone();
        self.full_model(read.changes);
        // `read` fails when a source with cursors gives none.
        cursor.expect("a source with cursors gives a cursor")
    }

    /// Reads since `cursor` and checks that the last change of each key is
    /// the expected record of each `changed` key (a delete where `expected`
    /// no longer holds it), that `vanished` keys are at most deleted, and
    /// that nothing else is reported. Returns the cursor of the read.
    async fn check_since(
        &self,
        point: &str,
        cursor: &Cursor,
        expected: &Model,
        changed: &[&str],
        vanished: &[&str],
    ) -> Cursor {
        let read = self
            .read(ReadRequest::since(self.f.entity.as_str(), cursor.clone()))
            .await;
        let next = read.cursor.clone().expect("checked by read");
        for change in &read.changes {
            if let Change::Upsert(r) = change {
                self.check_fields_once(r);
            }
        }
        let mut latest = latest_by_key(read.changes);
        for key in changed {
            let key = Key::from(*key);
            match (latest.remove(&key), expected.get(&key)) {
                (None, _) => self.fail(
                    point,
                    format_args!("key {:?} was changed but not reported", key.as_str()),
                ),
                (Some(Change::Upsert(read)), Some(written)) => {
                    if let Some(diff) = self.record_diff(written, &read) {
                        self.fail(point, diff);
                    }
                }
                (Some(Change::Delete { .. }), None) => {}
                (Some(change), written) => self.fail(
                    point,
                    format_args!(
                        "key {:?}: the last change reported is {change:?}, the record now is {written:?}",
                        key.as_str()
                    ),
                ),
            }
        }
        for key in vanished {
            if let Some(Change::Upsert(r)) = latest.remove(&Key::from(*key)) {
                self.fail(
                    point,
                    format_args!("key {key:?} was created and deleted, yet reported as {r:?}"),
                );
            }
        }
        if !latest.is_empty() {
            let keys: BTreeSet<&str> = latest.keys().map(Key::as_str).collect();
            self.fail(
                point,
                format_args!("keys not changed since the cursor were reported: {keys:?}"),
            );
        }
        next
    }
}
