//! Values, records, keys, changes, cursors and schemas survive postcard (the
//! plugin boundary and the state store), and content hashes ignore field
//! order and the types systems give values.

use proptest::collection::vec;
use proptest::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tandem_core::{Change, Cursor, EntitySchema, FieldSchema, FieldType, Key, Name, Record, Value};

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

fn decimal() -> impl Strategy<Value = String> {
    "-?[0-9]{1,18}(\\.[0-9]{1,9})?"
}

fn float() -> impl Strategy<Value = f64> {
    any::<f64>().prop_filter("not NaN", |f| !f.is_nan())
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        float().prop_map(Value::Float),
        decimal().prop_map(|d| Value::Decimal(d.into())),
        any::<String>().prop_map(|s| Value::Text(s.into())),
        vec(any::<u8>(), 0..16).prop_map(Value::Bytes),
        date().prop_map(Value::Date),
        timestamp().prop_map(Value::DateTime),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::List),
            vec((any::<String>(), inner), 0..6).prop_map(Value::Map),
        ]
    })
}

/// One part of a composite key: anything but the separator.
fn key_part() -> impl Strategy<Value = String> {
    any::<String>().prop_map(|s| s.replace('\u{1f}', ""))
}

fn key() -> impl Strategy<Value = Key> {
    prop_oneof![
        any::<String>().prop_map(Key::new),
        vec(key_part(), 1..4).prop_map(|parts| Key::composite(&parts)),
    ]
}

/// Fields with distinct names.
fn fields() -> impl Strategy<Value = Vec<(Name, Value)>> {
    proptest::collection::btree_map("[a-z_]{1,30}", value(), 0..8)
        .prop_map(|m| m.into_iter().map(|(n, v)| (Name::from(n), v)).collect())
}

fn record() -> impl Strategy<Value = Record> {
    (
        key(),
        fields(),
        proptest::option::of(any::<String>()),
        proptest::option::of(timestamp()),
    )
        .prop_map(|(key, fields, version, modified)| Record {
            key,
            fields,
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

fn entity_schema() -> impl Strategy<Value = EntitySchema> {
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
        vec(any::<String>(), 0..4),
        vec(field, 0..8),
    )
        .prop_map(|(name, key, fields)| EntitySchema { name, key, fields })
}

/// Encodes with postcard and decodes again.
fn roundtrip<T: Serialize + DeserializeOwned>(v: &T) -> T {
    let bytes = postcard::to_allocvec(v).expect("encodes");
    postcard::from_bytes(&bytes).expect("decodes")
}

proptest! {
    #[test]
    fn value_roundtrips(v in value()) {
        prop_assert_eq!(roundtrip(&v), v);
    }

    #[test]
    fn record_roundtrips(r in record()) {
        prop_assert_eq!(roundtrip(&r), r);
    }

    #[test]
    fn key_roundtrips(k in key()) {
        prop_assert_eq!(roundtrip(&k), k);
    }

    #[test]
    fn composite_key_keeps_its_parts(parts in vec(key_part(), 1..5)) {
        let key = Key::composite(&parts);
        prop_assert_eq!(key.parts().collect::<Vec<_>>(), parts.iter().map(String::as_str).collect::<Vec<_>>());
        prop_assert_eq!(roundtrip(&key), key);
    }

    #[test]
    fn change_roundtrips(c in change()) {
        prop_assert_eq!(roundtrip(&c), c);
    }

    #[test]
    fn cursor_roundtrips(bytes in vec(any::<u8>(), 0..64)) {
        let c = Cursor(bytes);
        prop_assert_eq!(roundtrip(&c), c);
    }

    #[test]
    fn entity_schema_roundtrips(s in entity_schema()) {
        prop_assert_eq!(roundtrip(&s), s);
    }

    #[test]
    fn content_hash_ignores_field_order(
        (r, shuffled) in record().prop_flat_map(|r| {
            let fields = Just(r.fields.clone()).prop_shuffle();
            (Just(r), fields)
        })
    ) {
        let other = Record { fields: shuffled, ..r.clone() };
        prop_assert_eq!(r.content_hash(), other.content_hash());
        prop_assert!(r.same_content(&other));
    }

    #[test]
    fn content_hash_ignores_types_with_the_same_text(r in record()) {
        // Every value as the text a text-only system (CSV) would hold.
        let as_text = Record {
            fields: r
                .fields
                .iter()
                .map(|(n, v)| {
                    let v = if v.is_null() { Value::Null } else { Value::Text(v.canonical().into()) };
                    (n.clone(), v)
                })
                .collect(),
            ..r.clone()
        };
        prop_assert_eq!(r.content_hash(), as_text.content_hash());
        prop_assert!(r.same_content(&as_text));
    }

    #[test]
    fn int_and_its_text_hash_alike(n in any::<i64>(), rest in fields()) {
        let with = |v: Value| {
            let mut r = Record { fields: rest.clone(), ..Record::new("k") };
            r.set("n", v);
            r
        };
        let (int, text) = (with(Value::Int(n)), with(Value::Text(n.to_string().into())));
        prop_assert_eq!(int.content_hash(), text.content_hash());
        prop_assert!(int.same_content(&text));
    }

    #[test]
    fn a_null_field_hashes_as_an_absent_one(r in record(), name in "[A-Z]{1,8}") {
        let mut with_null = r.clone();
        with_null.fields.push((name.into(), Value::Null));
        prop_assert_eq!(r.content_hash(), with_null.content_hash());
        prop_assert!(r.same_content(&with_null));
    }
}

#[test]
fn same_text_different_types_hash_alike() {
    let hash = |v: Value| Record::new("k").with("id", "k").with("n", v).content_hash();
    let forty_two = hash(Value::Int(42));
    assert_eq!(forty_two, hash(Value::Text("42".into())));
    assert_eq!(forty_two, hash(Value::Float(42.0)));
    assert_eq!(forty_two, hash(Value::Decimal("42.00".into())));
    assert_ne!(forty_two, hash(Value::Int(43)));
    assert_ne!(forty_two, hash(Value::Text("042".into())));
}

#[test]
fn field_order_does_not_change_the_hash() {
    let a = Record::new("k")
        .with("id", "k")
        .with("name", "Ada")
        .with("n", 42);
    let b = Record::new("k")
        .with("n", 42)
        .with("name", "Ada")
        .with("id", "k");
    assert_eq!(a.content_hash(), b.content_hash());
    let c = Record::new("k")
        .with("id", "k")
        .with("name", "42")
        .with("n", "Ada");
    assert_ne!(
        a.content_hash(),
        c.content_hash(),
        "a value moved to another field"
    );
}
