//! Loss paths a sync must never take: each test is a reproduction of a way
//! records were lost or overwritten, kept so that it stays closed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::StreamExt;
use tandem_core::engine::{Endpoint, Engine, Mode, PairConfig, RunOptions, RunReport};
use tandem_core::memory::MemoryConnector;
use tandem_core::store::{RunStatus, StateStore};
use tandem_core::{
    BatchStream, Capabilities, EntitySchema, ReadRequest, Record, RecordError, ResolverKind,
    Source, Value,
};

/// A memory side whose read rejects some records, as a file read with
/// `on_bad_record = "skip"` does: by key, naming the key or not.
#[derive(Clone)]
struct Rejecting {
    inner: MemoryConnector,
    /// Key → whether the rejected row's key could be read.
    bad: Arc<Mutex<HashMap<String, bool>>>,
}

#[async_trait]
impl Source for Rejecting {
    fn capabilities(&self) -> Capabilities {
        Source::capabilities(&self.inner)
    }

    async fn entities(&self) -> tandem_core::Result<Vec<EntitySchema>> {
        self.inner.entities().await
    }

    async fn read(&self, request: ReadRequest) -> tandem_core::Result<BatchStream> {
        let bad = self.bad.lock().unwrap().clone();
        let stream = self.inner.read(request).await?;
        Ok(Box::pin(stream.map(move |batch| {
            let mut batch = batch?;
            let mut rejected = Vec::new();
            batch.changes.retain(|c| {
                let key = c.key().to_string();
                match bad.get(&key) {
                    Some(&readable) => {
                        rejected.push(RecordError {
                            location: format!("people.csv:{key}"),
                            key: readable.then_some(key),
                            message: "row has 2 fields, the header 3".into(),
                        });
                        false
                    }
                    None => true,
                }
            });
            batch.rejected.extend(rejected);
            Ok(batch)
        })))
    }
}

struct World {
    engine: Engine,
    a: MemoryConnector,
    b: MemoryConnector,
    a_bad: Arc<Mutex<HashMap<String, bool>>>,
    b_bad: Arc<Mutex<HashMap<String, bool>>>,
    ea: Endpoint,
    eb: Endpoint,
    pair: PairConfig,
    _dir: tempfile::TempDir,
}

fn side(name: &str) -> (MemoryConnector, Arc<Mutex<HashMap<String, bool>>>, Endpoint) {
    let config = serde_json::json!({ "entities": { "people": { "key": ["id"] } } });
    let inner = MemoryConnector::from_config(name, config).unwrap();
    let bad = Arc::new(Mutex::new(HashMap::new()));
    let source = Rejecting {
        inner: inner.clone(),
        bad: bad.clone(),
    };
    let endpoint = Endpoint {
        name: name.into(),
        source: Arc::new(source),
        target: Some(Arc::new(inner.clone())),
    };
    (inner, bad, endpoint)
}

async fn world(mode: Mode, resolver: ResolverKind) -> World {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("tandem.db").display());
    let store = StateStore::open(&url).await.unwrap();
    let (a, a_bad, ea) = side("a");
    let (b, b_bad, eb) = side("b");
    let mut pair = PairConfig::new("people", "people", "people");
    pair.mode = mode;
    pair.resolver = resolver;
    pair.max_delete = 100.0;
    World {
        engine: Engine::new(store),
        a,
        b,
        a_bad,
        b_bad,
        ea,
        eb,
        pair,
        _dir: dir,
    }
}

fn person(id: &str, name: &str, city: &str) -> Record {
    Record::new(id)
        .with("id", id)
        .with("name", name)
        .with("city", city)
}

impl World {
    async fn run(&self) -> tandem_core::Result<RunReport> {
        self.engine
            .run(&self.pair, &self.ea, &self.eb, RunOptions::new())
            .await
    }

