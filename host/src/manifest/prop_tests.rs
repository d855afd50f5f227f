//! The manifest over arbitrary input: TOML-ish text made of the manifest's
//! own keys and TOML's punctuation, and manifests of every section with
//! values valid, near-valid and arbitrary, never panic; each is loaded or
//! refused with an error that names the file (or variable) and says what is
//! wrong in the manifest's words. `PROPTEST_CASES=N` runs N cases of each.

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Toml};
use proptest::collection::vec;
use proptest::prelude::*;

use super::*;

/// The cases of a property: `default` unless `PROPTEST_CASES` says. The
/// random numbers come from XorShift unless `PROPTEST_RNG_ALGORITHM` says:
/// unoptimised, ChaCha took most of the time of a case.
fn config(default: u32) -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = default;
    }
    if std::env::var_os("PROPTEST_RNG_ALGORITHM").is_none() {
        config.rng_algorithm = proptest::test_runner::RngAlgorithm::XorShift;
    }
    config
}

thread_local! {
    /// The folder of this thread's cases.
    static DIR: tempfile::TempDir = tempfile::tempdir().unwrap();
}

/// Writes the thread's manifest file.
fn write(text: &str) -> PathBuf {
    let path = DIR.with(|d| d.path().join("plugins.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// Loads a manifest file as [`Manifest::load`] does, without the `TANDEM_`
/// variables (other tests set them while they run).
fn parse(path: &Path) -> Result<Manifest, String> {
    let file = path.display().to_string();
    let raw: raw::RawManifest = Figment::from(Toml::file_exact(path))
        .extract()
        .map_err(|e| errors::describe(e, &file))?;
    let dir = path.parent().unwrap().to_path_buf();
    Manifest::check(raw, file, dir)
}

/// Words of Rust, not of the manifest, that an error must not show.
const RUST_WORDS: &[&str] = &[
    "struct",
    "RawManifest",
    "PairSection",
    "ScheduleSection",
    "DaemonSection",
    "TokenSection",
    "ConditionSection",
    "StoreSection",
    "LedgerConfig",
    "u64",
    "i64",
    "usize",
    "f64",
    "Option",
    "Vec",
    "BTreeMap",
    "panicked",
];

/// An error names the file (or a variable) and says something after it,
/// in the manifest's words: no Rust word the manifest `text` does not hold.
fn check_error(err: &str, file: &Path, text: &str) -> Result<(), TestCaseError> {
    let file = file.display().to_string();
    let rest = err
        .strip_prefix(&format!("{file}: "))
        .or_else(|| err.strip_prefix("environment variable TANDEM_"));
    prop_assert!(
        rest.is_some(),
        "names neither the file nor a variable: {err}"
    );
    prop_assert!(!rest.unwrap().trim().is_empty(), "says nothing: {err:?}");
    for word in RUST_WORDS {
        // A whole word: `\u{f6400}` is no f64.
        let found = err.match_indices(word).any(|(i, w)| {
            let part = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
            !part(err[..i].chars().next_back()) && !part(err[i + w.len()..].chars().next())
        });
        prop_assert!(!found || text.contains(word), "{word:?} in {err}");
    }
    Ok(())
}

// ---- TOML-ish text ----

/// The manifest's keys, and names it uses.
const KEYS: &str = "plugins endpoints pairs store daemon schedule tokens type path key a b \
    entity a_entity b_entity mapping fields filter inactive match mode resolver max_delete time_zone \
    batch_size ledger on_crash grid active after_start every after_change skip_after_error listen poll_interval role \
    hash token_env url field op value values file src dst";

const PUNCTUATION: &[&str] = &[
    "[",
    "]",
    "[[",
    "]]",
    "=",
    " = ",
    ".",
    ",",
    "{",
    "}",
    "\n",
    "\r\n",
    " ",
    "\t",
    "#",
    "\"",
    "'",
    "\"\"\"",
    "'''",
    "\\",
    "\\u0000",
    "\\uD800",
    "\\U00110000",
    "\u{0}",
    "\u{feff}",
];

/// TOML values, `|` between them.
const SCALARS: &str = "0|-1|9223372036854775807|-9223372036854775808|9223372036854775808|\
    0x7fffffffffffffff|1_000|1e400|-0.0|inf|-inf|nan|true|false|\
    1979-05-27T07:32:00Z|1979-05-27|07:32:00|\"30s\"|\
    \"18446744073709551615m\"|\"9999999999h\"|\"Mon-Fri 08-18\"|\
    \"daily *\"|\"sha256:\"|\"two_way\"|\"manual\"|\"Europe/Rome\"|\
    \"sqlite://t.db\"|\"sqlite:\"|[]|{}";

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(KEYS.split_whitespace().collect::<Vec<_>>()).prop_map(str::to_owned),
        4 => proptest::sample::select(PUNCTUATION).prop_map(str::to_owned),
        3 => proptest::sample::select(SCALARS.split('|').collect::<Vec<_>>()).prop_map(str::to_owned),
        1 => any::<String>().prop_map(|s| s.chars().take(8).collect()),
        1 => any::<i64>().prop_map(|i| i.to_string()),
    ]
}

fn tomlish() -> impl Strategy<Value = String> {
    vec(token(), 0..80).prop_map(|tokens| tokens.concat())
}

// ---- Manifests of every section ----

/// A TOML basic string.
fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Any TOML value, nested a little.
fn toml_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(|i| i.to_string()),
        any::<f64>().prop_map(|f| {
            if f.is_nan() {
                "nan".to_owned()
            } else if f.is_infinite() {
                if f > 0.0 { "inf" } else { "-inf" }.to_owned()
            } else {
                format!("{f:e}")
            }
        }),
        any::<bool>().prop_map(|b| b.to_string()),
        any::<String>().prop_map(|s| quoted(&s)),
        Just("1979-05-27T07:32:00Z".to_owned()),
    ];
    leaf.prop_recursive(3, 12, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
            vec(("[a-z_]{1,6}", inner), 0..3).prop_map(|v| {
                let items: Vec<String> = v.iter().map(|(k, v)| format!("{k} = {v}")).collect();
                format!("{{ {} }}", items.join(", "))
            }),
        ]
    })
}

