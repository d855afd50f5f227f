//! One configured entity: its key, its field subset, and how CRM rows
//! become records and records become request bodies.

use serde_json::{Map, Value as Json};
use tandem_core::{Change, EntitySchema, FieldSchema, FieldType, Key, Record, RecordError, Value};

/// An entity as the connector uses it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entity {
    /// The entity set (Dataverse) or object (Salesforce).
    pub name: String,
    /// The key fields, in order.
    pub key: Vec<String>,
    /// The configured field subset.
    pub fields: Option<Vec<String>>,
    /// The record id field (`accountid`, `Id`).
    pub id: String,
    /// The field that holds the modification time (`modifiedon`,
    /// `SystemModstamp`).
    pub modified: &'static str,
    /// Other fields the CRM adds that are never record fields.
    pub system: &'static [&'static str],
}

impl Entity {
    /// The fields a read returns besides the key: those asked for that the
    /// configuration allows; `None` for every field.
    pub fn wanted(&self, requested: Option<&[String]>) -> Option<Vec<String>> {
        let allowed = |f: &String| self.fields.as_ref().is_none_or(|c| c.contains(f));
        match (requested, &self.fields) {
            (Some(r), _) => Some(
                r.iter()
                    .filter(|f| allowed(f) && !self.key.contains(f))
                    .cloned()
                    .collect(),
            ),
            (None, Some(c)) => Some(
                c.iter()
                    .filter(|f| !self.key.contains(f))
                    .cloned()
                    .collect(),
            ),
            (None, None) => None,
        }
    }

    /// The fields to select for a read: the key, the wanted fields and the
    /// system fields named in `extra`; `None` selects all.
    pub fn select(&self, wanted: Option<&[String]>, extra: &[&str]) -> Option<Vec<String>> {
        let wanted = wanted?;
        let mut out: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        for f in self.key.iter().chain(wanted) {
            if !out.contains(f) {
                out.push(f.clone());
            }
        }
        Some(out)
    }

    /// Whether a field the CRM returned is a record field.
    fn is_field(&self, name: &str, wanted: Option<&[String]>) -> bool {
        if self.key.iter().any(|k| k == name) {
            return true;
        }
        if let Some(w) = wanted {
            return w.iter().any(|f| f == name);
        }
        !(name.contains('@')
            || name == self.id
            || name == self.modified
            || self.system.contains(&name))
    }

    /// The key of a row, from its key fields.
    pub fn key_of(&self, row: &Map<String, Json>) -> Result<Key, String> {
        let mut parts = Vec::with_capacity(self.key.len());
        for k in &self.key {
            match row.get(k) {
                Some(Json::String(s)) if !s.is_empty() => parts.push(s.clone()),
                Some(Json::Number(n)) => parts.push(n.to_string()),
                Some(Json::Bool(b)) => parts.push(b.to_string()),
                _ => return Err(format!("no value in key field {k}")),
            }
        }
        Ok(if parts.len() == 1 {
            Key::new(parts.remove(0))
        } else {
            Key::composite(&parts)
        })
    }

    /// A record from a CRM row: the key fields and the wanted fields, the
    /// modification time, and the row's eTag as its version.
    pub fn record(
        &self,
        mut row: Map<String, Json>,
        wanted: Option<&[String]>,
    ) -> Result<Record, RecordError> {
        let key = self.key_of(&row).map_err(|message| RecordError {
            location: format!(
                "entity {}, {} {}",
                self.name,
                self.id,
                row.get(&self.id).and_then(Json::as_str).unwrap_or("?")
            ),
            key: None,
            message,
        })?;
        let modified = row
            .get(self.modified)
            .and_then(Json::as_str)
            .and_then(parse_time);
        let version = row
            .remove("@odata.etag")
            .and_then(|v| v.as_str().map(str::to_owned));
        let mut record = Record::new(key);
        record.modified = modified;
        record.version = version;
        for (name, value) in row {
            if self.is_field(&name, wanted) {
                record.fields.push((name.into(), Value::from_json(value)));
            }
        }
        if let Some(w) = wanted {
            // A field the CRM left out of its answer is null.
            for f in w {
                if record.get(f).is_none() {
                    record.fields.push((f.as_str().into(), Value::Null));
                }
            }
        }
        Ok(record)
    }

    /// The fields of a record to send in a write, without the key fields
    /// (unless `with_key`), the system fields and the fields outside the
    /// configured subset.
    pub fn body(&self, record: &Record, with_key: bool) -> Map<String, Json> {
        let mut body = Map::new();
        if with_key {
            for (k, part) in self.key.iter().zip(record.key.parts()) {
                body.insert(k.clone(), Json::String(part.to_owned()));
            }
        }
        for (name, value) in &record.fields {
            let keyed = self.key.iter().any(|k| k == name);
            let allowed = self
                .fields
                .as_ref()
                .is_none_or(|f| f.iter().any(|k| k == name));
            if keyed || !allowed || !self.is_field(name, None) {
                continue;
            }
            body.insert(name.to_string(), value.to_json());
        }
        body
    }

