//! Exit records: how a run ended, kept beside an SQLite store that could not record it, and applied when the store next works.
//!
//! A run that fails on the store itself (a disk I/O error, a file made
//! read-only) often cannot record its end either, and its process exits
//! with the run still `running`; the next start would take it for a run
//! whose process died. So when the store refuses a run's end, the end is
//! appended to `DATABASE.exits` (one JSON object a line) and the store
//! applies it the next time it opens or lists unfinished runs: the run
//! ends as it would have, with its errors and its end time.
//!
//! A process that dies on the store's shared memory (SIGBUS, see the
//! host) appends a line with its owner and a message alone: its unfinished
//! runs stay for crash recovery, with the message among their errors, so
//! that the history says what happened.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};

use super::codec::{self, Context};
use super::entity::runs;
use super::{DayDetail, RunCounts, RunError, RunStatus, StateStore, runs as run_store};
use crate::error::{Error, Result};

/// One line of the exits file.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct ExitRecord {
    /// The process that wrote it (`host:pid`).
    pub owner: String,
    /// When, unix milliseconds (0 when unknown).
    #[serde(default)]
    pub at: i64,
    /// The end of a run, as the store refused it.
    #[serde(default)]
    pub run: Option<RunEnd>,
    /// Why the process stopped, for its unfinished runs.
    #[serde(default)]
    pub message: Option<String>,
}

/// A run's end.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct RunEnd {
    pub id: i64,
    pub status: RunStatus,
    pub counts: RunCounts,
    pub errors: Vec<RunError>,
    #[serde(default)]
    pub period: Option<(jiff::civil::Date, jiff::civil::Date)>,
    #[serde(default)]
    pub days: Vec<DayDetail>,
}

/// The exits file of the store at `url`: `sqlite:PATH` gives `PATH.exits`;
/// in-memory and server stores have none.
pub(super) fn path(url: &str) -> Option<PathBuf> {
    let mut exits = super::sqlite_file::path(url)?.into_os_string();
    exits.push(".exits");
    Some(exits.into())
}

/// Appends `record` to the exits file and flushes it to disk.
pub(super) fn append(path: &Path, record: &ExitRecord) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(record).map_err(std::io::Error::other)?;
    line.push(b'\n');
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(&line)?;
    file.sync_data()
}

impl StateStore {
    /// Keeps a run's end that the store refused (`err`) in the exits file,
    /// and adds where to the error. Without an exits file, returns `err`.
    pub(super) fn keep_end(&self, end: RunEnd, err: Error) -> Error {
        let Some(path) = &self.exits else {
            return err;
        };
        let id = end.id;
        let record = ExitRecord {
            owner: run_store::owner(),
            at: codec::now_ms(),
            run: Some(end),
            message: None,
        };
        let note = match append(path, &record) {
            Ok(()) => format!(
                "the end of run {id} is kept in {} until the store takes it",
                path.display()
            ),
            Err(e) => format!(
                "keeping the end of run {id} in {} failed too: {e}",
                path.display()
            ),
        };
        match err {
            Error::Store { message } => Error::Store {
                message: format!("{message}; {note}"),
            },
            other => other,
        }
    }

    /// Applies the exits file, if there is one: ends the runs it holds
    /// that are still unfinished (and owned by the process that wrote the
    /// line), and adds the messages of processes that died to their
    /// unfinished runs. Lines the store refuses again stay in the file.
    /// One process applies a file: it takes the file by renaming it.
    pub(super) async fn apply_exits(&self) {
        let Some(path) = &self.exits else {
            return;
        };
        if !path.exists() {
            return;
        }
        let mut taken = path.as_os_str().to_owned();
        taken.push(format!(".{}", std::process::id()));
        let taken = PathBuf::from(taken);
        if std::fs::rename(path, &taken).is_err() {
            // Another process took it first.
            return;
        }
        let text = match std::fs::read_to_string(&taken) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!("reading {}: {e}", taken.display());
                return;
            }
        };
        let mut kept = Vec::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let record: ExitRecord = match serde_json::from_str(line) {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(
                        "{}: skipping a line that is not a record: {e}",
                        path.display()
                    );
                    continue;
                }
            };
            if let Err(e) = self.apply_exit(&record).await {
                tracing::warn!("{}: {e}", path.display());
                kept.push(record);
            }
        }
        for record in &kept {
            if let Err(e) = append(path, record) {
                tracing::warn!("{}: putting back a record: {e}", path.display());
            }
        }
        if let Err(e) = std::fs::remove_file(&taken) {
            tracing::warn!("removing {}: {e}", taken.display());
        }
    }

    async fn apply_exit(&self, record: &ExitRecord) -> Result<()> {
        let active = [RunStatus::Running.as_str(), RunStatus::Stopping.as_str()];
        let _turn = self.write_turn().await;
        if let Some(end) = &record.run {
            let what = || format!("ending run {} as its process recorded", end.id);
            let tx = self.begin_write(&what()).await?;
            let res = runs::Entity::update_many()
                .col_expr(runs::Column::Status, Expr::value(end.status.as_str()))
                .col_expr(
                    runs::Column::Counts,
                    Expr::value(codec::to_json("run counts", &end.counts)?),
                )
                .col_expr(
                    runs::Column::Errors,
                    Expr::value(codec::to_json("run errors", &end.errors)?),
                )
                .col_expr(runs::Column::Ended, Expr::value(record.at))
                .filter(runs::Column::Id.eq(end.id))
                .filter(runs::Column::Status.is_in(active))
                .filter(runs::Column::Owner.eq(record.owner.as_str()))
                .exec(&tx)
                .await
                .ctx(what)?;
            if res.rows_affected > 0 {
                run_store::detail(&tx, end.id, end.period, &end.days).await?;
            }
            tx.commit().await.ctx(what)?;
        }
        if let Some(message) = &record.message {
            let what = || format!("noting how process {} stopped", record.owner);
            let tx = self.begin_write(&what()).await?;
            let unfinished = runs::Entity::find()
                .filter(runs::Column::Owner.eq(record.owner.as_str()))
                .filter(runs::Column::Status.is_in(active))
                .all(&tx)
                .await
                .ctx(what)?;
            for run in unfinished {
                let mut errors: Vec<RunError> =
                    codec::from_json(&format!("errors of run {}", run.id), &run.errors)?;
                errors.push(RunError {
                    entity: None,
                    key: None,
                    location: None,
                    message: message.clone(),
                });
                runs::Entity::update_many()
                    .col_expr(
                        runs::Column::Errors,
                        Expr::value(codec::to_json("run errors", &errors)?),
                    )
                    .filter(runs::Column::Id.eq(run.id))
                    .exec(&tx)
                    .await
                    .ctx(what)?;
            }
            tx.commit().await.ctx(what)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn exits_file_beside_the_database() {
        assert_eq!(
            super::path("sqlite:///x/tandem.db?mode=rwc"),
            Some("/x/tandem.db.exits".into())
        );
        assert_eq!(super::path("sqlite::memory:"), None);
    }
}
