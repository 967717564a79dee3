//! The baseline: what a plain producer gets from the same broker, topic and settings, with
//! records like the ingress's (Avro `CartCommand` AddItem values keyed by user id, with a
//! `traceparent` header), encoded before the clock starts so only producing is timed.
//!
//! Two shapes: a **burst** (every record handed to librdkafka as fast as it takes them, then
//! every delivery report awaited: the broker's ceiling for this client), and a **closed loop**
//! with as many records in flight as the HTTP step had connections (what the ingress would get
//! if HTTP, JSON, auth and Avro cost nothing).

use crate::tally::{Tally, Window};
use crate::workload::{product_id, user_id};
use anyhow::{Context, anyhow, bail, ensure};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::future_producer::OwnedDeliveryResult;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use shop_platform::kafka::{KafkaSettings, TracingContext};
use shop_schemas::cart::{AddItem, CartCommand, CartCommandBody};
use shop_schemas::{AvroCodec, Part, Registration, RegistryConfig, now_millis};
use shop_topics::names::headers::TRACEPARENT;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// librdkafka's own bound on a record, as the ingress sets it (its default delivery timeout).
const MESSAGE_TIMEOUT: Duration = Duration::from_secs(10);

/// One record in the wire format, as the ingress would have produced it.
#[derive(Debug)]
pub(crate) struct Encoded {
    key: Vec<u8>,
    value: Vec<u8>,
    traceparent: String,
}

impl Encoded {
    fn record<'a>(&'a self, topic: &'a str) -> FutureRecord<'a, [u8], [u8]> {
        let headers = OwnedHeaders::new().insert(Header {
            key: TRACEPARENT,
            value: Some(self.traceparent.as_bytes()),
        });
        FutureRecord::to(topic)
            .key(&self.key[..])
            .payload(&self.value[..])
            .headers(headers)
    }

    /// Key and value bytes, for the results.
    pub(crate) fn size(&self) -> usize {
        self.key.len() + self.value.len()
    }
}

/// `count` AddItem commands for `topic`, request `n`'s user and product as in the HTTP load, each
/// with a fresh command id and trace, like the ingress makes them.
///
/// # Errors
/// If the registry does not have the topic's subjects.
pub(crate) async fn encode(
    registry: &RegistryConfig,
    topic: &str,
    count: usize,
    users: usize,
    products: usize,
) -> anyhow::Result<Vec<Encoded>> {
    ensure!(
        users > 0 && products > 0,
        "users and products must be at least 1"
    );
    let codec = AvroCodec::new(registry, Registration::LookupOnly)
        .context("while creating the raw producer's codec")?;
    let mut keys = Vec::with_capacity(users.min(count));
    for user in 0..users.min(count) {
        let key = codec
            .encode_key(topic, &user_id(user))
            .await
            .with_context(|| format!("while encoding the key of user {user}"))?;
        keys.push(key);
    }
    let mut encoded = Vec::with_capacity(count);
    for n in 0..count {
        let user = n % users;
        let command = CartCommand {
            command_id: uuid::Uuid::new_v4().to_string(),
            issued_at: now_millis(),
            user_id: user_id(user),
            body: CartCommandBody::AddItem(AddItem {
                product_id: product_id(n % products),
                quantity: 1,
            }),
        };
        let value = codec
            .encode(topic, Part::Value, &command)
            .await
            .with_context(|| format!("while encoding raw record {n}"))?;
        let key = keys
            .get(user)
            .cloned()
            .ok_or_else(|| anyhow!("no key was encoded for user {user}"))?;
        encoded.push(Encoded {
            key,
            value,
            traceparent: shop_ingress::trace::child_of(None),
        });
    }
    Ok(encoded)
}

/// What a burst measured.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Burst {
    pub(crate) records: usize,
    /// From the first send to the last delivery report.
    pub(crate) elapsed: Duration,
}

/// An idempotent producer configured as the ingress's (`KafkaSettings::producer()` plus its
/// message timeout), connected to `topic`'s partition leaders before any clock starts.
#[derive(Clone)]
pub(crate) struct RawProducer {
    producer: FutureProducer<TracingContext>,
    topic: Arc<str>,
}

