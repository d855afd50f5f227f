//! Bad input: blank, merged and repeated header cells, error cells,
//! duplicate and missing keys, corrupt and password-protected workbooks,
//! sheets that do not exist.

mod common;

use common::*;
use rust_xlsxwriter::{Format, Formula, Worksheet};
use serde_json::json;
use tandem_core::{Error, Source};

/// A sheet with an error cell at C3, a duplicate key and an empty key.
fn bad_rows(ws: &mut Worksheet) {
    for (c, name) in ["id", "name", "ratio"].iter().enumerate() {
        ws.write(0, c as u16, *name).unwrap();
    }
    ws.write(1, 0, 1).unwrap();
    ws.write(1, 2, 0.5).unwrap();
    ws.write(2, 0, 2).unwrap();
    ws.write_formula(2, 2, Formula::new("=1/0").set_result("#DIV/0!"))
        .unwrap();
    ws.write(3, 0, 1).unwrap();
    ws.write(4, 1, "no key").unwrap();
    ws.write(5, 0, 3).unwrap();
}

#[tokio::test]
async fn blank_header_cell_is_named() {
    let dir = Dir::new();
    let path = dir.path("blank.xlsx");
    xlsx(
        &path,
        &[("Sheet1", &|ws| {
            ws.write(0, 0, "id").unwrap();
            ws.write(0, 2, "amount").unwrap();
            ws.write(1, 0, 1).unwrap();
            ws.write(1, 1, "orphan").unwrap();
            ws.write(1, 2, 5).unwrap();
        })],
    );
    let err = read_error(&connector(&path, json!({})), "Sheet1").await;
    assert!(matches!(err, Error::BadRecord { .. }), "{err:?}");
    let shown = err.to_string();
    assert!(
        shown.contains("Sheet1!B1") && shown.contains("blank"),
        "{shown}"
    );
    assert!(shown.contains("blank.xlsx"), "names the file: {shown}");

    // A blank header over an empty column is harmless.
    xlsx(
        &path,
        &[("Sheet1", &|ws| {
            ws.write(0, 0, "id").unwrap();
            ws.write(0, 2, "amount").unwrap();
            ws.write(1, 0, 1).unwrap();
            ws.write(1, 2, 5).unwrap();
        })],
    );
    let read = records(&connector(&path, json!({})), "Sheet1").await;
    assert_eq!(read[0].fields.len(), 2);
}

#[tokio::test]
async fn merged_header_is_an_error() {
    let dir = Dir::new();
    let path = dir.path("merged.xlsx");
    xlsx(
        &path,
        &[("Merged", &|ws| {
            ws.write(0, 0, "id").unwrap();
            ws.merge_range(0, 1, 0, 2, "Full name", &Format::new())
                .unwrap();
            ws.write(1, 0, 1).unwrap();
            ws.write(1, 1, "Ada").unwrap();
            ws.write(1, 2, "Lovelace").unwrap();
        })],
    );
    for c in [
        connector(&path, json!({})),
        connector(&data("people.xls"), json!({})),
    ] {
        let err = read_error(&c, "Merged").await;
        let shown = err.to_string();
        assert!(matches!(err, Error::BadRecord { .. }), "{err:?}");
        assert!(
            shown.contains("Merged!C1") && shown.contains("merged (B1:C1)"),
            "{shown}"
        );
    }
    // calamine does not report OpenDocument merges: the covered cell is blank.
    let err = read_error(&connector(&data("people.ods"), json!({})), "Merged").await;
    let shown = err.to_string();
    assert!(
        shown.contains("Merged!C1") && shown.contains("blank"),
        "{shown}"
    );
}

#[tokio::test]
async fn repeated_column_and_missing_key_column() {
    let dir = Dir::new();
    let path = dir.path("header.xlsx");
    xlsx(
        &path,
        &[
            ("S", &|ws| {
                ws.write(0, 0, "id").unwrap();
                ws.write(0, 1, "name").unwrap();
                ws.write(0, 2, "name").unwrap();
                ws.write(1, 0, 1).unwrap();
            }),
            ("T", &|ws| {
                ws.write(0, 0, "id").unwrap();
                ws.write(1, 0, 1).unwrap();
            }),
        ],
    );
    let shown = read_error(&connector(&path, json!({})), "S")
        .await
        .to_string();
    assert!(
        shown.contains("S!C1") && shown.contains("used twice"),
        "{shown}"
    );
    let shown = read_error(&connector(&path, json!({ "key": ["code"] })), "T")
        .await
        .to_string();
    assert!(
        shown.contains("\"code\" is not in the header row 1"),
        "{shown}"
    );
}

