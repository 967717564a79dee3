//! A table of every key of a compacted topic, read fully before use and kept current in the
//! background: how a processor reads reference data (the cart reads the catalog) without
//! co-partitioning with it.
//!
//! Every instance holds the whole table. Reads see the newest committed record the background
//! reader has applied, so a change shows up a moment after it commits, not at a point in the
//! input stream (the same semantics as a Kafka Streams `GlobalKTable`).

use futures::StreamExt;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use shop_platform::kafka::{KafkaSettings, TracingContext, await_partitions};
use shop_schemas::{AvroCodec, AvroRecord};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

use super::RuntimeError;
use super::error::is_fatal_consumer_error;

/// A shared, read-only view of a compacted topic. Cloning is cheap and shares the data.
#[derive(Debug)]
pub struct GlobalTable<V> {
    rows: Arc<RwLock<HashMap<String, V>>>,
}

impl<V> Clone for GlobalTable<V> {
    fn clone(&self) -> Self {
        Self {
            rows: Arc::clone(&self.rows),
        }
    }
}

impl<V: AvroRecord + Clone> GlobalTable<V> {
    /// Reads every partition of `topic` from the beginning up to its end, then returns while a
    /// background task keeps applying new records until `shutdown`.
    ///
    /// A broker that is away is waited out for as long as it is away, with warnings (every
    /// `timeout` while reading): a processor that gave up after `timeout` came back only at its
    /// supervisor's next restart, later than the broker.
    ///
    /// # Errors
    /// [`RuntimeError::Restore`] if the broker says the topic does not exist for `timeout`, the
    /// consumer fails fatally, or `shutdown` comes before the end.
    pub async fn start(
        kafka: &KafkaSettings,
        codec: Arc<AvroCodec>,
        topic: &str,
        timeout: Duration,
        shutdown: CancellationToken,
    ) -> Result<Self, RuntimeError> {
        let error = |reason: String| RuntimeError::Restore {
            topic: topic.to_owned(),
            partition: -1,
            reason,
        };
        let mut config = kafka.consumer(&format!("{}-global-table", kafka.client_id));
        config.set("enable.partition.eof", "true");
        let consumer: StreamConsumer<TracingContext> = config
            .create_with_context(TracingContext)
            .map_err(|e| error(e.to_string()))?;
        let partitions = await_partitions(&consumer, topic, Some(timeout), &shutdown)
            .await
            .map_err(|e| error(e.to_string()))?;
        let mut assignment = TopicPartitionList::new();
        for partition in &partitions {
            assignment
                .add_partition_offset(topic, *partition, Offset::Beginning)
                .map_err(|e| error(e.to_string()))?;
        }
        consumer
            .assign(&assignment)
            .map_err(|e| error(e.to_string()))?;

        let table = Self {
            rows: Arc::new(RwLock::new(HashMap::new())),
        };
        let mut behind: HashSet<i32> = partitions.into_iter().collect();
        let load = async {
            let mut stream = consumer.stream();
            while !behind.is_empty() {
                match stream.next().await {
                    Some(Ok(message)) => table.apply(&codec, &message).await,
                    Some(Err(KafkaError::PartitionEOF(partition))) => {
                        behind.remove(&partition);
                    }
                    Some(Err(e)) if is_fatal_consumer_error(&e) => {
                        return Err(error(e.to_string()));
                    }
                    // librdkafka retries on its own while the broker is away.
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, topic, "global table: consumer error, still loading")
                    }
                    None => return Err(error("the consumer stream ended".to_owned())),
                }
            }
            Ok(())
        };
        // Boxed so it can be dropped (ending its borrow of `table`) right after the loop.
        let mut load = Box::pin(load);
        let started = Instant::now();
        loop {
            tokio::select! {
                loaded = &mut load => break loaded?,
                () = shutdown.cancelled() => {
                    return Err(error("shut down before the table was loaded".to_owned()));
                }
                () = tokio::time::sleep(timeout) => tracing::warn!(
                    topic,
                    waited_s = started.elapsed().as_secs(),
                    "global table: still loading (is the broker away?)"
                ),
            }
        }
        drop(load);

        let follower = table.clone();
        tokio::spawn(async move {
            let mut stream = consumer.stream();
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    next = stream.next() => match next {
                        Some(Ok(message)) => follower.apply(&codec, &message).await,
                        Some(Err(KafkaError::PartitionEOF(_))) => {}
                        Some(Err(e)) => tracing::warn!(error = %e, "global table reader"),
                        None => break,
                    },
                }
            }
        });
        Ok(table)
    }

    /// The newest value of `key`, if it has one.
    pub fn get(&self, key: &str) -> Option<V> {
        self.read().get(key).cloned()
    }

    /// How many keys have a value.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether no key has a value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, V>> {
        // A poisoned lock means a writer panicked between statements of a plain insert or
        // remove; the map itself is intact.
        self.rows
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Applies one record: a value replaces, a tombstone removes. A record that does not decode
    /// is skipped with a warning: a table cannot dead-letter, and the next good record for the
    /// key corrects it.
    async fn apply<M: Message>(&self, codec: &AvroCodec, message: &M) {
        let Some(key) = message.key() else { return };
        let key = match codec.decode_key(key).await {
            Ok(key) => key,
            Err(error) => {
                tracing::warn!(%error, offset = message.offset(), "global table: key skipped");
                return;
            }
        };
        let value = match message.payload() {
            None => None,
            Some(payload) => match codec.decode::<V>(payload).await {
                Ok(value) => Some(value),
                Err(error) => {
                    tracing::warn!(%error, key, offset = message.offset(), "global table: value skipped");
                    return;
                }
            },
        };
        let mut rows = self
            .rows
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match value {
            Some(value) => rows.insert(key, value),
            None => rows.remove(&key),
        };
    }
}
