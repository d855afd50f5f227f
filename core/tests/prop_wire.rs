//! No bytes a plugin sends can crash the host: arbitrary bytes, and valid
//! encodings of every answer with bytes changed, inserted, removed or cut,
//! decode to an answer or to an error, and what the host then does with a
//! decoded answer (errors, keys, content hashes, values as text and JSON)
//! does not panic either.
//!
//! `PROPTEST_CASES=N` runs N cases of each property (a soak).

use std::time::Duration;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::strategy::LazyJust;
use tandem_core::plugin::wire::{Request, Response, WireError, WireResult};
use tandem_core::{
    Applied, Batch, Capabilities, Change, Cursor, DayCount, EntitySchema, Error, FieldSchema,
    FieldType, Key, Name, ReadRequest, Record, RecordError, Value,
};

/// The cases of a property: `default` unless `PROPTEST_CASES` says. The
/// random numbers come from XorShift unless `PROPTEST_RNG_ALGORITHM` says:
/// unoptimised, ChaCha took most of the time of a case.
fn config(default: u32) -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = default;
    }
    if std::env::var_os("PROPTEST_RNG_ALGORITHM").is_none() {
        config.rng_algorithm = proptest::test_runner::RngAlgorithm::XorShift;
    }
    config
}

// ---- What the host does with an answer ----

/// Decodes an answer as the host does, then uses it as the host would.
fn take(bytes: &[u8]) {
    let Ok(result) = postcard::from_bytes::<WireResult>(bytes) else {
        return;
    };
    // A decoded answer encodes again, and that encoding is stable.
    let again = postcard::to_allocvec(&result).expect("a decoded answer encodes");
    let decoded: WireResult = postcard::from_bytes(&again).expect("its encoding decodes");
    let third = postcard::to_allocvec(&decoded).expect("and encodes again");
    assert_eq!(again, third, "re-encoding a decoded answer is stable");
    match result {
        Ok(response) => use_response(response),
        Err(e) => {
            let e = Error::from(e);
            let _ = e.to_string();
            let _ = format!("{e:?}");
        }
    }
}

fn use_response(response: Response) {
    match response {
        Response::Described { capabilities, .. } => {
            let _ = format!("{capabilities:?}");
        }
        Response::Entities(entities) => {
            for e in entities {
                let _ = (e.name.len(), e.key.len(), e.fields.len());
            }
        }
        Response::Handle(_) | Response::Done => {}
        Response::Batch(batch) => {
            let Some(batch) = batch else { return };
            for change in &batch.changes {
                let _ = change.key().to_string();
                if let Change::Upsert(r) = change {
                    use_record(r);
                }
            }
            if let Some(c) = &batch.cursor {
                let _ = c.as_text();
            }
            for r in &batch.rejected {
                let _ = (&r.location, &r.key, &r.message);
            }
        }
        Response::Pending(days) => {
            let _: u64 = days.iter().map(|d| d.count).fold(0, u64::saturating_add);
        }
        Response::Horizon(day) => {
            let _ = day.map(|d| d.to_string());
        }
        Response::Applied(applied) => {
            for a in applied {
                let _ = a.key.parts().count();
            }
        }
        Response::Records(records) => records.iter().for_each(use_record),
        Response::Cursor(cursor) => {
            let _ = cursor.as_ref().map(|c| c.as_text());
        }
    }
}

fn use_record(r: &Record) {
    let _ = r.key.to_string();
    let _ = r.content_hash();
    let _ = r.same_content(r);
    for (_, v) in &r.fields {
        let _ = v.canonical();
        let _ = v.to_json();
        let _ = v.to_string();
    }
}

// ---- Valid answers ----

fn date() -> impl Strategy<Value = jiff::civil::Date> {
    (-9999i16..=9999, 1i8..=12, 1i8..=31).prop_filter_map("a real day", |(y, m, d)| {
        jiff::civil::Date::new(y, m, d).ok()
    })
}

