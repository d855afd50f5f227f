//! The Dataverse cursor is the service's delta link, taken when a read
//! starts: a row changed or created while a read pages through the entity
//! set is read by the next incremental read, and a full read still holds
//! every row that exists throughout it (a full read that left out a row
//! changed while it paged would tell the engine the row was deleted).

mod common;

use std::collections::BTreeMap;

use futures::StreamExt;
use serde_json::json;
use tandem_connector_crm::CrmConnector;
use tandem_core::{Change, Cursor, ReadRequest, Source, Value};
use tandem_sim::dataverse::DataverseSim;

async fn accounts(n: usize) -> (DataverseSim, CrmConnector) {
    let sim = DataverseSim::start().await.unwrap();
    sim.add_table("accounts", "accountid", &[&["number"]]);
    for i in 0..n {
        sim.put("accounts", &format!("A-{i:03}"), json!({"name": "first"}));
    }
    let config = common::dynamics_config(
        &sim,
        json!({"accounts": {"key": "number", "fields": ["name"]}}),
    );
    (sim, CrmConnector::from_config(config).unwrap())
}

/// Reads two rows per page, calling `during` once the first batch is in;
/// returns the name read for each key (each key read once) and the cursor.
async fn read_with(
    crm: &CrmConnector,
    request: ReadRequest,
    during: impl FnOnce(),
) -> (BTreeMap<String, String>, Cursor) {
    let mut stream = crm.read(request.with_batch_size(2)).await.unwrap();
    let mut batches = vec![stream.next().await.unwrap().unwrap()];
    during();
    while let Some(b) = stream.next().await {
        batches.push(b.unwrap());
    }
    let cursor = batches.last().and_then(|b| b.cursor.clone()).unwrap();
    let mut names = BTreeMap::new();
    for change in batches.into_iter().flat_map(|b| b.changes) {
        let Change::Upsert(r) = change else {
            panic!("no deletes here: {change:?}");
        };
        let name = match r.get("name") {
            Some(Value::Text(s)) => s.to_string(),
            other => format!("{other:?}"),
        };
        let key = r.key.as_str().to_owned();
        assert!(
            names.insert(key.clone(), name).is_none(),
            "{key} read twice"
        );
    }
    (names, cursor)
}

#[tokio::test]
async fn rows_changed_while_a_full_read_pages_are_read_then_and_next() {
    let (sim, crm) = accounts(6).await;
    let (full, cursor) = read_with(&crm, ReadRequest::full("accounts"), || {
        for k in ["A-000", "A-005", "A-100"] {
            sim.put("accounts", k, json!({"name": "during"}));
        }
    })
    .await;
    let keys: Vec<&str> = full.keys().map(String::as_str).collect();
    for k in ["A-000", "A-001", "A-002", "A-003", "A-004", "A-005"] {
        assert!(keys.contains(&k), "the full read holds {k}: {keys:?}");
    }

    let (next, _) = read_with(&crm, ReadRequest::since("accounts", cursor), || {}).await;
    let during: BTreeMap<String, String> = ["A-000", "A-005", "A-100"]
        .iter()
        .map(|k| (k.to_string(), "during".to_string()))
        .collect();
    assert_eq!(next, during);
}

#[tokio::test]
async fn rows_changed_while_an_incremental_read_pages_are_read_next() {
    let (sim, crm) = accounts(8).await;
    let (_, cursor) = read_with(&crm, ReadRequest::full("accounts"), || {}).await;
    for i in 0..6 {
        sim.put("accounts", &format!("A-{i:03}"), json!({"name": "second"}));
    }
    let (read1, cursor) = read_with(&crm, ReadRequest::since("accounts", cursor), || {
        // One row of the round already read, one not yet, one untouched.
        for k in ["A-000", "A-004", "A-007"] {
            sim.put("accounts", k, json!({"name": "third"}));
        }
    })
    .await;
    let (read2, cursor) = read_with(&crm, ReadRequest::since("accounts", cursor), || {}).await;
    let mut latest = read1;
    latest.extend(read2.clone());
    let expected: BTreeMap<String, String> = (0..8)
        .filter(|i| *i != 6)
        .map(|i| {
            let name = if [0, 4, 7].contains(&i) {
                "third"
            } else {
                "second"
            };
            (format!("A-{i:03}"), name.to_string())
        })
        .collect();
    assert_eq!(latest, expected, "every change, at its latest");
    for k in ["A-000", "A-004", "A-007"] {
        assert_eq!(read2.get(k).map(String::as_str), Some("third"), "{k}");
    }
    let (none, _) = read_with(&crm, ReadRequest::since("accounts", cursor), || {}).await;
    assert!(none.is_empty(), "{none:?}");
}
