//! JSON Lines: one JSON object per line, fields kept in file order.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader};

use serde::Deserialize;
use serde::de::{MapAccess, Visitor};
use tandem_core::{Key, Name, Result, Value};

use super::{Fault, Scanner};
use crate::config::Settings;
use crate::error::io_error;
use crate::rows::key_of;

/// Reads JSON Lines, skipping blank lines.
pub(crate) struct JsonlScanner {
    settings: Settings,
    reader: BufReader<File>,
    /// Bytes consumed so far, from the start of the file.
    pos: u64,
    /// The 1-based line at `pos`.
    line: u64,
    data_start: u64,
    crlf: Option<bool>,
    buf: Vec<u8>,
}

impl JsonlScanner {
    pub fn new(settings: &Settings, reader: BufReader<File>, bom: u64) -> Self {
        JsonlScanner {
            settings: settings.clone(),
            reader,
            pos: bom,
            line: 1,
            data_start: bom,
            crlf: None,
            buf: Vec::new(),
        }
    }
}

impl Scanner for JsonlScanner {
    fn columns(&self) -> Option<&[String]> {
        None
    }

    fn data_start(&self) -> u64 {
        self.data_start
    }

    fn crlf(&self) -> bool {
        self.crlf.unwrap_or(false)
    }

    fn advance(&mut self) -> Result<Option<(u64, u64)>> {
        loop {
            self.buf.clear();
            let n = self
                .reader
                .read_until(b'\n', &mut self.buf)
                .map_err(|e| io_error("reading", &self.settings.path, e))?;
            if n == 0 {
                return Ok(None);
            }
            let (start, line) = (self.pos, self.line);
            self.pos += n as u64;
            if self.buf.ends_with(b"\n") {
                self.line += 1;
                if self.crlf.is_none() {
                    self.crlf = Some(self.buf.ends_with(b"\r\n"));
                }
            }
            if self.buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return Ok(Some((start, line)));
        }
    }

    fn fields(&self) -> std::result::Result<Vec<(Name, Value)>, Fault> {
        parse(&self.buf)
    }

    /// A line that is valid UTF-8 and still not a record has no key to
    /// trust; one that is a JSON object once its invalid bytes are replaced
    /// has the key of its key fields, unless a replacement is in the key.
    fn key(&self) -> Option<Key> {
        let std::borrow::Cow::Owned(text) = String::from_utf8_lossy(&self.buf) else {
            return None;
        };
        let fields = parse(text.as_bytes()).ok()?;
        let key = key_of(&self.settings.key, &fields).ok()?;
        (!key.as_str().contains(char::REPLACEMENT_CHARACTER)).then_some(key)
    }
}

/// Parses one line as a JSON object, keeping its fields' order.
pub(crate) fn parse(line: &[u8]) -> std::result::Result<Vec<(Name, Value)>, Fault> {
    match serde_json::from_slice::<Object>(line) {
        Ok(Object(fields)) => Ok(fields),
        Err(e) => {
            let message = e.to_string();
            // serde_json appends " at line L column C"; the location says it.
            let message = match message.rfind(" at line ") {
                Some(i) => message[..i].to_owned(),
                None => message,
            };
            let column = (e.column() > 0).then(|| e.column().to_string());
            Err(Fault::new(column, message))
        }
    }
}

/// The top-level object of a line, in file order (serde_json's own map is
/// sorted unless a workspace-wide feature is on).
struct Object(Vec<(Name, Value)>);

impl<'de> Deserialize<'de> for Object {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_map(ObjectVisitor)
    }
}

struct ObjectVisitor;

impl<'de> Visitor<'de> for ObjectVisitor {
    type Value = Object;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Object, A::Error> {
        let mut fields: Vec<(Name, Value)> = Vec::new();
        while let Some((name, value)) = map.next_entry::<String, serde_json::Value>()? {
            let value = Value::from_json(value);
            match fields.iter_mut().find(|(n, _)| *n == name) {
                Some(slot) => slot.1 = value,
                None => fields.push((name.into(), value)),
            }
        }
        Ok(Object(fields))
    }
}

/// One line: the fields in record order, each as JSON.
pub(crate) fn encode(fields: &[(Name, Value)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.push(b'{');
    for (i, (name, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        // Writing JSON to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut out, name);
        out.push(b':');
        let _ = serde_json::to_writer(&mut out, &value.to_json());
    }
    out.push(b'}');
    out
}
