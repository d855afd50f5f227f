//! The engine as users rely on it, on the in-memory reference connector and
//! the SQLite state store (and PostgreSQL when `TANDEM_TEST_PG_URL` is set).

use tandem_core::engine::{
    Category, Choice, Endpoint, Engine, MatchRule, Mode, PairConfig, RunOptions,
};
use tandem_core::memory::MemoryConnector;
use tandem_core::store::{RunStatus, StateStore};
use tandem_core::{Error, Record, ResolverKind, Value};

struct World {
    engine: Engine,
    a: MemoryConnector,
    b: MemoryConnector,
    ea: Endpoint,
    eb: Endpoint,
    pair: PairConfig,
    _dir: tempfile::TempDir,
}

async fn world(mode: Mode, resolver: ResolverKind) -> World {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("tandem.db").display());
    world_on(&url, dir, mode, resolver).await
}

async fn world_on(url: &str, dir: tempfile::TempDir, mode: Mode, resolver: ResolverKind) -> World {
    let store = StateStore::open(url).await.unwrap();
    let config = serde_json::json!({ "entities": { "people": { "key": ["id"] } } });
    let a = MemoryConnector::from_config("a", config.clone()).unwrap();
    let b = MemoryConnector::from_config("b", config).unwrap();
    let mut pair = PairConfig::new("people", "people", "people");
    pair.mode = mode;
    pair.resolver = resolver;
    World {
        engine: Engine::new(store),
        ea: Endpoint::new("a", a.clone()),
        eb: Endpoint::new("b", b.clone()),
        a,
        b,
        pair,
        _dir: dir,
    }
}

fn person(id: u32, name: &str, city: &str) -> Record {
    Record::new(id.to_string())
        .with("id", id.to_string())
        .with("name", name)
        .with("city", city)
}

fn at(secs: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_second(1_700_000_000 + secs).unwrap()
}

impl World {
    async fn run(&self) -> tandem_core::Result<tandem_core::engine::RunReport> {
        self.run_with(RunOptions::new()).await
    }

    async fn run_with(
        &self,
        opts: RunOptions,
    ) -> tandem_core::Result<tandem_core::engine::RunReport> {
        self.engine.run(&self.pair, &self.ea, &self.eb, opts).await
    }

    fn seed_a(&self, n: u32) {
        for i in 1..=n {
            self.a.put("people", person(i, &format!("P{i}"), "Oslo"));
        }
    }

    fn names(&self, c: &MemoryConnector) -> Vec<(String, String)> {
        c.records("people")
            .into_iter()
            .map(|r| {
                (
                    r.key.to_string(),
                    r.get("name").map(|v| v.to_string()).unwrap_or_default(),
                )
            })
            .collect()
    }

    fn field(&self, c: &MemoryConnector, key: &str, field: &str) -> Option<Value> {
        c.get("people", key).and_then(|r| r.get(field).cloned())
    }

    /// Both sides have the same records with the same content.
    fn assert_in_step(&self) {
        let (ra, rb) = (self.a.records("people"), self.b.records("people"));
        assert_eq!(
            ra.len(),
            rb.len(),
            "both sides hold the same number of records"
        );
        for (x, y) in ra.iter().zip(&rb) {
            assert_eq!(x.key, y.key);
            assert!(
                x.same_content(y),
                "record {} differs: {x:?} vs {y:?}",
                x.key
            );
        }
    }
}

#[tokio::test]
async fn one_way_initial_then_incremental_insert_update_delete() {
    let w = world(Mode::Send, ResolverKind::AWins).await;
    w.seed_a(5);
    let r = w.run().await.unwrap();
    assert_eq!(r.status, RunStatus::Completed);
    assert_eq!((r.counts.new, r.counts.created_b), (5, 5));
    w.assert_in_step();

    w.a.put("people", person(6, "P6", "Rome"));
    w.a.put("people", person(2, "Two", "Oslo"));
    w.a.remove("people", "3");
    let r = w.run().await.unwrap();
    assert_eq!(
        (r.counts.created_b, r.counts.updated_b, r.counts.deleted_b),
        (1, 1, 1)
    );
    assert_eq!(r.counts.synchronized, 3, "records 1, 4 and 5 are untouched");
    w.assert_in_step();
    assert_eq!(w.field(&w.b, "2", "name"), Some(Value::from("Two")));

    let r = w.run().await.unwrap();
    assert_eq!(r.counts.synchronized, 5, "nothing left to do");
    assert!(r.plan.is_empty());
}

