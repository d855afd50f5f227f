//! Reading CSV files: dialects, line numbers of bad rows, skip mode, streaming.

mod common;

use common::{Dir, bad_record, batches, connector, read_all, records, text};
use serde_json::json;
use tandem_core::{Error, FieldType, ReadRequest, Source, Value};

#[tokio::test]
async fn bom_is_stripped() {
    let dir = Dir::new();
    let path = dir.write("people.csv", "\u{feff}id,name\n1,Ada\n");
    let c = connector(&path, json!({}));
    let records = records(&c).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].fields[0].0, "id");
    assert_eq!(records[0].key.as_str(), "1");
    let schema = c.entities().await.unwrap();
    assert_eq!(schema[0].fields[0].name, "id");
}

#[tokio::test]
async fn semicolon_delimiter_and_quotes() {
    let dir = Dir::new();
    let path = dir.write("p.csv", "id;name;note\n1;\"Lovelace; Ada\";x\n2;Bob;\n");
    let c = connector(&path, json!({ "delimiter": ";" }));
    let records = records(&c).await;
    assert_eq!(text(&records[0], "name").as_deref(), Some("Lovelace; Ada"));
    assert_eq!(
        records[1].get("note"),
        Some(&Value::Null),
        "an empty cell is null"
    );
    assert_eq!(records[1].get("name"), Some(&Value::Text("Bob".into())));
}

#[tokio::test]
async fn tsv_defaults_to_tab() {
    let dir = Dir::new();
    let path = dir.write("p.tsv", "id\tname\n1\tA, B\n");
    let records = records(&connector(&path, json!({}))).await;
    assert_eq!(text(&records[0], "name").as_deref(), Some("A, B"));
}

#[tokio::test]
async fn header_false_with_columns() {
    let dir = Dir::new();
    let path = dir.write("p.csv", "1,Ada\n2,Bob\n");
    let c = connector(&path, json!({ "header": false, "columns": ["id", "name"] }));
    let records = records(&c).await;
    assert_eq!(records.len(), 2);
    assert_eq!(records[1].key.as_str(), "2");
    assert_eq!(text(&records[1], "name").as_deref(), Some("Bob"));
}

#[tokio::test]
async fn quoted_newlines_and_crlf() {
    let dir = Dir::new();
    let path = dir.write(
        "p.csv",
        "id,note\r\n1,\"two\r\nlines, and \"\"quotes\"\"\"\r\n\r\n2,plain\r\n",
    );
    let records = records(&connector(&path, json!({}))).await;
    assert_eq!(records.len(), 2, "a blank line is not a row");
    assert_eq!(
        text(&records[0], "note").as_deref(),
        Some("two\r\nlines, and \"quotes\"")
    );
    assert_eq!(text(&records[1], "note").as_deref(), Some("plain"));
}

#[tokio::test]
async fn composite_key() {
    let dir = Dir::new();
    let path = dir.write("p.csv", "a,b,x\n1,2,y\n");
    let c = tandem_connector_file::FileConnector::from_config(json!({
        "path": path, "key": ["a", "b"]
    }))
    .unwrap();
    let records = records(&c).await;
    assert_eq!(records[0].key, tandem_core::Key::composite(&["1", "2"]));
}

#[tokio::test]
async fn malformed_row_names_path_line_and_column() {
    let dir = Dir::new();
    // The row on line 2 spans lines 2 and 3; the bad row starts on line 5
    // after a blank line.
    let path = dir.write("p.csv", "id,name,note\n1,a,\"multi\nline\"\n\n2,b\n3,c,d\n");
    let err = read_all(&connector(&path, json!({}))).await.unwrap_err();
    let shown = err.to_string();
    let (location, message) = bad_record(err);
    assert_eq!(location, format!("{}:5, column note", path.display()));
    assert!(message.contains("expected 3, found 2"), "{message}");
    assert!(shown.starts_with("file: "), "{shown}");

    let path = dir.write("q.csv", "id,name\n1,a,extra\n");
    let (location, _) = bad_record(read_all(&connector(&path, json!({}))).await.unwrap_err());
    assert_eq!(location, format!("{}:2, column 3", path.display()));
}

