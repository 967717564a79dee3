//! Reading the topics: every partition from the beginning to its end, `read_committed`.

use super::check::check;
use super::observed::{Observed, Undecodable};
use super::report::Report;
use crate::topology::TopicNames;
use futures::StreamExt;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{Offset, TopicPartitionList};
use shop_platform::kafka::{KafkaSettings, TracingContext};
use shop_schemas::cart::CartCommand;
use shop_schemas::catalog::CatalogCommand;
use shop_schemas::checkout::CheckoutRequested;
use shop_schemas::inventory::{InventoryCommand, InventoryEvent, StockLevel};
use shop_schemas::orders::{Order, OrderEvent};
use shop_schemas::outcomes::CommandOutcome;
use shop_schemas::payment::PaymentEvent;
use shop_schemas::{AvroCodec, AvroRecord, CodecError};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tokio::time::Instant;

/// Why the topics could not be read. Every variant names the topic.
#[derive(Debug, thiserror::Error)]
pub enum ObserveError {
    #[error("cannot create a consumer for {topic}: {source}")]
    Consumer {
        topic: String,
        #[source]
        source: KafkaError,
    },
    #[error("cannot fetch the metadata of {topic}: {source}")]
    Metadata {
        topic: String,
        #[source]
        source: KafkaError,
    },
    #[error("topic {topic} does not exist or has no partitions")]
    NoSuchTopic { topic: String },
    #[error("cannot assign the partitions of {topic}: {source}")]
    Assign {
        topic: String,
        #[source]
        source: KafkaError,
    },
    #[error("reading {topic} failed: {source}")]
    Consume {
        topic: String,
        #[source]
        source: KafkaError,
    },
    #[error(
        "{topic} was not read to its end within {timeout:?}: {behind} of {partitions} \
         partitions had not reached their end ({records} records read){last_error}"
    )]
    Timeout {
        topic: String,
        timeout: Duration,
        behind: usize,
        partitions: usize,
        records: usize,
        /// `; last consumer error: …`, or empty.
        last_error: String,
    },
    #[error(
        "the schema registry did not answer while decoding {topic} partition {partition} \
         offset {offset}: {source}"
    )]
    Registry {
        topic: String,
        partition: i32,
        offset: i64,
        #[source]
        source: CodecError,
    },
    #[error("the consumer setup for {topic} did not finish: {reason}")]
    Task { topic: String, reason: String },
}

/// Reads `checkout.requested`, `orders.events`, `orders.orders`, `inventory.commands`,
/// `inventory.events`, `inventory.stock` and `payment.events` (full names in `topics`) from
/// the beginning to their end as they are when reached, `read_committed`, all at once.
///
/// A record that does not decode is listed in [`Observed::undecodable`], not an error.
///
/// # Errors
/// [`ObserveError`] naming the topic: it does not exist, a Kafka call failed, the registry
/// stayed unreachable, or not every partition reached its end within `timeout` (for all
/// topics together).
pub async fn observe(
    kafka: &KafkaSettings,
    codec: &AvroCodec,
    topics: &TopicNames,
    timeout: Duration,
) -> Result<Observed, ObserveError> {
    let reader = Reader {
        kafka,
        codec,
        deadline: Instant::now() + timeout,
        timeout,
    };
    let read = tokio::try_join!(
        reader.read::<CheckoutRequested>(&topics.checkout_requested),
        reader.read::<OrderEvent>(&topics.orders_events),
        reader.read::<Order>(&topics.orders_orders),
        reader.read::<InventoryCommand>(&topics.inventory_commands),
        reader.read::<InventoryEvent>(&topics.inventory_events),
        reader.read::<StockLevel>(&topics.inventory_stock),
        reader.read::<PaymentEvent>(&topics.payment_events),
    )?;
    let (catalog_commands, cart_commands, outcomes) = tokio::try_join!(
        reader.read::<CatalogCommand>(&topics.catalog_commands),
        reader.read::<CartCommand>(&topics.cart_commands),
        reader.read::<CommandOutcome>(&topics.command_outcomes),
    )?;
    let (checkouts, order_events, orders, commands, inventory_events, stock, payment_events) = read;
    let mut undecodable = Vec::new();
    let observed = Observed {
        checkouts: checkouts.into_events(&mut undecodable),
        order_events: order_events.into_events(&mut undecodable),
        orders: orders.into_table(&mut undecodable),
        inventory_commands: commands.into_events(&mut undecodable),
        inventory_events: inventory_events.into_events(&mut undecodable),
        stock: stock.into_table(&mut undecodable),
        payment_events: payment_events.into_events(&mut undecodable),
        command_ids: catalog_commands
            .into_events(&mut undecodable)
            .into_iter()
            .map(|command| command.command_id)
            .chain(
                cart_commands
                    .into_events(&mut undecodable)
                    .into_iter()
                    .map(|command| command.command_id),
            )
            .collect(),
        outcomes: outcomes.into_events(&mut undecodable),
        undecodable,
    };
    Ok(observed)
}