    fn city(&self, c: &MemoryConnector, key: &str) -> Option<String> {
        c.get("people", key)
            .and_then(|r| r.get("city").map(Value::to_string))
    }

    fn keys(&self, c: &MemoryConnector) -> Vec<String> {
        c.records("people")
            .into_iter()
            .map(|r| r.key.to_string())
            .collect()
    }
}

/// Issue: a conflict left for a person by a first two-way run (no base:
/// the two records were paired that run) was overwritten by the next run.
#[tokio::test]
async fn a_pending_conflict_without_a_base_holds_both_sides() {
    let w = world(Mode::TwoWay, ResolverKind::Manual).await;
    w.a.put("people", person("1", "Ann", "Rome"));
    w.a.put("people", person("2", "Bob", "Oslo"));
    w.b.put("people", person("1", "Ann", "Naples"));
    w.b.put("people", person("3", "Cy", "Lyon"));
    let r = w.run().await.unwrap();
    assert_eq!(r.counts.conflict, 1);
    assert_eq!(r.pending_conflicts, 1);
    for round in 0..3 {
        let r = w.run().await.unwrap();
        assert_eq!(w.city(&w.a, "1").as_deref(), Some("Rome"), "round {round}");
        assert_eq!(
            w.city(&w.b, "1").as_deref(),
            Some("Naples"),
            "round {round}"
        );
        assert_eq!(r.counts.changed_a + r.counts.changed_b, 0, "round {round}");
        assert_eq!(r.pending_conflicts, 1, "round {round}");
    }
    // An edit on one side is held too.
    w.b.put("people", person("1", "Ann", "Milan"));
    w.run().await.unwrap();
    assert_eq!(w.city(&w.a, "1").as_deref(), Some("Rome"));
    // Both sides come to hold the same: the conflict closes by itself.
    w.a.put("people", person("1", "Ann", "Milan"));
    let r = w.run().await.unwrap();
    assert_eq!(r.pending_conflicts, 0);
    let pending = w.engine.store().conflicts("people", true).await.unwrap();
    assert!(pending.is_empty(), "{pending:?}");
}

/// The same with a base: both sides changed a synced record.
#[tokio::test]
async fn a_pending_conflict_with_a_base_holds_both_sides() {
    let w = world(Mode::TwoWay, ResolverKind::Manual).await;
    w.a.put("people", person("1", "Ann", "Rome"));
    w.run().await.unwrap();
    w.a.put("people", person("1", "Ann", "Turin"));
    w.b.put("people", person("1", "Ann", "Naples"));
    let r = w.run().await.unwrap();
    assert_eq!(r.pending_conflicts, 1);
    w.b.put("people", person("1", "Ann", "Bari"));
    for _ in 0..2 {
        w.run().await.unwrap();
        assert_eq!(w.city(&w.a, "1").as_deref(), Some("Turin"));
        assert_eq!(w.city(&w.b, "1").as_deref(), Some("Bari"));
    }
}

/// Issue: with `on_bad_record = "skip"`, a ragged row deleted its record on
/// the other side.
#[tokio::test]
async fn a_rejected_row_with_a_key_is_held_on_the_other_side() {
    let w = world(Mode::Send, ResolverKind::AWins).await;
    w.a.put("people", person("1", "a", "x"));
    w.a.put("people", person("2", "b", "x"));
    w.run().await.unwrap();
    assert_eq!(w.keys(&w.b), ["1", "2"]);
    // Row 2 is edited into one that cannot be read.
    w.a.put("people", person("2", "b", "ragged"));
    w.a.put("people", person("3", "c", "x"));
    w.a_bad.lock().unwrap().insert("2".into(), true);
    let r = w.run().await.unwrap();
    assert_eq!(w.keys(&w.b), ["1", "2", "3"], "record 2 is held on B");
    assert_eq!(r.status, RunStatus::Partial);
    assert_eq!(r.counts.rejected, 1);
    assert_eq!(r.counts.deleted_b, 0);
    assert_eq!(r.errors[0].key.as_deref(), Some("2"));
    // Tried again next run: once readable, its change travels.
    w.a.put("people", person("2", "b2", "x"));
    w.a_bad.lock().unwrap().clear();
    let r = w.run().await.unwrap();
    assert_eq!(r.status, RunStatus::Completed);
    let b2 = w.b.get("people", "2").unwrap();
    assert_eq!(b2.get("name"), Some(&Value::from("b2")));
}

