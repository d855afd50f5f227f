//! A pair's configuration: entities, field mapping, subset, filters, match rule.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::record::Record;
use crate::resolve::ResolverKind;
use crate::value::Value;

/// Which way a run moves changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Both ways, incrementally.
    #[default]
    TwoWay,
    /// A to B only.
    Send,
    /// B to A only; refuses to discard A's unsent changes without force.
    Receive,
    /// Both ways, re-reading everything (deletes no cursor reported too).
    Full,
}

impl Mode {
    /// Whether runs keep base records, for field merges: two-way pairs do
    /// (in every mode they run in); one-way pairs keep only keys and
    /// hashes.
    pub fn keeps_base(self) -> bool {
        matches!(self, Mode::TwoWay | Mode::Full)
    }

    /// The name used in manifests, the CLI and history.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::TwoWay => "two_way",
            Mode::Send => "send",
            Mode::Receive => "receive",
            Mode::Full => "full",
        }
    }

    /// Parses `two_way`, `two-way`, `send`, `receive` or `full`.
    pub fn parse(s: &str) -> Option<Mode> {
        match s.replace('-', "_").as_str() {
            "two_way" => Some(Mode::TwoWay),
            "send" => Some(Mode::Send),
            "receive" => Some(Mode::Receive),
            "full" => Some(Mode::Full),
            _ => None,
        }
    }
}

/// One field of side A mapped to one field of side B.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldMap {
    /// The field's name on side A (the pair's own name for it).
    pub a: String,
    /// The field's name on side B.
    pub b: String,
}

/// How unlinked records on the two sides are paired.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum MatchRule {
    /// Records with equal keys are the same record.
    #[default]
    Key,
    /// Records with equal values in these fields (A's names; text compared
    /// trimmed and case-insensitively) are the same record.
    Fields(Vec<String>),
}

/// A comparison in a row filter or an inactive rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Equal (canonical text).
    Eq,
    /// Not equal.
    Ne,
    /// One of `values`.
    In,
    /// None of `values`.
    NotIn,
    /// Less than (numbers when both parse as numbers, else text).
    Lt,
    /// Greater than.
    Gt,
    /// Null or empty.
    Empty,
    /// Neither null nor empty.
    NotEmpty,
}

/// One condition on a field: `{ field = "country", op = "eq", value = "DK" }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// The field (A's name).
    pub field: String,
    /// The comparison.
    pub op: Op,
    /// The value compared with (`eq`, `ne`, `lt`, `gt`).
    #[serde(default)]
    pub value: Option<String>,
    /// The values (`in`, `not_in`).
    #[serde(default)]
    pub values: Vec<String>,
}

impl Condition {
    /// Whether the record satisfies the condition.
    pub fn holds(&self, record: &Record) -> bool {
        let v = record.get(&self.field).map(Value::canonical);
        let text = v.as_deref().filter(|t| *t != "\u{0}").unwrap_or("");
        let value = self.value.as_deref().unwrap_or("");
        match self.op {
            Op::Eq => text == value,
            Op::Ne => text != value,
            Op::In => self.values.iter().any(|x| x == text),
            Op::NotIn => !self.values.iter().any(|x| x == text),
            Op::Empty => text.is_empty(),
            Op::NotEmpty => !text.is_empty(),
            Op::Lt | Op::Gt => {
                let ord = match (text.parse::<f64>(), value.parse::<f64>()) {
                    (Ok(x), Ok(y)) => x.partial_cmp(&y),
                    _ => Some(text.cmp(value)),
                };
                matches!(
                    (self.op, ord),
                    (Op::Lt, Some(std::cmp::Ordering::Less))
                        | (Op::Gt, Some(std::cmp::Ordering::Greater))
                )
            }
        }
    }
}

