//! Starting syncs in the background, one per pair at a time, with their
//! live progress and stop signals kept in memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;
use tandem_core::engine::{Mode, Period, Progress, RunOptions, RunReport, StopSignal};
use tandem_core::store::owner;
use tokio::sync::oneshot;

use super::Daemon;

/// What to run.
#[derive(Debug, Clone, Default)]
pub struct SyncRequest {
    /// What started it: `manual`, `schedule`, `start`, `change`.
    pub trigger: String,
    /// The days, for pairs with a day ledger.
    pub period: Option<Period>,
    /// Sync days already synced again; override the guards.
    pub force: bool,
    /// Another mode than the pair's.
    pub mode: Option<Mode>,
}

/// A run of this daemon that has not ended.
#[derive(Debug, Clone, Serialize)]
pub struct LiveRun {
    /// Its id in history, once the engine recorded it.
    pub run_id: Option<i64>,
    /// What started it.
    pub trigger: String,
    /// When the daemon started it.
    pub started: Timestamp,
    /// Its days, for day runs.
    pub period: Option<Period>,
    /// Records read and changes applied so far.
    pub progress: Progress,
    /// Whether a stop was asked for.
    pub stopping: bool,
    #[serde(skip)]
    stop: StopSignal,
}

/// The live runs by pair.
#[derive(Default)]
pub struct LiveRuns(Mutex<HashMap<String, LiveRun>>);

impl LiveRuns {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, LiveRun>> {
        self.0.lock().expect("live runs poisoned")
    }

    /// The live run of a pair.
    pub fn get(&self, pair: &str) -> Option<LiveRun> {
        self.lock().get(pair).cloned()
    }

    /// Whether a pair has a live run.
    pub fn contains(&self, pair: &str) -> bool {
        self.lock().contains_key(pair)
    }

    /// How many runs are live.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Asks the live run with this id to stop; returns whether it is ours.
    pub fn stop_run(&self, run_id: i64) -> bool {
        let mut runs = self.lock();
        match runs.values_mut().find(|r| r.run_id == Some(run_id)) {
            Some(r) => {
                r.stop.stop();
                r.stopping = true;
                true
            }
            None => false,
        }
    }

    /// Asks every live run to stop.
    pub fn stop_all(&self) {
        for r in self.lock().values_mut() {
            r.stop.stop();
            r.stopping = true;
        }
    }

    fn set_progress(&self, pair: &str, progress: Progress) {
        if let Some(r) = self.lock().get_mut(pair) {
            r.progress = progress;
        }
    }

    fn set_run_id(&self, pair: &str, run_id: i64) {
        if let Some(r) = self.lock().get_mut(pair) {
            r.run_id = Some(run_id);
        }
    }
}

/// How starting a sync went.
#[derive(Debug)]
pub enum Started {
    /// It runs in the background as this run.
    Running(i64),
    /// It ended before its id was seen (a quick run), or it had nothing to
    /// do (every day of the period synced already).
    Finished(Box<RunReport>),
}

/// Why a sync did not start.
#[derive(Debug)]
pub enum StartError {
    /// The pair already has a live run in this daemon.
    Busy(Option<i64>),
    /// The daemon is shutting down.
    ShuttingDown,
    /// The run failed before or as it started.
    Failed(anyhow::Error),
}

/// How long to wait for a started run to show in the store.
const START_WAIT: Duration = Duration::from_secs(60);