/// Two-way on a full read: a rejected row is not taken as deleted, and the
/// other side's change to it waits.
#[tokio::test]
async fn a_rejected_row_is_neither_deleted_nor_overwritten_two_way() {
    let w = world(Mode::Full, ResolverKind::BWins).await;
    w.a.put("people", person("1", "a", "x"));
    w.a.put("people", person("2", "b", "x"));
    w.run().await.unwrap();
    w.a_bad.lock().unwrap().insert("2".into(), true);
    w.b.put("people", person("2", "b", "changed on b"));
    let r = w.run().await.unwrap();
    assert_eq!(r.status, RunStatus::Partial);
    assert_eq!(w.keys(&w.a), ["1", "2"]);
    assert_eq!(w.keys(&w.b), ["1", "2"]);
    assert_eq!(w.city(&w.a, "2").as_deref(), Some("x"), "A's row is held");
    // An unlinked record rejected on A is not copied over from B.
    w.b.put("people", person("9", "n", "from b"));
    w.a.put("people", person("9", "n", "from a"));
    w.a_bad.lock().unwrap().insert("9".into(), true);
    w.run().await.unwrap();
    assert_eq!(w.city(&w.a, "9").as_deref(), Some("from a"));
}

/// A rejected row whose key cannot be read: no delete is inferred at all.
#[tokio::test]
async fn a_rejected_row_without_a_key_infers_no_deletes() {
    let w = world(Mode::Full, ResolverKind::AWins).await;
    for k in ["1", "2", "3"] {
        w.b.put("people", person(k, "n", "x"));
    }
    w.run().await.unwrap();
    assert_eq!(w.keys(&w.a), ["1", "2", "3"]);
    w.b_bad.lock().unwrap().insert("2".into(), false);
    let r = w.run().await.unwrap();
    assert_eq!(w.keys(&w.a), ["1", "2", "3"]);
    assert_eq!(r.counts.deleted_a, 0);
    assert_eq!(r.status, RunStatus::Partial);
    assert!(
        r.errors
            .iter()
            .any(|e| e.message.contains("inferred no deletes")),
        "{:?}",
        r.errors
    );
    // A real delete on the readable side still travels.
    w.b_bad.lock().unwrap().clear();
    w.b.remove("people", "3");
    let r = w.run().await.unwrap();
    assert_eq!(r.counts.deleted_a, 1);
    assert_eq!(w.keys(&w.a), ["1", "2"]);
}

