//! The run history: starting and finishing runs, listing them newest first.

use std::time::Duration;

use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, IsolationLevel, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, SqliteTransactionMode, TransactionOptions,
    TransactionTrait,
};

use super::codec::{self, Context};
use super::entity::{pair_locks, runs};
use super::exits::RunEnd;
use super::{DayDetail, DayStatus, RunCounts, RunError, RunRow, RunStatus, StateStore, not_found};
use crate::error::{Error, Result};

/// A run of a pair on another host counts as alive while it beat this
/// recently (a running run beats every 10 s).
pub const LEASE: Duration = Duration::from_secs(120);

fn run_row(m: runs::Model) -> Result<RunRow> {
    let status = RunStatus::parse(&m.status)
        .ok_or_else(|| Error::store(format!("run {}: unknown status {:?}", m.id, m.status)))?;
    Ok(RunRow {
        id: m.id,
        status,
        started: codec::timestamp(m.started)?,
        ended: codec::timestamp_opt(m.ended)?,
        counts: codec::from_json(&format!("counts of run {}", m.id), &m.counts)?,
        errors: codec::from_json(&format!("errors of run {}", m.id), &m.errors)?,
        period: match (m.period_from.as_deref(), m.period_to.as_deref()) {
            (Some(f), Some(t)) => f.parse().ok().zip(t.parse().ok()),
            _ => None,
        },
        saved_days: m.saved_days.max(0) as u64,
        saved_events: m.saved_events.max(0) as u64,
        days: match &m.days {
            Some(d) => codec::from_json(&format!("days of run {}", m.id), d)?,
            None => Vec::new(),
        },
        owner: m.owner,
        heartbeat: codec::timestamp_opt(m.heartbeat)?,
        pair: m.pair,
        mode: m.mode,
        trigger: m.trigger,
        dry_run: m.dry_run,
    })
}

/// Sets a run's final status, counts, errors and end time, inside any
/// connection or transaction. Fails if the run does not exist.
pub(super) async fn finish(
    db: &impl ConnectionTrait,
    run_id: i64,
    status: RunStatus,
    counts: &RunCounts,
    errors: &[RunError],
) -> Result<()> {
    let what = || format!("finishing run {run_id}");
    let counts = codec::to_json("run counts", counts)?;
    let errors = codec::to_json("run errors", &errors)?;
    let res = runs::Entity::update_many()
        .col_expr(runs::Column::Status, Expr::value(status.as_str()))
        .col_expr(runs::Column::Counts, Expr::value(counts))
        .col_expr(runs::Column::Errors, Expr::value(errors))
        .col_expr(runs::Column::Ended, Expr::value(codec::now_ms()))
        .filter(runs::Column::Id.eq(run_id))
        .exec(db)
        .await
        .ctx(what)?;
    if res.rows_affected == 0 {
        return Err(not_found(format!("{}: run {run_id}", what())));
    }
    Ok(())
}

/// The row of a new run: status `running`, started now, owned by this
/// process.
fn new_run(pair: &str, mode: &str, trigger: &str, dry_run: bool) -> Result<runs::ActiveModel> {
    Ok(runs::ActiveModel {
        id: NotSet,
        pair: Set(pair.to_owned()),
        mode: Set(mode.to_owned()),
        trigger: Set(trigger.to_owned()),
        dry_run: Set(dry_run),
        status: Set(RunStatus::Running.as_str().to_owned()),
        started: Set(codec::now_ms()),
        ended: Set(None),
        counts: Set(codec::to_json("run counts", &RunCounts::default())?),
        errors: Set("[]".to_owned()),
        period_from: Set(None),
        period_to: Set(None),
        saved_days: Set(0),
        saved_events: Set(0),
        days: Set(None),
        owner: Set(Some(owner())),
        heartbeat: Set(Some(codec::now_ms())),
    })
}

