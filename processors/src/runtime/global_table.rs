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
use shop_platform::kafka::{KafkaSettings, TracingContext};
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
    /// # Errors
    /// [`RuntimeError::Restore`] if the topic cannot be read to its end within `timeout`.
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
        let deadline = Instant::now() + timeout;
        let partitions = partitions_of(&consumer, topic, deadline)
            .await
            .map_err(error)?;
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
                    // librdkafka retries on its own; the timeout bounds how long that may take.
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, topic, "global table: consumer error, still loading")
                    }
                    None => return Err(error("the consumer stream ended".to_owned())),
                }
            }
            Ok(())
        };
        tokio::time::timeout(deadline.saturating_duration_since(Instant::now()), load)
            .await
            .map_err(|_| error(format!("end not reached within {timeout:?}")))??;

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

/// The partitions of `topic`, asking again until `deadline` while the broker is away or does
/// not know the topic yet (a topic created a moment ago may not be in every answer at once).
/// The error is the broker's last answer ("the topic does not exist") if there was one, else
/// the last failure to get an answer.
async fn partitions_of<C: Consumer<TracingContext>>(
    consumer: &C,
    topic: &str,
    deadline: Instant,
) -> Result<Vec<i32>, String> {
    let mut answer = None;
    let mut failure = String::new();
    let mut warned = false;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match consumer.fetch_metadata(Some(topic), left.min(METADATA_TRY)) {
            Ok(metadata) => {
                let partitions = shop_platform::kafka::partition_ids(&metadata, topic);
                if !partitions.is_empty() {
                    return Ok(partitions);
                }
                answer = Some("the topic does not exist");
            }
            Err(e) => failure = e.to_string(),
        }
        if Instant::now() >= deadline {
            return Err(answer.map_or(failure, str::to_owned));
        }
        if !warned {
            warned = true;
            let reason = answer.unwrap_or(&failure);
            tracing::warn!(
                topic,
                reason,
                "global table: waiting for the topic's partitions"
            );
        }
        tokio::time::sleep(RETRY_PAUSE).await;
    }
}

/// The longest one metadata request may wait, so a broker back early is noticed early.
const METADATA_TRY: Duration = Duration::from_secs(5);
/// The pause between two metadata requests that found nothing.
const RETRY_PAUSE: Duration = Duration::from_millis(200);
