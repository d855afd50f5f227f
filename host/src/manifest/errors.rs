//! Turns figment's errors into messages that name the file (or variable), the key and the problem.

use figment::error::{Actual, Kind};

/// One line per error: `plugins.toml: pairs.customers: unknown field "mod",
/// expected one of "a", "b", ...`. `file` is the manifest as the user named
/// it; errors from `TANDEM_` variables name the variable instead.
pub fn describe(err: figment::Error, file: &str) -> String {
    err.into_iter()
        .map(|e| describe_one(&e, file))
        .collect::<Vec<_>>()
        .join("\n")
}

fn describe_one(e: &figment::Error, file: &str) -> String {
    let from_env = e.metadata.as_ref().is_some_and(|m| {
        !matches!(m.source, Some(figment::Source::File(_))) && m.name.contains("environment")
    });
    let source = if from_env {
        format!(
            "environment variable TANDEM_{}",
            e.path.join("__").to_uppercase()
        )
    } else {
        file.to_owned()
    };
    // An unknown field's path ends with the field; the message names it.
    let mut path = e.path.as_slice();
    if let (Kind::UnknownField(field, _), Some((last, parent))) = (&e.kind, path.split_last())
        && last == field
    {
        path = parent;
    }
    let message = message(&e.kind);
    if path.is_empty() {
        format!("{source}: {message}")
    } else {
        format!("{source}: {}: {message}", path.join("."))
    }
}

fn one_of(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => format!(", expected {one:?}"),
        many => {
            let quoted: Vec<String> = many.iter().map(|n| format!("{n:?}")).collect();
            format!(", expected one of {}", quoted.join(", "))
        }
    }
}

fn found(actual: &Actual) -> String {
    match actual {
        Actual::Str(_) => "a string".into(),
        Actual::Bool(_) => "a boolean".into(),
        Actual::Signed(_) | Actual::Unsigned(_) => "an integer".into(),
        Actual::Float(_) => "a float".into(),
        Actual::Seq => "an array".into(),
        Actual::Map => "a table".into(),
        other => other.to_string(),
    }
}

/// What serde expected, in the manifest's words rather than Rust's.
fn plain(expected: &str) -> String {
    match expected {
        "f32" | "f64" => "a number".into(),
        "i8" | "i16" | "i32" | "i64" | "u8" | "u16" | "u32" | "u64" | "usize" | "isize" => {
            "a whole number".into()
        }
        "a sequence" => "an array".into(),
        "a map" => "a table".into(),
        e if e.starts_with("struct ") => "a table".into(),
        e => e.into(),
    }
}

fn message(kind: &Kind) -> String {
    match kind {
        Kind::UnknownField(field, expected) => {
            format!("unknown field {field:?}{}", one_of(expected))
        }
        Kind::MissingField(field) => format!("missing field {field:?}"),
        Kind::UnknownVariant(value, expected) => {
            format!("unknown value {value:?}{}", one_of(expected))
        }
        Kind::InvalidType(actual, expected) => {
            format!(
                "invalid type: found {}, expected {}",
                found(actual),
                plain(expected)
            )
        }
        Kind::InvalidValue(actual, expected) => {
            format!(
                "invalid value: found {}, expected {}",
                found(actual),
                plain(expected)
            )
        }
        // A table (a struct) given as an array of the wrong length.
        Kind::InvalidLength(_, expected) => {
            format!("invalid type: found an array, expected {}", plain(expected))
        }
        Kind::DuplicateField(field) => format!("duplicate field {field:?}"),
        Kind::Message(m) => m.trim_end_matches('.').to_owned(),
        other => other.to_string(),
    }
}
