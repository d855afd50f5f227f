//! CSV and JSON Lines files over arbitrary input: arbitrary bytes, and rows
//! near valid ones (quotes, BOMs, CRLF and CR, NULs, ragged rows, invalid
//! UTF-8, duplicate and empty keys, huge fields, deep JSON), read in full
//! and since a cursor, with either `on_bad_record`. A read never panics and
//! never hangs: it gives records and rejected rows, or an error, and every
//! rejected row and row error names the file and a line of it.
//!
//! `PROPTEST_CASES=N` runs N cases of each property (a soak).

use std::path::{Path, PathBuf};
use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::TryStreamExt;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::json;
use tandem_connector_file::FileConnector;
use tandem_core::{Batch, Change, Cursor, Error, ReadRequest, Record, RecordError, Source};

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

/// How long one read may take before it counts as a hang.
const HANG: Duration = Duration::from_secs(60);

// ---- Reading ----

/// Panics anywhere in the process, the reading threads' included (a panic
/// there would otherwise only show as a read that stopped).
static PANICS: AtomicUsize = AtomicUsize::new(0);

fn count_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            previous(info);
        }));
    });
}

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    static DIR: tempfile::TempDir = tempfile::tempdir().unwrap();
}

/// A file's settings.
#[derive(Debug, Clone)]
struct Dialect {
    jsonl: bool,
    skip: bool,
    delimiter: u8,
    quote: u8,
    header: bool,
    composite: bool,
}

impl Dialect {
    fn key(&self) -> Vec<&'static str> {
        if self.composite {
            vec!["id", "k2"]
        } else {
            vec!["id"]
        }
    }

    fn connector(&self, path: &Path) -> FileConnector {
        let mut config = json!({
            "path": path,
            "key": self.key(),
            "format": if self.jsonl { "jsonl" } else { "csv" },
            "on_bad_record": if self.skip { "skip" } else { "fail" },
        });
        if !self.jsonl {
            config["delimiter"] = json!((self.delimiter as char).to_string());
            config["quote"] = json!((self.quote as char).to_string());
            if !self.header {
                config["header"] = json!(false);
                config["columns"] = json!(["id", "name", "k2"]);
            }
        }
        FileConnector::from_config(config).unwrap()
    }
}

/// What a read gave.
#[derive(Debug)]
struct Read {
    records: Vec<Record>,
    deletes: usize,
    rejected: Vec<RecordError>,
    cursor: Option<Cursor>,
}

/// Writes `bytes` to the thread's file and reads it through the connector,
/// in full or since `since`; panics count, a read past [`HANG`] fails.
fn read(
    dialect: &Dialect,
    bytes: &[u8],
    since: Option<Cursor>,
) -> Result<(PathBuf, tandem_core::Result<Read>), TestCaseError> {
    count_panics();
    let path = DIR.with(|d| {
        d.path().join(if dialect.jsonl {
            "data.jsonl"
        } else {
            "data.csv"
        })
    });
    std::fs::write(&path, bytes).unwrap();
    let connector = dialect.connector(&path);
    let request = match since {
        Some(cursor) => ReadRequest::since(connector.entity(), cursor),
        None => ReadRequest::full(connector.entity()),
    }
    .with_batch_size(7);
    let outcome = RUNTIME.with(|rt| {
        rt.block_on(async {
            tokio::time::timeout(HANG, async {
                // The schema, as `tandem` asks for it first.
                let _ = connector.entities().await;
                let batches: Vec<Batch> = connector.read(request).await?.try_collect().await?;
                let mut read = Read {
                    records: Vec::new(),
                    deletes: 0,
                    rejected: Vec::new(),
                    cursor: None,
                };
                for batch in batches {
                    for change in batch.changes {
                        match change {
                            Change::Upsert(r) => read.records.push(r),
                            Change::Delete { .. } => read.deletes += 1,
                        }
                    }
                    read.rejected.extend(batch.rejected);
                    read.cursor = batch.cursor.or(read.cursor);
                }
                Ok(read)
            })
            .await
        })
    });
    prop_assert_eq!(PANICS.load(Ordering::SeqCst), 0, "a panic while reading");
    match outcome {
        Ok(outcome) => Ok((path, outcome)),
        Err(_) => Err(TestCaseError::fail(format!(
            "reading {} bytes hung for {HANG:?}",
            bytes.len()
        ))),
    }
}

