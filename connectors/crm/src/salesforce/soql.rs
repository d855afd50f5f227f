//! SOQL: building queries, and running them page by page through
//! `nextRecordsUrl`.

use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use serde::Deserialize;
use tandem_core::{Key, Result};
use tandem_http::HeaderMap;

use super::{Row, Salesforce, sf_error};
use crate::encode::{pct, soql_string};
use crate::entity::Entity;

/// One page of a query, with the server's clock when it answered.
pub(super) struct Page {
    pub rows: Vec<Row>,
    /// The `Date` header: when Salesforce answered (to the second).
    pub date: Option<jiff::Timestamp>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Answer {
    records: Vec<Row>,
    done: bool,
    next_records_url: Option<String>,
}

/// Salesforce's page sizes: 200 to 2000 rows.
pub(super) fn page_size(configured: Option<usize>, batch_size: usize) -> usize {
    configured.unwrap_or(batch_size).clamp(200, 2000)
}

/// `SELECT Id,SystemModstamp,<key>,<fields>...` with `extra` fields.
pub(super) fn select(entity: &Entity, wanted: &[String], extra: &[&str]) -> String {
    let mut fields: Vec<&str> = vec!["Id", entity.modified];
    fields.extend(extra);
    for f in entity.key.iter().chain(wanted) {
        if !fields.contains(&f.as_str()) {
            fields.push(f);
        }
    }
    format!("SELECT {} FROM {}", fields.join(","), entity.name)
}

/// A SOQL datetime literal, to the second (SOQL has no fractions).
pub(super) fn datetime(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `field IN ('a','b')` for these values.
pub(super) fn in_list<'a>(field: &str, values: impl Iterator<Item = &'a str>) -> String {
    let quoted: Vec<String> = values.map(soql_string).collect();
    format!("{field} IN ({})", quoted.join(","))
}

/// `ExtId__c IN (...)` for keys of an entity.
pub(super) fn key_in(entity: &Entity, keys: &[Key]) -> String {
    in_list(&entity.key[0], keys.iter().map(Key::as_str))
}

impl Salesforce {
    /// Runs a query (`queryAll` with `all`: deleted rows too), page by page.
    pub(super) fn query(
        &self,
        base: &str,
        all: bool,
        soql: &str,
        page_size: usize,
        what: String,
    ) -> BoxStream<'static, Result<Page>> {
        let endpoint = if all { "queryAll" } else { "query" };
        let url = format!("{base}/{endpoint}?q={}", pct(soql));
        let mut headers = HeaderMap::new();
        let options = format!("batchSize={page_size}");
        headers.insert(
            "sforce-query-options",
            options.parse().expect("valid header"),
        );
        self.http
            .pages(what, url, headers, |r| {
                let answer: Answer = r.json()?;
                if !answer.done && answer.next_records_url.is_none() {
                    return Err(r.malformed("done is false but there is no nextRecordsUrl"));
                }
                let date = r.header("date").and_then(|d| {
                    static PARSER: jiff::fmt::rfc2822::DateTimeParser =
                        jiff::fmt::rfc2822::DateTimeParser::new();
                    PARSER.parse_timestamp(d).ok()
                });
                let next = if answer.done {
                    None
                } else {
                    answer.next_records_url
                };
                Ok((
                    Page {
                        rows: answer.records,
                        date,
                    },
                    next,
                ))
            })
            .map_err(sf_error)
            .boxed()
    }

    /// Every row of a query, collected (for small answers: lookups by key
    /// or id).
    pub(super) async fn query_rows(
        &self,
        base: &str,
        all: bool,
        soql: &str,
        what: String,
    ) -> Result<Vec<Row>> {
        let mut pages = self.query(base, all, soql, 2000, what);
        let mut rows = Vec::new();
        while let Some(page) = pages.try_next().await? {
            rows.extend(page.rows);
        }
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries() {
        let e = Entity {
            name: "Account".into(),
            key: vec!["Ext__c".into()],
            fields: None,
            id: "Id".into(),
            modified: "SystemModstamp",
            system: &[],
        };
        assert_eq!(
            select(&e, &["Name".into(), "Id".into()], &["IsDeleted"]),
            "SELECT Id,SystemModstamp,IsDeleted,Ext__c,Name FROM Account"
        );
        let t: jiff::Timestamp = "2024-05-01T10:00:00.999Z".parse().unwrap();
        assert_eq!(datetime(t), "2024-05-01T10:00:00Z");
        assert_eq!(
            key_in(&e, &[Key::new("a'b"), Key::new("c")]),
            "Ext__c IN ('a\\'b','c')"
        );
    }
}
