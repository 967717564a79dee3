//! Schema and type agreement, without a registry: every schema parses, every sample of every
//! type and variant round-trips through its own schema, and enum variants sit on the union
//! branch of the same name.

use crate::codec::{CodecError, encode_datum, record_from_value, wire_schema_id};
use crate::record::{ALL_SCHEMAS, AvroRecord};
use crate::samples;
use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::schema::{Name, Schema};
use apache_avro::types::Value;
use std::fmt::Debug;

/// Encodes with `T`'s schema, decodes with the same schema as writer, and maps back onto `T`.
fn local_roundtrip<T: AvroRecord + PartialEq + Debug>(record: &T) {
    let datum = encode_datum(record).unwrap_or_else(|e| panic!("encode {record:?}: {e}"));
    let schema = T::source().schema();
    let value = GenericDatumReader::builder(schema)
        .build()
        .unwrap()
        .read_value(&mut datum.as_slice())
        .unwrap_or_else(|e| panic!("decode {record:?}: {e}"));
    let name = schema.name().map(|name| name.fullname(None));
    let back: T = record_from_value(name, &value).unwrap();
    assert_eq!(&back, record);
}

/// The name of the union branch that `body`'s variant encodes to, next to the variant's own name.
fn branch_and_variant<B: serde::Serialize>(union: &Schema, body: &B) -> (String, String) {
    // apache-avro's value serializer spells an externally tagged variant as
    // Record { type: Enum(index, variant name), value: ... }.
    let Value::Record(fields) = apache_avro::to_value(body).unwrap() else {
        panic!("a body enum serializes to a record");
    };
    let Value::Enum(index, variant) = &fields[0].1 else {
        panic!("the first field is the variant tag");
    };
    let Schema::Union(union) = union else {
        panic!("body field is a union");
    };
    let branch = union.variants()[*index as usize]
        .name()
        .map(Name::to_string)
        .unwrap_or_default();
    (branch, variant.clone())
}

fn body_schema(record: &Schema) -> &Schema {
    let Schema::Record(record) = record else {
        panic!("top-level schema is a record");
    };
    &record.fields[record.lookup["body"]].schema
}

fn assert_branches_match<T: AvroRecord, B: serde::Serialize>(bodies: impl IntoIterator<Item = B>) {
    let union = body_schema(T::source().schema());
    let mut seen = 0;
    for body in bodies {
        let (branch, variant) = branch_and_variant(union, &body);
        assert!(
            branch.ends_with(&format!(".{variant}")),
            "{}: variant {variant} encodes as union branch {branch}",
            T::source().full_name
        );
        seen += 1;
    }
    let Schema::Union(union) = union else {
        unreachable!()
    };
    assert_eq!(seen, union.variants().len(), "samples cover every branch");
}

#[test]
fn every_schema_parses_and_names_itself() {
    for source in ALL_SCHEMAS {
        let schema = Schema::parse_str(source.json)
            .unwrap_or_else(|e| panic!("{} does not parse: {e}", source.full_name));
        let name = schema.name().map(|name| name.fullname(None));
        assert_eq!(name.as_deref(), Some(source.full_name));
    }
}

#[test]
fn every_avsc_file_is_listed() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/avro");
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".avsc"))
        .collect();
    files.sort();
    let mut listed: Vec<String> = ALL_SCHEMAS
        .iter()
        .map(|source| format!("{}.avsc", source.full_name))
        .collect();
    listed.sort();
    assert_eq!(files, listed);
}

#[test]
fn every_sample_round_trips_through_its_schema() {
    samples::catalog_commands(1)
        .iter()
        .for_each(local_roundtrip);
    local_roundtrip(&samples::product(1));
    samples::cart_commands(1).iter().for_each(local_roundtrip);
    local_roundtrip(&samples::cart(1));
    local_roundtrip(&samples::checkout_requested(1));
    samples::inventory_commands(1)
        .iter()
        .for_each(local_roundtrip);
    local_roundtrip(&samples::stock_level(1));
    samples::inventory_events(1)
        .iter()
        .for_each(local_roundtrip);
    samples::payment_commands(1)
        .iter()
        .for_each(local_roundtrip);
    samples::payment_events(1).iter().for_each(local_roundtrip);
    samples::payments(1).iter().for_each(local_roundtrip);
    samples::orders(1).iter().for_each(local_roundtrip);
    samples::order_events(1).iter().for_each(local_roundtrip);
    samples::command_outcomes(1)
        .iter()
        .for_each(local_roundtrip);
    local_roundtrip(&"product-1".to_owned());
}

