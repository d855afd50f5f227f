//! A run's end that an SQLite store refused is kept beside it and recorded
//! when the store works again, instead of the run being taken later for
//! one whose process died.

#[allow(dead_code)]
mod common;

use common::Backend;
use sea_orm::{ConnectionTrait, Database, SqliteTransactionMode, TransactionOptions};
use sea_orm::{DatabaseConnection, DatabaseTransaction, TransactionTrait};
use tandem_core::Error;
use tandem_core::store::{RunCounts, RunError, RunStatus, StateStore, owner};

const PAIR: &str = "crm_sheet";

/// Another process's connection holding the store's writer lock, so that
/// the store's writes fail once its busy timeout passes.
async fn hold_writer_lock(url: &str) -> (DatabaseConnection, DatabaseTransaction) {
    let other = Database::connect(url).await.unwrap();
    let tx = other
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        })
        .await
        .unwrap();
    (other, tx)
}

fn exits_file(url: &str) -> std::path::PathBuf {
    format!("{}.exits", url.strip_prefix("sqlite:").unwrap()).into()
}

fn error(message: &str) -> RunError {
    RunError {
        entity: None,
        key: None,
        location: None,
        message: message.into(),
    }
}

#[tokio::test]
async fn refused_end_is_recorded_when_the_store_works_again() {
    let (backend, url) = Backend::sqlite();
    let store = StateStore::open(&url).await.unwrap();
    let run = store
        .lease_run(PAIR, "send", "manual", false)
        .await
        .unwrap();
    let counts = RunCounts {
        created_b: 3,
        ..RunCounts::default()
    };
    let errors = vec![error("state store: committing run 1: disk I/O error")];

    let (other, tx) = hold_writer_lock(&url).await;
    let err = store
        .finish_run(run, RunStatus::Error, &counts, &errors)
        .await
        .unwrap_err();
    let exits = exits_file(&url);
    assert!(
        matches!(&err, Error::Store { message } if message.contains("database is locked")
            && message.contains(&format!("the end of run {run} is kept in {}", exits.display()))),
        "{err}"
    );
    // The store refuses the end again while the lock is held: it stays kept.
    assert_eq!(store.running_runs().await.unwrap().len(), 1);
    assert!(exits.exists());
    tx.rollback().await.unwrap();
    other.close().await.unwrap();

    assert_eq!(
        store.run(run).await.unwrap().unwrap().status,
        RunStatus::Running
    );
    // The next start (here: listing unfinished runs) records the end.
    assert!(store.running_runs().await.unwrap().is_empty());
    let row = store.run(run).await.unwrap().unwrap();
    assert_eq!(row.status, RunStatus::Error);
    assert_eq!(row.errors, errors);
    assert_eq!(row.counts, counts);
    assert!(row.ended.is_some());
    assert!(!exits.exists(), "the kept end is gone once recorded");

    // A new pair run starts at once.
    store
        .lease_run(PAIR, "send", "manual", false)
        .await
        .unwrap();
    store.close().await.unwrap();
    backend.cleanup().await;
}

#[tokio::test]
async fn a_kept_end_is_recorded_by_the_next_process_to_open_the_store() {
    let (backend, url) = Backend::sqlite();
    let store = StateStore::open(&url).await.unwrap();
    let run = store
        .lease_run(PAIR, "send", "manual", false)
        .await
        .unwrap();
    let (other, tx) = hold_writer_lock(&url).await;
    let errors = vec![error("boom")];
    store
        .finish_run(run, RunStatus::Error, &RunCounts::default(), &errors)
        .await
        .unwrap_err();
    tx.rollback().await.unwrap();
    other.close().await.unwrap();
    store.close().await.unwrap();

    let again = StateStore::open(&url).await.unwrap();
    let row = again.run(run).await.unwrap().unwrap();
    assert_eq!((row.status, row.errors), (RunStatus::Error, errors));
    again.close().await.unwrap();
    backend.cleanup().await;
}

#[tokio::test]
async fn a_process_that_died_on_the_store_leaves_its_reason() {
    let (backend, url) = Backend::sqlite();
    let store = StateStore::open(&url).await.unwrap();
    let run = store
        .lease_run(PAIR, "send", "manual", false)
        .await
        .unwrap();
    let host = owner().rsplit_once(':').unwrap().0.to_owned();
    let dead = format!("{host}:4294967295");
    let db = Database::connect(&url).await.unwrap();
    db.execute_unprepared(&format!(
        "UPDATE runs SET owner = '{dead}' WHERE id = {run}"
    ))
    .await
    .unwrap();
    db.close().await.unwrap();
    // As the host writes it when the process stops on a bus error.
    let reason = "its process stopped on a bus error (SIGBUS) on /x/tandem.db-shm";
    std::fs::write(
        exits_file(&url),
        format!("{{\"owner\":\"{dead}\",\"message\":\"{reason}\"}}\n"),
    )
    .unwrap();

    // The run stays for crash recovery, with the reason among its errors.
    let running = store.running_runs().await.unwrap();
    assert_eq!(running.len(), 1);
    assert_eq!(running[0].id, run);
    assert_eq!(running[0].errors, vec![error(reason)]);
    assert!(!exits_file(&url).exists());
    store.close().await.unwrap();
    backend.cleanup().await;
}