/// A value for a key: one of the valid ones, near-valid text, or any value.
fn setting(valid: &'static [&'static str], near: &'static str) -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(valid).prop_map(str::to_owned),
        2 => near.prop_map(|s| quoted(&s)),
        1 => toml_value(),
    ]
}

/// A name for a section: plain, or quoted and arbitrary.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(&["src", "dst", "p", "file", "x"][..]).prop_map(str::to_owned),
        1 => any::<String>().prop_map(|s| quoted(&s)),
    ]
}

fn duration() -> &'static str {
    "[0-9]{0,22} ?(s|m|h|sec|mins|d|ms|)"
}

/// `key = value` lines, each key at most once.
fn lines(settings: Vec<(&'static str, Option<String>)>) -> String {
    settings
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| format!("{k} = {v}\n")))
        .collect()
}

/// A condition of `filter` or `inactive`.
fn condition() -> impl Strategy<Value = String> {
    (
        "[a-z]{1,4}",
        setting(
            &["\"eq\"", "\"in\"", "\"not_in\"", "\"empty\"", "\"gt\""],
            "[a-z_]{0,8}",
        ),
        proptest::option::of(toml_value()),
    )
        .prop_map(|(f, op, v)| match v {
            Some(v) => format!("{{ field = \"{f}\", op = {op}, value = {v} }}"),
            None => format!("{{ field = \"{f}\", op = {op}, values = [\"x\", 1] }}"),
        })
}

