//! Crash recovery, undo, and restoring a target from a journal.

use std::collections::HashSet;
use std::time::Duration;

use serde::Serialize;

use super::{Endpoint, Engine, OnCrash, PairConfig};
use crate::error::{Error, Result};
use crate::record::{Change, Key, Record};
use crate::store::{
    Commit, DayDetail, DayStatus, JournalEntry, LinkUpdate, RunError, RunRow, RunStatus, Side,
};

/// A run on another host counts as alive while it beats this often.
const LEASE: Duration = Duration::from_secs(120);

/// What an undo did.
#[derive(Debug, Clone, Serialize)]
pub struct UndoReport {
    /// The run undone.
    pub undone: i64,
    /// The undo's own run in history.
    pub run_id: i64,
    /// Records restored per side (A, B).
    pub restored: [u64; 2],
}

/// Whether the process that owns a running run is still alive: on this
/// host, its process exists; elsewhere, it beat within the lease.
fn owner_alive(run: &RunRow) -> bool {
    let Some((host, pid)) = run.owner.as_deref().and_then(|o| o.rsplit_once(':')) else {
        return false;
    };
    let me = crate::store::owner();
    let my_host = me.rsplit_once(':').map(|(h, _)| h).unwrap_or_default();
    if host == my_host {
        return pid.parse::<u32>().is_ok_and(|p| {
            p == std::process::id() || std::path::Path::new(&format!("/proc/{p}")).exists()
        });
    }
    run.heartbeat
        .is_some_and(|t| jiff::Timestamp::now().duration_since(t).unsigned_abs() < LEASE)
}

/// Puts back the before-images of `entries` on one side, newest change
/// first, in one transaction: a record that did not exist is deleted.
pub(super) async fn restore(end: &Endpoint, entity: &str, entries: &[JournalEntry]) -> Result<u64> {
    let target = end.target.as_ref().ok_or_else(|| {
        Error::config(
            &end.name,
            "the endpoint is read-only and cannot be restored",
        )
    })?;
    // The first before-image of a key is its state before the run.
    let mut seen = HashSet::new();
    let mut changes = Vec::new();
    for e in entries {
        if seen.insert(e.key.clone()) {
            changes.push(match &e.before {
                Some(r) => Change::Upsert(r.clone()),
                None => Change::delete(e.key.clone()),
            });
        }
    }
    changes.reverse();
    let n = changes.len() as u64;
    let mut tx = target.begin(entity).await?;
    for chunk in changes.chunks(1000) {
        if let Err(e) = tx.apply(chunk.to_vec()).await {
            let _ = tx.rollback().await;
            return Err(e);
        }
    }
    tx.commit().await?;
    Ok(n)
}

impl Engine {
    /// Finds the runs of a pair whose process died mid-run and recovers
    /// them as the pair says (`on_crash`): `resume` records them as
    /// interrupted, and the next run continues from the last commit (the
    /// state store never advanced past what the targets committed, and
    /// upserts are idempotent); `rollback` first restores the targets from
    /// the run's journal. Fails with [`Error::Busy`] while a live run of the
    /// pair is going. Returns the ids of the runs recovered.
    pub async fn recover(&self, pair: &PairConfig, a: &Endpoint, b: &Endpoint) -> Result<Vec<i64>> {
        let mut recovered = Vec::new();
        for run in self
            .store
            .running_runs()
            .await?
            .into_iter()
            .filter(|r| r.pair == pair.name)
        {
            // One process alone recovers a dead run: the one whose take-over
            // finds its owner and heartbeat as they were read.
            if owner_alive(&run) || !self.store.take_over_run(&run).await? {
                return Err(Error::Busy {
                    pair: pair.name.clone(),
                    run_id: run.id,
                    owner: run.owner.clone().unwrap_or_default(),
                });
            }
            let (status, message) = match pair.on_crash {
                OnCrash::Resume => (
                    RunStatus::Error,
                    "interrupted: its process died; the next run continued from the last commit"
                        .to_owned(),
                ),
                OnCrash::Rollback => {
                    let entries = self.store.journal(run.id).await?;
                    self.restore_both(pair, a, b, &entries).await?;
                    (
                        RunStatus::Stopped,
                        "interrupted: its process died; the targets were restored from its journal"
                            .to_owned(),
                    )
                }
            };
            tracing::warn!(pair = %pair.name, run = run.id, "{message}");
            let mut errors = run.errors.clone();
            errors.push(RunError {
                entity: None,
                key: None,
                location: None,
                message,
            });
            let days: Vec<DayDetail> = run
                .period
                .map(|(from, to)| super::Period { from, to }.days().collect::<Vec<_>>())
                .unwrap_or_default()
                .into_iter()
                .map(|day| DayDetail {
                    day,
                    status: DayStatus::NotSynced,
                    events: 0,
                    note: Some("interrupted".into()),
                    previous: None,
                })
                .collect();
            self.store
                .finish_day_run(run.id, status, &run.counts, &errors, run.period, &days)
                .await?;
            recovered.push(run.id);
        }
        Ok(recovered)
    }

    async fn restore_both(
        &self,
        pair: &PairConfig,
        a: &Endpoint,
        b: &Endpoint,
        entries: &[JournalEntry],
    ) -> Result<[u64; 2]> {
        let mut restored = [0, 0];
        for (side, end, entity) in [(Side::B, b, &pair.b_entity), (Side::A, a, &pair.a_entity)] {
            let mine: Vec<JournalEntry> =
                entries.iter().filter(|e| e.side == side).cloned().collect();
            if !mine.is_empty() {
                restored[side as usize] = restore(end, entity, &mine).await?;
            }
        }
        Ok(restored)
    }

