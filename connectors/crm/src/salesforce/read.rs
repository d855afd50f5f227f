//! Reading an object: in full ordered by `(SystemModstamp, Id)`, or from a
//! cursor through `queryAll` (deleted rows included) after checking with
//! `getDeleted` that Salesforce still knows every delete since. The cursor
//! and its lookback window are described in [`super::window`].

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use serde::Deserialize;
use tandem_core::{
    Batch, BatchStream, Change, Cursor, DayCount, Error, ReadRequest, ReadScope, RecordError,
    Result,
};

use super::soql::{self, Page};
use super::window::{DELETED, Seen, State};
use super::{Row, Salesforce, sf_error};
use crate::entity::{Entity, parse_time};
use crate::{CONNECTOR, batches, cursor};

/// How far back `getDeleted` reaches.
const DELETED_WINDOW_DAYS: i64 = 15;

/// How far back `getUpdated` reaches.
const UPDATED_WINDOW_DAYS: i64 = 30;

/// Reads an object; see the crate documentation for how.
pub(super) async fn read(
    sf: &Salesforce,
    entity: Arc<Entity>,
    request: ReadRequest,
) -> Result<BatchStream> {
    let base = sf.base().await?;
    let cursor_fields = entity.wanted(request.fields.as_deref());
    let wanted = sf.wanted(&base, &entity, request.fields.as_deref()).await?;
    let page_size = soql::page_size(sf.page_size, request.batch_size);
    let (query, all, state) = match &request.scope {
        ReadScope::Full => {
            let q = soql::select(&entity, &wanted, &[]);
            (format!("{q} ORDER BY SystemModstamp,Id"), false, None)
        }
        ReadScope::Since(c) => {
            let mut state: State = cursor::decode(&entity.name, cursor_fields.as_deref(), c)?;
            let (deleted_from, covered) =
                check_deletes(sf, &base, &entity, state.deleted_from).await?;
            let mut q = soql::select(&entity, &wanted, &["IsDeleted"]);
            if let Some(from) = state.from() {
                q.push_str(&format!(
                    " WHERE SystemModstamp >= {}",
                    soql::datetime(from)
                ));
            }
            q.push_str(" ORDER BY SystemModstamp,Id");
            state.deleted_from = deleted_from;
            (q, true, Some((state, covered)))
        }
        _ => {
            return Err(Error::config(
                CONNECTOR,
                "Salesforce objects are not read by day",
            ));
        }
    };
    let what = format!("querying object {}", entity.name);
    let mut pages = sf.query(&base, all, &query, page_size, what);
    let first = pages
        .try_next()
        .await?
        .ok_or_else(|| Error::other(CONNECTOR, "a query returned no page"))?;
    let answered = first.date.unwrap_or_else(jiff::Timestamp::now);
    let (state, covered) = match state {
        Some(s) => s,
        // Deletes made from a little before the full read on are checked
        // by the next read.
        None => (
            State::full(answered - jiff::SignedDuration::from_mins(5)),
            None,
        ),
    };
    let reader = Reader {
        pages,
        first: Some(first),
        entity,
        wanted,
        cursor_fields,
        state: Some(state),
        answered,
        covered,
        batch_size: request.batch_size.max(1),
        ready: VecDeque::new(),
        done: false,
    };
    Ok(futures::stream::try_unfold(reader, Reader::next).boxed())
}

/// A read in progress.
struct Reader {
    pages: BoxStream<'static, Result<Page>>,
    first: Option<Page>,
    entity: Arc<Entity>,
    wanted: Vec<String>,
    cursor_fields: Option<Vec<String>>,
    /// The cursor being made: the window and the rows reported in it.
    state: Option<State>,
    /// Salesforce's clock when it answered the query.
    answered: jiff::Timestamp,
    /// `getDeleted`'s `latestDateCovered` at the start of the read.
    covered: Option<jiff::Timestamp>,
    batch_size: usize,
    ready: VecDeque<Batch>,
    done: bool,
}