fn pair() -> impl Strategy<Value = String> {
    let modes = &[
        "\"two_way\"",
        "\"send\"",
        "\"receive\"",
        "\"full\"",
        "\"two-way\"",
    ][..];
    let resolvers = &[
        "\"a_wins\"",
        "\"b_wins\"",
        "\"newest\"",
        "\"manual\"",
        "\"field_merge\"",
    ][..];
    let ints = &["0", "1", "500", "-1", "9223372036854775807"][..];
    let numbers = &["0", "50", "100", "100.5", "-1", "nan", "inf", "1e308"][..];
    let zones = &["\"UTC\"", "\"Europe/Rome\"", "\"../../etc/passwd\"", "\"\""][..];
    (
        (name(), name(), name(), proptest::option::of(name())),
        (
            proptest::option::of(setting(modes, "[a-z_-]{0,10}")),
            proptest::option::of(setting(resolvers, "[a-z_]{0,10}")),
            proptest::option::of(setting(numbers, "[0-9.e-]{0,6}")),
            proptest::option::of(setting(ints, "[0-9]{0,4}")),
            proptest::option::of(setting(zones, ".{0,12}")),
        ),
        (
            proptest::option::of(vec(condition(), 0..3)),
            proptest::option::of(vec(condition(), 0..2)),
            proptest::option::of(setting(
                &["\"key\"", "{ fields = [\"email\"] }", "{ fields = [] }"],
                "[a-z]{0,5}",
            )),
            proptest::option::of(setting(
                &[
                    "{ field = \"t\" }",
                    "{ field = \" \", time_zone = \"UTC\" }",
                ],
                ".{0,5}",
            )),
            proptest::option::of(setting(&["\"resume\"", "\"rollback\""], "[a-z]{0,8}")),
            proptest::option::of(setting(&["{ name = \"full_name\" }"], ".{0,4}")),
        ),
        proptest::option::of(schedule()),
    )
        .prop_map(
            |(
                (pair, a, b, entity),
                (mode, resolver, max_delete, batch_size, time_zone),
                (filter, inactive, match_rule, ledger, on_crash, mapping),
                schedule,
            )| {
                let list = |c: Option<Vec<String>>| c.map(|c| format!("[{}]", c.join(", ")));
                let mut out = format!("[pairs.{pair}]\n");
                out += &lines(vec![
                    ("a", Some(quoted(a.trim_matches('"')))),
                    ("b", Some(quoted(b.trim_matches('"')))),
                    ("entity", entity.map(|e: String| quoted(&e))),
                    ("mode", mode),
                    ("resolver", resolver),
                    ("max_delete", max_delete),
                    ("batch_size", batch_size),
                    ("time_zone", time_zone),
                    ("filter", list(filter)),
                    ("inactive", list(inactive)),
                    ("match", match_rule),
                    ("ledger", ledger),
                    ("on_crash", on_crash),
                    ("mapping", mapping),
                ]);
                if let Some(schedule) = schedule {
                    out += &format!("[pairs.{pair}.schedule]\n{schedule}");
                }
                out
            },
        )
}

fn schedule() -> impl Strategy<Value = String> {
    let grid_entry = prop_oneof![
        "(Mon|Tue|Sun|daily|\\*|mon|Funday|)(-(Fri|Mon|Sun|))?(,Sat)? ([0-9]{1,3}|\\*)(-[0-9]{1,3})?(,[0-9]{1,2})?",
        any::<String>(),
    ];
    (
        proptest::option::of(vec(grid_entry, 0..4)),
        proptest::option::of(setting(&["\"30s\"", "\"5m\""], duration())),
        proptest::option::of(prop_oneof![
            setting(&["15", "0", "9223372036854775807", "-1"], duration()),
            any::<i64>().prop_map(|i| i.to_string()),
        ]),
        proptest::option::of(setting(&["true", "false"], "[a-z]{0,4}")),
    )
        .prop_map(|(grid, after_start, every, active)| {
            let grid = grid.map(|g| {
                let g: Vec<String> = g.iter().map(|e| quoted(e)).collect();
                format!("[{}]", g.join(", "))
            });
            lines(vec![
                ("grid", grid),
                ("after_start", after_start),
                ("every", every),
                ("active", active),
            ])
        })
}

