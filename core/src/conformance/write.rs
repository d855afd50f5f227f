//! Checks of the `Target` contract: idempotent upserts, deletes of missing
//! keys, rollback, and large transactions.

use super::Fixture;
use super::harness::{Suite, apply_to, model, upserts};
use crate::record::Change;
use crate::value::Value;

/// Upserting a record that exists replaces it; upserting the same record
/// twice (in two transactions, in one batch, in two batches of one
/// transaction) leaves the same state as once.
pub async fn upsert_idempotent(f: Fixture) {
    let s = Suite::new("upsert_idempotent", f);
    let records = s.records("k", 0..20);
    let mut expected = model(&records);
    s.write(upserts(&records)).await;
    let point = "upserting the same record twice leaves the same state as once";
    s.assert_model(point, &expected, &s.read_full(None, 1000).await);

    s.write(upserts(&records)).await;
    s.assert_model(
        &format!("{point} (again, in a second transaction)"),
        &expected,
        &s.read_full(None, 1000).await,
    );

    let twice = vec![
        Change::Upsert(records[5].clone()),
        Change::Upsert(records[5].clone()),
    ];
    s.write(twice).await;
    s.assert_model(
        &format!("{point} (twice in one batch)"),
        &expected,
        &s.read_full(None, 1000).await,
    );

    let mut tx = s.begin().await;
    s.apply(&mut tx, upserts(&records[..3])).await;
    s.apply(&mut tx, upserts(&records[..3])).await;
    s.commit(tx).await;
    s.assert_model(
        &format!("{point} (in two batches of one transaction)"),
        &expected,
        &s.read_full(None, 1000).await,
    );

    let replaced = vec![
        Change::Upsert(s.record("k00003", "replaced", Value::Null)),
        Change::Upsert(s.record("k00004", Value::Null, 4444)),
    ];
    s.write(replaced.clone()).await;
    apply_to(&mut expected, &replaced);
    s.assert_model(
        "upserting a record that exists replaces it",
        &expected,
        &s.read_full(None, 1000).await,
    );
}

/// Deleting a key that does not exist is not an error, on an empty entity
/// or beside existing records, and deleting a key twice is not either.
pub async fn delete_missing_is_ok(f: Fixture) {
    let s = Suite::new("delete_missing_is_ok", f);
    s.write(vec![Change::delete("missing-0")]).await;
    s.assert_model(
        "deleting a key that does not exist changes nothing (empty entity)",
        &model(&[]),
        &s.read_full(None, 1000).await,
    );

    let records = s.records("k", 0..5);
    s.write(upserts(&records)).await;
    let mut expected = model(&records);
    let deletes = vec![
        Change::delete("missing-1"),
        Change::delete("k00002"),
        Change::delete("k00002"),
    ];
    s.write(deletes.clone()).await;
    apply_to(&mut expected, &deletes);
    s.assert_model(
        "deleting a key that does not exist changes nothing else",
        &expected,
        &s.read_full(None, 1000).await,
    );
}

/// Nothing applied is visible before commit; after `rollback`, and after
/// dropping an uncommitted transaction, the entity is as it was, and the
/// target still takes new transactions.
pub async fn rollback_leaves_nothing(f: Fixture) {
    let s = Suite::new("rollback_leaves_nothing", f);
    let records = s.records("k", 0..10);
    s.write(upserts(&records)).await;
    let mut expected = model(&records);
    s.assert_model(
        "a full read yields what was committed",
        &expected,
        &s.read_full(None, 1000).await,
    );
    let first = vec![
        Change::Upsert(s.record("k00050", "uncommitted", 50)),
        Change::Upsert(s.record("k00001", "uncommitted change", Value::Null)),
        Change::delete("k00002"),
    ];
    let second = vec![
        Change::Upsert(s.record("k00051", "uncommitted too", 51)),
        Change::delete("k00003"),
    ];

    let mut tx = s.begin().await;
    s.apply(&mut tx, first.clone()).await;
    s.apply(&mut tx, second.clone()).await;
    s.assert_model(
        "nothing applied is visible to readers before commit",
        &expected,
        &s.read_full(None, 1000).await,
    );
    tx.rollback()
        .await
        .unwrap_or_else(|e| s.fail("Transaction::rollback succeeds", e));
    s.assert_model(
        "after rollback the target is as it was",
        &expected,
        &s.read_full(None, 1000).await,
    );

    let mut tx = s.begin().await;
    s.apply(&mut tx, first).await;
    s.apply(&mut tx, second).await;
    drop(tx);
    s.assert_model(
        "after a dropped, uncommitted transaction the target is as it was",
        &expected,
        &s.read_full(None, 1000).await,
    );

    let after = vec![
        Change::Upsert(s.record("k00060", "after rollback", 60)),
        Change::delete("k00004"),
    ];
    s.write(after.clone()).await;
    apply_to(&mut expected, &after);
    s.assert_model(
        "a target takes new transactions after a rollback and a dropped one",
        &expected,
        &s.read_full(None, 1000).await,
    );
}

/// How many records `large_batch` writes in one transaction.
const LARGE: usize = 10_000;

/// Ten thousand records applied in one transaction all read back, with
/// their content, in batches no bigger than asked for.
pub async fn large_batch(f: Fixture) {
    let s = Suite::new("large_batch", f);
    let records = s.records("r", 0..LARGE);
    let expected = model(&records);
    s.write(upserts(&records)).await;
    for batch_size in [1000, 333] {
        let read = s.read_full(None, batch_size).await;
        s.assert_model(
            &format!(
                "a full read (batch_size {batch_size}) yields all {LARGE} records \
                 applied in one transaction"
            ),
            &expected,
            &read,
        );
    }
}