/// How one pair keeps two entities in step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PairConfig {
    /// The pair's name.
    pub name: String,
    /// The entity on side A.
    pub a_entity: String,
    /// The entity on side B.
    pub b_entity: String,
    /// Field mapping; empty maps every field to the field of the same name.
    pub mapping: Vec<FieldMap>,
    /// Only these fields (A's names) are synced; `None` for all mapped.
    pub fields: Option<Vec<String>>,
    /// Only records satisfying every condition are in the pair (A's names).
    pub filter: Vec<Condition>,
    /// Records satisfying every condition are inactive: shown, not synced.
    pub inactive: Vec<Condition>,
    /// How unlinked records are paired.
    pub match_rule: MatchRule,
    /// The default mode.
    pub mode: Mode,
    /// The conflict resolver.
    pub resolver: ResolverKind,
    /// A run may delete at most this percentage of an entity's linked
    /// records without force.
    pub max_delete: f64,
    /// The IANA time zone days are computed in.
    pub time_zone: String,
    /// Records per batch read and applied.
    pub batch_size: usize,
    /// The day ledger: which field holds each record's event time.
    pub ledger: Option<super::LedgerConfig>,
    /// What the next start does with a run whose process died.
    pub on_crash: OnCrash,
}

/// What the next start does with a run whose process died mid-run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnCrash {
    /// Record it as interrupted; the next run continues from the last
    /// commit (upserts are idempotent, so nothing is lost or duplicated).
    #[default]
    Resume,
    /// Restore the targets from the run's journal, then record it stopped.
    Rollback,
}

impl PairConfig {
    /// A pair with defaults: two-way, match by key, manual resolver,
    /// `max_delete` 50 %, UTC.
    pub fn new(
        name: impl Into<String>,
        a_entity: impl Into<String>,
        b_entity: impl Into<String>,
    ) -> Self {
        PairConfig {
            name: name.into(),
            a_entity: a_entity.into(),
            b_entity: b_entity.into(),
            mapping: Vec::new(),
            fields: None,
            filter: Vec::new(),
            inactive: Vec::new(),
            match_rule: MatchRule::Key,
            mode: Mode::TwoWay,
            resolver: ResolverKind::Manual,
            max_delete: 50.0,
            time_zone: "UTC".into(),
            batch_size: 1000,
            ledger: None,
            on_crash: OnCrash::Resume,
        }
    }

    /// Checks the configuration without doing any I/O.
    pub fn validate(&self) -> Result<()> {
        let err = |m: String| Err(Error::config(format!("pair {}", self.name), m));
        if !(0.0..=100.0).contains(&self.max_delete) {
            return err(format!(
                "max_delete: {} is not a percentage between 0 and 100",
                self.max_delete
            ));
        }
        if self.batch_size == 0 {
            return err("batch_size: must be at least 1".into());
        }
        if jiff::tz::TimeZone::get(&self.time_zone).is_err() {
            return err(format!("time_zone: unknown time zone {:?}", self.time_zone));
        }
        if let Some(tz) = self.ledger.as_ref().and_then(|l| l.time_zone.as_ref())
            && jiff::tz::TimeZone::get(tz).is_err()
        {
            return err(format!("ledger.time_zone: unknown time zone {tz:?}"));
        }
        if let MatchRule::Fields(f) = &self.match_rule
            && f.is_empty()
        {
            return err("match: name at least one field".into());
        }
        for c in self.filter.iter().chain(&self.inactive) {
            let needs_value = matches!(c.op, Op::Eq | Op::Ne | Op::Lt | Op::Gt);
            if needs_value && c.value.is_none() {
                return err(format!(
                    "condition on {:?}: op {:?} needs a value",
                    c.field, c.op
                ));
            }
        }
        Ok(())
    }

    /// The time zone of the pair's days.
    pub fn day_zone(&self) -> jiff::tz::TimeZone {
        let name = self
            .ledger
            .as_ref()
            .and_then(|l| l.time_zone.as_deref())
            .unwrap_or(&self.time_zone);
        jiff::tz::TimeZone::get(name).unwrap_or(jiff::tz::TimeZone::UTC)
    }

    /// The fields to request from side A, or `None` for all.
    pub fn a_fields(&self) -> Option<Vec<String>> {
        match (&self.fields, self.mapping.is_empty()) {
            (Some(f), _) => Some(f.clone()),
            (None, true) => None,
            (None, false) => Some(self.mapping.iter().map(|m| m.a.clone()).collect()),
        }
    }

    /// The fields to request from side B, or `None` for all.
    pub fn b_fields(&self) -> Option<Vec<String>> {
        self.a_fields()
            .map(|f| f.iter().map(|a| self.b_name(a).to_owned()).collect())
    }

    fn b_name<'a>(&'a self, a: &'a str) -> &'a str {
        self.mapping
            .iter()
            .find(|m| m.a == a)
            .map_or(a, |m| m.b.as_str())
    }

