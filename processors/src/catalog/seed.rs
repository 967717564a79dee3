//! Seeding: the five products a fresh deployment starts with, written as ordinary
//! `CreateProduct` commands to `catalog.commands`, so they go through the catalog processor
//! like any other command (validation, outcome, inventory restock) instead of around it.
//!
//! The rule for "fresh" is that neither `catalog.commands` nor `catalog.products` has ever held
//! a record: every partition's high watermark is 0. A high watermark never goes back down, so
//! once anything was written (even records later deleted by retention or compaction) the
//! catalog is never seeded again, and an operator who deleted every product keeps an empty
//! catalog.
//!
//! Known race: two instances starting at the same instant may both see empty topics and both
//! seed. That is harmless: the second set of commands reaches the catalog processor after the
//! first and is rejected as `duplicate_id`, so each product is created once.

use super::body_product_id;
use crate::topology::TopicNames;
use futures::future::try_join_all;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord};
use shop_platform::kafka::{KafkaSettings, TracingContext};
use shop_schemas::catalog::{CatalogCommand, CatalogCommandBody, CreateProduct};
use shop_schemas::codec::Part;
use shop_schemas::{AvroCodec, CodecError, Money, TimestampMillis};
use std::time::{Duration, Instant};

/// Who the seed commands say issued them.
const SEEDER: &str = "seed";

/// The catalog a fresh deployment starts with: id, name, description, price in US cents,
/// initial stock.
const SEED_PRODUCTS: [(&str, &str, &str, i64, i32); 5] = [
    (
        "laptop",
        "Laptop",
        "A 14-inch laptop for work and travel.",
        129_999,
        50,
    ),
    ("mouse", "Mouse", "A wireless optical mouse.", 2_999, 200),
    (
        "keyboard",
        "Keyboard",
        "A mechanical keyboard with a US layout.",
        8_999,
        100,
    ),
    ("monitor", "Monitor", "A 27-inch 4K monitor.", 39_999, 75),
    (
        "headphones",
        "Headphones",
        "Over-ear headphones with noise cancelling.",
        24_999,
        150,
    ),
];

/// Why seeding failed. The catalog may be partly seeded when this is returned (some commands
/// delivered, others not); a retry then sees a non-empty topic and seeds nothing, so the missing
/// products have to be created through the ingress.
///
/// The sources of the variants that also name a product are boxed, so every `Result` here
/// stays small.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("could not create the Kafka {client} for seeding: {source}")]
    Client {
        client: &'static str,
        source: KafkaError,
    },
    #[error("could not read the metadata of topic {topic}: {source}")]
    Metadata { topic: String, source: KafkaError },
    /// Topics are created by `shop-topics apply`, never by seeding: run it first.
    #[error("topic {topic} does not exist; create the topics before seeding")]
    MissingTopic { topic: String },
    #[error("could not read the watermarks of {topic} partition {partition}: {source}")]
    Watermarks {
        topic: String,
        partition: i32,
        source: KafkaError,
    },
    #[error("could not encode the seed command for product {product_id} on {topic}: {source}")]
    Encode {
        topic: String,
        product_id: String,
        source: Box<CodecError>,
    },
    #[error("the seed command for product {product_id} was not delivered to {topic}: {source}")]
    Delivery {
        topic: String,
        product_id: String,
        source: Box<KafkaError>,
    },
    #[error("seeding {topic} did not finish within {timeout:?} while {step}")]
    Timeout {
        topic: String,
        step: &'static str,
        timeout: Duration,
    },
    /// The blocking task that reads metadata did not finish (panicked or was cancelled).
    #[error("the check whether {topic} is empty did not complete: {reason}")]
    Interrupted { topic: String, reason: String },
}

/// One `CreateProduct` per seed product, in US dollars, issued by `seed`. Command ids are
/// `seed-<product_id>`: stable, so a double seeding is recognisable in outcomes.
pub fn seed_commands(now: TimestampMillis) -> Vec<CatalogCommand> {
    SEED_PRODUCTS
        .iter()
        .map(
            |&(product_id, name, description, cents, stock)| CatalogCommand {
                command_id: format!("seed-{product_id}"),
                issued_at: now,
                issued_by: SEEDER.to_owned(),
                body: CatalogCommandBody::CreateProduct(CreateProduct {
                    product_id: product_id.to_owned(),
                    name: name.to_owned(),
                    description: description.to_owned(),
                    price: Money::new(cents, "USD"),
                    initial_stock: stock,
                }),
            },
        )
        .collect()
}

/// Writes [`seed_commands`] to `catalog.commands` if this is the first start (see the module
/// docs) and returns how many were written; `Ok(0)` if the catalog has a history. Every delivery
/// is awaited, so on `Ok` the commands are durable. `timeout` bounds the whole operation.
///
/// # Errors
/// [`SeedError`] naming the topic and the step that failed; see its docs on partial seeding.
pub async fn seed_on_first_start(
    kafka: &KafkaSettings,
    codec: &AvroCodec,
    topics: &TopicNames,
    timeout: Duration,
) -> Result<usize, SeedError> {
    let deadline = Instant::now() + timeout;
    let history_topics = [
        topics.catalog_commands.clone(),
        topics.catalog_products.clone(),
    ];
    if !never_written(kafka.clone(), history_topics, deadline).await? {
        tracing::info!("the catalog has a history; not seeding");
        return Ok(0);
    }
    let commands = seed_commands(shop_schemas::now_millis());
    let topic = topics.catalog_commands.as_str();
    let records = encode(codec, topic, &commands).await?;
    produce(kafka, topic, &records, deadline, timeout).await?;
    Ok(records.len())
}

