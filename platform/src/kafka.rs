//! librdkafka client configurations, one builder per role, so every binary talks to Kafka the
//! same way, a client context that sends librdkafka's logs through `tracing`, and the wait for
//! a topic's partitions that start-up code shares.

use rdkafka::ClientConfig;
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::metadata::Metadata;
use rdkafka::producer::{DeliveryResult, ProducerContext};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Where the cluster is and who we are to it.
#[derive(Debug, Clone)]
pub struct KafkaSettings {
    /// `host:port` list, comma separated (`SHOP_KAFKA_BROKERS`).
    pub brokers: String,
    /// Shown in broker logs and metrics; defaults to the binary's name.
    pub client_id: String,
    /// Extra librdkafka properties applied last, e.g. security settings
    /// (`SHOP_KAFKA_PROPERTIES=key=value,key=value`).
    pub overrides: Vec<(String, String)>,
}

/// An entry of [`KafkaSettings::overrides`] is not `key=value`.
#[derive(Debug, thiserror::Error)]
#[error("librdkafka property {entry:?} is not of the form key=value")]
pub struct PropertyError {
    entry: String,
}

impl KafkaSettings {
    /// Settings for `brokers` with no overrides.
    pub fn new(brokers: impl Into<String>, client_id: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            client_id: client_id.into(),
            overrides: Vec::new(),
        }
    }

    /// Parses overrides written as `key=value,key=value` (empty entries are skipped).
    ///
    /// # Errors
    /// [`PropertyError`] naming the first entry without `=`.
    pub fn parse_overrides(text: &str) -> Result<Vec<(String, String)>, PropertyError> {
        text.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry
                    .split_once('=')
                    .map(|(key, value)| (key.trim().to_owned(), value.trim().to_owned()))
                    .ok_or_else(|| PropertyError {
                        entry: entry.to_owned(),
                    })
            })
            .collect()
    }

    /// What every client shares.
    fn base(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("client.id", &self.client_id)
            .set_log_level(RDKafkaLogLevel::Info);
        config
    }

    fn finish(&self, mut config: ClientConfig) -> ClientConfig {
        for (key, value) in &self.overrides {
            config.set(key, value);
        }
        config
    }

    /// An admin client.
    pub fn admin(&self) -> ClientConfig {
        self.finish(self.base())
    }

    /// An idempotent producer: `acks=all`, no reordering or duplicates on retry.
    ///
    /// The partitioner is murmur2, as in the Java client, so a key lands on the same partition
    /// whichever client produced it (librdkafka's default, CRC32, does not agree with Java).
    pub fn producer(&self) -> ClientConfig {
        let mut config = self.base();
        config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("partitioner", "murmur2_random")
            .set("compression.type", "lz4")
            .set("linger.ms", "5");
        self.finish(config)
    }

    /// A transactional producer; `transactional_id` must be stable across restarts of the same
    /// instance, so a restarted instance fences its zombie predecessor.
    ///
    /// No linger: a transaction commits as soon as its batch is complete, so holding records
    /// back to share a request only delays the commit.
    pub fn transactional_producer(&self, transactional_id: &str) -> ClientConfig {
        let mut config = self.producer();
        config
            .set("transactional.id", transactional_id)
            .set("linger.ms", "0");
        // Overrides win over the transactional id too, deliberately: they are the operator's.
        self.finish(config)
    }

    /// A consumer in `group_id` that sees only committed transactional data and never commits
    /// offsets by itself: offsets are committed with the outputs they caused.
    pub fn consumer(&self, group_id: &str) -> ClientConfig {
        let mut config = self.base();
        config
            .set("group.id", group_id)
            .set("isolation.level", "read_committed")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("partition.assignment.strategy", "cooperative-sticky");
        self.finish(config)
    }
}

/// The partition ids `metadata` lists for `topic`; empty when the topic is missing or carries an
/// error (a fresh topic without a leader yet, say), which callers report or wait out as they see
/// fit.
pub fn partition_ids(metadata: &Metadata, topic: &str) -> Vec<i32> {
    metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect()
}

/// Why [`await_partitions`] stopped waiting.
#[derive(Debug, thiserror::Error)]
pub enum PartitionsError {
    #[error("the topic does not exist")]
    Missing,
    #[error("shut down before the broker listed the topic (last answer: {last})")]
    ShutDown { last: String },
}

/// The longest one metadata request of [`await_partitions`] may block its task.
const METADATA_TRY: Duration = Duration::from_secs(1);
/// The pause between two metadata requests of [`await_partitions`] that found nothing.
const METADATA_PAUSE: Duration = Duration::from_millis(200);
/// How often [`await_partitions`] repeats its warning while it waits.
const WAITING_WARNING_EVERY: Duration = Duration::from_secs(30);

