//! The conformance suite against each simulator: Dynamics 365 (Dataverse
//! Web API) and Salesforce.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tandem_core::conformance::{self, Fixture};
use tandem_sim::dataverse::DataverseSim;
use tandem_sim::salesforce::SalesforceSim;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamics_passes_the_suite() {
    let sim = DataverseSim::start().await.unwrap();
    let next = AtomicUsize::new(0);
    conformance::run_all(|| async {
        let n = next.fetch_add(1, Ordering::SeqCst);
        let set = format!("thing{n}s");
        sim.add_table(&set, &format!("thing{n}id"), &[&["number"]]);
        let connector = Arc::new(common::dynamics(&sim, &set, "number"));
        let mut f = Fixture::new(connector, set, "number");
        // Dataverse stores empty strings as null.
        f.null_is_empty = true;
        f
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn salesforce_passes_the_suite() {
    let sim = SalesforceSim::start().await.unwrap();
    let next = AtomicUsize::new(0);
    conformance::run_all(|| async {
        let n = next.fetch_add(1, Ordering::SeqCst);
        let object = format!("Thing{n}__c");
        sim.add_object(&object, &format!("a{n:02}"), &["Ext__c", "name", "amount"]);
        let connector = Arc::new(common::salesforce(&sim, &object, "Ext__c"));
        let mut f = Fixture::new(connector, object, "Ext__c");
        // Salesforce stores empty text as null.
        f.null_is_empty = true;
        f
    })
    .await;
}
