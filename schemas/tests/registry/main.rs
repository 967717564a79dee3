//! The codec against the real schema registry and broker: every record type and union variant
//! goes out through Kafka and comes back equal; lookups, refusals and poison are typed errors.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a failure is the finding.

mod evolution;
mod helpers;

use helpers::{admin, codec, produce, producer};
use rdkafka::Message;
use shop_platform::testing;
use shop_schemas::codec::{CodecError, Part, subject};
use shop_schemas::{AvroRecord, Registration, RegistryConfig, samples};
use std::fmt::Debug;
use std::time::Duration;

/// Produces `records` to a fresh topic through the codec, reads them back and compares.
async fn round_trip<T: AvroRecord + PartialEq + Debug>(records: Vec<T>) {
    let topic = testing::unique(&format!("roundtrip-{}", T::source().full_name));
    testing::create_topic(&topic, 1).await;
    let codec = codec(Registration::AutoRegister);
    let producer = producer();
    for (index, record) in records.iter().enumerate() {
        let key = codec
            .encode_key(&topic, &format!("key-{index}"))
            .await
            .unwrap();
        let value = codec.encode(&topic, Part::Value, record).await.unwrap();
        produce(&producer, &topic, &key, &value).await;
    }
    let messages = testing::consume(&topic, records.len(), Duration::from_secs(30)).await;
    assert_eq!(messages.len(), records.len(), "every record came back");
    for (index, (message, record)) in messages.iter().zip(&records).enumerate() {
        let key = codec.decode_key(message.key().unwrap()).await.unwrap();
        assert_eq!(key, format!("key-{index}"));
        let decoded: T = codec.decode(message.payload().unwrap()).await.unwrap();
        assert_eq!(&decoded, record);
    }
}

#[tokio::test]
async fn every_record_and_variant_round_trips_through_registry_and_broker() {
    testing::init_logs();
    tokio::join!(
        round_trip(samples::catalog_commands(7)),
        round_trip(vec![samples::product(7)]),
        round_trip(samples::cart_commands(7)),
        round_trip(vec![samples::cart(7)]),
        round_trip(vec![samples::checkout_requested(7)]),
        round_trip(samples::inventory_commands(7)),
        round_trip(vec![samples::stock_level(7)]),
        round_trip(samples::inventory_events(7)),
        round_trip(samples::payment_commands(7)),
        round_trip(samples::payment_events(7)),
        round_trip(samples::payments(7)),
        round_trip(samples::orders(7)),
        round_trip(samples::order_events(7)),
        round_trip(samples::command_outcomes(7)),
    );
}

#[tokio::test]
async fn a_key_encodes_to_the_same_bytes_on_every_topic() {
    // Co-partitioning: inventory.commands and inventory.stock are both keyed by product id and
    // must put a product on the same partition, which the partitioner decides from key bytes.
    // That holds only if the registry gives the identical key schema one id on every subject.
    let codec = codec(Registration::AutoRegister);
    let first = codec
        .encode_key(&testing::unique("copart-a"), "product-1")
        .await
        .unwrap();
    let second = codec
        .encode_key(&testing::unique("copart-b"), "product-1")
        .await
        .unwrap();
    assert_eq!(first, second);
}

#[tokio::test]
async fn lookup_only_refuses_an_unregistered_subject_then_finds_it() {
    let topic = testing::unique("lookup");
    let codec = codec(Registration::LookupOnly);
    let record = samples::product(1);
    let error = codec
        .encode(&topic, Part::Value, &record)
        .await
        .unwrap_err();
    assert!(matches!(error, CodecError::SchemaRefused { .. }), "{error}");
    assert!(!error.is_transient() && !error.is_poison());

    let id = admin()
        .register(
            &subject(&topic, Part::Value),
            <shop_schemas::catalog::Product as AvroRecord>::source(),
        )
        .await
        .unwrap();
    let payload = codec.encode(&topic, Part::Value, &record).await.unwrap();
    assert_eq!(shop_schemas::codec::wire_schema_id(&payload).unwrap(), id);
}

#[tokio::test]
async fn bad_payloads_are_poison_never_panics() {
    let codec = codec(Registration::AutoRegister);
    let topic = testing::unique("poison");
    let product = codec
        .encode(&topic, Part::Value, &samples::product(1))
        .await
        .unwrap();

    let not_wire = codec
        .decode::<shop_schemas::catalog::Product>(b"{\"json\":true}")
        .await;
    assert!(matches!(not_wire, Err(CodecError::NotWireFormat { .. })));

    let unknown_id = codec
        .decode::<shop_schemas::catalog::Product>(&[0, 0x7f, 0xff, 0xff, 0xf0, 2, 65])
        .await
        .unwrap_err();
    assert!(unknown_id.is_poison(), "{unknown_id}");

    let wrong_type = codec
        .decode::<shop_schemas::cart::Cart>(&product)
        .await
        .unwrap_err();
    assert!(
        matches!(wrong_type, CodecError::WrongSchema { .. }),
        "{wrong_type}"
    );

    let mut truncated = product.clone();
    truncated.truncate(product.len() - 4);
    let error = codec
        .decode::<shop_schemas::catalog::Product>(&truncated)
        .await
        .unwrap_err();
    assert!(error.is_poison(), "{error}");
}

#[tokio::test]
async fn an_unreachable_registry_is_transient() {
    let config = RegistryConfig {
        url: "http://127.0.0.1:1/apis/ccompat/v7".to_owned(),
        timeout: Duration::from_secs(2),
    };
    let codec = shop_schemas::AvroCodec::new(&config, Registration::LookupOnly).unwrap();
    let error = codec
        .encode(&testing::unique("down"), Part::Value, &samples::product(1))
        .await
        .unwrap_err();
    assert!(error.is_transient(), "{error}");
}