fn timestamp() -> impl Strategy<Value = jiff::Timestamp> {
    let (min, max) = (
        jiff::Timestamp::MIN.as_second(),
        jiff::Timestamp::MAX.as_second(),
    );
    (min..=max, 0i32..1_000_000_000).prop_filter_map("an instant in range", |(s, ns)| {
        jiff::Timestamp::new(s, ns).ok()
    })
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        any::<f64>().prop_map(Value::Float),
        "-?[0-9]{1,20}(\\.[0-9]{0,12})?".prop_map(|d| Value::Decimal(d.into())),
        any::<String>().prop_map(|s| Value::Text(s.into())),
        vec(any::<u8>(), 0..16).prop_map(Value::Bytes),
        date().prop_map(Value::Date),
        timestamp().prop_map(Value::DateTime),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::List),
            vec((any::<String>(), inner), 0..4).prop_map(Value::Map),
        ]
    })
}

fn key() -> impl Strategy<Value = Key> {
    prop_oneof![
        any::<String>().prop_map(Key::new),
        vec(any::<String>(), 1..3).prop_map(|parts| Key::composite(&parts)),
    ]
}

fn record() -> impl Strategy<Value = Record> {
    (
        key(),
        vec(("[a-z]{1,8}", value()), 0..4),
        proptest::option::of(any::<String>()),
        proptest::option::of(timestamp()),
    )
        .prop_map(|(key, fields, version, modified)| Record {
            key,
            fields: fields
                .into_iter()
                .map(|(n, v)| (Name::from(n), v))
                .collect(),
            version,
            modified,
        })
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        record().prop_map(Change::Upsert),
        (key(), proptest::option::of(timestamp())).prop_map(|(key, at)| Change::Delete { key, at }),
    ]
}

fn field_type() -> impl Strategy<Value = FieldType> {
    proptest::sample::select(vec![
        FieldType::Bool,
        FieldType::Int,
        FieldType::Float,
        FieldType::Decimal,
        FieldType::Text,
        FieldType::Bytes,
        FieldType::Date,
        FieldType::DateTime,
        FieldType::Json,
        FieldType::Unknown,
    ])
}

fn entity() -> impl Strategy<Value = EntitySchema> {
    let field =
        (any::<String>(), field_type(), any::<bool>()).prop_map(|(name, kind, nullable)| {
            FieldSchema {
                name,
                kind,
                nullable,
            }
        });
    (
        any::<String>(),
        vec(any::<String>(), 0..3),
        vec(field, 0..4),
    )
        .prop_map(|(name, key, fields)| EntitySchema { name, key, fields })
}

fn rejected() -> impl Strategy<Value = RecordError> {
    (
        any::<String>(),
        proptest::option::of(any::<String>()),
        any::<String>(),
    )
        .prop_map(|(location, key, message)| RecordError {
            location,
            key,
            message,
        })
}

fn batch() -> impl Strategy<Value = Batch> {
    (
        vec(change(), 0..4),
        proptest::option::of(vec(any::<u8>(), 0..24).prop_map(Cursor)),
        vec(rejected(), 0..2),
    )
        .prop_map(|(changes, cursor, rejected)| Batch {
            changes,
            cursor,
            rejected,
        })
}

fn response() -> impl Strategy<Value = Response> {
    let capabilities = any::<[bool; 5]>().prop_map(|b| Capabilities {
        cursors: b[0],
        deletes: b[1],
        days: b[2],
        transactions: b[3],
        idempotent_upsert: b[4],
    });
    prop_oneof![
        (capabilities, any::<bool>()).prop_map(|(capabilities, target)| Response::Described {
            capabilities,
            target
        }),
        vec(entity(), 0..3).prop_map(Response::Entities),
        any::<u64>().prop_map(Response::Handle),
        proptest::option::of(batch()).prop_map(Response::Batch),
        vec(
            (date(), any::<u64>()).prop_map(|(day, count)| DayCount { day, count }),
            0..4
        )
        .prop_map(Response::Pending),
        proptest::option::of(date()).prop_map(Response::Horizon),
        vec(
            (key(), proptest::option::of(any::<String>()))
                .prop_map(|(key, version)| Applied { key, version }),
            0..4
        )
        .prop_map(Response::Applied),
        vec(record(), 0..3).prop_map(Response::Records),
        proptest::option::of(vec(any::<u8>(), 0..24).prop_map(Cursor)).prop_map(Response::Cursor),
        LazyJust::new(|| Response::Done),
    ]
}

