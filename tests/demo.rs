//! The default manifest at the repository root, run as a new user runs it:
//! files into the embedded SQLite database and back, with a conflict.

use std::path::Path;

use tandem_e2e::{Sandbox, build_dir};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn the_default_demo_loads_files_into_sqlite_and_back_and_settles_a_conflict() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let s = Sandbox::new();
    std::fs::copy(root.join("plugins.toml"), s.path().join("plugins.toml")).unwrap();
    copy_dir(&root.join("examples/data"), &s.path().join("examples/data"));
    assert!(
        build_dir().join("libtandem_connector_sql.so").exists(),
        "cargo build --workspace builds the SQL plugin"
    );

    let run = s.tandem(&["sync", "--all", "--json"], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    let reports = run.json();
    let merge = reports
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["pair"] == "merge_contacts")
        .expect("the two-way pair ran");
    assert_eq!(merge["report"]["counts"]["conflict"], 2, "{merge}");
    assert!(
        s.path().join("examples/out/demo.db").exists(),
        "the embedded database is created"
    );
    let published = s.read("examples/out/customers.jsonl");
    assert_eq!(
        published.lines().count(),
        16,
        "active customers come back out of the database"
    );
    assert!(
        published.contains("\"full_name\""),
        "with the mapping applied"
    );
    let newsletter = s.read("examples/out/newsletter.jsonl");
    assert!(
        newsletter.contains("eva.larsen@example.org"),
        "contacts travel from the database to the newsletter"
    );

    let run = s.tandem(
        &["conflicts", "merge_contacts", "--resolved", "--json"],
        &[],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json().as_array().unwrap().len(), 2);
    assert!(
        run.stdout.contains("+39 06 7654 321"),
        "the losing phone number is kept: {run:?}"
    );

    let run = s.tandem(&["sync", "--all", "--json"], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    for r in run.json().as_array().unwrap() {
        let c = &r["report"]["counts"];
        let written: u64 = [
            "created_a",
            "created_b",
            "updated_a",
            "updated_b",
            "deleted_a",
            "deleted_b",
        ]
        .iter()
        .map(|k| c[*k].as_u64().unwrap())
        .sum();
        assert_eq!(written, 0, "a second run changes nothing: {r}");
    }
}
