//! `tandem conflicts` (a pair's records in one category) and `tandem resolve`.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{ArgGroup, Args};
use serde::Serialize;
use tandem_core::engine::{Category, Choice, PlannedWrite, RunOptions};
use tandem_core::store::{ConflictRow, LinkRow};
use tandem_core::{Record, Value};

use super::{SideArg, output};
use crate::context::Context;
use crate::error::{EXIT_OK, config_error};

/// `tandem resolve PAIR KEY --take a|b | --merged FILE.json`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("choice").required(true).args(["take", "merged"])))]
pub struct ResolveArgs {
    /// The pair.
    pair: String,
    /// The conflict's key on side A or side B.
    key: String,
    /// Keep this side's version on both sides.
    #[arg(long, value_enum)]
    take: Option<SideArg>,
    /// Write this record to both sides: a JSON object of field to value
    /// (the pair's field names, side A's).
    #[arg(long, value_name = "FILE.json")]
    merged: Option<PathBuf>,
}

/// One field that differs between the sides.
#[derive(Serialize)]
struct FieldDiff {
    field: String,
    a: Option<serde_json::Value>,
    b: Option<serde_json::Value>,
}

/// A pending conflict, as `conflicts --json` prints it.
#[derive(Serialize)]
struct ConflictOut {
    id: i64,
    run_id: i64,
    a_key: Option<String>,
    b_key: Option<String>,
    a: Option<serde_json::Value>,
    b: Option<serde_json::Value>,
    differences: Vec<FieldDiff>,
}

/// The planned writes of one category, from a dry run.
#[derive(Serialize)]
struct CategoryOut {
    category: Category,
    count: u64,
    writes: Vec<PlannedWrite>,
}

/// Lists a pair's records in `category`.
pub async fn list(ctx: &Context, pair: &str, category: Category, json: bool) -> anyhow::Result<u8> {
    ctx.manifest.pair(pair)?;
    match category {
        Category::Conflict => pending(ctx, pair, json).await,
        Category::Disabled => disabled(ctx, pair, json).await,
        other => planned(ctx, pair, other, json).await,
    }
}

fn differences(row: &ConflictRow) -> Vec<FieldDiff> {
    let (a, b) = (row.conflict.a.as_ref(), row.conflict.b.as_ref());
    let mut names: Vec<&String> = a
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
                field: n.clone(),
                a: va.map(Value::to_json),
                b: vb.map(Value::to_json),
            })
        })
        .collect()
}

async fn pending(ctx: &Context, pair: &str, json: bool) -> anyhow::Result<u8> {
    let rows = ctx.store().await?.conflicts(pair, true).await?;
    if json {
        let out: Vec<ConflictOut> = rows
            .iter()
            .map(|r| ConflictOut {
                id: r.id,
                run_id: r.run_id,
                a_key: r.conflict.a_key.as_ref().map(|k| k.0.clone()),
                b_key: r.conflict.b_key.as_ref().map(|k| k.0.clone()),
                a: r.conflict.a.as_ref().map(output::record_json),
                b: r.conflict.b.as_ref().map(output::record_json),
                differences: differences(r),
            })
            .collect();
        output::json(&out)?;
        return Ok(EXIT_OK);
    }
    say!(
        "pair {pair}: {}",
        output::plural(rows.len() as u64, "pending conflict")
    );
    for r in &rows {
        let key = |k: &Option<tandem_core::Key>| k.as_ref().map_or("-".to_owned(), |k| k.0.clone());
        say!(
            "conflict {} (a key {}, b key {}), found by run {}",
            r.id,
            key(&r.conflict.a_key),
            key(&r.conflict.b_key),
            r.run_id
        );
        for (side, rec) in [("a", &r.conflict.a), ("b", &r.conflict.b)] {
            if rec.is_none() {
                say!("  deleted on side {side}");
            }
        }
        let mut rows = vec![vec!["  field".to_owned(), "a".to_owned(), "b".to_owned()]];
        for d in differences(r) {
            let (a, b) = (r.conflict.a.as_ref(), r.conflict.b.as_ref());
            rows.push(vec![
                format!("  {}", d.field),
                output::cell(a.and_then(|x| x.get(&d.field))),
                output::cell(b.and_then(|x| x.get(&d.field))),
            ]);
        }
        output::table(&rows).iter().for_each(|l| say!("{l}"));
    }
    if !rows.is_empty() {
        say!("resolve with: tandem resolve {pair} KEY --take a|b  (or --merged FILE.json)");
    }
    Ok(EXIT_OK)
}

