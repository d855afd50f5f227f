//! The feed's cursor never skips an entry that becomes visible out of
//! `seq` order (an adapter that numbers an entry before its write
//! commits): the next incremental read and `pending` see it, nothing read
//! before is reported again, and a late entry that an entry already read
//! replaced does not bring its older content back.

mod common;

use std::collections::BTreeMap;

use futures::TryStreamExt;
use serde_json::json;
use tandem_connector_datawatcher::DataWatcherConnector;
use tandem_core::{Batch, Change, Cursor, ReadRequest, Source, Value};
use tandem_sim::datawatcher::{self, DataWatcherSim};

const DAY: &str = "2024-08-01T10:00:00Z";

fn event(id: &str, status: &str) -> serde_json::Value {
    datawatcher::event(id, DAY, status, json!({}))
}

async fn read(c: &DataWatcherConnector, request: ReadRequest) -> (Vec<Change>, Cursor) {
    let batches: Vec<Batch> = c.read(request).await.unwrap().try_collect().await.unwrap();
    let cursor = batches.last().and_then(|b| b.cursor.clone()).unwrap();
    (
        batches.into_iter().flat_map(|b| b.changes).collect(),
        cursor,
    )
}

async fn since(c: &DataWatcherConnector, cursor: Cursor) -> (BTreeMap<String, String>, Cursor) {
    let (changes, next) = read(c, ReadRequest::since("events", cursor)).await;
    let mut statuses = BTreeMap::new();
    for change in changes {
        let Change::Upsert(r) = change else {
            panic!("the feed reports no deletes: {change:?}");
        };
        let status = match r.get("status") {
            Some(Value::Text(s)) => s.to_string(),
            other => format!("{other:?}"),
        };
        let key = r.key.as_str().to_owned();
        assert!(
            statuses.insert(key.clone(), status).is_none(),
            "{key} twice"
        );
    }
    (statuses, next)
}

fn expect(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn entries_that_become_visible_out_of_seq_order_are_read() {
    let sim = DataWatcherSim::start().await.unwrap();
    let c = common::connector(&sim, json!({}));
    sim.put(event("e1", "running"));
    sim.put(event("e2", "completed"));
    let (_, cursor) = read(&c, ReadRequest::full("events")).await;

    // Numbered before the read below, visible only after it: a new event
    // and an update of e1.
    let new = sim.hold(event("e3", "completed"));
    sim.put(event("e4", "completed"));
    let update = sim.hold(event("e1", "completed"));
    sim.put(event("e6", "running"));
    let (read1, cursor) = since(&c, cursor).await;
    assert_eq!(read1, expect(&[("e4", "completed"), ("e6", "running")]));

    sim.release(new);
    sim.release(update);
    let pending = c.pending("events", Some(&cursor)).await.unwrap();
    let counts: Vec<u64> = pending.iter().map(|d| d.count).collect();
    assert_eq!(counts, [2], "pending counts the late entries: {pending:?}");
    let (read2, next) = since(&c, cursor.clone()).await;
    assert_eq!(read2, expect(&[("e1", "completed"), ("e3", "completed")]));
    let (again, _) = since(&c, cursor).await;
    assert_eq!(again, read2, "reading again yields the same");
    let (none, _) = since(&c, next.clone()).await;
    assert!(none.is_empty(), "nothing is read twice: {none:?}");
    assert!(c.pending("events", Some(&next)).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_late_entry_replaced_by_one_already_read_changes_nothing() {
    let sim = DataWatcherSim::start().await.unwrap();
    let c = common::connector(&sim, json!({}));
    sim.put(event("e1", "running"));
    let (_, cursor) = read(&c, ReadRequest::full("events")).await;

    let stale = sim.hold(event("e1", "error"));
    sim.put(event("e1", "completed"));
    let (read1, cursor) = since(&c, cursor).await;
    assert_eq!(read1, expect(&[("e1", "completed")]));

    // The older entry shows up: e1's last entry is still the one read.
    sim.release(stale);
    let (read2, _) = since(&c, cursor).await;
    assert!(read2.is_empty(), "{read2:?}");
}

#[tokio::test]
async fn a_cursor_of_the_first_format_still_reads_on() {
    let sim = DataWatcherSim::start().await.unwrap();
    let c = common::connector(&sim, json!({}));
    sim.put(event("e1", "running"));
    let seq = sim.put(event("e2", "running"));
    sim.put(event("e3", "running"));
    let (read1, _) = since(&c, Cursor::from_text(&format!("seq:{seq}"))).await;
    assert_eq!(read1, expect(&[("e3", "running")]));
}