/// Issue: when a delete won a conflict, recording the conflict failed on
/// its link's foreign key, after the delete had been applied: the losing
/// version was lost.
#[tokio::test]
async fn a_delete_that_wins_a_conflict_keeps_the_loser() {
    for (resolver, delete_on) in [
        (ResolverKind::AWins, 'a'),
        (ResolverKind::BWins, 'b'),
        (ResolverKind::AWins, 'b'),
        (ResolverKind::BWins, 'a'),
    ] {
        let w = world(Mode::TwoWay, resolver).await;
        for (k, n) in [("1", "Ann"), ("2", "Bob"), ("3", "Cy")] {
            w.a.put("people", person(k, n, "x"));
        }
        w.run().await.unwrap();
        let (deleter, editor) = match delete_on {
            'a' => (&w.a, &w.b),
            _ => (&w.b, &w.a),
        };
        deleter.remove("people", "2");
        editor.put("people", person("2", "Bobby", "x"));
        let r = w.run().await.unwrap();
        assert_eq!(r.status, RunStatus::Completed, "{resolver:?} {delete_on}");
        let delete_wins = matches!(
            (resolver, delete_on),
            (ResolverKind::AWins, 'a') | (ResolverKind::BWins, 'b')
        );
        let resolved = w.engine.store().conflicts("people", false).await.unwrap();
        assert_eq!(resolved.len(), 1, "{resolver:?} {delete_on}");
        if delete_wins {
            assert_eq!(w.keys(&w.a), ["1", "3"]);
            assert_eq!(w.keys(&w.b), ["1", "3"]);
            let loser = resolved[0].loser.as_ref().expect("the loser is kept");
            assert_eq!(loser.get("name"), Some(&Value::from("Bobby")));
        } else {
            assert_eq!(w.keys(&w.a), ["1", "2", "3"]);
            assert_eq!(w.keys(&w.b), ["1", "2", "3"]);
        }
        let again = w.run().await.unwrap();
        assert_eq!(again.counts.conflict, 0, "{resolver:?} {delete_on}");
    }
}

/// Issue: a failed run counted writes its target rolled back.
#[tokio::test]
async fn a_failed_run_counts_only_what_stayed_written() {
    let mut w = world(Mode::Send, ResolverKind::AWins).await;
    w.pair.batch_size = 10;
    for i in 0..100 {
        w.a.put("people", person(&format!("k{i:03}"), "n", "x"));
    }
    w.b.fail_after(Some(55));
    let err = w.run().await.unwrap_err();
    assert!(err.to_string().contains("injected failure"), "{err}");
    assert!(w.keys(&w.b).is_empty(), "the target rolled back");
    let (runs, _) = w.engine.store().runs(Some("people"), 1, 10).await.unwrap();
    let run = &runs[0];
    assert_eq!(run.status, RunStatus::Error);
    assert_eq!(run.counts.created_b, 0, "{:?}", run.counts);
}

/// Issue: a send pair whose target entity was dropped reported
/// "synchronized", and later recreated it holding only the changed rows.
#[tokio::test]
async fn a_send_target_that_lost_its_records_fails_or_is_reloaded() {
    let w = world(Mode::Send, ResolverKind::AWins).await;
    for i in 0..20 {
        w.a.put("people", person(&format!("k{i:02}"), "n", "x"));
    }
    w.run().await.unwrap();
    assert_eq!(w.keys(&w.b).len(), 20);
    for k in w.keys(&w.b) {
        w.b.remove("people", &k);
    }
    let err = w.run().await.unwrap_err();
    assert!(
        err.to_string()
            .contains("no longer holds the records synced to it"),
        "{err}"
    );
    // A change on A does not slip a few records into the emptied target.
    w.a.put("people", person("k03", "changed", "x"));
    assert!(w.run().await.is_err());
    assert!(w.keys(&w.b).is_empty());
    // With force, every record of A is sent again.
    let r = w
        .engine
        .run(&w.pair, &w.ea, &w.eb, RunOptions::new().force(true))
        .await
        .unwrap();
    assert_eq!(w.keys(&w.b).len(), 20, "{:?}", r.counts);
    let k03 = w.b.get("people", "k03").unwrap();
    assert_eq!(k03.get("name"), Some(&Value::from("changed")));
    let again = w.run().await.unwrap();
    assert_eq!(again.counts.updated_b + again.counts.created_b, 0);
}