/// Whether `location` is `path:line` or `path:line, column C` with a line
/// of the file.
fn check_location(location: &str, path: &Path, lines: u64) -> Result<(), TestCaseError> {
    let shown = path.display().to_string();
    let rest = location.strip_prefix(&format!("{shown}:"));
    prop_assert!(rest.is_some(), "{location:?} does not name {shown}");
    let rest = rest.unwrap();
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let line: u64 = digits
        .parse()
        .map_err(|_| TestCaseError::fail(format!("{location:?} names no line")))?;
    prop_assert!(
        (1..=lines).contains(&line),
        "{location:?}: line {line} of a file of {lines} lines"
    );
    let after = &rest[digits.len()..];
    prop_assert!(
        after.is_empty() || after.starts_with(", column "),
        "{location:?}"
    );
    Ok(())
}

/// Checks what a read gave: records with keys, each key once; rejected
/// rows only when skipping, each at a line of the file; or an error that
/// names the file (and a line, for a bad row).
fn check(
    dialect: &Dialect,
    bytes: &[u8],
    path: &Path,
    outcome: &tandem_core::Result<Read>,
) -> Result<(), TestCaseError> {
    let lines = bytes.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    match outcome {
        Ok(read) => {
            let mut keys: Vec<&str> = read.records.iter().map(|r| r.key.as_str()).collect();
            prop_assert!(keys.iter().all(|k| !k.is_empty()), "an empty key");
            keys.sort_unstable();
            let n = keys.len();
            keys.dedup();
            prop_assert_eq!(keys.len(), n, "a key read twice");
            if !dialect.skip {
                prop_assert!(read.rejected.is_empty(), "rejected rows in fail mode");
            }
            for r in &read.rejected {
                check_location(&r.location, path, lines)?;
                prop_assert!(!r.message.is_empty());
            }
        }
        Err(Error::BadRecord {
            location, message, ..
        }) => {
            check_location(location, path, lines)?;
            prop_assert!(!message.is_empty());
            // Skipping, only a broken header fails the read.
            if dialect.skip {
                prop_assert!(message.contains("header"), "{location}: {message}");
            }
        }
        Err(Error::Config { message, .. }) => {
            // A header without the key columns.
            prop_assert!(!dialect.jsonl && dialect.header, "{message}");
            prop_assert!(message.contains(&path.display().to_string()), "{message}");
        }
        Err(other) => prop_assert!(false, "{other}"),
    }
    Ok(())
}

/// Reads `bytes` in full, and since the cursor of a read of `before`.
fn read_and_check(dialect: &Dialect, before: &[u8], bytes: &[u8]) -> Result<(), TestCaseError> {
    let (path, outcome) = read(dialect, bytes, None)?;
    check(dialect, bytes, &path, &outcome)?;
    let (_, first) = read(dialect, before, None)?;
    if let Ok(Read {
        cursor: Some(cursor),
        ..
    }) = first
    {
        let (path, outcome) = read(dialect, bytes, Some(cursor))?;
        check(dialect, bytes, &path, &outcome)?;
        if let Ok(read) = &outcome {
            prop_assert!(read.cursor.is_some(), "a read since a cursor gave none");
        }
    }
    Ok(())
}

// ---- Inputs ----

fn dialect() -> impl Strategy<Value = Dialect> {
    let delimiter = prop_oneof![
        4 => proptest::sample::select(&b",;\t|"[..]),
        1 => proptest::sample::select(&b" \0a#\x7f\"\\"[..]),
    ];
    let quote = prop_oneof![
        4 => proptest::sample::select(&b"\"'"[..]),
        1 => proptest::sample::select(&b"\0x|,\\"[..]),
    ];
    (
        any::<bool>(),
        any::<bool>(),
        delimiter,
        quote,
        prop_oneof![4 => Just(true), 1 => Just(false)],
        prop_oneof![4 => Just(false), 1 => Just(true)],
    )
        .prop_map(
            |(jsonl, skip, delimiter, quote, header, composite)| Dialect {
                jsonl,
                skip,
                delimiter,
                // The configuration refuses a quote that is the delimiter.
                quote: if quote == delimiter { b'\'' } else { quote },
                header,
                composite,
            },
        )
}

/// Bytes that mean something to one of the formats, or any byte.
fn byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        2 => any::<u8>(),
        3 => proptest::sample::select(&b",;\t|\"'\r\n \\{}[]:0123idk\xef\xbb\xbf\xe9\xff\x00"[..]),
    ]
}

