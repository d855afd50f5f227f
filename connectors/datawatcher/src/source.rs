//! The feed as a source: full reads of every day still held, incremental
//! reads after a sequence number, reads of a range of days, pending counts
//! per day, and the retention horizon.

use std::collections::{BTreeSet, VecDeque};

use async_trait::async_trait;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use tandem_core::{
    Batch, BatchStream, Capabilities, Change, Cursor, DayCount, EntitySchema, Error, ReadRequest,
    ReadScope, Result, Source,
};

use crate::client::{Days, Feed, last_wins, seq_of};
use crate::config::Settings;
use crate::cursor::SeqCursor;
use crate::record::{Shape, day_in, schema};
use crate::{CONNECTOR, DataWatcherConnector};

/// Today in UTC plus two days: the last day any time zone may be in.
fn last_day() -> Date {
    let today = jiff::Timestamp::now().to_zoned(TimeZone::UTC).date();
    today.tomorrow().and_then(|d| d.tomorrow()).unwrap_or(today)
}

#[async_trait]
impl Source for DataWatcherConnector {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            cursors: true,
            deletes: false,
            days: true,
            transactions: false,
            idempotent_upsert: false,
        }
    }

    async fn entities(&self) -> Result<Vec<EntitySchema>> {
        Ok(vec![schema(&self.settings)])
    }

    async fn read(&self, request: ReadRequest) -> Result<BatchStream> {
        self.check_entity(&request.entity)?;
        let s = &self.settings;
        let plan = match &request.scope {
            ReadScope::Full => {
                let listing = self.feed.days(s.first_day, last_day()).await?;
                let cursor = SeqCursor::default();
                let days = listing.days.iter().map(|d| (d.day, 0));
                Plan::new(days, None, Some((cursor, max_seq(&listing))))
            }
            ReadScope::Since(cursor) => {
                let cursor = SeqCursor::decode(&request.entity, cursor)?;
                let after = cursor.start();
                let listing = self.feed.days(s.first_day, last_day()).await?;
                let days = listing
                    .days
                    .iter()
                    .filter(|d| d.last_seq > after)
                    .map(|d| (d.day, after));
                Plan::new(days, None, Some((cursor, max_seq(&listing))))
            }
            ReadScope::Days {
                from,
                to,
                time_zone,
            } => {
                let tz = TimeZone::get(time_zone).map_err(|e| {
                    Error::config(CONNECTOR, format!("time zone {time_zone:?}: {e}"))
                })?;
                // The feed's days are its own; an event of a day in another
                // zone may sit on the feed's day before or after.
                let wide_from = from.yesterday().unwrap_or(*from);
                let wide_to = to.tomorrow().unwrap_or(*to);
                let listing = self.feed.days(wide_from, wide_to).await?;
                if let Some(oldest) = listing.oldest_available.filter(|o| from < o) {
                    return Err(Error::Other {
                        connector: CONNECTOR.into(),
                        message: format!(
                            "entity {:?}: the days {from}..{to} start before the feed's retention \
                             horizon {oldest} (oldest_available): the events of the days before \
                             it are gone and cannot be synced",
                            request.entity
                        ),
                    });
                }
                let days = listing.days.iter().map(|d| (d.day, 0));
                Plan::new(days, Some((*from, *to, tz)), None)
            }
            other => {
                return Err(Error::config(
                    CONNECTOR,
                    format!("read scope {other:?} is not supported"),
                ));
            }
        };
        let reader = Reader {
            feed: self.feed.clone(),
            settings: self.settings.clone(),
            requested: request.fields.clone(),
            batch_size: request.batch_size.max(1),
            plan,
            out: VecDeque::new(),
            finished: false,
        };
        Ok(Box::pin(futures::stream::try_unfold(
            reader,
            |mut r| async move { Ok(r.next_batch().await?.map(|b| (b, r))) },
        )))
    }

    async fn pending(&self, entity: &str, cursor: Option<&Cursor>) -> Result<Vec<DayCount>> {
        self.check_entity(entity)?;
        let listing = self.feed.days(self.settings.first_day, last_day()).await?;
        let Some(cursor) = cursor else {
            return Ok(listing
                .days
                .iter()
                .filter(|d| d.events > 0)
                .map(|d| DayCount {
                    day: d.day,
                    count: d.events,
                })
                .collect());
        };
        let cursor = SeqCursor::decode(entity, cursor)?;
        let after = cursor.start();
        let mut counts = Vec::new();
        for d in listing.days.iter().filter(|d| d.last_seq > after) {
            let entries = last_wins(self.feed.day_entries(d.day, after).await?);
            let count = entries
                .iter()
                .filter(|e| seq_of(e).is_none_or(|s| cursor.is_new(s)))
                .count() as u64;
            if count > 0 {
                counts.push(DayCount { day: d.day, count });
            }
        }
        Ok(counts)
    }

    async fn horizon(&self, entity: &str) -> Result<Option<Date>> {
        self.check_entity(entity)?;
        let today = jiff::Timestamp::now().to_zoned(TimeZone::UTC).date();
        Ok(self.feed.days(today, today).await?.oldest_available)
    }
}

