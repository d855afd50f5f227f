//! The sync engine: one run = plan, read, classify, resolve, guard, apply,
//! commit.

mod classify;
mod days;
mod decision;
mod index;
mod manual;
mod pair;
mod read;
mod recover;
mod rules;
mod run;
mod state;
mod write;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;

pub use classify::{BaseChange, Category, Classifier, ConflictNote, Decision, Write};
pub use days::{DayRole, DayScope, LedgerConfig, Period, day_of};
pub use index::LinkIndex;
pub use manual::Choice;
pub use pair::{Condition, FieldMap, MatchRule, Mode, OnCrash, Op, PairConfig};
pub use recover::UndoReport;

use crate::source::Source;
use crate::store::{RunCounts, RunError, RunStatus, Side, StateStore};
use crate::target::Target;

/// One side of a pair: a named endpoint that can be read, and written when
/// it is a target.
#[derive(Clone)]
pub struct Endpoint {
    /// The endpoint's name (from the manifest), used in messages.
    pub name: String,
    /// Reads it.
    pub source: Arc<dyn Source>,
    /// Writes it; `None` for a read-only endpoint.
    pub target: Option<Arc<dyn Target>>,
}

impl Endpoint {
    /// An endpoint that is both a source and a target.
    pub fn new<C: Source + Target + 'static>(name: impl Into<String>, connector: C) -> Self {
        let c = Arc::new(connector);
        Endpoint {
            name: name.into(),
            source: c.clone(),
            target: Some(c),
        }
    }
}

/// Asks a running run to stop at its next batch; the target is rolled back.
#[derive(Debug, Clone, Default)]
pub struct StopSignal(Arc<AtomicBool>);

impl StopSignal {
    /// Asks the run to stop.
    pub fn stop(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether a stop was asked for.
    pub fn is_stopped(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Progress of a running run.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Progress {
    /// Records read from side A so far.
    pub read_a: u64,
    /// Records read from side B so far.
    pub read_b: u64,
    /// Changes applied so far (both sides).
    pub applied: u64,
}

/// Called with progress after every batch.
pub type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync>;

/// How to run a pair.
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct RunOptions {
    /// Overrides the pair's mode.
    pub mode: Option<Mode>,
    /// Plan only: read, classify and report, change nothing.
    pub dry_run: bool,
    /// Override the guards (`max_delete`, empty side, unsent local changes).
    pub force: bool,
    /// What started the run: `manual`, `schedule`, `polling`, `start`, `change`.
    pub trigger: String,
    /// Stops the run at its next batch.
    pub stop: Option<StopSignal>,
    /// Receives progress.
    pub progress: Option<ProgressFn>,
    /// For pairs with a day ledger: sync these days (with `force`, also
    /// those already synced). `None` syncs what changed, and marks days
    /// already synced stale instead of changing them.
    pub period: Option<Period>,
    /// List the records of each category in the report, at most this many
    /// per category (the sync window); `0` lists none.
    pub list: usize,
}

impl RunOptions {
    /// Options for a manual run in the pair's mode.
    pub fn new() -> Self {
        RunOptions {
            trigger: "manual".into(),
            ..Default::default()
        }
    }

    /// Lists up to `per_category` records of each category in the report.
    pub fn list(mut self, per_category: usize) -> Self {
        self.list = per_category;
        self
    }

    /// Sets the mode.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = Some(mode);
        self
    }

    /// Plan only.
    pub fn dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }

    /// Overrides the guards.
    pub fn force(mut self, force: bool) -> Self {
        self.force = force;
        self
    }

    /// Sets the trigger.
    pub fn trigger(mut self, trigger: impl Into<String>) -> Self {
        self.trigger = trigger.into();
        self
    }

    /// Sets the stop signal.
    pub fn stop(mut self, stop: StopSignal) -> Self {
        self.stop = Some(stop);
        self
    }

    /// Sets the days to sync.
    pub fn period(mut self, period: Period) -> Self {
        self.period = Some(period);
        self
    }

    /// Sets the progress callback.
    pub fn progress(mut self, progress: ProgressFn) -> Self {
        self.progress = Some(progress);
        self
    }
}

/// One change a run applies (or, dry, would apply).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedWrite {
    /// The side written.
    pub side: Side,
    /// `upsert` or `delete`.
    pub action: &'static str,
    /// The key on that side.
    pub key: String,
    /// The record's category.
    pub category: Category,
}

/// What a run did (or, dry, would do).
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// The run's id in history; `None` for a dry run, which records nothing.
    pub run_id: Option<i64>,
    /// The pair.
    pub pair: String,
    /// The mode it ran in.
    pub mode: Mode,
    /// How it ended.
    pub status: RunStatus,
    /// Counts per category and per applied change.
    pub counts: RunCounts,
    /// Records skipped or failed, with where and why.
    pub errors: Vec<RunError>,
    /// The changes applied (the first [`PLAN_LIMIT`]).
    pub plan: Vec<PlannedWrite>,
    /// Conflicts waiting for a person after this run.
    pub pending_conflicts: u64,
    /// Whether it was a dry run.
    pub dry_run: bool,
    /// The days it covered, for pairs with a day ledger.
    pub period: Option<Period>,
    /// What it did per day.
    pub days: Vec<crate::store::DayDetail>,
    /// The records of each category, as classified (with
    /// [`RunOptions::list`]; empty otherwise).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub records: Vec<ListedRecord>,
}

/// One record of a run's classification, for the sync window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListedRecord {
    /// Its category.
    pub category: Category,
    /// Its key on side A, when it has one there.
    pub a_key: Option<String>,
    /// Its key on side B, when it has one there.
    pub b_key: Option<String>,
    /// What the run writes for it (`a upsert`, `b delete`), if anything.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

/// How many planned writes a report lists.
pub const PLAN_LIMIT: usize = 10_000;

/// Runs pairs against a state store.
#[derive(Clone)]
pub struct Engine {
    store: StateStore,
}

impl Engine {
    /// An engine recording into `store`.
    pub fn new(store: StateStore) -> Self {
        Engine { store }
    }

    /// The state store.
    pub fn store(&self) -> &StateStore {
        &self.store
    }
}
