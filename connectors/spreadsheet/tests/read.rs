//! Reading workbooks: typed cells and dates in xlsx, xlsm, xls and ods,
//! blank rows, batches and field subsets, discovery, header rows.

mod common;

use common::*;
use rust_xlsxwriter::Format;
use serde_json::json;
use tandem_core::{FieldType, ReadRequest, Record, Source, Value};

/// What the `People` sheet reads as, in every format.
fn check_people(records: &[Record]) {
    let keys: Vec<&str> = records.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["1", "2", "3"], "the blank row is passed over");
    let date = |y, m, d| Value::Date(jiff::civil::date(y, m, d));
    let expected = [
        [
            Value::Int(1),
            "Ada".into(),
            Value::Int(3),
            Value::Float(2.5),
            Value::Bool(true),
            date(2024, 1, 31),
            Value::DateTime(utc(2024, 1, 31, 10, 30, 0, 0)),
        ],
        [
            Value::Int(2),
            "Grace".into(),
            Value::Int(-7),
            Value::Float(0.125),
            Value::Bool(false),
            date(1999, 12, 31),
            Value::DateTime(utc(2000, 1, 1, 0, 0, 1, 0)),
        ],
        [
            Value::Int(3),
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
        ],
    ];
    let names = ["id", "name", "amount", "price", "active", "joined", "seen"];
    for (record, values) in records.iter().zip(expected) {
        let got: Vec<(&str, &Value)> = record.fields.iter().map(|(n, v)| (n.as_str(), v)).collect();
        let want: Vec<(&str, &Value)> = names.iter().copied().zip(values.iter()).collect();
        assert_eq!(got, want, "record {}", record.key);
    }
}

#[tokio::test]
async fn xlsx_typed_cells_dates_and_blank_rows() {
    let dir = Dir::new();
    let path = dir.path("people.xlsx");
    xlsx(&path, &[("People", &people)]);
    check_people(&records(&connector(&path, json!({})), "People").await);
}

#[tokio::test]
async fn xls_reads_the_same() {
    let c = connector(&data("people.xls"), json!({}));
    check_people(&records(&c, "People").await);
}

#[tokio::test]
async fn ods_reads_the_same() {
    let c = connector(&data("people.ods"), json!({}));
    check_people(&records(&c, "People").await);
}

#[tokio::test]
async fn discovery_types_the_columns() {
    let dir = Dir::new();
    let path = dir.path("people.xlsx");
    xlsx(&path, &[("People", &people), ("Empty", &|_| {})]);
    let entities = connector(&path, json!({})).entities().await.unwrap();
    let names: Vec<&str> = entities.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["People", "Empty"]);
    let kinds: Vec<FieldType> = entities[0].fields.iter().map(|f| f.kind).collect();
    use FieldType::*;
    assert_eq!(kinds, [Int, Text, Int, Float, Bool, Date, DateTime]);
    assert_eq!(entities[0].key, ["id"]);
    assert_eq!(
        entities[1].fields.len(),
        1,
        "an empty sheet has its key field"
    );
}

#[tokio::test]
async fn batches_and_field_subsets() {
    let dir = Dir::new();
    let path = dir.path("many.xlsx");
    xlsx(
        &path,
        &[("Data", &|ws| {
            ws.write(0, 0, "id").unwrap();
            ws.write(0, 1, "name").unwrap();
            ws.write(0, 2, "amount").unwrap();
            for r in 1..=2500u32 {
                ws.write(r, 0, format!("k{r}")).unwrap();
                ws.write(r, 1, format!("name {r}")).unwrap();
                ws.write(r, 2, r).unwrap();
            }
        })],
    );
    let c = connector(&path, json!({}));
    let sizes: Vec<usize> = batches(&c, "Data", 1000)
        .await
        .unwrap()
        .iter()
        .map(|b| b.changes.len())
        .collect();
    assert_eq!(sizes, [1000, 1000, 500]);
    let request = ReadRequest::full("Data").with_fields(Some(vec!["amount".into()]));
    let stream = c.read(request).await.unwrap();
    let read: Vec<tandem_core::Batch> = futures::TryStreamExt::try_collect(stream).await.unwrap();
    let tandem_core::Change::Upsert(first) = &read[0].changes[0] else {
        panic!()
    };
    assert_eq!(
        first.fields,
        [("id".into(), "k1".into()), ("amount".into(), Value::Int(1))]
    );
}

#[tokio::test]
async fn header_row_below_a_title() {
    let dir = Dir::new();
    let path = dir.path("titled.xlsx");
    xlsx(
        &path,
        &[("Report", &|ws| {
            ws.merge_range(0, 0, 0, 2, "Quarterly report", &Format::new())
                .unwrap();
            ws.write(2, 0, "id").unwrap();
            ws.write(2, 1, "total").unwrap();
            ws.write(3, 0, 7).unwrap();
            ws.write(3, 1, 1.5).unwrap();
        })],
    );
    let read = records(&connector(&path, json!({ "header_row": 3 })), "Report").await;
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].get("total"), Some(&Value::Float(1.5)));
}

#[tokio::test]
async fn xlsm_reads_like_xlsx() {
    let dir = Dir::new();
    let xlsx_path = dir.path("people.xlsx");
    xlsx(&xlsx_path, &[("People", &people)]);
    let xlsm = dir.path("people.xlsm");
    std::fs::copy(&xlsx_path, &xlsm).unwrap();
    check_people(&records(&connector(&xlsm, json!({})), "People").await);
}

#[tokio::test]
async fn opened_as_a_plugin_path_is_relative_to_the_manifest() {
    use tandem_core::plugin::{Connector, OpenContext};
    let dir = Dir::new();
    xlsx(&dir.path("people.xlsx"), &[("People", &people)]);
    let context = OpenContext::new("sheet", dir.dir.path());
    let config = json!({ "path": "people.xlsx", "key": ["id"] });
    let c = tandem_connector_spreadsheet::SpreadsheetConnector::open(config, &context).unwrap();
    check_people(&records(&c, "People").await);
    assert!(c.as_target().is_some());
}