impl Daemon {
    /// Starts a sync of `pair` in the background. Returns once the engine
    /// has recorded the run (with its id), or once the run has ended.
    pub async fn start_sync(
        self: &Arc<Self>,
        pair: &str,
        req: SyncRequest,
    ) -> Result<Started, StartError> {
        if self.shutting_down() {
            return Err(StartError::ShuttingDown);
        }
        let store = self.ctx.store().await.map_err(StartError::Failed)?;
        let before = store
            .runs(Some(pair), 1, 1)
            .await
            .map_err(|e| StartError::Failed(e.into()))?
            .0
            .first()
            .map_or(0, |r| r.id);
        let stop = StopSignal::default();
        {
            let mut live = self.live.lock();
            if let Some(r) = live.get(pair) {
                return Err(StartError::Busy(r.run_id));
            }
            live.insert(
                pair.to_owned(),
                LiveRun {
                    run_id: None,
                    trigger: req.trigger.clone(),
                    started: Timestamp::now(),
                    period: req.period,
                    progress: Progress::default(),
                    stopping: false,
                    stop: stop.clone(),
                },
            );
        }
        let (tx, mut rx) = oneshot::channel();
        let daemon = self.clone();
        let name = pair.to_owned();
        tokio::spawn(async move {
            let result = daemon.run_pair(&name, req, stop).await;
            daemon.live.lock().remove(&name);
            daemon.finished(&name, &result);
            let _ = tx.send(result);
        });
        let me = owner();
        let deadline = tokio::time::Instant::now() + START_WAIT;
        loop {
            tokio::select! {
                result = &mut rx => {
                    return match result {
                        Ok(Ok(report)) => Ok(Started::Finished(Box::new(report))),
                        Ok(Err(e)) => Err(StartError::Failed(e)),
                        Err(_) => Err(StartError::Failed(anyhow::anyhow!("the run's task ended"))),
                    };
                }
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
            let running = store.running_runs().await.unwrap_or_default();
            if let Some(r) = running
                .iter()
                .find(|r| r.pair == pair && r.id > before && r.owner.as_deref() == Some(&me))
            {
                self.live.set_run_id(pair, r.id);
                return Ok(Started::Running(r.id));
            }
            if tokio::time::Instant::now() > deadline {
                return Err(StartError::Failed(anyhow::anyhow!(
                    "the run of pair {pair} did not show in the history within {START_WAIT:?}"
                )));
            }
        }
    }

    /// Runs a pair to its end.
    async fn run_pair(
        self: &Arc<Self>,
        pair: &str,
        req: SyncRequest,
        stop: StopSignal,
    ) -> anyhow::Result<RunReport> {
        let setup = self.ctx.pair(pair).await?;
        let engine = self.ctx.engine().await?;
        let live = self.clone();
        let name = pair.to_owned();
        let mut opts = RunOptions::new()
            .trigger(req.trigger.as_str())
            .force(req.force)
            .stop(stop)
            .progress(Arc::new(move |p: Progress| {
                live.live.set_progress(&name, p)
            }));
        if let Some(period) = req.period {
            opts = opts.period(period);
        }
        if let Some(mode) = req.mode {
            opts = opts.mode(mode);
        }
        tracing::info!(pair, trigger = req.trigger.as_str(), "sync starts");
        let report = engine.run(&setup.config, &setup.a, &setup.b, opts).await;
        match &report {
            Ok(r) => {
                tracing::info!(pair, run = ?r.run_id, status = r.status.as_str(), "sync ended")
            }
            Err(e) => tracing::warn!(pair, "sync failed: {e}"),
        }
        Ok(report?)
    }

    /// Bookkeeping once a run ended: records applied, a fresh poll.
    fn finished(&self, pair: &str, result: &anyhow::Result<RunReport>) {
        if let Ok(r) = result
            && !r.dry_run
        {
            let c = &r.counts;
            let applied =
                c.created_a + c.created_b + c.updated_a + c.updated_b + c.deleted_a + c.deleted_b;
            *self
                .applied
                .lock()
                .expect("metrics poisoned")
                .entry(pair.to_owned())
                .or_default() += applied;
        }
        self.request_poll(Some(pair));
    }

    /// Waits until no run of this daemon is live, at most `limit`.
    pub async fn wait_idle(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        while self.live.len() > 0 {
            if tokio::time::Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        true
    }
}
