//! Before and after the clocks: creating and deleting the run's topics, registering the output
//! subjects, and encoding and preloading the input.

use crate::plan::{Plan, Variant};
use crate::probe::{Deliveries, send_with_backpressure, wait_for_deliveries};
use crate::{blocking, remaining};
use anyhow::{Context, anyhow, ensure};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use shop_platform::kafka::{KafkaSettings, TracingContext};
use shop_schemas::codec::{Part, subject};
use shop_schemas::inventory::{InventoryCommand, InventoryCommandBody, Restock};
use shop_schemas::registry::RegistryAdmin;
use shop_schemas::{AvroCodec, AvroRecord, KEY_STRING, Registration, RegistryConfig, now_millis};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Creates `topics` and waits until metadata shows each with its partitions led; returns how
/// many brokers the metadata lists.
pub(crate) async fn create_topics(
    admin: &Arc<AdminClient<TracingContext>>,
    topics: &[(String, i32)],
    timeout: Duration,
) -> anyhow::Result<usize> {
    let new_topics: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|(name, partitions)| NewTopic::new(name, *partitions, TopicReplication::Fixed(1)))
        .collect();
    let options = AdminOptions::new()
        .request_timeout(Some(timeout))
        .operation_timeout(Some(timeout));
    let results = admin
        .create_topics(new_topics.iter(), &options)
        .await
        .context("while creating the benchmark topics")?;
    for result in results {
        result.map_err(|(topic, code)| anyhow!("while creating topic {topic}: {code}"))?;
    }
    let admin = Arc::clone(admin);
    let topics = topics.to_vec();
    blocking("waiting for the topics in metadata", move || {
        let deadline = Instant::now() + timeout;
        loop {
            let metadata = admin
                .inner()
                .fetch_metadata(None, remaining(deadline).min(Duration::from_secs(5)))
                .context("while fetching metadata to see the new topics")?;
            let missing: Vec<&str> = topics
                .iter()
                .filter(|(name, partitions)| {
                    !metadata.topics().iter().any(|topic| {
                        topic.name() == name
                            && topic.error().is_none()
                            && usize::try_from(*partitions)
                                .is_ok_and(|count| count == topic.partitions().len())
                            && topic.partitions().iter().all(|p| p.leader() >= 0)
                    })
                })
                .map(|(name, _)| name.as_str())
                .collect();
            if missing.is_empty() {
                return Ok(metadata.brokers().len());
            }
            ensure!(
                Instant::now() < deadline,
                "topics {missing:?} did not show in metadata within {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    })
    .await
}

pub(crate) async fn delete_topics(
    admin: &AdminClient<TracingContext>,
    topics: &[(String, i32)],
    timeout: Duration,
) -> anyhow::Result<()> {
    let names: Vec<&str> = topics.iter().map(|(name, _)| name.as_str()).collect();
    let options = AdminOptions::new()
        .request_timeout(Some(timeout))
        .operation_timeout(Some(timeout));
    let results = admin
        .delete_topics(&names, &options)
        .await
        .context("while deleting the benchmark topics")?;
    for result in results {
        result.map_err(|(topic, code)| anyhow!("while deleting topic {topic}: {code}"))?;
    }
    Ok(())
}

/// Registers the subjects of every EOS output topic, as `shop-topics apply` does for real
/// topics: the runtime's codec then only looks them up (`Registration::LookupOnly`), like a
/// deployed processor's, instead of registering on its first record.
pub(crate) async fn register_output_subjects(
    registry: &RegistryConfig,
    plan: &Plan,
) -> anyhow::Result<()> {
    let admin = RegistryAdmin::new(registry).context("while connecting to the schema registry")?;
    for (variant, _, output) in &plan.runs {
        if *variant == Variant::Raw {
            continue; // Raw copies bytes; nothing is encoded for its output.
        }
        // The others encode with a `LookupOnly` codec, like a deployed processor.
        for (part, source) in [
            (Part::Key, &KEY_STRING),
            (Part::Value, InventoryCommand::source()),
        ] {
            let name = subject(output, part);
            admin
                .register(&name, source)
                .await
                .with_context(|| format!("while registering subject {name}"))?;
        }
    }
    Ok(())
}

/// The input records, keys and values already in the wire format: encoded once, before any
/// clock runs, so the preload measures nothing and costs little.
pub(crate) async fn encode_input(
    registry: &RegistryConfig,
    input: &str,
    records: usize,
    products: usize,
) -> anyhow::Result<Vec<(Arc<[u8]>, Vec<u8>)>> {
    // Auto-registering the input's subjects here is what a producing service's deployment
    // would have done beforehand; it is a benchmark tool, so it may.
    let codec = AvroCodec::new(registry, Registration::AutoRegister)
        .context("while creating the codec for the input")?;
    let mut keys = Vec::with_capacity(products);
    for product in 0..products {
        let key = codec
            .encode_key(input, &product_id(product))
            .await
            .with_context(|| format!("while encoding the key of product {product}"))?;
        keys.push(Arc::<[u8]>::from(key));
    }
    let issued_at = now_millis();
    let mut encoded = Vec::with_capacity(records);
    for index in 0..records {
        let product = index % products;
        let command = InventoryCommand {
            command_id: format!("bench-{index:09}"),
            issued_at,
            body: InventoryCommandBody::Restock(Restock {
                product_id: product_id(product),
                quantity: i32::try_from(index % 10).unwrap_or(0) + 1,
            }),
        };
        let value = codec
            .encode(input, Part::Value, &command)
            .await
            .with_context(|| format!("while encoding input record {index}"))?;
        let key = keys
            .get(product)
            .cloned()
            .ok_or_else(|| anyhow!("no key was encoded for product {product}"))?;
        encoded.push((key, value));
    }
    Ok(encoded)
}

fn product_id(product: usize) -> String {
    format!("product-{product:04}")
}

/// Writes the input and returns the end offset of each partition, what every variant must
/// reach.
pub(crate) async fn preload(
    kafka: &KafkaSettings,
    input: &str,
    records: Vec<(Arc<[u8]>, Vec<u8>)>,
    partitions: i32,
    timeout: Duration,
) -> anyhow::Result<Vec<(i32, i64)>> {
    let mut config = kafka.producer();
    // Throughput over latency: nobody waits on a single preload record.
    config.set("linger.ms", "50");
    let producer: BaseProducer<Deliveries> = config
        .create_with_context(Deliveries::default())
        .context("while creating the preload producer")?;
    let input = input.to_owned();
    blocking("preloading the input", move || {
        let deadline = Instant::now() + timeout;
        for (key, value) in &records {
            let record = BaseRecord::to(&input).key(&key[..]).payload(&value[..]);
            send_with_backpressure(&producer, record, deadline)
                .context("while preloading the input")?;
            producer.poll(Duration::ZERO);
        }
        wait_for_deliveries(&producer, records.len(), deadline)
            .context("while preloading the input")?;
        let mut ends = Vec::new();
        let mut total = 0;
        for partition in 0..partitions {
            let (low, high) = producer
                .client()
                .fetch_watermarks(&input, partition, remaining(deadline))
                .with_context(|| {
                    format!("while reading the end offset of partition {partition}")
                })?;
            total += high - low;
            ends.push((partition, high));
        }
        ensure!(
            usize::try_from(total).is_ok_and(|total| total == records.len()),
            "the input holds {total} records after preloading {}",
            records.len()
        );
        Ok(ends)
    })
    .await
}
