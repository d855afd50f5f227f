//! The feed's two calls, typed: `GET /days` and `GET /events` (paged by
//! `after_seq` until `more` is false).

use jiff::civil::Date;
use serde::Deserialize;
use serde_json::Value;
use tandem_core::Result;
use tandem_http::HttpClient;

/// One day of `GET /days`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct DayInfo {
    pub day: Date,
    pub events: u64,
    pub last_seq: u64,
}

/// The answer of `GET /days`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Days {
    pub days: Vec<DayInfo>,
    #[serde(default)]
    pub oldest_available: Option<Date>,
}

#[derive(Debug, Deserialize)]
struct EventsPage {
    events: Vec<Value>,
    next_after_seq: u64,
    more: bool,
}

/// The feed of one endpoint.
#[derive(Debug, Clone)]
pub(crate) struct Feed {
    pub http: HttpClient,
    pub base: String,
    pub page_size: u64,
}

impl Feed {
    /// The days from `from` to `to` that have events, and the horizon.
    pub async fn days(&self, from: Date, to: Date) -> Result<Days> {
        let days: Days = self
            .http
            .get(format!("{}/days?from={from}&to={to}", self.base))
            .what(format!("listing the days from {from} to {to}"))
            .send()
            .await?
            .json()?;
        Ok(days)
    }

    /// Every entry of a day after `after_seq`, in `seq` order, one page at
    /// a time (an updated event reappears with a higher `seq`: see
    /// [`last_wins`]).
    pub async fn day_entries(&self, day: Date, after_seq: u64) -> Result<Vec<Value>> {
        let mut all = Vec::new();
        let mut after = after_seq;
        loop {
            let response = self
                .http
                .get(format!(
                    "{}/events?day={day}&after_seq={after}&limit={}",
                    self.base, self.page_size
                ))
                .what(format!("reading the events of {day} after seq {after}"))
                .send()
                .await?;
            let page: EventsPage = response.json()?;
            let got = page.events.len();
            all.extend(page.events);
            if !page.more {
                break;
            }
            if page.next_after_seq <= after || got == 0 {
                return Err(response
                    .malformed(format!(
                        "more is true but next_after_seq {} does not move past {after}",
                        page.next_after_seq
                    ))
                    .into());
            }
            after = page.next_after_seq;
        }
        Ok(all)
    }
}

/// The last entry of each id, in the order of those last entries.
pub(crate) fn last_wins(entries: Vec<Value>) -> Vec<Value> {
    let mut seen = std::collections::HashSet::new();
    let mut out: Vec<Value> = entries
        .into_iter()
        .rev()
        .filter(|e| id_text(e).is_none_or(|id| seen.insert(id)))
        .collect();
    out.reverse();
    out
}

/// An entry's `seq`.
pub(crate) fn seq_of(e: &Value) -> Option<u64> {
    e.get("seq")?.as_u64()
}

/// An entry's id as text (`None` when it has none; such entries are kept
/// and reported as bad records later).
pub(crate) fn id_text(e: &Value) -> Option<String> {
    match e.get("id")? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_last_entry_of_an_id_wins() {
        let entries = vec![
            json!({"id": "a", "seq": 1, "status": "running"}),
            json!({"id": "b", "seq": 2}),
            json!({"id": "a", "seq": 3, "status": "completed"}),
        ];
        let out = last_wins(entries);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0]["id"], "b");
        assert_eq!(out[1]["status"], "completed");
    }
}
