//! The spreadsheet connector passes the core conformance suite, writing a
//! fresh xlsx workbook per check.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;
use tandem_connector_spreadsheet::SpreadsheetConnector;
use tandem_core::conformance::{self, Fixture};

/// A fixture on a workbook that does not exist yet, in its own directory
/// under `root`: the listed sheet is an empty entity until the first commit
/// creates the workbook.
fn fixture(root: &Path) -> Fixture {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = root.join(NEXT.fetch_add(1, Ordering::Relaxed).to_string());
    std::fs::create_dir(&dir).unwrap();
    let config = json!({ "path": dir.join("people.xlsx"), "key": ["id"], "sheets": ["people"] });
    let connector = Arc::new(SpreadsheetConnector::from_config(config).unwrap());
    let mut fixture = Fixture::new(connector, "people", "id");
    // A cell cannot hold empty text apart from a blank cell; values keep
    // their types (whole numbers read back as integers).
    fixture.null_is_empty = true;
    fixture.text_only = false;
    fixture
}

#[tokio::test]
async fn xlsx_passes_the_suite() {
    let root = tempfile::tempdir().unwrap();
    conformance::run_all(|| async { fixture(root.path()) }).await;
}

/// A fixture on an existing workbook that has another sheet and lacks the
/// listed one, which the first commit adds.
fn fixture_beside_notes(root: &Path) -> Fixture {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = root.join(NEXT.fetch_add(1, Ordering::Relaxed).to_string());
    std::fs::create_dir(&dir).unwrap();
    let path = dir.join("book.xlsx");
    let mut book = rust_xlsxwriter::Workbook::new();
    let notes = book.add_worksheet();
    notes.set_name("Notes").unwrap();
    notes.write(0, 0, "keep me").unwrap();
    notes.write(3, 2, 12.5).unwrap();
    book.save(&path).unwrap();
    let config = json!({ "path": path, "sheets": { "people": { "key": ["id"] } } });
    let connector = Arc::new(SpreadsheetConnector::from_config(config).unwrap());
    let mut fixture = Fixture::new(connector, "people", "id");
    fixture.null_is_empty = true;
    fixture
}

#[tokio::test]
async fn xlsx_passes_the_suite_beside_another_sheet() {
    let root = tempfile::tempdir().unwrap();
    conformance::run_all(|| async { fixture_beside_notes(root.path()) }).await;
    // Every commit of the suite kept the other sheet's cells.
    for dir in std::fs::read_dir(root.path()).unwrap() {
        let path = dir.unwrap().path().join("book.xlsx");
        let mut book: calamine::Xlsx<_> = calamine::open_workbook(&path).unwrap();
        let notes = calamine::Reader::worksheet_range(&mut book, "Notes").unwrap();
        let cells: Vec<_> = notes
            .used_cells()
            .map(|(r, c, v)| (r, c, v.clone()))
            .collect();
        assert_eq!(
            cells,
            [
                (0, 0, calamine::Data::String("keep me".into())),
                (3, 2, calamine::Data::Float(12.5)),
            ],
            "{}",
            path.display()
        );
    }
}

#[test]
fn bad_configs_are_config_errors() {
    let cases = [
        json!({ "path": "a.xlsx", "key": ["id"], "colour": "red" }),
        json!({ "path": "a.xlsx" }),
        json!({ "path": "a.xlsx", "key": [] }),
        json!({ "path": "a.xlsx", "key": "id" }),
        json!({ "path": "a.csv", "key": ["id"] }),
        json!({ "path": "", "key": ["id"] }),
        json!({ "path": "a.xlsx", "key": ["id"], "header_row": 0 }),
        json!({ "path": "a.xlsx", "key": ["id"], "header_row": -1 }),
        json!({ "path": "a.xlsx", "key": ["id"], "on_bad_record": "ignore" }),
        json!({ "path": "a.xlsx", "key": ["id"], "sheets": [] }),
        json!({ "path": "a.xlsx", "key": ["id"], "sheets": ["a:b"] }),
        json!({ "path": "a.xlsx", "key": ["id"], "sheets": ["x".repeat(32)] }),
        json!({ "path": "a.xlsx", "sheets": { "Orders": {} } }),
        json!({ "path": "a.xlsx", "sheets": { "Orders": { "key": ["id"], "colour": 1 } } }),
        json!({ "path": "a.xlsx", "key": ["id"], "sheets": { "Orders": { "header_row": 0 } } }),
    ];
    for config in cases {
        conformance::bad_config("spreadsheet", SpreadsheetConnector::from_config(config));
    }
}