#[tokio::test]
async fn invalid_utf8_names_the_column() {
    let dir = Dir::new();
    let path = dir.write("p.csv", b"id,name\n1,ok\n2,\xff\xfe\n");
    let (location, message) = bad_record(read_all(&connector(&path, json!({}))).await.unwrap_err());
    assert_eq!(location, format!("{}:3, column name", path.display()));
    assert!(message.contains("UTF-8"), "{message}");
}

#[tokio::test]
async fn missing_key_and_duplicate_key() {
    let dir = Dir::new();
    let path = dir.write("p.csv", "id,name\n,a\n");
    let (location, message) = bad_record(read_all(&connector(&path, json!({}))).await.unwrap_err());
    assert_eq!(location, format!("{}:2, column id", path.display()));
    assert!(message.contains("key"), "{message}");

    let path = dir.write("q.csv", "id,name\n1,a\n2,b\n1,c\n");
    let (location, message) = bad_record(read_all(&connector(&path, json!({}))).await.unwrap_err());
    assert_eq!(location, format!("{}:4", path.display()));
    assert!(
        message.contains("duplicate key 1 (first on line 2)"),
        "{message}"
    );
}

#[tokio::test]
async fn skip_mode_reports_rows_and_goes_on() {
    let dir = Dir::new();
    let path = dir.write("p.csv", "id,name\n1,a\n2\n3,c\n1,dup\n,nokey\n4,d\n");
    let c = connector(&path, json!({ "on_bad_record": "skip" }));
    let (records, rejected) = read_all(&c).await.unwrap();
    let keys: Vec<&str> = records.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["1", "3", "4"]);
    let locations: Vec<String> = rejected.iter().map(|r| r.location.clone()).collect();
    let p = path.display();
    assert_eq!(
        locations,
        [
            format!("{p}:3, column name"),
            format!("{p}:5"),
            format!("{p}:6, column id")
        ]
    );
    let keys: Vec<Option<&str>> = rejected.iter().map(|r| r.key.as_deref()).collect();
    assert_eq!(
        keys,
        [Some("2"), Some("1"), None],
        "a short row's leading key cell is read, a duplicate's key is known, an empty key is none"
    );
}

#[tokio::test]
async fn a_rejected_row_carries_the_key_its_key_cells_give() {
    let dir = Dir::new();
    let skip = json!({ "on_bad_record": "skip" });
    let keys = |rejected: &[tandem_core::RecordError]| -> Vec<Option<String>> {
        rejected.iter().map(|r| r.key.clone()).collect()
    };
    // Invalid UTF-8 outside the key, in the key, and a row too long.
    let path = dir.write(
        "utf8.csv",
        b"id,name\n1,caf\xe9\n\xe9t\xe9,x\n2,b,extra\n3,c\n".as_slice(),
    );
    let (records, rejected) = read_all(&connector(&path, skip.clone())).await.unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(keys(&rejected), [Some("1".into()), None, Some("2".into())]);

    // A key column after another column: in a row with a field too many or
    // too few, the key cell may have moved, so there is no key.
    let path = dir.write(
        "late.csv",
        b"name,id\nAnn,1\nBob\nCy,3,x\ncaf\xe9,4\n".as_slice(),
    );
    let (_, rejected) = read_all(&connector(&path, skip.clone())).await.unwrap();
    assert_eq!(keys(&rejected), [None, None, Some("4".into())]);

    // Key columns that lead the row are read from a short row.
    let path = dir.write("pair.csv", "a,b,name\n1,2,x\n1,3\n4\n");
    let c = connector(&path, json!({ "key": ["b", "a"], "on_bad_record": "skip" }));
    let (_, rejected) = read_all(&c).await.unwrap();
    let composite = tandem_core::Key::composite(&["3", "1"]);
    assert_eq!(keys(&rejected), [Some(composite.as_str().into()), None]);
}

#[tokio::test]
async fn field_subset_keeps_the_key() {
    let dir = Dir::new();
    let path = dir.write("p.csv", "id,name,note\n1,a,x\n");
    let c = connector(&path, json!({}));
    let request = ReadRequest::full("p").with_fields(Some(vec!["note".into()]));
    let batch = futures::TryStreamExt::try_collect::<Vec<_>>(c.read(request).await.unwrap())
        .await
        .unwrap();
    let tandem_core::Change::Upsert(record) = &batch[0].changes[0] else {
        panic!()
    };
    let names: Vec<&str> = record.fields.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["id", "note"]);
}

