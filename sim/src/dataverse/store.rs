//! The organization's data and what each Web API request does to it:
//! tables with alternate keys, rows with versions, the deletion log, and
//! the answers to reads (change tracking included), upserts and deletes.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value, json};

use super::odata::{self, KeyPredicate};

/// The code and message of an expired delta token.
pub const EXPIRED: (&str, &str) = (
    "0x80044352",
    "Version stamp associated with the client has expired. Please perform a full sync.",
);

/// One row.
#[derive(Debug, Clone)]
pub struct Row {
    pub fields: Map<String, Value>,
    pub version: u64,
    pub modified: jiff::Timestamp,
}

/// A row that was deleted, or left the set (`reason` `changed`).
#[derive(Debug, Clone)]
pub struct Deletion {
    pub id: String,
    pub version: u64,
    pub reason: &'static str,
}

/// One table (entity set).
#[derive(Debug, Clone)]
pub struct Table {
    pub logical: String,
    pub id_col: String,
    pub alt_keys: Vec<Vec<String>>,
    pub rows: BTreeMap<String, Row>,
    pub deletions: Vec<Deletion>,
    /// The columns one may write, when declared (else any).
    pub columns: Option<Vec<String>>,
    /// Row ids by the values of the first alternate key.
    index: HashMap<String, String>,
}

/// The whole organization.
#[derive(Debug, Clone)]
pub struct Org {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    pub tables: BTreeMap<String, Table>,
    /// The last version handed out (org-wide, as Dataverse's row versions).
    pub version: u64,
    /// Delta tokens older than this have expired.
    pub min_token: u64,
    /// Rows per page unless the client asks for fewer.
    pub page_size: usize,
    next_guid: u64,
}

/// The answer to one request.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
}

impl Answer {
    pub fn json(status: u16, body: Value) -> Self {
        Answer {
            status,
            headers: Vec::new(),
            body: Some(body),
        }
    }

    pub fn empty(status: u16) -> Self {
        Answer {
            status,
            headers: Vec::new(),
            body: None,
        }
    }
}

/// A Dataverse error answer.
pub fn error(status: u16, code: &str, message: impl Into<String>) -> Answer {
    Answer::json(
        status,
        json!({"error": {"code": code, "message": message.into()}}),
    )
}

/// The text a key value is indexed by.
fn index_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Table {
    /// A table whose rows are known by `id_col` and the alternate keys.
    pub fn new(logical: &str, id_col: &str, alt_keys: Vec<Vec<String>>) -> Self {
        Table {
            logical: logical.to_owned(),
            id_col: id_col.to_owned(),
            alt_keys,
            rows: BTreeMap::new(),
            deletions: Vec::new(),
            columns: None,
            index: HashMap::new(),
        }
    }

    fn index_key(&self, fields: &Map<String, Value>) -> Option<String> {
        let key = self.alt_keys.first()?;
        let parts: Option<Vec<String>> =
            key.iter().map(|k| fields.get(k).map(index_text)).collect();
        parts.map(|p| p.join("\u{1f}"))
    }

    /// The id of the row a key predicate names, or the error answer.
    pub fn find(&self, key: &KeyPredicate) -> Result<Option<String>, Answer> {
        let parts = match key {
            KeyPredicate::Id(id) => return Ok(self.rows.contains_key(id).then(|| id.clone())),
            KeyPredicate::Alternate(parts) => parts,
        };
        let mut names: Vec<&str> = parts.iter().map(|(n, _)| n.as_str()).collect();
        names.sort_unstable();
        let defined = self.alt_keys.iter().position(|k| {
            let mut k: Vec<&str> = k.iter().map(String::as_str).collect();
            k.sort_unstable();
            k == names
        });
        let Some(which) = defined else {
            return Err(error(
                400,
                "0x80060891",
                format!(
                    "The key attribute(s) {} are not defined as an alternate key for entity {}",
                    names.join(", "),
                    self.logical
                ),
            ));
        };
        if which == 0 {
            let fields: Map<String, Value> = parts.iter().cloned().collect();
            let text = self.index_key(&fields).expect("every part given");
            return Ok(self.index.get(&text).cloned());
        }
        Ok(self
            .rows
            .iter()
            .find(|(_, r)| {
                parts
                    .iter()
                    .all(|(n, v)| odata::same(r.fields.get(n).unwrap_or(&Value::Null), v))
            })
            .map(|(id, _)| id.clone()))
    }

    pub fn insert(&mut self, id: String, row: Row) {
        if let Some(text) = self.index_key(&row.fields) {
            self.index.insert(text, id.clone());
        }
        self.rows.insert(id, row);
    }

    pub fn remove(&mut self, id: &str) -> Option<Row> {
        let row = self.rows.remove(id)?;
        if let Some(text) = self.index_key(&row.fields) {
            self.index.remove(&text);
        }
        Some(row)
    }
}

impl Org {
    pub fn new(url: String) -> Self {
        Org {
            url,
            tables: BTreeMap::new(),
            version: 1000,
            min_token: 0,
            page_size: 5000,
            next_guid: 0,
        }
    }

    /// The Web API root, `{org}/api/data/v9.2`.
    pub fn api(&self) -> String {
        format!("{}/api/data/v9.2", self.url)
    }

    pub fn new_guid(&mut self) -> String {
        self.next_guid += 1;
        format!(
            "d5a1{:04x}-5e7a-4c1e-9a00-{:012x}",
            self.next_guid >> 48,
            self.next_guid
        )
    }

    /// A row as the Web API shows it: the eTag, the id, and the selected
    /// columns (all of them, with `versionnumber`, without `$select`).
    pub fn render(table: &Table, id: &str, row: &Row, select: Option<&[String]>) -> Value {
        let mut out = Map::new();
        out.insert(
            "@odata.etag".into(),
            json!(format!("W/\"{}\"", row.version)),
        );
        out.insert(table.id_col.clone(), json!(id));
        let modified = json!(row.modified.to_string());
        match select {
            Some(cols) => {
                for c in cols {
                    let v = match c.as_str() {
                        "modifiedon" => modified.clone(),
                        "versionnumber" => json!(row.version),
                        c if c == table.id_col => json!(id),
                        c => row.fields.get(c).cloned().unwrap_or(Value::Null),
                    };
                    out.insert(c.clone(), v);
                }
            }
            None => {
                for (k, v) in &row.fields {
                    out.insert(k.clone(), v.clone());
                }
                out.insert("modifiedon".into(), modified);
                out.insert("versionnumber".into(), json!(row.version));
            }
        }
        Value::Object(out)
    }
}

/// The `$select` option as a list.
pub fn select(options: &[(String, String)]) -> Option<Vec<String>> {
    odata::option(options, "$select").map(|s| {
        s.split(',')
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty())
            .collect()
    })
}

pub fn not_found_set(set: &str) -> Answer {
    error(
        404,
        "0x80060888",
        format!("Resource not found for the segment '{set}'."),
    )
}
