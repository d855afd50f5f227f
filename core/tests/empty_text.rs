//! An empty text and a null are one value to a sync: a side that cannot
//! tell them apart (a CSV file holds both as an empty cell) and one that
//! can (SQL) find nothing changed after a sync, write nothing, and the side
//! that can keeps its empty texts and its nulls as they were.

use async_trait::async_trait;
use tandem_core::engine::{Endpoint, Engine, Mode, PairConfig, RunOptions};
use tandem_core::memory::MemoryConnector;
use tandem_core::store::{RunCounts, StateStore};
use tandem_core::{
    Applied, BatchStream, Capabilities, Change, Cursor, EntitySchema, Key, ReadRequest, Record,
    ResolverKind, Result, Source, Target, Transaction, Value,
};

/// The memory connector as a CSV file keeps values: an empty text is
/// stored as an empty cell, and an empty cell reads as null.
#[derive(Clone)]
struct Cells(MemoryConnector);

#[async_trait]
impl Source for Cells {
    fn capabilities(&self) -> Capabilities {
        Source::capabilities(&self.0)
    }

    async fn entities(&self) -> Result<Vec<EntitySchema>> {
        self.0.entities().await
    }

    async fn read(&self, request: ReadRequest) -> Result<BatchStream> {
        self.0.read(request).await
    }

    async fn after_write(
        &self,
        entity: &str,
        cursor: Cursor,
        written: Option<&[Key]>,
    ) -> Result<Option<Cursor>> {
        self.0.after_write(entity, cursor, written).await
    }
}

#[async_trait]
impl Target for Cells {
    fn capabilities(&self) -> Capabilities {
        Target::capabilities(&self.0)
    }

    async fn begin(&self, entity: &str) -> Result<Box<dyn Transaction>> {
        Ok(Box::new(CellsTransaction(self.0.begin(entity).await?)))
    }

    async fn fetch(&self, entity: &str, keys: &[Key]) -> Result<Vec<Record>> {
        self.0.fetch(entity, keys).await
    }
}

struct CellsTransaction(Box<dyn Transaction>);

#[async_trait]
impl Transaction for CellsTransaction {
    async fn apply(&mut self, mut changes: Vec<Change>) -> Result<Vec<Applied>> {
        for change in &mut changes {
            if let Change::Upsert(r) = change {
                for (_, v) in &mut r.fields {
                    if matches!(v, Value::Text(s) if s.is_empty()) {
                        *v = Value::Null;
                    }
                }
            }
        }
        self.0.apply(changes).await
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        self.0.commit().await
    }

    async fn rollback(self: Box<Self>) -> Result<()> {
        self.0.rollback().await
    }
}

fn writes(c: &RunCounts) -> [u64; 6] {
    [
        c.created_a,
        c.updated_a,
        c.deleted_a,
        c.created_b,
        c.updated_b,
        c.deleted_b,
    ]
}

#[tokio::test]
async fn a_sync_after_a_sync_writes_nothing_and_empty_text_stays_empty() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("tandem.db").display());
    let engine = Engine::new(StateStore::open(&url).await.unwrap());
    let config = serde_json::json!({ "entities": { "people": { "key": ["id"] } } });
    let csv = MemoryConnector::from_config("csv", config.clone()).unwrap();
    let sql = MemoryConnector::from_config("sql", config).unwrap();
    let row = |id: &str, name: Value, city: &str| {
        Record::new(id)
            .with("id", id)
            .with("name", name)
            .with("city", city)
    };
    csv.put("people", row("1", "Ann".into(), "x"));
    sql.put("people", row("1", "Ann".into(), "x"));
    sql.put("people", row("2", "".into(), "y"));
    sql.put("people", row("3", Value::Null, "z"));
    let (a, b) = (
        Endpoint::new("csv", Cells(csv.clone())),
        Endpoint::new("sql", sql.clone()),
    );
    let mut pair = PairConfig::new("people", "people", "people");
    pair.mode = Mode::TwoWay;
    pair.resolver = ResolverKind::AWins;
    pair.max_delete = 100.0;

    let first = engine.run(&pair, &a, &b, RunOptions::new()).await.unwrap();
    assert_eq!(
        writes(&first.counts),
        [2, 0, 0, 0, 0, 0],
        "{:?}",
        first.counts
    );
    assert_eq!(
        csv.get("people", "2").and_then(|r| r.get("name").cloned()),
        Some(Value::Null),
        "the CSV side holds the empty text as an empty cell"
    );
    for run in 2..=3 {
        let again = engine.run(&pair, &a, &b, RunOptions::new()).await.unwrap();
        let c = &again.counts;
        assert_eq!(
            (writes(c), c.changed_a, c.changed_b, c.synchronized),
            ([0; 6], 0, 0, 3),
            "run {run}: a sync right after a sync writes nothing: {c:?}"
        );
    }
    let name = |key: &str| sql.get("people", key).and_then(|r| r.get("name").cloned());
    assert_eq!(name("2"), Some(Value::from("")), "the empty text stays");
    assert_eq!(name("3"), Some(Value::Null), "the null stays");

    // A real change of another field still travels, and the empty text
    // and the null compare as the same value in it.
    csv.put("people", row("2", Value::Null, "y2"));
    let edited = engine.run(&pair, &a, &b, RunOptions::new()).await.unwrap();
    assert_eq!(
        writes(&edited.counts),
        [0, 0, 0, 0, 1, 0],
        "{:?}",
        edited.counts
    );
    let again = engine.run(&pair, &a, &b, RunOptions::new()).await.unwrap();
    assert_eq!(writes(&again.counts), [0; 6], "{:?}", again.counts);
}

#[test]
fn empty_text_null_and_an_absent_field_are_the_same_content() {
    let base = Record::new("1").with("id", "1").with("city", "x");
    let variants = [
        base.clone(),
        base.clone().with("name", ""),
        base.clone().with("name", Value::Null),
        base.clone().with("name", Value::Bytes(Vec::new())),
    ];
    for x in &variants {
        for y in &variants {
            assert_eq!(x.content_hash(), y.content_hash(), "{x:?} vs {y:?}");
            assert!(x.same_content(y), "{x:?} vs {y:?}");
        }
        let filled = base.clone().with("name", " ");
        assert_ne!(x.content_hash(), filled.content_hash(), "{x:?}");
        assert!(!x.same_content(&filled) && !filled.same_content(x), "{x:?}");
    }
    assert!(Value::Null.same_content(&Value::from("")));
    assert!(!Value::Null.same_content(&Value::from("0")));
    assert!(!Value::Null.same_content(&Value::Int(0)));
}
