//! Writing CSV files: byte-for-byte untouched rows, rollback, new columns.

mod common;

use common::{Dir, commit, connector, records, text};
use serde_json::json;
use tandem_core::{Change, Error, Key, Record, Target, Value};

fn person(id: &str, name: &str) -> Change {
    Change::Upsert(Record::new(id).with("id", id).with("name", name))
}

#[tokio::test]
async fn rollback_and_drop_leave_the_file_byte_identical() {
    let dir = Dir::new();
    let original = "id,name\r\n1,\"Ada\"\r\n2,Bob\r\n";
    let path = dir.write("p.csv", original);
    let c = connector(&path, json!({}));

    let mut tx = c.begin("p").await.unwrap();
    tx.apply(vec![
        person("1", "Changed"),
        Change::delete("2"),
        person("3", "New"),
    ])
    .await
    .unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), original.as_bytes());

    let mut tx = c.begin("p").await.unwrap();
    tx.apply(vec![person("1", "Changed")]).await.unwrap();
    drop(tx);
    assert_eq!(std::fs::read(&path).unwrap(), original.as_bytes());
    let entries = std::fs::read_dir(dir.dir.path()).unwrap().count();
    assert_eq!(entries, 1, "no temporary file is left behind");
}

#[tokio::test]
async fn commit_keeps_untouched_rows_byte_identical() {
    let dir = Dir::new();
    let original = "\u{feff}id,name,note\n\
                    \"1\",\"Ada\",  spaced  \n\
                    2,Bob,\"multi\nline\"\n\
                    \n\
                    3,\"Cy \"\"the\"\" one\",x\n\
                    4,Dee,y";
    let path = dir.write("p.csv", original);
    let c = connector(&path, json!({}));
    commit(
        &c,
        vec![
            Change::Upsert(Record::new("3").with("id", "3").with("name", "Cyd")),
            Change::delete("4"),
            person("5", "Eve, new"),
            Change::delete("404"),
        ],
    )
    .await;
    let written = std::fs::read_to_string(&path).unwrap();
    let expected = "\u{feff}id,name,note\n\
                    \"1\",\"Ada\",  spaced  \n\
                    2,Bob,\"multi\nline\"\n\
                    \n\
                    3,Cyd,\n\
                    5,\"Eve, new\",\n";
    assert_eq!(written, expected);
    let records = records(&c).await;
    let keys: Vec<&str> = records.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["1", "2", "3", "5"]);
    assert_eq!(text(&records[0], "note").as_deref(), Some("  spaced  "));
}

#[tokio::test]
async fn last_change_of_a_key_wins_and_crlf_is_kept() {
    let dir = Dir::new();
    let path = dir.write("p.csv", "id,name\r\n1,Ada\r\n2,Bob");
    let c = connector(&path, json!({}));
    let mut tx = c.begin("p").await.unwrap();
    let applied = tx
        .apply(vec![
            person("3", "C1"),
            person("1", "A1"),
            Change::delete("1"),
        ])
        .await
        .unwrap();
    assert_eq!(applied.len(), 3);
    tx.apply(vec![person("3", "C2"), person("1", "A2")])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "id,name\r\n1,A2\r\n2,Bob\r\n3,C2\r\n"
    );
}

#[tokio::test]
async fn new_columns_are_appended() {
    let dir = Dir::new();
    let path = dir.write("p.csv", "id,name\n1,\"Ada\"\n2,Bob\n");
    let c = connector(&path, json!({}));
    commit(
        &c,
        vec![Change::Upsert(
            Record::new("2")
                .with("id", "2")
                .with("name", "Bob")
                .with("city", "Oslo, NO")
                .with("age", 42),
        )],
    )
    .await;
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "id,name,city,age\n1,\"Ada\",,\n2,Bob,\"Oslo, NO\",42\n"
    );
}

#[tokio::test]
async fn creates_a_missing_file_on_first_commit() {
    let dir = Dir::new();
    let path = dir.path("new.csv");
    let c = connector(&path, json!({}));
    commit(&c, vec![Change::delete("1")]).await;
    assert!(!path.exists(), "only deletes: nothing to create");
    commit(
        &c,
        vec![
            Change::Upsert(Record::new("1").with("id", "1").with("name", Value::Null)),
            Change::Upsert(Record::new("2").with("id", "2").with("extra", "x\"y")),
        ],
    )
    .await;
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "id,name,extra\n1,,\n2,,\"x\"\"y\"\n"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
    }
}

#[tokio::test]
async fn key_columns_come_from_the_record_key_when_absent() {
    let dir = Dir::new();
    let path = dir.path("k.csv");
    let c = connector(&path, json!({}));
    let mut tx = c.begin("k").await.unwrap();
    let applied = tx
        .apply(vec![
            Change::Upsert(Record::new("7").with("name", "Seven")),
            Change::Upsert(Record::new("ignored").with("id", "8").with("name", "Eight")),
        ])
        .await
        .unwrap();
    assert_eq!(applied[0].key, Key::from("7"));
    assert_eq!(applied[1].key, Key::from("8"), "the key columns win");
    tx.commit().await.unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "id,name\n7,Seven\n8,Eight\n"
    );

    let mut tx = c.begin("k").await.unwrap();
    let err = tx
        .apply(vec![Change::Upsert(Record::new("").with("name", "x"))])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::BadRecord { .. }), "{err:?}");
}

