//! The rows the state store reads and writes: links, runs, conflicts, commits.

use serde::{Deserialize, Serialize};

use crate::record::{Cursor, Key, Record};
use crate::resolve::{Conflict, Resolution};

/// One side of a pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// Side A.
    A,
    /// Side B.
    B,
}

impl Side {
    /// The stored name: `"a"` or `"b"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::A => "a",
            Side::B => "b",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "a" => Some(Side::A),
            "b" => Some(Side::B),
            _ => None,
        }
    }

    /// The other side.
    pub fn other(self) -> Self {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }
}

/// A link between a record on side A and a record on side B, as loaded at the
/// start of a run (without its base record; see
/// [`StateStore::load_bases`](super::StateStore::load_bases)).
///
/// A link may hold only one side's key: a record that was disabled before it
/// was ever paired, or one whose other side is not known yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkRow {
    /// The link's id, unique in the store.
    pub id: i64,
    /// The record's key on side A.
    pub a_key: Option<Key>,
    /// The record's key on side B.
    pub b_key: Option<Key>,
    /// The content hash of side A's record when it was last synchronized.
    pub hash_a: Option<u64>,
    /// The content hash of side B's record when it was last synchronized.
    pub hash_b: Option<u64>,
    /// Whether the user turned synchronization off for this record.
    pub disabled: bool,
    /// The day of the record's event time, for pairs with a day ledger.
    pub day: Option<jiff::civil::Date>,
}

/// A pair's links as a run loads them, with the generation they are: the
/// count of changes made to the pair's links so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkSet {
    /// The generation the links are.
    pub generation: i64,
    /// The links, in id order.
    pub rows: Vec<LinkRow>,
}

impl LinkRow {
    /// The key on one side.
    pub fn key(&self, side: Side) -> Option<&Key> {
        match side {
            Side::A => self.a_key.as_ref(),
            Side::B => self.b_key.as_ref(),
        }
    }
}

/// Insert (`id: None`) or update (`id: Some`) of one link in a [`Commit`].
///
/// `base: None` keeps the stored base record (an insert then has none).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkUpdate {
    /// The link to update, or `None` to insert a new one.
    pub id: Option<i64>,
    /// The record's key on side A.
    pub a_key: Option<Key>,
    /// The record's key on side B.
    pub b_key: Option<Key>,
    /// The content hash of side A's record as synchronized.
    pub hash_a: Option<u64>,
    /// The content hash of side B's record as synchronized.
    pub hash_b: Option<u64>,
    /// The new base (last synchronized) record, or `None` to keep it.
    pub base: Option<Record>,
    /// Whether synchronization is turned off for this record.
    pub disabled: bool,
    /// The day of the record's event time, for pairs with a day ledger.
    pub day: Option<jiff::civil::Date>,
}

impl From<&LinkRow> for LinkUpdate {
    /// An update that writes the link as it is and keeps its base record.
    fn from(r: &LinkRow) -> Self {
        LinkUpdate {
            id: Some(r.id),
            a_key: r.a_key.clone(),
            b_key: r.b_key.clone(),
            hash_a: r.hash_a,
            hash_b: r.hash_b,
            base: None,
            disabled: r.disabled,
            day: r.day,
        }
    }
}

/// The status of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// The run is in progress.
    Running,
    /// The run finished and its state was committed.
    Completed,
    /// The run finished and committed, but some records could not be read
    /// (`on_bad_record = "skip"`): they were held unchanged on both sides
    /// and are listed in the run's errors. The CLI exits 4.
    Partial,
    /// The run failed.
    Error,
    /// The run was asked to stop and is rolling back.
    Stopping,
    /// The run stopped; the previous state was restored.
    Stopped,
}

impl RunStatus {
    const ALL: [RunStatus; 6] = [
        RunStatus::Running,
        RunStatus::Completed,
        RunStatus::Partial,
        RunStatus::Error,
        RunStatus::Stopping,
        RunStatus::Stopped,
    ];

