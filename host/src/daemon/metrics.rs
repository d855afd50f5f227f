//! `/metrics`: Prometheus text exposition, written by hand.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::Daemon;
use super::api::ApiResult;
use crate::views::status::last_sync;

/// A label value with `\`, `"` and newlines escaped.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Runs by pair and status, records applied, last success and pending
/// elements per pair, runs going on.
pub async fn metrics(State(d): State<Arc<Daemon>>) -> ApiResult<impl IntoResponse> {
    let store = d.ctx.store().await?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP tandem_runs Runs in the history, by pair and status.\n# TYPE tandem_runs gauge"
    );
    for t in store.run_tallies().await? {
        let _ = writeln!(
            out,
            "tandem_runs{{pair=\"{}\",status=\"{}\"}} {}",
            label(&t.pair),
            t.status.as_str(),
            t.runs
        );
    }
    let _ = writeln!(
        out,
        "# HELP tandem_records_applied_total Records created, updated or deleted by this daemon's runs.\n# TYPE tandem_records_applied_total counter"
    );
    let applied = d.applied.lock().expect("metrics poisoned").clone();
    for name in d.ctx.manifest.pairs.keys() {
        let n = applied.get(name).copied().unwrap_or(0);
        let _ = writeln!(
            out,
            "tandem_records_applied_total{{pair=\"{}\"}} {n}",
            label(name)
        );
    }
    let _ = writeln!(
        out,
        "# HELP tandem_last_success_timestamp_seconds When the pair's last completed sync ended (unix seconds).\n# TYPE tandem_last_success_timestamp_seconds gauge"
    );
    for name in d.ctx.manifest.pairs.keys() {
        if let Some(t) = last_sync(&d.ctx, name).await? {
            let _ = writeln!(
                out,
                "tandem_last_success_timestamp_seconds{{pair=\"{}\"}} {}",
                label(name),
                t.as_second()
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP tandem_pending_elements Elements waiting to sync, as the last poll found.\n# TYPE tandem_pending_elements gauge"
    );
    let polls = d.polls.lock().expect("polls poisoned").clone();
    for name in d.ctx.manifest.pairs.keys() {
        if let Some(n) = polls.get(name).and_then(|p| p.pending) {
            let _ = writeln!(
                out,
                "tandem_pending_elements{{pair=\"{}\"}} {n}",
                label(name)
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP tandem_run_in_progress Whether this daemon is running the pair now.\n# TYPE tandem_run_in_progress gauge"
    );
    for name in d.ctx.manifest.pairs.keys() {
        let _ = writeln!(
            out,
            "tandem_run_in_progress{{pair=\"{}\"}} {}",
            label(name),
            u8::from(d.live.contains(name))
        );
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    ))
}
