//! Putting records on the input topics, with the moment each one was acknowledged: a record is
//! committed on the broker when its delivery report says so (`acks=all`), and that moment is
//! where the end-to-end delay starts.

use crate::positions::Partition;
use crate::wire::Wire;
use anyhow::{Context, anyhow, bail};
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, ProducerContext, ThreadedProducer};
use shop_platform::kafka::{KafkaSettings, TracingContext};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

/// One acknowledged record.
#[derive(Debug)]
pub(crate) struct Ack {
    pub(crate) partition: Partition,
    pub(crate) offset: i64,
    /// When librdkafka served the delivery report.
    pub(crate) at: Instant,
}

/// What the delivery callback hands over: an acknowledgement, or why a delivery failed.
pub(crate) type Delivery = Result<Ack, String>;

/// Timestamps every delivery report in the callback itself, on librdkafka's polling thread,
/// rather than when some task gets round to a delivery future: on two busy cores that can be
/// milliseconds later, and would shorten the measured delay.
#[derive(Debug)]
struct AckClock {
    deliveries: UnboundedSender<Delivery>,
}

impl ClientContext for AckClock {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        TracingContext.log(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        TracingContext.error(error, reason);
    }
}

impl ProducerContext for AckClock {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: Self::DeliveryOpaque) {
        let at = Instant::now();
        let delivery = match result {
            Ok(message) => Ok(Ack {
                partition: (message.topic().to_owned(), message.partition()),
                offset: message.offset(),
                at,
            }),
            Err((error, message)) => Err(format!(
                "delivery to {}/{} failed: {error}",
                message.topic(),
                message.partition()
            )),
        };
        // The receiver only goes away when the bench stopped listening; nothing to tell then.
        let _ = self.deliveries.send(delivery);
    }
}

/// An idempotent producer (the project's settings) whose delivery reports arrive, timestamped,
/// on the receiver handed out with it.
pub(crate) struct Producer {
    inner: ThreadedProducer<AckClock>,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer").finish_non_exhaustive()
    }
}

impl Producer {
    /// `linger_ms` overrides the project's 5 ms (the preload trades latency for throughput).
    pub(crate) fn new(
        kafka: &KafkaSettings,
        linger_ms: Option<u32>,
    ) -> anyhow::Result<(Self, UnboundedReceiver<Delivery>)> {
        let mut config = kafka.producer();
        if let Some(linger) = linger_ms {
            config.set("linger.ms", linger.to_string());
        }
        let (deliveries, received) = unbounded_channel();
        let inner = config
            .create_with_context(AckClock { deliveries })
            .context("while creating the producer")?;
        Ok((Self { inner }, received))
    }

    /// Hands `record` to librdkafka, waiting while its queue is full.
    pub(crate) async fn send(&self, record: &Wire, deadline: Instant) -> anyhow::Result<()> {
        let mut base = BaseRecord::to(&record.topic)
            .key(&record.key[..])
            .payload(&record.value[..]);
        loop {
            match self.inner.send(base) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                    if Instant::now() >= deadline {
                        bail!("the producer queue stayed full until the deadline");
                    }
                    base = returned;
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                Err((error, _)) => return Err(error).context("while producing a record"),
            }
        }
    }

    /// Drops the producer off the async workers: its drop joins the polling thread, which can
    /// take one 100 ms poll.
    pub(crate) async fn close(self) {
        let _ = tokio::task::spawn_blocking(move || drop(self)).await;
    }
}

/// Produces `records` and waits until every one is acknowledged; before any clock runs.
pub(crate) async fn preload(
    kafka: &KafkaSettings,
    records: &[Wire],
    timeout: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    // Throughput over latency: nobody waits on a single preloaded record.
    let (producer, mut deliveries) = Producer::new(kafka, Some(50))?;
    let mut acked = 0;
    for record in records {
        producer.send(record, deadline).await?;
        while let Ok(delivery) = deliveries.try_recv() {
            delivery.map_err(|reason| anyhow!("while preloading: {reason}"))?;
            acked += 1;
        }
    }
    while acked < records.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, deliveries.recv()).await {
            Ok(Some(delivery)) => {
                delivery.map_err(|reason| anyhow!("while preloading: {reason}"))?;
                acked += 1;
            }
            Ok(None) => bail!("the preload producer stopped reporting deliveries"),
            Err(_) => bail!(
                "only {acked} of {} preloaded records were acknowledged within {timeout:?}",
                records.len()
            ),
        }
    }
    producer.close().await;
    Ok(())
}