/// One CSV field, as written (quoted or not).
fn csv_field(d: u8, q: u8) -> impl Strategy<Value = Vec<u8>> {
    let (d, q) = (d as char, q as char);
    prop_oneof![
        4 => "[a-z0-9 ]{0,6}".prop_map(String::into_bytes),
        3 => (1u8..6).prop_map(|k| k.to_string().into_bytes()),
        2 => Just(Vec::new()),
        2 => "[a-z,;|\t\"' \r\n]{0,8}".prop_map(move |s| {
            let inner = s.replace(q, &format!("{q}{q}"));
            format!("{q}{inner}{q}").into_bytes()
        }),
        1 => "[a-z ]{0,6}".prop_map(move |s| format!("{q}{s}").into_bytes()),
        1 => "[a-z]{0,3}".prop_map(move |s| format!("{s}{q}{s}{q}{q}{d}").into_bytes()),
        1 => Just(b"ab\0cd".to_vec()),
        1 => proptest::sample::select(vec![
            b"caf\xe9".to_vec(),
            b"\xff\xfe".to_vec(),
            b"\xc3".to_vec(),
            b"\xef\xbb\xbfid".to_vec(),
            b"\xed\xa0\x80".to_vec(),
        ]),
        1 => any::<String>().prop_map(String::into_bytes),
    ]
}

/// A CSV file: maybe a BOM and blank lines, a header, rows of fields, each
/// row ended by LF, CRLF, CR or nothing.
fn csv(d: u8, q: u8) -> impl Strategy<Value = Vec<u8>> {
    let header_name = prop_oneof![
        6 => proptest::sample::select(vec!["id", "name", "k2", "city"]).prop_map(|s| s.as_bytes().to_vec()),
        1 => proptest::sample::select(vec![
            b"".to_vec(),
            b"id".to_vec(),
            b"caf\xe9".to_vec(),
            b"\"id\"".to_vec(),
            b"\xef\xbb\xbfid".to_vec(),
        ]),
    ];
    let end = prop_oneof![
        6 => Just(&b"\n"[..]),
        3 => Just(&b"\r\n"[..]),
        1 => Just(&b"\r"[..]),
        1 => Just(&b""[..]),
        1 => Just(&b"\n\n\r\n"[..]),
    ];
    let row = (vec(csv_field(d, q), 0..6), end.clone());
    (
        any::<bool>(),
        prop_oneof![3 => Just(vec!["id".as_bytes().to_vec(), b"name".to_vec(), b"k2".to_vec()]), 1 => vec(header_name, 0..5)],
        end,
        vec(row, 0..12),
        proptest::option::of(vec(byte(), 0..16)),
    )
        .prop_map(move |(bom, header, header_end, rows, tail)| {
            let mut out = Vec::new();
            if bom {
                out.extend_from_slice(b"\xef\xbb\xbf");
            }
            out.extend(header.join(&d));
            out.extend_from_slice(header_end);
            for (fields, end) in rows {
                out.extend(fields.join(&d));
                out.extend_from_slice(end);
            }
            out.extend(tail.unwrap_or_default());
            out
        })
}

/// Any JSON value, as text, nested a little.
fn json_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_owned()),
        any::<bool>().prop_map(|b| b.to_string()),
        any::<i64>().prop_map(|i| i.to_string()),
        any::<f64>().prop_map(|f| f.to_string()),
        proptest::sample::select(vec!["1e400", "-0", "18446744073709551616", "1.5e-400"])
            .prop_map(str::to_owned),
        any::<String>().prop_map(|s| serde_json::to_string(&s).unwrap()),
        proptest::sample::select(vec!["\"\\ud800\"", "\"\\u0000\"", "\"a\\\"b\"", "\"\\x\""])
            .prop_map(str::to_owned),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(","))),
            vec(("[a-z]{1,4}", inner), 0..4).prop_map(|v| {
                let items: Vec<String> = v.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                format!("{{{}}}", items.join(","))
            }),
        ]
    })
}

