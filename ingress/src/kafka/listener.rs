//! Reads `commands.outcomes` for the requests that wait for an outcome (`Prefer: wait`).
//!
//! No consumer group: every ingress instance must see every outcome (the request waiting for one
//! may be on any instance), so the listener assigns itself every partition at the end (no
//! subscribe, no rebalance) and never commits. Only outcomes written after it started matter, since only requests made after it
//! started wait for them. Reads committed records only, like every consumer here.

use crate::metric_names;
use crate::outcomes::OutcomeRegistry;
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};
use shop_platform::kafka::{KafkaSettings, TracingContext};
use shop_schemas::AvroCodec;
use shop_schemas::outcomes::CommandOutcome;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How often a transient decode failure (registry away) is retried before the outcome is
/// dropped; its waiter then times out and answers 202.
const DECODE_ATTEMPTS: u32 = 3;

/// Why the listener could not start.
#[derive(Debug, thiserror::Error)]
pub enum ListenerError {
    #[error("cannot create the outcome consumer: {0}")]
    Client(#[source] KafkaError),
    #[error("cannot read the metadata of {topic}: {reason}")]
    Metadata { topic: String, reason: String },
    #[error("cannot assign the partitions of {topic}: {source}")]
    Assign {
        topic: String,
        #[source]
        source: KafkaError,
    },
}

/// Starts reading `topic` at its end and resolving `registry`'s waiters, until `shutdown`.
/// Returns once every partition is assigned at its current end offset, so every wait registered
/// afterwards is answered.
///
/// # Errors
/// [`ListenerError`] if the topic's metadata cannot be read within `timeout` (broker away, or
/// the topic does not exist) or the assignment fails.
pub async fn start(
    kafka: &KafkaSettings,
    codec: Arc<AvroCodec>,
    topic: &str,
    registry: OutcomeRegistry,
    timeout: Duration,
    shutdown: CancellationToken,
) -> Result<JoinHandle<()>, ListenerError> {
    // librdkafka's assign() wants a group.id, but with assign() and no commits the group is
    // never joined nor written to the broker: a unique id keeps instances apart regardless.
    let group_id = format!("shop-ingress-outcomes-{}", uuid::Uuid::new_v4().simple());
    let mut config = kafka.consumer(&group_id);
    config
        .remove("partition.assignment.strategy")
        .set("auto.offset.reset", "latest");
    let consumer: StreamConsumer<TracingContext> = config
        .create_with_context(TracingContext)
        .map_err(ListenerError::Client)?;
    let consumer = Arc::new(consumer);

    let (partitions, ends) = positions(&consumer, topic, timeout).await?;
    let mut assignment = TopicPartitionList::new();
    for (partition, end) in ends {
        assignment
            .add_partition_offset(topic, partition, Offset::Offset(end))
            .map_err(|source| ListenerError::Assign {
                topic: topic.to_owned(),
                source,
            })?;
    }
    consumer
        .assign(&assignment)
        .map_err(|source| ListenerError::Assign {
            topic: topic.to_owned(),
            source,
        })?;
    registry.set_listening(true);
    tracing::info!(topic, partitions, "reading command outcomes");

    Ok(tokio::spawn(async move {
        listen(&consumer, &codec, &registry, &shutdown).await;
        registry.set_listening(false);
    }))
}

/// The partition count and every partition's end offset, retried until `timeout`: right after
/// a topic is created its partitions can answer `NotLeaderForPartition` for a moment, which
/// must not stop the ingress from starting.
async fn positions(
    consumer: &Arc<StreamConsumer<TracingContext>>,
    topic: &str,
    timeout: Duration,
) -> Result<(i32, Vec<(i32, i64)>), ListenerError> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let attempt = async {
            let partitions = partition_count(Arc::clone(consumer), topic, timeout).await?;
            let ends = end_offsets(Arc::clone(consumer), topic, partitions, timeout).await?;
            Ok::<_, ListenerError>((partitions, ends))
        };
        match attempt.await {
            Ok(found) => return Ok(found),
            Err(error) if tokio::time::Instant::now() < deadline => {
                tracing::debug!(%error, topic, "outcome topic not ready yet; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(error) => return Err(error),
        }
    }
}

/// The topic's partition count, from metadata (a blocking call, so off the runtime's threads).
async fn partition_count(
    consumer: Arc<StreamConsumer<TracingContext>>,
    topic: &str,
    timeout: Duration,
) -> Result<i32, ListenerError> {
    let name = topic.to_owned();
    let metadata_error = |reason: String| ListenerError::Metadata {
        topic: topic.to_owned(),
        reason,
    };
    let metadata = tokio::task::spawn_blocking(move || {
        consumer
            .fetch_metadata(Some(&name), timeout)
            .map_err(|error| error.to_string())
    })
    .await
    .map_err(|error| metadata_error(error.to_string()))?
    .map_err(metadata_error)?;
    let found = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .ok_or_else(|| metadata_error("not in the metadata".to_owned()))?;
    if let Some(error) = found.error() {
        return Err(metadata_error(format!("{error:?}")));
    }
    let count = i32::try_from(found.partitions().len()).unwrap_or(i32::MAX);
    if count == 0 {
        return Err(metadata_error("no partitions".to_owned()));
    }
    Ok(count)
}

/// The end (high watermark) of every partition, resolved now rather than at the first fetch as
/// `Offset::End` would be: an outcome written after this function returns is at or beyond it,
/// so a request that registers once [`start`] has returned never misses its outcome, even in the
/// first milliseconds of the process.
async fn end_offsets(
    consumer: Arc<StreamConsumer<TracingContext>>,
    topic: &str,
    partitions: i32,
    timeout: Duration,
) -> Result<Vec<(i32, i64)>, ListenerError> {
    let name = topic.to_owned();
    tokio::task::spawn_blocking(move || {
        (0..partitions)
            .map(|partition| {
                consumer
                    .fetch_watermarks(&name, partition, timeout)
                    .map(|(_, high)| (partition, high))
                    .map_err(|error| format!("watermarks of partition {partition}: {error}"))
            })
            .collect::<Result<Vec<_>, _>>()
    })
    .await
    .map_err(|error| error.to_string())
    .and_then(|result| result)
    .map_err(|reason| ListenerError::Metadata {
        topic: topic.to_owned(),
        reason,
    })
}

async fn listen(
    consumer: &StreamConsumer<TracingContext>,
    codec: &AvroCodec,
    registry: &OutcomeRegistry,
    shutdown: &CancellationToken,
) {
    loop {
        let message = tokio::select! {
            () = shutdown.cancelled() => return,
            message = consumer.recv() => message,
        };
        let message = match message {
            Ok(message) => message,
            Err(error) => {
                tracing::warn!(%error, "reading command outcomes");
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_millis(500)) => continue,
                }
            }
        };
        let Some(payload) = message.payload() else {
            continue;
        };
        let Some(outcome) = decode(codec, payload).await else {
            continue;
        };
        let waited = registry.resolve(outcome);
        metrics::counter!(metric_names::OUTCOMES_READ, "waited" => if waited { "true" } else { "false" })
            .increment(1);
    }
}

async fn decode(codec: &AvroCodec, payload: &[u8]) -> Option<CommandOutcome> {
    for attempt in 1..=DECODE_ATTEMPTS {
        match codec.decode::<CommandOutcome>(payload).await {
            Ok(outcome) => return Some(outcome),
            Err(error) if error.is_transient() && attempt < DECODE_ATTEMPTS => {
                tracing::debug!(%error, attempt, "decoding an outcome; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(error) => {
                tracing::warn!(%error, "skipping an outcome that does not decode");
                return None;
            }
        }
    }
    None
}
