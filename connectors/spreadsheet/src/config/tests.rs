//! Unit tests of the configuration's validation.

use serde_json::json;

use super::*;

fn settings(config: serde_json::Value) -> Result<Settings> {
    let config: SpreadsheetConfig =
        serde_json::from_value(config).map_err(|e| Error::config(CONNECTOR, e.to_string()))?;
    config.resolve()
}

fn message(config: serde_json::Value) -> String {
    match settings(config) {
        Ok(s) => panic!("accepted: {s:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn one_key_for_every_sheet() {
    let s = settings(json!({ "path": "book.xlsx", "key": ["id"] })).unwrap();
    assert_eq!(s.format, Format::Xlsx);
    assert!(s.writable());
    let sheet = s.sheet("Anything").unwrap();
    assert_eq!(sheet.key, ["id"]);
    assert_eq!(sheet.header_row, 1);
}

#[test]
fn sheets_as_a_list_or_a_table() {
    let s = settings(json!({ "path": "b.ods", "key": ["id"], "sheets": ["A", "B"] })).unwrap();
    assert!(!s.writable());
    assert_eq!(s.sheet("A").unwrap().key, ["id"]);
    assert!(
        s.sheet("C").is_none(),
        "a sheet not listed is not an entity"
    );

    let s = settings(json!({
        "path": "b.xlsx",
        "header_row": 2,
        "sheets": { "Orders": { "key": ["order_no"], "header_row": 3 }, "Lines": { "key": ["order_no", "line"] } },
    }))
    .unwrap();
    let orders = s.sheet("Orders").unwrap();
    assert_eq!(
        (orders.key.as_slice(), orders.header_row),
        (&["order_no".to_owned()][..], 3)
    );
    let lines = s.sheet("Lines").unwrap();
    assert_eq!((lines.key.len(), lines.header_row), (2, 2));
}

#[test]
fn messages_name_the_setting() {
    assert!(message(json!({ "path": "b.xlsx" })).contains("key: required"));
    assert!(
        message(json!({ "path": "b.csv", "key": ["id"] })).contains(".xlsx, .xlsm, .xls or .ods")
    );
    assert!(
        message(json!({ "path": "b.xlsx", "key": ["id"], "header_row": 0 })).contains("header_row")
    );
    assert!(
        message(json!({ "path": "b.xlsx", "sheets": { "A": {} } }))
            .contains("sheets.A.key: required")
    );
    assert!(
        message(json!({ "path": "b.xlsx", "key": ["id"], "sheets": ["A/B"] })).contains("sheets")
    );
    assert!(
        message(json!({ "path": "b.xlsx", "key": ["id"], "sheets": ["A", "a"] })).contains("twice")
    );
    assert!(message(json!({ "path": "b.xlsx", "key": ["id"], "sheets": 3 })).contains("sheets:"));
    assert!(
        message(json!({ "path": "b.xlsx", "key": ["id"], "sheets": { "A": { "colour": 1 } } }))
            .contains("colour")
    );
    assert!(message(json!({ "path": "b.xlsx", "key": ["id", "id"] })).contains("twice"));
    assert!(
        message(json!({ "path": "b.xlsx", "key": ["id"], "on_bad_record": "ignore" }))
            .contains("on_bad_record")
    );
}