fn daemon() -> impl Strategy<Value = String> {
    // 64 bytes of hex digits, where a wide character may replace some.
    let wide = (
        "[0-9a-f]{64}",
        any::<proptest::sample::Index>(),
        proptest::sample::select(vec!["é", "€", "😀", "g"]),
    )
        .prop_map(|(mut hex, at, c)| {
            let at = at.index(64 - c.len() + 1);
            hex.replace_range(at..at + c.len(), c);
            format!("sha256:{hex}")
        });
    let hash = prop_oneof![
        1 => Just(format!("sha256:{}", "ab".repeat(32))),
        2 => wide,
        1 => "sha256:[0-9a-fA-Fé€😀g ]{0,66}",
        1 => any::<String>(),
    ];
    let token = (
        name(),
        setting(&["\"admin\"", "\"viewer\""], "[a-z]{0,6}"),
        proptest::option::of(hash),
        proptest::option::of(setting(&["\"WALL_TOKEN\"", "\" \""], ".{0,6}")),
    )
        .prop_map(|(name, role, hash, env)| {
            format!("[daemon.tokens.{name}]\n")
                + &lines(vec![
                    ("role", Some(role)),
                    ("hash", hash.map(|h| quoted(&h))),
                    ("token_env", env),
                ])
        });
    (
        proptest::option::of(setting(&["\"5m\"", "\"0s\""], duration())),
        proptest::option::of(setting(&["\"127.0.0.1:7420\""], ".{0,12}")),
        vec(token, 0..3),
    )
        .prop_map(|(poll, listen, tokens)| {
            let mut out = "[daemon]\n".to_owned();
            out += &lines(vec![("poll_interval", poll), ("listen", listen)]);
            out + &tokens.concat()
        })
}

fn manifest() -> impl Strategy<Value = String> {
    let endpoint = (
        name(),
        setting(&["\"file\"", "\"sql\""], ".{0,4}"),
        toml_value(),
    )
        .prop_map(|(name, kind, extra)| {
            format!("[endpoints.{name}]\ntype = {kind}\npath = \"a.csv\"\nextra = {extra}\n")
        });
    let store = setting(
        &[
            "\"sqlite://t.db\"",
            "\"sqlite:\"",
            "\"sqlite::memory:\"",
            "\"postgres://u@h/db\"",
        ],
        "(sqlite:(//)?)?.{0,10}",
    );
    (
        proptest::option::of(vec((name(), ".{0,10}"), 0..3)),
        vec(endpoint, 0..3),
        vec(pair(), 0..3),
        proptest::option::of(store),
        proptest::option::of(daemon()),
    )
        .prop_map(|(plugins, endpoints, pairs, store, daemon)| {
            let mut out = String::new();
            if let Some(plugins) = plugins {
                out += "[plugins]\nfile = \"libtandem_connector_file.so\"\n";
                for (name, lib) in plugins {
                    if name != "file" {
                        out += &format!("{name} = {}\n", quoted(&lib));
                    }
                }
            }
            out += &endpoints.concat();
            out += &pairs.concat();
            if let Some(store) = store {
                out += &format!("[store]\nurl = {store}\n");
            }
            out + &daemon.unwrap_or_default()
        })
}

/// Lines dropped, repeated or swapped, so that sections lose or repeat keys.
fn shuffled_lines() -> impl Strategy<Value = String> {
    manifest().prop_flat_map(|m| {
        let lines: Vec<String> = m.lines().map(str::to_owned).collect();
        let n = lines.len().max(1);
        (Just(lines), vec((0..n, 0..n, 0u8..3), 0..4)).prop_map(|(mut lines, edits)| {
            for (i, j, kind) in edits {
                if lines.is_empty() {
                    break;
                }
                let (i, j) = (i % lines.len(), j % lines.len());
                match kind {
                    0 => {
                        lines.remove(i);
                    }
                    1 => {
                        let line = lines[i].clone();
                        lines.insert(j, line);
                    }
                    _ => lines.swap(i, j),
                }
            }
            lines.join("\n")
        })
    })
}

/// A plugin and two endpoints of it, `src` and `dst`.
const VALID_BASE: &str = "[plugins]\nfile = \"f.so\"\n\
    [endpoints.src]\ntype = \"file\"\n[endpoints.dst]\ntype = \"file\"\n";

