//! `tandem conflicts` (a pair's records in one category) and `tandem resolve`.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{ArgGroup, Args};
use tandem_core::Record;
use tandem_core::engine::{Category, Choice};
use tandem_core::store::LinkRow;

use super::{SideArg, output};
use crate::context::Context;
use crate::error::{EXIT_OK, config_error};
use crate::views::conflicts::{self as views, CategoryOut, ConflictOut};

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

/// Lists a pair's records in `category`.
pub async fn list(ctx: &Context, pair: &str, category: Category, json: bool) -> anyhow::Result<u8> {
    ctx.manifest.pair(pair)?;
    match category {
        Category::Conflict => pending(ctx, pair, json).await,
        Category::Disabled => disabled(ctx, pair, json).await,
        other => planned(ctx, pair, other, json).await,
    }
}

/// Lists a pair's resolved conflicts, newest first, with how each was
/// resolved and the version that lost.
pub async fn resolved(ctx: &Context, pair: &str, json: bool) -> anyhow::Result<u8> {
    ctx.manifest.pair(pair)?;
    let engine = ctx.engine().await?;
    let mut rows: Vec<_> = engine
        .store()
        .conflicts(pair, false)
        .await?
        .into_iter()
        .filter(|c| c.status == tandem_core::store::ConflictStatus::Resolved)
        .collect();
    rows.reverse();
    if json {
        output::json(&rows)?;
        return Ok(EXIT_OK);
    }
    say!(
        "pair {pair}: {}",
        output::plural(rows.len() as u64, "resolved conflict")
    );
    for r in &rows {
        let key =
            |k: &Option<tandem_core::Key>| k.as_ref().map_or("-".to_owned(), |k| k.0.to_string());
        let how = match &r.resolution {
            Some(tandem_core::Resolution::TakeA) => "took a".to_owned(),
            Some(tandem_core::Resolution::TakeB) => "took b".to_owned(),
            Some(tandem_core::Resolution::Merged(_)) => "merged".to_owned(),
            Some(tandem_core::Resolution::Skip) => "skipped".to_owned(),
            _ => "closed (both sides came to agree)".to_owned(),
        };
        say!(
            "conflict {} (a key {}, b key {}), run {}: {how}, by {}",
            r.id,
            key(&r.conflict.a_key),
            key(&r.conflict.b_key),
            r.run_id,
            r.resolved_by.as_deref().unwrap_or("-")
        );
        if let Some(loser) = &r.loser {
            let fields: Vec<String> = loser
                .fields
                .iter()
                .map(|(n, v)| format!("{n}={}", output::cell(Some(v))))
                .collect();
            say!("  lost: {}", fields.join(", "));
        }
    }
    Ok(EXIT_OK)
}

async fn pending(ctx: &Context, pair: &str, json: bool) -> anyhow::Result<u8> {
    let rows = views::pending(ctx, pair).await?;
    if json {
        let out: Vec<ConflictOut> = rows.iter().map(views::conflict_out).collect();
        output::json(&out)?;
        return Ok(EXIT_OK);
    }
    say!(
        "pair {pair}: {}",
        output::plural(rows.len() as u64, "pending conflict")
    );
    for r in &rows {
        let key =
            |k: &Option<tandem_core::Key>| k.as_ref().map_or("-".to_owned(), |k| k.0.to_string());
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
        for d in views::differences(r) {
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
    let links: Vec<LinkRow> = views::disabled(ctx, pair).await?;
    if json {
        output::json(&links)?;
        return Ok(EXIT_OK);
    }
    say!(
        "pair {pair}: {}",
        output::plural(links.len() as u64, "disabled record")
    );
    let key = |k: &Option<tandem_core::Key>| k.as_ref().map_or("-".to_owned(), |k| k.0.to_string());
    let mut rows = vec![vec!["a key".to_owned(), "b key".to_owned()]];
    rows.extend(links.iter().map(|l| vec![key(&l.a_key), key(&l.b_key)]));
    output::table(&rows).iter().for_each(|l| say!("{l}"));
    Ok(EXIT_OK)
}

async fn planned(ctx: &Context, pair: &str, category: Category, json: bool) -> anyhow::Result<u8> {
    let report = views::dry_run(ctx, pair).await?;
    let out: CategoryOut = views::planned(&report, category);
    if json {
        output::json(&out)?;
        return Ok(EXIT_OK);
    }
    let (count, writes) = (out.count, &out.writes);
    say!(
        "pair {pair}: {count} records {} (dry run), {} planned writes",
        category.as_str(),
        writes.len()
    );
    for w in writes {
        say!("  {} {} {}", w.side.as_str(), w.action, w.key);
    }
    Ok(EXIT_OK)
}

/// Finds the pending conflict with `key` on side A (or else side B) and resolves it.
pub async fn resolve(ctx: &Context, args: ResolveArgs) -> anyhow::Result<u8> {
    let setup = ctx.pair(&args.pair).await?;
    let engine = ctx.engine().await?;
    let rows = engine.store().conflicts(&args.pair, true).await?;
    let row = views::find_by_key(&rows, &args.pair, &args.key)?;
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
    views::merged_record(value, key, &path.display().to_string())
}