#[tokio::test]
async fn categories_cover_every_record_exactly_once() {
    let mut w = world(Mode::TwoWay, ResolverKind::Manual).await;
    w.pair.inactive = vec![tandem_core::engine::Condition {
        field: "city".into(),
        op: tandem_core::engine::Op::Eq,
        value: Some("gone".into()),
        values: vec![],
    }];
    w.seed_a(8);
    w.run().await.unwrap();
    w.a.put("people", person(1, "A-edit", "Oslo")); // changed on A
    w.b.put("people", person(2, "B-edit", "Oslo")); // changed on B
    w.a.put("people", person(3, "A3", "Oslo")); // conflict
    w.b.put("people", person(3, "B3", "Oslo"));
    w.a.remove("people", "4"); // deleted
    w.b.put("people", person(9, "New", "Oslo")); // new
    w.a.put("people", person(5, "P5", "gone")); // inactive
    w.engine
        .store()
        .set_disabled("people", tandem_core::store::Side::A, &"6".into(), true)
        .await
        .unwrap();
    let r = w.run().await.unwrap();
    let c = &r.counts;
    assert_eq!(
        (
            c.changed_a,
            c.changed_b,
            c.conflict,
            c.deleted,
            c.new,
            c.inactive,
            c.disabled,
            c.synchronized
        ),
        (1, 1, 1, 1, 1, 1, 1, 2)
    );
    let total: u64 = Category::ALL.iter().map(|cat| cat.count(c)).sum();
    assert_eq!(total, 9, "8 linked records plus one new, each counted once");
}

#[tokio::test]
async fn disjoint_field_edits_merge_without_conflict() {
    let w = world(Mode::TwoWay, ResolverKind::Manual).await;
    w.seed_a(2);
    w.run().await.unwrap();
    w.a.put("people", person(1, "Anna", "Oslo"));
    w.b.put("people", person(1, "P1", "Bergen"));
    let r = w.run().await.unwrap();
    assert_eq!(
        (r.counts.merged, r.counts.conflict, r.pending_conflicts),
        (1, 0, 0)
    );
    for side in [&w.a, &w.b] {
        assert_eq!(w.field(side, "1", "name"), Some(Value::from("Anna")));
        assert_eq!(w.field(side, "1", "city"), Some(Value::from("Bergen")));
    }
}

/// Both sides edit the name of record 1; A's edit is later.
async fn conflicted(resolver: ResolverKind) -> World {
    let w = world(Mode::TwoWay, resolver).await;
    w.seed_a(3);
    w.run().await.unwrap();
    w.b.put("people", person(1, "From B", "Bergen").modified_at(at(10)));
    w.a.put("people", person(1, "From A", "Oslo").modified_at(at(20)));
    w
}

#[tokio::test]
async fn conflict_a_wins() {
    let w = conflicted(ResolverKind::AWins).await;
    let r = w.run().await.unwrap();
    assert_eq!(r.counts.conflict, 1);
    assert_eq!(w.field(&w.b, "1", "name"), Some(Value::from("From A")));
    assert_eq!(w.field(&w.b, "1", "city"), Some(Value::from("Oslo")));
    w.assert_in_step();
    let logged = w.engine.store().conflicts("people", false).await.unwrap();
    assert_eq!(logged.len(), 1);
    let loser = logged[0]
        .loser
        .as_ref()
        .expect("the losing version is recorded");
    assert_eq!(loser.get("name"), Some(&Value::from("From B")));
    assert_eq!(logged[0].resolved_by.as_deref(), Some("a_wins"));
}

#[tokio::test]
async fn conflict_b_wins() {
    let w = conflicted(ResolverKind::BWins).await;
    w.run().await.unwrap();
    assert_eq!(w.field(&w.a, "1", "name"), Some(Value::from("From B")));
    w.assert_in_step();
    let logged = w.engine.store().conflicts("people", false).await.unwrap();
    assert_eq!(
        logged[0].loser.as_ref().unwrap().get("name"),
        Some(&Value::from("From A"))
    );
}

