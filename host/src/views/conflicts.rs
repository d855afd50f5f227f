//! A pair's records by category (CleanManager's sync window), as
//! `tandem conflicts` and the API show them, and finding a conflict by key.

use anyhow::Context as _;
use serde::Serialize;
use tandem_core::engine::{Category, PlannedWrite, RunOptions, RunReport};
use tandem_core::store::{ConflictRow, LinkRow, RunCounts};
use tandem_core::{Key, Value};

use crate::context::Context;
use crate::error::config_error;

/// The categories of the sync window, in its order: CleanManager's six,
/// then the records changed on one side and those merged.
pub const WINDOW: [Category; 9] = [
    Category::Conflict,
    Category::New,
    Category::Deleted,
    Category::Disabled,
    Category::Synchronized,
    Category::Inactive,
    Category::ChangedA,
    Category::ChangedB,
    Category::Merged,
];

/// One field that differs between the sides.
#[derive(Serialize)]
pub struct FieldDiff {
    pub field: String,
    pub a: Option<serde_json::Value>,
    pub b: Option<serde_json::Value>,
}

/// A pending conflict, as `conflicts --json` prints it.
#[derive(Serialize)]
pub struct ConflictOut {
    pub id: i64,
    pub run_id: i64,
    pub a_key: Option<String>,
    pub b_key: Option<String>,
    pub a: Option<serde_json::Value>,
    pub b: Option<serde_json::Value>,
    pub differences: Vec<FieldDiff>,
}

/// The planned writes of one category, from a dry run.
#[derive(Serialize)]
pub struct CategoryOut {
    pub category: Category,
    pub count: u64,
    pub writes: Vec<PlannedWrite>,
}

/// The fields whose values differ between the two versions.
pub fn differences(row: &ConflictRow) -> Vec<FieldDiff> {
    let (a, b) = (row.conflict.a.as_ref(), row.conflict.b.as_ref());
    let mut names: Vec<&tandem_core::Name> = a
        .iter()
        .chain(b.iter())
        .flat_map(|r| r.fields.iter().map(|(n, _)| n))
        .collect();
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(*n));
    names
        .into_iter()
        .filter_map(|n| {
            let (va, vb) = (a.and_then(|r| r.get(n)), b.and_then(|r| r.get(n)));
            let same = match (va, vb) {
                (Some(x), Some(y)) => x.same_content(y),
                (None, None) => true,
                _ => false,
            };
            (!same).then(|| FieldDiff {
                field: n.to_string(),
                a: va.map(Value::to_json),
                b: vb.map(Value::to_json),
            })
        })
        .collect()
}

/// A record's fields as a JSON object.
pub fn record_json(record: &tandem_core::Record) -> serde_json::Value {
    let fields = record
        .fields
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_json()))
        .collect();
    serde_json::Value::Object(fields)
}

/// A pending conflict with both versions and the fields that differ.
pub fn conflict_out(r: &ConflictRow) -> ConflictOut {
    ConflictOut {
        id: r.id,
        run_id: r.run_id,
        a_key: r.conflict.a_key.as_ref().map(|k| k.0.to_string()),
        b_key: r.conflict.b_key.as_ref().map(|k| k.0.to_string()),
        a: r.conflict.a.as_ref().map(record_json),
        b: r.conflict.b.as_ref().map(record_json),
        differences: differences(r),
    }
}

/// The pending conflicts of a pair, oldest first.
pub async fn pending(ctx: &Context, pair: &str) -> anyhow::Result<Vec<ConflictRow>> {
    ctx.manifest.pair(pair)?;
    Ok(ctx.store().await?.conflicts(pair, true).await?)
}

/// The records of a pair whose sync is turned off.
pub async fn disabled(ctx: &Context, pair: &str) -> anyhow::Result<Vec<LinkRow>> {
    ctx.manifest.pair(pair)?;
    Ok(ctx
        .store()
        .await?
        .load_links(pair)
        .await?
        .into_iter()
        .filter(|l| l.disabled)
        .collect())
}

/// A dry run of the pair: what each category holds now.
pub async fn dry_run(ctx: &Context, pair: &str) -> anyhow::Result<RunReport> {
    let setup = ctx.pair(pair).await?;
    ctx.engine()
        .await?
        .run(
            &setup.config,
            &setup.a,
            &setup.b,
            RunOptions::new().dry_run(true),
        )
        .await
        .with_context(|| format!("dry run of pair {pair}"))
}