    /// The stored name (`running`, `completed`, `partial`, `error`,
    /// `stopping`, `stopped`).
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Completed => "completed",
            RunStatus::Partial => "partial",
            RunStatus::Error => "error",
            RunStatus::Stopping => "stopping",
            RunStatus::Stopped => "stopped",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether the run finished and committed its state (`completed` or
    /// `partial`).
    pub fn committed(self) -> bool {
        matches!(self, RunStatus::Completed | RunStatus::Partial)
    }

    /// Whether the run has not finished yet (`running` or `stopping`).
    pub fn is_active(self) -> bool {
        matches!(self, RunStatus::Running | RunStatus::Stopping)
    }
}

/// How many records of a run fell in each category and what was done to
/// them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunCounts {
    /// Linked records changed on both sides, differently.
    pub conflict: u64,
    /// Records that exist on one side only.
    pub new: u64,
    /// Linked records deleted on one side.
    pub deleted: u64,
    /// Records the user chose not to synchronize.
    pub disabled: u64,
    /// Records the same on both sides.
    pub synchronized: u64,
    /// Inactive records, not synchronized until re-activated.
    pub inactive: u64,
    /// Linked records changed on side A only.
    pub changed_a: u64,
    /// Linked records changed on side B only.
    pub changed_b: u64,
    /// Conflicts merged field by field.
    pub merged: u64,
    /// Records created on side A.
    pub created_a: u64,
    /// Records created on side B.
    pub created_b: u64,
    /// Records updated on side A.
    pub updated_a: u64,
    /// Records updated on side B.
    pub updated_b: u64,
    /// Records deleted on side A.
    pub deleted_a: u64,
    /// Records deleted on side B.
    pub deleted_b: u64,
    /// Records a target rejected.
    pub rejected: u64,
}

/// One error of a run, naming where it happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunError {
    /// The entity, when it applies.
    pub entity: Option<String>,
    /// The record's key, when it applies.
    pub key: Option<String>,
    /// Where: `file:line`, a connector, a side.
    pub location: Option<String>,
    /// What went wrong.
    pub message: String,
}

/// One run, as the history lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRow {
    /// The run's id; later runs have larger ids.
    pub id: i64,
    /// The pair.
    pub pair: String,
    /// The mode (`two_way`, `send`, `receive`, `full`).
    pub mode: String,
    /// What started it (`manual`, `schedule`, `polling`, `start`, `change`).
    pub trigger: String,
    /// Whether it was a dry run.
    pub dry_run: bool,
    /// Its status.
    pub status: RunStatus,
    /// When it started.
    pub started: jiff::Timestamp,
    /// When it ended, once it has.
    pub ended: Option<jiff::Timestamp>,
    /// Counts per category and per action.
    pub counts: RunCounts,
    /// Its errors.
    pub errors: Vec<RunError>,
    /// The days it covered, for day runs.
    pub period: Option<(jiff::civil::Date, jiff::civil::Date)>,
    /// Days it saved.
    pub saved_days: u64,
    /// Events it saved.
    pub saved_events: u64,
    /// What it did per day.
    pub days: Vec<DayDetail>,
    /// The process running it (`host:pid`), while it runs.
    pub owner: Option<String>,
    /// When its owner last said it was alive.
    pub heartbeat: Option<jiff::Timestamp>,
}

/// Where a day of a pair stands in the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DayStatus {
    /// Never synced (grey).
    NotSynced,
    /// Synced, with its saved events (green).
    Synced,
    /// Synced, but the source has new or changed events for it since
    /// (yellow): needs a forced resync.
    Stale,
    /// The last attempt failed (red).
    Failed,
}

impl DayStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            DayStatus::NotSynced => "not_synced",
            DayStatus::Synced => "synced",
            DayStatus::Stale => "stale",
            DayStatus::Failed => "failed",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            DayStatus::NotSynced,
            DayStatus::Synced,
            DayStatus::Stale,
            DayStatus::Failed,
        ]
        .into_iter()
        .find(|d| d.as_str() == s)
    }
}

/// One day of a pair in the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerRow {
    /// The day.
    pub day: jiff::civil::Date,
    /// Its status.
    pub status: DayStatus,
    /// Events saved for it.
    pub events: u64,
    /// The run that last set it.
    pub run_id: Option<i64>,
    /// When.
    pub updated: jiff::Timestamp,
}

/// What a run did for one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayDetail {
    /// The day.
    pub day: jiff::civil::Date,
    /// Its status after the run.
    pub status: DayStatus,
    /// Events saved (read from the source and in step on the target).
    pub events: u64,
    /// Why it failed or went stale, if it did.
    pub note: Option<String>,
    /// Where the day stood before the run (status and events), when it was
    /// in the ledger: what an undo puts back.
    #[serde(default)]
    pub previous: Option<(DayStatus, u64)>,
}

