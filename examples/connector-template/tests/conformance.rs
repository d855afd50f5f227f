//! The template passes the conformance suite every connector must pass.

use std::sync::Arc;

use tandem_connector_template::TemplateConnector;
use tandem_core::conformance::{Fixture, bad_config, run_all};
use tandem_core::plugin::{Connector, OpenContext};

#[tokio::test]
async fn passes_the_conformance_suite() {
    let root = tempfile::tempdir().unwrap();
    let counter = std::sync::atomic::AtomicUsize::new(0);
    run_all(|| {
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = root.path().join(format!("fixture{n}"));
        async move {
            let config = serde_json::json!({ "dir": dir, "key": "id" });
            let c = Arc::new(TemplateConnector::open(config, &OpenContext::default()).unwrap());
            Fixture::new(c, "notes", "id")
        }
    })
    .await;
}

#[test]
fn bad_config_is_a_config_error() {
    let ctx = OpenContext::default();
    bad_config(
        "template",
        TemplateConnector::open(serde_json::json!({ "dir": "x" }), &ctx),
    );
    bad_config(
        "template",
        TemplateConnector::open(
            serde_json::json!({ "dir": "x", "key": "id", "extra": 1 }),
            &ctx,
        ),
    );
    bad_config(
        "template",
        TemplateConnector::open(serde_json::json!({ "dir": "x", "key": "" }), &ctx),
    );
}