    fn keep(&self, name: &str) -> bool {
        self.fields
            .as_ref()
            .is_none_or(|f| f.iter().any(|x| x == name))
    }

    /// Side A's record in the pair's field names (A's), subset applied.
    pub fn canonical_a(&self, mut record: Record) -> Record {
        if self.mapping.is_empty() {
            record.fields.retain(|(n, _)| self.keep(n));
        } else {
            record
                .fields
                .retain(|(n, _)| self.mapping.iter().any(|m| m.a == *n) && self.keep(n));
        }
        record
    }

    /// Side B's record in the pair's field names (A's), subset applied.
    pub fn canonical_b(&self, mut record: Record) -> Record {
        if !self.mapping.is_empty() {
            let fields = std::mem::take(&mut record.fields);
            for m in &self.mapping {
                if let Some((_, v)) = fields.iter().find(|(n, _)| *n == m.b) {
                    record.fields.push((m.a.as_str().into(), v.clone()));
                }
            }
        }
        record.fields.retain(|(n, _)| self.keep(n));
        record
    }

    /// A record in the pair's names as side B names it.
    pub fn to_b(&self, mut record: Record) -> Record {
        if !self.mapping.is_empty() {
            for (n, _) in &mut record.fields {
                if let Some(m) = self.mapping.iter().find(|m| m.a == *n) {
                    *n = m.b.as_str().into();
                }
            }
        }
        record
    }

    /// Whether a record (pair names) is in the pair's row filter.
    pub fn in_filter(&self, record: &Record) -> bool {
        self.filter.iter().all(|c| c.holds(record))
    }

    /// Whether a record (pair names) is inactive.
    pub fn is_inactive(&self, record: &Record) -> bool {
        !self.inactive.is_empty() && self.inactive.iter().all(|c| c.holds(record))
    }

    /// The match value of a record under the pair's rule: its key, or the
    /// named fields' values trimmed and lowercased; `None` when a field is
    /// empty (an empty email matches nothing).
    pub fn match_value(&self, record: &Record) -> Option<String> {
        match &self.match_rule {
            MatchRule::Key => Some(record.key.0.to_string()),
            MatchRule::Fields(names) => {
                let mut out = String::new();
                for n in names {
                    let v = record.get(n).map(Value::canonical).unwrap_or_default();
                    let v = v.trim();
                    if v.is_empty() || v == "\u{0}" {
                        return None;
                    }
                    out.push_str(&v.to_lowercase());
                    out.push('\u{1f}');
                }
                Some(out)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair_with_mapping() -> PairConfig {
        let mut p = PairConfig::new("p", "a", "b");
        p.mapping = vec![
            FieldMap {
                a: "id".into(),
                b: "ID".into(),
            },
            FieldMap {
                a: "email".into(),
                b: "Mail".into(),
            },
        ];
        p
    }

    #[test]
    fn mapping_round_trips_and_drops_unmapped_fields() {
        let p = pair_with_mapping();
        let b = Record::new("1")
            .with("ID", "1")
            .with("Mail", "x@y")
            .with("Extra", "z");
        let c = p.canonical_b(b);
        assert_eq!(
            c.fields,
            vec![("id".into(), "1".into()), ("email".into(), "x@y".into())]
        );
        let back = p.to_b(c);
        assert_eq!(back.get("Mail"), Some(&Value::from("x@y")));
        assert_eq!(p.b_fields(), Some(vec!["ID".to_owned(), "Mail".to_owned()]));
    }

    #[test]
    fn match_by_email_ignores_case_and_blanks() {
        let mut p = PairConfig::new("p", "a", "b");
        p.match_rule = MatchRule::Fields(vec!["email".into()]);
        let a = Record::new("1").with("email", " Ann@X.org ");
        let b = Record::new("9").with("email", "ann@x.org");
        assert_eq!(p.match_value(&a), p.match_value(&b));
        assert_eq!(p.match_value(&Record::new("2").with("email", "")), None);
    }

    #[test]
    fn conditions_compare_numbers_as_numbers() {
        let c = Condition {
            field: "n".into(),
            op: Op::Gt,
            value: Some("9".into()),
            values: vec![],
        };
        assert!(c.holds(&Record::new("1").with("n", 10)));
        assert!(!c.holds(&Record::new("1").with("n", "8")));
    }
}
