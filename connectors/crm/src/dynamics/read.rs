//! Reading an entity set with change tracking: the first read of all rows
//! and later reads from the delta link, page by page.
//!
//! The cursor is the delta link of the read's last page, which Dataverse
//! bounds by the row version of the read's first request: a row changed
//! while the read pages is read again by the next read (Dataverse returns
//! each changed row once, as it is then), so nothing committed after the
//! read started is skipped. That is the service's guarantee; the
//! connector adds no window, since the token is opaque.

use std::sync::Arc;

use futures::stream::{self, BoxStream};
use futures::{StreamExt, TryStreamExt};
use serde::Deserialize;
use tandem_core::{BatchStream, Change, Error, ReadRequest, ReadScope, Result};
use tandem_http::HttpError;

use super::{Dynamics, MAX_PAGE, Row, is_expired, odata_headers};
use crate::entity::Entity;
use crate::{CONNECTOR, batches, cursor};

/// One page of a change-tracking read.
#[derive(Debug, Deserialize)]
struct Page {
    value: Vec<Row>,
    #[serde(rename = "@odata.nextLink")]
    next: Option<String>,
    #[serde(rename = "@odata.deltaLink")]
    delta: Option<String>,
}

impl Page {
    /// How many rows of the page are deletions (`$deletedEntity`, with
    /// reason `deleted` or `changed`).
    fn deletions(&self) -> usize {
        self.value.iter().filter(|r| is_deletion(r)).count()
    }
}

fn is_deletion(row: &Row) -> bool {
    row.get("@odata.context")
        .and_then(|c| c.as_str())
        .is_some_and(|c| c.ends_with("$deletedEntity"))
        || (row.contains_key("reason") && row.contains_key("id") && row.len() <= 3)
}

/// Reads an entity set: in full (which starts change tracking), or from
/// the delta link of the cursor. The first page is fetched before the
/// stream is returned, so that an expired delta token is
/// [`Error::CursorExpired`] here. An incremental read whose changes hold
/// a deletion is [`Error::CursorExpired`] too: Dataverse names deleted
/// rows by id only, and only a full read tells which keys are gone.
pub(super) async fn read(
    d: &Dynamics,
    entity: Arc<Entity>,
    request: ReadRequest,
) -> Result<BatchStream> {
    let wanted = entity.wanted(request.fields.as_deref());
    let (first, incremental) = match &request.scope {
        ReadScope::Full => {
            let mut url = d.set_url(&entity);
            if let Some(select) = entity.select(wanted.as_deref(), &[entity.modified]) {
                url.push_str("?$select=");
                url.push_str(&select.join(","));
            }
            (url, false)
        }
        ReadScope::Since(c) => (
            cursor::decode::<String>(&entity.name, wanted.as_deref(), c)?,
            true,
        ),
        _ => {
            return Err(Error::config(
                CONNECTOR,
                "Dynamics entities are not read by day",
            ));
        }
    };
    let page_size = d.page_size.unwrap_or(request.batch_size).clamp(1, MAX_PAGE);
    let what = format!("reading changes of entity set {}", entity.name);
    let pages = |url: String| -> BoxStream<'static, Result<Page>> {
        let mut headers = odata_headers();
        let prefer = format!("odata.track-changes,odata.maxpagesize={page_size}");
        headers.insert("prefer", prefer.parse().expect("valid header"));
        let name = entity.name.clone();
        d.http
            .pages(what.clone(), url, headers, |r| {
                let page: Page = r.json()?;
                let next = page.next.clone();
                if next.is_none() && page.delta.is_none() {
                    return Err(r.malformed("the last page carries no @odata.deltaLink"));
                }
                Ok((page, next))
            })
            .map_err(move |e| page_error(&name, e))
            .boxed()
    };

    let mut stream = pages(first);
    let Some(first_page) = stream.try_next().await? else {
        return Err(Error::other(CONNECTOR, "a read returned no page"));
    };
    if incremental {
        let mut deletions = first_page.deletions();
        if let Some(next) = first_page.next.clone() {
            // Deletions come last: look through the remaining pages first,
            // then read them again for the changes.
            while let Some(page) = stream.try_next().await? {
                deletions += page.deletions();
            }
            stream = pages(next);
        }
        if deletions > 0 {
            return Err(cursor::expired(
                &entity.name,
                format!(
                    "{deletions} rows were deleted (or left the set) since the last read; \
                     Dataverse names them by id only, so a full read finds which keys are gone"
                ),
            ));
        }
    }
    let batch_size = request.batch_size.max(1);
    let out = stream::once(async { Ok(first_page) })
        .chain(stream)
        .map_ok(move |page| {
            let cursor = page
                .delta
                .as_ref()
                .map(|link| cursor::encode(&entity.name, wanted.as_deref(), link.clone()));
            let last = page.delta.is_some();
            let rows = page.value.into_iter().filter(|r| !is_deletion(r));
            let converted =
                rows.map(|row| entity.record(row, wanted.as_deref()).map(Change::Upsert));
            stream::iter(
                batches(converted, batch_size, last, cursor)
                    .into_iter()
                    .map(Ok),
            )
        })
        .try_flatten();
    Ok(out.boxed())
}

/// An error of a page: an expired delta token is [`Error::CursorExpired`].
fn page_error(entity: &str, e: HttpError) -> Error {
    if is_expired(&e) {
        cursor::expired(entity, e.message().to_owned())
    } else {
        e.into()
    }
}
