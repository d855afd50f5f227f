//! Reading since a cursor: an unchanged file is not parsed, a changed one
//! sends only its new and changed rows and the keys that are gone.

mod common;

use common::{Dir, connector};
use futures::TryStreamExt;
use serde_json::json;
use tandem_connector_file::FileConnector;
use tandem_core::{Batch, Change, Cursor, Error, Key, ReadRequest, Record, Source};

/// Every batch of a read since `cursor` (or a full read).
async fn read(c: &FileConnector, cursor: Option<&Cursor>) -> Vec<Batch> {
    let request = match cursor {
        Some(cursor) => ReadRequest::since(c.entity(), cursor.clone()),
        None => ReadRequest::full(c.entity()),
    };
    c.read(request.with_batch_size(2))
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap()
}

/// The changes of a read as `+key` (upsert) and `-key` (delete), and its cursor.
fn summary(batches: Vec<Batch>) -> (Vec<String>, Cursor) {
    let last = batches.last().expect("a read ends with a batch");
    let cursor = last
        .cursor
        .clone()
        .expect("the last batch carries the cursor");
    let changes = batches
        .into_iter()
        .flat_map(|b| b.changes)
        .map(|c| match c {
            Change::Upsert(r) => format!("+{}", r.key),
            Change::Delete { key, .. } => format!("-{key}"),
        })
        .collect();
    (changes, cursor)
}

#[tokio::test]
async fn since_a_cursor_only_changes_are_sent() {
    let dir = Dir::new();
    let path = dir.write("p.csv", "id,name\n1,Ada\n2,Bob\n3,Cy\n4,Di\n");
    let c = connector(&path, json!({}));
    let (all, cursor) = summary(read(&c, None).await);
    assert_eq!(all, ["+1", "+2", "+3", "+4"]);

    let (nothing, same) = summary(read(&c, Some(&cursor)).await);
    assert!(nothing.is_empty(), "an unchanged file sends nothing");
    assert_eq!(same, cursor);

    // Bob renamed, Cy gone, Eve new; Ada and Di moved but unchanged.
    dir.write("p.csv", "id,name\n4,Di\n2,Bobby\n5,Eve\n1,Ada\n");
    let (changed, next) = summary(read(&c, Some(&cursor)).await);
    assert_eq!(changed, ["+2", "+5", "-3"]);
    let (again, _) = summary(read(&c, Some(&cursor)).await);
    assert_eq!(again, changed, "reading changes nothing: the same again");
    let (after, _) = summary(read(&c, Some(&next)).await);
    assert!(after.is_empty(), "the cursor of that read has seen it all");

    // The same content in other bytes: parsed, and nothing sent.
    dir.write("p.csv", "id,name\r\n4,Di\r\n2,Bobby\r\n5,Eve\r\n1,Ada\r\n");
    let (reformatted, _) = summary(read(&c, Some(&next)).await);
    assert!(reformatted.is_empty());
}

#[tokio::test]
async fn a_file_that_went_missing_expires_the_cursor() {
    let dir = Dir::new();
    let path = dir.write("p.csv", "id,name\n1,Ada\n2,Bob\n");
    let c = connector(&path, json!({}));
    let (_, cursor) = summary(read(&c, None).await);
    std::fs::remove_file(&path).unwrap();
    // Not a delete for every key: the engine reads in full instead, and its
    // empty-side guard decides.
    let request = ReadRequest::since(c.entity(), cursor);
    match c.read(request).await {
        Err(Error::CursorExpired { message, .. }) => {
            assert!(message.contains("p.csv is missing"), "{message}");
        }
        Err(e) => panic!("expected an expired cursor, got {e}"),
        Ok(_) => panic!("expected an expired cursor, got a read"),
    }
    let (full, _) = summary(read(&c, None).await);
    assert!(full.is_empty(), "a full read of a missing file is empty");
}

#[tokio::test]
async fn jsonl_since_a_cursor() {
    let dir = Dir::new();
    let path = dir.write(
        "p.jsonl",
        "{\"id\":1,\"n\":\"a\"}\n{\"id\":2,\"n\":\"b\"}\n",
    );
    let c = connector(&path, json!({}));
    let (_, cursor) = summary(read(&c, None).await);
    dir.write(
        "p.jsonl",
        "{\"id\":1,\"n\":\"a\"}\n{\"id\":2,\"n\":\"c\"}\n",
    );
    let (changed, _) = summary(read(&c, Some(&cursor)).await);
    assert_eq!(changed, ["+2"]);
}

#[tokio::test]
async fn since_a_cursor_a_key_twice_names_both_lines() {
    let dir = Dir::new();
    let path = dir.write("p.csv", "id,name\n1,Ada\n2,Bob\n");
    let c = connector(&path, json!({}));
    let (_, cursor) = summary(read(&c, None).await);
    // A key the cursor holds, and a new one, each twice.
    for (text, dup, first, line) in [
        ("id,name\n2,Bob\n1,Ada\n1,Ann\n", "1", 3, 4),
        ("id,name\n1,Ada\n3,Cy\n2,Bob\n3,Cyd\n", "3", 3, 5),
    ] {
        dir.write("p.csv", text);
        let request = ReadRequest::since(c.entity(), cursor.clone());
        let read: Result<Vec<Batch>, Error> = c.read(request).await.unwrap().try_collect().await;
        match read {
            Err(Error::BadRecord {
                location, message, ..
            }) => {
                assert_eq!(location, format!("{}:{line}", path.display()));
                let expected = format!("duplicate key {dup} (first on line {first})");
                assert!(message.contains(&expected), "{message}");
            }
            other => panic!("expected a duplicate key, got {other:?}"),
        }
    }
}