#[tokio::test]
async fn streaming_batches_are_bounded() {
    let dir = Dir::new();
    let mut data = String::from("id,name,amount\n");
    for i in 0..200_000 {
        data.push_str(&format!("{i},name {i},{}\n", i * 3));
    }
    let path = dir.write("big.csv", data);
    let c = connector(&path, json!({}));
    let batches = batches(&c, 1000).await.unwrap();
    assert!(batches.iter().all(|b| b.changes.len() <= 1000));
    assert_eq!(
        batches.iter().map(|b| b.changes.len()).sum::<usize>(),
        200_000
    );
    // 200 full batches, then the last one: only the cursor.
    assert_eq!(batches.len(), 201);
    assert!(batches[200].changes.is_empty() && batches[200].cursor.is_some());
}

#[tokio::test]
async fn missing_file_and_scopes() {
    let dir = Dir::new();
    let path = dir.path("none.csv");
    let c = connector(&path, json!({}));
    assert!(
        records(&c).await.is_empty(),
        "create = true: missing is empty"
    );
    let schema = c.entities().await.unwrap();
    assert_eq!(schema[0].name, "none");
    assert_eq!(schema[0].fields[0].name, "id");
    assert_eq!(schema[0].fields[0].kind, FieldType::Text);

    let strict = connector(&path, json!({ "create": false }));
    assert!(matches!(
        read_all(&strict).await,
        Err(Error::NotFound { .. })
    ));

    let since = ReadRequest::since("none", tandem_core::Cursor::from_text("1"));
    assert!(
        matches!(c.read(since).await, Err(Error::CursorExpired { .. })),
        "a cursor this connector did not write has expired"
    );
    let other = ReadRequest::full("other");
    assert!(matches!(c.read(other).await, Err(Error::NotFound { .. })));
}

#[tokio::test]
async fn header_problems() {
    let dir = Dir::new();
    let path = dir.write("p.csv", "name,note\na,b\n");
    let err = read_all(&connector(&path, json!({}))).await.unwrap_err();
    assert!(matches!(&err, Error::Config { message, .. } if message.contains("\"id\"")));

    let path = dir.write("q.csv", "id,a,a\n1,2,3\n");
    let (location, _) = bad_record(read_all(&connector(&path, json!({}))).await.unwrap_err());
    assert_eq!(location, format!("{}:1, column a", path.display()));
}

#[tokio::test]
async fn dropping_a_read_early_is_fine() {
    let dir = Dir::new();
    let mut data = String::from("id\n");
    for i in 0..50_000 {
        data.push_str(&format!("{i}\n"));
    }
    let path = dir.write("p.csv", data);
    let c = connector(&path, json!({}));
    let mut stream = c
        .read(ReadRequest::full("p").with_batch_size(10))
        .await
        .unwrap();
    let first = futures::StreamExt::next(&mut stream)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.changes.len(), 10);
    drop(stream);
    // The file can still be read in full afterwards.
    assert_eq!(records(&c).await.len(), 50_000);
}

#[tokio::test]
async fn schema_of_a_headerless_file() {
    let dir = Dir::new();
    let c = connector(
        &dir.path("none.csv"),
        json!({ "header": false, "columns": ["id", "a", "b"] }),
    );
    let schema = c.entities().await.unwrap();
    let names: Vec<&str> = schema[0].fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["id", "a", "b"]);
}

#[tokio::test]
async fn wide_and_long_rows() {
    let dir = Dir::new();
    let names: Vec<String> = (0..100).map(|i| format!("c{i}")).collect();
    let long = "x".repeat(5000);
    let mut data = format!("id,{}\n", names.join(","));
    for row in 0..3 {
        let cells: Vec<String> = (0..100).map(|i| format!("{long}{row}-{i}")).collect();
        data.push_str(&format!("{row},\"{}\"\n", cells.join("\",\"")));
    }
    let path = dir.write("wide.csv", data);
    let records = records(&connector(&path, json!({}))).await;
    assert_eq!(records.len(), 3);
    assert_eq!(records[2].fields.len(), 101);
    assert_eq!(text(&records[2], "c99"), Some(format!("{long}2-99")));
    assert_eq!(text(&records[1], "c0"), Some(format!("{long}1-0")));
}
