//! State store tests: every test body runs against SQLite (a temporary file)
//! and, when `TANDEM_TEST_PG_URL` is set, against a fresh PostgreSQL database.

mod common;

use common::with_database;
use tandem_core::store::{
    Commit, ConflictStatus, LinkUpdate, NewConflict, RunCounts, RunError, RunStatus, Side,
    StateStore,
};
use tandem_core::{Conflict, Cursor, Error, Key, Record, Resolution, Value};

store_tests!(
    commit_round_trip,
    commit_is_atomic,
    commit_inserts_many_links,
    runs_page_newest_first,
    manual_conflict_resolve,
    link_unlink_disable,
    migrations_are_idempotent,
    clear_pair_keeps_history,
);

const PAIR: &str = "crm_sheet";

fn record(key: &str, name: &str) -> Record {
    Record::new(key)
        .with("name", name)
        .with("n", Value::Int(7))
        .with(
            "at",
            Value::DateTime("2024-05-01T12:00:00Z".parse().unwrap()),
        )
        .modified_at("2024-05-01T12:00:00Z".parse().unwrap())
}

fn insert(a: Option<&str>, b: Option<&str>, hash: u64) -> LinkUpdate {
    LinkUpdate {
        id: None,
        a_key: a.map(Key::from),
        b_key: b.map(Key::from),
        hash_a: Some(hash),
        hash_b: Some(hash),
        base: None,
        disabled: false,
        day: None,
    }
}

fn conflict(key: &str) -> Conflict {
    Conflict {
        a_key: Some(Key::from(key)),
        b_key: Some(Key::from(key)),
        a: Some(record(key, "from a")),
        b: Some(record(key, "from b")),
        base: Some(record(key, "base")),
    }
}

fn is_store_error(err: &Error, needle: &str) -> bool {
    matches!(err, Error::Store { message } if message.contains(needle))
}