/// Manifests that are valid: they load, with what they say.
fn valid() -> impl Strategy<Value = (String, usize)> {
    let pair = (
        "[a-z][a-z0-9_]{0,8}",
        proptest::sample::select(&["two_way", "send", "receive", "full"][..]),
        proptest::sample::select(&["a_wins", "b_wins", "newest", "manual", "field_merge"][..]),
        0u32..=100,
        1u32..100_000,
        proptest::option::of((
            1u64..=schedule::LONGEST_SECS / 60,
            0u64..=schedule::LONGEST_SECS,
        )),
        proptest::option::of(vec(
            "(Mon|Tue|Wed|Thu|Fri|Sat|Sun|daily) (0[0-9]|1[0-9]|2[0-3]|\\*)",
            0..3,
        )),
    )
        .prop_map(
            |(name, mode, resolver, max_delete, batch, triggers, grid)| {
                let mut out = format!(
                    "[pairs.{name}]\na = \"src\"\nb = \"dst\"\nentity = \"e\"\nmode = \"{mode}\"\n\
                 resolver = \"{resolver}\"\nmax_delete = {max_delete}\nbatch_size = {batch}\n"
                );
                if triggers.is_some() || grid.is_some() {
                    out += &format!("[pairs.{name}.schedule]\n");
                }
                if let Some((every, after_start)) = triggers {
                    out += &format!("every = {every}\nafter_start = \"{after_start}s\"\n");
                }
                if let Some(grid) = grid {
                    let grid: Vec<String> = grid.iter().map(|g| quoted(g)).collect();
                    out += &format!("grid = [{}]\n", grid.join(", "));
                }
                (name, out)
            },
        );
    vec(pair, 1..4).prop_map(|pairs| {
        let mut names: Vec<&String> = pairs.iter().map(|(n, _)| n).collect();
        names.sort();
        names.dedup();
        let mut out = String::from(VALID_BASE);
        let mut seen = Vec::new();
        for (name, text) in &pairs {
            if !seen.contains(name) {
                seen.push(name.clone());
                out += text;
            }
        }
        (out, seen.len())
    })
}

proptest! {
    #![proptest_config(config(300))]

    #[test]
    fn tomlish_text_is_loaded_or_refused_clearly(text in tomlish()) {
        let path = write(&text);
        if let Err(err) = parse(&path) {
            check_error(&err, &path, &text)?;
        }
    }

    #[test]
    fn any_text_is_loaded_or_refused_clearly(text in any::<String>()) {
        let path = write(&text);
        if let Err(err) = parse(&path) {
            check_error(&err, &path, &text)?;
        }
    }

    #[test]
    fn manifests_are_loaded_or_refused_clearly(text in manifest()) {
        let path = write(&text);
        if let Err(err) = parse(&path) {
            check_error(&err, &path, &text)?;
        }
    }

    #[test]
    fn manifests_with_lines_moved_are_loaded_or_refused_clearly(text in shuffled_lines()) {
        let path = write(&text);
        if let Err(err) = parse(&path) {
            check_error(&err, &path, &text)?;
        }
    }

    #[test]
    fn daemon_and_schedule_sections_are_loaded_or_refused_clearly(
        daemon in daemon(),
        schedule in proptest::option::of(schedule()),
    ) {
        // After a valid pair, so that these sections are what is checked.
        let schedule = schedule.map(|s| format!("[pairs.p.schedule]\n{s}")).unwrap_or_default();
        let text = format!("{VALID_BASE}[pairs.p]\na = \"src\"\nb = \"dst\"\nentity = \"e\"\n{schedule}{daemon}");
        let path = write(&text);
        if let Err(err) = parse(&path) {
            check_error(&err, &path, &text)?;
        }
    }

    #[test]
    fn the_real_loader_takes_any_manifest_without_a_panic(text in manifest()) {
        // With the environment: other tests' `TANDEM_` variables may show.
        let path = write(&text);
        if let Err(err) = Manifest::load(&path) {
            check_error(&err.to_string(), &path, &text)?;
        }
    }

    #[test]
    fn valid_manifests_load((text, pairs) in valid()) {
        match parse(&write(&text)) {
            Ok(m) => prop_assert_eq!(m.pairs.len(), pairs),
            Err(e) => prop_assert!(false, "{e}\n{text}"),
        }
    }
}

