//! The `tandem` binary and its plugins, driven as a user drives them:
//! a manifest in a folder, data files, commands, exit codes and messages.

use tandem_e2e::{Sandbox, plugin};

/// A manifest syncing `in.csv` to `out.csv` through the real file plugin.
fn file_manifest(extra: &str) -> String {
    format!(
        r#"
[plugins]
file = "{file}"

[endpoints.src]
type = "file"
path = "in.csv"
key = ["id"]

[endpoints.dst]
type = "file"
path = "out.csv"
entity = "out"
key = ["id"]

[pairs.people]
a = "src"
b = "dst"
a_entity = "in"
b_entity = "out"
mode = "send"
{extra}
"#,
        file = plugin("tandem_connector_file").display()
    )
}

fn sandbox_with(extra: &str) -> Sandbox {
    let s = Sandbox::new();
    s.write("plugins.toml", &file_manifest(extra));
    s.write(
        "in.csv",
        "id,name,city\n1,Ann,Oslo\n2,Bob,Rome\n3,Cid,Lund\n",
    );
    s
}

#[test]
fn sync_through_the_file_plugin_then_incrementally() {
    let s = sandbox_with("");
    let run = s.tandem(&["sync", "people"], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("created"),
        "a summary is printed: {run:?}"
    );
    assert_eq!(
        s.read("out.csv"),
        "id,name,city\n1,Ann,Oslo\n2,Bob,Rome\n3,Cid,Lund\n"
    );

    s.write(
        "in.csv",
        "id,name,city\n1,Ann,Bergen\n3,Cid,Lund\n4,Dan,Pisa\n",
    );
    let run = s.tandem(&["sync", "people", "--json"], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    let report = run.json();
    let counts = &report[0]["report"]["counts"];
    assert_eq!(
        (
            counts["created_b"].as_u64(),
            counts["updated_b"].as_u64(),
            counts["deleted_b"].as_u64()
        ),
        (Some(1), Some(1), Some(1))
    );
    let out = s.read("out.csv");
    assert!(
        out.contains("1,Ann,Bergen") && out.contains("4,Dan,Pisa") && !out.contains("Bob"),
        "{out}"
    );

    let run = s.tandem(&["history", "people", "--json"], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("completed"), "{run:?}");
}

#[test]
fn the_connector_template_loads_through_the_host() {
    let s = Sandbox::new();
    s.write("in.csv", "id,name\n1,Ann\n2,Bob\n");
    s.write(
        "plugins.toml",
        &format!(
            r#"
[plugins]
file = "{file}"
template = "{template}"

[endpoints.src]
type = "file"
path = "in.csv"
key = ["id"]

[endpoints.notes]
type = "template"
dir = "notes"
key = "id"

[pairs.p]
a = "src"
b = "notes"
a_entity = "in"
b_entity = "people"
mode = "send"
"#,
            file = plugin("tandem_connector_file").display(),
            template = plugin("tandem_connector_template").display()
        ),
    );
    let run = s.tandem(&["plugins", "--json"], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("\"template\""), "{run:?}");
    let run = s.tandem(&["sync", "p"], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    let doc: serde_json::Value = serde_json::from_str(&s.read("notes/people.json")).unwrap();
    assert_eq!(doc["2"]["name"], "Bob");
}

#[test]
fn a_plugin_built_for_another_abi_is_rejected_naming_both_versions() {
    let s = sandbox_with("");
    let wrong = plugin("tandem_fixture_wrong_abi");
    let manifest = file_manifest("").replace(
        "[plugins]\n",
        &format!("[plugins]\nwrong = \"{}\"\n", wrong.display()),
    );
    s.write("plugins.toml", &manifest);
    let run = s.tandem(&["check"], &[]);
    assert_ne!(run.code, 0, "{run:?}");
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        all.contains(&format!(
            "ABI version {}",
            tandem_core::plugin::ABI_VERSION + 1
        )) && all.contains(&format!("ABI version {}", tandem_core::plugin::ABI_VERSION)),
        "both versions are named: {run:?}"
    );
    assert!(
        all.contains("libtandem_fixture_wrong_abi.so"),
        "the file is named: {run:?}"
    );
}

#[test]
fn a_panicking_plugin_fails_the_run_and_the_next_command_works() {
    let s = Sandbox::new();
    s.write(
        "plugins.toml",
        &format!(
            r#"
[plugins]
panicky = "{panicky}"
file = "{file}"

[endpoints.boom]
type = "panicky"
entities = {{ people = {{ key = ["id"] }} }}

[endpoints.dst]
type = "file"
path = "out.csv"
key = ["id"]

[pairs.p]
a = "boom"
b = "dst"
a_entity = "people"
b_entity = "out"
mode = "send"
"#,
            panicky = plugin("tandem_fixture_panicky").display(),
            file = plugin("tandem_connector_file").display()
        ),
    );
    let run = s.tandem(&["sync", "p"], &[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("panicked"), "{run:?}");
    let run = s.tandem(&["history", "p", "--json"], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("\"error\""),
        "the failed run is recorded: {run:?}"
    );
}

#[test]
fn manifest_errors_name_the_key_and_the_file() {
    let s = sandbox_with("mod = \"send\"");
    let run = s.tandem(&["sync", "people"], &[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("mod") && run.stderr.contains("plugins.toml"),
        "{run:?}"
    );

    let s = sandbox_with("max_delete = \"lots\"");
    let run = s.tandem(&["sync", "people"], &[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("max_delete"), "{run:?}");

    let s = sandbox_with("");
    let manifest = file_manifest("").replace(
        "path = \"in.csv\"",
        "path_env = \"TANDEM_E2E_NO_SUCH_VARIABLE\"",
    );
    s.write("plugins.toml", &manifest);
    let run = s.tandem(&["sync", "people"], &[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("path_env") && run.stderr.contains("TANDEM_E2E_NO_SUCH_VARIABLE"),
        "{run:?}"
    );
}

#[test]
fn an_environment_override_changes_a_value() {
    let s = sandbox_with("");
    let run = s.tandem(
        &["sync", "people"],
        &[("TANDEM_ENDPOINTS__DST__PATH", "elsewhere.csv")],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(s.read("elsewhere.csv").contains("2,Bob,Rome"));
    assert!(!s.path().join("out.csv").exists());
}

#[test]
fn a_bad_row_names_file_line_and_column_and_fails_the_run() {
    let s = sandbox_with("");
    s.write("in.csv", "id,name,city\n1,Ann,Oslo\n2,Bob\n");
    let run = s.tandem(&["sync", "people"], &[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("in.csv:3"), "{run:?}");
    assert!(!s.path().join("out.csv").exists(), "nothing was written");
}