#[tokio::test]
async fn header_false_rejects_unknown_fields() {
    let dir = Dir::new();
    let path = dir.write("p.csv", "1,Ada\n");
    let c = connector(&path, json!({ "header": false, "columns": ["id", "name"] }));
    commit(&c, vec![person("2", "Bob")]).await;
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "1,Ada\n2,Bob\n");
    let mut tx = c.begin("p").await.unwrap();
    let err = tx
        .apply(vec![Change::Upsert(
            Record::new("3").with("id", "3").with("age", 3),
        )])
        .await
        .unwrap_err();
    let Error::BadRecord {
        location, message, ..
    } = err
    else {
        panic!("{err:?}")
    };
    assert_eq!(location, "entity p, key 3");
    assert!(message.contains("\"age\""), "{message}");
}

#[tokio::test]
async fn fetch_scans_for_keys() {
    let dir = Dir::new();
    let path = dir.write("p.csv", "id,name\n1,Ada\n2,Bob\n3,Cy\n");
    let c = connector(&path, json!({}));
    let found = c
        .fetch("p", &[Key::from("3"), Key::from("9"), Key::from("1")])
        .await
        .unwrap();
    let keys: Vec<&str> = found.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["3", "1"]);
    assert!(matches!(
        c.fetch("other", &[]).await,
        Err(Error::NotFound { .. })
    ));
}

#[tokio::test]
async fn bad_rows_fail_the_commit_or_stay_in_skip_mode() {
    let dir = Dir::new();
    let original = "id,name\n1,Ada\n1,Again\nbroken\n2,Bob\n";
    let path = dir.write("p.csv", original);
    let strict = connector(&path, json!({}));
    let mut tx = strict.begin("p").await.unwrap();
    tx.apply(vec![person("2", "B")]).await.unwrap();
    assert!(matches!(tx.commit().await, Err(Error::BadRecord { .. })));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), original);

    let lenient = connector(&path, json!({ "on_bad_record": "skip" }));
    commit(&lenient, vec![person("1", "A"), person("2", "B")]).await;
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "id,name\n1,A\nbroken\n2,B\n",
        "a duplicate of a written key goes, other bad rows stay"
    );

    // A short row keyed 2 is no duplicate: it stays, as the user wrote it.
    dir.write("p.csv", "id,name\n2,Bob\n2\n");
    commit(&lenient, vec![person("2", "B")]).await;
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "id,name\n2,B\n2\n");
}

#[tokio::test]
async fn create_false_needs_the_file() {
    let dir = Dir::new();
    let c = connector(&dir.path("none.csv"), json!({ "create": false }));
    assert!(matches!(c.begin("none").await, Err(Error::NotFound { .. })));
    assert!(matches!(
        c.fetch("none", &[]).await,
        Err(Error::NotFound { .. })
    ));
}

#[cfg(unix)]
#[tokio::test]
async fn a_commit_that_changes_nothing_leaves_the_file_alone() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = Dir::new();
    let path = dir.write("p.csv", "id,name\n1,Ada\n");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let inode = std::fs::metadata(&path).unwrap().ino();
    let c = connector(&path, json!({}));
    commit(&c, vec![Change::delete("404")]).await;
    assert_eq!(
        std::fs::metadata(&path).unwrap().ino(),
        inode,
        "not replaced"
    );

    commit(&c, vec![person("2", "Bob")]).await;
    let meta = std::fs::metadata(&path).unwrap();
    assert_ne!(meta.ino(), inode, "replaced by a new file");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600, "permissions kept");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "id,name\n1,Ada\n2,Bob\n"
    );
}

#[tokio::test]
async fn written_values_round_trip_through_a_standard_reader() {
    let dir = Dir::new();
    let path = dir.path("r.csv");
    let c = connector(&path, json!({ "delimiter": ";", "quote": "'" }));
    let values = [
        "a;b",
        "it's",
        "line\nbreak",
        " spaced ",
        "ÆØÅ ✓",
        "\"dq\"",
        "a,b",
    ];
    let changes = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let id = i.to_string();
            Change::Upsert(Record::new(id.as_str()).with("id", id).with("v", *v))
        })
        .collect();
    commit(&c, changes).await;

    let mut reader = csv::ReaderBuilder::new()
        .delimiter(b';')
        .quote(b'\'')
        .from_path(&path)
        .unwrap();
    let parsed: Vec<String> = reader
        .records()
        .map(|r| r.unwrap().get(1).unwrap().to_owned())
        .collect();
    assert_eq!(parsed, values);
    let ours: Vec<String> = records(&c)
        .await
        .iter()
        .map(|r| text(r, "v").unwrap())
        .collect();
    assert_eq!(ours, values);
}

#[tokio::test]
async fn a_new_file_is_created_with_its_folder() {
    let dir = Dir::new();
    let path = dir.dir.path().join("out/nested/p.csv");
    let c = connector(&path, json!({}));
    let mut tx = c.begin("p").await.unwrap();
    tx.apply(vec![person("1", "Ada")]).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "id,name\n1,Ada\n");
}

#[tokio::test]
async fn a_commit_clears_temporary_files_a_killed_process_left() {
    let dir = Dir::new();
    let path = dir.write("p.csv", "id,name\n1,Ada\n");
    let leftover = dir.dir.path().join(".p.csv.tandem-abc123.tmp");
    std::fs::write(&leftover, "half a file").unwrap();
    let other = dir.write("notes.tmp", "not ours");
    let c = connector(&path, json!({}));
    let mut tx = c.begin("p").await.unwrap();
    tx.apply(vec![person("2", "Bob")]).await.unwrap();
    tx.commit().await.unwrap();
    assert!(!leftover.exists(), "the leftover is removed");
    assert!(other.exists(), "other files are left alone");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "id,name\n1,Ada\n2,Bob\n"
    );
}
