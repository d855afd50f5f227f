//! Files through the engine (an in-memory state store): an edit a user
//! makes to a row Tandem wrote in the run before, deleting it or putting
//! back the value Tandem replaced, reaches the other side like any other.
//! The engine keeps, for a file it wrote, the cursor its source gives
//! after the writes (`Source::after_write`), not the cursor of its read,
//! which saw the file before the run wrote it.

mod common;

use common::Dir;
use serde_json::json;
use tandem_connector_file::FileConnector;
use tandem_core::engine::{Endpoint, Engine, PairConfig, RunOptions, RunReport};
use tandem_core::memory::MemoryConnector;
use tandem_core::store::{RunCounts, StateStore};
use tandem_core::{Record, Value};

/// A two-way pair of entity `people` between side A and side B.
struct World {
    engine: Engine,
    pair: PairConfig,
    a: Endpoint,
    b: Endpoint,
}

impl World {
    async fn new(a: Endpoint, b: Endpoint) -> World {
        let engine = Engine::new(StateStore::open("sqlite::memory:").await.unwrap());
        let mut pair = PairConfig::new("people", "people", "people");
        pair.resolver = tandem_core::ResolverKind::AWins;
        pair.max_delete = 100.0;
        World { engine, pair, a, b }
    }

    async fn sync(&self) -> RunReport {
        let report = self
            .engine
            .run(&self.pair, &self.a, &self.b, RunOptions::new())
            .await
            .unwrap();
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        report
    }
}

/// A file endpoint of entity `people`, keyed by `id`.
fn file(dir: &Dir, name: &str) -> Endpoint {
    let connector = FileConnector::from_config(json!({
        "path": dir.path(name),
        "key": ["id"],
        "entity": "people",
    }))
    .unwrap();
    Endpoint::new(name, connector)
}

/// Two CSV files, `a.csv` holding `rows` and `b.csv` missing, synced once.
async fn csv_pair(dir: &Dir, rows: &str) -> World {
    dir.write("a.csv", format!("id,name\n{rows}"));
    let world = World::new(file(dir, "a.csv"), file(dir, "b.csv")).await;
    let first = world.sync().await;
    assert_eq!(first.counts.created_b, rows.lines().count() as u64);
    world
}

/// What a run wrote, as (created, updated, deleted) on A then B.
fn written(c: &RunCounts) -> [u64; 6] {
    [
        c.created_a,
        c.updated_a,
        c.deleted_a,
        c.created_b,
        c.updated_b,
        c.deleted_b,
    ]
}

fn read(dir: &Dir, name: &str) -> String {
    std::fs::read_to_string(dir.path(name)).unwrap()
}

#[tokio::test]
async fn deleting_a_row_tandem_wrote_deletes_it_on_the_other_side() {
    let dir = Dir::new();
    let world = csv_pair(&dir, "k0,a\nk1,b\n").await;
    dir.write("a.csv", "id,name\nk0,a\nk1,b\nk9,new\n");
    let run = world.sync().await;
    assert_eq!(written(&run.counts), [0, 0, 0, 1, 0, 0]);
    assert_eq!(read(&dir, "b.csv"), "id,name\nk0,a\nk1,b\nk9,new\n");

    dir.write("b.csv", "id,name\nk0,a\nk1,b\n");
    let run = world.sync().await;
    assert_eq!(written(&run.counts), [0, 0, 1, 0, 0, 0], "{:?}", run.counts);
    assert_eq!(read(&dir, "a.csv"), "id,name\nk0,a\nk1,b\n");
    let again = world.sync().await;
    assert_eq!(written(&again.counts), [0; 6], "{:?}", again.counts);
}

#[tokio::test]
async fn deleting_a_row_of_the_file_the_first_sync_created_deletes_it() {
    let dir = Dir::new();
    let world = csv_pair(&dir, "k0,a\nk1,b\n").await;
    dir.write("b.csv", "id,name\nk0,a\n");
    let run = world.sync().await;
    assert_eq!(written(&run.counts), [0, 0, 1, 0, 0, 0], "{:?}", run.counts);
    assert_eq!(read(&dir, "a.csv"), "id,name\nk0,a\n");
}

#[tokio::test]
async fn deleting_a_row_tandem_wrote_on_side_a_deletes_it_on_side_b() {
    let dir = Dir::new();
    let world = csv_pair(&dir, "k0,a\nk1,b\n").await;
    dir.write("b.csv", "id,name\nk0,a\nk1,b\nk9,new\n");
    let run = world.sync().await;
    assert_eq!(written(&run.counts), [1, 0, 0, 0, 0, 0]);
    assert_eq!(read(&dir, "a.csv"), "id,name\nk0,a\nk1,b\nk9,new\n");

    dir.write("a.csv", "id,name\nk0,a\nk1,b\n");
    let run = world.sync().await;
    assert_eq!(written(&run.counts), [0, 0, 0, 0, 0, 1], "{:?}", run.counts);
    assert_eq!(read(&dir, "b.csv"), "id,name\nk0,a\nk1,b\n");
}