fn wire_error() -> impl Strategy<Value = WireError> {
    let s = || any::<String>();
    prop_oneof![
        (s(), s()).prop_map(|(a, b)| WireError::Config(a, b)),
        (s(), s()).prop_map(|(a, b)| WireError::NotFound(a, b)),
        (s(), s(), s()).prop_map(|(a, b, c)| WireError::BadRecord(a, b, c)),
        (
            s(),
            proptest::option::of(any::<u16>()),
            s(),
            proptest::option::of(s())
        )
            .prop_map(|(a, b, c, d)| WireError::Remote(a, b, c, d)),
        (s(), s(), proptest::option::of(any::<u64>()))
            .prop_map(|(a, b, c)| WireError::Throttled(a, b, c)),
        (s(), s(), s()).prop_map(|(a, b, c)| WireError::CursorExpired(a, b, c)),
        (s(), s()).prop_map(|(a, b)| WireError::Transaction(a, b)),
        (s(), s()).prop_map(|(a, b)| WireError::Other(a, b)),
    ]
}

fn answer() -> impl Strategy<Value = WireResult> {
    prop_oneof![
        4 => response().prop_map(Ok),
        1 => wire_error().prop_map(Err),
    ]
}

// ---- Changing valid bytes ----

/// One change to a message's bytes.
#[derive(Debug, Clone)]
enum Mutation {
    /// Sets the byte at a place.
    Set(Index, u8),
    /// Inserts a byte.
    Insert(Index, u8),
    /// Removes a byte.
    Remove(Index),
    /// Cuts the message short.
    Cut(Index),
    /// Writes a large length or tag (a varint) at a place.
    Varint(Index, u64),
    /// Repeats a run of bytes in place.
    Repeat(Index, u8, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let big = prop_oneof![
        any::<u64>(),
        Just(u64::MAX),
        Just(u64::from(u32::MAX)),
        Just(1 << 31),
        0u64..300,
    ];
    prop_oneof![
        4 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        2 => any::<Index>().prop_map(Mutation::Remove),
        1 => any::<Index>().prop_map(Mutation::Cut),
        2 => (any::<Index>(), big).prop_map(|(i, n)| Mutation::Varint(i, n)),
        1 => (any::<Index>(), 1u8..8, 1u8..16).prop_map(|(i, len, times)| Mutation::Repeat(i, len, times)),
    ]
}

fn varint(mut n: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

fn mutate(bytes: &mut Vec<u8>, m: &Mutation) {
    let at = |i: &Index, len: usize| if len == 0 { 0 } else { i.index(len) };
    match m {
        Mutation::Set(i, b) if !bytes.is_empty() => {
            let i = at(i, bytes.len());
            bytes[i] = *b;
        }
        Mutation::Set(..) => {}
        Mutation::Insert(i, b) => {
            let i = at(i, bytes.len() + 1);
            bytes.insert(i, *b);
        }
        Mutation::Remove(i) if !bytes.is_empty() => {
            let i = at(i, bytes.len());
            bytes.remove(i);
        }
        Mutation::Remove(_) => {}
        Mutation::Cut(i) => {
            let i = at(i, bytes.len() + 1);
            bytes.truncate(i);
        }
        Mutation::Varint(i, n) => {
            let i = at(i, bytes.len() + 1);
            let v = varint(*n);
            bytes.splice(i..i, v);
        }
        Mutation::Repeat(i, len, times) => {
            let i = at(i, bytes.len() + 1);
            let end = (i + usize::from(*len)).min(bytes.len());
            let run = bytes[i..end].to_vec();
            for _ in 0..*times {
                bytes.splice(i..i, run.iter().copied());
            }
        }
    }
}

// ---- Requests, for the plugin's side ----

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        LazyJust::new(|| Request::Describe),
        LazyJust::new(|| Request::Entities),
        any::<String>().prop_map(|e| Request::Read(ReadRequest::full(e).with_batch_size(10))),
        any::<u64>().prop_map(Request::Next),
        any::<u64>().prop_map(Request::CloseRead),
        any::<String>().prop_map(Request::Horizon),
        any::<String>().prop_map(Request::Begin),
        (any::<u64>(), vec(change(), 0..3))
            .prop_map(|(tx, changes)| Request::Apply { tx, changes }),
        any::<u64>().prop_map(Request::Commit),
        (any::<String>(), vec(key(), 0..3))
            .prop_map(|(entity, keys)| Request::Fetch { entity, keys }),
        (
            any::<String>(),
            vec(any::<u8>(), 0..24),
            proptest::option::of(vec(key(), 0..3))
        )
            .prop_map(|(entity, cursor, written)| Request::AfterWrite {
                entity,
                cursor: Cursor(cursor),
                written
            }),
    ]
}

