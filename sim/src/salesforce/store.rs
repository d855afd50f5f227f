//! The org's data: objects with declared fields, records with ids and
//! `SystemModstamp`s, the recycle bin and the log of deletes, query
//! locators, and what queries, upserts and deletes do to them.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value, json};

use super::soql::{self, Query};

/// The fields every object has, which nobody writes.
pub const SYSTEM: &[&str] = &[
    "Id",
    "IsDeleted",
    "SystemModstamp",
    "CreatedDate",
    "LastModifiedDate",
];

/// One record (in the recycle bin when `deleted`).
#[derive(Debug, Clone)]
pub struct Rec {
    pub fields: Map<String, Value>,
    pub modstamp: jiff::Timestamp,
    pub created: jiff::Timestamp,
    pub deleted: bool,
}

/// One object.
#[derive(Debug, Clone)]
pub struct SObject {
    pub prefix: String,
    /// The fields one may write (custom fields and such).
    pub fields: Vec<String>,
    pub records: BTreeMap<String, Rec>,
    /// Deletes as `getDeleted` lists them: id and date.
    pub deleted_log: Vec<(String, jiff::Timestamp)>,
    /// Live records by the value of each field upserted by: field, value,
    /// id.
    pub index: HashMap<String, HashMap<String, String>>,
}

impl SObject {
    /// An object with no records.
    pub fn new(prefix: &str, fields: &[&str]) -> Self {
        SObject {
            prefix: prefix.to_owned(),
            fields: fields.iter().map(|f| f.to_string()).collect(),
            records: BTreeMap::new(),
            deleted_log: Vec::new(),
            index: HashMap::new(),
        }
    }

    /// The live record whose `field` is `value`.
    fn find(&mut self, field: &str, value: &str) -> Option<String> {
        let records = &self.records;
        let index = self.index.entry(field.to_owned()).or_insert_with(|| {
            records
                .iter()
                .filter(|(_, r)| !r.deleted)
                .filter_map(|(id, r)| Some((text(r.fields.get(field)?), id.clone())))
                .collect()
        });
        index.get(value).cloned()
    }

    /// Forgets a record in every index.
    fn unindex(&mut self, id: &str) {
        for by_value in self.index.values_mut() {
            by_value.retain(|_, i| i != id);
        }
    }
}

/// A value as an external id's text.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The org.
#[derive(Debug, Clone)]
pub struct Org {
    /// `http://127.0.0.1:PORT`: the My Domain and the instance.
    pub url: String,
    pub version: String,
    pub objects: BTreeMap<String, SObject>,
    next_id: u64,
    /// Query results not read to the end, by locator.
    pub locators: HashMap<String, Vec<Value>>,
    next_locator: u64,
    /// API requests made today, and the daily limit.
    pub used: u64,
    pub limit: u64,
    /// Deletes before this are purged: `getDeleted` no longer lists them.
    pub earliest_deleted: jiff::Timestamp,
}

/// A status and a JSON body.
pub type Reply = (u16, Value);

/// A Salesforce error: a top-level array.
pub fn error(status: u16, code: &str, message: impl Into<String>) -> Reply {
    (
        status,
        json!([{"message": message.into(), "errorCode": code, "fields": []}]),
    )
}