#[tokio::test]
async fn conflict_newest_wins() {
    let w = conflicted(ResolverKind::Newest).await;
    w.run().await.unwrap();
    assert_eq!(
        w.field(&w.b, "1", "name"),
        Some(Value::from("From A")),
        "A's edit is newer"
    );
    w.assert_in_step();
}

#[tokio::test]
async fn conflict_field_merge_keeps_one_sided_edits_and_takes_newer_for_both() {
    let w = world(Mode::TwoWay, ResolverKind::FieldMerge).await;
    w.seed_a(2);
    w.run().await.unwrap();
    // Both edit name; only B edits city.
    w.a.put("people", person(1, "Name A", "Oslo").modified_at(at(5)));
    w.b.put("people", person(1, "Name B", "Bergen").modified_at(at(9)));
    let r = w.run().await.unwrap();
    assert_eq!(r.counts.conflict, 1);
    for side in [&w.a, &w.b] {
        assert_eq!(
            w.field(side, "1", "name"),
            Some(Value::from("Name B")),
            "B is newer for the shared field"
        );
        assert_eq!(w.field(side, "1", "city"), Some(Value::from("Bergen")));
    }
}

#[tokio::test]
async fn conflict_manual_waits_and_is_resolved_later() {
    let w = conflicted(ResolverKind::Manual).await;
    let r = w.run().await.unwrap();
    assert_eq!((r.counts.conflict, r.pending_conflicts), (1, 1));
    assert_eq!(
        w.field(&w.a, "1", "name"),
        Some(Value::from("From A")),
        "nothing applied yet"
    );
    assert_eq!(w.field(&w.b, "1", "name"), Some(Value::from("From B")));
    // Still waiting on the next run, and not queued twice.
    let r = w.run().await.unwrap();
    assert_eq!((r.counts.conflict, r.pending_conflicts), (1, 1));
    let pending = w.engine.store().conflicts("people", true).await.unwrap();
    assert_eq!(pending.len(), 1);

    w.engine
        .resolve(&w.pair, &w.ea, &w.eb, pending[0].id, Choice::TakeB)
        .await
        .unwrap();
    assert_eq!(w.field(&w.a, "1", "name"), Some(Value::from("From B")));
    w.assert_in_step();
    let row = w
        .engine
        .store()
        .conflict(pending[0].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.loser.unwrap().get("name"), Some(&Value::from("From A")));
    let r = w.run().await.unwrap();
    assert_eq!(
        (
            r.counts.conflict,
            r.pending_conflicts,
            r.counts.synchronized
        ),
        (0, 0, 3)
    );
}

#[tokio::test]
async fn manual_conflict_resolved_with_a_merged_record() {
    let w = conflicted(ResolverKind::Manual).await;
    w.run().await.unwrap();
    let id = w.engine.store().conflicts("people", true).await.unwrap()[0].id;
    let merged = person(1, "Merged", "Bergen");
    w.engine
        .resolve(&w.pair, &w.ea, &w.eb, id, Choice::Merged(merged))
        .await
        .unwrap();
    assert_eq!(w.field(&w.a, "1", "name"), Some(Value::from("Merged")));
    w.assert_in_step();
    assert_eq!(w.run().await.unwrap().counts.synchronized, 3);
}