// ---- Found by the properties ----

/// Loads `extra` after a plugin, two endpoints and a pair `p`.
fn load_pair(extra: &str) -> Result<Manifest, String> {
    let text = format!("{VALID_BASE}[pairs.p]\na = \"src\"\nb = \"dst\"\nentity = \"e\"\n{extra}");
    parse(&write(&text))
}

#[test]
fn a_token_hash_with_wide_characters_is_an_error_not_a_panic() {
    // 64 bytes, but `é` straddles the second pair of digits.
    let hash = format!("sha256:a{}b", "é".repeat(31));
    assert_eq!(hash.len(), 7 + 64);
    let err = load_pair(&format!(
        "[daemon.tokens.ops]\nrole = \"admin\"\nhash = \"{hash}\"\n"
    ))
    .unwrap_err();
    assert!(
        err.ends_with("daemon.tokens.ops.hash: expected hex digits after sha256:"),
        "{err}"
    );
}

#[test]
fn a_duration_too_long_to_count_is_an_error_not_a_panic() {
    // 2^64 / 60 + 1 minutes: the seconds overflow a u64.
    let err = load_pair("[pairs.p.schedule]\nafter_start = \"307445734561825861m\"\n").unwrap_err();
    assert!(
        err.contains("pairs.p.schedule.after_start: \"307445734561825861m\" is more than a year"),
        "{err}"
    );
    let err = load_pair("[pairs.p.schedule]\nevery = 9223372036854775807\n").unwrap_err();
    assert!(
        err.contains("pairs.p.schedule.every: 9223372036854775807 minutes is more than a year"),
        "{err}"
    );
    let err = load_pair("[daemon]\npoll_interval = \"5124095576030432h\"\n").unwrap_err();
    assert!(err.contains("daemon.poll_interval: "), "{err}");
}

#[test]
fn a_duration_longer_than_a_year_is_refused() {
    // The scheduler adds it to the daemon's start as a jiff span, which
    // panics past about 20,000 years; `every` past i64::MAX seconds turned
    // negative there, so the pair synced on every tick.
    let err = load_pair("[pairs.p.schedule]\nafter_start = \"700000000000s\"\n").unwrap_err();
    assert!(err.contains("is more than a year"), "{err}");
    let err = load_pair("[pairs.p.schedule]\nevery = \"9223372036854775808s\"\n").unwrap_err();
    assert!(err.contains("is more than a year"), "{err}");
    let m = load_pair("[pairs.p.schedule]\nafter_start = \"8760h\"\nevery = 525600\n").unwrap();
    let triggers = m.pairs["p"].schedule.triggers;
    assert_eq!(triggers.after_start_secs, Some(schedule::LONGEST_SECS));
    assert_eq!(triggers.every_secs, Some(schedule::LONGEST_SECS));
}

#[test]
fn a_table_given_as_an_empty_array_is_named_a_table() {
    let err = load_pair("ledger = []\n").unwrap_err();
    assert!(
        err.ends_with("pairs.p.ledger: invalid type: found an array, expected a table"),
        "{err}"
    );
}

#[test]
fn what_the_user_wrote_is_no_rust_in_an_error() {
    // A plugin name with a character Debug shows as `\u{f6400}`.
    let text = "[endpoints.src]\ntype = \"\\\"\u{f6400}\"\n";
    let path = write(text);
    let err = parse(&path).unwrap_err();
    assert!(err.contains("\\u{f6400}"), "{err}");
    check_error(&err, &path, text).unwrap();
    assert!(check_error("x: expected u64", Path::new("x"), "").is_err());
    assert!(check_error("x: found Option<String>", Path::new("x"), "").is_err());
}
