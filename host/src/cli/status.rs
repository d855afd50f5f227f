//! `tandem status` (per pair: last run, links, pending conflicts) and `tandem history`.

use serde::Serialize;
use tandem_core::store::RunRow;

use super::output;
use crate::context::Context;
use crate::error::EXIT_OK;

/// One pair's state, as `status --json` prints it.
#[derive(Serialize)]
struct PairStatus {
    pair: String,
    a: String,
    b: String,
    mode: &'static str,
    last_run: Option<RunRow>,
    links: usize,
    pending_conflicts: usize,
}

/// Prints the state of one pair or of every pair.
pub async fn status(ctx: &Context, pair: Option<&str>, json: bool) -> anyhow::Result<u8> {
    let names: Vec<&str> = match pair {
        Some(p) => vec![ctx.manifest.pair(p).map(|_| p)?],
        None => ctx.manifest.pairs.keys().map(String::as_str).collect(),
    };
    let store = ctx.store().await?;
    let mut out = Vec::new();
    for name in names {
        let entry = ctx.manifest.pair(name)?;
        let (runs, _) = store.runs(Some(name), 1, 1).await?;
        out.push(PairStatus {
            pair: name.to_owned(),
            a: entry.a.clone(),
            b: entry.b.clone(),
            mode: entry.config.mode.as_str(),
            last_run: runs.into_iter().next(),
            links: store.load_links(name).await?.len(),
            pending_conflicts: store.conflicts(name, true).await?.len(),
        });
    }
    if json {
        output::json(&out)?;
        return Ok(EXIT_OK);
    }
    if out.is_empty() {
        say!("{} declares no pairs", ctx.manifest.file);
    }
    for s in &out {
        say!("pair {} ({} -> {}, {})", s.pair, s.a, s.b, s.mode);
        match &s.last_run {
            None => say!("  last run: never"),
            Some(r) => {
                let ended = r
                    .ended
                    .map(output::time)
                    .unwrap_or_else(|| "not yet".into());
                say!(
                    "  last run: {} {} ({}), started {}, ended {ended}",
                    r.id,
                    r.status.as_str(),
                    r.mode,
                    output::time(r.started)
                );
                say!("  counts: {}", output::counts_brief(&r.counts));
                if !r.errors.is_empty() {
                    let errors = output::plural(r.errors.len() as u64, "error");
                    say!("  {errors} (tandem history {})", s.pair);
                }
            }
        }
        say!(
            "  links: {}, pending conflicts: {}",
            s.links,
            s.pending_conflicts
        );
    }
    Ok(EXIT_OK)
}

/// One page of history, as `history --json` prints it.
#[derive(Serialize)]
struct HistoryPage {
    page: u64,
    per_page: u64,
    total: u64,
    runs: Vec<RunRow>,
}

/// Prints one page of the run history, newest first.
pub async fn history(
    ctx: &Context,
    pair: Option<&str>,
    page: u64,
    per_page: u64,
    json: bool,
) -> anyhow::Result<u8> {
    if let Some(p) = pair {
        ctx.manifest.pair(p)?;
    }
    let store = ctx.store().await?;
    let (runs, total) = store.runs(pair, page, per_page).await?;
    if json {
        output::json(&HistoryPage {
            page,
            per_page,
            total,
            runs,
        })?;
        return Ok(EXIT_OK);
    }
    let pages = total.div_ceil(per_page).max(1);
    say!("page {page} of {pages} ({})", output::plural(total, "run"));
    let mut rows = vec![
        [
            "run", "pair", "mode", "trigger", "status", "started", "seconds", "counts",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for r in &runs {
        let seconds = r
            .ended
            .map(|e| format!("{:.1}", e.duration_since(r.started).as_secs_f64()));
        let mut counts = output::counts_brief(&r.counts);
        if !r.errors.is_empty() {
            counts.push_str(&format!(
                "; {}",
                output::plural(r.errors.len() as u64, "error")
            ));
        }
        rows.push(vec![
            r.id.to_string(),
            r.pair.clone(),
            r.mode.clone(),
            r.trigger.clone(),
            r.status.as_str().to_owned(),
            output::time(r.started),
            seconds.unwrap_or_else(|| "-".into()),
            counts,
        ]);
    }
    for line in output::table(&rows) {
        say!("{line}");
    }
    for r in runs.iter().filter(|r| !r.errors.is_empty()) {
        say!("run {} errors:", r.id);
        for e in &r.errors {
            say!("  {}", output::run_error(e));
        }
    }
    Ok(EXIT_OK)
}
