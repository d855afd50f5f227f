//! The Salesforce cursor never skips a change: changes that carry the
//! same `SystemModstamp` as rows already read, and changes whose
//! transaction committed after a read with an older stamp (Salesforce sets
//! the stamp before the commit), are read by the next incremental read,
//! and rows read before are not reported again unless they changed.

mod common;

use common::world::World;
use common::{keys, read_all};
use serde_json::json;
use tandem_connector_crm::CrmConnector;
use tandem_core::{Change, Cursor, ReadRequest, Value};
use tandem_sim::salesforce::SalesforceSim;

fn ago(secs: i64) -> jiff::Timestamp {
    let t = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(secs);
    jiff::Timestamp::from_millisecond(t.as_millisecond()).unwrap()
}

async fn account_sim() -> (SalesforceSim, CrmConnector) {
    let sim = SalesforceSim::start().await.unwrap();
    sim.add_object("Account", "001", &["Ext", "name"]);
    let config = common::salesforce_config(&sim, json!({"Account": {"key": "Ext"}}));
    let crm = CrmConnector::from_config(config).unwrap();
    (sim, crm)
}

async fn since(crm: &CrmConnector, cursor: Cursor) -> (Vec<Change>, Cursor) {
    let (changes, next) = read_all(crm, ReadRequest::since("Account", cursor))
        .await
        .unwrap();
    (changes, next.expect("a cursor"))
}

fn name_of(changes: &[Change], key: &str) -> Option<Value> {
    changes.iter().rev().find_map(|c| match c {
        Change::Upsert(r) if r.key.as_str() == key => r.get("name").cloned(),
        _ => None,
    })
}

#[tokio::test]
async fn a_change_stamped_in_the_millisecond_of_rows_already_read_is_read() {
    let (sim, crm) = account_sim().await;
    let at = ago(30);
    for k in ["A-1", "A-2", "A-3"] {
        sim.put_at("Account", "Ext", k, json!({"name": "first"}), at);
    }
    let (_, cursor) = read_all(&crm, ReadRequest::full("Account")).await.unwrap();

    // The first record (the lowest id) changes within the same
    // millisecond: the stamp and the id are both at or before the last
    // row read.
    sim.put_at("Account", "Ext", "A-1", json!({"name": "second"}), at);
    let (changes, next) = since(&crm, cursor.unwrap()).await;
    assert_eq!(keys(&changes).0, ["A-1"], "{changes:?}");
    assert_eq!(name_of(&changes, "A-1"), Some(Value::from("second")));
    let (changes, _) = since(&crm, next).await;
    assert!(changes.is_empty(), "nothing is reported twice: {changes:?}");
}

#[tokio::test]
async fn changes_committed_late_with_older_stamps_are_read() {
    let (sim, crm) = account_sim().await;
    for (i, k) in ["B-1", "B-2", "B-3", "B-4"].iter().enumerate() {
        sim.put_at(
            "Account",
            "Ext",
            k,
            json!({"name": "first"}),
            ago(600 - i as i64),
        );
    }
    let (_, cursor) = read_all(&crm, ReadRequest::full("Account")).await.unwrap();
    sim.put_at("Account", "Ext", "B-5", json!({"name": "new"}), ago(60));
    let (changes, cursor) = since(&crm, cursor.unwrap()).await;
    assert_eq!(keys(&changes).0, ["B-5"]);

    // Three transactions that set their stamps before the last read (one
    // before the full read) commit only now: an update, a record created
    // and a delete.
    sim.put_at("Account", "Ext", "B-2", json!({"name": "late"}), ago(120));
    sim.put_at(
        "Account",
        "Ext",
        "B-6",
        json!({"name": "late new"}),
        ago(300),
    );
    assert!(sim.remove_at("Account", "Ext", "B-3", ago(700)));
    let (changes, next) = since(&crm, cursor).await;
    assert_eq!(
        keys(&changes),
        (vec!["B-2".into(), "B-6".into()], vec!["B-3".into()])
    );
    assert_eq!(name_of(&changes, "B-2"), Some(Value::from("late")));
    let (changes, _) = since(&crm, next).await;
    assert!(changes.is_empty(), "nothing is reported twice: {changes:?}");
}

#[tokio::test]
async fn a_late_change_reaches_the_other_side_and_a_re_read_writes_nothing() {
    let (sim, crm) = account_sim().await;
    for k in ["C-1", "C-2"] {
        sim.put_at("Account", "Ext", k, json!({"name": "first"}), ago(60));
    }
    let w = World::new(crm, "Account", "Ext").await;
    w.run().await.unwrap();
    sim.put("Account", "Ext", "C-3", json!({"name": "third"}));
    w.run().await.unwrap();

    // Committed after the last run read, stamped before it.
    sim.put_at("Account", "Ext", "C-1", json!({"name": "late"}), ago(30));
    let r = w.run().await.unwrap();
    assert_eq!(r.counts.updated_b, 1, "{:?}", r.counts);
    w.assert_in_step(&["name"]).await;

    // The SQL side reads again the row the last run wrote to it: unchanged
    // against the stored content hash, so nothing is written.
    let r = w.run().await.unwrap();
    let c = &r.counts;
    assert_eq!(
        (
            c.created_a,
            c.created_b,
            c.updated_a,
            c.updated_b,
            c.deleted_a,
            c.deleted_b
        ),
        (0, 0, 0, 0, 0, 0),
        "{c:?}"
    );
    w.assert_in_step(&["name"]).await;
}
