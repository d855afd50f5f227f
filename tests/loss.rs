//! Loss paths, reproduced as a user meets them: the built binary and its
//! plugins, a manifest, files and an embedded database.

use tandem_e2e::{Sandbox, plugin};

/// `in.csv` sent to `target` (a JSON Lines file or a SQLite table).
fn manifest(target: &str, extra: &str) -> String {
    let target = match target {
        "jsonl" => r#"[endpoints.dst]
type = "file"
path = "out.jsonl"
entity = "items"
key = ["id"]"#
            .to_owned(),
        create => format!(
            r#"[endpoints.dst]
type = "sql"
url = "sqlite://out.db"

[endpoints.dst.table.items]
key = ["id"]
create = {create}"#
        ),
    };
    format!(
        r#"
[plugins]
file = "{file}"
sql = "{sql}"

[endpoints.src]
type = "file"
path = "in.csv"
entity = "items"
key = ["id"]
on_bad_record = "skip"

{target}

[pairs.items]
a = "src"
b = "dst"
entity = "items"
mode = "send"
max_delete = 100
{extra}
"#,
        file = plugin("tandem_connector_file").display(),
        sql = plugin("tandem_connector_sql").display(),
    )
}

/// `a.csv` and `b.csv` kept in step both ways, A winning conflicts.
fn two_way_files() -> Sandbox {
    let s = Sandbox::new();
    s.write(
        "plugins.toml",
        &format!(
            r#"
[plugins]
file = "{file}"

[endpoints.left]
type = "file"
path = "a.csv"
entity = "items"
key = ["id"]

[endpoints.right]
type = "file"
path = "b.csv"
entity = "items"
key = ["id"]

[pairs.items]
a = "left"
b = "right"
entity = "items"
mode = "two_way"
resolver = "a_wins"
max_delete = 100
"#,
            file = plugin("tandem_connector_file").display()
        ),
    );
    s
}

fn rows(n: usize) -> String {
    let mut s = String::from("id,name\n");
    for i in 0..n {
        s.push_str(&format!("k{i:05},name {i}\n"));
    }
    s
}

async fn sqlite(s: &Sandbox, sql: &str) -> Vec<String> {
    use sea_orm::{ConnectionTrait, Database, Statement};
    let url = format!("sqlite://{}?mode=rwc", s.path().join("out.db").display());
    let db = Database::connect(&url).await.unwrap();
    let backend = db.get_database_backend();
    if !sql.starts_with("SELECT") {
        db.execute_unprepared(sql).await.unwrap();
        return Vec::new();
    }
    db.query_all_raw(Statement::from_string(backend, sql))
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get_by_index::<String>(0).unwrap())
        .collect()
}

/// Issue: a send pair whose target table was dropped exited 0 with
/// "synchronized: 2000", then recreated the table holding only the rows
/// that changed.
#[tokio::test]
async fn a_dropped_target_table_fails_the_run_and_force_reloads_it() {
    for create in ["true", "false"] {
        let s = Sandbox::new();
        s.write("plugins.toml", &manifest(create, ""));
        s.write("in.csv", &rows(2000));
        if create == "false" {
            sqlite(&s, "CREATE TABLE items (id TEXT PRIMARY KEY, name TEXT)").await;
        }
        let run = s.tandem(&["sync", "items"], &[]);
        assert_eq!(run.code, 0, "{run:?}");
        sqlite(&s, "DROP TABLE items").await;

        let run = s.tandem(&["sync", "items"], &[]);
        assert_eq!(run.code, 1, "create = {create}: {run:?}");
        assert!(
            run.stderr.contains("entity items on endpoint dst"),
            "the error names the entity and endpoint: {run:?}"
        );
        assert!(run.stderr.contains("--force"), "{run:?}");
        // A source change does not slip a few rows into a new table.
        s.write("in.csv", &rows(2000).replace("name 7\n", "changed\n"));
        let run = s.tandem(&["sync", "items"], &[]);
        assert_eq!(run.code, 1, "{run:?}");

        let run = s.tandem(&["sync", "items", "--force"], &[]);
        if create == "false" {
            assert_eq!(run.code, 1, "no table to load into: {run:?}");
            continue;
        }
        assert_eq!(run.code, 0, "{run:?}");
        let count = sqlite(&s, "SELECT CAST(COUNT(*) AS TEXT) FROM items").await;
        assert_eq!(count, ["2000"]);
        let again = s.tandem(&["sync", "items", "--json"], &[]);
        assert_eq!(again.code, 0, "{again:?}");
        let counts = &again.json()[0]["report"]["counts"];
        assert_eq!(counts["created_b"], 0, "{counts}");
        assert_eq!(counts["updated_b"], 0, "{counts}");
    }
}

