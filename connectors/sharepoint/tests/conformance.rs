//! The SharePoint connector passes the core conformance suite against the
//! Graph simulator, keyed by a `Code` column.

mod common;

use std::sync::Arc;

use serde_json::json;
use tandem_connector_sharepoint::SharePointConnector;
use tandem_core::conformance::{self, Fixture};

#[tokio::test]
async fn passes_the_suite() {
    // One simulator per fixture, kept until the suite is done.
    let sims = std::sync::Mutex::new(Vec::new());
    conformance::run_all(|| async {
        let sim = common::sim().await;
        let connector = common::connector(
            &sim,
            json!({ "fields": ["Code", "name", "amount"], "page_size": 500, "concurrency": 8 }),
        );
        sims.lock().unwrap().push(sim);
        Fixture::new(Arc::new(connector), common::LIST, "Code")
    })
    .await;
}

#[test]
fn bad_configs_are_config_errors() {
    let good =
        json!({ "tenant": "t", "client_id": "c", "client_secret": "s", "site": "x", "list": "L" });
    let with = |k: &str, v: serde_json::Value| {
        let mut c = good.clone();
        c[k] = v;
        c
    };
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("site");
    let cases = [
        with("colour", json!("red")),
        missing,
        with("tenant", json!("")),
        with("client_secret", json!("")),
        with("key", json!("")),
        with("page_size", json!(0)),
        with("concurrency", json!(100)),
        with("graph_url", json!("graph.microsoft.com")),
        with("fields", json!(["Code", ""])),
        with("http", json!({ "timeout_seconds": -1 })),
    ];
    for config in cases {
        conformance::bad_config("sharepoint", SharePointConnector::from_config(config));
    }
}

#[test]
fn the_secret_never_shows() {
    let c = SharePointConnector::from_config(
        json!({ "tenant": "t", "client_id": "c", "client_secret": "s3cr3t-value", "site": "x", "list": "L" }),
    )
    .unwrap();
    assert!(!format!("{c:?}").contains("s3cr3t-value"));
}
