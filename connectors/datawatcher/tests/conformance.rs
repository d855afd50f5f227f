//! The Data Watcher connector against the core conformance suite, on the
//! simulator.
//!
//! The feed is read-only, so the suite's writes go into the simulator
//! through its control API ([`common::FeedWriter`]: events of one day with
//! `name` and `amount` as attributes, which the connector exposes as
//! fields with `flatten_attributes`). Only the checks of the read side run:
//! full reads (with field subsets and small batches), incremental reads
//! from a cursor, records that vanish from the feed, ten thousand events
//! over many pages, and awkward text values. The checks of a target's
//! transactions (idempotent upserts, deletes of missing keys, rollback)
//! would test the test's writer, not the connector, and are not called.

mod common;

use std::sync::Arc;

use serde_json::json;
use tandem_connector_datawatcher::DataWatcherConnector;
use tandem_core::conformance::{self, Fixture};
use tandem_sim::datawatcher::DataWatcherSim;

async fn fixture() -> Fixture {
    let sim = Arc::new(DataWatcherSim::start().await.unwrap());
    let connector = common::connector(
        &sim,
        json!({ "fields": ["id", "name", "amount"], "flatten_attributes": true, "page_size": 400 }),
    );
    Fixture {
        source: Arc::new(connector),
        target: Arc::new(common::FeedWriter(sim)),
        entity: "events".into(),
        key_field: "id".into(),
        null_is_empty: false,
        text_only: false,
    }
}

#[tokio::test]
async fn full_read() {
    conformance::full_read(fixture().await).await;
}

#[tokio::test]
async fn incremental_read() {
    conformance::incremental_read(fixture().await).await;
}

#[tokio::test]
async fn vanished_events_are_not_read() {
    conformance::deletes_reported(fixture().await).await;
}

#[tokio::test]
async fn large_batch() {
    conformance::large_batch(fixture().await).await;
}

#[tokio::test]
async fn unicode_empty_null() {
    conformance::unicode_empty_null(fixture().await).await;
}

#[test]
fn bad_configs_are_config_errors() {
    let cases = [
        json!({ "url": "http://x", "token": "t", "colour": "red" }),
        json!({ "token": "t" }),
        json!({ "url": "ftp://x", "token": "t" }),
        json!({ "url": "http://x" }),
        json!({ "url": "http://x", "token": "" }),
        json!({ "url": "http://x", "token": "t", "oauth": { "token_url": "http://x/t", "client_id": "c", "client_secret": "s" } }),
        json!({ "url": "http://x", "token": "t", "page_size": 0 }),
        json!({ "url": "http://x", "token": "t", "page_size": 5001 }),
        json!({ "url": "http://x", "token": "t", "entity": " " }),
        json!({ "url": "http://x", "token": "t", "http": { "max_attempts": 0 } }),
        json!({ "url": "http://x", "token": "t", "first_day": "yesterday" }),
    ];
    for config in cases {
        conformance::bad_config("datawatcher", DataWatcherConnector::from_config(config));
    }
}

#[test]
fn the_token_never_shows() {
    let c = DataWatcherConnector::from_config(
        json!({ "url": "http://x", "token": "very-secret-token" }),
    )
    .unwrap();
    assert!(!format!("{c:?}").contains("very-secret-token"));
}
