//! List items as records, records as item fields, and the cursor (the
//! delta link, with the keys of the items it has seen).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as J};
use tandem_core::{Cursor, Record, Value};

use crate::config::Settings;

/// Columns SharePoint sets itself: never written.
const READ_ONLY: &[&str] = &[
    "id",
    "Created",
    "Modified",
    "Author",
    "Editor",
    "AuthorLookupId",
    "EditorLookupId",
    "AppAuthorLookupId",
    "AppEditorLookupId",
    "ContentType",
    "Attachments",
    "Edit",
    "LinkTitle",
    "LinkTitleNoMenu",
    "DocIcon",
    "ItemChildCount",
    "FolderChildCount",
    "_UIVersionString",
    "_ComplianceFlags",
    "_ComplianceTag",
    "_ComplianceTagWrittenTime",
    "_ComplianceTagUserId",
];

impl Settings {
    /// The columns to select, the key first; `None` for all.
    pub fn select(&self, requested: Option<&[String]>) -> Option<Vec<String>> {
        let mut out = vec![self.key.clone()];
        let listed: Vec<&String> = match (self.fields.as_deref(), requested) {
            (None, None) => return None,
            (Some(f), None) => f.iter().collect(),
            (None, Some(r)) => r.iter().collect(),
            (Some(f), Some(r)) => f.iter().filter(|c| r.contains(c)).collect(),
        };
        for c in listed {
            if !out.contains(c) {
                out.push(c.clone());
            }
        }
        Some(out)
    }

    /// The `expand` parameter for these columns.
    pub fn expand(&self, select: Option<&[String]>) -> String {
        match select {
            None => "expand=fields".into(),
            Some(cols) => format!("expand=fields(select={})", cols.join(",")),
        }
    }

    /// An item as a record, with its id; or what is wrong with it.
    pub fn record(&self, item: &J, select: Option<&[String]>) -> Result<(String, Record), String> {
        let id = item
            .get("id")
            .and_then(J::as_str)
            .ok_or("an item without an id")?
            .to_owned();
        let fields = item.get("fields").and_then(J::as_object);
        let key = if self.key_is_id() {
            id.clone()
        } else {
            match fields.and_then(|f| f.get(&self.key)) {
                Some(J::String(s)) if !s.is_empty() => s.clone(),
                Some(J::Number(n)) => n.to_string(),
                _ => {
                    return Err(format!(
                        "item {id} has no value in the key column {:?}",
                        self.key
                    ));
                }
            }
        };
        let mut record = Record::new(key.as_str());
        record.version = item.get("eTag").and_then(J::as_str).map(str::to_owned);
        record.modified = item
            .get("lastModifiedDateTime")
            .and_then(J::as_str)
            .and_then(|t| t.parse().ok());
        if self.key_is_id() {
            record.set("id", id.as_str());
        }
        let empty = Map::new();
        let fields = fields.unwrap_or(&empty);
        match select {
            Some(cols) => {
                for c in cols {
                    let v = fields.get(c).cloned().unwrap_or(J::Null);
                    record.set(c.as_str(), Value::from_json(v));
                }
            }
            None => {
                for (name, v) in fields {
                    if !name.starts_with('@') {
                        record.set(name.as_str(), Value::from_json(v.clone()));
                    }
                }
            }
        }
        Ok((id, record))
    }

    /// The fields to write for a record: writable columns (those of
    /// `fields` when configured), the key column included; nulls only when
    /// `with_nulls` (an update clears them; a create leaves them out).
    pub fn write_fields(&self, record: &Record, with_nulls: bool) -> Map<String, J> {
        let mut out = Map::new();
        let writable = |name: &str| {
            !READ_ONLY.contains(&name)
                && !name.starts_with('@')
                && self
                    .fields
                    .as_ref()
                    .is_none_or(|f| f.iter().any(|c| c == name) || name == self.key)
        };
        for (name, value) in &record.fields {
            if writable(name) && (with_nulls || !value.is_null()) {
                out.insert(name.to_string(), value.to_json());
            }
        }
        if !self.key_is_id() && !out.contains_key(&self.key) {
            out.insert(self.key.clone(), J::String(record.key.as_str().to_owned()));
        }
        out
    }
}

/// Whether a delta entry is a deletion: the `deleted` facet
/// (`{"state":"deleted"}`, or `{}` on drive items) or `@removed`.
pub(crate) fn is_deleted(entry: &J) -> bool {
    entry.get("deleted").is_some() || entry.get("@removed").is_some()
}

/// What the cursor holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct State {
    /// The delta link to GET next.
    pub delta: String,
    /// Item id -> key, when the key is a column: a deleted item comes back
    /// from delta as its id alone.
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub keys: HashMap<String, String>,
}

impl State {
    pub fn to_cursor(&self) -> Cursor {
        Cursor(serde_json::to_vec(self).expect("a cursor serializes"))
    }

    pub fn from_cursor(cursor: &Cursor) -> Option<State> {
        serde_json::from_slice(&cursor.0).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings(key: &str, fields: Option<Vec<&str>>) -> Settings {
        Settings {
            items: String::new(),
            list: "L".into(),
            entity: "L".into(),
            key: key.into(),
            fields: fields.map(|f| f.into_iter().map(String::from).collect()),
            page_size: 10,
            concurrency: 1,
        }
    }

    #[test]
    fn items_become_records_keyed_by_a_column() {
        let s = settings("Code", Some(vec!["Code", "Title"]));
        let item = json!({"id": "7", "eTag": "\"x,1\"", "lastModifiedDateTime": "2024-08-01T10:00:00Z",
            "fields": {"@odata.etag": "\"x,1\"", "Code": "C7", "Title": "T", "Other": 1}});
        let select = s.select(None);
        let (id, r) = s.record(&item, select.as_deref()).unwrap();
        assert_eq!((id.as_str(), r.key.as_str()), ("7", "C7"));
        assert_eq!(r.fields.len(), 2);
        assert_eq!(r.version.as_deref(), Some("\"x,1\""));
        assert!(s.record(&json!({"id": "8", "fields": {}}), None).is_err());
    }

    #[test]
    fn writes_leave_read_only_columns_out() {
        let s = settings("Code", None);
        let r = Record::new("C1")
            .with("Modified", "x")
            .with("Title", "t")
            .with("Amount", Value::Null);
        let create = s.write_fields(&r, false);
        assert_eq!(J::Object(create), json!({"Title": "t", "Code": "C1"}));
        let update = s.write_fields(&r, true);
        assert_eq!(update.get("Amount"), Some(&J::Null));
    }
}
