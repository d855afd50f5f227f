//! A two-way pair between each CRM and a SQLite table, run by the engine:
//! new records go both ways, and a record changed on both sides is
//! resolved by `newest` (the later change wins, whichever side made it).

mod common;

use std::time::Duration;

use common::world::World;
use serde_json::json;
use tandem_connector_crm::CrmConnector;
use tandem_core::store::RunStatus;
use tandem_sim::dataverse::DataverseSim;
use tandem_sim::salesforce::SalesforceSim;

/// What a test does to the CRM, as a user of it would.
trait CrmSide {
    fn put(&self, key: &str, name: &str, city: &str);
}

struct Dynamics(DataverseSim);

impl CrmSide for Dynamics {
    fn put(&self, key: &str, name: &str, city: &str) {
        self.0
            .put("accounts", key, json!({"name": name, "city": city}));
    }
}

struct Salesforce(SalesforceSim);

impl CrmSide for Salesforce {
    fn put(&self, key: &str, name: &str, city: &str) {
        self.0
            .put("Account", "Ext", key, json!({"name": name, "city": city}));
    }
}

/// Changes land a little apart in time, so that `newest` has a winner.
async fn later() {
    tokio::time::sleep(Duration::from_millis(30)).await;
}

async fn two_way_with_newest(crm: &dyn CrmSide, w: World) {
    crm.put("A-1", "One", "Oslo");
    crm.put("A-2", "Two", "Bergen");
    w.sql_put(&[("A-3", &[("name", "Three"), ("city", "Aarhus")])])
        .await;
    let r = w.run().await.unwrap();
    assert_eq!(r.status, RunStatus::Completed);
    assert_eq!((r.counts.created_a, r.counts.created_b), (1, 2));
    w.assert_in_step(&["name", "city"]).await;

    // the CRM first, then SQL (SQL is newer). A-2: SQL first, then
    // the CRM (the CRM is newer).
    crm.put("A-1", "One (CRM)", "Oslo");
    later().await;
    w.sql_put(&[
        ("A-1", &[("name", "One (SQL)"), ("city", "Oslo")]),
        ("A-2", &[("name", "Two (SQL)"), ("city", "Bergen")]),
    ])
    .await;
    later().await;
    crm.put("A-2", "Two (CRM)", "Bergen");
    let r = w.run().await.unwrap();
    assert_eq!(r.status, RunStatus::Completed);
    assert_eq!(r.counts.conflict, 2, "{:?}", r.counts);
    assert_eq!(r.pending_conflicts, 0, "newest resolves both");
    w.assert_in_step(&["name", "city"]).await;
    let names = World::column(&w.crm_rows().await, "name");
    assert_eq!(names["A-1"], "One (SQL)", "the later change (SQL) wins");
    assert_eq!(names["A-2"], "Two (CRM)", "the later change (CRM) wins");
    assert_eq!(names["A-3"], "Three");

    let r = w.run().await.unwrap();
    assert_eq!(
        r.counts.synchronized, 3,
        "nothing left to do: {:?}",
        r.counts
    );
    assert!(r.plan.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamics_and_sql_two_way_with_newest() {
    let sim = DataverseSim::start().await.unwrap();
    sim.add_table("accounts", "accountid", &[&["number"]]);
    let config = common::dynamics_config(
        &sim,
        json!({"accounts": {"key": "number", "fields": ["name", "city"]}}),
    );
    let crm = CrmConnector::from_config(config).unwrap();
    let w = World::new(crm, "accounts", "number").await;
    two_way_with_newest(&Dynamics(sim), w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn salesforce_and_sql_two_way_with_newest() {
    let sim = SalesforceSim::start().await.unwrap();
    sim.add_object("Account", "001", &["Ext", "name", "city"]);
    let config = common::salesforce_config(
        &sim,
        json!({"Account": {"key": "Ext", "fields": ["name", "city"]}}),
    );
    let crm = CrmConnector::from_config(config).unwrap();
    let w = World::new(crm, "Account", "Ext").await;
    two_way_with_newest(&Salesforce(sim), w).await;
}