/// An instant as Salesforce writes it: `2024-05-01T10:00:00.000+0000`.
pub fn time(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

/// The present, to the millisecond.
pub fn now() -> jiff::Timestamp {
    let t = jiff::Timestamp::now();
    jiff::Timestamp::from_millisecond(t.as_millisecond()).unwrap_or(t)
}

/// An instant floored to the minute (replication ignores seconds).
pub fn minute(t: jiff::Timestamp) -> jiff::Timestamp {
    jiff::Timestamp::from_second(t.as_second().div_euclid(60) * 60).unwrap_or(t)
}

const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

impl Org {
    pub fn new() -> Self {
        Org {
            url: String::new(),
            version: "61.0".into(),
            objects: BTreeMap::new(),
            next_id: 0,
            locators: HashMap::new(),
            next_locator: 0,
            used: 0,
            limit: 15_000,
            earliest_deleted: now() - jiff::SignedDuration::from_hours(24 * 15),
        }
    }

    /// A new 18-character id with the object's prefix, in creation order.
    pub fn new_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        let mut n = self.next_id;
        let mut digits = [b'0'; 12];
        for d in digits.iter_mut().rev() {
            *d = DIGITS[(n % 62) as usize];
            n /= 62;
        }
        format!("{prefix}{}AAA", String::from_utf8_lossy(&digits))
    }

    /// A field of a record as queries see it.
    pub fn value(name: &str, id: &str, rec: &Rec) -> Value {
        match name {
            "Id" => json!(id),
            "IsDeleted" => json!(rec.deleted),
            "SystemModstamp" | "LastModifiedDate" => json!(time(rec.modstamp)),
            "CreatedDate" => json!(time(rec.created)),
            f => rec.fields.get(f).cloned().unwrap_or(Value::Null),
        }
    }

    /// A record as a query returns it.
    pub fn render(&self, object: &str, id: &str, rec: &Rec, fields: &[String]) -> Value {
        let mut out = Map::new();
        out.insert(
            "attributes".into(),
            json!({"type": object, "url": format!("/services/data/v{}/sobjects/{object}/{id}", self.version)}),
        );
        for f in fields {
            out.insert(f.clone(), Org::value(f, id, rec));
        }
        Value::Object(out)
    }

    /// Runs a query (`all`: deleted records too); the first page and, when
    /// there are more rows than `batch`, a locator for the rest.
    pub fn query(&mut self, text: &str, all: bool, batch: usize) -> Reply {
        let q: Query = match soql::parse(text) {
            Ok(q) => q,
            Err(m) => return error(400, "MALFORMED_QUERY", m),
        };
        let Some(object) = self.objects.get(&q.object) else {
            return error(
                400,
                "INVALID_TYPE",
                format!("sObject type '{}' is not supported.", q.object),
            );
        };
        let known = |f: &str| SYSTEM.contains(&f) || object.fields.iter().any(|x| x == f);
        let named = q.fields.iter().map(String::as_str);
        let named = named.chain(q.order.iter().map(|(f, _)| f.as_str()));
        let mut named: Vec<&str> = named.collect();
        named.extend(q.filter.iter().flat_map(|c| c.fields()));
        if let Some(bad) = named.into_iter().find(|f| !known(f)) {
            return error(
                400,
                "INVALID_FIELD",
                format!("No such column '{bad}' on entity '{}'.", q.object),
            );
        }
        let mut rows: Vec<(&String, &Rec)> = object
            .records
            .iter()
            .filter(|(_, r)| all || !r.deleted)
            .filter(|(id, r)| {
                q.filter
                    .as_ref()
                    .is_none_or(|c| c.holds(&|f| Org::value(f, id, r)))
            })
            .collect();
        rows.sort_by(|(ia, a), (ib, b)| {
            for (f, desc) in &q.order {
                let ord = match f.as_str() {
                    "SystemModstamp" | "LastModifiedDate" => a.modstamp.cmp(&b.modstamp),
                    "CreatedDate" => a.created.cmp(&b.created),
                    _ => sort_key(&Org::value(f, ia, a)).cmp(&sort_key(&Org::value(f, ib, b))),
                };
                let ord = if *desc { ord.reverse() } else { ord };
                if ord.is_ne() {
                    return ord;
                }
            }
            ia.cmp(ib)
        });
        rows.truncate(q.limit.unwrap_or(usize::MAX));
        let rendered: Vec<Value> = rows
            .iter()
            .map(|(id, r)| self.render(&q.object, id, r, &q.fields))
            .collect();
        let total = rendered.len();
        self.next_locator += 1;
        let locator = format!("01gSIM{:09}", self.next_locator);
        self.page(locator, rendered, 0, batch, total)
    }

    /// A page of a query's rows from `offset`, keeping the rest.
    pub fn page(
        &mut self,
        locator: String,
        rows: Vec<Value>,
        offset: usize,
        batch: usize,
        total: usize,
    ) -> Reply {
        let end = (offset + batch).min(rows.len());
        let records: Vec<Value> = rows[offset.min(end)..end].to_vec();
        let done = end >= rows.len();
        let mut body = json!({"totalSize": total, "done": done, "records": records});
        if !done {
            body["nextRecordsUrl"] = json!(format!(
                "/services/data/v{}/query/{locator}-{end}",
                self.version
            ));
            self.locators.insert(locator, rows);
        } else {
            self.locators.remove(&locator);
        }
        (200, body)
    }

    /// The object whose ids start with the prefix of `id`.
    pub fn object_of(&self, id: &str) -> Option<String> {
        let prefix = id.get(..3)?;
        self.objects
            .iter()
            .find(|(_, o)| o.prefix == prefix)
            .map(|(n, _)| n.clone())
    }

    /// Upserts one record by external id; `Err` is a status code and a
    /// message for the item.
    pub fn upsert(
        &mut self,
        object: &str,
        ext: &str,
        value: &str,
        body: &Map<String, Value>,
        at: jiff::Timestamp,
    ) -> Result<(String, bool), (String, String)> {
        let obj = self.objects.get(object).ok_or_else(|| {
            (
                "NOT_FOUND".to_owned(),
                format!("sObject type '{object}' is not supported."),
            )
        })?;
        if !obj.fields.iter().any(|f| f == ext) {
            return Err((
                "INVALID_FIELD".into(),
                format!("No such column '{ext}' on entity '{object}'."),
            ));
        }
        for k in body.keys() {
            if k != "attributes" && !obj.fields.iter().any(|f| f == k) {
                return Err((
                    "INVALID_FIELD".into(),
                    format!("No such column '{k}' on entity '{object}'."),
                ));
            }
        }
        let prefix = obj.prefix.clone();
        let obj = self.objects.get_mut(object).expect("looked up above");
        let found = obj.find(ext, value);
        let (id, created) = match found {
            Some(id) => (id, false),
            None => (self.new_id(&prefix), true),
        };
        let obj = self.objects.get_mut(object).expect("looked up above");
        let rec = obj.records.entry(id.clone()).or_insert_with(|| Rec {
            fields: Map::new(),
            modstamp: at,
            created: at,
            deleted: false,
        });
        let before = rec.fields.clone();
        rec.fields.insert(ext.to_owned(), json!(value));
        for (k, v) in body {
            if k == "attributes" || k == ext {
                continue;
            }
            // Salesforce keeps no empty text: it is null.
            let v = if *v == json!("") {
                Value::Null
            } else {
                v.clone()
            };
            rec.fields.insert(k.clone(), v);
        }
        let after = rec.fields.clone();
        for (field, by_value) in &mut obj.index {
            if let Some(old) = before.get(field) {
                by_value.remove(&text(old));
            }
            if let Some(new) = after.get(field) {
                by_value.insert(text(new), id.clone());
            }
        }
        let rec = obj.records.get_mut(&id).expect("just inserted");
        rec.modstamp = at;
        Ok((id, created))
    }

    /// Deletes a record by id into the recycle bin.
    pub fn delete(&mut self, id: &str, at: jiff::Timestamp) -> Result<(), (String, String)> {
        let invalid = || {
            (
                "INVALID_CROSS_REFERENCE_KEY".to_owned(),
                "invalid cross reference id".to_owned(),
            )
        };
        let object = self.object_of(id).ok_or_else(invalid)?;
        let obj = self.objects.get_mut(&object).expect("found by prefix");
        let rec = obj.records.get_mut(id).ok_or_else(invalid)?;
        if rec.deleted {
            return Err(("ENTITY_IS_DELETED".into(), "entity is deleted".into()));
        }
        rec.deleted = true;
        rec.modstamp = at;
        obj.deleted_log.push((id.to_owned(), at));
        obj.unindex(id);
        Ok(())
    }
}

impl Default for Org {
    fn default() -> Self {
        Org::new()
    }
}

/// How values sort: nulls first, then by text or number.
fn sort_key(v: &Value) -> (u8, String) {
    match v {
        Value::Null => (0, String::new()),
        Value::Number(n) => (1, format!("{:030.6}", n.as_f64().unwrap_or(0.0) + 1e20)),
        Value::String(s) => (2, s.clone()),
        other => (3, other.to_string()),
    }
}