/// The partition ids of `topic`, asking the broker again while it is away, for as long as it
/// is away, or does not list the topic (a topic created a moment ago may not be in every answer
/// at once), for `missing_for` or, with `None`, until it does.
///
/// Each request blocks the task for at most a second: meant for start-up, not a hot path.
///
/// # Errors
/// [`PartitionsError::Missing`] once the broker has said the topic does not exist for
/// `missing_for`; [`PartitionsError::ShutDown`] when `shutdown` comes first.
pub async fn await_partitions<C, X>(
    consumer: &C,
    topic: &str,
    missing_for: Option<Duration>,
    shutdown: &CancellationToken,
) -> Result<Vec<i32>, PartitionsError>
where
    C: Consumer<X>,
    X: ConsumerContext,
{
    let mut missing_since: Option<Instant> = None;
    let mut warned_at: Option<Instant> = None;
    loop {
        let last = match consumer.fetch_metadata(Some(topic), METADATA_TRY) {
            Ok(metadata) => {
                let partitions = partition_ids(&metadata, topic);
                if !partitions.is_empty() {
                    return Ok(partitions);
                }
                let since = *missing_since.get_or_insert_with(Instant::now);
                if missing_for.is_some_and(|limit| since.elapsed() >= limit) {
                    return Err(PartitionsError::Missing);
                }
                "the topic does not exist".to_owned()
            }
            Err(error) => {
                missing_since = None; // No answer says nothing about the topic.
                error.to_string()
            }
        };
        if shutdown.is_cancelled() {
            return Err(PartitionsError::ShutDown { last });
        }
        if warned_at.is_none_or(|at| at.elapsed() >= WAITING_WARNING_EVERY) {
            warned_at = Some(Instant::now());
            tracing::warn!(topic, reason = last, "waiting for the topic's partitions");
        }
        tokio::time::sleep(METADATA_PAUSE).await;
    }
}

/// A client context that logs librdkafka's messages and errors through `tracing` (target
/// `librdkafka`) instead of stderr.
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingContext;

impl ClientContext for TracingContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => {
                tracing::error!(target: "librdkafka", facility, message);
            }
            RDKafkaLogLevel::Warning => tracing::warn!(target: "librdkafka", facility, message),
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(target: "librdkafka", facility, message);
            }
            RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", facility, message),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        // Reaching the end of a partition is news only to a consumer that asked for it
        // (`enable.partition.eof`), and it learns it from its poll; it is not a client error.
        // rdkafka reports it here as a global error code, and from a poll as `PartitionEOF`.
        if matches!(
            error,
            KafkaError::PartitionEOF(_) | KafkaError::Global(RDKafkaErrorCode::PartitionEOF)
        ) {
            tracing::trace!(target: "librdkafka", reason, "end of partition");
            return;
        }
        tracing::warn!(target: "librdkafka", %error, reason, "client error");
    }
}

impl ConsumerContext for TracingContext {}

/// Delivery reports of a plain producer: failures are logged here. A transactional producer
/// learns about them again from `commit_transaction`, which fails and aborts the batch.
impl ProducerContext for TracingContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: Self::DeliveryOpaque) {
        if let Err((error, message)) = result {
            tracing::warn!(
                target: "librdkafka",
                %error,
                topic = message.topic(),
                partition = message.partition(),
                "delivery failed"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> KafkaSettings {
        KafkaSettings::new("127.0.0.1:9092", "test")
    }

    #[test]
    fn consumers_read_committed_and_never_autocommit() {
        let config = settings().consumer("group-a");
        assert_eq!(config.get("isolation.level"), Some("read_committed"));
        assert_eq!(config.get("enable.auto.commit"), Some("false"));
        assert_eq!(config.get("group.id"), Some("group-a"));
    }

    #[test]
    fn producers_agree_with_java_on_partitions_and_durability() {
        let config = settings().transactional_producer("tx-1");
        assert_eq!(config.get("partitioner"), Some("murmur2_random"));
        assert_eq!(config.get("acks"), Some("all"));
        assert_eq!(config.get("enable.idempotence"), Some("true"));
        assert_eq!(config.get("transactional.id"), Some("tx-1"));
    }

    #[test]
    fn overrides_apply_last() {
        let mut settings = settings();
        settings.overrides =
            KafkaSettings::parse_overrides("linger.ms=0, security.protocol=SSL,").unwrap();
        let config = settings.producer();
        assert_eq!(config.get("linger.ms"), Some("0"));
        assert_eq!(config.get("security.protocol"), Some("SSL"));
    }

    /// librdkafka checks `security.protocol` and the SASL mechanism when a client is created,
    /// without a broker: a build without OpenSSL refuses them ("OpenSSL not available at build
    /// time"), and managed clusters need them.
    #[test]
    fn clients_accept_tls_and_sasl_scram() {
        use rdkafka::producer::BaseProducer;
        for overrides in [
            "security.protocol=SSL",
            "security.protocol=SASL_SSL,sasl.mechanism=SCRAM-SHA-512,sasl.username=u,sasl.password=p",
            "security.protocol=SASL_SSL,sasl.mechanism=PLAIN,sasl.username=u,sasl.password=p",
        ] {
            let mut settings = settings();
            settings.overrides = KafkaSettings::parse_overrides(overrides).unwrap();
            let created: Result<BaseProducer, _> = settings.producer().create();
            assert!(created.is_ok(), "{overrides}: {:?}", created.err());
        }
    }

    #[test]
    fn a_malformed_override_is_refused_by_name() {
        let error = KafkaSettings::parse_overrides("acks=all,oops").unwrap_err();
        assert!(error.to_string().contains("\"oops\""), "{error}");
    }
}