/// Whether every partition of every topic has a high watermark of 0. Runs on a blocking
/// thread: librdkafka's metadata calls block.
async fn never_written(
    kafka: KafkaSettings,
    topics: [String; 2],
    deadline: Instant,
) -> Result<bool, SeedError> {
    let first_topic = topics[0].clone();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer<TracingContext> = kafka
            .consumer(&format!("{}-catalog-seed", kafka.client_id))
            .create_with_context(TracingContext)
            .map_err(|source| SeedError::Client {
                client: "consumer",
                source,
            })?;
        for topic in &topics {
            if has_records(&consumer, topic, deadline)? {
                return Ok(false);
            }
        }
        Ok(true)
    })
    .await
    .map_err(|error| SeedError::Interrupted {
        topic: first_topic,
        reason: error.to_string(),
    })?
}

/// How long to wait before asking the broker again about a topic it could not answer for.
const ASK_AGAIN_AFTER: Duration = Duration::from_millis(200);

/// Whether any partition of `topic` ever held a record. A topic created a moment ago may not be
/// in the metadata yet or have no leader yet (`NotLeaderForPartition`), and a broker may be
/// away for a moment: those are asked again until `deadline`, and only then are an error.
fn has_records(
    consumer: &BaseConsumer<TracingContext>,
    topic: &str,
    deadline: Instant,
) -> Result<bool, SeedError> {
    loop {
        match any_partition_has_records(consumer, topic, deadline) {
            Ok(found) => return Ok(found),
            Err(error) if Instant::now() + ASK_AGAIN_AFTER < deadline => {
                tracing::debug!(%error, "catalog seed: asking the broker again");
                std::thread::sleep(ASK_AGAIN_AFTER);
            }
            Err(error) => return Err(error),
        }
    }
}

fn any_partition_has_records(
    consumer: &BaseConsumer<TracingContext>,
    topic: &str,
    deadline: Instant,
) -> Result<bool, SeedError> {
    for partition in partitions(consumer, topic, deadline)? {
        let (_, high) = consumer
            .fetch_watermarks(topic, partition, remaining(deadline))
            .map_err(|source| SeedError::Watermarks {
                topic: topic.to_owned(),
                partition,
                source,
            })?;
        if high > 0 {
            return Ok(true);
        }
    }
    Ok(false)
}

fn partitions(
    consumer: &BaseConsumer<TracingContext>,
    topic: &str,
    deadline: Instant,
) -> Result<Vec<i32>, SeedError> {
    let metadata = consumer
        .fetch_metadata(Some(topic), remaining(deadline))
        .map_err(|source| SeedError::Metadata {
            topic: topic.to_owned(),
            source,
        })?;
    let partitions = shop_platform::kafka::partition_ids(&metadata, topic);
    if partitions.is_empty() {
        return Err(SeedError::MissingTopic {
            topic: topic.to_owned(),
        });
    }
    Ok(partitions)
}

/// A seed command in the wire format, with its product id for error messages.
struct EncodedCommand {
    product_id: String,
    key: Vec<u8>,
    value: Vec<u8>,
}

async fn encode(
    codec: &AvroCodec,
    topic: &str,
    commands: &[CatalogCommand],
) -> Result<Vec<EncodedCommand>, SeedError> {
    let mut encoded = Vec::with_capacity(commands.len());
    for command in commands {
        let product_id = body_product_id(&command.body).to_owned();
        let error = |source| SeedError::Encode {
            topic: topic.to_owned(),
            product_id: product_id.clone(),
            source: Box::new(source),
        };
        let key = codec.encode_key(topic, &product_id).await.map_err(error)?;
        let value = codec
            .encode(topic, Part::Value, command)
            .await
            .map_err(error)?;
        encoded.push(EncodedCommand {
            product_id,
            key,
            value,
        });
    }
    Ok(encoded)
}

/// Sends every record with an idempotent producer and waits for all deliveries.
async fn produce(
    kafka: &KafkaSettings,
    topic: &str,
    records: &[EncodedCommand],
    deadline: Instant,
    timeout: Duration,
) -> Result<(), SeedError> {
    let producer: FutureProducer<TracingContext> = kafka
        .producer()
        .create_with_context(TracingContext)
        .map_err(|source| SeedError::Client {
            client: "producer",
            source,
        })?;
    let deliveries = records.iter().map(|record| {
        let producer = &producer;
        async move {
            let message = FutureRecord::to(topic)
                .key(&record.key)
                .payload(&record.value);
            producer
                .send(message, remaining(deadline))
                .await
                .map(drop)
                .map_err(|(source, _)| SeedError::Delivery {
                    topic: topic.to_owned(),
                    product_id: record.product_id.clone(),
                    source: Box::new(source),
                })
        }
    });
    tokio::time::timeout_at(deadline.into(), try_join_all(deliveries))
        .await
        .map_err(|_| SeedError::Timeout {
            topic: topic.to_owned(),
            step: "waiting for deliveries",
            timeout,
        })??;
    Ok(())
}

/// What is left of the time budget; zero once it has passed, so a late call fails fast.
fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}