/// One before-image in a run's journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// The side written.
    pub side: Side,
    /// The entity written.
    pub entity: String,
    /// The key written.
    pub key: Key,
    /// The record before the change; `None` when it did not exist.
    pub before: Option<Record>,
    /// The record's link before the run; `None` when it had none.
    pub link: Option<LinkRow>,
}

/// Whether a conflict still waits for a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictStatus {
    /// Waiting in the manual queue.
    Pending,
    /// Decided, by a resolver or a person, or closed by a later run.
    Resolved,
}

impl ConflictStatus {
    /// The stored name: `pending` or `resolved`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConflictStatus::Pending => "pending",
            ConflictStatus::Resolved => "resolved",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(ConflictStatus::Pending),
            "resolved" => Some(ConflictStatus::Resolved),
            _ => None,
        }
    }
}

/// A recorded conflict: pending in the manual queue, or resolved with the
/// losing version kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConflictRow {
    /// The conflict's id.
    pub id: i64,
    /// The pair.
    pub pair: String,
    /// The run that found it.
    pub run_id: i64,
    /// The link it is about, while the link exists.
    pub link_id: Option<i64>,
    /// Both versions and the base.
    pub conflict: Conflict,
    /// Pending or resolved.
    pub status: ConflictStatus,
    /// The decision, once there is one.
    pub resolution: Option<Resolution>,
    /// Who decided: a resolver's name (`a_wins`, `newest`, ...), `manual`,
    /// `cli`, `api`, `ui`.
    pub resolved_by: Option<String>,
    /// The version that lost, never dropped silently.
    pub loser: Option<Record>,
    /// When it was recorded.
    pub created: jiff::Timestamp,
    /// When it was resolved.
    pub resolved: Option<jiff::Timestamp>,
}

/// A conflict to record in a [`Commit`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewConflict {
    /// The link it is about, when the link already exists.
    pub link_id: Option<i64>,
    /// Both versions and the base.
    pub conflict: Conflict,
    /// The resolver's decision, or `None` to queue it (pending).
    pub resolution: Option<Resolution>,
    /// The resolver's name, when it decided.
    pub resolved_by: Option<String>,
    /// The version that lost.
    pub loser: Option<Record>,
}

/// Everything one run changes in the store, applied in one transaction by
/// [`StateStore::commit`](super::StateStore::commit).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Commit {
    /// Ledger days to set (with this run as their run).
    pub days: Vec<DayDetail>,
    /// The run's period, for day runs.
    pub period: Option<(jiff::civil::Date, jiff::civil::Date)>,
    /// The run being finished.
    pub run_id: i64,
    /// The pair.
    pub pair: String,
    /// Links to insert or update.
    pub links: Vec<LinkUpdate>,
    /// Ids of links to remove.
    pub removed_links: Vec<i64>,
    /// New cursors per side; `None` clears a side's cursor.
    pub cursors: Vec<(Side, Option<Cursor>)>,
    /// Conflicts to record.
    pub conflicts: Vec<NewConflict>,
    /// Ids of pending conflicts that are now resolved.
    pub closed_conflicts: Vec<i64>,
    /// The run's final status.
    pub status: RunStatus,
    /// The run's counts.
    pub counts: RunCounts,
    /// The run's errors.
    pub errors: Vec<RunError>,
    /// The links the run started from. When nothing else changed the
    /// pair's links since they were loaded, the commit also stores the new
    /// link set as the pair's snapshot, which the next run loads in one read.
    pub snapshot: Option<LinkSet>,
}

impl Commit {
    /// A commit that changes nothing but finishes `run_id` with `status`.
    pub fn new(run_id: i64, pair: impl Into<String>, status: RunStatus) -> Self {
        Commit {
            run_id,
            pair: pair.into(),
            links: Vec::new(),
            removed_links: Vec::new(),
            days: Vec::new(),
            period: None,
            cursors: Vec::new(),
            conflicts: Vec::new(),
            closed_conflicts: Vec::new(),
            status,
            counts: RunCounts::default(),
            errors: Vec::new(),
            snapshot: None,
        }
    }
}