/// One JSON Lines line, without its end.
fn jsonl_line() -> impl Strategy<Value = Vec<u8>> {
    let id = prop_oneof![
        4 => (1u8..6).prop_map(|k| format!("\"{k}\"")),
        2 => (1u8..6).prop_map(|k| k.to_string()),
        1 => Just("\"\"".to_owned()),
        1 => Just("null".to_owned()),
        1 => json_value(),
    ];
    prop_oneof![
        6 => (id.clone(), json_value(), proptest::option::of(id.clone())).prop_map(|(id, v, k2)| {
            let k2 = k2.map(|k| format!(",\"k2\":{k}")).unwrap_or_default();
            format!("{{\"id\":{id},\"name\":{v}{k2}}}").into_bytes()
        }),
        1 => (id.clone(), id).prop_map(|(a, b)| format!("{{\"id\":{a},\"id\":{b}}}").into_bytes()),
        1 => json_value().prop_map(String::into_bytes),
        1 => (1usize..200).prop_map(|n| format!("{}{}", "[".repeat(n * 2), "]".repeat(n * 2)).into_bytes()),
        1 => (1u8..6).prop_map(|k| {
            let mut line = format!("{{\"id\":\"{k}\",\"name\":\"caf").into_bytes();
            line.extend_from_slice(b"\xe9\"}");
            line
        }),
        1 => Just(b"{\"id\":\"1\",\"name\":\"a\0b\"}".to_vec()),
        1 => Just(b"\xef\xbb\xbf{\"id\":\"1\"}".to_vec()),
        1 => Just(b"{\"id\":\"1\"".to_vec()),
        1 => Just(b"   \t ".to_vec()),
        1 => vec(byte(), 0..24),
    ]
}

fn jsonl() -> impl Strategy<Value = Vec<u8>> {
    let end = prop_oneof![
        6 => Just(&b"\n"[..]),
        2 => Just(&b"\r\n"[..]),
        1 => Just(&b"\r"[..]),
        1 => Just(&b""[..]),
    ];
    (any::<bool>(), vec((jsonl_line(), end), 0..12)).prop_map(|(bom, lines)| {
        let mut out = Vec::new();
        if bom {
            out.extend_from_slice(b"\xef\xbb\xbf");
        }
        for (line, end) in lines {
            out.extend(line);
            out.extend_from_slice(end);
        }
        out
    })
}

/// A huge field (64 KiB to 3 MiB) for one file in fifty: where in the
/// file, how long, and whether quoted.
fn huge() -> impl Strategy<Value = Option<(Index, usize, bool)>> {
    let len = proptest::sample::select(vec![64 << 10, 256 << 10, 1 << 20, 3 << 20]);
    proptest::option::weighted(0.02, (any::<Index>(), len, any::<bool>()))
}

/// A dialect with a file near valid for it.
fn near_valid() -> impl Strategy<Value = (Dialect, Vec<u8>)> {
    dialect().prop_flat_map(|d| {
        let file = if d.jsonl {
            jsonl().boxed()
        } else {
            csv(d.delimiter, d.quote).boxed()
        };
        (Just(d), file, huge()).prop_map(|(d, mut file, huge)| {
            if let Some((at, len, quoted)) = huge {
                let at = at.index(file.len() + 1);
                let field = if d.jsonl {
                    format!("\n{{\"id\":\"9\",\"name\":\"{}\"}}\n", "x".repeat(len))
                } else if quoted {
                    let q = d.quote as char;
                    format!(
                        "{q}{}{q}",
                        format!("{}\n", "x".repeat(1023)).repeat(len / 1024)
                    )
                } else {
                    "x".repeat(len)
                };
                file.splice(at..at, field.into_bytes());
            }
            (d, file)
        })
    })
}

/// A valid file to take a cursor from before a read since it.
fn valid(d: &Dialect) -> Vec<u8> {
    if d.jsonl {
        b"{\"id\":\"1\",\"name\":\"a\",\"k2\":\"x\"}\n{\"id\":\"2\",\"name\":\"b\",\"k2\":\"y\"}\n"
            .to_vec()
    } else {
        let sep = d.delimiter as char;
        let header = if d.header {
            format!("id{sep}name{sep}k2\n")
        } else {
            String::new()
        };
        format!("{header}1{sep}a{sep}x\n2{sep}b{sep}y\n").into_bytes()
    }
}

proptest! {
    #![proptest_config(config(300))]

    #[test]
    fn arbitrary_bytes_are_read_or_refused_at_a_line(
        d in dialect(),
        bytes in vec(byte(), 0..2048),
    ) {
        read_and_check(&d, &valid(&d), &bytes)?;
    }

    #[test]
    fn near_valid_files_are_read_or_refused_at_a_line((d, bytes) in near_valid()) {
        read_and_check(&d, &valid(&d), &bytes)?;
    }

    #[test]
    fn a_file_changed_into_another_is_read_since_its_cursor(
        (d, before) in near_valid(),
        after in vec(byte(), 0..512),
    ) {
        read_and_check(&d, &before, &after)?;
    }
}