/// The planned writes of one category, from a dry run's report.
pub fn planned(report: &RunReport, category: Category) -> CategoryOut {
    CategoryOut {
        category,
        count: category.count(&report.counts),
        writes: report
            .plan
            .iter()
            .filter(|w| w.category == category)
            .cloned()
            .collect(),
    }
}

/// The sync window of a pair: every category with its count and records,
/// all from one classification (a dry run), so that the window and a dry
/// run never disagree. A conflict the store holds comes with both versions
/// as recorded; one the dry run finds new lists its keys.
#[derive(Serialize)]
pub struct Window {
    /// The pair.
    pub pair: String,
    /// Records per category (the dry run's counts).
    pub counts: RunCounts,
    /// The categories in the window's order.
    pub categories: Vec<WindowCategory>,
}

/// One category of the sync window.
#[derive(Serialize)]
pub struct WindowCategory {
    /// The category.
    pub category: Category,
    /// How many records it holds.
    pub count: u64,
    /// Its records (at most [`WINDOW_RECORDS`]).
    pub records: Vec<WindowRecord>,
}

/// One record in a category.
#[derive(Serialize)]
pub struct WindowRecord {
    /// The key on side A, when known.
    pub a_key: Option<String>,
    /// The key on side B, when known.
    pub b_key: Option<String>,
    /// What a sync does with it (`a upsert`, `b delete`), if anything.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// For a conflict: both versions and the fields that differ.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conflict: Option<ConflictOut>,
}

/// The most records a window lists per category.
pub const WINDOW_RECORDS: usize = 500;

/// Builds the sync window of a pair.
pub async fn window(ctx: &Context, pair: &str) -> anyhow::Result<Window> {
    let conflicts = pending(ctx, pair).await?;
    let setup = ctx.pair(pair).await?;
    let report = ctx
        .engine()
        .await?
        .run(
            &setup.config,
            &setup.a,
            &setup.b,
            RunOptions::new().dry_run(true).list(WINDOW_RECORDS),
        )
        .await
        .with_context(|| format!("dry run of pair {pair}"))?;
    let recorded = |a: &Option<String>, b: &Option<String>| {
        let same = |x: &Option<Key>, y: &Option<String>| matches!((x, y), (Some(x), Some(y)) if x.0 == y.as_str());
        conflicts
            .iter()
            .find(|c| same(&c.conflict.a_key, a) || same(&c.conflict.b_key, b))
            .map(conflict_out)
    };
    let categories = WINDOW
        .iter()
        .map(|&category| {
            let records = report
                .records
                .iter()
                .filter(|r| r.category == category)
                .map(|r| WindowRecord {
                    a_key: r.a_key.clone(),
                    b_key: r.b_key.clone(),
                    action: r.action.clone(),
                    conflict: match category {
                        Category::Conflict => recorded(&r.a_key, &r.b_key),
                        _ => None,
                    },
                })
                .collect();
            WindowCategory {
                category,
                count: category.count(&report.counts),
                records,
            }
        })
        .collect();
    Ok(Window {
        pair: pair.to_owned(),
        counts: report.counts,
        categories,
    })
}

/// The pending conflict with `key` on side A, or else on side B.
pub fn find_by_key<'a>(
    rows: &'a [ConflictRow],
    pair: &str,
    key: &str,
) -> anyhow::Result<&'a ConflictRow> {
    let has = |k: &Option<Key>| k.as_ref().is_some_and(|k| k.0 == key);
    rows.iter()
        .find(|r| has(&r.conflict.a_key))
        .or_else(|| rows.iter().find(|r| has(&r.conflict.b_key)))
        .ok_or_else(|| config_error(format!("pair {pair}: no pending conflict has key {key:?}")))
}

/// A merged record from a JSON object of field to value.
pub fn merged_record(
    value: serde_json::Value,
    key: Key,
    what: &str,
) -> anyhow::Result<tandem_core::Record> {
    let serde_json::Value::Object(fields) = value else {
        return Err(config_error(format!(
            "{what}: expected a json object of field to value"
        )));
    };
    let mut record = tandem_core::Record::new(key);
    record.fields = fields
        .into_iter()
        .map(|(k, v)| (k.into(), Value::from_json(v)))
        .collect();
    Ok(record)
}
