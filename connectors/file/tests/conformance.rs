//! The file connector passes the core conformance suite, as CSV and as
//! JSON Lines.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;
use tandem_connector_file::FileConnector;
use tandem_core::conformance::{self, Fixture};

/// A fixture on a fresh file in its own directory under `root`.
fn fixture(root: &Path, file: &str, csv: bool) -> Fixture {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = root.join(NEXT.fetch_add(1, Ordering::Relaxed).to_string());
    std::fs::create_dir(&dir).unwrap();
    let config = json!({ "path": dir.join(file), "key": ["id"] });
    let connector = Arc::new(FileConnector::from_config(config).unwrap());
    let entity = connector.entity().to_owned();
    let mut fixture = Fixture::new(connector, entity, "id");
    fixture.null_is_empty = csv;
    fixture.text_only = csv;
    fixture
}

#[tokio::test]
async fn csv_passes_the_suite() {
    let root = tempfile::tempdir().unwrap();
    conformance::run_all(|| async { fixture(root.path(), "people.csv", true) }).await;
}

#[tokio::test]
async fn jsonl_passes_the_suite() {
    let root = tempfile::tempdir().unwrap();
    conformance::run_all(|| async { fixture(root.path(), "people.jsonl", false) }).await;
}

#[test]
fn bad_configs_are_config_errors() {
    let cases = [
        json!({ "path": "a.csv", "key": ["id"], "colour": "red" }),
        json!({ "path": "a.csv" }),
        json!({ "path": "a.csv", "key": [] }),
        json!({ "path": "a.csv", "key": ["id"], "format": "xml" }),
        json!({ "path": "a.txt", "key": ["id"] }),
        json!({ "path": "a.csv", "key": "id" }),
        json!({ "path": "a.csv", "key": ["id"], "delimiter": ";;" }),
        json!({ "path": "a.csv", "key": ["id"], "header": false }),
        json!({ "path": "a.jsonl", "key": ["id"], "delimiter": ";" }),
    ];
    for config in cases {
        conformance::bad_config("file", FileConnector::from_config(config));
    }
}
