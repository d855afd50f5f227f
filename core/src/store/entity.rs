//! The sea-orm entities of the store's tables (created by the migrations).
//!
//! Timestamps are unix milliseconds, hashes are `u64` bit-cast to `i64`,
//! records, conflicts and resolutions are postcard bytes, counts and errors
//! are JSON text.

/// `links`: one row per pair of linked records, with the base record.
pub mod links {
    use sea_orm::entity::prelude::*;

    /// One link.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "links")]
    pub struct Model {
        /// The link's id.
        #[sea_orm(primary_key)]
        pub id: i64,
        /// The pair.
        pub pair: String,
        /// The key on side A.
        pub a_key: Option<String>,
        /// The key on side B.
        pub b_key: Option<String>,
        /// Side A's content hash, bit-cast.
        pub hash_a: Option<i64>,
        /// Side B's content hash, bit-cast.
        pub hash_b: Option<i64>,
        /// The base record, postcard.
        pub base: Option<Vec<u8>>,
        /// Whether synchronization is off.
        pub disabled: bool,
        /// The day of the record's event time (`YYYY-MM-DD`), for pairs
        /// with a day ledger.
        pub day: Option<String>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `cursors`: one row per pair and side.
pub mod cursors {
    use sea_orm::entity::prelude::*;

    /// One side's cursor.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "cursors")]
    pub struct Model {
        /// The row's id.
        #[sea_orm(primary_key)]
        pub id: i64,
        /// The pair.
        pub pair: String,
        /// `a` or `b`.
        pub side: String,
        /// The cursor's bytes, or null when cleared.
        pub cursor: Option<Vec<u8>>,
        /// When it was last written, unix milliseconds.
        pub updated: i64,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `conflicts`: recorded conflicts, pending or resolved.
pub mod conflicts {
    use sea_orm::entity::prelude::*;

    /// One conflict.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "conflicts")]
    pub struct Model {
        /// The conflict's id.
        #[sea_orm(primary_key)]
        pub id: i64,
        /// The pair.
        pub pair: String,
        /// The run that found it.
        pub run_id: i64,
        /// The link, while it exists.
        pub link_id: Option<i64>,
        /// The key on side A, for lookups.
        pub a_key: Option<String>,
        /// The key on side B, for lookups.
        pub b_key: Option<String>,
        /// The conflict, postcard.
        pub conflict: Vec<u8>,
        /// `pending` or `resolved`.
        pub status: String,
        /// The resolution, postcard.
        pub resolution: Option<Vec<u8>>,
        /// Who resolved it.
        pub resolved_by: Option<String>,
        /// The losing record, postcard.
        pub loser: Option<Vec<u8>>,
        /// When it was recorded, unix milliseconds.
        pub created: i64,
        /// When it was resolved, unix milliseconds.
        pub resolved: Option<i64>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `runs`: the run history.
pub mod runs {
    use sea_orm::entity::prelude::*;

    /// One run.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "runs")]
    pub struct Model {
        /// The run's id.
        #[sea_orm(primary_key)]
        pub id: i64,
        /// The pair.
        pub pair: String,
        /// The mode.
        pub mode: String,
        /// What started it.
        pub trigger: String,
        /// Whether it was a dry run.
        pub dry_run: bool,
        /// Its status.
        pub status: String,
        /// When it started, unix milliseconds.
        pub started: i64,
        /// When it ended, unix milliseconds.
        pub ended: Option<i64>,
        /// Counts, JSON.
        pub counts: String,
        /// Errors, JSON.
        pub errors: String,
        /// The first day of the run's period (`YYYY-MM-DD`).
        pub period_from: Option<String>,
        /// The last day of the run's period.
        pub period_to: Option<String>,
        /// Days saved.
        pub saved_days: i64,
        /// Events saved.
        pub saved_events: i64,
        /// Per-day detail, JSON.
        pub days: Option<String>,
        /// The process that runs it (`host:pid`).
        pub owner: Option<String>,
        /// When its owner last said it is alive, unix milliseconds.
        pub heartbeat: Option<i64>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `ledger`: one row per pair and day that was ever synced, stale or failed.
pub mod ledger {
    use sea_orm::entity::prelude::*;

    /// One day of a pair.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "ledger")]
    pub struct Model {
        /// The row's id.
        #[sea_orm(primary_key)]
        pub id: i64,
        /// The pair.
        pub pair: String,
        /// The day, `YYYY-MM-DD`.
        pub day: String,
        /// `synced`, `stale` or `failed`.
        pub status: String,
        /// Events saved for the day.
        pub events: i64,
        /// The run that last set it.
        pub run_id: Option<i64>,
        /// When, unix milliseconds.
        pub updated: i64,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `journal_batches`: the before-images of one batch a run applied.
pub mod journal_batches {
    use sea_orm::entity::prelude::*;