#[test]
fn union_variants_encode_as_the_branch_of_the_same_name() {
    use crate::{cart, catalog, inventory, payment};
    assert_branches_match::<catalog::CatalogCommand, _>(
        samples::catalog_commands(1).into_iter().map(|c| c.body),
    );
    assert_branches_match::<cart::CartCommand, _>(
        samples::cart_commands(1).into_iter().map(|c| c.body),
    );
    assert_branches_match::<inventory::InventoryCommand, _>(
        samples::inventory_commands(1).into_iter().map(|c| c.body),
    );
    assert_branches_match::<inventory::InventoryEvent, _>(
        samples::inventory_events(1).into_iter().map(|e| e.body),
    );
    assert_branches_match::<payment::PaymentCommand, _>(
        samples::payment_commands(1).into_iter().map(|c| c.body),
    );
    assert_branches_match::<payment::PaymentEvent, _>(
        samples::payment_events(1).into_iter().map(|e| e.body),
    );
}

#[test]
fn same_shaped_variants_stay_distinct() {
    // ReserveStock, ReleaseStock and CommitStock have identical fields: only the branch index
    // tells them apart, so a decoder that matched branches by shape would confuse them.
    for command in samples::inventory_commands(2) {
        local_roundtrip(&command);
    }
}

#[test]
fn a_record_of_another_type_is_refused_not_misread() {
    let product = samples::product(1);
    let datum = encode_datum(&product).unwrap();
    let schema = crate::record::PRODUCT.schema();
    let value = GenericDatumReader::builder(schema)
        .build()
        .unwrap()
        .read_value(&mut datum.as_slice())
        .unwrap();
    let error =
        record_from_value::<crate::cart::Cart>(Some("shop.catalog.Product".to_owned()), &value)
            .unwrap_err();
    assert!(matches!(error, CodecError::WrongSchema { .. }), "{error}");
    assert!(error.is_poison());
}

#[test]
fn a_value_that_breaks_its_schema_is_an_encode_error() {
    // A type whose shape is not its schema's (a struct declared with the string key schema)
    // cannot be written: a bug in the producer, neither poison nor worth a retry.
    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct NotAString {
        field: i32,
    }
    impl AvroRecord for NotAString {
        fn source() -> &'static crate::SchemaSource {
            &crate::record::KEY_STRING
        }
    }
    let error = encode_datum(&NotAString { field: 1 }).unwrap_err();
    assert!(matches!(error, CodecError::Encode { .. }), "{error}");
    assert!(!error.is_poison() && !error.is_transient());
}

#[test]
fn wire_header_is_checked_before_anything_else() {
    assert_eq!(wire_schema_id(&[0, 0, 0, 1, 2, 99]).unwrap(), 258);
    assert_eq!(wire_schema_id(&[0, 0, 0, 0, 7]).unwrap(), 7);
    for bad in [
        &[][..],
        &[0, 0, 0][..],
        &[1, 0, 0, 0, 7, 1][..],
        b"{\"json\":1}",
    ] {
        let error = wire_schema_id(bad).unwrap_err();
        assert!(error.is_poison(), "{bad:?}: {error}");
    }
}

#[test]
fn garbage_after_a_valid_header_does_not_panic() {
    // Decoding random bytes with a real schema must fail cleanly, whatever the bytes say.
    let schema = crate::record::CART.schema();
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    for length in 0..200 {
        let bytes: Vec<u8> = (0..length)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed & 0xff) as u8
            })
            .collect();
        let reader = GenericDatumReader::builder(schema).build().unwrap();
        let _ = reader.read_value(&mut bytes.as_slice());
    }
}
