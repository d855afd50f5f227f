//! Dynamics 365 misbehaving, against the Dataverse simulator: a 429 storm,
//! a token that expires mid-run, an expired delta token and deleted rows
//! (both lead to a full reconcile through the engine), malformed JSON,
//! and a change set that fails partway.

mod common;

use std::time::Duration;

use common::world::World;
use common::{keys, read_all, write};
use serde_json::json;
use tandem_connector_crm::CrmConnector;
use tandem_core::store::{RunStatus, Side};
use tandem_core::{Change, Error, ReadRequest, Record};
use tandem_sim::dataverse::DataverseSim;

async fn sim_with(n: usize) -> DataverseSim {
    let sim = DataverseSim::start().await.unwrap();
    sim.add_table("accounts", "accountid", &[&["number"]]);
    for i in 0..n {
        sim.put(
            "accounts",
            &format!("A-{i:03}"),
            json!({"name": format!("Account {i}"), "city": "Oslo"}),
        );
    }
    sim
}

fn connector(sim: &DataverseSim) -> CrmConnector {
    let config = common::dynamics_config(
        sim,
        json!({"accounts": {"key": "number", "fields": ["name", "city"]}}),
    );
    CrmConnector::from_config(config).unwrap()
}

fn upsert(key: &str, name: &str) -> Change {
    Change::Upsert(Record::new(key).with("number", key).with("name", name))
}

#[tokio::test]
async fn a_429_storm_is_ridden_out_honouring_retry_after() {
    let sim = sim_with(40).await;
    let crm = connector(&sim);
    sim.faults.retry_after(Some("0.2")).throttle_every(3);
    let read = read_all(&crm, ReadRequest::full("accounts").with_batch_size(5))
        .await
        .unwrap();
    assert_eq!(
        keys(&read.0).0.len(),
        40,
        "every row read despite throttling"
    );
    let changes = (0..30)
        .map(|i| upsert(&format!("B-{i:02}"), "new"))
        .collect();
    write(&crm, "accounts", changes).await.unwrap();
    assert_eq!(sim.rows("accounts").len(), 70, "the batch was written");
    let throttled = common::assert_waits_honoured(&sim.faults, Duration::from_millis(200));
    assert!(throttled >= 3, "{throttled} answers were 429");
}

#[tokio::test]
async fn incremental_reads_page_through_the_delta_link() {
    let sim = sim_with(5).await;
    let crm = connector(&sim);
    let (changes, cursor) = read_all(&crm, ReadRequest::full("accounts").with_batch_size(2))
        .await
        .unwrap();
    assert_eq!(changes.len(), 5);
    for k in ["A-000", "A-002", "A-004"] {
        sim.put("accounts", k, json!({"name": "changed"}));
    }
    let since = ReadRequest::since("accounts", cursor.unwrap()).with_batch_size(2);
    let (changes, next) = read_all(&crm, since).await.unwrap();
    assert_eq!(keys(&changes).0, ["A-000", "A-002", "A-004"]);
    let (changes, _) = read_all(&crm, ReadRequest::since("accounts", next.unwrap()))
        .await
        .unwrap();
    assert!(changes.is_empty(), "{changes:?}");
}

#[tokio::test]
async fn a_token_that_expires_mid_run_is_fetched_again() {
    let sim = sim_with(30).await;
    let crm = connector(&sim);
    // Each token works for two requests: a read of six pages needs several.
    sim.tokens.max_uses(Some(2));
    let (changes, _) = read_all(&crm, ReadRequest::full("accounts").with_batch_size(5))
        .await
        .unwrap();
    assert_eq!(changes.len(), 30);
    write(&crm, "accounts", vec![upsert("A-000", "renamed")])
        .await
        .unwrap();
    assert_eq!(sim.get("accounts", "A-000").unwrap()["name"], "renamed");
    assert!(sim.tokens.issued() >= 3, "{} tokens", sim.tokens.issued());
    assert!(
        sim.tokens.refused() >= 2,
        "{} refusals",
        sim.tokens.refused()
    );
    // Every token revoked at once (the tenant rotated its keys).
    sim.tokens.max_uses(None).expire_all();
    let (changes, _) = read_all(&crm, ReadRequest::full("accounts")).await.unwrap();
    assert_eq!(changes.len(), 30);
}

