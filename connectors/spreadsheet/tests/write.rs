//! Writing xlsx: atomic commits that keep other sheets, rollback byte for
//! byte, values that read back with their content, read-only formats.

mod common;

use std::path::Path;

use calamine::{Data, Reader, Xlsx, open_workbook};
use common::*;
use rust_xlsxwriter::{ExcelDateTime, Format, Formula, Workbook};
use serde_json::json;
use tandem_core::{Change, Error, Key, Record, Target, Value};

/// A workbook with a `Notes` sheet before and a `Totals` sheet after the
/// `People` sheet, which has a title row above its header (row 2).
fn workbook(path: &Path) {
    let mut book = Workbook::new();
    let notes = book.add_worksheet();
    notes.set_name("Notes").unwrap();
    notes.write(0, 0, "kept as it is").unwrap();
    notes.write(1, 1, 42).unwrap();
    notes.write(2, 2, true).unwrap();
    let date = Format::new().set_num_format("yyyy-mm-dd");
    notes
        .write_datetime_with_format(3, 0, ExcelDateTime::from_ymd(2023, 5, 6).unwrap(), &date)
        .unwrap();
    notes
        .write_formula(4, 0, Formula::new("=B2*2").set_result("84"))
        .unwrap();
    let people = book.add_worksheet();
    people.set_name("People").unwrap();
    people.write(0, 0, "People we know").unwrap();
    for (c, name) in ["id", "name", "amount"].iter().enumerate() {
        people.write(1, c as u16, *name).unwrap();
    }
    for (r, (id, name, amount)) in [("a", "Ada", 1), ("b", "Bob", 2), ("c", "Cy", 3)]
        .iter()
        .enumerate()
    {
        let r = r as u32 + 2;
        people.write(r, 0, *id).unwrap();
        people.write(r, 1, *name).unwrap();
        people.write(r, 2, *amount).unwrap();
    }
    let totals = book.add_worksheet();
    totals.set_name("Totals").unwrap();
    totals.write(0, 0, 1.25).unwrap();
    book.save(path).unwrap();
}

fn people_connector(path: &Path) -> tandem_connector_spreadsheet::SpreadsheetConnector {
    connector(path, json!({ "sheets": { "People": { "header_row": 2 } } }))
}

fn person(id: &str, name: &str, amount: impl Into<Value>) -> Record {
    Record::new(id)
        .with("id", id)
        .with("name", name)
        .with("amount", amount)
}

/// A sheet's name and its non-empty cells by position.
type SheetCells = (String, Vec<((u32, u32), Data)>);

/// Every sheet's cells, as calamine reads them.
fn cells(path: &Path) -> Vec<SheetCells> {
    let mut book: Xlsx<_> = open_workbook(path).unwrap();
    book.worksheets()
        .into_iter()
        .map(|(name, range)| {
            let cells = range
                .used_cells()
                .map(|(r, c, v)| ((r as u32, c as u32), v.clone()))
                .collect();
            (name, cells)
        })
        .collect()
}

#[tokio::test]
async fn commit_changes_one_sheet_and_keeps_the_others() {
    let dir = Dir::new();
    let path = dir.path("book.xlsx");
    workbook(&path);
    let before = cells(&path);
    let c = people_connector(&path);
    let mut tx = c.begin("People").await.unwrap();
    let changes = vec![
        Change::Upsert(person("b", "Bob", 20).with("email", "bob@example.com")),
        Change::delete("a"),
        Change::Upsert(person("d", "Di", 4)),
    ];
    tx.apply(changes).await.unwrap();
    tx.commit().await.unwrap();

    let after = cells(&path);
    let names: Vec<&str> = after.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["Notes", "People", "Totals"],
        "the sheets keep their order"
    );
    assert_eq!(
        after[0], before[0],
        "Notes keeps its values (the formula its result)"
    );
    assert_eq!(after[2], before[2], "Totals keeps its values");

    let read = records(&c, "People").await;
    let rows: Vec<(String, Value, Value, Value)> = read
        .iter()
        .map(|r| {
            let get = |f| r.get(f).cloned().unwrap_or_default();
            (
                r.key.0.to_string(),
                get("name"),
                get("amount"),
                get("email"),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (
                "b".into(),
                "Bob".into(),
                Value::Int(20),
                "bob@example.com".into()
            ),
            ("c".into(), "Cy".into(), Value::Int(3), Value::Null),
            ("d".into(), "Di".into(), Value::Int(4), Value::Null),
        ],
        "changed in place, deleted, appended; the new column added at the right"
    );
    let title = &after[1].1[0];
    assert_eq!(
        title,
        &((0, 0), Data::String("People we know".into())),
        "the title row stays"
    );
}

#[tokio::test]
async fn rollback_and_drop_leave_the_bytes() {
    let dir = Dir::new();
    let path = dir.path("book.xlsx");
    workbook(&path);
    let before = std::fs::read(&path).unwrap();
    let c = people_connector(&path);
    let changes = || vec![Change::Upsert(person("z", "Zed", 9)), Change::delete("a")];

    let mut tx = c.begin("People").await.unwrap();
    tx.apply(changes()).await.unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "rollback leaves the file byte for byte"
    );

    let mut tx = c.begin("People").await.unwrap();
    tx.apply(changes()).await.unwrap();
    drop(tx);
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "a dropped transaction leaves the file byte for byte"
    );

    let mut tx = c.begin("People").await.unwrap();
    tx.apply(vec![Change::delete("nobody")]).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "a commit that changes nothing writes nothing"
    );

    let leftovers: Vec<_> = std::fs::read_dir(dir.dir.path()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
}