#[tokio::test]
async fn pairing_by_email_links_instead_of_duplicating() {
    let mut w = world(Mode::TwoWay, ResolverKind::AWins).await;
    w.pair.match_rule = MatchRule::Fields(vec!["email".into()]);
    // Each system numbers its own records: the ids are not synced.
    w.pair.fields = Some(vec!["email".into(), "name".into()]);
    w.a.put(
        "people",
        Record::new("a1")
            .with("id", "a1")
            .with("email", "Ann@X.org")
            .with("name", "Ann"),
    );
    w.a.put(
        "people",
        Record::new("a2")
            .with("id", "a2")
            .with("email", "bob@x.org")
            .with("name", "Bob"),
    );
    w.b.put(
        "people",
        Record::new("b7")
            .with("id", "b7")
            .with("email", "ann@x.org")
            .with("name", "Ann"),
    );
    let r = w.run().await.unwrap();
    assert_eq!(r.counts.created_b, 1, "only Bob is created on B");
    assert_eq!(w.b.records("people").len(), 2);
    assert_eq!(
        w.a.records("people").len(),
        2,
        "Ann on B is paired, not copied to A"
    );
    let link = w
        .engine
        .store()
        .link_by_key("people", tandem_core::store::Side::A, &"a1".into())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(link.b_key.unwrap().as_str(), "b7");
    // An edit on B's Ann now flows to A's Ann.
    w.b.put(
        "people",
        Record::new("b7")
            .with("id", "b7")
            .with("email", "ann@x.org")
            .with("name", "Annie"),
    );
    w.run().await.unwrap();
    assert_eq!(w.field(&w.a, "a1", "name"), Some(Value::from("Annie")));
}

#[tokio::test]
async fn mass_delete_is_stopped_by_the_guard_unless_forced() {
    let w = world(Mode::Send, ResolverKind::AWins).await;
    w.seed_a(10);
    w.run().await.unwrap();
    for i in 1..=6 {
        w.a.remove("people", &i.to_string());
    }
    let err = w.run().await.unwrap_err();
    assert!(matches!(err, Error::Guard { .. }), "{err}");
    assert!(err.to_string().contains("max_delete"), "{err}");
    assert_eq!(w.b.records("people").len(), 10, "nothing deleted");
    let (runs, _) = w.engine.store().runs(Some("people"), 1, 10).await.unwrap();
    assert_eq!(
        runs[0].status,
        RunStatus::Error,
        "the refused run is recorded as failed"
    );
    let r = w.run_with(RunOptions::new().force(true)).await.unwrap();
    assert_eq!(r.counts.deleted_b, 6);
    assert_eq!(w.b.records("people").len(), 4);
}

#[tokio::test]
async fn empty_side_guard() {
    let mut w = world(Mode::TwoWay, ResolverKind::AWins).await;
    w.pair.max_delete = 100.0;
    w.seed_a(3);
    w.run().await.unwrap();
    for i in 1..=3 {
        w.b.remove("people", &i.to_string());
    }
    // Read B in full, as a source without cursors would be.
    let err = w
        .run_with(RunOptions::new().mode(Mode::Full))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("empty-side"), "{err}");
    assert_eq!(w.a.records("people").len(), 3);
}

#[tokio::test]
async fn dry_run_changes_nothing() {
    let w = world(Mode::TwoWay, ResolverKind::AWins).await;
    w.seed_a(4);
    let r = w.run_with(RunOptions::new().dry_run(true)).await.unwrap();
    assert!(r.dry_run && r.run_id.is_none());
    assert_eq!(r.plan.len(), 4, "the plan lists the four creates");
    assert!(w.b.records("people").is_empty());
    let (runs, total) = w.engine.store().runs(None, 1, 10).await.unwrap();
    assert_eq!((runs.len(), total), (0, 0));
    assert!(
        w.engine
            .store()
            .load_links("people")
            .await
            .unwrap()
            .is_empty()
    );
    // The real run then does what the plan said.
    let r = w.run().await.unwrap();
    assert_eq!(r.counts.created_b, 4);
}

#[tokio::test]
async fn failing_target_leaves_it_as_before_and_next_run_completes() {
    let mut w = world(Mode::Send, ResolverKind::AWins).await;
    w.pair.batch_size = 10;
    w.seed_a(100);
    w.run().await.unwrap();
    for i in 1..=30 {
        w.a.put("people", person(i, "edited", "Oslo"));
    }
    for i in 101..=150 {
        w.a.put("people", person(i, "new", "Oslo"));
    }
    let before = w.names(&w.b);
    w.b.fail_after(Some(25));
    let err = w.run().await.unwrap_err();
    assert!(err.to_string().contains("injected failure"), "{err}");
    assert_eq!(w.names(&w.b), before, "the target is as before");
    let (runs, _) = w.engine.store().runs(Some("people"), 1, 1).await.unwrap();
    assert_eq!(runs[0].status, RunStatus::Error);
    assert!(!runs[0].errors.is_empty());

    w.b.fail_after(None);
    let r = w.run().await.unwrap();
    assert_eq!((r.counts.updated_b, r.counts.created_b), (30, 50));
    w.assert_in_step();
    assert_eq!(
        w.b.records("people").len(),
        150,
        "nothing lost or duplicated"
    );
    assert_eq!(w.run().await.unwrap().counts.synchronized, 150);
}

