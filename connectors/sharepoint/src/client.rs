//! The Graph calls of one list: pages of items, delta pages, and writes,
//! with Graph's errors turned into the engine's (410 resync, 412 eTag).

use futures::stream::BoxStream;
use serde_json::Value as J;
use tandem_core::{Error, Result};
use tandem_http::{HeaderMap, HttpClient, HttpError};

use crate::CONNECTOR;
use crate::config::Settings;

/// One page of items or changes.
pub(crate) struct Page {
    pub value: Vec<J>,
    /// The delta link, on the last page of a delta round.
    pub delta_link: Option<String>,
}

/// The list, through Graph.
#[derive(Debug, Clone)]
pub(crate) struct ListClient {
    pub http: HttpClient,
}

fn page_of(response: tandem_http::Response) -> Result<(Page, Option<String>), HttpError> {
    let mut body: serde_json::Map<String, J> = response.json()?;
    let value = match body.remove("value") {
        Some(J::Array(v)) => v,
        _ => return Err(response.malformed("no \"value\" array in the page")),
    };
    let link = |body: &serde_json::Map<String, J>, name: &str| {
        body.get(name).and_then(J::as_str).map(str::to_owned)
    };
    let next = link(&body, "@odata.nextLink");
    let delta_link = link(&body, "@odata.deltaLink");
    Ok((Page { value, delta_link }, next))
}

impl ListClient {
    /// Pages of `GET items?expand=fields(...)&$top=N`.
    pub fn items(
        &self,
        s: &Settings,
        select: Option<&[String]>,
        top: usize,
    ) -> BoxStream<'static, Result<Page, HttpError>> {
        let url = format!("{}?{}&$top={top}", s.items, s.expand(select));
        let what = format!("reading the items of list {}", s.list);
        self.http.pages(what, url, HeaderMap::new(), page_of)
    }

    /// Pages of a delta round from `url` (a delta link, or the start).
    pub fn delta(&self, s: &Settings, url: String) -> BoxStream<'static, Result<Page, HttpError>> {
        let what = format!("reading the changes of list {}", s.list);
        self.http.pages(what, url, HeaderMap::new(), page_of)
    }

    /// A delta link from now on (`items/delta?token=latest`).
    pub async fn latest(&self, s: &Settings) -> Result<String> {
        use futures::TryStreamExt;
        let url = format!("{}/delta?token=latest", s.items);
        let mut pages = self.delta(s, url);
        while let Some(page) = pages.try_next().await.map_err(|e| delta_error(s, e))? {
            if let Some(link) = page.delta_link {
                return Ok(link);
            }
        }
        Err(Error::Remote {
            connector: CONNECTOR.into(),
            status: None,
            message: format!(
                "asking for the delta link of list {}: the answer gave no @odata.deltaLink",
                s.list
            ),
            request_id: None,
        })
    }

    /// One item, with its fields.
    pub async fn item(
        &self,
        s: &Settings,
        id: &str,
        select: Option<&[String]>,
    ) -> Result<Option<J>> {
        let url = format!("{}/{id}?{}", s.items, s.expand(select));
        let what = format!("reading item {id} of list {}", s.list);
        match self.http.get(url).what(what).send().await {
            Ok(r) => Ok(Some(r.json()?)),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Creates an item; its id and eTag.
    pub async fn create(
        &self,
        s: &Settings,
        key: &str,
        fields: J,
    ) -> Result<(String, Option<String>)> {
        let what = format!("creating the item with key {key} in list {}", s.list);
        let response = self
            .http
            .post(s.items.clone())
            .json(&serde_json::json!({ "fields": fields }))
            .what(what)
            .send()
            .await?;
        let item: J = response.json()?;
        let id = item.get("id").and_then(J::as_str).map(str::to_owned);
        let id = id.ok_or_else(|| response.malformed("the created item has no id"))?;
        let etag = item.get("eTag").and_then(J::as_str).map(str::to_owned);
        Ok((id, etag))
    }

    /// Updates an item's fields if it is still at `etag`; its new eTag.
    pub async fn update(
        &self,
        s: &Settings,
        id: &str,
        key: &str,
        etag: Option<&str>,
        fields: J,
    ) -> Result<Option<String>> {
        let what = format!("updating item {id} (key {key}) of list {}", s.list);
        let mut call = self
            .http
            .patch(format!("{}/{id}/fields", s.items))
            .json(&fields)
            .idempotent(true)
            .what(what);
        if let Some(etag) = etag {
            call = call.header("If-Match", etag);
        }
        match call.send().await {
            Ok(r) => {
                let fields: J = r.json()?;
                Ok(fields
                    .get("@odata.etag")
                    .and_then(J::as_str)
                    .map(str::to_owned))
            }
            Err(e) if e.status() == Some(412) => Err(changed_meanwhile(s, id, key, &e)),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes an item; one already gone is not an error.
    pub async fn delete(&self, s: &Settings, id: &str, key: &str) -> Result<()> {
        let what = format!("deleting item {id} (key {key}) of list {}", s.list);
        match self
            .http
            .delete(format!("{}/{id}", s.items))
            .what(what)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.status() == Some(404) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// A 412: the item changed after this run read it.
fn changed_meanwhile(s: &Settings, id: &str, key: &str, e: &HttpError) -> Error {
    Error::Remote {
        connector: CONNECTOR.into(),
        status: Some(412),
        message: format!(
            "list {}, item {id} (key {key}): the item was changed by someone else after this \
             run read it (eTag mismatch); nothing was overwritten: run the sync again to take \
             the change into account",
            s.list
        ),
        request_id: e.request_id().map(str::to_owned),
    }
}

/// A delta error: 410 `resyncRequired` (or any 410) is an expired cursor,
/// which the engine answers with a full read and reconcile.
pub(crate) fn delta_error(s: &Settings, e: HttpError) -> Error {
    if e.status() == Some(410) {
        let inner = e
            .as_status()
            .and_then(|st| st.body.as_ref())
            .and_then(|b| b.pointer("/error/innerError/code"))
            .and_then(J::as_str)
            .map(|c| format!(" ({c})"))
            .unwrap_or_default();
        return Error::CursorExpired {
            connector: CONNECTOR.into(),
            entity: s.entity.clone(),
            message: format!(
                "Graph answered 410 {}{inner}: {}",
                e.code().unwrap_or("Gone"),
                e.message()
            ),
        };
    }
    e.into()
}