impl Reader {
    async fn next(mut self) -> Result<Option<(Batch, Self)>> {
        loop {
            if let Some(b) = self.ready.pop_front() {
                return Ok(Some((b, self)));
            }
            if self.done {
                return Ok(None);
            }
            let page = match self.first.take() {
                Some(p) => Some(p),
                None => self.pages.try_next().await?,
            };
            match page {
                Some(page) => {
                    let changes: Vec<_> = page
                        .rows
                        .into_iter()
                        .filter_map(|r| self.change(r))
                        .collect();
                    let b = batches(changes.into_iter(), self.batch_size, false, None);
                    self.ready.extend(b);
                }
                None => {
                    self.done = true;
                    let state = self.state.take().expect("taken once, at the end");
                    let state = state.next(self.answered, self.covered);
                    let c = cursor::encode(&self.entity.name, self.cursor_fields.as_deref(), state);
                    self.ready.push_back(Batch {
                        cursor: Some(c),
                        ..Batch::default()
                    });
                }
            }
        }
    }

    /// The change a row is, or `None` for a row of the window reported
    /// before with the same content (or a deleted row without a key,
    /// which was never synced).
    fn change(&mut self, row: Row) -> Option<std::result::Result<Change, RecordError>> {
        let id = row.get("Id").and_then(|v| v.as_str()).map(str::to_owned);
        let stamp = row
            .get(self.entity.modified)
            .and_then(|v| v.as_str())
            .and_then(parse_time);
        let (Some(id), Some(stamp)) = (id, stamp) else {
            return Some(Err(RecordError {
                location: format!("object {}", self.entity.name),
                key: None,
                message: "a row without Id or SystemModstamp".into(),
            }));
        };
        let state = self.state.as_mut().expect("held until the end");
        let ms = stamp.as_millisecond();
        if row.get("IsDeleted").and_then(|v| v.as_bool()) == Some(true) {
            let key = self.entity.key_of(&row).ok()?;
            return state
                .report(&id, Seen(ms, DELETED))
                .then_some(Ok(Change::Delete {
                    key,
                    at: Some(stamp),
                }));
        }
        match self.entity.record(row, Some(&self.wanted)) {
            // A zero hash is a delete's: an empty record counts as one.
            Ok(r) => state
                .report(&id, Seen(ms, r.content_hash().max(1)))
                .then_some(Ok(Change::Upsert(r))),
            Err(e) => Some(Err(e)),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Deleted {
    deleted_records: Vec<DeletedRecord>,
    earliest_date_available: Option<String>,
    latest_date_covered: Option<String>,
}

#[derive(Deserialize)]
struct DeletedRecord {
    id: String,
}

/// A replication date parameter.
fn iso(t: jiff::Timestamp) -> String {
    crate::encode::pct(&t.strftime("%Y-%m-%dT%H:%M:%S+00:00").to_string())
}

/// Checks that Salesforce still knows every delete since `from`: not when
/// `earliestDateAvailable` is after it, nor when a deleted id is no longer
/// in the recycle bin ([`Error::CursorExpired`]: the engine reads in
/// full). Returns where the next check starts, and `latestDateCovered`
/// (held back while a long-running transaction is under way).
async fn check_deletes(
    sf: &Salesforce,
    base: &str,
    entity: &Entity,
    from: jiff::Timestamp,
) -> Result<(jiff::Timestamp, Option<jiff::Timestamp>)> {
    let now = jiff::Timestamp::now();
    if now.duration_since(from) > jiff::SignedDuration::from_hours(24 * DELETED_WINDOW_DAYS) {
        return Err(cursor::expired(
            &entity.name,
            format!(
                "the last read was at {from}; getDeleted reaches back {DELETED_WINDOW_DAYS} days only"
            ),
        ));
    }
    let url = format!(
        "{base}/sobjects/{}/deleted/?start={}&end={}",
        entity.name,
        iso(from),
        iso(now)
    );
    let response = sf
        .http
        .get(url)
        .what(format!("listing deleted records of object {}", entity.name))
        .send()
        .await
        .map_err(sf_error)?;
    let deleted: Deleted = response.json().map_err(sf_error)?;
    let earliest = deleted
        .earliest_date_available
        .as_deref()
        .and_then(parse_time);
    // Deletes at or before the earliest date available may be gone.
    if let Some(earliest) = earliest.filter(|e| *e >= from) {
        return Err(cursor::expired(
            &entity.name,
            format!(
                "deletes were purged: Salesforce keeps them from {earliest}, the last read was at {from}"
            ),
        ));
    }
    let ids: HashSet<String> = deleted.deleted_records.into_iter().map(|d| d.id).collect();
    let mut found = HashSet::new();
    let list: Vec<&String> = ids.iter().collect();
    for chunk in list.chunks(200) {
        let q = format!(
            "SELECT Id FROM {} WHERE {}",
            entity.name,
            soql::in_list("Id", chunk.iter().map(|s| s.as_str()))
        );
        let what = format!("looking up deleted records of object {}", entity.name);
        for row in sf.query_rows(base, true, &q, what).await? {
            if let Some(id) = row.get("Id").and_then(|v| v.as_str()) {
                found.insert(id.to_owned());
            }
        }
    }
    let purged = ids.len() - ids.intersection(&found).count();
    if purged > 0 {
        return Err(cursor::expired(
            &entity.name,
            format!(
                "{purged} records deleted since the last read are no longer in the recycle bin (purged or hard-deleted)"
            ),
        ));
    }
    let latest = deleted.latest_date_covered.as_deref().and_then(parse_time);
    let next = latest.filter(|l| *l > from && *l <= now).unwrap_or(from);
    Ok((next, latest))
}

#[derive(Deserialize)]
struct Updated {
    ids: Vec<String>,
    #[serde(rename = "latestDateCovered")]
    latest_date_covered: Option<String>,
}

/// About how many records changed or were deleted since a cursor, from
/// `getUpdated` and `getDeleted` (to the minute: changes of the minute
/// before the cursor count again), on the day Salesforce covered up to.
pub(super) async fn pending(
    sf: &Salesforce,
    entity: &Entity,
    cursor: Option<&Cursor>,
) -> Result<Vec<DayCount>> {
    let Some(cursor) = cursor else {
        return Ok(Vec::new());
    };
    let state: State = cursor::decode_any(&entity.name, cursor)?;
    let base = sf.base().await?;
    let now = jiff::Timestamp::now();
    let days = |n: i64| now - jiff::SignedDuration::from_hours(24 * n);
    let list = |kind: &'static str, from: jiff::Timestamp| {
        sf.http
            .get(format!(
                "{base}/sobjects/{}/{kind}/?start={}&end={}",
                entity.name,
                iso(from),
                iso(now)
            ))
            .what(format!("listing {kind} records of object {}", entity.name))
            .send()
    };
    let from = state.deleted_from;
    let updated: Updated = list("updated", from.max(days(UPDATED_WINDOW_DAYS)))
        .await
        .map_err(sf_error)?
        .json()
        .map_err(sf_error)?;
    let deleted: Deleted = list("deleted", from.max(days(DELETED_WINDOW_DAYS)))
        .await
        .map_err(sf_error)?
        .json()
        .map_err(sf_error)?;
    let mut ids: HashSet<String> = updated.ids.into_iter().collect();
    ids.extend(deleted.deleted_records.into_iter().map(|d| d.id));
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let covered = updated
        .latest_date_covered
        .as_deref()
        .and_then(parse_time)
        .unwrap_or(now);
    Ok(vec![DayCount {
        day: covered.to_zoned(jiff::tz::TimeZone::UTC).date(),
        count: ids.len() as u64,
    }])
}