#[tokio::test]
async fn an_expired_delta_token_leads_to_a_full_reconcile() {
    let sim = sim_with(5).await;
    let w = World::new(connector(&sim), "accounts", "number").await;
    let r = w.run().await.unwrap();
    assert_eq!(r.counts.created_b, 5);

    sim.put("accounts", "A-001", json!({"name": "renamed"}));
    sim.put("accounts", "A-009", json!({"name": "new", "city": "Rome"}));
    sim.expire_delta_tokens();
    let cursor = w.engine.store().cursor("crm_sql", Side::A).await.unwrap();
    let err = read_all(&w.crm, ReadRequest::since("accounts", cursor.unwrap()))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::CursorExpired { message, .. } if message.contains("Version stamp associated with the client has expired")),
        "{err}"
    );

    let r = w.run().await.unwrap();
    assert_eq!(r.status, RunStatus::Completed);
    assert_eq!(
        (r.counts.created_b, r.counts.updated_b),
        (1, 1),
        "{:?}",
        r.counts
    );
    w.assert_in_step(&["name", "city"]).await;
    // The next run follows the new delta link again.
    let r = w.run().await.unwrap();
    assert_eq!(r.counts.synchronized, 6);
}

#[tokio::test]
async fn deleted_rows_lead_to_a_full_reconcile() {
    let sim = sim_with(6).await;
    let w = World::new(connector(&sim), "accounts", "number").await;
    w.run().await.unwrap();

    assert!(sim.remove("accounts", "A-002"));
    // A row that leaves the set is reported with reason "changed".
    assert!(sim.leave("accounts", "A-004"));
    sim.put("accounts", "A-005", json!({"name": "changed too"}));
    // Pages of one row: the deletions come last, two pages after the change.
    let cursor = w.engine.store().cursor("crm_sql", Side::A).await.unwrap();
    let since = ReadRequest::since("accounts", cursor.unwrap()).with_batch_size(1);
    let err = read_all(&w.crm, since).await.unwrap_err();
    assert!(
        matches!(&err, Error::CursorExpired { message, .. } if message.contains("2 rows were deleted")),
        "{err}"
    );

    let r = w.run().await.unwrap();
    assert_eq!(r.status, RunStatus::Completed);
    assert_eq!(
        (r.counts.deleted_b, r.counts.updated_b),
        (2, 1),
        "{:?}",
        r.counts
    );
    w.assert_in_step(&["name", "city"]).await;
    let keys: Vec<String> = w.sql_rows().await.into_keys().collect();
    assert_eq!(keys, ["A-000", "A-001", "A-003", "A-005"]);
}

#[tokio::test]
async fn malformed_json_fails_the_run_and_applies_nothing() {
    let sim = sim_with(3).await;
    let w = World::new(connector(&sim), "accounts", "number").await;
    w.run().await.unwrap();

    sim.put("accounts", "A-001", json!({"name": "renamed"}));
    sim.faults.malformed_next(1);
    let err = w.run().await.unwrap_err();
    let shown = err.to_string();
    assert!(
        shown.contains("the response is not valid") && shown.contains("accounts"),
        "{shown}"
    );
    let run = w.last_run().await;
    assert_eq!(run.status, RunStatus::Error);
    assert!(
        run.errors.iter().any(|e| e.message.contains("not valid")),
        "{:?}",
        run.errors
    );
    let names = World::column(&w.sql_rows().await, "name");
    assert_eq!(names["A-001"], "Account 1", "nothing was applied");

    let r = w.run().await.unwrap();
    assert_eq!(r.counts.updated_b, 1, "the next run applies it");
}

#[tokio::test]
async fn a_change_set_that_fails_partway_writes_nothing_and_names_the_key() {
    let sim = sim_with(0).await;
    sim.columns("accounts", &["name"]);
    let crm = connector(&sim);
    let changes = vec![
        upsert("K-1", "fine"),
        Change::Upsert(
            Record::new("K-2")
                .with("number", "K-2")
                .with("name", "x")
                .with("city", "no such column"),
        ),
        upsert("K-3", "fine too"),
    ];
    let err = write(&crm, "accounts", changes).await.unwrap_err();
    let shown = err.to_string();
    assert!(shown.contains("(request id "), "{shown}");
    assert!(
        matches!(
            err,
            Error::Remote {
                status: Some(400),
                ..
            }
        ) && shown.contains("key K-2")
            && shown.contains("Could not find a property named 'city'")
            && shown.contains("rolled back"),
        "{shown}"
    );
    assert!(sim.rows("accounts").is_empty(), "the change set was atomic");
}
