//! Manifest loading: errors name the file and the key; `TANDEM_` overrides apply.

use std::path::Path;

use figment::Jail;
use tandem_core::ResolverKind;
use tandem_core::engine::{MatchRule, Mode, Op};

use super::*;

const BASE: &str = r#"
[plugins]
file = "libtandem_connector_file.so"

[endpoints.src]
type = "file"
path = "data/customers.csv"
key = ["id"]

[endpoints.dst]
type = "file"
path = "out/customers.jsonl"
key = ["id"]
password_env = "DST_PASSWORD"
"#;

/// Loads `BASE` followed by `extra` inside a jail (a temporary folder and
/// environment), with `env` set first.
#[allow(clippy::result_large_err)] // figment's `Jail` closure returns its own error
fn load(extra: &str, env: &[(&str, &str)]) -> Result<Manifest, String> {
    let mut out = None;
    Jail::expect_with(|jail| {
        for (k, v) in env {
            jail.set_env(k, v);
        }
        jail.create_file("plugins.toml", &format!("{BASE}{extra}"))?;
        out = Some(Manifest::load(Path::new("plugins.toml")).map_err(|e| e.to_string()));
        Ok(())
    });
    out.unwrap()
}

const PAIR: &str = r#"
[pairs.customers]
a = "src"
b = "dst"
entity = "customers"
"#;

#[test]
fn a_full_pair_builds_core_config() {
    let m = load(
        r#"
[pairs.customers]
a = "src"
b = "dst"
a_entity = "customers"
b_entity = "clients"
mapping = { name = "full_name", email = "mail" }
fields = ["name", "email"]
filter = [{ field = "country", op = "in", values = ["DK", "SE"] }]
inactive = [{ field = "status", op = "eq", value = "inactive" }, { field = "age", op = "gt", value = 90 }]
match = { fields = ["email"] }
mode = "two-way"
resolver = "newest"
max_delete = 10
time_zone = "Europe/Copenhagen"
batch_size = 500

[store]
url = "sqlite://state/t.db"
"#,
        &[],
    )
    .unwrap();
    let pair = &m.pairs["customers"];
    assert_eq!((pair.a.as_str(), pair.b.as_str()), ("src", "dst"));
    let c = &pair.config;
    assert_eq!(
        (c.a_entity.as_str(), c.b_entity.as_str()),
        ("customers", "clients")
    );
    assert_eq!(c.mapping.len(), 2);
    assert_eq!(c.filter[0].op, Op::In);
    assert_eq!(c.inactive[1].value.as_deref(), Some("90"));
    assert_eq!(c.match_rule, MatchRule::Fields(vec!["email".into()]));
    assert_eq!(c.mode, Mode::TwoWay);
    assert_eq!(c.resolver, ResolverKind::Newest);
    assert_eq!((c.max_delete, c.batch_size), (10.0, 500));
    assert!(
        m.store_url.starts_with("sqlite:///") && m.store_url.ends_with("/state/t.db"),
        "{}",
        m.store_url
    );
    assert_eq!(m.endpoints["src"].plugin, "file");
}

#[test]
fn defaults_apply() {
    let m = load(PAIR, &[]).unwrap();
    let c = &m.pairs["customers"].config;
    assert_eq!(
        (c.max_delete, c.time_zone.as_str(), c.batch_size),
        (50.0, "UTC", 1000)
    );
    assert_eq!((c.mode, c.resolver), (Mode::TwoWay, ResolverKind::Manual));
    assert!(m.store_url.ends_with("/tandem.db"), "{}", m.store_url);
}

#[test]
fn unknown_key_names_file_and_key() {
    let err = load(&format!("{PAIR}mod = \"send\"\n"), &[]).unwrap_err();
    assert!(
        err.starts_with(
            "plugins.toml: pairs.customers: unknown field \"mod\", expected one of \"a\", \"b\""
        ),
        "{err}"
    );
    let err = load("[stroe]\nurl = \"x\"\n", &[]).unwrap_err();
    assert!(
        err.starts_with("plugins.toml: unknown field \"stroe\""),
        "{err}"
    );
}

#[test]
fn wrong_type_names_the_key() {
    let err = load(&format!("{PAIR}max_delete = \"lots\"\n"), &[]).unwrap_err();
    assert_eq!(
        err,
        "plugins.toml: pairs.customers.max_delete: invalid type: found a string, expected a number"
    );
    let err = load(&format!("{PAIR}batch_size = [1]\n"), &[]).unwrap_err();
    assert_eq!(
        err,
        "plugins.toml: pairs.customers.batch_size: invalid type: found an array, expected a whole number"
    );
    let err = load(&format!("{PAIR}mode = \"sideways\"\n"), &[]).unwrap_err();
    assert!(
        err.starts_with("plugins.toml: pairs.customers.mode: unknown mode \"sideways\""),
        "{err}"
    );
}

#[test]
fn unknown_endpoint_names_pair_and_key() {
    let err = load(
        "[pairs.p]\na = \"src\"\nb = \"nope\"\nentity = \"e\"\n",
        &[],
    )
    .unwrap_err();
    assert_eq!(err, "plugins.toml: pairs.p.b: unknown endpoint \"nope\"");
}

