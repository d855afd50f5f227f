//! Events as records: the key is `id`, fields in the protocol's order,
//! typed (`time` an instant, `day` a date), `attributes` a map or
//! flattened.

use jiff::civil::Date;
use serde_json::Value as J;
use tandem_core::{EntitySchema, FieldSchema, FieldType, Record, Value};

use crate::client::id_text;
use crate::config::Settings;

/// The fields of an event, in the protocol's order, with their types.
pub(crate) const FIELDS: &[(&str, FieldType)] = &[
    ("id", FieldType::Text),
    ("seq", FieldType::Int),
    ("day", FieldType::Date),
    ("time", FieldType::DateTime),
    ("dataflow", FieldType::Text),
    ("model", FieldType::Text),
    ("node", FieldType::Text),
    ("status", FieldType::Text),
    ("integrity", FieldType::Text),
    ("business_status", FieldType::Text),
    ("bytes", FieldType::Int),
    ("files", FieldType::Int),
    ("attributes", FieldType::Json),
];

/// Which fields a read keeps.
pub(crate) struct Shape<'a> {
    pub settings: &'a Settings,
    /// The request's field subset.
    pub requested: Option<&'a [String]>,
}

impl Shape<'_> {
    fn keep(&self, name: &str) -> bool {
        let listed = |l: Option<&[String]>| l.is_none_or(|l| l.iter().any(|f| f == name));
        name == "id" || (listed(self.settings.fields.as_deref()) && listed(self.requested))
    }

    /// An event as a record, or what is wrong with it.
    pub fn record(&self, event: J) -> Result<Record, String> {
        let J::Object(mut obj) = event else {
            return Err("an event is not a JSON object".into());
        };
        let id = id_text(&J::Object(obj.clone())).ok_or("the event has no id")?;
        let mut record = Record::new(id);
        let time = obj
            .get("time")
            .and_then(J::as_str)
            .and_then(|t| t.parse::<jiff::Timestamp>().ok());
        record.modified = time;
        record.version = obj.get("seq").map(|s| s.to_string());
        for (name, _) in FIELDS {
            let Some(v) = obj.remove(*name) else { continue };
            if *name == "attributes" && self.settings.flatten {
                if let J::Object(attrs) = v {
                    for (k, v) in attrs {
                        let name = if FIELDS.iter().any(|(f, _)| *f == k) {
                            format!("attributes.{k}")
                        } else {
                            k
                        };
                        if self.keep(&name) {
                            record.set(name, Value::from_json(v));
                        }
                    }
                }
                continue;
            }
            if self.keep(name) {
                record.set(*name, typed(name, v));
            }
        }
        let mut rest: Vec<_> = obj.into_iter().collect();
        rest.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, v) in rest {
            if self.keep(&name) {
                record.set(name, Value::from_json(v));
            }
        }
        Ok(record)
    }
}

/// A feed value with its type: `time` an instant, `day` a date.
fn typed(name: &str, v: J) -> Value {
    match (name, &v) {
        ("time", J::String(s)) => s
            .parse::<jiff::Timestamp>()
            .map_or_else(|_| Value::from_json(v.clone()), Value::DateTime),
        ("day", J::String(s)) => s
            .parse::<Date>()
            .map_or_else(|_| Value::from_json(v.clone()), Value::Date),
        _ => Value::from_json(v),
    }
}

/// The day an event belongs to in a time zone: the day of its `time`, or
/// its `day` when it has no readable time.
pub(crate) fn day_in(event: &J, tz: &jiff::tz::TimeZone) -> Option<Date> {
    let time = event.get("time").and_then(J::as_str);
    if let Some(t) = time.and_then(|t| t.parse::<jiff::Timestamp>().ok()) {
        return Some(t.to_zoned(tz.clone()).date());
    }
    event.get("day")?.as_str()?.parse().ok()
}

/// The entity's schema: the feed's fields that the configuration exposes.
pub(crate) fn schema(settings: &Settings) -> EntitySchema {
    let shape = Shape {
        settings,
        requested: None,
    };
    let mut fields: Vec<FieldSchema> = FIELDS
        .iter()
        .filter(|(n, _)| !(settings.flatten && *n == "attributes") && shape.keep(n))
        .map(|(n, kind)| FieldSchema {
            name: (*n).into(),
            kind: *kind,
            nullable: *n != "id",
        })
        .collect();
    for name in settings.fields.iter().flatten() {
        if !fields.iter().any(|f| f.name == *name) {
            fields.push(FieldSchema {
                name: name.clone(),
                kind: FieldType::Unknown,
                nullable: true,
            });
        }
    }
    EntitySchema {
        name: settings.entity.clone(),
        key: vec!["id".into()],
        fields,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings(fields: Option<Vec<&str>>, flatten: bool) -> Settings {
        Settings {
            base: String::new(),
            entity: "events".into(),
            page_size: 10,
            fields: fields.map(|f| f.into_iter().map(String::from).collect()),
            flatten,
            first_day: jiff::civil::date(2000, 1, 1),
        }
    }

    #[test]
    fn events_become_typed_records() {
        let s = settings(None, false);
        let shape = Shape {
            settings: &s,
            requested: None,
        };
        let e = json!({"id": "e1", "seq": 7, "day": "2024-08-01", "time": "2024-08-01T09:12:03Z",
                       "status": "completed", "bytes": 10, "attributes": {"a": 1}, "zzz": true});
        let r = shape.record(e).unwrap();
        let names: Vec<&str> = r.fields.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "id",
                "seq",
                "day",
                "time",
                "status",
                "bytes",
                "attributes",
                "zzz"
            ]
        );
        assert_eq!(
            r.get("day"),
            Some(&Value::Date(jiff::civil::date(2024, 8, 1)))
        );
        assert!(matches!(r.get("time"), Some(Value::DateTime(_))));
        assert_eq!(r.version.as_deref(), Some("7"));
    }

    #[test]
    fn attributes_flatten_and_fields_filter() {
        let s = settings(Some(vec!["name", "status"]), true);
        let shape = Shape {
            settings: &s,
            requested: None,
        };
        let e = json!({"id": "e1", "status": "error", "node": "n",
                       "attributes": {"name": "x", "status": "inner", "other": 1}});
        let r = shape.record(e).unwrap();
        assert_eq!(r.fields.len(), 3, "{r:?}");
        assert_eq!(r.get("name"), Some(&Value::from("x")));
        assert_eq!(r.get("status"), Some(&Value::from("error")));
        assert!(shape.record(json!({"seq": 1})).is_err());
    }
}
