//! What the CRM connector's tests share: simulators, configurations and
//! connectors on them.
#![allow(dead_code)]

pub mod world;

use std::time::Duration;

use futures::TryStreamExt;
use serde_json::{Value, json};
use tandem_connector_crm::CrmConnector;
use tandem_core::{Batch, Change, Cursor, ReadRequest, Source, Target};
use tandem_sim::Faults;
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

/// Everything a read returns: its changes and the cursor of its last batch.
pub async fn read_all(
    source: &dyn Source,
    request: ReadRequest,
) -> tandem_core::Result<(Vec<Change>, Option<Cursor>)> {
    let batches: Vec<Batch> = source.read(request).await?.try_collect().await?;
    let cursor = batches.last().and_then(|b| b.cursor.clone());
    Ok((
        batches.into_iter().flat_map(|b| b.changes).collect(),
        cursor,
    ))
}

/// Writes changes in one transaction and commits it.
pub async fn write(
    target: &dyn Target,
    entity: &str,
    changes: Vec<Change>,
) -> tandem_core::Result<()> {
    let mut tx = target.begin(entity).await?;
    tx.apply(changes).await?;
    tx.commit().await
}

/// Every answer 429 was followed by the next request no sooner than
/// `wait` later (the client honoured `Retry-After`); returns how many
/// there were.
pub fn assert_waits_honoured(faults: &Faults, wait: Duration) -> usize {
    let log = faults.log();
    let mut throttled = 0;
    for pair in log.windows(2) {
        if pair[0].status == 429 {
            throttled += 1;
            let waited = pair[1].at.duration_since(pair[0].at);
            assert!(
                waited >= wait,
                "after a 429 for {} the next request came after {waited:?}, before Retry-After {wait:?}",
                pair[0].uri
            );
        }
    }
    throttled
}

/// The keys of the upserts and deletes among changes.
pub fn keys(changes: &[Change]) -> (Vec<String>, Vec<String>) {
    let mut upserts = Vec::new();
    let mut deletes = Vec::new();
    for c in changes {
        match c {
            Change::Upsert(r) => upserts.push(r.key.to_string()),
            Change::Delete { key, .. } => deletes.push(key.to_string()),
        }
    }
    upserts.sort();
    deletes.sort();
    (upserts, deletes)
}
