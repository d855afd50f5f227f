//! What the CRM connector's tests share: simulators, configurations and
//! connectors on them.
#![allow(dead_code)]

use serde_json::{Value, json};
use tandem_connector_crm::CrmConnector;
use tandem_sim::dataverse::{DataverseSim, TENANT};
use tandem_sim::oauth::{CLIENT_ID, CLIENT_SECRET};
use tandem_sim::salesforce::SalesforceSim;

/// Retries that keep tests quick: a short backoff, a bounded wait.
pub fn http() -> Value {
    json!({ "backoff_seconds": 0.02, "max_wait_seconds": 20, "max_attempts": 10 })
}

/// The configuration of a Dynamics endpoint on a simulator.
pub fn dynamics_config(sim: &DataverseSim, entities: Value) -> Value {
    json!({
        "system": "dynamics",
        "url": sim.url(),
        "authority": sim.url(),
        "tenant": TENANT,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "entities": entities,
        "http": http(),
    })
}

/// A Dynamics connector for one table keyed by `number`.
pub fn dynamics(sim: &DataverseSim, set: &str, key: &str) -> CrmConnector {
    let config = dynamics_config(sim, json!({ set: { "key": [key] } }));
    CrmConnector::from_config(config).expect("a valid configuration")
}

/// The configuration of a Salesforce endpoint on a simulator.
pub fn salesforce_config(sim: &SalesforceSim, entities: Value) -> Value {
    json!({
        "system": "salesforce",
        "url": sim.url(),
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "entities": entities,
        "http": http(),
    })
}

/// A Salesforce connector for one object keyed by `ext`.
pub fn salesforce(sim: &SalesforceSim, object: &str, ext: &str) -> CrmConnector {
    let config = salesforce_config(sim, json!({ object: { "key": ext } }));
    CrmConnector::from_config(config).expect("a valid configuration")
}
