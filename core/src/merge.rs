//! Field-level three-way merge.

use crate::record::Record;
use crate::value::Value;

/// The result of merging two versions against their base.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeOutcome {
    /// Every field changed on one side only taken from that side; fields
    /// changed on both sides hold A's value.
    pub merged: Record,
    /// The fields changed on both sides to different values.
    pub conflicting: Vec<String>,
}

/// Merges `a` and `b` field by field against `base`.
///
/// A field changed on one side only takes that side's value; a field changed
/// on both sides to the same value is no conflict; a field changed on both
/// sides differently is listed in [`MergeOutcome::conflicting`]. The merged
/// record keeps A's key and field order, followed by fields only B has.
pub fn three_way(base: &Record, a: &Record, b: &Record) -> MergeOutcome {
    let null = Value::Null;
    let mut merged = Record {
        fields: Vec::with_capacity(a.fields.len()),
        ..a.clone()
    };
    let mut conflicting = Vec::new();
    let names = a
        .fields
        .iter()
        .map(|(n, _)| n.as_str())
        .chain(
            b.fields
                .iter()
                .map(|(n, _)| n.as_str())
                .filter(|n| a.get(n).is_none()),
        )
        .chain(
            base.fields
                .iter()
                .map(|(n, _)| n.as_str())
                .filter(|n| a.get(n).is_none() && b.get(n).is_none()),
        );
    for name in names {
        let va = a.get(name).unwrap_or(&null);
        let vb = b.get(name).unwrap_or(&null);
        let vbase = base.get(name).unwrap_or(&null);
        let a_changed = !va.same_content(vbase);
        let b_changed = !vb.same_content(vbase);
        let value = match (a_changed, b_changed) {
            (false, true) => vb,
            (true, true) if !va.same_content(vb) => {
                conflicting.push(name.to_owned());
                va
            }
            _ => va,
        };
        if !value.is_null() || a.get(name).is_some() {
            merged.fields.push((name.into(), value.clone()));
        }
    }
    MergeOutcome {
        merged,
        conflicting,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(fields: &[(&str, &str)]) -> Record {
        fields
            .iter()
            .fold(Record::new("1"), |r, (n, v)| r.with(*n, *v))
    }

    #[test]
    fn disjoint_edits_merge_without_conflict() {
        let base = rec(&[("name", "Ann"), ("city", "Oslo"), ("phone", "1")]);
        let a = rec(&[("name", "Anna"), ("city", "Oslo"), ("phone", "1")]);
        let b = rec(&[("name", "Ann"), ("city", "Bergen"), ("phone", "1")]);
        let out = three_way(&base, &a, &b);
        assert!(out.conflicting.is_empty());
        assert_eq!(out.merged.get("name"), Some(&Value::from("Anna")));
        assert_eq!(out.merged.get("city"), Some(&Value::from("Bergen")));
    }

    #[test]
    fn same_field_edited_differently_is_a_conflict() {
        let base = rec(&[("name", "Ann")]);
        let a = rec(&[("name", "Anna")]);
        let b = rec(&[("name", "Annie")]);
        let out = three_way(&base, &a, &b);
        assert_eq!(out.conflicting, vec!["name".to_owned()]);
    }

    #[test]
    fn same_edit_on_both_sides_is_no_conflict() {
        let base = rec(&[("name", "Ann")]);
        let a = rec(&[("name", "Anna")]);
        let out = three_way(&base, &a, &a.clone());
        assert!(out.conflicting.is_empty());
    }

    #[test]
    fn field_added_on_b_only_is_kept() {
        let base = rec(&[("name", "Ann")]);
        let a = rec(&[("name", "Ann")]);
        let b = rec(&[("name", "Ann"), ("email", "a@x")]);
        let out = three_way(&base, &a, &b);
        assert_eq!(out.merged.get("email"), Some(&Value::from("a@x")));
    }
}
