//! Acting on runs: `tandem stop`, `tandem undo` and `tandem recover`.

use serde::Serialize;
use tandem_core::Error;
use tandem_core::engine::OnCrash;
use tandem_core::store::{RunRow, RunStatus};

use super::output;
use crate::context::Context;
use crate::error::{EXIT_FAILED, EXIT_OK};
use crate::views::history;

/// Keys an undo lists; the rest are counted.
const KEYS_LISTED: usize = 20;

/// Asks a running run (in this or another process) to stop: it stops at
/// its next batch, rolls its targets back and ends `stopped`. Exit 1 when
/// the run is not running.
pub async fn stop(ctx: &Context, run_id: i64) -> anyhow::Result<u8> {
    let run = history::find_run(ctx, run_id).await?;
    let store = ctx.store().await?;
    if store.request_stop(run_id).await? {
        say!(
            "run {run_id} of pair {} is stopping: it stops at its next batch, rolls its changes back and ends stopped",
            run.pair
        );
        return Ok(EXIT_OK);
    }
    let status = store
        .run_status(run_id)
        .await?
        .map(RunStatus::as_str)
        .unwrap_or("gone");
    eprintln!(
        "error: run {run_id} of pair {} is not running (it is {status})",
        run.pair
    );
    Ok(EXIT_FAILED)
}

/// Restores the targets to their state before a run, from its journal.
/// Refuses (exit 1) when later runs changed the same records, unless
/// `force`.
pub async fn undo(ctx: &Context, run_id: i64, force: bool, json: bool) -> anyhow::Result<u8> {
    let out = history::undo(ctx, run_id, force).await?;
    let setup = ctx.pair(&out.pair).await?;
    if json {
        output::json(&out)?;
        return Ok(EXIT_OK);
    }
    say!(
        "run {run_id} of pair {} undone (recorded as run {})",
        out.pair,
        out.run_id
    );
    say!(
        "  side a ({}): {} restored",
        setup.a.name,
        output::plural(out.restored_a, "record")
    );
    say!(
        "  side b ({}): {} restored",
        setup.b.name,
        output::plural(out.restored_b, "record")
    );
    for (what, keys) in [
        ("put back as before", &out.restored),
        ("deleted (the run created them)", &out.deleted),
    ] {
        if keys.is_empty() {
            continue;
        }
        let mut list = keys
            .iter()
            .take(KEYS_LISTED)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        if keys.len() > KEYS_LISTED {
            list.push_str(&format!(", and {} more", keys.len() - KEYS_LISTED));
        }
        say!("  {what}: {list}");
    }
    if !out.days.is_empty() {
        let days: Vec<String> = out.days.iter().map(ToString::to_string).collect();
        say!("  days not synced any more: {}", days.join(", "));
    }
    Ok(EXIT_OK)
}

/// One pair's recovery, as `recover --json` prints it.
#[derive(Serialize)]
struct Recovered {
    pair: String,
    on_crash: OnCrash,
    runs: Vec<RunRow>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Recovers the runs whose process died, for one pair or every pair: as
/// the pair's `on_crash` says, resumed (recorded as interrupted) or rolled
/// back from the journal. Every run does this first anyway.
pub async fn recover(ctx: &Context, pair: Option<&str>, json: bool) -> anyhow::Result<u8> {
    let names: Vec<&str> = match pair {
        Some(p) => vec![ctx.manifest.pair(p).map(|_| p)?],
        None => ctx.manifest.pairs.keys().map(String::as_str).collect(),
    };
    let engine = ctx.engine().await?;
    let running = engine.store().running_runs().await?;
    let mut out = Vec::new();
    for name in names {
        let entry = ctx.manifest.pair(name)?;
        let mut item = Recovered {
            pair: name.to_owned(),
            on_crash: entry.config.on_crash,
            runs: Vec::new(),
            error: None,
        };
        // Endpoints are opened only for pairs that have something to recover.
        if running.iter().any(|r| r.pair == name) {
            let setup = ctx.pair(name).await?;
            match engine.recover(&setup.config, &setup.a, &setup.b).await {
                Ok(ids) => {
                    for id in ids {
                        item.runs.extend(engine.store().run(id).await?);
                    }
                }
                Err(e @ Error::Busy { .. }) => item.error = Some(e.to_string()),
                Err(e) => return Err(e.into()),
            }
        }
        out.push(item);
    }
    let failed = out.iter().any(|r| r.error.is_some());
    if json {
        output::json(&out)?;
    } else {
        for r in &out {
            if let Some(e) = &r.error {
                eprintln!("error: {e}: it is alive, not recovered");
                continue;
            }
            if r.runs.is_empty() {
                say!("pair {}: nothing to recover", r.pair);
            }
            for run in &r.runs {
                let how = run
                    .errors
                    .last()
                    .map(|e| e.message.as_str())
                    .unwrap_or("recovered");
                say!(
                    "pair {}: run {} recovered, now {}: {how}",
                    r.pair,
                    run.id,
                    run.status.as_str()
                );
            }
        }
    }
    Ok(if failed { EXIT_FAILED } else { EXIT_OK })
}
