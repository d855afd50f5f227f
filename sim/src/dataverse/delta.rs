//! Change tracking: `GET set` with `Prefer: odata.track-changes`, paged by
//! an opaque `$skiptoken` and ending with a delta link; from a delta
//! token, the rows changed since and then the deletions.

use serde_json::{Value, json};

use super::odata;
use super::store::{Answer, EXPIRED, Org, error, not_found_set, select};

/// Where a page starts: the version the read is bounded by, the phase
/// (0 rows, 1 deletions) and the last `(version, id)` of the phase given
/// (version 0 in a first read, which goes by id).
#[derive(Debug, Clone, PartialEq)]
struct Skip {
    upto: u64,
    phase: u8,
    after: Option<(u64, String)>,
}

impl Skip {
    fn encode(&self) -> String {
        let (v, id) = self.after.clone().unwrap_or((0, String::new()));
        format!("{}:{}:{v}:{id}", self.upto, self.phase)
    }

    fn decode(s: &str) -> Option<Skip> {
        let mut it = s.splitn(4, ':');
        let upto = it.next()?.parse().ok()?;
        let phase = it.next()?.parse().ok()?;
        let v: u64 = it.next()?.parse().ok()?;
        let id = it.next()?.to_owned();
        Some(Skip {
            upto,
            phase,
            after: (!id.is_empty()).then_some((v, id)),
        })
    }
}

/// The page size a `Prefer` header asks for.
fn max_page_size(prefer: &str, default: usize) -> usize {
    prefer
        .split(',')
        .find_map(|p| p.trim().strip_prefix("odata.maxpagesize="))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(default)
        .clamp(1, 5000)
}

/// Percent-encodes a query value (the simulator's links are used as they
/// are, so anything unambiguous does).
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b',' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A change-tracking read of `set`.
pub fn track(org: &Org, set: &str, options: &[(String, String)], prefer: &str) -> Answer {
    let Some(table) = org.tables.get(set) else {
        return not_found_set(set);
    };
    for banned in ["$filter", "$orderby", "$expand", "$top"] {
        if odata::option(options, banned).is_some() {
            return error(
                400,
                "0x80060888",
                format!("The {banned} query option is not supported with change tracking."),
            );
        }
    }
    let from = match odata::option(options, "$deltatoken") {
        Some(t) => match t.split('!').next().and_then(|v| v.parse::<u64>().ok()) {
            Some(v) if v < org.min_token => return error(400, EXPIRED.0, EXPIRED.1),
            Some(v) => Some(v),
            None => {
                return error(
                    400,
                    "0x80060888",
                    format!("The delta token {t:?} is not valid."),
                );
            }
        },
        None => None,
    };
    let skip = match odata::option(options, "$skiptoken") {
        Some(s) => match Skip::decode(s) {
            Some(s) => s,
            None => {
                return error(
                    400,
                    "0x80060888",
                    format!("The skip token {s:?} is not valid."),
                );
            }
        },
        None => Skip {
            upto: org.version,
            phase: 0,
            after: None,
        },
    };
    let select = select(options);
    let size = max_page_size(prefer, org.page_size);
    let since = from.unwrap_or(0);
    let in_range = |v: u64| v > since && v <= skip.upto;

    // The first read returns every row there is, in id order (a row
    // changed while it pages is still read, with what it holds then); a
    // delta, the rows changed since its token up to the read's bound, in
    // version order.
    let mut rows: Vec<(u64, &String)> = table
        .rows
        .iter()
        .filter(|(_, r)| from.is_none() || in_range(r.version))
        .map(|(id, r)| (if from.is_none() { 0 } else { r.version }, id))
        .collect();
    rows.sort();
    let mut deletions: Vec<(u64, &String, &'static str)> = match from {
        None => Vec::new(),
        Some(_) => table
            .deletions
            .iter()
            .filter(|d| in_range(d.version) && !table.rows.contains_key(&d.id))
            .map(|d| (d.version, &d.id, d.reason))
            .collect(),
    };
    deletions.sort();
    let after = |v: u64, id: &String, phase: u8| match (&skip.after, skip.phase) {
        (_, p) if p < phase => true,
        (_, p) if p > phase => false,
        (None, _) => true,
        (Some((av, aid)), _) => (v, id) > (*av, aid),
    };
    let mut items: Vec<(u8, u64, String, Value)> = rows
        .into_iter()
        .filter(|(v, id)| after(*v, id, 0))
        .map(|(v, id)| {
            (
                0,
                v,
                id.clone(),
                Org::render(table, id, &table.rows[id], select.as_deref()),
            )
        })
        .collect();
    let context = format!("{}/$metadata#{set}/$deletedEntity", org.api());
    items.extend(
        deletions
            .into_iter()
            .filter(|(v, id, _)| after(*v, id, 1))
            .map(|(v, id, reason)| {
                (
                    1,
                    v,
                    id.clone(),
                    json!({"@odata.context": context, "id": id, "reason": reason}),
                )
            }),
    );
    let more = items.len() > size;
    items.truncate(size);

    let mut link = format!("{}/{set}?", org.api());
    if let Some(s) = &select {
        link.push_str(&format!("$select={}&", enc(&s.join(","))));
    }
    let mut body = serde_json::Map::new();
    body.insert(
        "@odata.context".into(),
        json!(format!("{}/$metadata#{set}/$delta", org.api())),
    );
    if more {
        let (phase, v, id, _) = items.last().expect("a full page");
        let next = Skip {
            upto: skip.upto,
            phase: *phase,
            after: Some((*v, id.clone())),
        };
        if let Some(t) = odata::option(options, "$deltatoken") {
            link.push_str(&format!("$deltatoken={}&", enc(t)));
        }
        link.push_str(&format!("$skiptoken={}", enc(&next.encode())));
        body.insert("@odata.nextLink".into(), json!(link));
    } else {
        let stamp = jiff::Timestamp::now()
            .strftime("%m/%d/%Y %H:%M:%S")
            .to_string();
        link.push_str(&format!(
            "$deltatoken={}",
            enc(&format!("{}!{stamp}", skip.upto))
        ));
        body.insert("@odata.deltaLink".into(), json!(link));
    }
    body.insert(
        "value".into(),
        Value::Array(items.into_iter().map(|i| i.3).collect()),
    );
    let mut answer = Answer {
        status: 200,
        headers: Vec::new(),
        body: Some(Value::Object(body)),
    };
    answer.headers.push((
        "Preference-Applied".into(),
        format!("odata.track-changes,odata.maxpagesize={size}"),
    ));
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skip_tokens_round_trip() {
        let s = Skip {
            upto: 9,
            phase: 1,
            after: Some((4, "a:b".into())),
        };
        assert_eq!(Skip::decode(&s.encode()), Some(s));
        assert_eq!(
            max_page_size("odata.track-changes, odata.maxpagesize=7", 5000),
            7
        );
        assert_eq!(max_page_size("odata.track-changes", 5000), 5000);
    }
}
