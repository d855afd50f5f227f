//! What each Web API request does to the organization: upserts by
//! alternate key or id, deletes, queries with `$filter`, reads of one row.

use serde_json::{Map, Value, json};

use super::odata::{self, Filter, KeyPredicate};
use super::store::{Answer, Deletion, Org, Row, error, not_found_set, select};

impl Org {
    /// `PATCH set(key)`: update or create (`If-Match: *` updates only,
    /// `If-None-Match: *` creates only, `If-Match: W/"v"` checks the
    /// version).
    pub fn upsert(
        &mut self,
        set: &str,
        key: &KeyPredicate,
        body: Map<String, Value>,
        header: &dyn Fn(&str) -> Option<String>,
    ) -> Answer {
        let api = self.api();
        let version = self.version + 1;
        let Some(table) = self.tables.get(set) else {
            return not_found_set(set);
        };
        let existing = match table.find(key) {
            Ok(e) => e,
            Err(a) => return a,
        };
        let if_match = header("if-match");
        if if_match.as_deref() == Some("*") && existing.is_none() {
            return error(
                404,
                "0x80040217",
                format!("{} Does Not Exist", table.logical),
            );
        }
        if header("if-none-match").as_deref() == Some("*") && existing.is_some() {
            return error(
                412,
                "0x80040237",
                "A record with matching key values already exists.",
            );
        }
        if let (Some(tag), Some(id)) = (if_match.as_deref().filter(|t| *t != "*"), &existing)
            && tag != format!("W/\"{}\"", table.rows[id].version)
        {
            return error(
                412,
                "0x80060882",
                "The version of the existing record doesn't match the RowVersion property provided.",
            );
        }
        let mut fields = Map::new();
        if let KeyPredicate::Alternate(parts) = key {
            for (n, v) in parts {
                if body.get(n).is_some_and(|b| !odata::same(b, v)) {
                    return error(
                        400,
                        "0x80048d19",
                        format!(
                            "The value of attribute {n} in the payload differs from the key in the URL."
                        ),
                    );
                }
                fields.insert(n.clone(), v.clone());
            }
        }
        let undeclared = body.keys().find(|k| {
            !k.contains('@')
                && **k != table.id_col
                && table.columns.as_ref().is_some_and(|c| !c.contains(k))
        });
        if let Some(k) = undeclared {
            return error(
                400,
                "0x80060888",
                format!(
                    "Could not find a property named '{k}' on type 'Microsoft.Dynamics.CRM.{}'.",
                    table.logical
                ),
            );
        }
        for (k, v) in body {
            if k == table.id_col || k.contains('@') {
                continue;
            }
            // Dataverse keeps no empty strings: they are null.
            let v = if v == json!("") { Value::Null } else { v };
            fields.insert(k, v);
        }
        let created = existing.is_none();
        let id = match (existing, key) {
            (Some(id), _) => id,
            (None, KeyPredicate::Id(id)) => id.clone(),
            (None, _) => self.new_guid(),
        };
        let table = self.tables.get_mut(set).expect("looked up above");
        let now = jiff::Timestamp::now();
        let row = match table.remove(&id) {
            Some(mut row) => {
                row.fields.extend(fields);
                row.version = version;
                row.modified = now;
                row
            }
            None => Row {
                fields,
                version,
                modified: now,
            },
        };
        let shown = (header("prefer").is_some_and(|p| p.contains("return=representation")))
            .then(|| Org::render(table, &id, &row, None));
        table.insert(id.clone(), row);
        self.version = version;
        let mut answer = match shown {
            Some(body) => Answer::json(if created { 201 } else { 200 }, body),
            None => Answer::empty(204),
        };
        answer
            .headers
            .push(("OData-EntityId".into(), format!("{api}/{set}({id})")));
        answer
    }

    /// `DELETE set(key)`; `reason` is what the change feed says.
    pub fn delete(&mut self, set: &str, key: &KeyPredicate, reason: &'static str) -> Answer {
        let version = self.version + 1;
        let Some(table) = self.tables.get_mut(set) else {
            return not_found_set(set);
        };
        let id = match table.find(key) {
            Ok(Some(id)) => id,
            Ok(None) => {
                let shown = match key {
                    KeyPredicate::Id(id) => id.clone(),
                    KeyPredicate::Alternate(p) => format!("{p:?}"),
                };
                return error(
                    404,
                    "0x80040217",
                    format!("{} With Id = {shown} Does Not Exist", table.logical),
                );
            }
            Err(a) => return a,
        };
        table.remove(&id);
        table.deletions.push(Deletion {
            id,
            version,
            reason,
        });
        self.version = version;
        Answer::empty(204)
    }

    /// `GET set` without change tracking: `$filter`, `$select`, `$top`.
    pub fn query(&self, set: &str, options: &[(String, String)]) -> Answer {
        let Some(table) = self.tables.get(set) else {
            return not_found_set(set);
        };
        let filter = match odata::option(options, "$filter").map(Filter::parse) {
            Some(Err(m)) => {
                return error(400, "0x80060888", format!("Syntax error in $filter: {m}"));
            }
            Some(Ok(f)) => Some(f),
            None => None,
        };
        let select = select(options);
        let top = odata::option(options, "$top")
            .and_then(|t| t.parse().ok())
            .unwrap_or(usize::MAX);
        let value: Vec<Value> = table
            .rows
            .iter()
            .filter(|(_, r)| filter.as_ref().is_none_or(|f| f.matches(&r.fields)))
            .take(top.min(self.page_size))
            .map(|(id, r)| Org::render(table, id, r, select.as_deref()))
            .collect();
        Answer::json(
            200,
            json!({"@odata.context": format!("{}/$metadata#{set}", self.api()), "value": value}),
        )
    }

    /// `GET set(key)`.
    pub fn get(&self, set: &str, key: &KeyPredicate, options: &[(String, String)]) -> Answer {
        let Some(table) = self.tables.get(set) else {
            return not_found_set(set);
        };
        match table.find(key) {
            Ok(Some(id)) => Answer::json(
                200,
                Org::render(table, &id, &table.rows[&id], select(options).as_deref()),
            ),
            Ok(None) => error(
                404,
                "0x80040217",
                format!("{} Does Not Exist", table.logical),
            ),
            Err(a) => a,
        }
    }
}
