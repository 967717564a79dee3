//! Follows `orders.events` (every status of every order) and `commands.outcomes` (to learn
//! which checkouts the cart refused) and reports what it reads to the [`Recorder`].
//!
//! Reading the events topic is cheaper than long-polling each order over HTTP: one consumer,
//! no extra requests competing with the load, and it times the moment the status is committed
//! on Kafka, not when the read model shows it. The consumer is `read_committed` (it sees what
//! the saga committed, as any downstream reader would), joins no group and commits nothing:
//! it is assigned every partition at the end offsets read before the first session, so it
//! sees exactly this run's records and none of the topic's history.

use super::recorder::{Recorder, Terminal};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use shop_platform::kafka::{KafkaSettings, TracingContext};
use shop_schemas::AvroCodec;
use shop_schemas::orders::{OrderEvent, OrderStatus};
use shop_schemas::outcomes::{CommandOutcome, OutcomeStatus};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Why the watcher could not start.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("cannot create a consumer: {0}")]
    Consumer(#[source] KafkaError),
    #[error("cannot read the partitions of {topic}: {source}")]
    Metadata {
        topic: String,
        #[source]
        source: KafkaError,
    },
    #[error("topic {0} does not exist or has no partitions")]
    NoSuchTopic(String),
    #[error("cannot assign the watched partitions: {0}")]
    Assign(#[source] KafkaError),
    #[error("the consumer set-up task failed: {0}")]
    Task(String),
}

/// The consumer settings every observer in this crate uses (the load run's watcher and the
/// baseline's sink): the project's `read_committed` consumer, with a short fetch wait so a
/// quiet partition does not hold a fetch for librdkafka's default 500 ms.
pub fn observer_consumer(kafka: &KafkaSettings, group: &str) -> rdkafka::ClientConfig {
    let mut config = kafka.consumer(group);
    config.set("fetch.wait.max.ms", "10");
    config
}

/// A consumer assigned every partition of `topics` at their current end (high watermark, or
/// last stable offset for `read_committed`), so it reads only records written from now on.
///
/// # Errors
/// [`WatchError`] if a topic is missing or a Kafka call fails.
pub async fn consumer_at_end(
    kafka: &KafkaSettings,
    group: &str,
    topics: &[String],
) -> Result<StreamConsumer<TracingContext>, WatchError> {
    let config = observer_consumer(kafka, group);
    let topics = topics.to_vec();
    let setup = tokio::task::spawn_blocking(move || {
        let consumer: StreamConsumer<TracingContext> = config
            .create_with_context(TracingContext)
            .map_err(WatchError::Consumer)?;
        let timeout = Duration::from_secs(10);
        let mut assignment = TopicPartitionList::new();
        for topic in &topics {
            let metadata = consumer
                .fetch_metadata(Some(topic), timeout)
                .map_err(|source| WatchError::Metadata {
                    topic: topic.clone(),
                    source,
                })?;
            let partitions = shop_platform::kafka::partition_ids(&metadata, topic);
            if partitions.is_empty() {
                return Err(WatchError::NoSuchTopic(topic.clone()));
            }
            for partition in partitions {
                let (_, high) = consumer
                    .fetch_watermarks(topic, partition, timeout)
                    .map_err(|source| WatchError::Metadata {
                        topic: topic.clone(),
                        source,
                    })?;
                assignment
                    .add_partition_offset(topic, partition, Offset::Offset(high))
                    .map_err(WatchError::Assign)?;
            }
        }
        consumer.assign(&assignment).map_err(WatchError::Assign)?;
        Ok(consumer)
    });
    setup
        .await
        .map_err(|error| WatchError::Task(error.to_string()))?
}

/// The watcher's running task.
#[derive(Debug)]
pub(crate) struct Watcher {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Watcher {
    /// Starts following `events_topic` and `outcomes_topic` from their current end. Times are
    /// offsets from `start`.
    ///
    /// # Errors
    /// [`WatchError`] if the consumer cannot be placed.
    pub(crate) async fn start(
        kafka: &KafkaSettings,
        codec: Arc<AvroCodec>,
        events_topic: String,
        outcomes_topic: String,
        recorder: Arc<Mutex<Recorder>>,
        start: Instant,
    ) -> Result<Self, WatchError> {
        let group = format!("{}-watch-{}", kafka.client_id, std::process::id());
        let consumer =
            consumer_at_end(kafka, &group, &[events_topic.clone(), outcomes_topic]).await?;
        let stop = CancellationToken::new();
        let task = tokio::spawn(follow(
            consumer,
            codec,
            events_topic,
            recorder,
            start,
            stop.clone(),
        ));
        Ok(Self { stop, task })
    }

    /// Stops reading and waits for the task to end.
    pub(crate) async fn stop(self) {
        self.stop.cancel();
        if let Err(error) = self.task.await {
            tracing::warn!(%error, "the topic watcher task failed");
        }
    }
}

async fn follow(
    consumer: StreamConsumer<TracingContext>,
    codec: Arc<AvroCodec>,
    events_topic: String,
    recorder: Arc<Mutex<Recorder>>,
    start: Instant,
    stop: CancellationToken,
) {
    loop {
        let message = tokio::select! {
            () = stop.cancelled() => return,
            message = consumer.recv() => message,
        };
        let message = match message {
            Ok(message) => message,
            // librdkafka retries these itself (a leader moving, a broker restarting).
            Err(error) => {
                tracing::warn!(%error, "consumer error while watching; still reading");
                continue;
            }
        };
        // Timed as it is handed over, before decoding: decoding is this client's cost.
        let at = start.elapsed();
        let Some(payload) = message.payload() else {
            continue;
        };
        if message.topic() == events_topic {
            match codec.decode::<OrderEvent>(payload).await {
                Ok(event) => record_event(&recorder, &event, at),
                Err(error) => undecodable(&recorder, &error),
            }
        } else {
            match codec.decode::<CommandOutcome>(payload).await {
                Ok(outcome) if outcome.status == OutcomeStatus::Rejected => {
                    let reason = outcome.reason_code.as_deref().unwrap_or("unknown");
                    if let Ok(mut recorder) = recorder.lock() {
                        recorder.command_rejected(&outcome.command_id, reason);
                    }
                }
                Ok(_) => {}
                Err(error) => undecodable(&recorder, &error),
            }
        }
    }
}

fn record_event(recorder: &Mutex<Recorder>, event: &OrderEvent, at: Duration) {
    let Ok(mut recorder) = recorder.lock() else {
        return;
    };
    let terminal = match event.status {
        OrderStatus::Confirmed => Terminal::Confirmed,
        OrderStatus::Rejected => Terminal::Rejected,
        OrderStatus::Cancelled => Terminal::Cancelled,
        OrderStatus::Pending => return recorder.order_progressed(&event.order_id, "PENDING"),
        OrderStatus::StockReserved => {
            return recorder.order_progressed(&event.order_id, "STOCK_RESERVED");
        }
    };
    recorder.order_ended(&event.order_id, terminal, event.reason.as_deref(), at);
}

fn undecodable(recorder: &Mutex<Recorder>, error: &shop_schemas::CodecError) {
    tracing::warn!(%error, "a watched record did not decode");
    if let Ok(mut recorder) = recorder.lock() {
        recorder.undecodable();
    }
}