#[tokio::test]
async fn bad_cells_fail_or_are_skipped() {
    let dir = Dir::new();
    let path = dir.path("bad.xlsx");
    xlsx(&path, &[("Sheet1", &bad_rows)]);
    let err = read_error(&connector(&path, json!({})), "Sheet1").await;
    let shown = err.to_string();
    assert!(matches!(err, Error::BadRecord { .. }), "{err:?}");
    assert!(
        shown.contains("Sheet1!C3") && shown.contains("#DIV/0!"),
        "{shown}"
    );

    let c = connector(&path, json!({ "on_bad_record": "skip" }));
    let (read, rejected) = read_all(&c, "Sheet1").await.unwrap();
    let keys: Vec<&str> = read.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["1", "3"]);
    let located: Vec<(&str, Option<&str>)> = rejected
        .iter()
        .map(|r| (r.location.rsplit(", ").next().unwrap(), r.key.as_deref()))
        .collect();
    assert_eq!(
        located,
        [
            ("Sheet1!C3", Some("2")),
            ("Sheet1!4:4", Some("1")),
            ("Sheet1!A5", None)
        ]
    );
    assert!(
        rejected[1]
            .message
            .contains("duplicate key 1 (first in row 2)"),
        "{rejected:?}"
    );
}

#[tokio::test]
async fn corrupt_workbook_names_the_file() {
    let dir = Dir::new();
    let path = dir.path("broken.xlsx");
    std::fs::write(&path, b"this is not a zip archive at all, just text").unwrap();
    let c = connector(&path, json!({}));
    for err in [
        read_error(&c, "Sheet1").await,
        c.entities().await.unwrap_err(),
    ] {
        let shown = err.to_string();
        assert!(
            shown.contains(&path.display().to_string()) && shown.contains("corrupt"),
            "{shown}"
        );
    }
}

#[tokio::test]
async fn password_protected_workbook_is_named() {
    // Encrypted by msoffcrypto-tool (see tests/data/make_fixtures.py).
    let path = data("encrypted.xlsx");
    let err = read_error(&connector(&path, json!({})), "People").await;
    let shown = err.to_string();
    assert!(
        shown.contains("encrypted.xlsx") && shown.contains("password-protected"),
        "{shown}"
    );
}

#[tokio::test]
async fn missing_sheet_is_not_found() {
    let dir = Dir::new();
    let path = dir.path("people.xlsx");
    xlsx(&path, &[("People", &people)]);
    let not_found = |err: Error, sheet: &str| match err {
        Error::NotFound { entity, .. } => assert_eq!(entity, sheet),
        other => panic!("expected NotFound for {sheet:?}, got {other:?}"),
    };
    not_found(
        read_error(&connector(&path, json!({})), "Nope").await,
        "Nope",
    );
    let listed = connector(&path, json!({ "sheets": ["People"] }));
    not_found(read_error(&listed, "Other").await, "Other");
    let xls = connector(&data("people.xls"), json!({ "sheets": ["People", "Gone"] }));
    not_found(read_error(&xls, "Gone").await, "Gone");
    // A listed sheet that an xlsx workbook lacks is empty until written.
    let creates = connector(&path, json!({ "sheets": ["People", "New"] }));
    assert!(records(&creates, "New").await.is_empty());
}

#[tokio::test]
async fn sheets_without_a_header() {
    let dir = Dir::new();
    let path = dir.path("headless.xlsx");
    xlsx(
        &path,
        &[
            ("Empty", &|_| {}),
            ("Title only", &|ws| {
                ws.write(0, 0, "A title above the header row").unwrap();
            }),
            ("No header", &|ws| {
                ws.write(1, 0, 1).unwrap();
                ws.write(1, 1, "data without a header").unwrap();
            }),
        ],
    );
    let c = connector(&path, json!({ "header_row": 2 }));
    assert!(records(&c, "Empty").await.is_empty());
    assert!(records(&c, "Title only").await.is_empty());
    let c = connector(&path, json!({}));
    let shown = read_error(&c, "No header").await.to_string();
    assert!(
        shown.contains("'No header'!A1") && shown.contains("blank"),
        "{shown}"
    );
}