    /// One batch of before-images.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "journal_batches")]
    pub struct Model {
        /// The batch's id, in the order written.
        #[sea_orm(primary_key)]
        pub id: i64,
        /// The run.
        pub run_id: i64,
        /// The pair.
        pub pair: String,
        /// `a` or `b`: the side written.
        pub side: String,
        /// The entity written.
        pub entity: String,
        /// How many entries `data` holds.
        pub entries: i64,
        /// The entries, postcard: key, record before, link before.
        pub data: Vec<u8>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `link_generations`: how often each pair's links changed.
pub mod link_generations {
    use sea_orm::entity::prelude::*;

    /// One pair's generation.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "link_generations")]
    pub struct Model {
        /// The row's id.
        #[sea_orm(primary_key)]
        pub id: i64,
        /// The pair.
        pub pair: String,
        /// Counts up with every change to the pair's links.
        pub generation: i64,
        /// Whether the `links` table holds an older generation than the
        /// snapshot, which is then the truth.
        pub behind: bool,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `link_snapshots`: a pair's whole link set, in parts.
pub mod link_snapshots {
    use sea_orm::entity::prelude::*;

    /// One part of a whole snapshot, or one delta.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "link_snapshots")]
    pub struct Model {
        /// The row's id.
        #[sea_orm(primary_key)]
        pub id: i64,
        /// The pair.
        pub pair: String,
        /// The links' generation this row made.
        pub generation: i64,
        /// The generation of the whole snapshot this row belongs to or
        /// builds on (`generation` itself for a part of a whole one).
        pub base: i64,
        /// This part's number, from 0 (0 for a delta).
        pub part: i64,
        /// How many parts the snapshot has (1 for a delta).
        pub parts: i64,
        /// How many links the part holds, or the delta changes.
        pub links: i64,
        /// The links of this part in id order, or the delta, postcard.
        pub data: Vec<u8>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `journal`: the before-image of every change a run applied, one row each
/// (runs journaled before `journal_batches`).
pub mod journal {
    use sea_orm::entity::prelude::*;

    /// One before-image.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "journal")]
    pub struct Model {
        /// The entry's id, in the order written.
        #[sea_orm(primary_key)]
        pub id: i64,
        /// The run.
        pub run_id: i64,
        /// The pair.
        pub pair: String,
        /// `a` or `b`: the side written.
        pub side: String,
        /// The entity written.
        pub entity: String,
        /// The key written.
        pub key: String,
        /// The record before the change, postcard; null when it did not exist.
        pub before: Option<Vec<u8>>,
        /// The record's link before the change, postcard; null when it had none.
        pub link: Option<Vec<u8>>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `schedules`: a pair's weekly grid and automatic triggers, as saved by a
/// person (a pair without a row follows its manifest).
pub mod schedules {
    use sea_orm::entity::prelude::*;

    /// One pair's schedule.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "schedules")]
    pub struct Model {
        /// The row's id.
        #[sea_orm(primary_key)]
        pub id: i64,
        /// The pair.
        pub pair: String,
        /// 168 characters `0`/`1`: Monday 00-01 first, Sunday 23-24 last.
        pub grid: String,
        /// Whether automatic syncs run.
        pub active: bool,
        /// The automatic triggers, JSON (the host's shape).
        pub triggers: String,
        /// When it was saved, unix milliseconds.
        pub updated: i64,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `settings`: daemon settings changed at run time (`poll_interval`).
pub mod settings {
    use sea_orm::entity::prelude::*;

    /// One setting.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "settings")]
    pub struct Model {
        /// The row's id.
        #[sea_orm(primary_key)]
        pub id: i64,
        /// The setting's name.
        pub name: String,
        /// Its value, as text.
        pub value: String,
        /// When it was set, unix milliseconds.
        pub updated: i64,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `pair_locks`: one row per pair that ever started a run, locked by the
/// transaction that claims the pair for a run (see `runs::lease_run`).
pub mod pair_locks {
    use sea_orm::entity::prelude::*;

    /// One pair's lock row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "pair_locks")]
    pub struct Model {
        /// The row's id.
        #[sea_orm(primary_key)]
        pub id: i64,
        /// The pair.
        pub pair: String,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