/// Issue: with `on_bad_record = "skip"`, a ragged row or a row of invalid
/// UTF-8 deleted its record from the target, and the run exited 1 while
/// its status said `completed`.
#[tokio::test]
async fn a_rejected_row_changes_nothing_on_the_target() {
    let bad_rows: [&[u8]; 2] = [b"1,a\n2\n3,c\n", b"1,caf\xe9\n2,b\n3,c\n"];
    for target in ["jsonl", "true"] {
        for bad in bad_rows {
            let s = Sandbox::new();
            s.write("plugins.toml", &manifest(target, ""));
            s.write("in.csv", "id,name\n1,a\n2,b\n");
            let run = s.tandem(&["sync", "items"], &[]);
            assert_eq!(run.code, 0, "{run:?}");
            let mut data = b"id,name\n".to_vec();
            data.extend_from_slice(bad);
            std::fs::write(s.path().join("in.csv"), data).unwrap();

            let run = s.tandem(&["sync", "items", "--json"], &[]);
            assert_eq!(run.code, 4, "partial: {run:?}");
            let report = &run.json()[0]["report"];
            assert_eq!(report["status"], "partial", "{report}");
            assert_eq!(report["counts"]["deleted_b"], 0, "{report}");
            assert_eq!(report["counts"]["rejected"], 1, "{report}");
            let keys: Vec<String> = match target {
                "jsonl" => s
                    .read("out.jsonl")
                    .lines()
                    .map(|l| {
                        serde_json::from_str::<serde_json::Value>(l).unwrap()["id"].to_string()
                    })
                    .map(|k| k.trim_matches('"').to_owned())
                    .collect(),
                _ => sqlite(&s, "SELECT id FROM items ORDER BY id").await,
            };
            assert_eq!(keys, ["1", "2", "3"], "{target}: nothing deleted: {run:?}");
            let history = s.tandem(&["history", "--json"], &[]).json();
            assert_eq!(history["runs"][0]["status"], "partial", "{history}");
        }
    }
}

/// Issue: on a CSV side, deleting or editing back a row Tandem wrote in the
/// run before was never synced (the file's cursor was taken before the
/// run's own writes).
#[test]
fn an_edit_to_a_row_tandem_wrote_is_synced() {
    let s = two_way_files();
    s.write("a.csv", "id,v\nk0,a\nk1,b\n");
    assert_eq!(s.tandem(&["sync", "items"], &[]).code, 0);
    s.write("a.csv", "id,v\nk0,a\nk1,b\nk9,new\n");
    assert_eq!(s.tandem(&["sync", "items"], &[]).code, 0);
    assert!(s.read("b.csv").contains("k9,new"));
    // Deleted on B, where Tandem wrote it: deleted on A.
    s.write("b.csv", "id,v\nk0,a\nk1,b\n");
    let run = s.tandem(&["sync", "items"], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(s.read("a.csv"), "id,v\nk0,a\nk1,b\n", "{run:?}");
    // A value Tandem overwrote on B, edited back: travels back to A.
    s.write("a.csv", "id,v\nk0,a\nk1,CHANGED\n");
    assert_eq!(s.tandem(&["sync", "items"], &[]).code, 0);
    assert!(s.read("b.csv").contains("k1,CHANGED"));
    s.write("b.csv", "id,v\nk0,a\nk1,b\n");
    assert_eq!(s.tandem(&["sync", "items"], &[]).code, 0);
    assert_eq!(s.read("a.csv"), "id,v\nk0,a\nk1,b\n");
    let again = s.tandem(&["sync", "items", "--json"], &[]);
    let counts = &again.json()[0]["report"]["counts"];
    assert_eq!(counts["synchronized"], 2, "{counts}");
}

/// Found by the model harness: a run killed after its targets committed
/// but before the store commit, then resumed, lost the conflicts it had
/// resolved: the next run found both sides alike, and the losing version
/// was gone.
#[test]
fn a_run_killed_after_its_targets_committed_keeps_its_conflict_losers() {
    let s = two_way_files();
    s.write("a.csv", "id,v\nk0,a\nk1,b\n");
    assert_eq!(s.tandem(&["sync", "items"], &[]).code, 0);
    s.write("a.csv", "id,v\nk0,a\nk1,from a\n");
    s.write("b.csv", "id,v\nk0,a\nk1,from b\n");
    let killed = s.tandem(
        &["sync", "items"],
        &[("TANDEM_FAULT", "engine.targets_committed")],
    );
    assert_ne!(killed.code, 0, "{killed:?}");
    assert!(
        s.read("b.csv").contains("k1,from a"),
        "B committed A's version"
    );
    let run = s.tandem(&["sync", "items"], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    let resolved = s
        .tandem(&["conflicts", "items", "--resolved", "--json"], &[])
        .json();
    let text = resolved.to_string();
    assert!(text.contains("from b"), "the loser is kept: {resolved}");
}