/// [`observe`], then [`check`].
///
/// # Errors
/// As [`observe`].
pub async fn check_topics(
    kafka: &KafkaSettings,
    codec: &AvroCodec,
    topics: &TopicNames,
    timeout: Duration,
) -> Result<Report, ObserveError> {
    let observed = observe(kafka, codec, topics, timeout).await?;
    Ok(check(&observed))
}

/// One record as read: key and value decoded, `None` where absent.
#[derive(Debug)]
struct Entry<T> {
    partition: i32,
    offset: i64,
    key: Option<String>,
    value: Option<T>,
}

/// A topic as read, before it becomes a list or a table.
#[derive(Debug)]
struct TopicRead<T> {
    topic: String,
    entries: Vec<Entry<T>>,
    undecodable: Vec<Undecodable>,
}

impl<T> TopicRead<T> {
    fn new(topic: &str) -> Self {
        Self {
            topic: topic.to_owned(),
            entries: Vec::new(),
            undecodable: Vec::new(),
        }
    }

    fn sort(&mut self) {
        self.entries.sort_by_key(|e| (e.partition, e.offset));
        self.undecodable.sort_by_key(|u| (u.partition, u.offset));
    }

    /// The values of an event topic in log order per partition; a record without a value is
    /// undecodable there.
    fn into_events(mut self, undecodable: &mut Vec<Undecodable>) -> Vec<T> {
        self.sort();
        undecodable.append(&mut self.undecodable);
        let mut values = Vec::with_capacity(self.entries.len());
        for entry in self.entries {
            match entry.value {
                Some(value) => values.push(value),
                None => undecodable.push(Undecodable {
                    topic: self.topic.clone(),
                    partition: entry.partition,
                    offset: entry.offset,
                    reason: "the record has no value (a tombstone on an event topic)".to_owned(),
                }),
            }
        }
        values
    }

    /// The newest value per key of a compacted topic; a tombstone removes the key, a record
    /// without a key is undecodable.
    fn into_table(mut self, undecodable: &mut Vec<Undecodable>) -> BTreeMap<String, T> {
        self.sort();
        undecodable.append(&mut self.undecodable);
        let mut table = BTreeMap::new();
        for entry in self.entries {
            match (entry.key, entry.value) {
                (Some(key), Some(value)) => {
                    table.insert(key, value);
                }
                (Some(key), None) => {
                    table.remove(&key);
                }
                (None, _) => undecodable.push(Undecodable {
                    topic: self.topic.clone(),
                    partition: entry.partition,
                    offset: entry.offset,
                    reason: "the record has no key (on a compacted topic)".to_owned(),
                }),
            }
        }
        table
    }
}

/// The metadata of `topic`, asking again while the cluster cannot answer (a broker restarting)
/// and `deadline` is ahead. Blocks.
fn fetch_metadata(
    consumer: &StreamConsumer<TracingContext>,
    topic: &str,
    deadline: std::time::Instant,
) -> Result<rdkafka::metadata::Metadata, ObserveError> {
    let mut pause = Duration::from_millis(100);
    loop {
        let wait = deadline
            .saturating_duration_since(std::time::Instant::now())
            .clamp(Duration::from_millis(1), Duration::from_secs(10));
        match consumer.fetch_metadata(Some(topic), wait) {
            Ok(metadata) => return Ok(metadata),
            Err(error) if std::time::Instant::now() + pause < deadline => {
                tracing::warn!(topic, %error, "cannot fetch metadata yet; retrying");
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_secs(2));
            }
            Err(source) => {
                return Err(ObserveError::Metadata {
                    topic: topic.to_owned(),
                    source,
                });
            }
        }
    }
}

