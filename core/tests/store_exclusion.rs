//! Processes that share a store: opens of a fresh store race their
//! migrations, and runs of one pair race for its lease. Every race runs on
//! SQLite, and on PostgreSQL and MySQL/MariaDB when `TANDEM_TEST_PG_URL` and
//! `TANDEM_TEST_MYSQL_URL` are set. Each contender has its own store (its
//! own connection pool), as separate processes would.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};

use common::{Backend, with_database};
use sea_orm::{ConnectionTrait, Database};
use tandem_core::Error;
use tandem_core::store::{RunCounts, RunStatus, StateStore, owner};

/// Stores opened at once on one database.
const CONTENDERS: usize = 8;

/// Rounds of each race.
const ROUNDS: usize = 12;

const PAIR: &str = "crm_sheet";

/// A fresh store database: its URL, and what removes it.
struct Fresh {
    url: String,
    remove: Remove,
}

enum Remove {
    Common(Backend),
    MySql { server: String, database: String },
}

impl Fresh {
    async fn cleanup(self) {
        match self.remove {
            Remove::Common(backend) => backend.cleanup().await,
            Remove::MySql { server, database } => {
                let admin = Database::connect(&server).await.expect("connect to MySQL");
                admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS {database}"))
                    .await
                    .expect("drop test database");
                admin.close().await.ok();
            }
        }
    }
}

