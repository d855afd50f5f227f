//! One run of a pair, from plan to commit.

use std::collections::HashMap;

use futures::StreamExt;

use super::classify::{BaseChange, Classifier, Decision, Write};
use super::index::LinkIndex;
use super::write::SideWriter;
use super::{
    Endpoint, Engine, MatchRule, Mode, PairConfig, PlannedWrite, Progress, RunOptions, RunReport,
};
use crate::error::{Error, Result};
use crate::record::{Change, Cursor};
use crate::source::{ReadRequest, ReadScope};
use crate::store::{Commit, LinkUpdate, NewConflict, RunCounts, RunError, RunStatus, Side};

/// What a decision leaves to record once the targets have committed.
struct Planned {
    decision: Decision,
}

/// How one side is read this run.
struct SideRead {
    snapshot: bool,
    cursor: Option<Cursor>,
}

impl Engine {
    /// Runs a pair once.
    ///
    /// Reads the prefetched side (B, or A for `receive`), streams the other
    /// and decides each record as it comes, applies the writes in batches
    /// inside a transaction on each target, checks the guards, commits the
    /// targets and then, in one state-store transaction, links, bases,
    /// cursors, conflicts and the run record. A failure at any point rolls
    /// the targets back and records the run as failed; the error is
    /// returned.
    pub async fn run(
        &self,
        pair: &PairConfig,
        a: &Endpoint,
        b: &Endpoint,
        opts: RunOptions,
    ) -> Result<RunReport> {
        pair.validate()?;
        let mode = opts.mode.unwrap_or(pair.mode);
        let trigger = if opts.trigger.is_empty() {
            "manual"
        } else {
            opts.trigger.as_str()
        };
        let run_id = if opts.dry_run {
            None
        } else {
            Some(
                self.store
                    .start_run(&pair.name, mode.as_str(), trigger, false)
                    .await?,
            )
        };
        let mut state = RunState::default();
        let result = self
            .execute(pair, a, b, mode, &opts, run_id, &mut state)
            .await;
        match result {
            Ok(report) => Ok(report),
            Err(e) => {
                if let Some(id) = run_id {
                    let status = if matches!(e, Error::Stopped { .. }) {
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
                    self.store
                        .finish_run(id, status, &state.counts, &state.errors)
                        .await?;
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
        state: &mut RunState,
    ) -> Result<RunReport> {
        let links = LinkIndex::new(self.store.load_links(&pair.name).await?);
        let pending: HashMap<i64, i64> = self
            .store
            .conflicts(&pair.name, true)
            .await?
            .into_iter()
            .filter_map(|c| c.link_id.map(|l| (l, c.id)))
            .collect();
        let resolver = pair.resolver;
        let p_side = if mode == Mode::Receive {
            Side::A
        } else {
            Side::B
        };
        let mut classifier =
            Classifier::new(pair, &links, &resolver, mode, opts.force, p_side, pending);
        let (p_end, s_end) = match p_side {
            Side::A => (a, b),
            Side::B => (b, a),
        };
        let mut progress = Progress::default();

        // Read the prefetched side (not needed for a send matched by key).
        let read_p = !(mode == Mode::Send && pair.match_rule == MatchRule::Key);
        let p_read = if read_p {
            let (scope, snapshot) = self.scope(pair, p_side, p_end, mode, false).await?;
            let mut cursor = None;
            let mut stream = self.open(pair, p_side, p_end, scope.clone()).await?;
            let snapshot = match stream.1 {
                true => true,
                false => snapshot,
            };
            while let Some(batch) = stream.0.next().await {
                let batch = batch?;
                check_stop(pair, opts)?;
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
                progress_read(&mut progress, p_side, classifier.read_counts().0, opts);
            }
            SideRead { snapshot, cursor }
        } else {
            SideRead {
                snapshot: false,
                cursor: None,
            }
        };
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
        let mut writers = [
            SideWriter::new(Side::A, a, &pair.a_entity, pair, opts.dry_run),
            SideWriter::new(Side::B, b, &pair.b_entity, pair, opts.dry_run),
        ];
        let outcome = async {
            let (scope, snapshot) = self
                .scope(pair, s_side, s_end, mode, mode == Mode::Receive)
                .await?;
            let mut cursor = None;
            let (mut stream, fell_back) = self.open(pair, s_side, s_end, scope).await?;
            let snapshot = snapshot || fell_back;
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                check_stop(pair, opts)?;
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
                let decisions = classifier.take_decisions();
                state.queue(decisions, &mut writers);
                for w in &mut writers {
                    if w.full() {
                        let assigned = w.flush().await?;
                        state.assign(assigned);
                    }
                }
                progress_read(&mut progress, s_side, classifier.read_counts().1, opts);
            }
            classifier.finish(snapshot);
            let decisions = classifier.take_decisions();
            state.queue(decisions, &mut writers);
            for w in &mut writers {
                let assigned = w.flush().await?;
                state.assign(assigned);
            }
            self.guard(pair, &links, &classifier, &p_read, snapshot, opts.force)?;
            check_stop(pair, opts)?;
            Ok::<_, Error>(SideRead { snapshot, cursor })
        }
        .await;
        let s_read = match outcome {
            Ok(s) => s,
            Err(e) => {
                for w in &mut writers {
                    let _ = w.rollback().await;
                }
                state.counts = merge_counts(classifier.counts(), &state.counts);
                return Err(e);
            }
        };
        state.counts = merge_counts(classifier.counts(), &state.counts);
        progress.applied = writers[0].applied + writers[1].applied;
        if let Some(p) = &opts.progress {
            p(progress);
        }

        let pending_before = self.store.conflicts(&pair.name, true).await?.len() as u64;
        if opts.dry_run {
            let deferred = state
                .new_conflicts(&links, resolver)
                .iter()
                .filter(|c| c.resolution.is_none())
                .count() as u64;
            return Ok(self.report(
                pair,
                mode,
                None,
                RunStatus::Completed,
                state,
                pending_before + deferred,
                true,
            ));
        }

        // Commit the targets: B first, then A. A failure after B committed
        // leaves B ahead of the base; the next run sees the same content on
        // both sides and settles it, so nothing is lost or applied twice.
        if let Err(e) = writers[1].commit().await {
            let _ = writers[0].rollback().await;
            return Err(e);
        }
        writers[0].commit().await?;

        let run_id = run_id.expect("a run that is not dry has an id");
        let mut cursors = Vec::new();
        if read_p {
            cursors.push((p_side, p_read.cursor));
        }
        cursors.push((s_side, s_read.cursor));
        let conflicts = state.new_conflicts(&links, resolver);
        let closed: Vec<i64> = state
            .plans
            .iter()
            .filter_map(|p| p.decision.closes)
            .collect();
        let pending_after = pending_before
            + conflicts.iter().filter(|c| c.resolution.is_none()).count() as u64
            - closed.len() as u64;
        let (updates, removed) = state.link_updates(&links, mode);
        let commit = Commit {
            run_id,
            pair: pair.name.clone(),
            links: updates,
            removed_links: removed,
            days: Vec::new(),
            period: None,
            cursors,
            conflicts,
            closed_conflicts: closed,
            status: RunStatus::Completed,
            counts: state.counts.clone(),
            errors: state.errors.clone(),
        };
        self.store.commit(commit).await?;
        Ok(self.report(
            pair,
            mode,
            Some(run_id),
            RunStatus::Completed,
            state,
            pending_after,
            false,
        ))
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
        }
    }

    /// How to read a side: incrementally from its cursor when it has one
    /// and the mode allows, else in full (a snapshot).
    async fn scope(
        &self,
        pair: &PairConfig,
        side: Side,
        end: &Endpoint,
        mode: Mode,
        force_full: bool,
    ) -> Result<(ReadScope, bool)> {
        let cursor = self.store.cursor(&pair.name, side).await?;
        match cursor {
            Some(c) if end.source.capabilities().cursors && mode != Mode::Full && !force_full => {
                Ok((ReadScope::Since(c), false))
            }
            _ => Ok((ReadScope::Full, true)),
        }
    }

    /// Opens a read; an expired cursor falls back to a full read (the
    /// second value says it did).
    async fn open(
        &self,
        pair: &PairConfig,
        side: Side,
        end: &Endpoint,
        scope: ReadScope,
    ) -> Result<(crate::source::BatchStream, bool)> {
        let (entity, fields) = match side {
            Side::A => (&pair.a_entity, pair.a_fields()),
            Side::B => (&pair.b_entity, pair.b_fields()),
        };
        let request = |scope| {
            let mut r = ReadRequest::full(entity.clone())
                .with_fields(fields.clone())
                .with_batch_size(pair.batch_size);
            r.scope = scope;
            r
        };
        let incremental = matches!(scope, ReadScope::Since(_));
        match end.source.read(request(scope)).await {
            Err(Error::CursorExpired { .. }) if incremental => {
                tracing::warn!(pair = %pair.name, endpoint = %end.name, "cursor expired; reading in full");
                Ok((end.source.read(request(ReadScope::Full)).await?, true))
            }
            other => Ok((other?, false)),
        }
    }

    fn guard(
        &self,
        pair: &PairConfig,
        links: &LinkIndex,
        classifier: &Classifier<'_>,
        p_read: &SideRead,
        s_snapshot: bool,
        force: bool,
    ) -> Result<()> {
        if force {
            return Ok(());
        }
        let p_side = match classifier.streamed_side() {
            Side::A => Side::B,
            Side::B => Side::A,
        };
        let (p_count, s_count) = classifier.read_counts();
        for (side, snapshot, read) in [
            (p_side, p_read.snapshot, p_count),
            (classifier.streamed_side(), s_snapshot, s_count),
        ] {
            let linked = links.count(side) as u64;
            if snapshot && read == 0 && linked > 0 {
                return Err(Error::Guard {
                    pair: pair.name.clone(),
                    message: format!(
                        "side {} read no records but {linked} were synced before (empty-side guard)",
                        side.as_str().to_uppercase()
                    ),
                });
            }
        }
        for side in [Side::A, Side::B] {
            let linked = links.count(side) as u64;
            let deletes = classifier.deletes(side);
            if linked > 0 && deletes as f64 * 100.0 > pair.max_delete * linked as f64 {
                return Err(Error::Guard {
                    pair: pair.name.clone(),
                    message: format!(
                        "the run would delete {deletes} of {linked} records on side {} ({:.1}%), more than max_delete {}%",
                        side.as_str().to_uppercase(),
                        deletes as f64 * 100.0 / linked as f64,
                        pair.max_delete
                    ),
                });
            }
        }
        Ok(())
    }
}

/// What a run accumulates between classification and commit.
#[derive(Default)]
struct RunState {
    plans: Vec<Planned>,
    plan: Vec<PlannedWrite>,
    counts: RunCounts,
    errors: Vec<RunError>,
}

impl RunState {
    fn queue(&mut self, decisions: Vec<Decision>, writers: &mut [SideWriter<'_>; 2]) {
        for mut d in decisions {
            let index = self.plans.len();
            for (side, write) in [(Side::A, d.write_a.take()), (Side::B, d.write_b.take())] {
                let Some(write) = write else { continue };
                let created = match side {
                    Side::A => d.a_key.is_none(),
                    Side::B => d.b_key.is_none(),
                };
                let key = match (side, &write) {
                    (_, Write::Delete(k)) => k.clone(),
                    (Side::A, Write::Upsert(r)) => d.a_key.clone().unwrap_or_else(|| r.key.clone()),
                    (Side::B, Write::Upsert(r)) => d.b_key.clone().unwrap_or_else(|| r.key.clone()),
                };
                writers[side as usize].push(
                    index,
                    write,
                    key,
                    created,
                    d.category,
                    &mut self.counts,
                    &mut self.plan,
                );
            }
            self.plans.push(Planned { decision: d });
        }
    }

    fn assign(&mut self, assigned: Vec<super::write::Assigned>) {
        for a in assigned {
            let d = &mut self.plans[a.plan].decision;
            match a.side {
                Side::A => d.a_key = Some(a.key),
                Side::B => d.b_key = Some(a.key),
            }
        }
    }

    fn new_conflicts(
        &self,
        links: &LinkIndex,
        resolver: crate::resolve::ResolverKind,
    ) -> Vec<NewConflict> {
        self.plans
            .iter()
            .filter_map(|p| {
                let note = p.decision.conflict.as_ref()?;
                let mut conflict = note.conflict.clone();
                conflict.a_key = p.decision.a_key.clone();
                conflict.b_key = p.decision.b_key.clone();
                Some(NewConflict {
                    link_id: p.decision.link.map(|i| links.row(i).id),
                    conflict,
                    resolution: note.resolution.clone(),
                    resolved_by: note.resolution.as_ref().map(|_| resolver.name().to_owned()),
                    loser: note.loser.clone(),
                })
            })
            .collect()
    }

    fn link_updates(&mut self, links: &LinkIndex, mode: Mode) -> (Vec<LinkUpdate>, Vec<i64>) {
        let keep_base = matches!(mode, Mode::TwoWay | Mode::Full);
        let mut updates = Vec::new();
        let mut removed = Vec::new();
        for p in self.plans.drain(..) {
            let d = p.decision;
            let id = d.link.map(|i| links.row(i).id);
            match d.base {
                BaseChange::Keep => {}
                BaseChange::Remove => removed.extend(id),
                BaseChange::Set {
                    hash_a,
                    hash_b,
                    record,
                } => updates.push(LinkUpdate {
                    id,
                    a_key: d.a_key,
                    b_key: d.b_key,
                    hash_a: Some(hash_a),
                    hash_b: Some(hash_b),
                    base: keep_base.then_some(record),
                    disabled: false,
                    day: None,
                }),
            }
        }
        (updates, removed)
    }
}

fn canonical(pair: &PairConfig, side: Side, r: crate::record::Record) -> crate::record::Record {
    match side {
        Side::A => pair.canonical_a(r),
        Side::B => pair.canonical_b(r),
    }
}

fn entity_of(pair: &PairConfig, side: Side) -> &str {
    match side {
        Side::A => &pair.a_entity,
        Side::B => &pair.b_entity,
    }
}

fn reject(
    errors: &mut Vec<RunError>,
    counts: &mut RunCounts,
    entity: &str,
    rejected: Vec<crate::error::RecordError>,
) {
    for r in rejected {
        counts.rejected += 1;
        errors.push(RunError {
            entity: Some(entity.to_owned()),
            key: r.key,
            location: Some(r.location),
            message: r.message,
        });
    }
}

fn check_stop(pair: &PairConfig, opts: &RunOptions) -> Result<()> {
    match &opts.stop {
        Some(s) if s.is_stopped() => Err(Error::Stopped {
            pair: pair.name.clone(),
        }),
        _ => Ok(()),
    }
}

fn progress_read(progress: &mut Progress, side: Side, read: u64, opts: &RunOptions) {
    match side {
        Side::A => progress.read_a = read,
        Side::B => progress.read_b = read,
    }
    if let Some(p) = &opts.progress {
        p(*progress);
    }
}

/// The classifier's category counts with the writer tallies and rejects.
fn merge_counts(categories: &RunCounts, tallies: &RunCounts) -> RunCounts {
    RunCounts {
        conflict: categories.conflict,
        new: categories.new,
        deleted: categories.deleted,
        disabled: categories.disabled,
        synchronized: categories.synchronized,
        inactive: categories.inactive,
        changed_a: categories.changed_a,
        changed_b: categories.changed_b,
        merged: categories.merged,
        ..tallies.clone()
    }
}
