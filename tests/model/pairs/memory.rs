//! Memory ↔ memory: the reference connector on both sides, in process.

use async_trait::async_trait;
use tandem_core::engine::Endpoint;
use tandem_core::memory::MemoryConnector;
use tandem_core::{Record, Value};

use crate::program::Abilities;
use crate::world::{Kit, SideIo};

struct Side(&'static str, MemoryConnector);

pub fn timestamp(m: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_second(m).expect("a valid time")
}

#[async_trait]
impl SideIo for Side {
    async fn put(&self, key: &str, fields: &[(String, Option<String>)], modified: Option<i64>) {
        let mut r = Record::new(key).with("id", key);
        for (n, v) in fields {
            r.set(n.as_str(), v.as_deref().map_or(Value::Null, Value::from));
        }
        r.modified = modified.map(timestamp);
        self.1.put("people", r);
    }

    async fn remove(&self, key: &str) {
        self.1.remove("people", key);
    }

    async fn raw(&self) -> Vec<Record> {
        self.1.records("people")
    }

    fn endpoint(&self) -> Endpoint {
        Endpoint::new(self.0, self.1.clone())
    }
}

pub async fn kit() -> Kit {
    let config = serde_json::json!({ "entities": { "people": { "key": ["id"] } } });
    let a = MemoryConnector::from_config("a", config.clone()).expect("memory side a");
    let b = MemoryConnector::from_config("b", config).expect("memory side b");
    Kit {
        a: Box::new(Side("a", a)),
        b: Box::new(Side("b", b)),
        a_entity: "people".into(),
        b_entity: "people".into(),
        abilities: Abilities {
            nulls: true,
            modified: true,
            kills: true,
        },
        cursors: [true, true],
    }
}
