//! Printing: JSON on stdout, timestamps, counts, record values.

use anyhow::Context as _;
use serde::Serialize;
use tandem_core::Value;
use tandem_core::engine::Category;
use tandem_core::store::{RunCounts, RunError};

/// Prints a value as pretty JSON on stdout.
pub fn json(value: &impl Serialize) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value).context("encoding the output as json")?;
    say!("{text}");
    Ok(())
}

/// A timestamp to the second, in UTC.
pub fn time(ts: jiff::Timestamp) -> String {
    ts.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// Every category with its count, three to a line.
pub fn category_lines(counts: &RunCounts) -> Vec<String> {
    let width = Category::ALL
        .iter()
        .map(|c| c.count(counts).to_string().len())
        .max()
        .unwrap_or(1);
    let rows: Vec<Vec<String>> = Category::ALL
        .chunks(3)
        .map(|row| {
            row.iter()
                .map(|c| format!("{:<13}{:>width$}", c.as_str(), c.count(counts)))
                .collect()
        })
        .collect();
    table(&rows)
}

/// `1 conflict`, `2 conflicts`, `2 entities`, `2 days`.
pub fn plural(n: u64, word: &str) -> String {
    let consonant_y = word
        .strip_suffix('y')
        .filter(|stem| !stem.ends_with(['a', 'e', 'i', 'o', 'u']));
    match (n, consonant_y) {
        (1, _) => format!("1 {word}"),
        (_, Some(stem)) => format!("{n} {stem}ies"),
        (_, None) => format!("{n} {word}s"),
    }
}

/// The writes per side and the rejected records.
pub fn write_lines(counts: &RunCounts) -> Vec<String> {
    vec![
        format!(
            "side a: {} created, {} updated, {} deleted",
            counts.created_a, counts.updated_a, counts.deleted_a
        ),
        format!(
            "side b: {} created, {} updated, {} deleted",
            counts.created_b, counts.updated_b, counts.deleted_b
        ),
        format!("rejected: {}", counts.rejected),
    ]
}

/// The categories with a count, on one line: `new 3, synchronized 17`.
pub fn counts_brief(counts: &RunCounts) -> String {
    let parts: Vec<String> = Category::ALL
        .iter()
        .filter(|c| c.count(counts) > 0)
        .map(|c| format!("{} {}", c.as_str(), c.count(counts)))
        .collect();
    if parts.is_empty() {
        "no records".into()
    } else {
        parts.join(", ")
    }
}

/// One run error: where, then what.
pub fn run_error(e: &RunError) -> String {
    let mut place = Vec::new();
    if let Some(l) = &e.location {
        place.push(l.clone());
    }
    if let Some(en) = &e.entity {
        place.push(format!("entity {en}"));
    }
    if let Some(k) = &e.key {
        place.push(format!("key {k}"));
    }
    if place.is_empty() {
        e.message.clone()
    } else {
        format!("{}: {}", place.join(", "), e.message)
    }
}

/// A value for a table cell: text quoted, null as `null`.
pub fn cell(value: Option<&Value>) -> String {
    match value {
        None => "(absent)".into(),
        Some(Value::Null) => "null".into(),
        Some(Value::Text(s)) => format!("{s:?}"),
        Some(v) => v.to_string(),
    }
}

/// Rows of columns, padded to the widest cell of each column.
pub fn table(rows: &[Vec<String>]) -> Vec<String> {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    rows.iter()
        .map(|r| {
            let cells: Vec<String> = r
                .iter()
                .enumerate()
                .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
                .collect();
            cells.join("  ").trim_end().to_owned()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_pad_columns() {
        let rows = vec![
            vec!["id".into(), "status".into()],
            vec!["12".into(), "ok".into()],
        ];
        assert_eq!(table(&rows), vec!["id  status", "12  ok"]);
    }

    #[test]
    fn categories_print_three_to_a_line() {
        let counts = RunCounts {
            new: 3,
            synchronized: 17,
            ..Default::default()
        };
        let lines = category_lines(&counts);
        assert_eq!(lines.len(), 3);
        assert_eq!(
            lines[1],
            "disabled      0  synchronized 17  inactive      0"
        );
    }

    #[test]
    fn brief_counts_skip_zeroes() {
        let counts = RunCounts {
            new: 3,
            synchronized: 17,
            ..Default::default()
        };
        assert_eq!(counts_brief(&counts), "new 3, synchronized 17");
        assert_eq!(plural(2, "entity"), "2 entities");
        assert_eq!(plural(2, "day"), "2 days");
        assert_eq!(plural(1, "pending conflict"), "1 pending conflict");
    }
}