#[tokio::test]
async fn receive_refuses_to_discard_unsent_changes_without_force() {
    let w = world(Mode::TwoWay, ResolverKind::AWins).await;
    w.seed_a(3);
    w.run().await.unwrap();
    w.a.put("people", person(1, "local edit", "Oslo"));
    w.b.put("people", person(2, "remote edit", "Oslo"));
    let err = w
        .run_with(RunOptions::new().mode(Mode::Receive))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Guard { .. }) && err.to_string().contains("unsent"),
        "{err}"
    );
    assert_eq!(
        w.field(&w.a, "2", "name"),
        Some(Value::from("P2")),
        "nothing received"
    );
    w.run_with(RunOptions::new().mode(Mode::Receive).force(true))
        .await
        .unwrap();
    assert_eq!(
        w.field(&w.a, "1", "name"),
        Some(Value::from("P1")),
        "the local edit is replaced by B's"
    );
    assert_eq!(w.field(&w.a, "2", "name"), Some(Value::from("remote edit")));
    w.assert_in_step();
}

#[tokio::test]
async fn two_way_moves_inserts_updates_and_deletes_both_ways() {
    let w = world(Mode::TwoWay, ResolverKind::Manual).await;
    w.seed_a(6);
    w.run().await.unwrap();
    w.b.put("people", person(7, "B7", "Oslo"));
    w.b.remove("people", "1");
    w.a.remove("people", "2");
    w.b.put("people", person(3, "B3", "Oslo"));
    w.a.put("people", person(4, "A4", "Oslo"));
    let r = w.run().await.unwrap();
    assert_eq!(
        (
            r.counts.new,
            r.counts.deleted,
            r.counts.changed_a,
            r.counts.changed_b
        ),
        (1, 2, 1, 1)
    );
    w.assert_in_step();
    assert_eq!(w.a.records("people").len(), 5);
}

#[tokio::test]
async fn state_store_on_postgres() {
    let Ok(url) = std::env::var("TANDEM_TEST_PG_URL") else {
        eprintln!("skipping PostgreSQL engine test: TANDEM_TEST_PG_URL is not set");
        return;
    };
    let db = format!("tandem_engine_{}", std::process::id());
    let admin = sqlx_admin(&url, &db).await;
    let w = world_on(
        &admin,
        tempfile::tempdir().unwrap(),
        Mode::TwoWay,
        ResolverKind::Manual,
    )
    .await;
    w.seed_a(20);
    w.run().await.unwrap();
    w.a.put("people", person(1, "A", "Oslo"));
    w.b.put("people", person(1, "B", "Oslo"));
    w.b.put("people", person(2, "B2", "Oslo"));
    let r = w.run().await.unwrap();
    assert_eq!(
        (r.counts.conflict, r.counts.changed_b, r.pending_conflicts),
        (1, 1, 1)
    );
    let id = w.engine.store().conflicts("people", true).await.unwrap()[0].id;
    w.engine
        .resolve(&w.pair, &w.ea, &w.eb, id, Choice::TakeA)
        .await
        .unwrap();
    w.assert_in_step();
    assert_eq!(w.run().await.unwrap().counts.synchronized, 20);
}

/// Creates a fresh database on the server of `url` and returns its URL.
async fn sqlx_admin(url: &str, db: &str) -> String {
    use sea_orm::{ConnectionTrait, Database};
    let conn = Database::connect(url)
        .await
        .expect("connect to TANDEM_TEST_PG_URL");
    let _ = conn
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {db}"))
        .await;
    conn.execute_unprepared(&format!("CREATE DATABASE {db}"))
        .await
        .unwrap();
    let base = url.rsplit_once('/').map(|(b, _)| b).unwrap_or(url);
    format!("{base}/{db}")
}

