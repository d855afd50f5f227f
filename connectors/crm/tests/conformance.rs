//! The conformance suite against each simulator: Dynamics 365 (Dataverse
//! Web API) and Salesforce.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tandem_core::conformance::{self, Fixture};
use tandem_sim::dataverse::DataverseSim;

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