#[tokio::test]
async fn failed_commit_leaves_the_file() {
    let dir = Dir::new();
    let path = dir.path("book.xlsx");
    workbook(&path);
    // A duplicate key in the sheet fails the commit (on_bad_record = fail).
    let c = people_connector(&path);
    let mut tx = c.begin("People").await.unwrap();
    tx.apply(vec![
        Change::Upsert(person("a", "Ada", 1)),
        Change::Upsert(person("a2", "Ada", 1)),
    ])
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let mut book = Workbook::new();
    let ws = book.add_worksheet();
    ws.set_name("People").unwrap();
    ws.write(1, 0, "id").unwrap();
    ws.write(2, 0, "x").unwrap();
    ws.write(3, 0, "x").unwrap();
    book.save(&path).unwrap();
    let before = std::fs::read(&path).unwrap();
    let mut tx = c.begin("People").await.unwrap();
    tx.apply(vec![Change::Upsert(person("y", "Y", 1))])
        .await
        .unwrap();
    let err = tx.commit().await.unwrap_err();
    assert!(
        err.to_string().contains("People!4:4") && err.to_string().contains("duplicate"),
        "{err}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[tokio::test]
async fn values_read_back_with_their_content() {
    let dir = Dir::new();
    let path = dir.path("values.xlsx");
    let c = connector(&path, json!({ "sheets": ["Values"] }));
    let record = Record::new("1")
        .with("id", 1)
        .with("date", Value::Date(jiff::civil::date(2024, 2, 29)))
        .with("at", Value::DateTime(utc(2024, 2, 29, 23, 59, 58, 250)))
        .with("midnight", Value::DateTime(utc(2024, 3, 1, 0, 0, 0, 0)))
        .with("old", Value::Date(jiff::civil::date(1850, 1, 1)))
        .with("big", Value::Int(i64::MAX))
        .with("float", 0.1)
        .with("decimal", Value::Decimal("12.50".into()))
        .with(
            "long decimal",
            Value::Decimal("0.12345678901234567890".into()),
        )
        .with("bytes", Value::Bytes(vec![0, 255]))
        .with("list", Value::List(vec![1.into(), "a".into()]))
        .with("flag", false)
        .with("text", "line 1\r\nline 2 _x000D_ \u{1}");
    let mut tx = c.begin("Values").await.unwrap();
    tx.apply(vec![Change::Upsert(record.clone())])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let read = records(&c, "Values").await;
    assert_eq!(read.len(), 1);
    for (name, written) in &record.fields {
        let got = read[0].get(name).unwrap();
        assert!(
            written.same_content(got),
            "{name}: wrote {written:?}, read {got:?}"
        );
    }
    assert!(matches!(read[0].get("date"), Some(Value::Date(_))));
    assert!(matches!(read[0].get("at"), Some(Value::DateTime(_))));
    assert_eq!(read[0].get("decimal"), Some(&Value::Float(12.5)));
    let fetched = c
        .fetch("Values", &[Key::from("1"), Key::from("2")])
        .await
        .unwrap();
    assert_eq!(fetched, read);
}

#[tokio::test]
async fn too_long_text_is_a_bad_record_at_apply() {
    let dir = Dir::new();
    let c = connector(&dir.path("b.xlsx"), json!({ "sheets": ["S"] }));
    let mut tx = c.begin("S").await.unwrap();
    let long = "x".repeat(40_000);
    let err = tx
        .apply(vec![Change::Upsert(
            Record::new("1").with("id", "1").with("t", long),
        )])
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::BadRecord { .. }) && err.to_string().contains("key 1"),
        "{err}"
    );
}

#[tokio::test]
async fn only_xlsx_is_written() {
    for file in ["people.xls", "people.ods"] {
        let c = connector(&data(file), json!({}));
        let err = c.begin("People").await.err().expect("begin fails");
        assert!(matches!(err, Error::Config { .. }), "{err:?}");
        assert!(
            err.to_string().contains("only xlsx can be written"),
            "{err}"
        );
        assert!(!tandem_core::Source::capabilities(&c).transactions);
    }
    let dir = Dir::new();
    let c = connector(&dir.path("macros.xlsm"), json!({ "sheets": ["S"] }));
    let err = c.begin("S").await.err().expect("begin fails");
    assert!(err.to_string().contains("macros would be lost"), "{err}");
}

#[tokio::test]
async fn a_sheet_that_is_not_an_entity_is_not_written() {
    let dir = Dir::new();
    let path = dir.path("book.xlsx");
    workbook(&path);
    let c = connector(&path, json!({}));
    assert!(matches!(
        c.begin("Nope").await.err(),
        Some(Error::NotFound { .. })
    ));
    let listed = people_connector(&path);
    assert!(matches!(
        listed.begin("Notes").await.err(),
        Some(Error::NotFound { .. })
    ));
}