    /// Undoes a finished run, as if it had never happened: restores every
    /// record it changed to its before-image from the journal, puts the
    /// records' links back as they were before the run (so the next sync
    /// sees the source's changes again), returns its days to where they
    /// stood, and forgets its journal (a run is undone once). Refuses when
    /// later runs touched the same records, unless `force`.
    pub async fn undo(
        &self,
        pair: &PairConfig,
        a: &Endpoint,
        b: &Endpoint,
        run_id: i64,
        force: bool,
    ) -> Result<UndoReport> {
        let refuse = |m: String| Error::Other {
            connector: format!("pair {}", pair.name),
            message: m,
        };
        let run = self
            .store
            .run(run_id)
            .await?
            .filter(|r| r.pair == pair.name)
            .ok_or_else(|| {
                Error::config(
                    format!("pair {}", pair.name),
                    format!("no run {run_id} in this pair"),
                )
            })?;
        if run.status.is_active() {
            return Err(refuse(format!(
                "run {run_id} is still {}; stop it first",
                run.status.as_str()
            )));
        }
        let entries = self.store.journal(run_id).await?;
        if entries.is_empty() {
            return Err(refuse(format!(
                "run {run_id} changed nothing, or was undone already; there is nothing to undo"
            )));
        }
        let keys: Vec<Key> = entries
            .iter()
            .map(|e| e.key.clone())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let later = self
            .store
            .later_runs_touching(&pair.name, run_id, &keys)
            .await?;
        if !later.is_empty() && !force {
            let list = later
                .iter()
                .map(|r| r.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            return Err(Error::Guard {
                pair: pair.name.clone(),
                message: format!(
                    "later runs ({list}) changed records that run {run_id} changed; undo them first"
                ),
            });
        }
        self.recover(pair, a, b).await?;
        let undo_id = self
            .store
            .start_run(&pair.name, "undo", "manual", false)
            .await?;
        let restored = match self.restore_both(pair, a, b, &entries).await {
            Ok(r) => r,
            Err(e) => {
                let errors = vec![RunError {
                    entity: None,
                    key: None,
                    location: None,
                    message: e.to_string(),
                }];
                self.store
                    .finish_run(undo_id, RunStatus::Error, &Default::default(), &errors)
                    .await?;
                return Err(e);
            }
        };
        let mut commit = Commit::new(undo_id, pair.name.clone(), RunStatus::Completed);
        self.restore_links(pair, &entries, &mut commit).await?;
        commit.days = run
            .days
            .iter()
            .filter(|d| d.status != DayStatus::NotSynced)
            .map(|d| {
                let (status, events) = d.previous.unwrap_or((DayStatus::NotSynced, 0));
                DayDetail {
                    day: d.day,
                    status,
                    events,
                    note: Some(format!("run {run_id} undone")),
                    previous: None,
                }
            })
            .collect();
        commit.period = run.period;
        // The cursors may be past changes the run applied: the next run
        // reads in full and reconciles.
        commit.cursors = vec![(Side::A, None), (Side::B, None)];
        commit.counts.updated_a = restored[0];
        commit.counts.updated_b = restored[1];
        self.store.commit(commit).await?;
        self.store.clear_journal(run_id).await?;
        Ok(UndoReport {
            undone: run_id,
            run_id: undo_id,
            restored,
        })
    }

    /// Puts the links of the journaled records back as they were before
    /// the run: links the run changed or removed are restored, links it
    /// made are removed.
    async fn restore_links(
        &self,
        pair: &PairConfig,
        entries: &[JournalEntry],
        commit: &mut Commit,
    ) -> Result<()> {
        let mut done = HashSet::new();
        let mut links = HashSet::new();
        for e in entries {
            if !done.insert((e.side, e.key.clone())) {
                continue;
            }
            let current = self.store.link_by_key(&pair.name, e.side, &e.key).await?;
            match (&e.link, current) {
                (Some(before), current) => {
                    // Both sides' entries of a two-way change carry the same link.
                    if !links.insert(before.id) {
                        continue;
                    }
                    commit.links.push(LinkUpdate {
                        id: current.map(|c| c.id),
                        a_key: before.a_key.clone(),
                        b_key: before.b_key.clone(),
                        hash_a: before.hash_a,
                        hash_b: before.hash_b,
                        base: Some(base_before(pair, e, before)),
                        disabled: before.disabled,
                        day: before.day,
                    });
                }
                (None, Some(made)) => {
                    if !commit.removed_links.contains(&made.id) {
                        commit.removed_links.push(made.id);
                    }
                }
                (None, None) => {}
            }
        }
        Ok(())
    }
}

/// The base record to put back with a link an undo restores. The undone
/// run replaced it; where the sides were in step before the run and the
/// journaled before-image is that content, it is the base again. Else no
/// base is known: an empty one, with which the next merge treats every
/// field both sides hold differently as a conflict for the resolver,
/// rather than merging against the undone run's record.
fn base_before(pair: &PairConfig, e: &JournalEntry, before: &crate::store::LinkRow) -> Record {
    let key = before
        .a_key
        .clone()
        .or_else(|| before.b_key.clone())
        .unwrap_or_else(|| e.key.clone());
    if let (Some(r), Some(h)) = (&e.before, before.hash_a)
        && before.hash_b == Some(h)
    {
        let r = match e.side {
            Side::A => pair.canonical_a(r.clone()),
            Side::B => pair.canonical_b(r.clone()),
        };
        if r.content_hash() == h {
            return r;
        }
    }
    Record::new(key)
}