/// What every topic read shares.
struct Reader<'a> {
    kafka: &'a KafkaSettings,
    codec: &'a AvroCodec,
    deadline: Instant,
    timeout: Duration,
}

impl Reader<'_> {
    /// Reads every partition of `topic` from the beginning until each reported its end.
    async fn read<T: AvroRecord>(&self, topic: &str) -> Result<TopicRead<T>, ObserveError> {
        let (consumer, partitions) = self.consumer(topic).await?;
        let mut behind: BTreeSet<i32> = partitions.iter().copied().collect();
        let mut read = TopicRead::new(topic);
        let mut last_error = String::new();
        let mut stream = consumer.stream();
        while !behind.is_empty() {
            let next = match tokio::time::timeout_at(self.deadline, stream.next()).await {
                Ok(next) => next,
                Err(_) => break,
            };
            match next {
                Some(Ok(message)) => {
                    let decoded =
                        tokio::time::timeout_at(self.deadline, self.decode(&message, &mut read));
                    match decoded.await {
                        Ok(result) => result?,
                        Err(_) => break,
                    }
                }
                Some(Err(KafkaError::PartitionEOF(partition))) => {
                    behind.remove(&partition);
                }
                // librdkafka retries these itself (a leader moving, a broker restarting).
                Some(Err(error @ KafkaError::MessageConsumption(_))) => {
                    tracing::warn!(topic, %error, "consumer error; still reading");
                    last_error = format!("; last consumer error: {error}");
                }
                Some(Err(source)) => {
                    return Err(ObserveError::Consume {
                        topic: topic.to_owned(),
                        source,
                    });
                }
                None => {
                    return Err(ObserveError::Task {
                        topic: topic.to_owned(),
                        reason: "the consumer stream ended".to_owned(),
                    });
                }
            }
        }
        if behind.is_empty() {
            return Ok(read);
        }
        Err(ObserveError::Timeout {
            topic: topic.to_owned(),
            timeout: self.timeout,
            behind: behind.len(),
            partitions: partitions.len(),
            records: read.entries.len() + read.undecodable.len(),
            last_error,
        })
    }

    /// A consumer assigned every partition of `topic` from the beginning, and the partitions.
    /// Metadata calls block, so this runs on the blocking pool.
    async fn consumer(
        &self,
        topic: &str,
    ) -> Result<(StreamConsumer<TracingContext>, Vec<i32>), ObserveError> {
        let mut config = self
            .kafka
            .consumer(&format!("{}-invariants", self.kafka.client_id));
        config.set("enable.partition.eof", "true");
        let deadline = self.deadline.into_std();
        let name = topic.to_owned();
        let setup = tokio::task::spawn_blocking(move || {
            let consumer: StreamConsumer<TracingContext> = config
                .create_with_context(TracingContext)
                .map_err(|source| ObserveError::Consumer {
                    topic: name.clone(),
                    source,
                })?;
            let metadata = fetch_metadata(&consumer, &name, deadline)?;
            let partitions = shop_platform::kafka::partition_ids(&metadata, &name);
            if partitions.is_empty() {
                return Err(ObserveError::NoSuchTopic { topic: name });
            }
            let mut assignment = TopicPartitionList::new();
            for partition in &partitions {
                assignment
                    .add_partition_offset(&name, *partition, Offset::Beginning)
                    .map_err(|source| ObserveError::Assign {
                        topic: name.clone(),
                        source,
                    })?;
            }
            consumer
                .assign(&assignment)
                .map_err(|source| ObserveError::Assign {
                    topic: name.clone(),
                    source,
                })?;
            Ok((consumer, partitions))
        });
        setup.await.map_err(|error| ObserveError::Task {
            topic: topic.to_owned(),
            reason: error.to_string(),
        })?
    }

    /// Decodes one record into `read`: an entry, or an undecodable record.
    async fn decode<T: AvroRecord>(
        &self,
        message: &BorrowedMessage<'_>,
        read: &mut TopicRead<T>,
    ) -> Result<(), ObserveError> {
        let (partition, offset) = (message.partition(), message.offset());
        let key = match message.key() {
            Some(bytes) => match self.decode_retrying::<String>(bytes).await {
                Ok(key) => Some(key),
                Err(error) => return self.skip(read, partition, offset, "key", error),
            },
            None => None,
        };
        let value = match message.payload() {
            Some(bytes) => match self.decode_retrying::<T>(bytes).await {
                Ok(value) => Some(value),
                Err(error) => return self.skip(read, partition, offset, "value", error),
            },
            None => None,
        };
        read.entries.push(Entry {
            partition,
            offset,
            key,
            value,
        });
        Ok(())
    }

    /// Records a poison record as undecodable; a registry that stayed unreachable is an error.
    fn skip<T>(
        &self,
        read: &mut TopicRead<T>,
        partition: i32,
        offset: i64,
        part: &str,
        error: CodecError,
    ) -> Result<(), ObserveError> {
        if error.is_transient() {
            return Err(ObserveError::Registry {
                topic: read.topic.clone(),
                partition,
                offset,
                source: error,
            });
        }
        read.undecodable.push(Undecodable {
            topic: read.topic.clone(),
            partition,
            offset,
            reason: format!("{part}: {error}"),
        });
        Ok(())
    }

    /// Decodes `payload`, retrying while the registry is unreachable and time is left.
    async fn decode_retrying<V: AvroRecord>(&self, payload: &[u8]) -> Result<V, CodecError> {
        let mut pause = Duration::from_millis(100);
        loop {
            match self.codec.decode::<V>(payload).await {
                Err(error) if error.is_transient() && Instant::now() + pause < self.deadline => {
                    tracing::warn!(%error, "schema registry unavailable; retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
                result => return result,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(partition: i32, offset: i64, key: Option<&str>, value: Option<u32>) -> Entry<u32> {
        Entry {
            partition,
            offset,
            key: key.map(str::to_owned),
            value,
        }
    }

    fn topic_read(entries: Vec<Entry<u32>>) -> TopicRead<u32> {
        TopicRead {
            topic: "t".to_owned(),
            entries,
            undecodable: vec![Undecodable {
                topic: "t".to_owned(),
                partition: 0,
                offset: 9,
                reason: "poison".to_owned(),
            }],
        }
    }

    #[test]
    fn a_table_keeps_the_newest_value_per_key_and_drops_tombstones() {
        let read = topic_read(vec![
            entry(0, 3, Some("a"), Some(3)),
            entry(0, 1, Some("a"), Some(1)),
            entry(1, 0, Some("b"), Some(7)),
            entry(1, 1, Some("b"), None),
            entry(1, 2, None, Some(5)),
        ]);
        let mut undecodable = Vec::new();
        let table = read.into_table(&mut undecodable);
        assert_eq!(table, BTreeMap::from([("a".to_owned(), 3)]));
        let at: Vec<(i32, i64)> = undecodable
            .iter()
            .map(|u| (u.partition, u.offset))
            .collect();
        assert_eq!(
            at,
            [(0, 9), (1, 2)],
            "the poison record and the keyless one"
        );
    }

    #[test]
    fn events_keep_log_order_and_a_missing_value_is_undecodable() {
        let read = topic_read(vec![
            entry(1, 0, Some("x"), Some(10)),
            entry(0, 2, Some("y"), Some(2)),
            entry(0, 1, Some("y"), Some(1)),
            entry(0, 3, Some("y"), None),
        ]);
        let mut undecodable = Vec::new();
        let values = read.into_events(&mut undecodable);
        assert_eq!(values, [1, 2, 10]);
        assert_eq!(undecodable.len(), 2);
        assert!(
            undecodable[1].reason.contains("no value"),
            "{undecodable:?}"
        );
    }

    /// Against the local stack (like every test `./dev test` runs): everything produced comes
    /// back, poison is listed, a missing topic is named.
    mod stack {
        use super::super::super::check::tests::{checkout, clean};
        use super::*;
        use crate::invariants::ViolationKind;
        use rdkafka::producer::{FutureProducer, FutureRecord};
        use shop_platform::testing;
        use shop_schemas::inventory::{InventoryCommandBody, InventoryEventBody};
        use shop_schemas::payment::PaymentEventBody;
        use shop_schemas::{Part, Registration, RegistryConfig};

        async fn produce<T: AvroRecord>(
            producer: &FutureProducer<TracingContext>,
            codec: &AvroCodec,
            topic: &str,
            records: Vec<(String, Option<T>)>,
        ) {
            for (key, value) in records {
                let key = codec.encode_key(topic, &key).await.unwrap();
                let value = match value {
                    Some(value) => Some(codec.encode(topic, Part::Value, &value).await.unwrap()),
                    None => None,
                };
                let mut record = FutureRecord::<[u8], [u8]>::to(topic).key(&key[..]);
                if let Some(value) = &value {
                    record = record.payload(&value[..]);
                }
                producer
                    .send(record, Duration::from_secs(10))
                    .await
                    .map_err(|(error, _)| error)
                    .unwrap();
            }
        }

        fn keyed<T: Clone>(records: &[T], key: impl Fn(&T) -> &str) -> Vec<(String, Option<T>)> {
            records
                .iter()
                .map(|r| (key(r).to_owned(), Some(r.clone())))
                .collect()
        }

        /// `values` in a stable order, for comparing lists read from several partitions.
        fn sorted<T: std::fmt::Debug>(values: &[T]) -> Vec<String> {
            let mut debug: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
            debug.sort();
            debug
        }

        #[tokio::test]
        async fn reads_every_topic_to_its_end() {
            testing::init_logs();
            let prefix = format!("{}.", testing::unique("invariants"));
            let topics = TopicNames::with_prefix(&prefix);
            for topic in [
                &topics.checkout_requested,
                &topics.orders_events,
                &topics.orders_orders,
                &topics.inventory_commands,
                &topics.inventory_events,
                &topics.inventory_stock,
                &topics.payment_events,
                &topics.catalog_commands,
                &topics.cart_commands,
                &topics.command_outcomes,
            ] {
                testing::create_topic(topic, 3).await;
            }
            let codec = AvroCodec::new(
                &RegistryConfig {
                    url: testing::registry_url(),
                    timeout: Duration::from_secs(10),
                },
                Registration::AutoRegister,
            )
            .unwrap();
            let producer: FutureProducer<TracingContext> = testing::kafka()
                .producer()
                .create_with_context(TracingContext)
                .unwrap();

            let mut expected = clean();
            expected.checkouts.push(checkout("o-open"));
            produce(
                &producer,
                &codec,
                &topics.checkout_requested,
                keyed(&expected.checkouts, |c| &c.order_id),
            )
            .await;
            produce(
                &producer,
                &codec,
                &topics.orders_events,
                keyed(&expected.order_events, |e| &e.order_id),
            )
            .await;
            let mut orders: Vec<(String, Option<Order>)> = expected
                .orders
                .iter()
                .map(|(key, order)| (key.clone(), Some(order.clone())))
                .collect();
            // A deleted order: the tombstone wins.
            orders.push(("o-gone".to_owned(), orders[0].1.clone()));
            orders.push(("o-gone".to_owned(), None));
            produce(&producer, &codec, &topics.orders_orders, orders).await;
            produce(
                &producer,
                &codec,
                &topics.inventory_commands,
                keyed(&expected.inventory_commands, |c| match &c.body {
                    InventoryCommandBody::Restock(r) => &r.product_id,
                    InventoryCommandBody::ReserveStock(l)
                    | InventoryCommandBody::ReleaseStock(l)
                    | InventoryCommandBody::CommitStock(l) => &l.product_id,
                }),
            )
            .await;
            produce(
                &producer,
                &codec,
                &topics.inventory_events,
                keyed(&expected.inventory_events, |e| match &e.body {
                    InventoryEventBody::StockRejected(r) => &r.order_id,
                    InventoryEventBody::StockReserved(l)
                    | InventoryEventBody::StockReleased(l)
                    | InventoryEventBody::StockCommitted(l) => &l.order_id,
                }),
            )
            .await;
            let stock: Vec<(String, Option<StockLevel>)> = expected
                .stock
                .iter()
                .map(|(key, level)| (key.clone(), Some(level.clone())))
                .collect();
            produce(&producer, &codec, &topics.inventory_stock, stock).await;
            produce(
                &producer,
                &codec,
                &topics.payment_events,
                keyed(&expected.payment_events, |e| match &e.body {
                    PaymentEventBody::PaymentAuthorized(a) => &a.order_id,
                    PaymentEventBody::PaymentDeclined(d) => &d.order_id,
                    PaymentEventBody::PaymentVoided(v) => &v.order_id,
                }),
            )
            .await;
            // The ingress's commands: c1 to the catalog, c2 to a cart, each with its outcome.
            let mut catalog_command = shop_schemas::samples::catalog_commands(1).remove(0);
            catalog_command.command_id = "c1".to_owned();
            let mut cart_command = shop_schemas::samples::cart_commands(1).remove(0);
            cart_command.command_id = "c2".to_owned();
            produce(
                &producer,
                &codec,
                &topics.catalog_commands,
                vec![("p1".to_owned(), Some(catalog_command))],
            )
            .await;
            produce(
                &producer,
                &codec,
                &topics.cart_commands,
                vec![("u-1".to_owned(), Some(cart_command))],
            )
            .await;
            produce(
                &producer,
                &codec,
                &topics.command_outcomes,
                keyed(&expected.outcomes, |o| &o.command_id),
            )
            .await;
            producer
                .send(
                    FutureRecord::<str, [u8]>::to(&topics.payment_events)
                        .partition(1)
                        .payload(&b"junk"[..]),
                    Duration::from_secs(10),
                )
                .await
                .map_err(|(error, _)| error)
                .unwrap();

            let kafka = testing::kafka();
            let observed = observe(&kafka, &codec, &topics, Duration::from_secs(60))
                .await
                .unwrap();
            assert_eq!(observed.orders, expected.orders);
            assert_eq!(observed.stock, expected.stock);
            assert_eq!(sorted(&observed.checkouts), sorted(&expected.checkouts));
            assert_eq!(
                sorted(&observed.order_events),
                sorted(&expected.order_events)
            );
            assert_eq!(
                sorted(&observed.inventory_commands),
                sorted(&expected.inventory_commands)
            );
            assert_eq!(
                sorted(&observed.inventory_events),
                sorted(&expected.inventory_events)
            );
            assert_eq!(
                sorted(&observed.payment_events),
                sorted(&expected.payment_events)
            );
            assert_eq!(sorted(&observed.command_ids), sorted(&expected.command_ids));
            assert_eq!(sorted(&observed.outcomes), sorted(&expected.outcomes));
            assert_eq!(observed.undecodable.len(), 1, "{:?}", observed.undecodable);
            assert_eq!(
                (
                    observed.undecodable[0].topic.as_str(),
                    observed.undecodable[0].partition
                ),
                (topics.payment_events.as_str(), 1)
            );

            let report = check_topics(&kafka, &codec, &topics, Duration::from_secs(60))
                .await
                .unwrap();
            let kinds: Vec<ViolationKind> = report.violations.iter().map(|v| v.kind).collect();
            assert_eq!(
                kinds,
                [ViolationKind::NotTerminal, ViolationKind::Undecodable],
                "{report}"
            );
            assert_eq!(report.checkouts, 5);

            let missing = TopicNames::with_prefix(&format!("{prefix}missing."));
            let error = observe(&kafka, &codec, &missing, Duration::from_secs(10))
                .await
                .unwrap_err();
            assert!(
                matches!(&error, ObserveError::NoSuchTopic { topic } if topic.starts_with(&prefix)),
                "{error}"
            );
        }
    }
}
