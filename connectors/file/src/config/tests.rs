//! Tests of the configuration: defaults and errors that name the setting.

use serde_json::json;

use super::*;

fn resolve(config: serde_json::Value) -> Result<Settings> {
    let config: FileConfig =
        serde_json::from_value(config).map_err(|e| Error::config(CONNECTOR, e.to_string()))?;
    config.resolve()
}

fn message(config: serde_json::Value) -> String {
    match resolve(config) {
        Err(Error::Config { message, .. }) => message,
        other => panic!("expected a configuration error, got {other:?}"),
    }
}

#[test]
fn defaults_come_from_the_file_name() {
    let s = resolve(json!({ "path": "dir/Orders.TSV", "key": ["id"] })).unwrap();
    assert_eq!(s.format, Format::Csv);
    assert_eq!(s.delimiter, b'\t');
    assert_eq!(s.quote, b'"');
    assert_eq!(s.entity, "Orders");
    assert!(s.header && s.create);
    assert_eq!(s.on_bad_record, OnBadRecord::Fail);

    let s = resolve(json!({ "path": "e.ndjson", "key": ["id"], "entity": "events" })).unwrap();
    assert_eq!((s.format, s.entity.as_str()), (Format::Jsonl, "events"));

    let s = resolve(json!({
        "path": "x.data", "format": "csv", "key": ["id"], "delimiter": ";",
        "quote": "'", "header": false, "columns": ["id", "v"],
        "on_bad_record": "skip", "create": false
    }))
    .unwrap();
    assert_eq!((s.delimiter, s.quote, s.header), (b';', b'\'', false));
    assert_eq!(s.on_bad_record, OnBadRecord::Skip);
}

#[test]
fn errors_name_the_setting() {
    let cases = [
        (
            json!({ "path": "a.csv", "key": ["id"], "colour": 1 }),
            "colour",
        ),
        (json!({ "path": "a.csv" }), "`key`"),
        (json!({ "key": ["id"] }), "`path`"),
        (json!({ "path": "a.csv", "key": [] }), "key: "),
        (json!({ "path": "a.csv", "key": ["id", "id"] }), "key: "),
        (json!({ "path": "a.csv", "key": "id" }), "key: invalid type"),
        (
            json!({ "path": "a.csv", "key": ["id"], "format": "xml" }),
            "format: ",
        ),
        (json!({ "path": "a.txt", "key": ["id"] }), "format: "),
        (
            json!({ "path": "a.csv", "key": ["id"], "delimiter": ";;" }),
            "delimiter: ",
        ),
        (
            json!({ "path": "a.csv", "key": ["id"], "delimiter": "é" }),
            "delimiter: ",
        ),
        (
            json!({ "path": "a.csv", "key": ["id"], "quote": "," }),
            "delimiter: ",
        ),
        (
            json!({ "path": "a.csv", "key": ["id"], "header": "no" }),
            "header: ",
        ),
        (
            json!({ "path": "a.csv", "key": ["id"], "header": false }),
            "columns: ",
        ),
        (
            json!({ "path": "a.csv", "key": ["id"], "columns": ["id"] }),
            "columns: ",
        ),
        (
            json!({ "path": "a.csv", "key": ["k"], "header": false, "columns": ["id"] }),
            "key: ",
        ),
        (
            json!({ "path": "a.jsonl", "key": ["id"], "delimiter": ";" }),
            "delimiter: ",
        ),
        (
            json!({ "path": "a.jsonl", "key": ["id"], "header": true }),
            "header: ",
        ),
        (
            json!({ "path": "a.csv", "key": ["id"], "on_bad_record": "ignore" }),
            "on_bad_record: ",
        ),
        (
            json!({ "path": "a.csv", "key": ["id"], "entity": "" }),
            "entity: ",
        ),
        (
            json!({ "path": "a.csv", "key": ["id"], "create": "yes" }),
            "create: ",
        ),
    ];
    for (config, expected) in cases {
        let shown = config.to_string();
        let message = message(config);
        assert!(
            message.contains(expected),
            "{shown}: {message:?} lacks {expected:?}"
        );
    }
}
