//! A sheet through the engine (an in-memory state store), paired with the
//! in-memory connector: a user's edit of a row Tandem wrote in the run
//! before, deleting it or putting back the value Tandem replaced, reaches
//! the other side. A sheet has no cursor (each read is whole, diffed
//! against the base), so nothing the engine wrote can hide such an edit.

mod common;

use common::{Dir, connector, xlsx};
use serde_json::json;
use tandem_core::engine::{Endpoint, Engine, PairConfig, RunOptions};
use tandem_core::memory::MemoryConnector;
use tandem_core::store::{RunCounts, StateStore};
use tandem_core::{Record, ResolverKind, Value};

/// Writes `Sheet1` with an `id,name` header and these rows.
fn sheet(path: &std::path::Path, rows: &'static [(&'static str, &'static str)]) {
    xlsx(
        path,
        &[("Sheet1", &|ws| {
            ws.write(0, 0, "id").unwrap();
            ws.write(0, 1, "name").unwrap();
            for (r, (id, name)) in (1..).zip(rows) {
                ws.write(r, 0, *id).unwrap();
                ws.write(r, 1, *name).unwrap();
            }
        })],
    );
}

fn person(id: &str, name: &str) -> Record {
    Record::new(id)
        .with("id", Value::Text(id.into()))
        .with("name", Value::Text(name.into()))
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

#[tokio::test]
async fn deleting_or_putting_back_a_row_tandem_wrote_is_synced() {
    let dir = Dir::new();
    let path = dir.path("people.xlsx");
    sheet(&path, &[("k0", "a"), ("k1", "b")]);
    let table = MemoryConnector::from_config(
        "table",
        json!({ "entities": { "Sheet1": { "key": ["id"] } } }),
    )
    .unwrap();
    let engine = Engine::new(StateStore::open("sqlite::memory:").await.unwrap());
    let mut pair = PairConfig::new("people", "Sheet1", "Sheet1");
    pair.resolver = ResolverKind::AWins;
    pair.max_delete = 100.0;
    let a = Endpoint::new("sheet", connector(&path, json!({})));
    let b = Endpoint::new("table", table.clone());
    let sync = || async {
        let report = engine.run(&pair, &a, &b, RunOptions::new()).await.unwrap();
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        written(&report.counts)
    };
    assert_eq!(sync().await, [0, 0, 0, 2, 0, 0]);

    table.put("Sheet1", person("k9", "new"));
    assert_eq!(sync().await, [1, 0, 0, 0, 0, 0]);
    sheet(&path, &[("k0", "a"), ("k1", "b")]);
    assert_eq!(sync().await, [0, 0, 0, 0, 0, 1]);
    assert!(table.get("Sheet1", "k9").is_none());

    table.put("Sheet1", person("k1", "CHANGED"));
    assert_eq!(sync().await, [0, 1, 0, 0, 0, 0]);
    sheet(&path, &[("k0", "a"), ("k1", "b")]);
    assert_eq!(sync().await, [0, 0, 0, 0, 1, 0]);
    assert_eq!(table.get("Sheet1", "k1"), Some(person("k1", "b")));
    assert_eq!(sync().await, [0; 6]);
}
