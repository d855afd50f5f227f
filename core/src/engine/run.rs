//! One run of a pair, from plan to commit.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::StreamExt;

use super::classify::Classifier;
use super::days::DayScope;
use super::index::LinkIndex;
use super::read::SideRead;
use super::state::{RunState, canonical, entity_of, merge_counts, reject};
use super::write::SideWriter;
use super::{Endpoint, Engine, MatchRule, Mode, PairConfig, Progress, RunOptions, RunReport};
use crate::error::{Error, Result};
use crate::fault;
use crate::record::Change;
use crate::source::BatchStream;
use crate::store::{Commit, DayDetail, DayStatus, LinkSet, RunError, RunStatus, Side};

/// How often a running run tells the store its process is alive.
const HEARTBEAT: Duration = Duration::from_secs(10);

/// The live parts of a run that the read loops share.
struct Live<'a> {
    engine: &'a Engine,
    pair: &'a PairConfig,
    opts: &'a RunOptions,
    run_id: Option<i64>,
    progress: Progress,
    beat: Instant,
}

impl Live<'_> {
    /// Fails with [`Error::Stopped`] when a stop was asked for, here
    /// (Ctrl-C, the daemon) or from another process (`tandem stop`).
    async fn check_stop(&mut self) -> Result<()> {
        let stopped = Error::Stopped {
            pair: self.pair.name.clone(),
        };
        if self.opts.stop.as_ref().is_some_and(|s| s.is_stopped()) {
            return Err(stopped);
        }
        if let Some(id) = self.run_id {
            if self.engine.store.run_status(id).await? == Some(RunStatus::Stopping) {
                return Err(stopped);
            }
            if self.beat.elapsed() >= HEARTBEAT {
                self.engine.store.heartbeat(id).await?;
                self.beat = Instant::now();
            }
        }
        Ok(())
    }

    fn read(&mut self, side: Side, read: u64) {
        match side {
            Side::A => self.progress.read_a = read,
            Side::B => self.progress.read_b = read,
        }
        if let Some(p) = &self.opts.progress {
            p(self.progress);
        }
    }
}

