//! The manifest as written: the serde shapes of `plugins.toml`, checked for unknown keys.

use std::collections::BTreeMap;

use serde::Deserialize;
use tandem_core::ResolverKind;
use tandem_core::engine::{
    Condition, FieldMap, LedgerConfig, MatchRule, Mode, OnCrash, Op, PairConfig,
};

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawManifest {
    /// Plugin name to library path.
    #[serde(default)]
    pub plugins: BTreeMap<String, String>,
    /// Endpoint name to its table: `type` plus the connector's own settings.
    /// Kept untyped here; the connector validates its settings.
    #[serde(default)]
    pub endpoints: BTreeMap<String, figment::value::Dict>,
    /// Pair name to its settings.
    #[serde(default)]
    pub pairs: BTreeMap<String, PairSection>,
    /// The state store.
    #[serde(default)]
    pub store: StoreSection,
    /// `tandem daemon`: listen address, polling, API tokens.
    #[serde(default)]
    pub daemon: super::daemon::DaemonSection,
}

/// `[store]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    /// The store's URL: `sqlite://tandem.db` (relative to the manifest),
    /// `postgres://...`.
    #[serde(default = "default_store_url")]
    pub url: String,
}

impl Default for StoreSection {
    fn default() -> Self {
        StoreSection {
            url: default_store_url(),
        }
    }
}

fn default_store_url() -> String {
    "sqlite://tandem.db".into()
}

/// `[pairs.NAME]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairSection {
    /// The endpoint on side A.
    pub a: String,
    /// The endpoint on side B.
    pub b: String,
    /// The entity on both sides, when it has the same name.
    pub entity: Option<String>,
    /// The entity on side A.
    pub a_entity: Option<String>,
    /// The entity on side B.
    pub b_entity: Option<String>,
    /// A field name to B field name; empty maps every field to itself.
    #[serde(default)]
    pub mapping: BTreeMap<String, String>,
    /// Only these fields (A's names) are synced.
    pub fields: Option<Vec<String>>,
    /// Only records satisfying every condition are in the pair.
    #[serde(default)]
    pub filter: Vec<ConditionSection>,
    /// Records satisfying every condition are inactive.
    #[serde(default)]
    pub inactive: Vec<ConditionSection>,
    /// `"key"` or `{ fields = ["email"] }`.
    #[serde(rename = "match")]
    pub match_rule: Option<MatchSection>,
    /// `two_way`, `send`, `receive` or `full`.
    pub mode: Option<String>,
    /// `a_wins`, `b_wins`, `newest`, `field_merge` or `manual`.
    pub resolver: Option<String>,
    /// The most a run may delete of an entity's linked records, in percent.
    pub max_delete: Option<f64>,
    /// The IANA time zone days are computed in.
    pub time_zone: Option<String>,
    /// Records per batch.
    pub batch_size: Option<usize>,
    /// The day ledger: `{ field = "time", time_zone = "Europe/Rome" }`, the
    /// field (A's name) holding each record's event time and, optionally,
    /// the time zone of its days (the pair's `time_zone` when absent).
    pub ledger: Option<LedgerConfig>,
    /// What the next start does with a run whose process died: `resume`
    /// (the default: continue from the last commit) or `rollback` (restore
    /// the targets from the run's journal first).
    pub on_crash: Option<String>,
    /// When `tandem daemon` syncs the pair: the weekly grid and the
    /// automatic triggers.
    pub schedule: Option<super::schedule::ScheduleSection>,
}

/// `{ fields = [...] }` of `match`, or the name `"key"`.
#[derive(Debug, Deserialize)]
#[serde(untagged, expecting = "\"key\" or a table { fields = [...] }")]
pub enum MatchSection {
    /// `"key"`.
    Name(String),
    /// `{ fields = [...] }`.
    Fields {
        /// The fields compared.
        fields: Vec<String>,
    },
}

