//! Salesforce misbehaving, against the Salesforce simulator: a 429 storm,
//! a session that expires mid-run (`INVALID_SESSION_ID`), purged deletes
//! (a full reconcile through the engine), malformed JSON, the daily API
//! limit spent; and rows sharing a `SystemModstamp` across a cursor.

mod common;

use std::time::Duration;

use common::world::World;
use common::{keys, read_all, write};
use serde_json::json;
use tandem_connector_crm::CrmConnector;
use tandem_core::store::{RunStatus, Side};
use tandem_core::{Change, Error, ReadRequest, Record, Source};
use tandem_sim::salesforce::SalesforceSim;

async fn sim_with(n: usize) -> SalesforceSim {
    let sim = SalesforceSim::start().await.unwrap();
    sim.add_object("Account", "001", &["Ext", "name", "city"]);
    for i in 0..n {
        sim.put(
            "Account",
            "Ext",
            &format!("A-{i:03}"),
            json!({"name": format!("Account {i}"), "city": "Oslo"}),
        );
    }
    sim
}

fn connector(sim: &SalesforceSim) -> CrmConnector {
    let config = common::salesforce_config(sim, json!({"Account": {"key": "Ext"}}));
    CrmConnector::from_config(config).unwrap()
}

fn upsert(key: &str, name: &str) -> Change {
    Change::Upsert(Record::new(key).with("Ext", key).with("name", name))
}

#[tokio::test]
async fn a_429_storm_is_ridden_out_honouring_retry_after() {
    let sim = sim_with(450).await;
    let crm = connector(&sim);
    sim.faults.retry_after(Some("0.2")).throttle_every(3);
    let (changes, _) = read_all(&crm, ReadRequest::full("Account").with_batch_size(200))
        .await
        .unwrap();
    assert_eq!(keys(&changes).0.len(), 450, "every record read");
    let changes = (0..250)
        .map(|i| upsert(&format!("B-{i:03}"), "new"))
        .collect();
    write(&crm, "Account", changes).await.unwrap();
    assert_eq!(sim.records("Account").len(), 700, "every record written");
    let throttled = common::assert_waits_honoured(&sim.faults, Duration::from_millis(200));
    assert!(throttled >= 2, "{throttled} answers were 429");
}

#[tokio::test]
async fn an_expired_session_is_signed_in_again() {
    let sim = sim_with(450).await;
    let crm = connector(&sim);
    sim.tokens.max_uses(Some(2));
    let (changes, _) = read_all(&crm, ReadRequest::full("Account").with_batch_size(200))
        .await
        .unwrap();
    assert_eq!(changes.len(), 450);
    write(&crm, "Account", vec![upsert("A-000", "renamed")])
        .await
        .unwrap();
    assert_eq!(
        sim.get("Account", "Ext", "A-000").unwrap()["name"],
        "renamed"
    );
    assert!(
        sim.tokens.refused() >= 2,
        "{} refusals",
        sim.tokens.refused()
    );
    assert!(sim.tokens.issued() >= 3, "{} sign-ins", sim.tokens.issued());
}

#[tokio::test]
async fn deletes_flow_and_purged_deletes_lead_to_a_full_reconcile() {
    let sim = sim_with(5).await;
    let w = World::new(connector(&sim), "Account", "Ext").await;
    w.run().await.unwrap();

    // A delete while Salesforce still has it: reported as a delete.
    assert!(sim.remove("Account", "Ext", "A-001"));
    let r = w.run().await.unwrap();
    assert_eq!(r.counts.deleted_b, 1, "{:?}", r.counts);

    // Deleted, then purged from the recycle bin before the next run.
    assert!(sim.remove("Account", "Ext", "A-002"));
    sim.put("Account", "Ext", "A-003", json!({"name": "renamed"}));
    sim.purge_deletes();
    let cursor = w.engine.store().cursor("crm_sql", Side::A).await.unwrap();
    let err = read_all(&w.crm, ReadRequest::since("Account", cursor.unwrap()))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::CursorExpired { message, .. } if message.contains("purged")),
        "{err}"
    );
    let r = w.run().await.unwrap();
    assert_eq!(r.status, RunStatus::Completed);
    assert_eq!(
        (r.counts.deleted_b, r.counts.updated_b),
        (1, 1),
        "{:?}",
        r.counts
    );
    w.assert_in_step(&["name", "city"]).await;
    let keys: Vec<String> = w.sql_rows().await.into_keys().collect();
    assert_eq!(keys, ["A-000", "A-003", "A-004"]);
}