#[tokio::test]
async fn paired_records_that_differ_wait_as_a_conflict_and_resolve() {
    let mut w = world(Mode::TwoWay, ResolverKind::Manual).await;
    w.pair.match_rule = MatchRule::Fields(vec!["email".into()]);
    w.pair.fields = Some(vec!["email".into(), "name".into()]);
    w.a.put(
        "people",
        Record::new("a1")
            .with("id", "a1")
            .with("email", "ann@x.org")
            .with("name", "Ann"),
    );
    w.b.put(
        "people",
        Record::new("b1")
            .with("id", "b1")
            .with("email", "ann@x.org")
            .with("name", "Anne"),
    );
    let r = w.run().await.unwrap();
    assert_eq!((r.counts.conflict, r.pending_conflicts), (1, 1));
    let pending = w.engine.store().conflicts("people", true).await.unwrap();
    assert_eq!(pending.len(), 1);
    w.engine
        .resolve(&w.pair, &w.ea, &w.eb, pending[0].id, Choice::TakeA)
        .await
        .unwrap();
    assert_eq!(w.field(&w.b, "b1", "name"), Some(Value::from("Ann")));
    let r = w.run().await.unwrap();
    assert_eq!(
        (
            r.counts.conflict,
            r.counts.synchronized,
            r.pending_conflicts
        ),
        (0, 1, 0)
    );
    assert_eq!(w.b.records("people").len(), 1, "no duplicate created");
}

#[tokio::test]
async fn a_large_batch_is_journaled_within_the_bind_limit() {
    let mut w = world(Mode::Send, ResolverKind::AWins).await;
    w.pair.batch_size = 6000;
    w.seed_a(6000);
    w.run().await.unwrap();
    for i in 1..=6000 {
        w.a.put("people", person(i, "edited", "Oslo"));
    }
    let r = w.run().await.unwrap();
    assert_eq!(r.counts.updated_b, 6000);
    let journal = w.engine.store().journal(r.run_id.unwrap()).await.unwrap();
    assert_eq!(journal.len(), 6000);
    assert!(
        journal
            .iter()
            .all(|e| e.before.is_some() && e.link.is_some())
    );
}

#[tokio::test]
async fn links_kept_in_the_snapshot_alone_serve_runs_changes_by_hand_and_undo() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("tandem.db").display());
    let mut w = world_on(&url, dir, Mode::Send, ResolverKind::AWins).await;
    // Every commit that can leaves the links table behind its snapshot.
    let store = StateStore::open(&url)
        .await
        .unwrap()
        .defer_link_table_from(0);
    w.engine = Engine::new(store);
    w.seed_a(5);
    w.run().await.unwrap();
    w.assert_in_step();

    w.a.put("people", person(2, "Two", "Oslo"));
    w.a.remove("people", "3");
    w.a.put("people", person(6, "P6", "Rome"));
    let r = w.run().await.unwrap();
    assert_eq!(
        (r.counts.created_b, r.counts.updated_b, r.counts.deleted_b),
        (1, 1, 1)
    );
    w.assert_in_step();

    // A change by hand sees the links the runs made.
    w.engine
        .store()
        .set_disabled("people", tandem_core::store::Side::A, &"4".into(), true)
        .await
        .unwrap();
    w.a.put("people", person(4, "Four", "Oslo"));
    w.a.put("people", person(5, "Five", "Oslo"));
    let r = w.run().await.unwrap();
    assert_eq!((r.counts.disabled, r.counts.updated_b), (1, 1));
    assert_eq!(w.field(&w.b, "4", "name"), Some(Value::from("P4")));
    assert_eq!(w.field(&w.b, "5", "name"), Some(Value::from("Five")));

    // Undoing that run puts record 5 back, and the next run sends it again.
    let undone = r.run_id.unwrap();
    w.engine
        .undo(&w.pair, &w.ea, &w.eb, undone, false)
        .await
        .unwrap();
    assert_eq!(w.field(&w.b, "5", "name"), Some(Value::from("P5")));
    let r = w.run().await.unwrap();
    assert_eq!(r.counts.updated_b, 1);
    assert_eq!(w.field(&w.b, "5", "name"), Some(Value::from("Five")));
    assert_eq!(w.field(&w.b, "4", "name"), Some(Value::from("P4")));
}