proptest! {
    #![proptest_config(config(3000))]

    #[test]
    fn arbitrary_bytes_never_crash_the_host(bytes in vec(any::<u8>(), 0..512)) {
        take(&bytes);
    }

    #[test]
    fn valid_answers_decode_and_are_usable(answer in answer()) {
        let bytes = postcard::to_allocvec(&answer).unwrap();
        let decoded: WireResult = postcard::from_bytes(&bytes).unwrap();
        prop_assert_eq!(postcard::to_allocvec(&decoded).unwrap(), bytes.clone());
        take(&bytes);
    }

    #[test]
    fn changed_answers_never_crash_the_host(
        answer in answer(),
        mutations in vec(mutation(), 1..5),
    ) {
        let mut bytes = postcard::to_allocvec(&answer).unwrap();
        for m in &mutations {
            mutate(&mut bytes, m);
        }
        take(&bytes);
    }

    #[test]
    fn arbitrary_requests_never_crash_a_plugin(
        request in request(),
        mutations in vec(mutation(), 0..4),
    ) {
        let mut bytes = postcard::to_allocvec(&request).unwrap();
        for m in &mutations {
            mutate(&mut bytes, m);
        }
        let _ = postcard::from_bytes::<Request>(&bytes);
    }
}

// ---- Found by the properties ----

/// An answer holding one record whose field `f` is `depth` lists, one in
/// the other, around a null.
fn nested_answer(depth: usize) -> Vec<u8> {
    // Ok, Response::Records, one record, key "k", one field "f".
    let mut bytes = vec![0, 7, 1, 1, b'k', 1, 1, b'f'];
    for _ in 0..depth {
        bytes.extend([9, 1]); // Value::List of one value
    }
    bytes.push(0); // Value::Null
    bytes.extend([0, 0]); // no version, no modification time
    bytes
}

#[test]
fn the_nested_answer_is_what_it_says() {
    let expected = Record::new("k").with("f", Value::List(vec![Value::List(vec![Value::Null])]));
    let decoded: WireResult = postcard::from_bytes(&nested_answer(2)).unwrap();
    match decoded {
        Ok(Response::Records(r)) => assert_eq!(r, vec![expected]),
        other => panic!("expected one record, got {other:?}"),
    }
}

#[test]
fn values_nested_as_deep_as_json_allows_decode() {
    let bytes = nested_answer(128);
    let decoded: WireResult = postcard::from_bytes(&bytes).unwrap();
    assert!(matches!(decoded, Ok(Response::Records(_))));
}

#[test]
fn deeply_nested_values_are_an_error_not_a_stack_overflow() {
    // A few hundred kilobytes from a plugin once overflowed the host's
    // stack while decoding, which aborts the process.
    let bytes = nested_answer(200_000);
    let decoded = postcard::from_bytes::<WireResult>(&bytes);
    let err = decoded.expect_err("a value nested 200,000 deep is refused");
    let _ = err.to_string();
    // The same answer nested one level more than allowed is refused too.
    assert!(postcard::from_bytes::<WireResult>(&nested_answer(129)).is_err());
}

#[test]
fn a_long_throttle_wait_is_kept_as_it_was_sent() {
    let err = Error::from(WireError::Throttled("c".into(), "m".into(), Some(u64::MAX)));
    match err {
        Error::Throttled { retry_after, .. } => {
            assert_eq!(retry_after, Some(Duration::from_millis(u64::MAX)));
        }
        other => panic!("expected Throttled, got {other:?}"),
    }
}
