//! Helpers for integration tests against the real local stack (feature `testing`).
//!
//! Tests share one broker, registry and database server and stay out of each other's way by
//! naming everything they create with [`unique`]. Addresses come from the same variables the
//! services read (`SHOP_KAFKA_BROKERS`, `SHOP_SCHEMA_REGISTRY_URL`, `SHOP_DATABASE_URL`), with the
//! local stack's defaults.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test support: a failure is the test's.

use crate::kafka::{KafkaSettings, TracingContext};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::OwnedMessage;
use rdkafka::{ClientConfig, Message};
use std::time::{Duration, Instant};

/// `SHOP_KAFKA_BROKERS`, or the local stack's.
pub fn brokers() -> String {
    std::env::var("SHOP_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".to_owned())
}

/// `SHOP_SCHEMA_REGISTRY_URL`, or the local stack's.
pub fn registry_url() -> String {
    std::env::var("SHOP_SCHEMA_REGISTRY_URL")
        .unwrap_or_else(|_| "http://127.0.0.1:8081/apis/ccompat/v7".to_owned())
}

/// `SHOP_DATABASE_URL`, or the local stack's.
pub fn database_url() -> String {
    std::env::var("SHOP_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://shop:shop@127.0.0.1:5433/shop".to_owned())
}

/// Kafka settings for a test client.
pub fn kafka() -> KafkaSettings {
    KafkaSettings::new(brokers(), "shop-test")
}

/// `name` with a random suffix: a topic prefix, group id or database name no other test uses.
pub fn unique(name: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{name}_{}", &id[..12])
}

/// Logs warnings and errors to the test's captured output, everything with `TEST_LOG=1`. Safe
/// to call from every test.
pub fn init_logs() {
    // Warnings and errors always: the test harness keeps them out of sight unless the test
    // fails, and then they say why (a processor that stopped logs its reason, nothing else).
    let filter = if std::env::var("TEST_LOG").is_ok_and(|value| value == "1") {
        "debug,librdkafka=info"
    } else {
        "warn"
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

/// Creates `topic` with `partitions` and waits until metadata shows it.
pub async fn create_topic(topic: &str, partitions: i32) {
    let admin: AdminClient<TracingContext> =
        kafka().admin().create_with_context(TracingContext).unwrap();
    let results = admin
        .create_topics(
            [&NewTopic::new(
                topic,
                partitions,
                TopicReplication::Fixed(1),
            )],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
        )
        .await
        .expect("create_topics answered");
    for result in results {
        result.unwrap_or_else(|(topic, code)| panic!("creating {topic}: {code}"));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let metadata = admin
            .inner()
            .fetch_metadata(Some(topic), Duration::from_secs(5))
            .unwrap();
        let ready = metadata.topics().iter().any(|t| {
            t.error().is_none()
                && t.partitions().len() == usize::try_from(partitions).unwrap()
                && t.partitions().iter().all(|p| p.leader() >= 0)
        });
        if ready {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{topic} never showed in metadata"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Reads `topic` from the beginning (read_committed) until `count` records arrived or `timeout`
/// passed, and returns what arrived.
pub async fn consume(topic: &str, count: usize, timeout: Duration) -> Vec<OwnedMessage> {
    let config = kafka().consumer(&unique("test-reader"));
    consume_with(config, topic, count, timeout).await
}

/// [`consume`] with `read_uncommitted`, so records of open and aborted transactions count too.
pub async fn consume_uncommitted(
    topic: &str,
    count: usize,
    timeout: Duration,
) -> Vec<OwnedMessage> {
    let mut config = kafka().consumer(&unique("uncommitted-reader"));
    config.set("isolation.level", "read_uncommitted");
    consume_with(config, topic, count, timeout).await
}

async fn consume_with(
    config: ClientConfig,
    topic: &str,
    count: usize,
    timeout: Duration,
) -> Vec<OwnedMessage> {
    let consumer: StreamConsumer<TracingContext> =
        config.create_with_context(TracingContext).unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let deadline = Instant::now() + timeout;
    let mut messages = Vec::new();
    while messages.len() < count {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, consumer.recv()).await {
            Ok(Ok(message)) => messages.push(message.detach()),
            Ok(Err(error)) => panic!("consuming {topic}: {error}"),
            Err(_) => break,
        }
    }
    messages.sort_by_key(|m| (m.partition(), m.offset()));
    messages
}

/// Reads `topic` from the beginning (read_committed) until nothing new arrives for `idle`,
/// after waiting up to `first` for the first record.
pub async fn consume_until_idle(topic: &str, first: Duration, idle: Duration) -> Vec<OwnedMessage> {
    let consumer: StreamConsumer<TracingContext> = kafka()
        .consumer(&unique("test-reader"))
        .create_with_context(TracingContext)
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let mut messages = Vec::new();
    let mut wait = first;
    while let Ok(result) = tokio::time::timeout(wait, consumer.recv()).await {
        let message = result.unwrap_or_else(|error| panic!("consuming {topic}: {error}"));
        messages.push(message.detach());
        wait = idle;
    }
    messages.sort_by_key(|m| (m.partition(), m.offset()));
    messages
}