fn max_seq(listing: &Days) -> u64 {
    listing.days.iter().map(|d| d.last_seq).max().unwrap_or(0)
}

/// Which days a read fetches, from which `seq`, and the cursor it goes on
/// from with the highest `seq` the listing gave (none for a read by day).
struct Plan {
    days: VecDeque<(Date, u64)>,
    /// Keep only events whose day in this zone is within the range.
    filter: Option<(Date, Date, TimeZone)>,
    cursor: Option<(SeqCursor, u64)>,
    /// The numbers seen above the cursor's floor.
    seen: BTreeSet<u64>,
}

impl Plan {
    fn new(
        days: impl Iterator<Item = (Date, u64)>,
        filter: Option<(Date, Date, TimeZone)>,
        cursor: Option<(SeqCursor, u64)>,
    ) -> Self {
        let mut days: Vec<_> = days.collect();
        days.sort();
        Plan {
            days: days.into(),
            filter,
            cursor,
            seen: BTreeSet::new(),
        }
    }

    /// The cursor the read ends with.
    fn end(&self) -> Option<Cursor> {
        let (cursor, listed) = self.cursor.as_ref()?;
        Some(
            cursor
                .next(*listed, &self.seen, jiff::Timestamp::now())
                .encode(),
        )
    }
}

/// Reads the planned days one at a time and hands out batches; memory is
/// bounded by the largest day, since the last entry of an id wins within
/// a day.
struct Reader {
    feed: Feed,
    settings: std::sync::Arc<Settings>,
    requested: Option<Vec<String>>,
    batch_size: usize,
    plan: Plan,
    out: VecDeque<Change>,
    finished: bool,
}

impl Reader {
    async fn next_batch(&mut self) -> Result<Option<Batch>> {
        if self.finished {
            return Ok(None);
        }
        while self.out.len() < self.batch_size {
            let Some((day, after)) = self.plan.days.pop_front() else {
                break;
            };
            self.read_day(day, after).await?;
        }
        let n = self.out.len().min(self.batch_size);
        let changes: Vec<Change> = self.out.drain(..n).collect();
        let last = self.out.is_empty() && self.plan.days.is_empty();
        if last {
            self.finished = true;
        }
        Ok(Some(Batch {
            changes,
            cursor: if last { self.plan.end() } else { None },
            rejected: Vec::new(),
        }))
    }

    /// Reads a day's entries after `after`: the last entry of each id, when
    /// an incremental read has not read it before.
    async fn read_day(&mut self, day: Date, after: u64) -> Result<()> {
        let entries = self.feed.day_entries(day, after).await?;
        if let Some((cursor, listed)) = &self.plan.cursor {
            let floor = cursor.floor(*listed);
            let seqs = entries.iter().filter_map(seq_of).filter(|s| *s > floor);
            self.plan.seen.extend(seqs);
        }
        let shape = Shape {
            settings: &self.settings,
            requested: self.requested.as_deref(),
        };
        for event in last_wins(entries) {
            if let (Some((cursor, _)), Some(seq)) = (&self.plan.cursor, seq_of(&event))
                && !cursor.is_new(seq)
            {
                continue;
            }
            if let Some((from, to, tz)) = &self.plan.filter {
                match day_in(&event, tz) {
                    Some(d) if *from <= d && d <= *to => {}
                    _ => continue,
                }
            }
            let seq = event.get("seq").cloned();
            let record = shape.record(event).map_err(|message| Error::BadRecord {
                connector: CONNECTOR.into(),
                location: format!(
                    "entity {}, day {day}, seq {}",
                    self.settings.entity,
                    seq.map_or("?".into(), |s| s.to_string())
                ),
                message,
            })?;
            self.out.push_back(Change::Upsert(record));
        }
        Ok(())
    }
}
