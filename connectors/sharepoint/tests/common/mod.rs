//! What the SharePoint tests share: a Graph simulator per test with one
//! list, and a connector pointed at it.

#![allow(dead_code)]

use std::time::Duration;

use serde_json::{Value as J, json};
use tandem_connector_sharepoint::SharePointConnector;
use tandem_http::RetryPolicy;
use tandem_sim::graph::GraphSim;
use tandem_sim::oauth;

/// The site of the test list.
pub const SITE: &str = "contoso.sharepoint.com,1111,2222";
/// The test list.
pub const LIST: &str = "Customers";

/// A Graph simulator with an empty list.
pub async fn sim() -> GraphSim {
    let sim = GraphSim::start().await.unwrap();
    sim.create_list(SITE, LIST);
    sim
}

/// The configuration of a connector to the simulator's list, keyed by
/// `Code`, with `extra` settings merged in.
pub fn config(sim: &GraphSim, extra: J) -> J {
    let mut config = json!({
        "tenant": "contoso.onmicrosoft.com",
        "client_id": oauth::CLIENT_ID,
        "client_secret": oauth::CLIENT_SECRET,
        "site": SITE,
        "list": LIST,
        "key": "Code",
        "authority": sim.url(),
        "graph_url": sim.url(),
    });
    if let (Some(c), J::Object(extra)) = (config.as_object_mut(), extra) {
        c.extend(extra);
    }
    config
}

/// A connector with short retry waits.
pub fn connector(sim: &GraphSim, extra: J) -> SharePointConnector {
    SharePointConnector::from_config(config(sim, extra))
        .unwrap()
        .with_retry(
            RetryPolicy::default()
                .attempts(8)
                .base_delay(Duration::from_millis(5))
                .max_total_wait(Duration::from_secs(30)),
        )
}

/// Adds a customer to the list as a user would; returns the item id.
pub fn customer(sim: &GraphSim, code: &str, title: &str, country: &str) -> String {
    sim.add_item(
        SITE,
        LIST,
        json!({ "Code": code, "Title": title, "Country": country }),
    )
}