#[tokio::test]
async fn putting_back_a_value_tandem_replaced_is_synced() {
    let dir = Dir::new();
    let world = csv_pair(&dir, "k0,a\nk1,b\n").await;
    dir.write("a.csv", "id,name\nk0,a\nk1,CHANGED\n");
    let run = world.sync().await;
    assert_eq!(written(&run.counts), [0, 0, 0, 0, 1, 0]);
    assert_eq!(read(&dir, "b.csv"), "id,name\nk0,a\nk1,CHANGED\n");

    dir.write("b.csv", "id,name\nk0,a\nk1,b\n");
    let run = world.sync().await;
    assert_eq!(written(&run.counts), [0, 1, 0, 0, 0, 0], "{:?}", run.counts);
    assert_eq!(read(&dir, "a.csv"), "id,name\nk0,a\nk1,b\n");
    let again = world.sync().await;
    assert_eq!(written(&again.counts), [0; 6], "{:?}", again.counts);
}

#[tokio::test]
async fn json_lines_deletes_and_put_back_values_are_synced() {
    let dir = Dir::new();
    dir.write(
        "a.jsonl",
        "{\"id\":\"k0\",\"name\":\"a\"}\n{\"id\":\"k1\",\"name\":\"b\"}\n",
    );
    let world = World::new(file(&dir, "a.jsonl"), file(&dir, "b.jsonl")).await;
    world.sync().await;
    let k9 = "{\"id\":\"k9\",\"name\":\"new\"}\n";
    let base = read(&dir, "a.jsonl");
    dir.write("a.jsonl", format!("{base}{k9}"));
    let run = world.sync().await;
    assert_eq!(written(&run.counts), [0, 0, 0, 1, 0, 0]);
    assert!(read(&dir, "b.jsonl").contains("k9"));

    dir.write("b.jsonl", &base);
    let run = world.sync().await;
    assert_eq!(written(&run.counts), [0, 0, 1, 0, 0, 0], "{:?}", run.counts);
    assert_eq!(read(&dir, "a.jsonl"), base);

    dir.write("a.jsonl", base.replace("\"b\"", "\"CHANGED\""));
    let run = world.sync().await;
    assert_eq!(written(&run.counts), [0, 0, 0, 0, 1, 0]);
    dir.write("b.jsonl", &base);
    let run = world.sync().await;
    assert_eq!(written(&run.counts), [0, 1, 0, 0, 0, 0], "{:?}", run.counts);
    assert_eq!(read(&dir, "a.jsonl"), base);
}

fn person(id: &str, name: &str) -> Record {
    Record::new(id)
        .with("id", Value::Text(id.into()))
        .with("name", Value::Text(name.into()))
}

#[tokio::test]
async fn a_csv_side_paired_with_a_table_sends_deletes_and_put_back_values() {
    let dir = Dir::new();
    dir.write("a.csv", "id,name\nk0,a\nk1,b\n");
    let table = MemoryConnector::from_config(
        "table",
        json!({ "entities": { "people": { "key": ["id"] } } }),
    )
    .unwrap();
    let world = World::new(file(&dir, "a.csv"), Endpoint::new("table", table.clone())).await;
    world.sync().await;
    table.put("people", person("k9", "new"));
    let run = world.sync().await;
    assert_eq!(written(&run.counts), [1, 0, 0, 0, 0, 0]);

    dir.write("a.csv", "id,name\nk0,a\nk1,b\n");
    let run = world.sync().await;
    assert_eq!(written(&run.counts), [0, 0, 0, 0, 0, 1], "{:?}", run.counts);
    assert!(table.get("people", "k9").is_none());

    table.put("people", person("k1", "CHANGED"));
    let run = world.sync().await;
    assert_eq!(written(&run.counts), [0, 1, 0, 0, 0, 0]);
    dir.write("a.csv", "id,name\nk0,a\nk1,b\n");
    let run = world.sync().await;
    assert_eq!(written(&run.counts), [0, 0, 0, 0, 1, 0], "{:?}", run.counts);
    assert_eq!(table.get("people", "k1"), Some(person("k1", "b")));
}

/// A row a send wrote on B, then deleted there, reaches A on the pair's
/// next two-way run: the send keeps B's cursor, with its writes marked.
#[tokio::test]
async fn a_row_a_send_wrote_then_deleted_on_b_is_synced_two_way() {
    let dir = Dir::new();
    let world = csv_pair(&dir, "k0,a\nk1,b\n").await;
    dir.write("a.csv", "id,name\nk0,a\nk1,b\nk9,new\n");
    let send = world
        .engine
        .run(
            &world.pair,
            &world.a,
            &world.b,
            RunOptions::new().mode(tandem_core::engine::Mode::Send),
        )
        .await
        .unwrap();
    assert_eq!(written(&send.counts), [0, 0, 0, 1, 0, 0]);
    dir.write("b.csv", "id,name\nk0,a\nk1,b\n");
    let run = world.sync().await;
    assert_eq!(written(&run.counts), [0, 0, 1, 0, 0, 0], "{:?}", run.counts);
    assert_eq!(read(&dir, "a.csv"), "id,name\nk0,a\nk1,b\n");
}