async fn disabled(ctx: &Context, pair: &str, json: bool) -> anyhow::Result<u8> {
    let links: Vec<LinkRow> = ctx
        .store()
        .await?
        .load_links(pair)
        .await?
        .into_iter()
        .filter(|l| l.disabled)
        .collect();
    if json {
        output::json(&links)?;
        return Ok(EXIT_OK);
    }
    say!(
        "pair {pair}: {}",
        output::plural(links.len() as u64, "disabled record")
    );
    let key = |k: &Option<tandem_core::Key>| k.as_ref().map_or("-".to_owned(), |k| k.0.clone());
    let mut rows = vec![vec!["a key".to_owned(), "b key".to_owned()]];
    rows.extend(links.iter().map(|l| vec![key(&l.a_key), key(&l.b_key)]));
    output::table(&rows).iter().for_each(|l| say!("{l}"));
    Ok(EXIT_OK)
}

async fn planned(ctx: &Context, pair: &str, category: Category, json: bool) -> anyhow::Result<u8> {
    let setup = ctx.pair(pair).await?;
    let report = ctx
        .engine()
        .await?
        .run(
            &setup.config,
            &setup.a,
            &setup.b,
            RunOptions::new().dry_run(true),
        )
        .await
        .with_context(|| format!("dry run of pair {pair}"))?;
    let writes: Vec<PlannedWrite> = report
        .plan
        .into_iter()
        .filter(|w| w.category == category)
        .collect();
    let count = category.count(&report.counts);
    if json {
        output::json(&CategoryOut {
            category,
            count,
            writes,
        })?;
        return Ok(EXIT_OK);
    }
    say!(
        "pair {pair}: {count} records {} (dry run), {} planned writes",
        category.as_str(),
        writes.len()
    );
    for w in &writes {
        say!("  {} {} {}", w.side.as_str(), w.action, w.key);
    }
    Ok(EXIT_OK)
}

/// Finds the pending conflict with `key` on side A (or else side B) and resolves it.
pub async fn resolve(ctx: &Context, args: ResolveArgs) -> anyhow::Result<u8> {
    let setup = ctx.pair(&args.pair).await?;
    let engine = ctx.engine().await?;
    let rows = engine.store().conflicts(&args.pair, true).await?;
    let has = |k: &Option<tandem_core::Key>| k.as_ref().is_some_and(|k| k.0 == args.key);
    let row = rows
        .iter()
        .find(|r| has(&r.conflict.a_key))
        .or_else(|| rows.iter().find(|r| has(&r.conflict.b_key)))
        .ok_or_else(|| {
            config_error(format!(
                "pair {}: no pending conflict has key {:?}",
                args.pair, args.key
            ))
        })?;
    let (choice, what) = match (args.take, &args.merged) {
        (Some(SideArg::A), _) => (Choice::TakeA, "took side a".to_owned()),
        (Some(SideArg::B), _) => (Choice::TakeB, "took side b".to_owned()),
        (None, Some(path)) => {
            let key = row
                .conflict
                .a_key
                .clone()
                .or_else(|| row.conflict.b_key.clone())
                .expect("a conflict has a key");
            (
                Choice::Merged(merged_record(path, key)?),
                format!("wrote the merged record from {}", path.display()),
            )
        }
        (None, None) => unreachable!("clap requires --take or --merged"),
    };
    engine
        .resolve(&setup.config, &setup.a, &setup.b, row.id, choice)
        .await
        .with_context(|| format!("resolving conflict {} of pair {}", row.id, args.pair))?;
    say!("resolved conflict {} (key {}): {what}", row.id, args.key);
    Ok(EXIT_OK)
}

/// Reads a merged record: a JSON object of field to value.
fn merged_record(path: &PathBuf, key: tandem_core::Key) -> anyhow::Result<Record> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| config_error(format!("{}: not valid json: {e}", path.display())))?;
    let serde_json::Value::Object(fields) = value else {
        return Err(config_error(format!(
            "{}: expected a json object of field to value",
            path.display()
        )));
    };
    let mut record = Record::new(key);
    record.fields = fields
        .into_iter()
        .map(|(k, v)| (k, Value::from_json(v)))
        .collect();
    Ok(record)
}