/// Found by the model harness: a send matched by key does not read B, so
/// a record it wrote over an unlinked record of B was journaled as new, and
/// undoing the run deleted B's record instead of putting it back.
#[tokio::test]
async fn undoing_a_send_puts_back_what_it_wrote_over() {
    for first_load in [true, false] {
        let w = world(Mode::Send, ResolverKind::AWins).await;
        if !first_load {
            w.a.put("people", person("0", "synced", "x"));
            w.run().await.unwrap();
        }
        w.b.put("people", person("1", "B's own", "kept"));
        w.a.put("people", person("1", "from A", "x"));
        let r = w.run().await.unwrap();
        assert_eq!(w.city(&w.b, "1").as_deref(), Some("x"));
        w.engine
            .undo(&w.pair, &w.ea, &w.eb, r.run_id.unwrap(), false)
            .await
            .unwrap();
        assert_eq!(
            w.city(&w.b, "1").as_deref(),
            Some("kept"),
            "first load {first_load}: B's record is put back"
        );
    }
}

/// Found by the model harness: a send that read B (matched by email) moved
/// B's cursor past B's own changes, which a send leaves alone; a later
/// two-way run never saw them.
#[tokio::test]
async fn a_send_leaves_b_changes_for_a_later_two_way_run() {
    let mut w = world(Mode::TwoWay, ResolverKind::AWins).await;
    w.pair.match_rule = tandem_core::engine::MatchRule::Fields(vec!["name".into()]);
    w.a.put("people", person("1", "ann", "x"));
    w.run().await.unwrap();
    w.b.put("people", person("9", "bob", "only on b"));
    w.b.put("people", person("1", "ann", "changed on b"));
    let send = w
        .engine
        .run(&w.pair, &w.ea, &w.eb, RunOptions::new().mode(Mode::Send))
        .await
        .unwrap();
    assert_eq!(send.counts.created_a, 0);
    w.run().await.unwrap();
    assert_eq!(w.city(&w.a, "9").as_deref(), Some("only on b"));
    assert_eq!(w.city(&w.a, "1").as_deref(), Some("changed on b"));
}

/// Found by the model harness: an undo put a link's hashes back but kept
/// the undone run's base record; the next merge then took A's undone edit
/// for a change of B's and lost it.
#[tokio::test]
async fn a_merge_after_an_undo_uses_the_base_from_before_the_run() {
    let w = world(Mode::TwoWay, ResolverKind::Manual).await;
    w.a.put("people", person("1", "ann", "rome"));
    w.run().await.unwrap();
    w.a.put("people", person("1", "ann", "milan"));
    let r = w.run().await.unwrap();
    assert_eq!(w.city(&w.b, "1").as_deref(), Some("milan"));
    w.engine
        .undo(&w.pair, &w.ea, &w.eb, r.run_id.unwrap(), false)
        .await
        .unwrap();
    assert_eq!(w.city(&w.b, "1").as_deref(), Some("rome"));
    // A still holds its edit; B now edits another field: they merge.
    w.b.put("people", person("1", "bob", "rome"));
    w.run().await.unwrap();
    for side in [&w.a, &w.b] {
        let r = side.get("people", "1").unwrap();
        assert_eq!(r.get("name"), Some(&Value::from("bob")));
        assert_eq!(r.get("city"), Some(&Value::from("milan")), "A's edit kept");
    }
}

/// Found by the model harness: a one-way run of a two-way pair kept no
/// base record, so edits of different fields on the two sides afterwards
/// were a conflict instead of a merge.
#[tokio::test]
async fn a_one_way_run_of_a_two_way_pair_keeps_bases_for_merges() {
    let w = world(Mode::TwoWay, ResolverKind::Manual).await;
    w.a.put("people", person("1", "ann", "rome"));
    w.engine
        .run(&w.pair, &w.ea, &w.eb, RunOptions::new().mode(Mode::Send))
        .await
        .unwrap();
    w.a.put("people", person("1", "ann", "milan"));
    w.b.put("people", person("1", "bob", "rome"));
    let r = w.run().await.unwrap();
    assert_eq!(
        (r.counts.merged, r.counts.conflict),
        (1, 0),
        "{:?}",
        r.counts
    );
    for side in [&w.a, &w.b] {
        assert_eq!(w.city(side, "1").as_deref(), Some("milan"));
    }
}
