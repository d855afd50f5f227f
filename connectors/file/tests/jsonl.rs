//! JSON Lines: typed values, field order, bad lines, byte-for-byte rewrites.

mod common;

use common::{Dir, bad_record, commit, connector, read_all, records};
use serde_json::json;
use tandem_core::{Change, FieldType, Record, Source, Value};

#[tokio::test]
async fn reads_typed_values_in_file_order() {
    let dir = Dir::new();
    let path = dir.write(
        "events.jsonl",
        "\u{feff}{\"zeta\":1,\"id\":\"a\",\"alpha\":[true,null],\"f\":1.5}\r\n\
         \r\n   \n\
         {\"id\":7,\"alpha\":{\"x\":\"y\"},\"zeta\":null}\n",
    );
    let c = connector(&path, json!({}));
    let records = records(&c).await;
    assert_eq!(records.len(), 2, "blank lines are skipped");
    let names: Vec<&str> = records[0].fields.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["zeta", "id", "alpha", "f"],
        "fields keep the file's order"
    );
    assert_eq!(records[0].get("zeta"), Some(&Value::Int(1)));
    assert_eq!(records[0].get("f"), Some(&Value::Float(1.5)));
    assert_eq!(
        records[0].get("alpha"),
        Some(&Value::List(vec![Value::Bool(true), Value::Null]))
    );
    assert_eq!(
        records[1].key.as_str(),
        "7",
        "a key is the value's canonical text"
    );
    assert_eq!(records[1].get("zeta"), Some(&Value::Null));

    let schema = &c.entities().await.unwrap()[0];
    assert_eq!(schema.name, "events");
    let kinds: Vec<(&str, FieldType, bool)> = schema
        .fields
        .iter()
        .map(|f| (f.name.as_str(), f.kind, f.nullable))
        .collect();
    assert_eq!(
        kinds,
        [
            ("zeta", FieldType::Int, true),
            ("id", FieldType::Unknown, false),
            ("alpha", FieldType::Json, false),
            ("f", FieldType::Float, true),
        ]
    );
}

#[tokio::test]
async fn bad_lines_name_path_line_and_column() {
    let dir = Dir::new();
    let path = dir.write("e.jsonl", "{\"id\":1}\n\n[1,2]\n");
    let (location, message) = bad_record(read_all(&connector(&path, json!({}))).await.unwrap_err());
    assert_eq!(location, format!("{}:3", path.display()));
    assert!(message.contains("expected a JSON object"), "{message}");

    let path = dir.write(
        "f.jsonl",
        "{\"id\":1}\n{\"id\":2,\"x\":tru}\n{\"x\":1}\n{\"id\":\"\"}\n",
    );
    let c = connector(&path, json!({ "on_bad_record": "skip" }));
    let (records, rejected) = read_all(&c).await.unwrap();
    assert_eq!(records.len(), 1);
    let p = path.display();
    let locations: Vec<&str> = rejected.iter().map(|r| r.location.as_str()).collect();
    assert_eq!(
        locations,
        [
            format!("{p}:2, column 16").as_str(),
            format!("{p}:3, column id").as_str(),
            format!("{p}:4, column id").as_str(),
        ]
    );
}

#[tokio::test]
async fn a_rejected_line_carries_the_key_its_key_fields_give() {
    let dir = Dir::new();
    // Invalid UTF-8 outside the key, in the key, in a line that is not
    // JSON, and a valid line that is not JSON.
    let path = dir.write(
        "u.jsonl",
        b"{\"id\":\"1\",\"n\":\"caf\xe9\"}\n{\"id\":\"\xe9\",\"n\":\"x\"}\n{\"id\":3,\"n\":\"\xe9\"\n{\"id\":4,\n{\"id\":5}\n"
            .as_slice(),
    );
    let c = connector(&path, json!({ "on_bad_record": "skip" }));
    let (records, rejected) = read_all(&c).await.unwrap();
    assert_eq!(records.len(), 1);
    let keys: Vec<Option<&str>> = rejected.iter().map(|r| r.key.as_deref()).collect();
    assert_eq!(keys, [Some("1"), None, None, None]);
}

#[tokio::test]
async fn commit_rewrites_only_changed_lines() {
    let dir = Dir::new();
    let original = "{ \"id\": \"1\",   \"n\": 1 }\n\
                    {\"id\":\"2\",\"n\":2}\n\
                    \n\
                    {\"n\":3, \"id\":\"3\"}";
    let path = dir.write("e.jsonl", original);
    let c = connector(&path, json!({}));
    commit(
        &c,
        vec![
            Change::delete("2"),
            Change::Upsert(Record::new("3").with("n", 33).with("id", "3")),
            Change::Upsert(
                Record::new("4")
                    .with("id", "4")
                    .with("note", "a \"quote\"")
                    .with("none", Value::Null),
            ),
        ],
    )
    .await;
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "{ \"id\": \"1\",   \"n\": 1 }\n\
         {\"n\":33,\"id\":\"3\"}\n\
         {\"id\":\"4\",\"note\":\"a \\\"quote\\\"\",\"none\":null}\n"
    );
}

#[tokio::test]
async fn rollback_leaves_the_file_byte_identical() {
    let dir = Dir::new();
    let original = "{\"id\":\"1\"}\r\n{\"id\":\"2\"}\r\n";
    let path = dir.write("e.jsonl", original);
    let c = connector(&path, json!({}));
    let mut tx = tandem_core::Target::begin(&c, "e").await.unwrap();
    tx.apply(vec![Change::delete("1")]).await.unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), original.as_bytes());

    commit(&c, vec![Change::Upsert(Record::new("3").with("id", "3"))]).await;
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "{\"id\":\"1\"}\r\n{\"id\":\"2\"}\r\n{\"id\":\"3\"}\r\n",
        "new lines end like the file's"
    );
}