async fn commit_round_trip(_url: &str, store: StateStore) {
    let run = store
        .start_run(PAIR, "two_way", "manual", false)
        .await
        .unwrap();
    let other_run = store
        .start_run("other", "send", "schedule", false)
        .await
        .unwrap();

    let mut c = Commit::new(run, PAIR, RunStatus::Completed);
    c.links = vec![
        LinkUpdate {
            base: Some(record("1", "one")),
            ..insert(Some("1"), Some("b1"), u64::MAX)
        },
        insert(Some("2"), Some("b2"), 1 << 63),
        LinkUpdate {
            disabled: true,
            day: None,
            hash_a: None,
            hash_b: None,
            ..insert(Some("3"), None, 0)
        },
    ];
    c.cursors = vec![
        (Side::A, Some(Cursor::from_text("delta-1"))),
        (Side::B, None),
    ];
    c.conflicts = vec![
        NewConflict {
            link_id: None,
            conflict: conflict("1"),
            resolution: None,
            resolved_by: None,
            loser: None,
        },
        NewConflict {
            link_id: None,
            conflict: conflict("2"),
            resolution: Some(Resolution::TakeA),
            resolved_by: Some("a_wins".into()),
            loser: Some(record("2", "from b")),
        },
    ];
    c.counts = RunCounts {
        new: 3,
        conflict: 2,
        created_b: 2,
        ..RunCounts::default()
    };
    c.errors = vec![RunError {
        entity: Some("contacts".into()),
        key: Some("9".into()),
        location: Some("contacts.csv:10".into()),
        message: "bad date".into(),
    }];
    store.commit(c.clone()).await.unwrap();

    let mut other = Commit::new(other_run, "other", RunStatus::Completed);
    other.links = vec![insert(Some("1"), Some("b1"), 5)];
    store.commit(other).await.unwrap();

    // Links, without their bases, in id order; hashes keep all their bits.
    let links = store.load_links(PAIR).await.unwrap();
    assert_eq!(links.len(), 3);
    assert_eq!(links[0].a_key, Some(Key::from("1")));
    assert_eq!(links[0].b_key, Some(Key::from("b1")));
    assert_eq!(links[0].hash_a, Some(u64::MAX));
    assert_eq!(links[1].hash_b, Some(1 << 63));
    assert_eq!(links[2].b_key, None);
    assert!(links[2].disabled && !links[0].disabled);
    assert!(links.windows(2).all(|w| w[0].id < w[1].id));

    let ids: Vec<i64> = links.iter().map(|l| l.id).collect();
    let bases = store.load_bases(PAIR, &ids).await.unwrap();
    assert_eq!(bases.len(), 1);
    assert_eq!(bases[&ids[0]], record("1", "one"));
    assert!(store.load_bases("other", &ids).await.unwrap().is_empty());

    assert_eq!(
        store.cursor(PAIR, Side::A).await.unwrap(),
        Some(Cursor::from_text("delta-1"))
    );
    assert_eq!(store.cursor(PAIR, Side::B).await.unwrap(), None);
    assert_eq!(store.cursor("other", Side::A).await.unwrap(), None);

    let all = store.conflicts(PAIR, false).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].conflict, conflict("1"));
    assert_eq!(all[0].status, ConflictStatus::Pending);
    assert_eq!(all[0].run_id, run);
    assert_eq!(all[1].status, ConflictStatus::Resolved);
    assert_eq!(all[1].resolution, Some(Resolution::TakeA));
    assert_eq!(all[1].resolved_by.as_deref(), Some("a_wins"));
    assert_eq!(all[1].loser, Some(record("2", "from b")));
    assert!(all[1].resolved.is_some() && all[0].resolved.is_none());
    let pending = store.conflicts(PAIR, true).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].id, all[0].id);

    let row = store.run(run).await.unwrap().unwrap();
    assert_eq!(row.status, RunStatus::Completed);
    assert_eq!(
        (row.mode.as_str(), row.trigger.as_str()),
        ("two_way", "manual")
    );
    assert_eq!(row.counts, c.counts);
    assert_eq!(row.errors, c.errors);
    assert!(row.ended.unwrap() >= row.started);

    // A second run updates, removes, moves a cursor and closes a conflict.
    let run2 = store
        .start_run(PAIR, "two_way", "schedule", false)
        .await
        .unwrap();
    let mut c2 = Commit::new(run2, PAIR, RunStatus::Completed);
    c2.links = vec![
        LinkUpdate {
            id: Some(ids[0]),
            ..insert(Some("1"), Some("b1"), 42)
        },
        LinkUpdate {
            id: Some(ids[1]),
            base: Some(record("2", "two")),
            ..insert(Some("2"), Some("b2-renamed"), 43)
        },
        insert(Some("4"), Some("b4"), 44),
    ];
    c2.removed_links = vec![ids[2]];
    c2.cursors = vec![(Side::A, Some(Cursor::from_text("delta-2")))];
    c2.closed_conflicts = vec![all[0].id];
    store.commit(c2).await.unwrap();

    let links = store.load_links(PAIR).await.unwrap();
    assert_eq!(links.len(), 3);
    assert_eq!((links[0].id, links[0].hash_a), (ids[0], Some(42)));
    assert_eq!(links[1].b_key, Some(Key::from("b2-renamed")));
    assert_eq!(links[2].a_key, Some(Key::from("4")));
    let bases = store.load_bases(PAIR, &[ids[0], ids[1]]).await.unwrap();
    assert_eq!(
        bases[&ids[0]],
        record("1", "one"),
        "base None keeps the base"
    );
    assert_eq!(bases[&ids[1]], record("2", "two"));
    assert_eq!(
        store.cursor(PAIR, Side::A).await.unwrap(),
        Some(Cursor::from_text("delta-2"))
    );
    assert!(store.conflicts(PAIR, true).await.unwrap().is_empty());
    let closed = store.conflict(all[0].id).await.unwrap().unwrap();
    assert_eq!(closed.status, ConflictStatus::Resolved);
    assert!(closed.resolved.is_some());
    assert_eq!(store.load_links("other").await.unwrap().len(), 1);
}