#[test]
fn invalid_pair_settings_are_reported() {
    let err = load(&format!("{PAIR}max_delete = 150\n"), &[]).unwrap_err();
    assert!(
        err.contains("pair customers") && err.contains("max_delete"),
        "{err}"
    );
}

#[test]
fn env_override_changes_a_value() {
    let m = load(
        PAIR,
        &[
            ("TANDEM_PAIRS__CUSTOMERS__MAX_DELETE", "10"),
            ("TANDEM_STORE__URL", "sqlite::memory:"),
        ],
    )
    .unwrap();
    assert_eq!(m.pairs["customers"].config.max_delete, 10.0);
    assert_eq!(m.store_url, "sqlite::memory:");
}

#[test]
fn env_errors_name_the_variable() {
    let err = load(PAIR, &[("TANDEM_PAIRS__CUSTOMERS__MAX_DELET", "10")]).unwrap_err();
    assert!(
        err.starts_with("environment variable TANDEM_PAIRS__CUSTOMERS__MAX_DELET: pairs.customers: unknown field"),
        "{err}"
    );
}

#[test]
fn other_tandem_variables_are_not_overrides() {
    let m = load(
        PAIR,
        &[
            ("TANDEM_MANIFEST", "x.toml"),
            ("TANDEM_TEST_PG_URL", "postgres://x"),
        ],
    );
    assert!(m.is_ok());
}

#[test]
fn missing_secret_variable_names_key_and_variable() {
    let m = load(PAIR, &[]).unwrap();
    let env = |_: &str| None;
    struct NoVars<F>(F);
    impl<F: Fn(&str) -> Option<String>> Lookup for NoVars<F> {
        fn var(&self, name: &str) -> Option<String> {
            (self.0)(name)
        }
    }
    let err = m.endpoints["dst"]
        .config(&m.dir, &NoVars(env))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "endpoint dst: password_env: environment variable DST_PASSWORD is not set"
    );
}

#[test]
fn endpoint_needs_a_declared_plugin() {
    let err = load("[endpoints.x]\ntype = \"sql\"\n", &[]).unwrap_err();
    assert_eq!(
        err,
        "plugins.toml: endpoints.x.type: unknown plugin \"sql\"; [plugins] declares file"
    );
    let err = load("[endpoints.x]\npath = \"a\"\n", &[]).unwrap_err();
    assert_eq!(
        err,
        "plugins.toml: endpoints.x: missing field \"type\" (the plugin)"
    );
}

#[test]
fn missing_manifest_is_a_config_error() {
    let err = Manifest::load(Path::new("/nonexistent/plugins.toml")).unwrap_err();
    assert_eq!(crate::error::exit_code(&err), crate::error::EXIT_USAGE);
    assert!(
        err.to_string()
            .contains("/nonexistent/plugins.toml not found")
    );
}

#[test]
fn ledger_and_on_crash_build_core_config() {
    let m = load(
        &format!(
            "{PAIR}ledger = {{ field = \"time\", time_zone = \"Europe/Rome\" }}\non_crash = \"rollback\"\n"
        ),
        &[],
    )
    .unwrap();
    let c = &m.pairs["customers"].config;
    let ledger = c.ledger.as_ref().unwrap();
    assert_eq!(
        (ledger.field.as_str(), ledger.time_zone.as_deref()),
        ("time", Some("Europe/Rome"))
    );
    assert_eq!(c.on_crash, tandem_core::engine::OnCrash::Rollback);
    assert_eq!(c.day_zone().iana_name(), Some("Europe/Rome"));

    let m = load(&format!("{PAIR}ledger = {{ field = \"at\" }}\n"), &[]).unwrap();
    let c = &m.pairs["customers"].config;
    assert_eq!(c.ledger.as_ref().unwrap().time_zone, None);
    assert_eq!(c.on_crash, tandem_core::engine::OnCrash::Resume);
}

#[test]
fn ledger_and_on_crash_errors_name_the_key() {
    let err = load(
        &format!("{PAIR}ledger = {{ field = \"time\", zone = \"UTC\" }}\n"),
        &[],
    )
    .unwrap_err();
    assert!(
        err.starts_with(
            "plugins.toml: pairs.customers.ledger: unknown field \"zone\", expected one of \"field\", \"time_zone\""
        ),
        "{err}"
    );
    let err = load(&format!("{PAIR}ledger = {{ time_zone = \"UTC\" }}\n"), &[]).unwrap_err();
    assert!(
        err.starts_with("plugins.toml: pairs.customers.ledger: missing field \"field\""),
        "{err}"
    );
    let err = load(
        &format!("{PAIR}ledger = {{ field = \"t\", time_zone = \"Mars/Olympus\" }}\n"),
        &[],
    )
    .unwrap_err();
    assert!(
        err.contains("ledger.time_zone") && err.contains("Mars/Olympus"),
        "{err}"
    );
    let err = load(&format!("{PAIR}on_crash = \"retry\"\n"), &[]).unwrap_err();
    assert_eq!(
        err,
        "plugins.toml: pairs.customers.on_crash: unknown value \"retry\", expected \"resume\" or \"rollback\""
    );
}
