//! The SharePoint cursor is Graph's delta link, taken before a full read
//! pages through the items: items created, changed, re-keyed or deleted
//! while the read pages are read by the next incremental read, each at its
//! latest. (An incremental read reads its whole delta round before it
//! returns, and the round's link is bounded by Graph at the round's start.)

mod common;

use std::collections::BTreeMap;

use common::{LIST, SITE, customer};
use futures::StreamExt;
use serde_json::json;
use tandem_connector_sharepoint::SharePointConnector;
use tandem_core::{Change, Cursor, ReadRequest, Source, Value};

/// Reads two items per page, calling `during` once the first batch is in;
/// returns each key's title (`deleted` for a delete) and the cursor.
async fn read_with(
    list: &SharePointConnector,
    request: ReadRequest,
    during: impl FnOnce(),
) -> (BTreeMap<String, String>, Cursor) {
    let mut stream = list.read(request.with_batch_size(2)).await.unwrap();
    let mut batches = vec![stream.next().await.unwrap().unwrap()];
    during();
    while let Some(b) = stream.next().await {
        batches.push(b.unwrap());
    }
    let cursor = batches.last().and_then(|b| b.cursor.clone()).unwrap();
    let mut titles = BTreeMap::new();
    for change in batches.into_iter().flat_map(|b| b.changes) {
        let (key, title) = match change {
            Change::Upsert(r) => {
                let title = match r.get("Title") {
                    Some(Value::Text(s)) => s.to_string(),
                    other => format!("{other:?}"),
                };
                (r.key.as_str().to_owned(), title)
            }
            Change::Delete { key, .. } => (key.as_str().to_owned(), "deleted".into()),
        };
        assert!(titles.insert(key.clone(), title).is_none(), "{key} twice");
    }
    (titles, cursor)
}

fn expect(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn items_changed_while_a_full_read_pages_are_read_next() {
    let sim = common::sim().await;
    let list = common::connector(&sim, json!({ "fields": ["Code", "Title"], "page_size": 2 }));
    let ids: Vec<String> = (0..6)
        .map(|i| customer(&sim, &format!("C{i}"), "first", "DK"))
        .collect();
    let (full, cursor) = read_with(&list, ReadRequest::full(LIST), || {
        // The first page (C0, C1) is read: C0 is re-keyed and renamed,
        // C1 deleted; of the items not read yet, C4 is renamed and C3
        // deleted; and one is created.
        sim.update_item(
            SITE,
            LIST,
            &ids[0],
            json!({ "Code": "C0x", "Title": "during" }),
        );
        sim.delete_item(SITE, LIST, &ids[1]);
        sim.update_item(SITE, LIST, &ids[4], json!({ "Title": "during" }));
        sim.delete_item(SITE, LIST, &ids[3]);
        customer(&sim, "C9", "during", "DK");
    })
    .await;
    for k in ["C0", "C1", "C2", "C4", "C5"] {
        assert!(full.contains_key(k), "the full read holds {k}: {full:?}");
    }
    assert!(!full.contains_key("C3"), "{full:?}");

    let (next, cursor) = read_with(&list, ReadRequest::since(LIST, cursor), || {}).await;
    assert_eq!(
        next,
        expect(&[
            ("C0", "deleted"),
            ("C0x", "during"),
            ("C1", "deleted"),
            ("C4", "during"),
            ("C9", "during"),
        ])
    );
    let (none, _) = read_with(&list, ReadRequest::since(LIST, cursor), || {}).await;
    assert!(none.is_empty(), "{none:?}");
}