/// The keys of a read's rejected rows.
fn rejected_keys(batches: &[Batch]) -> Vec<Option<String>> {
    batches
        .iter()
        .flat_map(|b| &b.rejected)
        .map(|r| r.key.clone())
        .collect()
}

#[tokio::test]
async fn since_a_cursor_a_rejected_row_with_a_key_is_held_not_gone() {
    let dir = Dir::new();
    let path = dir.write("p.csv", "id,name\n1,Ada\n2,Bob\n3,Cy\n");
    let c = connector(&path, json!({ "on_bad_record": "skip" }));
    let (_, cursor) = summary(read(&c, None).await);

    // Ada's row in invalid UTF-8, Bob's short a field.
    dir.write("p.csv", b"id,name\n1,caf\xe9\n2\n3,Cy\n".as_slice());
    let batches = read(&c, Some(&cursor)).await;
    assert_eq!(
        rejected_keys(&batches),
        [Some("1".into()), Some("2".into())]
    );
    let (changes, next) = summary(batches);
    assert!(
        changes.is_empty(),
        "a rejected row is not gone: {changes:?}"
    );
    // The file is read again next time, and the rows rejected again.
    let batches = read(&c, Some(&next)).await;
    assert_eq!(
        rejected_keys(&batches),
        [Some("1".into()), Some("2".into())]
    );
    let (changes, next) = summary(batches);
    assert!(changes.is_empty(), "{changes:?}");

    // Ada's row as it was: sent again, as a held row is once it reads;
    // Bob's row gone for good: reported gone.
    dir.write("p.csv", "id,name\n1,Ada\n3,Cy\n");
    let batches = read(&c, Some(&next)).await;
    assert!(rejected_keys(&batches).is_empty());
    let (changes, _) = summary(batches);
    assert_eq!(changes, ["+1", "-2"]);
}

#[tokio::test]
async fn since_a_cursor_a_rejected_row_without_a_key_reports_nothing_gone() {
    let dir = Dir::new();
    let path = dir.write("p.csv", "id,name\n1,Ada\n2,Bob\n3,Cy\n");
    let c = connector(&path, json!({ "on_bad_record": "skip" }));
    let (_, cursor) = summary(read(&c, None).await);

    // Bob's key unreadable, Cy gone: the bad row could be either.
    dir.write("p.csv", b"id,name\n1,Ada\n\xe92,Bob\n".as_slice());
    let batches = read(&c, Some(&cursor)).await;
    assert_eq!(rejected_keys(&batches), [None]);
    let (changes, next) = summary(batches);
    assert!(changes.is_empty(), "nothing is gone for sure: {changes:?}");

    // Once the file reads, what is missing is gone.
    dir.write("p.csv", "id,name\n1,Ada\n");
    let (changes, _) = summary(read(&c, Some(&next)).await);
    assert_eq!(changes, ["-2", "-3"]);
}

#[tokio::test]
async fn jsonl_since_a_cursor_a_rejected_line_is_held() {
    let dir = Dir::new();
    let path = dir.write(
        "p.jsonl",
        "{\"id\":1,\"n\":\"a\"}\n{\"id\":2,\"n\":\"b\"}\n",
    );
    let c = connector(&path, json!({ "on_bad_record": "skip" }));
    let (_, cursor) = summary(read(&c, None).await);
    dir.write(
        "p.jsonl",
        b"{\"id\":1,\"n\":\"a\"}\n{\"id\":2,\"n\":\"\xe9\"}\n".as_slice(),
    );
    let batches = read(&c, Some(&cursor)).await;
    assert_eq!(rejected_keys(&batches), [Some("2".into())]);
    let (changes, _) = summary(batches);
    assert!(changes.is_empty(), "{changes:?}");
}

#[tokio::test]
async fn a_cursor_after_a_write_sees_written_rows_put_back() {
    let dir = Dir::new();
    let path = dir.write("p.csv", "id,name\nk0,a\nk1,b\n");
    let c = connector(&path, json!({}));
    let (_, cursor) = summary(read(&c, None).await);
    let row =
        |id: &str, name: &str| Change::Upsert(Record::new(id).with("id", id).with("name", name));
    // Written after the read: k9 new, k1 changed, k0 deleted.
    common::commit(
        &c,
        vec![row("k9", "new"), row("k1", "CHANGED"), Change::delete("k0")],
    )
    .await;
    let written = [Key::from("k9"), Key::from("k1"), Key::from("k0")];
    let after = c.cursor_after_write("p", &cursor, &written).unwrap();

    // A user puts the file back as the read saw it: the read's own cursor
    // sees no difference, the cursor after the write sees every row.
    dir.write("p.csv", "id,name\nk0,a\nk1,b\n");
    let (missed, _) = summary(read(&c, Some(&cursor)).await);
    assert!(missed.is_empty(), "{missed:?}");
    let (changes, next) = summary(read(&c, Some(&after)).await);
    assert_eq!(changes, ["+k0", "+k1", "-k9"]);
    let (after_that, _) = summary(read(&c, Some(&next)).await);
    assert!(after_that.is_empty(), "{after_that:?}");

    let foreign = Cursor::from_text("42");
    assert!(matches!(
        c.cursor_after_write("p", &foreign, &written),
        Err(Error::CursorExpired { .. })
    ));
}