/// `{ field, op, value | values }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionSection {
    /// The field (A's name).
    pub field: String,
    /// `eq`, `ne`, `in`, `not_in`, `lt`, `gt`, `empty`, `not_empty`.
    pub op: Op,
    /// The value compared with.
    pub value: Option<Scalar>,
    /// The values, for `in` and `not_in`.
    #[serde(default)]
    pub values: Vec<Scalar>,
}

/// A text, number or boolean written in a condition, compared as text.
#[derive(Debug, Deserialize)]
#[serde(untagged, expecting = "a text, number or boolean")]
pub enum Scalar {
    /// Text.
    Text(String),
    /// A whole number.
    Int(i64),
    /// A number.
    Float(f64),
    /// A boolean.
    Bool(bool),
}

impl Scalar {
    fn text(self) -> String {
        match self {
            Scalar::Text(s) => s,
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Bool(b) => b.to_string(),
        }
    }
}

impl ConditionSection {
    fn into_condition(self) -> Condition {
        Condition {
            field: self.field,
            op: self.op,
            value: self.value.map(Scalar::text),
            values: self.values.into_iter().map(Scalar::text).collect(),
        }
    }
}

impl PairSection {
    /// Core's pair configuration; errors name the key (without the pair).
    pub fn into_config(self, name: &str) -> Result<PairConfig, String> {
        let (a_entity, b_entity) = match (self.entity, self.a_entity, self.b_entity) {
            (Some(e), None, None) => (e.clone(), e),
            (None, Some(a), Some(b)) => (a, b),
            (Some(_), _, _) => {
                return Err(
                    "entity: give either `entity` or `a_entity` and `b_entity`, not both".into(),
                );
            }
            (None, _, _) => {
                return Err(
                    "entity: missing; give `entity` or both `a_entity` and `b_entity`".into(),
                );
            }
        };
        let mut pair = PairConfig::new(name, a_entity, b_entity);
        pair.mapping = self
            .mapping
            .into_iter()
            .map(|(a, b)| FieldMap { a, b })
            .collect();
        pair.fields = self.fields;
        pair.filter = self
            .filter
            .into_iter()
            .map(ConditionSection::into_condition)
            .collect();
        pair.inactive = self
            .inactive
            .into_iter()
            .map(ConditionSection::into_condition)
            .collect();
        pair.match_rule = match self.match_rule {
            None => MatchRule::Key,
            Some(MatchSection::Name(n)) if n == "key" => MatchRule::Key,
            Some(MatchSection::Name(n)) => {
                return Err(format!(
                    "match: unknown rule {n:?}, expected \"key\" or {{ fields = [...] }}"
                ));
            }
            Some(MatchSection::Fields { fields }) => MatchRule::Fields(fields),
        };
        if let Some(mode) = self.mode {
            pair.mode = Mode::parse(&mode).ok_or_else(|| {
                format!("mode: unknown mode {mode:?}, expected one of two_way, send, receive, full")
            })?;
        }
        if let Some(resolver) = self.resolver {
            pair.resolver = ResolverKind::parse(&resolver).ok_or_else(|| {
                format!("resolver: unknown resolver {resolver:?}, expected one of a_wins, b_wins, newest, field_merge, manual")
            })?;
        }
        if let Some(max_delete) = self.max_delete {
            pair.max_delete = max_delete;
        }
        if let Some(time_zone) = self.time_zone {
            pair.time_zone = time_zone;
        }
        if let Some(batch_size) = self.batch_size {
            pair.batch_size = batch_size;
        }
        if let Some(ledger) = self.ledger {
            if ledger.field.trim().is_empty() {
                return Err(
                    "ledger.field: name the field that holds each record's event time".into(),
                );
            }
            pair.ledger = Some(ledger);
        }
        if let Some(on_crash) = self.on_crash {
            pair.on_crash = match on_crash.as_str() {
                "resume" => OnCrash::Resume,
                "rollback" => OnCrash::Rollback,
                _ => {
                    return Err(format!(
                        "on_crash: unknown value {on_crash:?}, expected \"resume\" or \"rollback\""
                    ));
                }
            };
        }
        Ok(pair)
    }
}
