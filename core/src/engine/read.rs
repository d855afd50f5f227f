//! How a run reads each side, and the guards it checks before commit.

use super::classify::Classifier;
use super::index::LinkIndex;
use super::{Endpoint, Engine, Mode, PairConfig, Period};
use crate::error::{Error, Result};
use crate::source::{BatchStream, ReadRequest, ReadScope};
use crate::store::Side;

/// How one side is read this run.
pub(super) struct SideRead {
    pub(super) snapshot: bool,
    pub(super) cursor: Option<crate::record::Cursor>,
}

impl Engine {
    /// How to read a side: incrementally from its cursor when it has one
    /// and the mode allows, else in full (a snapshot).
    pub(super) async fn scope(
        &self,
        pair: &PairConfig,
        side: Side,
        end: &Endpoint,
        mode: Mode,
        force_full: bool,
        period: Option<Period>,
    ) -> Result<(ReadScope, bool)> {
        // A day run re-reads its days: by day where the source can, else in
        // full, leaving the other days alone.
        if let Some(p) = period {
            if end.source.capabilities().days {
                let time_zone = pair.day_zone().iana_name().unwrap_or("UTC").to_owned();
                return Ok((
                    ReadScope::Days {
                        from: p.from,
                        to: p.to,
                        time_zone,
                    },
                    true,
                ));
            }
            return Ok((ReadScope::Full, true));
        }
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
    pub(super) async fn open(
        &self,
        pair: &PairConfig,
        side: Side,
        end: &Endpoint,
        scope: ReadScope,
    ) -> Result<(BatchStream, bool)> {
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
        let (stream, fell_back) = match end.source.read(request(scope)).await {
            Err(Error::CursorExpired { .. }) if incremental => {
                tracing::warn!(pair = %pair.name, endpoint = %end.name, "cursor expired; reading in full");
                (end.source.read(request(ReadScope::Full)).await?, true)
            }
            other => (other?, false),
        };
        Ok((read_ahead(stream, end.name.clone()), fell_back))
    }

    /// For a run that does not read side B (a send matched by key): whether
    /// B's entity still holds what was synced to it. A few linked records
    /// are fetched (the first, middle and last); when none is there, or
    /// the entity is gone, B was dropped or emptied behind the pair's back
    /// and the run must not report it synchronized. `None` when it holds
    /// them, else what is wrong.
    pub(super) async fn target_gone(
        &self,
        pair: &PairConfig,
        b: &Endpoint,
        links: &LinkIndex,
    ) -> Result<Option<String>> {
        let Some(target) = &b.target else {
            return Ok(None);
        };
        let linked: Vec<&crate::record::Key> = links
            .rows()
            .iter()
            .filter(|r| !r.disabled && r.a_key.is_some())
            .filter_map(|r| r.b_key.as_ref())
            .collect();
        if linked.is_empty() {
            return Ok(None);
        }
        let mut sample = vec![linked[0].clone()];
        for k in [linked[linked.len() / 2], linked[linked.len() - 1]] {
            if !sample.contains(k) {
                sample.push(k.clone());
            }
        }
        let what = format!("entity {} on endpoint {} (side B)", pair.b_entity, b.name);
        match target.fetch(&pair.b_entity, &sample).await {
            Ok(found) if !found.is_empty() => Ok(None),
            Ok(_) => Ok(Some(format!(
                "{what} no longer holds the records synced to it ({} linked; none of {} found)",
                linked.len(),
                sample
                    .iter()
                    .map(|k| k.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
            Err(e) => Ok(Some(format!(
                "{what} could not be checked for the {} records synced to it: {e}",
                linked.len()
            ))),
        }
    }

    /// Whether side B's entity holds no record (or does not exist yet), as
    /// far as its first batch tells: a run that does not read B writes its
    /// first load there without looking each record up first.
    pub(super) async fn empty(&self, pair: &PairConfig, b: &Endpoint) -> Result<bool> {
        let request = ReadRequest::full(pair.b_entity.clone())
            .with_fields(pair.b_fields())
            .with_batch_size(1);
        let mut stream = match b.source.read(request).await {
            Err(Error::NotFound { .. }) => return Ok(true),
            other => other?,
        };
        use futures::StreamExt;
        match stream.next().await {
            None => Ok(true),
            Some(Err(Error::NotFound { .. })) => Ok(true),
            Some(Err(e)) => Err(e),
            Some(Ok(batch)) => Ok(batch.changes.is_empty() && batch.rejected.is_empty()),
        }
    }

    pub(super) fn guard(
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

/// How many batches a source reads ahead of the run.
const READ_AHEAD: usize = 1;

/// Reads a stream ahead in a task of its own: the source reads and decodes
/// the next batch while the run decides the one it has, so on two cores
/// reading, deciding and writing overlap. The task ends after the stream's
/// end or first error, or when the run drops the stream (it then finishes
/// the batch it is reading and drops the source's stream). A task that dies
/// without saying the stream ended (a panic) fails the read: a read cut
/// short must never pass for a whole one.
fn read_ahead(mut stream: BatchStream, endpoint: String) -> BatchStream {
    use futures::StreamExt;
    let (tx, rx) = tokio::sync::mpsc::channel::<Option<Result<crate::source::Batch>>>(READ_AHEAD);
    tokio::spawn(async move {
        loop {
            let next = stream.next().await;
            let last = !matches!(next, Some(Ok(_)));
            if tx.send(next).await.is_err() || last {
                break;
            }
        }
    });
    Box::pin(futures::stream::unfold(
        Some((rx, endpoint)),
        |state| async move {
            let (mut rx, endpoint) = state?;
            match rx.recv().await {
                Some(Some(batch)) => Some((batch, Some((rx, endpoint)))),
                Some(None) => None,
                None => {
                    let e = Error::other(&endpoint, "the read stopped before its end");
                    Some((Err(e), None))
                }
            }
        },
    ))
}