async fn commit_is_atomic(_url: &str, store: StateStore) {
    let run = store
        .start_run(PAIR, "two_way", "manual", false)
        .await
        .unwrap();
    let mut c = Commit::new(run, PAIR, RunStatus::Completed);
    c.links = vec![
        insert(Some("1"), Some("b1"), 1),
        insert(Some("1"), Some("b2"), 2),
    ];
    c.cursors = vec![(Side::A, Some(Cursor::from_text("never")))];
    c.conflicts = vec![NewConflict {
        link_id: None,
        conflict: conflict("1"),
        resolution: None,
        resolved_by: None,
        loser: None,
    }];
    let err = store.commit(c).await.unwrap_err();
    assert!(is_store_error(&err, "committing run"), "{err}");

    assert!(store.load_links(PAIR).await.unwrap().is_empty());
    assert_eq!(store.cursor(PAIR, Side::A).await.unwrap(), None);
    assert!(store.conflicts(PAIR, false).await.unwrap().is_empty());
    let row = store.run(run).await.unwrap().unwrap();
    assert_eq!(row.status, RunStatus::Running);
    assert_eq!(row.ended, None);

    // A failure after the links were written (the run is missing) also
    // leaves nothing.
    let mut c = Commit::new(run + 1000, PAIR, RunStatus::Completed);
    c.links = vec![insert(Some("1"), Some("b1"), 1)];
    let err = store.commit(c).await.unwrap_err();
    assert!(is_store_error(&err, "not found"), "{err}");
    assert!(store.load_links(PAIR).await.unwrap().is_empty());

    // The store still works after the rollbacks.
    let mut c = Commit::new(run, PAIR, RunStatus::Completed);
    c.links = vec![insert(Some("1"), Some("b1"), 1)];
    store.commit(c).await.unwrap();
    assert_eq!(store.load_links(PAIR).await.unwrap().len(), 1);
}