    /// The values of a key, one per key field.
    pub fn key_parts<'k>(&self, key: &'k Key) -> Result<Vec<&'k str>, String> {
        let parts: Vec<&str> = key.parts().collect();
        if parts.len() != self.key.len() {
            return Err(format!(
                "key {key} has {} parts; entity {} is keyed by {}",
                parts.len(),
                self.name,
                self.key.join(", ")
            ));
        }
        Ok(parts)
    }

    /// The entity as discovery shows it.
    pub fn schema(&self) -> EntitySchema {
        let field = |name: &String| FieldSchema {
            name: name.clone(),
            kind: FieldType::Unknown,
            nullable: !self.key.contains(name),
        };
        let mut fields: Vec<FieldSchema> = self.key.iter().map(field).collect();
        for f in self.fields.iter().flatten() {
            if !self.key.contains(f) {
                fields.push(field(f));
            }
        }
        EntitySchema {
            name: self.name.clone(),
            key: self.key.clone(),
            fields,
        }
    }
}

/// An instant as CRMs write it: RFC 3339 (`2024-05-01T10:00:00Z`), or
/// Salesforce's `2024-05-01T10:00:00.000+0000`.
pub(crate) fn parse_time(s: &str) -> Option<jiff::Timestamp> {
    if let Ok(t) = s.parse() {
        return Some(t);
    }
    let cut = s.len().checked_sub(5)?;
    if !(s.is_char_boundary(cut) && s.is_char_boundary(cut + 3)) {
        return None;
    }
    let colon = format!("{}{}:{}", &s[..cut], &s[cut..cut + 3], &s[cut + 3..]);
    colon.parse().ok()
}

/// The last change of each key, in the order of each key's last change.
pub(crate) fn collapse(changes: Vec<Change>) -> Vec<Change> {
    let mut last = std::collections::HashMap::with_capacity(changes.len());
    for (i, c) in changes.iter().enumerate() {
        last.insert(c.key().clone(), i);
    }
    changes
        .into_iter()
        .enumerate()
        .filter(|(i, c)| last.get(c.key()) == Some(i))
        .map(|(_, c)| c)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn accounts() -> Entity {
        Entity {
            name: "accounts".into(),
            key: vec!["accountnumber".into()],
            fields: None,
            id: "accountid".into(),
            modified: "modifiedon",
            system: &["versionnumber"],
        }
    }

    #[test]
    fn rows_become_records() {
        let row = json!({
            "@odata.etag": "W/\"42\"",
            "accountid": "guid",
            "accountnumber": "A-1",
            "name": "Contoso",
            "modifiedon": "2024-05-01T10:00:00Z",
            "_ownerid_value@OData.Community.Display.V1.FormattedValue": "x",
        });
        let r = accounts()
            .record(row.as_object().unwrap().clone(), None)
            .unwrap();
        assert_eq!(r.key.as_str(), "A-1");
        assert_eq!(r.version.as_deref(), Some("W/\"42\""));
        assert_eq!(r.modified, Some("2024-05-01T10:00:00Z".parse().unwrap()));
        let names: Vec<&str> = r.fields.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["accountnumber", "name"]);
        let w = vec!["phone".to_owned()];
        let r = accounts()
            .record(row.as_object().unwrap().clone(), Some(&w))
            .unwrap();
        assert_eq!(r.get("phone"), Some(&Value::Null));
        assert!(r.get("name").is_none());
        let bad = json!({"accountid": "g", "name": "no key"});
        let e = accounts()
            .record(bad.as_object().unwrap().clone(), None)
            .unwrap_err();
        assert!(e.message.contains("accountnumber") && e.location.contains("g"));
    }

    #[test]
    fn bodies_leave_out_keys_and_system_fields() {
        let mut e = accounts();
        e.fields = Some(vec!["name".into()]);
        let r = Record::new("A-1")
            .with("accountnumber", "A-1")
            .with("name", "C")
            .with("phone", "1")
            .with("accountid", "g");
        assert_eq!(Json::Object(e.body(&r, false)), json!({"name": "C"}));
        assert_eq!(
            Json::Object(e.body(&r, true)),
            json!({"accountnumber": "A-1", "name": "C"})
        );
    }

    #[test]
    fn salesforce_times_parse() {
        let t = parse_time("2024-05-01T10:00:00.123+0000").unwrap();
        assert_eq!(t, "2024-05-01T10:00:00.123Z".parse().unwrap());
        assert!(parse_time("yesterday").is_none());
    }

    #[test]
    fn collapse_keeps_the_last_change_of_each_key() {
        let c = collapse(vec![
            Change::delete("a"),
            Change::Upsert(Record::new("b")),
            Change::Upsert(Record::new("a")),
        ]);
        assert_eq!(
            c.iter().map(|c| c.key().as_str()).collect::<Vec<_>>(),
            ["b", "a"]
        );
        assert!(matches!(c[1], Change::Upsert(_)));
    }
}