/// Whether the process that owns an unfinished run is alive: on this host,
/// its process exists; elsewhere, it beat within [`LEASE`].
pub fn owner_alive(run: &RunRow) -> bool {
    let Some((host, pid)) = run.owner.as_deref().and_then(|o| o.rsplit_once(':')) else {
        return false;
    };
    let me = owner();
    let my_host = me.rsplit_once(':').map(|(h, _)| h).unwrap_or_default();
    if host == my_host {
        return pid.parse::<u32>().is_ok_and(|p| {
            p == std::process::id() || std::path::Path::new(&format!("/proc/{p}")).exists()
        });
    }
    run.heartbeat
        .is_some_and(|t| jiff::Timestamp::now().duration_since(t).unsigned_abs() < LEASE)
}

/// This process, as a run's owner: `host:pid`.
pub fn owner() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".to_owned());
    format!("{host}:{}", std::process::id())
}

/// Records a run's period and per-day detail, with the days and events it
/// saved.
pub(super) async fn detail(
    db: &impl ConnectionTrait,
    run_id: i64,
    period: Option<(jiff::civil::Date, jiff::civil::Date)>,
    days: &[DayDetail],
) -> Result<()> {
    if period.is_none() && days.is_empty() {
        return Ok(());
    }
    let saved: Vec<&DayDetail> = days
        .iter()
        .filter(|d| d.status == DayStatus::Synced)
        .collect();
    let events: u64 = saved.iter().map(|d| d.events).sum();
    runs::Entity::update_many()
        .col_expr(
            runs::Column::PeriodFrom,
            Expr::value(period.map(|p| p.0.to_string())),
        )
        .col_expr(
            runs::Column::PeriodTo,
            Expr::value(period.map(|p| p.1.to_string())),
        )
        .col_expr(runs::Column::SavedDays, Expr::value(saved.len() as i64))
        .col_expr(runs::Column::SavedEvents, Expr::value(events as i64))
        .col_expr(
            runs::Column::Days,
            Expr::value(codec::to_json("run days", &days)?),
        )
        .filter(runs::Column::Id.eq(run_id))
        .exec(db)
        .await
        .ctx(|| format!("recording the days of run {run_id}"))?;
    Ok(())
}

impl StateStore {
    /// Records a failed or stopped day run's period and days with its end.
    /// When the store refuses it, the end is kept beside an SQLite store
    /// and recorded when the store next works (see `exits`).
    pub async fn finish_day_run(
        &self,
        run_id: i64,
        status: RunStatus,
        counts: &RunCounts,
        errors: &[RunError],
        period: Option<(jiff::civil::Date, jiff::civil::Date)>,
        days: &[DayDetail],
    ) -> Result<()> {
        let _turn = self.write_turn().await;
        let result = async {
            finish(&self.db, run_id, status, counts, errors).await?;
            detail(&self.db, run_id, period, days).await
        }
        .await;
        result.map_err(|e| {
            let end = RunEnd {
                id: run_id,
                status,
                counts: counts.clone(),
                errors: errors.to_vec(),
                period,
                days: days.to_vec(),
            };
            self.keep_end(end, e)
        })
    }

    /// Says the run's owner is alive.
    pub async fn heartbeat(&self, run_id: i64) -> Result<()> {
        let _turn = self.write_turn().await;
        runs::Entity::update_many()
            .col_expr(runs::Column::Heartbeat, Expr::value(codec::now_ms()))
            .filter(runs::Column::Id.eq(run_id))
            .exec(&self.db)
            .await
            .ctx(|| format!("heartbeat of run {run_id}"))?;
        Ok(())
    }

    /// A run's status, cheaply (the engine polls it for stop requests).
    pub async fn run_status(&self, run_id: i64) -> Result<Option<RunStatus>> {
        let status: Option<String> = runs::Entity::find_by_id(run_id)
            .select_only()
            .column(runs::Column::Status)
            .into_tuple()
            .one(&self.db)
            .await
            .ctx(|| format!("reading the status of run {run_id}"))?;
        Ok(status.and_then(|s| RunStatus::parse(&s)))
    }

