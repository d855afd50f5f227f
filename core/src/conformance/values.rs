//! The values endpoints get wrong: unicode, quoting, line breaks, empty
//! text and null.

use super::Fixture;
use super::harness::{Suite, apply_to, model, upserts};
use crate::record::{Change, Record};
use crate::value::Value;

/// The awkward texts, with what makes each awkward.
const TEXTS: &[(&str, &str)] = &[
    ("emoji", "🎉 family 👩‍👩‍👧‍👦, flag 🇩🇰"),
    ("combining marks", "e\u{301}te\u{301}, n\u{303}, a\u{30a}"),
    ("right to left", "שָׁלוֹם and مرحبا بالعالم"),
    ("cjk", "東京 日本語 中文 한국어"),
    ("quotes", "he said \"hi\" and 'bye' \"\""),
    ("commas", "a,b,,c,"),
    ("semicolons and tabs", "a;b\tc"),
    ("newlines", "line 1\nline 2\r\nline 3\n"),
    ("spaces kept", "  padded  "),
    ("leading zeros", "007"),
    ("looks like null", "null"),
    ("backslashes", "C:\\dir\\file \\n"),
    ("single char", "x"),
];

/// Unicode (emoji, combining marks, right to left, CJK), quotes, commas and
/// line breaks inside values, empty text and null all read back as written;
/// empty text and null stay apart unless the fixture says the endpoint
/// cannot tell them apart.
pub async fn unicode_empty_null(f: Fixture) {
    let s = Suite::new("unicode_empty_null", f);
    let mut records: Vec<Record> = TEXTS
        .iter()
        .enumerate()
        .map(|(i, (_, text))| s.record(&format!("u{i:03}"), *text, i as i64 - 5))
        .collect();
    records.push(s.record("empty", "", 0));
    records.push(s.record("null", Value::Null, Value::Null));
    records.push(s.record("clé-ü-東京", "key with accents and cjk", 1));
    records.push(s.record("big", "large amounts", 1_234_567_890_123_i64));
    records.push(s.record("negative", "negative amounts", -1_000_000));
    s.write(upserts(&records)).await;
    let mut expected = model(&records);

    let read = s.read_full(None, 1000).await;
    for (i, (what, text)) in TEXTS.iter().enumerate() {
        let key = format!("u{i:03}");
        let Some(record) = read.get(&crate::record::Key::from(key.as_str())) else {
            continue;
        };
        let got = record.get("name").unwrap_or(&Value::Null);
        if !s.values_match(&Value::from(*text), got) {
            s.fail(
                &format!("text with {what} reads back as written"),
                format_args!("key {key:?}: wrote {text:?}, read {got:?}"),
            );
        }
    }
    let empty = read.get(&"empty".into()).and_then(|r| r.get("name"));
    if !s.f.null_is_empty && !matches!(empty, Some(Value::Text(t)) if t.is_empty()) {
        s.fail(
            "empty text reads back as empty text, not null, where the endpoint tells them apart",
            format_args!("key \"empty\": read {empty:?}"),
        );
    }
    s.assert_model(
        "unicode, quotes, commas, newlines, empty text and null read back as written",
        &expected,
        &read,
    );

    let swapped = vec![
        Change::Upsert(s.record("u000", "", 1)),
        Change::Upsert(s.record("u001", Value::Null, 2)),
        Change::Upsert(s.record("empty", "no longer empty", Value::Null)),
        Change::Upsert(s.record("null", "no longer null ✓", 3)),
    ];
    s.write(swapped.clone()).await;
    apply_to(&mut expected, &swapped);
    s.assert_model(
        "replacing text with empty text or null, and back, reads back as written",
        &expected,
        &s.read_full(None, 1000).await,
    );
}
