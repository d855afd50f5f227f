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
        match end.source.read(request(scope)).await {
            Err(Error::CursorExpired { .. }) if incremental => {
                tracing::warn!(pair = %pair.name, endpoint = %end.name, "cursor expired; reading in full");
                Ok((end.source.read(request(ReadScope::Full)).await?, true))
            }
            other => Ok((other?, false)),
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
