//! The scheduler: once a second, each pair's grid and triggers decide
//! whether an automatic sync starts.
//!
//! - A selected slot (one hour of the week, in the pair's time zone) syncs
//!   the pair once: at the hour's start, or as soon as the daemon finds it
//!   due within the hour. A run of any kind that began within the hour
//!   counts.
//! - `after_start`: one sync that long after the daemon started.
//! - `every`: a sync when that long has passed since the last one began.
//! - `after_change`: a sync when the last poll (newer than the last run)
//!   found elements waiting.
//! - Nothing starts while the schedule is inactive, while the pair runs, or,
//!   with `skip_after_error`, while its last run failed (until a manual run
//!   succeeds).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use jiff::{Timestamp, ToSpan, Zoned};
use tandem_core::store::{RunRow, RunStatus};

use super::{Daemon, StartError, SyncRequest};
use crate::manifest::Schedule;
use crate::views::schedule;

/// How often the scheduler looks.
const TICK: Duration = Duration::from_secs(1);

/// How long the scheduler waits before trying a pair again after a sync
/// failed to start.
const RETRY_AFTER: Duration = Duration::from_secs(30);

/// What the scheduler knows about a pair at one moment.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    /// Now, in the pair's time zone.
    pub now: Zoned,
    /// When the daemon started.
    pub daemon_started: Timestamp,
    /// Whether the `after_start` sync has run.
    pub start_done: bool,
    /// The start of the last slot the scheduler ran.
    pub last_slot: Option<Timestamp>,
    /// When the last sync (not undo, resolve or dry run) began.
    pub last_started: Option<Timestamp>,
    /// When it ended.
    pub last_ended: Option<Timestamp>,
    /// Whether it failed.
    pub last_failed: bool,
    /// The last poll: when, and the elements waiting.
    pub poll: Option<(Timestamp, u64)>,
}

/// The start of the hour `now` is in.
pub fn slot_start(now: &Zoned) -> Timestamp {
    now.with()
        .minute(0)
        .second(0)
        .subsec_nanosecond(0)
        .build()
        .map(|z| z.timestamp())
        .unwrap_or_else(|_| now.timestamp())
}

/// The trigger of the sync due now, if one is: `start`, `schedule` or `change`.
pub fn due(s: &Schedule, c: &Clock) -> Option<&'static str> {
    if !s.active || (s.triggers.skip_after_error && c.last_failed) {
        return None;
    }
    let now = c.now.timestamp();
    if let Some(secs) = s.triggers.after_start_secs
        && !c.start_done
        && now >= c.daemon_started + (secs as i64).seconds()
    {
        return Some("start");
    }
    let day = c.now.weekday().to_monday_zero_offset() as usize;
    let hour = c.now.hour() as usize;
    if s.grid.slot(day, hour) {
        let slot = slot_start(&c.now);
        let ran = c.last_slot == Some(slot) || c.last_started.is_some_and(|t| t >= slot);
        if !ran {
            return Some("schedule");
        }
    }
    if let Some(secs) = s.triggers.every_secs {
        let elapsed = c
            .last_started
            .is_none_or(|t| now.duration_since(t).as_secs() >= secs as i64);
        if elapsed {
            return Some("schedule");
        }
    }
    if s.triggers.after_change
        && let Some((at, pending)) = c.poll
        && pending > 0
        && c.last_ended.is_none_or(|e| at > e)
    {
        return Some("change");
    }
    None
}

/// Whether a run counts as a sync for the schedule.
fn is_sync(r: &RunRow) -> bool {
    !r.dry_run && r.mode != "undo" && r.mode != "resolve"
}

/// What the scheduler remembers per pair.
#[derive(Default)]
struct Memory {
    start_done: bool,
    last_slot: Option<Timestamp>,
    retry_at: Option<tokio::time::Instant>,
}

/// Runs the scheduler until shutdown.
pub async fn run(d: Arc<Daemon>) {
    let mut memory: HashMap<String, Memory> = HashMap::new();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = d.shutdown.notified() => return,
        }
        if d.shutting_down() {
            return;
        }
        let names: Vec<String> = d.ctx.manifest.pairs.keys().cloned().collect();
        for name in names {
            let mem = memory.entry(name.clone()).or_default();
            if let Err(e) = tick(&d, &name, mem).await {
                tracing::warn!(pair = name.as_str(), "scheduler: {e:#}");
                mem.retry_at = Some(tokio::time::Instant::now() + RETRY_AFTER);
            }
        }
    }
}

