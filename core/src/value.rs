//! `Value`: the field value every connector reads and writes.

use std::cell::Cell;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// How deep lists and maps may nest in a value that is decoded (from a
/// plugin's answer, the state store): deeper, decoding would overflow the
/// stack and abort the process, so it is an error. JSON sources never get
/// near it (serde_json stops at 128 too).
pub const MAX_NESTING: usize = 128;

/// One field value.
///
/// Our own enum rather than `serde_json::Value`, so that binary formats
/// (postcard across the plugin boundary, the state store) can carry it and so
/// that dates, instants, exact decimals and bytes keep their type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub enum Value {
    /// No value (SQL NULL, an empty JSON null, a missing cell).
    #[default]
    Null,
    /// A boolean.
    Bool(bool),
    /// A signed 64-bit integer.
    Int(i64),
    /// A 64-bit float.
    Float(f64),
    /// An exact decimal, kept as its canonical text (`"12.50"`).
    Decimal(crate::record::Name),
    /// UTF-8 text.
    Text(crate::record::Name),
    /// Raw bytes.
    Bytes(Vec<u8>),
    /// A calendar date without a time zone.
    Date(jiff::civil::Date),
    /// An instant in time (UTC).
    DateTime(jiff::Timestamp),
    /// An ordered list of values.
    List(#[serde(deserialize_with = "nested")] Vec<Value>),
    /// An ordered map of named values.
    Map(#[serde(deserialize_with = "nested")] Vec<(String, Value)>),
}

thread_local! {
    /// How many lists and maps the value being decoded on this thread is in.
    static NESTING: Cell<usize> = const { Cell::new(0) };
}

/// Decodes the items of a list or map one level deeper, or fails past
/// [`MAX_NESTING`].
fn nested<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    /// Leaves the level however decoding ends.
    struct Level;
    impl Drop for Level {
        fn drop(&mut self) {
            NESTING.with(|n| n.set(n.get() - 1));
        }
    }
    let depth = NESTING.with(|n| {
        n.set(n.get() + 1);
        n.get()
    });
    let _level = Level;
    if depth > MAX_NESTING {
        return Err(serde::de::Error::custom(format!(
            "a value nests lists and maps deeper than {MAX_NESTING} levels"
        )));
    }
    T::deserialize(d)
}

impl Value {
    /// Whether this is [`Value::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The text of a [`Value::Text`], or `None`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(s) | Value::Decimal(s) => Some(s),
            _ => None,
        }
    }

    /// Whether this is null or empty (text or bytes): content comparison
    /// holds these as one value, since a side such as a CSV file has one
    /// empty cell for them all (see [`Value::same_content`]).
    pub fn is_blank(&self) -> bool {
        match self {
            Value::Null => true,
            Value::Text(s) => s.is_empty(),
            Value::Bytes(b) => b.is_empty(),
            _ => false,
        }
    }

    /// Writes the canonical text form used to compare values across systems.
    ///
    /// Systems disagree about types (a CSV cell `42` is text, the same column
    /// in SQL is an integer), so the engine compares and hashes values by
    /// this form: `Int(42)` and `Text("42")` are the same content. `Null`
    /// has a form of its own, but compares as the same content as
    /// `Text("")` (see [`Value::is_blank`]).
    pub fn write_canonical(&self, out: &mut String) {
        use std::fmt::Write;
        match self {
            Value::Null => out.push('\u{0}'),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Float(f) => {
                if f.fract() == 0.0 && f.abs() < 1e15 {
                    let _ = write!(out, "{}", *f as i64);
                } else {
                    let _ = write!(out, "{f}");
                }
            }
            Value::Decimal(s) => out.push_str(canonical_decimal(s)),
            Value::Text(s) => out.push_str(s),
            Value::Bytes(b) => {
                for byte in b {
                    let _ = write!(out, "{byte:02x}");
                }
            }
            Value::Date(d) => {
                let _ = write!(out, "{d}");
            }
            Value::DateTime(t) => {
                let _ = write!(out, "{t}");
            }
            Value::List(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write_canonical(out);
                }
                out.push(']');
            }
            Value::Map(entries) => {
                out.push('{');
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(k);
                    out.push(':');
                    v.write_canonical(out);
                }
                out.push('}');
            }
        }
    }

    /// The canonical text form (see [`Value::write_canonical`]).
    pub fn canonical(&self) -> String {
        let mut s = String::new();
        self.write_canonical(&mut s);
        s
    }

    /// Whether two values hold the same content: the same canonical form,
    /// or both blank (null, empty text or empty bytes: a side that cannot
    /// tell them apart reads back one for another).
    pub fn same_content(&self, other: &Value) -> bool {
        self == other
            || (self.is_blank() && other.is_blank())
            || self.canonical() == other.canonical()
    }

    /// Converts a JSON value; numbers become `Int` when they fit, else `Float`.
    pub fn from_json(v: serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            serde_json::Value::String(s) => Value::Text(s.into()),
            serde_json::Value::Array(a) => {
                Value::List(a.into_iter().map(Value::from_json).collect())
            }
            serde_json::Value::Object(o) => Value::Map(
                o.into_iter()
                    .map(|(k, v)| (k, Value::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// Converts to JSON; dates, instants and decimals become strings, bytes
    /// become lowercase hex.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(J::Number)
                .unwrap_or(J::Null),
            Value::List(items) => J::Array(items.iter().map(Value::to_json).collect()),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect(),
            ),
            Value::Text(s) | Value::Decimal(s) => J::String(s.to_string()),
            other => J::String(other.canonical()),
        }
    }
}

/// Strips trailing zeros after a decimal point: `"12.50"` -> `"12.5"`.
fn canonical_decimal(s: &str) -> &str {
    if s.contains('.') {
        let t = s.trim_end_matches('0');
        t.strip_suffix('.').unwrap_or(t)
    } else {
        s
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            other => f.write_str(&other.canonical()),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Text(s.into())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Text(s.into())
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::Float(f)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}