async fn commit_inserts_many_links(_url: &str, store: StateStore) {
    let n = 9_000;
    let run = store
        .start_run(PAIR, "full", "manual", false)
        .await
        .unwrap();
    let mut c = Commit::new(run, PAIR, RunStatus::Completed);
    c.links = (0..n)
        .map(|i| LinkUpdate {
            base: Some(record(&i.to_string(), "x")),
            ..insert(Some(&i.to_string()), Some(&format!("b{i}")), i)
        })
        .collect();
    // The last chunk breaks the unique key: no chunk may land.
    let mut bad = c.clone();
    bad.links.push(insert(Some("0"), None, 0));
    assert!(store.commit(bad).await.is_err());
    assert!(store.load_links(PAIR).await.unwrap().is_empty());

    store.commit(c).await.unwrap();
    let links = store.load_links(PAIR).await.unwrap();
    assert_eq!(links.len(), n as usize);
    let ids: Vec<i64> = links.iter().map(|l| l.id).collect();
    assert_eq!(
        store.load_bases(PAIR, &ids).await.unwrap().len(),
        n as usize
    );
    let found = store
        .link_by_key(PAIR, Side::B, &Key::from("b1234"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.a_key, Some(Key::from("1234")));
    assert_eq!(found.hash_a, Some(1234));
}

async fn runs_page_newest_first(_url: &str, store: StateStore) {
    let mut ids = Vec::new();
    for i in 0..15 {
        ids.push(
            store
                .start_run(PAIR, "two_way", "schedule", i % 2 == 0)
                .await
                .unwrap(),
        );
        store
            .start_run("other", "send", "polling", false)
            .await
            .unwrap();
    }
    for &id in &ids[..14] {
        store
            .finish_run(id, RunStatus::Completed, &RunCounts::default(), &[])
            .await
            .unwrap();
    }

    let (page1, total) = store.runs(Some(PAIR), 1, 10).await.unwrap();
    assert_eq!(total, 15);
    let got: Vec<i64> = page1.iter().map(|r| r.id).collect();
    let newest: Vec<i64> = ids.iter().rev().take(10).copied().collect();
    assert_eq!(got, newest);
    assert_eq!(page1[0].status, RunStatus::Running);
    assert_eq!(page1[1].status, RunStatus::Completed);
    assert!(page1.iter().all(|r| r.pair == PAIR));

    let (page2, total) = store.runs(Some(PAIR), 2, 10).await.unwrap();
    assert_eq!(total, 15);
    let got: Vec<i64> = page2.iter().map(|r| r.id).collect();
    let oldest: Vec<i64> = ids.iter().rev().skip(10).copied().collect();
    assert_eq!(got, oldest);
    assert!(store.runs(Some(PAIR), 3, 10).await.unwrap().0.is_empty());

    let (all, total) = store.runs(None, 1, 20).await.unwrap();
    assert_eq!((all.len(), total), (20, 30));
    assert!(all.windows(2).all(|w| w[0].id > w[1].id));

    let running = store.running_runs().await.unwrap();
    assert_eq!(running.len(), 16);
    assert!(running.iter().any(|r| r.id == ids[14]));
    assert!(store.request_stop(ids[14]).await.unwrap());
    assert!(!store.request_stop(ids[0]).await.unwrap());
    let stopping = store.run(ids[14]).await.unwrap().unwrap();
    assert_eq!(stopping.status, RunStatus::Stopping);
    assert_eq!(store.running_runs().await.unwrap().len(), 16);

    assert!(store.run(ids[14] + 1000).await.unwrap().is_none());
    let err = store
        .finish_run(ids[14] + 1000, RunStatus::Error, &RunCounts::default(), &[])
        .await
        .unwrap_err();
    assert!(is_store_error(&err, "not found"), "{err}");
}

async fn manual_conflict_resolve(_url: &str, store: StateStore) {
    let run = store
        .start_run(PAIR, "two_way", "manual", false)
        .await
        .unwrap();
    let mut c = Commit::new(run, PAIR, RunStatus::Completed);
    c.links = vec![insert(Some("1"), Some("1"), 1)];
    store.commit(c).await.unwrap();
    let link = store.load_links(PAIR).await.unwrap()[0].id;

    let run = store
        .start_run(PAIR, "two_way", "manual", false)
        .await
        .unwrap();
    let mut c = Commit::new(run, PAIR, RunStatus::Completed);
    c.conflicts = vec![NewConflict {
        link_id: Some(link),
        conflict: conflict("1"),
        resolution: None,
        resolved_by: None,
        loser: None,
    }];
    store.commit(c).await.unwrap();

    let queue = store.conflicts(PAIR, true).await.unwrap();
    assert_eq!(queue.len(), 1);
    let pending = &queue[0];
    assert_eq!((pending.link_id, pending.run_id), (Some(link), run));
    assert_eq!(
        (pending.resolution.clone(), pending.loser.clone()),
        (None, None)
    );

    let merged = record("1", "merged by hand");
    store
        .resolve_conflict(
            pending.id,
            Resolution::Merged(merged.clone()),
            "cli",
            Some(record("1", "from b")),
        )
        .await
        .unwrap();
    assert!(store.conflicts(PAIR, true).await.unwrap().is_empty());
    let done = store.conflict(pending.id).await.unwrap().unwrap();
    assert_eq!(done.status, ConflictStatus::Resolved);
    assert_eq!(done.resolution, Some(Resolution::Merged(merged)));
    assert_eq!(done.resolved_by.as_deref(), Some("cli"));
    assert_eq!(done.loser, Some(record("1", "from b")));
    assert!(done.resolved.unwrap() >= done.created);

    let again = store
        .resolve_conflict(pending.id, Resolution::TakeA, "cli", None)
        .await
        .unwrap_err();
    assert!(is_store_error(&again, "already resolved"), "{again}");
    let missing = store
        .resolve_conflict(pending.id + 1000, Resolution::TakeA, "cli", None)
        .await
        .unwrap_err();
    assert!(is_store_error(&missing, "not found"), "{missing}");
    assert!(store.conflict(pending.id + 1000).await.unwrap().is_none());

    // Removing the link keeps the conflict's history.
    assert!(store.unlink(PAIR, Side::A, &Key::from("1")).await.unwrap());
    let kept = store.conflict(pending.id).await.unwrap().unwrap();
    assert_eq!(kept.link_id, None);
}

async fn link_unlink_disable(_url: &str, store: StateStore) {
    let k = Key::from;
    let id = store.link(PAIR, &k("a1"), &k("b1")).await.unwrap();
    let row = store
        .link_by_key(PAIR, Side::A, &k("a1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((row.id, row.b_key.clone()), (id, Some(k("b1"))));
    assert_eq!(
        store.link_by_key(PAIR, Side::B, &k("b1")).await.unwrap(),
        Some(row)
    );
    assert_eq!(
        store.link_by_key("other", Side::A, &k("a1")).await.unwrap(),
        None
    );

    let err = store.link(PAIR, &k("a1"), &k("b2")).await.unwrap_err();
    assert!(is_store_error(&err, "already linked"), "{err}");
    let err = store.link(PAIR, &k("a2"), &k("b1")).await.unwrap_err();
    assert!(is_store_error(&err, "already linked"), "{err}");
    // The same keys in another pair are free.
    store.link("other", &k("a1"), &k("b1")).await.unwrap();

    assert!(store.unlink(PAIR, Side::B, &k("b1")).await.unwrap());
    assert!(!store.unlink(PAIR, Side::B, &k("b1")).await.unwrap());
    assert_eq!(
        store.link_by_key(PAIR, Side::A, &k("a1")).await.unwrap(),
        None
    );
    assert!(
        store
            .link_by_key("other", Side::A, &k("a1"))
            .await
            .unwrap()
            .is_some()
    );

    // Disabling an unlinked record keeps a one-sided link; linking it later
    // completes that link and keeps it disabled.
    store
        .set_disabled(PAIR, Side::A, &k("a3"), true)
        .await
        .unwrap();
    let half = store
        .link_by_key(PAIR, Side::A, &k("a3"))
        .await
        .unwrap()
        .unwrap();
    assert!(half.disabled);
    assert_eq!(half.b_key, None);
    let id3 = store.link(PAIR, &k("a3"), &k("b3")).await.unwrap();
    assert_eq!(id3, half.id);
    let full = store
        .link_by_key(PAIR, Side::B, &k("b3"))
        .await
        .unwrap()
        .unwrap();
    assert!(full.disabled);
    assert_eq!(full.a_key, Some(k("a3")));

    // Two one-sided links are joined.
    store
        .set_disabled(PAIR, Side::A, &k("a4"), true)
        .await
        .unwrap();
    store
        .set_disabled(PAIR, Side::B, &k("b4"), true)
        .await
        .unwrap();
    let id4 = store.link(PAIR, &k("a4"), &k("b4")).await.unwrap();
    let joined = store
        .link_by_key(PAIR, Side::B, &k("b4"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (joined.id, joined.a_key.clone(), joined.disabled),
        (id4, Some(k("a4")), true)
    );

    // Enabling a linked record keeps the link; enabling a record that was
    // only disabled removes its one-sided link.
    store
        .set_disabled(PAIR, Side::B, &k("b3"), false)
        .await
        .unwrap();
    let enabled = store
        .link_by_key(PAIR, Side::A, &k("a3"))
        .await
        .unwrap()
        .unwrap();
    assert!(!enabled.disabled);
    store
        .set_disabled(PAIR, Side::B, &k("b5"), true)
        .await
        .unwrap();
    store
        .set_disabled(PAIR, Side::B, &k("b5"), false)
        .await
        .unwrap();
    assert_eq!(
        store.link_by_key(PAIR, Side::B, &k("b5")).await.unwrap(),
        None
    );
    // Enabling a record that was never disabled changes nothing.
    store
        .set_disabled(PAIR, Side::A, &k("a9"), false)
        .await
        .unwrap();

    let links = store.load_links(PAIR).await.unwrap();
    assert_eq!(links.len(), 2);
}

async fn migrations_are_idempotent(url: &str, store: StateStore) {
    let run = store
        .start_run(PAIR, "two_way", "manual", false)
        .await
        .unwrap();
    let mut c = Commit::new(run, PAIR, RunStatus::Completed);
    c.links = vec![insert(Some("1"), Some("b1"), 1)];
    store.commit(c).await.unwrap();
    store.close().await.unwrap();

    for _ in 0..2 {
        let again = StateStore::open(url).await.unwrap();
        assert_eq!(again.load_links(PAIR).await.unwrap().len(), 1);
        assert_eq!(
            again.run(run).await.unwrap().unwrap().status,
            RunStatus::Completed
        );
        again.close().await.unwrap();
    }
}

async fn clear_pair_keeps_history(_url: &str, store: StateStore) {
    for pair in [PAIR, "other"] {
        let run = store
            .start_run(pair, "two_way", "manual", false)
            .await
            .unwrap();
        let mut c = Commit::new(run, pair, RunStatus::Completed);
        c.links = vec![insert(Some("1"), Some("b1"), 1)];
        c.cursors = vec![(Side::B, Some(Cursor(vec![0, 1, 2])))];
        c.conflicts = vec![NewConflict {
            link_id: None,
            conflict: conflict("1"),
            resolution: None,
            resolved_by: None,
            loser: None,
        }];
        store.commit(c).await.unwrap();
    }
    store.clear_pair(PAIR).await.unwrap();
    assert!(store.load_links(PAIR).await.unwrap().is_empty());
    assert_eq!(store.cursor(PAIR, Side::B).await.unwrap(), None);
    assert!(store.conflicts(PAIR, false).await.unwrap().is_empty());
    assert_eq!(store.runs(Some(PAIR), 1, 10).await.unwrap().1, 1);

    assert_eq!(store.load_links("other").await.unwrap().len(), 1);
    assert_eq!(
        store.cursor("other", Side::B).await.unwrap(),
        Some(Cursor(vec![0, 1, 2]))
    );
    assert_eq!(store.conflicts("other", true).await.unwrap().len(), 1);
}

#[tokio::test]
async fn in_memory_sqlite_store() {
    let store = StateStore::open("sqlite::memory:").await.unwrap();
    assert_eq!(store.backend(), "sqlite");
    let run = store
        .start_run(PAIR, "two_way", "manual", true)
        .await
        .unwrap();
    let mut c = Commit::new(run, PAIR, RunStatus::Completed);
    c.links = vec![insert(Some("1"), Some("b1"), 1)];
    store.commit(c).await.unwrap();
    // Concurrent readers share the single connection.
    let (a, b) = tokio::join!(store.load_links(PAIR), store.run(run));
    assert_eq!(a.unwrap().len(), 1);
    assert!(b.unwrap().unwrap().dry_run);
}

#[tokio::test]
async fn open_reports_a_bad_url() {
    let err = StateStore::open("postgres://tandem:s3cret@127.0.0.1:notaport/none")
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with("state store: connecting to"),
        "{message}"
    );
    assert!(!message.contains("s3cret"), "{message}");
}

#[test]
fn database_name_is_replaced() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/tandem_test", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        with_database("postgres://u:p@h/db?sslmode=disable", "x"),
        "postgres://u:p@h/x?sslmode=disable"
    );
    assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
}
