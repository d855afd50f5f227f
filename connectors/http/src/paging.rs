//! Paging: follow next links (`@odata.nextLink`, `nextRecordsUrl`) as a
//! stream of pages.

use futures::StreamExt;
use futures::stream::BoxStream;
use reqwest::header::HeaderMap;

use crate::client::{HttpClient, Response};
use crate::error::HttpError;

impl HttpClient {
    /// GETs `first`, then each next link that `extract` finds in a page,
    /// until it finds none. `extract` turns a page into what the stream
    /// yields and the next link, which is used unmodified (a relative link
    /// is resolved against the previous page's URL). Every page is one
    /// request through the retry policy; `headers` go with each. The stream
    /// stops at the first error, and a next link equal to the page's own
    /// URL is an error rather than a loop.
    pub fn pages<T, F>(
        &self,
        what: impl Into<String>,
        first: impl Into<String>,
        headers: HeaderMap,
        extract: F,
    ) -> BoxStream<'static, Result<T, HttpError>>
    where
        T: Send + 'static,
        F: FnMut(Response) -> Result<(T, Option<String>), HttpError> + Send + 'static,
    {
        let client = self.clone();
        let what = what.into();
        futures::stream::try_unfold((Some(first.into()), extract), move |(next, mut extract)| {
            let client = client.clone();
            let what = what.clone();
            let headers = headers.clone();
            async move {
                let Some(url) = next else {
                    return Ok(None);
                };
                let response = client
                    .get(url.clone())
                    .headers(headers)
                    .what(what)
                    .send()
                    .await?;
                let (page, next) = extract(response.clone())?;
                let next = next.map(|n| resolve(&url, &n));
                if next.as_deref() == Some(url.as_str()) {
                    return Err(response.malformed("the next link points at the same page"));
                }
                Ok(Some((page, (next, extract))))
            }
        })
        .boxed()
    }
}

/// A link resolved against the URL of the page it was found in.
pub fn resolve(base: &str, link: &str) -> String {
    match reqwest::Url::parse(base).and_then(|b| b.join(link)) {
        Ok(u) => u.to_string(),
        Err(_) => link.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_resolve_against_the_page() {
        assert_eq!(
            resolve(
                "https://x.my.salesforce.com/services/data/v61.0/query?q=1",
                "/services/data/v61.0/query/01g-2000"
            ),
            "https://x.my.salesforce.com/services/data/v61.0/query/01g-2000"
        );
        assert_eq!(resolve("http://a/b", "http://c/d?e=1"), "http://c/d?e=1");
    }
}
