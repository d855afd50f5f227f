//! What the Data Watcher tests share: a simulator per test, a connector
//! pointed at it, and a target that writes events into the simulator
//! through its control API (the feed itself is read-only).

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value as J, json};
use tandem_connector_datawatcher::DataWatcherConnector;
use tandem_core::{Applied, Capabilities, Change, Key, Record, Result, Target, Transaction, Value};
use tandem_http::RetryPolicy;
use tandem_sim::datawatcher::{self, DataWatcherSim};

/// A retry policy with short waits, so that tests are quick.
pub fn quick_retry() -> RetryPolicy {
    RetryPolicy::default()
        .attempts(8)
        .base_delay(Duration::from_millis(5))
        .max_total_wait(Duration::from_secs(20))
}

/// A connector reading the simulator with the static token.
pub fn connector(sim: &DataWatcherSim, extra: J) -> DataWatcherConnector {
    let mut config = json!({ "url": sim.url(), "token": datawatcher::TOKEN, "page_size": 50 });
    if let (Some(c), J::Object(extra)) = (config.as_object_mut(), extra) {
        c.extend(extra);
    }
    DataWatcherConnector::from_config(config)
        .unwrap()
        .with_retry(quick_retry())
}

/// An event at a time, with attributes.
pub fn put(sim: &DataWatcherSim, id: &str, time: &str, status: &str, attributes: J) -> u64 {
    sim.put(datawatcher::event(
        id,
        time,
        status,
        json!({ "attributes": attributes }),
    ))
}

/// Writes the conformance suite's records into the feed as events of one
/// day, `name` and `amount` as attributes; a delete removes the event, as
/// the cleaner would.
pub struct FeedWriter(pub Arc<DataWatcherSim>);

struct Tx {
    sim: Arc<DataWatcherSim>,
    staged: Vec<Change>,
}

#[async_trait]
impl Target for FeedWriter {
    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }

    async fn begin(&self, _entity: &str) -> Result<Box<dyn Transaction>> {
        Ok(Box::new(Tx {
            sim: self.0.clone(),
            staged: Vec::new(),
        }))
    }

    async fn fetch(&self, _entity: &str, _keys: &[Key]) -> Result<Vec<Record>> {
        Ok(Vec::new())
    }
}

#[async_trait]
impl Transaction for Tx {
    async fn apply(&mut self, changes: Vec<Change>) -> Result<Vec<Applied>> {
        let applied = changes
            .iter()
            .map(|c| Applied {
                key: c.key().clone(),
                version: None,
            })
            .collect();
        self.staged.extend(changes);
        Ok(applied)
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        for change in self.staged {
            match change {
                Change::Upsert(r) => {
                    let attr = |n: &str| r.get(n).map_or(J::Null, Value::to_json);
                    put(
                        &self.sim,
                        r.key.as_str(),
                        "2024-08-01T10:00:00Z",
                        "completed",
                        json!({ "name": attr("name"), "amount": attr("amount") }),
                    );
                }
                Change::Delete { key, .. } => self.sim.remove(key.as_str()),
            }
        }
        Ok(())
    }

    async fn rollback(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}