#[tokio::test]
async fn malformed_json_fails_the_run_and_applies_nothing() {
    let sim = sim_with(3).await;
    let w = World::new(connector(&sim), "Account", "Ext").await;
    w.run().await.unwrap();

    sim.put("Account", "Ext", "A-001", json!({"name": "renamed"}));
    sim.faults.malformed_next(1);
    let err = w.run().await.unwrap_err();
    assert!(
        err.to_string().contains("the response is not valid"),
        "{err}"
    );
    let run = w.last_run().await;
    assert_eq!(run.status, RunStatus::Error);
    let names = World::column(&w.sql_rows().await, "name");
    assert_eq!(names["A-001"], "Account 1", "nothing was applied");
    let r = w.run().await.unwrap();
    assert_eq!(r.counts.updated_b, 1, "the next run applies it");
}

#[tokio::test]
async fn a_spent_daily_limit_fails_the_run_with_its_message() {
    let sim = sim_with(3).await;
    let w = World::new(connector(&sim), "Account", "Ext").await;
    w.run().await.unwrap();

    sim.put("Account", "Ext", "A-001", json!({"name": "renamed"}));
    sim.daily_limit(1);
    let err = w.run().await.unwrap_err();
    let shown = err.to_string();
    assert!(
        shown.contains("REQUEST_LIMIT_EXCEEDED") && shown.contains("TotalRequests Limit exceeded"),
        "{shown}"
    );
    assert!(
        matches!(
            err,
            Error::Remote {
                status: Some(403),
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(sim.faults.count(403), 1, "not retried");
    let run = w.last_run().await;
    assert_eq!(run.status, RunStatus::Error);
    assert!(
        run.errors
            .iter()
            .any(|e| e.message.contains("REQUEST_LIMIT_EXCEEDED")),
        "{:?}",
        run.errors
    );
    let names = World::column(&w.sql_rows().await, "name");
    assert_eq!(names["A-001"], "Account 1");
}

#[tokio::test]
async fn rows_sharing_a_modstamp_across_the_cursor_are_read_once() {
    let sim = sim_with(0).await;
    let crm = connector(&sim);
    let at = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(30);
    sim.put_at("Account", "Ext", "X-1", json!({"name": "one"}), at);
    let (changes, cursor) = read_all(&crm, ReadRequest::full("Account")).await.unwrap();
    assert_eq!(keys(&changes).0, ["X-1"]);

    // Committed later with the same SystemModstamp (and a later id), and
    // one a few hundred milliseconds later in the same second.
    sim.put_at("Account", "Ext", "X-2", json!({"name": "two"}), at);
    let later = at + jiff::SignedDuration::from_millis(300);
    sim.put_at("Account", "Ext", "X-3", json!({"name": "three"}), later);
    let (changes, next) = read_all(&crm, ReadRequest::since("Account", cursor.unwrap()))
        .await
        .unwrap();
    assert_eq!(keys(&changes).0, ["X-2", "X-3"], "X-1 is not read again");
    let (changes, _) = read_all(&crm, ReadRequest::since("Account", next.unwrap()))
        .await
        .unwrap();
    assert!(changes.is_empty(), "{changes:?}");
}

#[tokio::test]
async fn pending_counts_changes_from_get_updated() {
    let sim = sim_with(2).await;
    let crm = connector(&sim);
    let (_, cursor) = read_all(&crm, ReadRequest::full("Account")).await.unwrap();
    let two_minutes_ago = jiff::Timestamp::now() - jiff::SignedDuration::from_mins(2);
    for k in ["P-1", "P-2"] {
        sim.put_at("Account", "Ext", k, json!({"name": k}), two_minutes_ago);
    }
    let pending = crm.pending("Account", cursor.as_ref()).await.unwrap();
    let count: u64 = pending.iter().map(|d| d.count).sum();
    assert!(count >= 2, "{pending:?}");
    assert!(crm.pending("Account", None).await.unwrap().is_empty());
}