impl std::fmt::Debug for RawProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawProducer")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl RawProducer {
    /// # Errors
    /// If librdkafka refuses the settings or the topic's metadata does not come in `timeout`.
    pub(crate) async fn connect(
        kafka: &KafkaSettings,
        topic: &str,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let mut config = kafka.producer();
        if !kafka
            .overrides
            .iter()
            .any(|(key, _)| key == "message.timeout.ms")
        {
            config.set(
                "message.timeout.ms",
                MESSAGE_TIMEOUT.as_millis().to_string(),
            );
        }
        let producer: FutureProducer<TracingContext> =
            config
                .create_with_context(TracingContext)
                .context("while creating the raw producer")?;
        let client = producer.clone();
        let name = topic.to_owned();
        tokio::task::spawn_blocking(move || {
            client
                .client()
                .fetch_metadata(Some(&name), timeout)
                .map(drop)
        })
        .await
        .context("the metadata fetch failed to run")?
        .with_context(|| format!("while fetching the metadata of {topic}"))?;
        Ok(Self {
            producer,
            topic: Arc::from(topic),
        })
    }

    /// Records on the topic now: the sum of its partitions' high minus low watermarks.
    ///
    /// # Errors
    /// If a partition's watermarks do not come in `timeout`.
    pub(crate) async fn records_on_topic(
        &self,
        partitions: i32,
        timeout: Duration,
    ) -> anyhow::Result<i64> {
        let (producer, topic) = (self.producer.clone(), Arc::clone(&self.topic));
        tokio::task::spawn_blocking(move || {
            let mut total = 0;
            for partition in 0..partitions {
                let (low, high) = producer
                    .client()
                    .fetch_watermarks(&topic, partition, timeout)
                    .with_context(|| format!("while reading {topic}[{partition}]'s offsets"))?;
                total += high - low;
            }
            anyhow::Ok(total)
        })
        .await
        .context("the watermark fetch failed to run")?
    }

    /// Hands every record to librdkafka as fast as it takes them (waiting for deliveries only
    /// when its queue is full) and waits for every delivery report.
    ///
    /// # Errors
    /// If a record is not delivered, or everything takes longer than `timeout`.
    pub(crate) async fn burst(
        &self,
        records: &[Encoded],
        timeout: Duration,
    ) -> anyhow::Result<Burst> {
        let start = Instant::now();
        tokio::time::timeout(timeout, self.send_all(records))
            .await
            .map_err(|_| anyhow!("the raw burst took longer than {timeout:?}"))??;
        Ok(Burst {
            records: records.len(),
            elapsed: start.elapsed(),
        })
    }

    async fn send_all(&self, records: &[Encoded]) -> anyhow::Result<()> {
        let mut pending = FuturesUnordered::new();
        for encoded in records {
            let mut record = encoded.record(&self.topic);
            loop {
                match self.producer.send_result(record) {
                    Ok(delivery) => {
                        pending.push(delivery);
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                        record = returned;
                        match pending.next().await {
                            Some(delivered) => check(delivered)?,
                            None => tokio::time::sleep(Duration::from_millis(1)).await,
                        }
                    }
                    Err((error, _)) => return Err(error).context("while producing a raw record"),
                }
            }
        }
        while let Some(delivered) = pending.next().await {
            check(delivered)?;
        }
        Ok(())
    }

    /// `in_flight` tasks, each producing one record and awaiting its delivery report before the
    /// next, through `window`; records are reused round robin (nobody reads them).
    ///
    /// # Errors
    /// If a task fails to run.
    pub(crate) async fn closed_loop(
        &self,
        records: Arc<Vec<Encoded>>,
        in_flight: usize,
        window: Window,
    ) -> anyhow::Result<Tally> {
        ensure!(!records.is_empty(), "no records to produce");
        let next = Arc::new(AtomicUsize::new(0));
        let mut tasks = JoinSet::new();
        for _ in 0..in_flight {
            let (producer, records, next) = (self.clone(), Arc::clone(&records), Arc::clone(&next));
            tasks.spawn(async move {
                let mut tally = Tally::new()?;
                while Instant::now() < window.measure_until {
                    let index = next.fetch_add(1, Ordering::Relaxed) % records.len();
                    let Some(encoded) = records.get(index) else {
                        bail!("record {index} is missing");
                    };
                    let sent = Instant::now();
                    let delivered = producer
                        .producer
                        .send(encoded.record(&producer.topic), MESSAGE_TIMEOUT)
                        .await;
                    let done = Instant::now();
                    match delivered {
                        Ok(_) => tally.success(&window, done, done - sent),
                        Err((error, _)) => tally.failure(&window, done, error.to_string()),
                    }
                }
                Ok(tally)
            });
        }
        let mut total = Tally::new()?;
        while let Some(joined) = tasks.join_next().await {
            total.merge(&joined.context("a raw producer task failed")??)?;
        }
        Ok(total)
    }
}

fn check(
    delivered: Result<OwnedDeliveryResult, futures::channel::oneshot::Canceled>,
) -> anyhow::Result<()> {
    match delivered {
        Ok(Ok(_)) => Ok(()),
        Ok(Err((error, _))) => Err(error).context("a raw record was not delivered"),
        Err(_) => bail!("the producer dropped a raw record"),
    }
}