    /// Records the start of a run (status `running`, started now, owned by
    /// this process) and returns its id, without looking at the pair's
    /// other runs. A run that reads or writes the pair's sides starts with
    /// [`StateStore::lease_run`] instead.
    pub async fn start_run(
        &self,
        pair: &str,
        mode: &str,
        trigger: &str,
        dry_run: bool,
    ) -> Result<i64> {
        let row = new_run(pair, mode, trigger, dry_run)?;
        let _turn = self.write_turn().await;
        let res = runs::Entity::insert(row)
            .exec(&self.db)
            .await
            .ctx(|| format!("starting a run of pair {pair:?}"))?;
        Ok(res.last_insert_id)
    }

    /// Starts a run of `pair` as its one run at a time (its lease), and
    /// returns its id: like [`StateStore::start_run`], but refuses while
    /// the pair has another unfinished run.
    ///
    /// The check and the insert are one transaction that holds the pair's
    /// lock, so of two processes (or two connections) that start the pair
    /// at once exactly one gets a run: SQLite serialises it on its writer
    /// lock (`BEGIN IMMEDIATE`); PostgreSQL and MySQL lock the pair's row
    /// of `pair_locks` (`SELECT ... FOR UPDATE`) and read at
    /// `READ COMMITTED`, so each sees the run the other committed.
    ///
    /// Fails with [`Error::Busy`] while another run's owner is alive (see
    /// [`owner_alive`]), and with a store error when an unfinished run's
    /// owner is gone and the run is not recovered yet: the engine recovers
    /// such runs first (see [`StateStore::take_over_run`]).
    pub async fn lease_run(
        &self,
        pair: &str,
        mode: &str,
        trigger: &str,
        dry_run: bool,
    ) -> Result<i64> {
        let what = || format!("starting a run of pair {pair:?}");
        let row = new_run(pair, mode, trigger, dry_run)?;
        self.apply_exits().await;
        let _turn = self.write_turn().await;
        let opts = match self.db.get_database_backend() {
            DbBackend::Sqlite => TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..TransactionOptions::default()
            },
            _ => TransactionOptions {
                isolation_level: Some(IsolationLevel::ReadCommitted),
                ..TransactionOptions::default()
            },
        };
        let tx = self.db.begin_with_options(opts).await.ctx(what)?;
        let lock = pair_locks::ActiveModel {
            id: NotSet,
            pair: Set(pair.to_owned()),
        };
        pair_locks::Entity::insert(lock)
            .on_conflict(
                OnConflict::column(pair_locks::Column::Pair)
                    .do_nothing_on([pair_locks::Column::Pair])
                    .to_owned(),
            )
            .exec_without_returning(&tx)
            .await
            .ctx(what)?;
        pair_locks::Entity::find()
            .filter(pair_locks::Column::Pair.eq(pair))
            .lock_exclusive()
            .one(&tx)
            .await
            .ctx(what)?;
        let active = [RunStatus::Running.as_str(), RunStatus::Stopping.as_str()];
        let unfinished = runs::Entity::find()
            .filter(runs::Column::Pair.eq(pair))
            .filter(runs::Column::Status.is_in(active))
            .order_by_asc(runs::Column::Id)
            .one(&tx)
            .await
            .ctx(what)?;
        if let Some(m) = unfinished {
            let run = run_row(m)?;
            let owner = run.owner.clone().unwrap_or_default();
            return Err(if owner_alive(&run) {
                Error::Busy {
                    pair: pair.to_owned(),
                    run_id: run.id,
                    owner,
                }
            } else {
                Error::store(format!(
                    "{}: run {} was interrupted (its process {owner} is gone) and is not \
                     recovered yet; the next sync of the pair recovers it",
                    what(),
                    run.id
                ))
            });
        }
        let res = runs::Entity::insert(row).exec(&tx).await.ctx(what)?;
        tx.commit().await.ctx(what)?;
        Ok(res.last_insert_id)
    }

    /// Takes over an unfinished run whose owner is gone, as `run` was read:
    /// its owner becomes this process, with a fresh heartbeat. Nothing
    /// changes when the run finished, or its owner or heartbeat changed
    /// since it was read (another process took it over first, or its owner
    /// beat after all). Returns whether this process now owns the run.
    ///
    /// Call it before restoring or finishing anything of a dead run, so
    /// that two processes never recover one run: the one that loses finds
    /// the run owned by a live process.
    pub async fn take_over_run(&self, run: &RunRow) -> Result<bool> {
        let active = [RunStatus::Running.as_str(), RunStatus::Stopping.as_str()];
        let mut update = runs::Entity::update_many()
            .col_expr(runs::Column::Owner, Expr::value(owner()))
            .col_expr(runs::Column::Heartbeat, Expr::value(codec::now_ms()))
            .filter(runs::Column::Id.eq(run.id))
            .filter(runs::Column::Status.is_in(active));
        update = match &run.owner {
            Some(o) => update.filter(runs::Column::Owner.eq(o.as_str())),
            None => update.filter(runs::Column::Owner.is_null()),
        };
        update = match run.heartbeat {
            Some(t) => update.filter(runs::Column::Heartbeat.eq(t.as_millisecond())),
            None => update.filter(runs::Column::Heartbeat.is_null()),
        };
        let _turn = self.write_turn().await;
        let res = update
            .exec(&self.db)
            .await
            .ctx(|| format!("taking over run {}", run.id))?;
        Ok(res.rows_affected > 0)
    }

    /// Records the end of a run that changed no state (a failed, stopped or
    /// dry run); [`StateStore::commit`] finishes runs that do. When the
    /// store refuses it, the end is kept as [`StateStore::finish_day_run`]
    /// keeps it.
    pub async fn finish_run(
        &self,
        run_id: i64,
        status: RunStatus,
        counts: &RunCounts,
        errors: &[RunError],
    ) -> Result<()> {
        self.finish_day_run(run_id, status, counts, errors, None, &[])
            .await
    }

    /// Marks a run as `stopping` if it is still `running`; returns whether
    /// it was.
    pub async fn request_stop(&self, run_id: i64) -> Result<bool> {
        let _turn = self.write_turn().await;
        let res = runs::Entity::update_many()
            .col_expr(
                runs::Column::Status,
                Expr::value(RunStatus::Stopping.as_str()),
            )
            .filter(runs::Column::Id.eq(run_id))
            .filter(runs::Column::Status.eq(RunStatus::Running.as_str()))
            .exec(&self.db)
            .await
            .ctx(|| format!("stopping run {run_id}"))?;
        Ok(res.rows_affected > 0)
    }

    /// One page of the run history, newest first, and the number of runs
    /// in all pages. `page` counts from 1 (0 is taken as 1); `per_page` is
    /// at least 1.
    pub async fn runs(
        &self,
        pair: Option<&str>,
        page: u64,
        per_page: u64,
    ) -> Result<(Vec<RunRow>, u64)> {
        let what = || match pair {
            Some(p) => format!("listing runs of pair {p:?}"),
            None => "listing runs".to_owned(),
        };
        let per_page = per_page.max(1);
        let mut query = runs::Entity::find();
        if let Some(pair) = pair {
            query = query.filter(runs::Column::Pair.eq(pair));
        }
        let total = query.clone().count(&self.db).await.ctx(what)?;
        let rows = query
            .order_by_desc(runs::Column::Id)
            .offset((page.max(1) - 1).saturating_mul(per_page))
            .limit(per_page)
            .all(&self.db)
            .await
            .ctx(what)?;
        let rows = rows.into_iter().map(run_row).collect::<Result<_>>()?;
        Ok((rows, total))
    }

    /// One run.
    pub async fn run(&self, id: i64) -> Result<Option<RunRow>> {
        runs::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .ctx(|| format!("loading run {id}"))?
            .map(run_row)
            .transpose()
    }

    /// Runs that have not finished (`running` or `stopping`), oldest first:
    /// after a crash, the runs to resume or roll back. Ends of runs kept
    /// while the store refused them are recorded first.
    pub async fn running_runs(&self) -> Result<Vec<RunRow>> {
        self.apply_exits().await;
        let active = [RunStatus::Running.as_str(), RunStatus::Stopping.as_str()];
        runs::Entity::find()
            .filter(runs::Column::Status.is_in(active))
            .order_by_asc(runs::Column::Id)
            .all(&self.db)
            .await
            .ctx(|| "listing running runs".to_owned())?
            .into_iter()
            .map(run_row)
            .collect()
    }
}