/// A fresh database on `backend` (`sqlite`, `postgres` or `mysql`), or
/// `None` when its server is not configured.
async fn fresh(backend: &str) -> Option<Fresh> {
    match backend {
        "sqlite" => {
            let (b, url) = Backend::sqlite();
            Some(Fresh {
                url,
                remove: Remove::Common(b),
            })
        }
        "postgres" => {
            let (b, url) = Backend::postgres().await?;
            Some(Fresh {
                url,
                remove: Remove::Common(b),
            })
        }
        _ => {
            let Ok(server) = std::env::var("TANDEM_TEST_MYSQL_URL") else {
                println!("skipping MySQL store tests: TANDEM_TEST_MYSQL_URL is not set");
                return None;
            };
            static COUNTER: AtomicU32 = AtomicU32::new(0);
            let database = format!(
                "tandem_store_{}_{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            );
            let admin = Database::connect(&server).await.expect("connect to MySQL");
            admin
                .execute_unprepared(&format!("CREATE DATABASE {database}"))
                .await
                .expect("create test database");
            admin.close().await.ok();
            let url = with_database(&server, &database);
            Some(Fresh {
                url,
                remove: Remove::MySql { server, database },
            })
        }
    }
}

/// Opens `CONTENDERS` stores on `url` at once; every open must succeed.
async fn open_at_once(url: &str) -> Vec<StateStore> {
    let opens: Vec<_> = (0..CONTENDERS)
        .map(|_| {
            let url = url.to_owned();
            tokio::spawn(async move { StateStore::open(&url).await })
        })
        .collect();
    let mut stores = Vec::new();
    for (i, open) in opens.into_iter().enumerate() {
        match open.await.expect("open task") {
            Ok(store) => stores.push(store),
            Err(e) => panic!("open {i} of a fresh store, at once with others: {e}"),
        }
    }
    stores
}

/// Many processes open a fresh store at once: all of them succeed (the
/// migrations run once, one process at a time).
async fn fresh_store_opened_at_once(backend: &str) {
    for _ in 0..ROUNDS {
        let Some(db) = fresh(backend).await else {
            return;
        };
        for store in open_at_once(&db.url).await {
            store.close().await.unwrap();
        }
        db.cleanup().await;
    }
}

/// Every contender asks for the pair's lease at once: exactly one gets a
/// run, and every other one is told which run holds the pair.
async fn one_lease_per_pair(backend: &str) {
    let Some(db) = fresh(backend).await else {
        return;
    };
    let stores = open_at_once(&db.url).await;
    for round in 0..ROUNDS {
        let tries: Vec<_> = stores
            .iter()
            .map(|store| {
                let store = store.clone();
                tokio::spawn(async move { store.lease_run(PAIR, "send", "manual", false).await })
            })
            .collect();
        let mut won = Vec::new();
        let mut refused = Vec::new();
        for t in tries {
            match t.await.expect("lease task") {
                Ok(id) => won.push(id),
                Err(Error::Busy { pair, run_id, .. }) => {
                    assert_eq!(pair, PAIR);
                    refused.push(run_id);
                }
                Err(e) => panic!("round {round}: a contender failed instead of being refused: {e}"),
            }
        }
        assert_eq!(won.len(), 1, "round {round}: runs {won:?} all got the pair");
        assert!(
            refused.iter().all(|&r| r == won[0]),
            "round {round}: refused by runs {refused:?}, but run {} won",
            won[0]
        );
        stores[0]
            .finish_run(won[0], RunStatus::Completed, &RunCounts::default(), &[])
            .await
            .unwrap();
    }
    let (_, total) = stores[0].runs(Some(PAIR), 1, 1).await.unwrap();
    assert_eq!(total, ROUNDS as u64, "one run per round in the history");
    // Another pair is free all along.
    stores[1]
        .lease_run("other", "send", "manual", false)
        .await
        .unwrap();
    for store in stores {
        store.close().await.unwrap();
    }
    db.cleanup().await;
}

/// Sets a run's owner and heartbeat as if another process had started it.
async fn set_owner(url: &str, run: i64, owner: &str, heartbeat_ms: i64) {
    let db = Database::connect(url).await.unwrap();
    db.execute_unprepared(&format!(
        "UPDATE runs SET owner = '{owner}', heartbeat = {heartbeat_ms} WHERE id = {run}"
    ))
    .await
    .unwrap();
    db.close().await.unwrap();
}

/// A run whose owner is gone holds the pair until one process takes it
/// over (to recover it); a run of another host holds it while it beats.
async fn dead_owner_is_taken_over_once(backend: &str) {
    let Some(db) = fresh(backend).await else {
        return;
    };
    let stores = open_at_once(&db.url).await;
    let now = jiff::Timestamp::now().as_millisecond();
    let host = owner().rsplit_once(':').unwrap().0.to_owned();
    let dead = stores[0]
        .lease_run(PAIR, "send", "manual", false)
        .await
        .unwrap();
    // No process has this id (Linux pids stop at 2^22).
    set_owner(&db.url, dead, &format!("{host}:4294967295"), now).await;

    let err = stores[1]
        .lease_run(PAIR, "send", "manual", false)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Store { message } if message.contains(&format!("run {dead} was interrupted"))
            && message.contains("not recovered yet")),
        "{err}"
    );

    let row = stores[0].run(dead).await.unwrap().unwrap();
    assert!(!tandem_core::store::owner_alive(&row));
    let tries: Vec<_> = stores
        .iter()
        .map(|store| {
            let (store, row) = (store.clone(), row.clone());
            tokio::spawn(async move { store.take_over_run(&row).await })
        })
        .collect();
    let mut taken = 0;
    for t in tries {
        taken += usize::from(t.await.unwrap().unwrap());
    }
    assert_eq!(taken, 1, "one process takes the dead run over");
    let row = stores[0].run(dead).await.unwrap().unwrap();
    assert_eq!(row.owner, Some(owner()));
    assert!(tandem_core::store::owner_alive(&row));
    // Now it is held by a live process (this one, recovering it).
    let err = stores[2]
        .lease_run(PAIR, "send", "manual", false)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Busy { run_id, .. } if run_id == dead),
        "{err}"
    );
    stores[0]
        .finish_run(dead, RunStatus::Error, &RunCounts::default(), &[])
        .await
        .unwrap();
    assert!(
        !stores[0].take_over_run(&row).await.unwrap(),
        "a finished run is not taken over"
    );

    // A run of another host is alive while it beats.
    let remote = stores[3]
        .lease_run(PAIR, "send", "manual", false)
        .await
        .unwrap();
    set_owner(&db.url, remote, "elsewhere:17", now).await;
    let err = stores[4]
        .lease_run(PAIR, "send", "manual", false)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Busy { run_id, owner, .. } if *run_id == remote && owner == "elsewhere:17"),
        "{err}"
    );
    let lapsed = now - tandem_core::store::LEASE.as_millis() as i64 - 1_000;
    set_owner(&db.url, remote, "elsewhere:17", lapsed).await;
    let err = stores[4]
        .lease_run(PAIR, "send", "manual", false)
        .await
        .unwrap_err();
    assert!(matches!(&err, Error::Store { .. }), "{err}");
    // Taking over needs the heartbeat as it was read: a beat since wins.
    let stale = stores[4].run(remote).await.unwrap().unwrap();
    set_owner(&db.url, remote, "elsewhere:17", lapsed + 1).await;
    assert!(!stores[4].take_over_run(&stale).await.unwrap());
    for store in stores {
        store.close().await.unwrap();
    }
    db.cleanup().await;
}

macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite() {
                    super::$name("sqlite").await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn postgres() {
                    super::$name("postgres").await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn mysql() {
                    super::$name("mysql").await;
                }
            }
        )*
    };
}

on_every_backend!(
    fresh_store_opened_at_once,
    one_lease_per_pair,
    dead_owner_is_taken_over_once,
);