impl Engine {
    /// Runs a pair once.
    ///
    /// First recovers runs of the pair whose process died, and refuses to
    /// start while another live run of the pair is going (one run per pair
    /// at a time). Then reads the prefetched side (B, or A for `receive`),
    /// streams the other and decides each record as it comes, applies the
    /// writes in batches inside a transaction on each target (journaling
    /// each before-image first), checks the guards, commits the targets and
    /// then, in one state-store transaction, links, bases, cursors,
    /// conflicts, ledger days and the run record. A failure or stop at any
    /// point rolls the targets back and records the run as failed or
    /// stopped; the error is returned.
    pub async fn run(
        &self,
        pair: &PairConfig,
        a: &Endpoint,
        b: &Endpoint,
        opts: RunOptions,
    ) -> Result<RunReport> {
        pair.validate()?;
        let mode = opts.mode.unwrap_or(pair.mode);
        if !opts.dry_run {
            self.recover(pair, a, b).await?;
        }
        let scope = match &pair.ledger {
            Some(ledger) => {
                let rows = self
                    .store
                    .ledger(&pair.name, jiff::civil::Date::MIN, jiff::civil::Date::MAX)
                    .await?;
                Some(DayScope::new(
                    ledger.field.clone(),
                    pair.day_zone(),
                    opts.period,
                    &rows,
                    opts.force,
                ))
            }
            None if opts.period.is_some() => {
                return Err(Error::config(
                    format!("pair {}", pair.name),
                    "syncing by day needs a day ledger: set ledger = { field = \"...\" } on the pair",
                ));
            }
            None => None,
        };
        if let (Some(s), Some(period)) = (&scope, opts.period)
            && s.days_to_sync().is_empty()
        {
            let note = "already synced; resync it with force".to_owned();
            let days = period
                .days()
                .map(|day| DayDetail {
                    day,
                    status: DayStatus::Synced,
                    events: 0,
                    note: Some(note.clone()),
                    previous: None,
                })
                .collect();
            let mut state = RunState::default();
            let mut report = self.report(
                pair,
                mode,
                None,
                RunStatus::Completed,
                &mut state,
                0,
                opts.dry_run,
            );
            report.period = Some(period);
            report.days = days;
            return Ok(report);
        }
        let trigger = if opts.trigger.is_empty() {
            "manual"
        } else {
            opts.trigger.as_str()
        };
        let run_id = match opts.dry_run {
            true => None,
            false => Some(
                self.store
                    .lease_run(&pair.name, mode.as_str(), trigger, false)
                    .await?,
            ),
        };
        let to_sync = scope.as_ref().map(|s| s.days_to_sync()).unwrap_or_default();
        let mut state = RunState {
            // A one-way run of a two-way pair keeps bases too, for the
            // field merges of the pair's next two-way run.
            keep_base: mode.keeps_base() || pair.mode.keeps_base(),
            ..Default::default()
        };
        let result = self
            .execute(pair, a, b, mode, &opts, run_id, scope, &mut state)
            .await;
        match (result, run_id) {
            (Ok(report), _) => Ok(report),
            (Err(e), None) => Err(e),
            (Err(e), Some(id)) => {
                let stopped = matches!(e, Error::Stopped { .. });
                let status = if stopped {
                    RunStatus::Stopped
                } else {
                    RunStatus::Error
                };
                state.errors.push(RunError {
                    entity: None,
                    key: None,
                    location: None,
                    message: e.to_string(),
                });
                let days: Vec<DayDetail> = to_sync
                    .into_iter()
                    .map(|day| DayDetail {
                        day,
                        status: if stopped {
                            DayStatus::NotSynced
                        } else {
                            DayStatus::Failed
                        },
                        events: 0,
                        note: Some(e.to_string()),
                        previous: None,
                    })
                    .collect();
                let period = opts.period.map(|p| (p.from, p.to));
                self.store
                    .finish_day_run(id, status, &state.counts, &state.errors, period, &days)
                    .await?;
                if !stopped && !days.is_empty() {
                    self.store.set_days(&pair.name, id, &days).await?;
                }
                Err(e)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn execute(
        &self,
        pair: &PairConfig,
        a: &Endpoint,
        b: &Endpoint,
        mode: Mode,
        opts: &RunOptions,
        run_id: Option<i64>,
        scope: Option<DayScope>,
        state: &mut RunState,
    ) -> Result<RunReport> {
        let started = Instant::now();
        let loaded = self.store.load_link_set(&pair.name).await?;
        let generation = loaded.generation;
        let links = LinkIndex::new(loaded.rows);
        tracing::debug!(pair = %pair.name, links = links.len(), ms = started.elapsed().as_millis() as u64, "links loaded");
        // A conflict between two records first paired in the run that
        // recorded it has no link id: its link is found by key.
        let pending: HashMap<i64, i64> = self
            .store
            .conflicts(&pair.name, true)
            .await?
            .into_iter()
            .filter_map(|c| {
                let by_key = || {
                    let keys = (&c.conflict.a_key, &c.conflict.b_key);
                    let a = keys.0.as_ref().and_then(|k| links.find(Side::A, k));
                    let b = keys.1.as_ref().and_then(|k| links.find(Side::B, k));
                    a.or(b).map(|i| links.row(i).id)
                };
                c.link_id.or_else(by_key).map(|l| (l, c.id))
            })
            .collect();
        let resolver = pair.resolver;
        let p_side = if mode == Mode::Receive {
            Side::A
        } else {
            Side::B
        };
        let mut classifier =
            Classifier::new(pair, &links, &resolver, mode, opts.force, p_side, pending);
        if let Some(scope) = scope {
            classifier.set_days(scope);
        }
        classifier.list(opts.list);
        let (p_end, s_end) = match p_side {
            Side::A => (a, b),
            Side::B => (b, a),
        };
        let mut live = Live {
            engine: self,
            pair,
            opts,
            run_id,
            progress: Progress::default(),
            beat: Instant::now(),
        };

        // Read the prefetched side (not needed for a send matched by key,
        // unless B lost what was synced to it: then, with force, B is read
        // in full and what it lacks is sent again).
        let mut read_p = !(mode == Mode::Send && pair.match_rule == MatchRule::Key);
        let mut reload = false;
        if !read_p
            && links.count(Side::B) > 0
            && let Some(problem) = self.target_gone(pair, b, &links).await?
        {
            if !opts.force {
                return Err(Error::Guard {
                    pair: pair.name.clone(),
                    message: format!(
                        "{problem}; `tandem sync {} --force` sends every record of A again",
                        pair.name
                    ),
                });
            }
            tracing::warn!(pair = %pair.name, "{problem}; reloading side B");
            (read_p, reload) = (true, true);
        }
        let p_read = if read_p {
            let (scope, snapshot) = self
                .scope(pair, p_side, p_end, mode, reload, opts.period)
                .await?;
            let (mut stream, fell_back) = match self.open(pair, p_side, p_end, scope).await {
                // A reload into an entity that is gone: the target creates
                // it, or its writes fail.
                Err(Error::NotFound { .. }) if reload => {
                    (Box::pin(futures::stream::empty()) as BatchStream, false)
                }
                other => other?,
            };
            let mut cursor = None;
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                live.check_stop().await?;
                for r in &batch.rejected {
                    classifier.rejected(p_side, r.key.as_deref());
                }
                reject(
                    &mut state.errors,
                    &mut state.counts,
                    entity_of(pair, p_side),
                    batch.rejected,
                );
                for change in batch.changes {
                    match change {
                        Change::Upsert(r) => classifier.prefetched(canonical(pair, p_side, r)),
                        Change::Delete { key, .. } => classifier.prefetched_delete(&key),
                    }
                }
                cursor = batch.cursor.or(cursor);
                live.read(p_side, classifier.read_counts().0);
                fault::point("engine.prefetch_batch");
            }
            SideRead {
                snapshot: snapshot || fell_back,
                cursor,
            }
        } else {
            SideRead {
                snapshot: false,
                cursor: None,
            }
        };
        tracing::debug!(pair = %pair.name, ms = started.elapsed().as_millis() as u64, "prefetched side read");
        classifier.end_prefetch(p_read.snapshot);
        let bases = self
            .store
            .load_bases(&pair.name, &classifier.base_ids_needed())
            .await?;
        classifier.set_bases(bases);
        if mode == Mode::Receive && !opts.force {
            let unsent = classifier.unsent_on_a();
            if unsent > 0 {
                return Err(Error::Guard {
                    pair: pair.name.clone(),
                    message: format!(
                        "side A ({}) has {unsent} unsent local changes that receive would discard",
                        a.name
                    ),
                });
            }
        }

        // Stream the other side, deciding and applying as it comes.
        let s_side = classifier.streamed_side();
        let journal = run_id.map(|id| (self.store.clone(), id));
        let mut writers = [
            SideWriter::new(
                Side::A,
                a,
                &pair.a_entity,
                pair,
                opts.dry_run,
                journal.clone(),
            ),
            SideWriter::new(Side::B, b, &pair.b_entity, pair, opts.dry_run, journal),
        ];
        // B is not read: a record A sends may be on B already, unlinked.
        // Unless B is empty (a first load), what a write replaces there is
        // journaled too, for undo and rollback.
        if !read_p && !opts.dry_run {
            let first_load_into_empty = links.count(Side::B) == 0 && self.empty(pair, b).await?;
            if !first_load_into_empty {
                writers[Side::B as usize].unread();
            }
        }
        let outcome = async {
            let (scope, snapshot) = self
                .scope(
                    pair,
                    s_side,
                    s_end,
                    mode,
                    mode == Mode::Receive || reload,
                    opts.period,
                )
                .await?;
            let (mut stream, fell_back) = self.open(pair, s_side, s_end, scope).await?;
            let snapshot = snapshot || fell_back;
            let mut cursor = None;
            let mut waited = Duration::ZERO;
            loop {
                let asked = Instant::now();
                let Some(batch) = stream.next().await else {
                    break;
                };
                waited += asked.elapsed();
                let batch = batch?;
                live.check_stop().await?;
                for r in &batch.rejected {
                    classifier.rejected(s_side, r.key.as_deref());
                }
                reject(
                    &mut state.errors,
                    &mut state.counts,
                    entity_of(pair, s_side),
                    batch.rejected,
                );
                for change in batch.changes {
                    match change {
                        Change::Upsert(r) => classifier.streamed(canonical(pair, s_side, r)),
                        Change::Delete { key, .. } => classifier.streamed_delete(&key),
                    }
                }
                cursor = batch.cursor.or(cursor);
                state.queue(classifier.drain_decisions(), &links, &mut writers);
                for w in &mut writers {
                    if w.full() {
                        let assigned = w.flush().await?;
                        state.assign(assigned);
                    }
                }
                live.read(s_side, classifier.read_counts().1);
                fault::point("engine.stream_batch");
            }
            tracing::debug!(
                pair = %pair.name,
                reads_ms = waited.as_millis() as u64,
                applies_ms = writers.iter().map(|w| w.waited.0.as_millis() as u64).sum::<u64>(),
                journal_ms = writers.iter().map(|w| w.waited.1.as_millis() as u64).sum::<u64>(),
                "waited while streaming"
            );
            classifier.finish(snapshot);
            state.queue(classifier.drain_decisions(), &links, &mut writers);
            for w in &mut writers {
                let assigned = w.finish().await?;
                state.assign(assigned);
            }
            self.guard(pair, &links, &classifier, &p_read, snapshot, opts.force)?;
            live.check_stop().await?;
            Ok::<_, Error>(SideRead { snapshot, cursor })
        }
        .await;
        tracing::debug!(pair = %pair.name, ms = started.elapsed().as_millis() as u64, "streamed side read and applied");
        let s_read = match outcome {
            Ok(s) => s,
            Err(e) => {
                for (w, side) in writers.iter_mut().zip([Side::A, Side::B]) {
                    match w.rollback().await {
                        // What was rolled back is not counted as written.
                        Ok(()) => forget_writes(&mut state.counts, side),
                        Err(r) => {
                            tracing::error!(pair = %pair.name, error = %r, "rolling back failed")
                        }
                    }
                }
                state.counts = merge_counts(classifier.counts(), &state.counts);
                return Err(e);
            }
        };
        state.counts = merge_counts(classifier.counts(), &state.counts);
        for (key, message) in classifier.undated() {
            state.counts.rejected += 1;
            state.errors.push(RunError {
                entity: Some(pair.a_entity.clone()),
                key: Some(key.to_string()),
                location: None,
                message: message.clone(),
            });
        }
        for side in [Side::A, Side::B] {
            if classifier.blind(side) {
                state.errors.push(RunError {
                    entity: Some(entity_of(pair, side).to_owned()),
                    key: None,
                    location: None,
                    message: format!(
                        "side {} rejected a record whose key could not be read, so this run inferred no deletes from its read",
                        side.as_str().to_uppercase()
                    ),
                });
            }
        }
        live.progress.applied = writers[0].applied + writers[1].applied;
        if let Some(p) = &opts.progress {
            p(live.progress);
        }
        let days = classifier.days().map(|s| s.details()).unwrap_or_default();

        let pending_before = self.store.conflicts(&pair.name, true).await?.len() as u64;
        if opts.dry_run {
            let conflicts = state.new_conflicts(&links, resolver);
            let deferred = conflicts.iter().filter(|c| c.resolution.is_none()).count() as u64;
            let mut report = self.report(
                pair,
                mode,
                None,
                RunStatus::Completed,
                state,
                pending_before + deferred,
                true,
            );
            report.period = opts.period;
            report.days = days;
            report.records = classifier.take_listed();
            return Ok(report);
        }

        // Commit the targets: B first, then A. A failure after B committed
        // leaves B ahead of the base; the next run sees the same content on
        // both sides and settles it, so nothing is lost or applied twice.
        fault::point("engine.before_commit");
        // The sides whose writes did not stay, should a commit fail.
        let commit_targets = async {
            if let Err(e) = writers[1].commit().await {
                let a_back = writers[0].rollback().await.is_ok();
                let gone = [Some(Side::B), a_back.then_some(Side::A)];
                return Err((e, gone));
            }
            fault::point("engine.between_commits");
            writers[0]
                .commit()
                .await
                .map_err(|e| (e, [Some(Side::A), None]))
        };
        // The conflicts, with their losing versions, are kept before any
        // target commits a winner: a process that dies before the store
        // commit must not take a loser with it.
        let run = run_id.expect("a run that is not dry has an id");
        let conflicts = state.new_conflicts(&links, resolver);
        self.store
            .record_conflicts(&pair.name, run, &conflicts)
            .await?;
        fault::point("engine.conflicts_recorded");
        // What the store records is worked out while the targets commit
        // (for a first run, a link for every record).
        let record = async {
            let closed: Vec<i64> = state.plans.iter().filter_map(|p| p.closes).collect();
            let (updates, removed) = state.link_updates(&links);
            (closed, updates, removed)
        };
        let (committed, (closed, updates, removed)) = tokio::join!(commit_targets, record);
        if let Err((e, gone)) = committed {
            let mut stayed = [true, true];
            for side in gone.into_iter().flatten() {
                forget_writes(&mut state.counts, side);
                stayed[side as usize] = false;
            }
            if stayed == [false, false] {
                // Nothing was written: nothing was resolved.
                self.store.forget_conflicts(run).await?;
            }
            return Err(e);
        }
        fault::point("engine.targets_committed");
        tracing::debug!(pair = %pair.name, ms = started.elapsed().as_millis() as u64, "targets committed");

        let run_id = run;
        // A day run read only some days: the cursors stay where they were.
        // A side this run wrote keeps the cursor its source gives for the
        // read and the writes together.
        let mut cursors = Vec::new();
        if opts.period.is_none() {
            let mut read = vec![(s_side, s_read.cursor)];
            // A send leaves B's own changes alone: B's cursor stays where
            // it was, so that a later two-way run still reads them, with
            // the send's writes marked in it.
            if read_p && mode != Mode::Send {
                read.insert(0, (p_side, p_read.cursor));
            } else if mode == Mode::Send && writers[Side::B as usize].applied > 0 {
                let kept = self.store.cursor(&pair.name, Side::B).await?;
                if kept.is_some() {
                    read.insert(0, (Side::B, kept));
                }
            }
            for (side, cursor) in read {
                let writer = &writers[side as usize];
                let cursor = match cursor {
                    Some(c) if writer.applied > 0 => {
                        let end = match side {
                            Side::A => a,
                            Side::B => b,
                        };
                        let entity = entity_of(pair, side);
                        match end.source.after_write(entity, c, writer.written()).await {
                            Ok(c) => c,
                            Err(e) => {
                                tracing::warn!(pair = %pair.name, endpoint = %end.name, error = %e, "no cursor after the run's writes; the next run reads in full");
                                None
                            }
                        }
                    }
                    other => other,
                };
                cursors.push((side, cursor));
            }
        }
        let pending_after = (pending_before
            + conflicts.iter().filter(|c| c.resolution.is_none()).count() as u64)
            .saturating_sub(closed.len() as u64);
        let listed = classifier.take_listed();
        drop(classifier);
        let snapshot = LinkSet {
            generation,
            rows: links.into_rows(),
        };
        let status = match state.counts.rejected {
            0 => RunStatus::Completed,
            _ => RunStatus::Partial,
        };
        let commit = Commit {
            run_id,
            pair: pair.name.clone(),
            links: updates,
            removed_links: removed,
            days: days.clone(),
            period: opts.period.map(|p| (p.from, p.to)),
            cursors,
            conflicts: Vec::new(),
            closed_conflicts: closed,
            status,
            counts: state.counts.clone(),
            errors: state.errors.clone(),
            snapshot: Some(snapshot),
        };
        tracing::debug!(pair = %pair.name, ms = started.elapsed().as_millis() as u64, "store commit ready");
        self.store.commit(commit).await?;
        tracing::debug!(pair = %pair.name, ms = started.elapsed().as_millis() as u64, "committed");
        fault::point("engine.committed");
        let mut report = self.report(
            pair,
            mode,
            Some(run_id),
            status,
            state,
            pending_after,
            false,
        );
        report.period = opts.period;
        report.days = days;
        report.records = listed;
        Ok(report)
    }

    #[allow(clippy::too_many_arguments)]
    fn report(
        &self,
        pair: &PairConfig,
        mode: Mode,
        run_id: Option<i64>,
        status: RunStatus,
        state: &mut RunState,
        pending_conflicts: u64,
        dry_run: bool,
    ) -> RunReport {
        RunReport {
            run_id,
            pair: pair.name.clone(),
            mode,
            status,
            counts: state.counts.clone(),
            errors: std::mem::take(&mut state.errors),
            plan: std::mem::take(&mut state.plan),
            pending_conflicts,
            dry_run,
            period: None,
            days: Vec::new(),
            records: Vec::new(),
        }
    }
}

/// Takes a side's writes out of a run's counts: its target rolled back.
fn forget_writes(counts: &mut crate::store::RunCounts, side: Side) {
    let (created, updated, deleted) = match side {
        Side::A => (
            &mut counts.created_a,
            &mut counts.updated_a,
            &mut counts.deleted_a,
        ),
        Side::B => (
            &mut counts.created_b,
            &mut counts.updated_b,
            &mut counts.deleted_b,
        ),
    };
    (*created, *updated, *deleted) = (0, 0, 0);
}