async fn tick(d: &Arc<Daemon>, name: &str, mem: &mut Memory) -> anyhow::Result<()> {
    if d.live.contains(name)
        || mem
            .retry_at
            .is_some_and(|t| tokio::time::Instant::now() < t)
    {
        return Ok(());
    }
    let (sched, _) = schedule::load(&d.ctx, name).await?;
    if !sched.active {
        return Ok(());
    }
    let store = d.ctx.store().await?;
    let (recent, _) = store.runs(Some(name), 1, 20).await?;
    let last = recent.iter().find(|r| is_sync(r));
    if last.is_some_and(|r| r.status.is_active()) {
        return Ok(()); // another process runs it
    }
    let zone = d.ctx.manifest.pair(name)?.config.day_zone();
    let poll = d
        .polls
        .lock()
        .expect("polls poisoned")
        .get(name)
        .and_then(|p| p.pending.map(|n| (p.at, n)));
    let clock = Clock {
        now: Timestamp::now().to_zoned(zone),
        daemon_started: d.started,
        start_done: mem.start_done,
        last_slot: mem.last_slot,
        last_started: last.map(|r| r.started),
        last_ended: last.and_then(|r| r.ended),
        last_failed: last.is_some_and(|r| r.status == RunStatus::Error),
        poll,
    };
    let Some(trigger) = due(&sched, &clock) else {
        return Ok(());
    };
    match trigger {
        "start" => mem.start_done = true,
        "schedule" => mem.last_slot = Some(slot_start(&clock.now)),
        _ => {}
    }
    let req = SyncRequest {
        trigger: trigger.to_owned(),
        ..Default::default()
    };
    tracing::info!(pair = name, trigger, "automatic sync");
    let newest = recent.first().map_or(0, |r| r.id);
    match d.start_sync(name, req).await {
        Ok(_) | Err(StartError::Busy(_)) | Err(StartError::ShuttingDown) => Ok(()),
        Err(StartError::Failed(e)) => {
            // A run that failed is in the history (skip_after_error sees
            // it); a sync that could not start is tried again later.
            let (latest, _) = store.runs(Some(name), 1, 1).await?;
            if latest.first().is_some_and(|r| r.id > newest) {
                tracing::warn!(pair = name, "automatic sync failed: {e:#}");
                Ok(())
            } else {
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use super::*;
    use crate::manifest::{Grid, Triggers};

    fn at(h: i8, m: i8) -> Zoned {
        // 2024-08-05 is a Monday.
        date(2024, 8, 5)
            .at(h, m, 0, 0)
            .in_tz("Europe/Rome")
            .unwrap()
    }

    fn schedule(grid: &[&str], triggers: Triggers) -> Schedule {
        let entries: Vec<String> = grid.iter().map(|s| s.to_string()).collect();
        Schedule {
            grid: Grid::parse(&entries).unwrap(),
            active: true,
            triggers,
        }
    }

    fn clock(now: Zoned) -> Clock {
        Clock {
            daemon_started: now.timestamp() - 1.hour(),
            now,
            ..Default::default()
        }
    }

    #[test]
    fn a_slot_syncs_once_in_its_hour() {
        let s = schedule(&["Mon 08-10"], Triggers::default());
        assert_eq!(due(&s, &clock(at(7, 59))), None);
        let mut c = clock(at(8, 20));
        assert_eq!(due(&s, &c), Some("schedule"), "found due within the hour");
        c.last_slot = Some(slot_start(&c.now));
        assert_eq!(due(&s, &c), None, "once per slot");
        c.now = at(9, 0);
        assert_eq!(due(&s, &c), Some("schedule"), "the next slot");
        c.last_started = Some(at(9, 0).timestamp());
        assert_eq!(due(&s, &c), None, "a manual run in the hour counts");
        assert_eq!(due(&s, &clock(at(10, 0))), None);
    }

    #[test]
    fn inactive_and_failed_schedules_wait() {
        let mut s = schedule(&["daily *"], Triggers::default());
        let mut c = clock(at(8, 0));
        c.last_failed = true;
        assert_eq!(due(&s, &c), None, "skip after error");
        s.triggers.skip_after_error = false;
        assert_eq!(due(&s, &c), Some("schedule"));
        s.active = false;
        assert_eq!(due(&s, &c), None, "inactive");
    }

    #[test]
    fn triggers_start_every_and_change() {
        let t = Triggers {
            after_start_secs: Some(30),
            every_secs: Some(900),
            after_change: true,
            skip_after_error: true,
        };
        let s = schedule(&[], t);
        let mut c = clock(at(8, 0));
        c.daemon_started = c.now.timestamp() - 10.seconds();
        c.last_started = Some(c.now.timestamp() - 60.seconds());
        c.last_ended = Some(c.now.timestamp() - 50.seconds());
        assert_eq!(due(&s, &c), None, "10 s after start, a run a minute ago");
        c.daemon_started = c.now.timestamp() - 31.seconds();
        assert_eq!(due(&s, &c), Some("start"));
        c.start_done = true;
        assert_eq!(due(&s, &c), None);
        c.poll = Some((c.now.timestamp() - 55.seconds(), 4));
        assert_eq!(due(&s, &c), None, "the poll is older than the last run");
        c.poll = Some((c.now.timestamp(), 4));
        assert_eq!(due(&s, &c), Some("change"));
        c.poll = Some((c.now.timestamp(), 0));
        c.last_started = Some(c.now.timestamp() - 901.seconds());
        assert_eq!(due(&s, &c), Some("schedule"), "every 15 minutes");
    }
}
