//! The global table: loaded fully before use, then kept current.

use crate::helpers::{codec, producer, register_subjects};
use rdkafka::producer::FutureRecord;
use shop_platform::testing;
use shop_processors::runtime::GlobalTable;
use shop_schemas::catalog::Product;
use shop_schemas::codec::Part;
use shop_schemas::{AvroRecord, samples};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

async fn send(topic: &str, key: &str, product: Option<&Product>) {
    let codec = codec();
    let key = codec.encode_key(topic, key).await.unwrap();
    let value = match product {
        Some(product) => Some(codec.encode(topic, Part::Value, product).await.unwrap()),
        None => None,
    };
    let mut record = FutureRecord::to(topic).key(&key);
    if let Some(value) = &value {
        record = record.payload(value);
    }
    producer()
        .send(record, Duration::from_secs(10))
        .await
        .map_err(|(error, _)| error)
        .unwrap();
}

#[tokio::test]
async fn a_global_table_loads_everything_then_follows_changes() {
    testing::init_logs();
    let topic = testing::unique("global") + ".catalog.products";
    testing::create_topic(&topic, 3).await;
    register_subjects(&[(&topic, Product::source())]).await;
    for i in 0..50 {
        send(&topic, &format!("product-{i}"), Some(&samples::product(i))).await;
    }
    let mut newer = samples::product(7);
    newer.version = 99;
    send(&topic, "product-7", Some(&newer)).await;

    let shutdown = CancellationToken::new();
    let table: GlobalTable<Product> = GlobalTable::start(
        &testing::kafka(),
        codec(),
        &topic,
        Duration::from_secs(30),
        shutdown.clone(),
    )
    .await
    .unwrap();
    assert_eq!(table.len(), 50, "loaded to the end before returning");
    assert_eq!(
        table.get("product-7").unwrap().version,
        99,
        "the newest value wins"
    );

    send(&topic, "product-3", None).await;
    send(&topic, "product-new", Some(&samples::product(100))).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while (table.get("product-3").is_some() || table.get("product-new").is_none())
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(table.get("product-3").is_none(), "a tombstone removes");
    assert!(table.get("product-new").is_some(), "a new key appears");
    shutdown.cancel();
}

#[tokio::test]
async fn a_missing_topic_is_a_clear_error() {
    let error = GlobalTable::<Product>::start(
        &testing::kafka(),
        codec(),
        &testing::unique("absent"),
        Duration::from_secs(5),
        CancellationToken::new(),
    )
    .await
    .unwrap_err();
    assert!(error.to_string().contains("does not exist"), "{error}");
}
