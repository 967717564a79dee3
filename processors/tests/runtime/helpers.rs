//! Topics, inputs and readers for the runtime tests, all against the real stack.

use futures::future::join_all;
use rdkafka::Message;
use rdkafka::message::{Header, OwnedHeaders, OwnedMessage};
use rdkafka::producer::future_producer::Delivery;
use rdkafka::producer::{FutureProducer, FutureRecord};
use shop_platform::kafka::TracingContext;
use shop_platform::testing;
use shop_processors::restock_counter::{NAME, RestockCounter};
use shop_processors::runtime::{self, RuntimeConfig, RuntimeError};
use shop_schemas::codec::{Part, subject};
use shop_schemas::inventory::{InventoryCommand, InventoryCommandBody, Restock, StockLevel};
use shop_schemas::outcomes::CommandOutcome;
use shop_schemas::registry::RegistryAdmin;
use shop_schemas::{AvroCodec, AvroRecord, Registration, RegistryConfig};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub(crate) const PARTITIONS: i32 = 3;

fn registry() -> RegistryConfig {
    RegistryConfig {
        url: testing::registry_url(),
        timeout: Duration::from_secs(10),
    }
}

pub(crate) fn registry_admin() -> RegistryAdmin {
    RegistryAdmin::new(&registry()).unwrap()
}

/// Registers the string key schema and `value` under each topic's subjects, as
/// `shop-topics apply` does for the real topics.
pub(crate) async fn register_subjects(topics: &[(&str, &'static shop_schemas::SchemaSource)]) {
    let admin = registry_admin();
    for (topic, value) in topics {
        let key_subject = subject(topic, Part::Key);
        admin
            .register(&key_subject, &shop_schemas::KEY_STRING)
            .await
            .unwrap();
        admin
            .register(&subject(topic, Part::Value), value)
            .await
            .unwrap();
    }
}

pub(crate) fn codec() -> Arc<AvroCodec> {
    Arc::new(AvroCodec::new(&registry(), Registration::LookupOnly).unwrap())
}

/// The topics one test's restock counter works on, created and with schemas registered.
#[derive(Debug, Clone)]
pub(crate) struct Topics {
    pub(crate) input: String,
    pub(crate) changelog: String,
    pub(crate) outcomes: String,
    pub(crate) dead_letters: String,
    pub(crate) group: String,
}

impl Topics {
    pub(crate) async fn create(name: &str) -> Self {
        let prefix = testing::unique(name);
        let topics = Self {
            input: format!("{prefix}.inventory.commands"),
            changelog: format!("{prefix}.inventory.stock"),
            outcomes: format!("{prefix}.commands.outcomes"),
            dead_letters: format!("{prefix}.inventory.commands.dlq"),
            group: format!("{prefix}.restock-counter"),
        };
        tokio::join!(
            testing::create_topic(&topics.input, PARTITIONS),
            testing::create_topic(&topics.changelog, PARTITIONS),
            testing::create_topic(&topics.outcomes, 1),
            testing::create_topic(&topics.dead_letters, 1),
        );
        register_subjects(&[
            (&topics.input, InventoryCommand::source()),
            (&topics.changelog, StockLevel::source()),
            (&topics.outcomes, CommandOutcome::source()),
        ])
        .await;
        topics
    }

    pub(crate) fn config(&self, transactional_id: &str) -> RuntimeConfig {
        RuntimeConfig::new(
            NAME,
            self.group.clone(),
            transactional_id,
            vec![self.input.clone()],
            Some(self.changelog.clone()),
        )
    }

    pub(crate) fn handler(&self) -> RestockCounter {
        RestockCounter {
            outcomes_topic: self.outcomes.clone(),
        }
    }
}

/// A restock counter running in this process.
pub(crate) struct Running {
    pub(crate) shutdown: CancellationToken,
    pub(crate) task: JoinHandle<Result<(), RuntimeError>>,
}

impl Running {
    pub(crate) fn start(topics: &Topics, transactional_id: &str) -> Self {
        Self::start_with(topics, topics.config(transactional_id))
    }

    pub(crate) fn start_with(topics: &Topics, config: RuntimeConfig) -> Self {
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(runtime::run(
            config,
            testing::kafka(),
            codec(),
            topics.handler(),
            shutdown.clone(),
        ));
        Self { shutdown, task }
    }

    /// Asks for a graceful stop and returns how the runtime ended.
    pub(crate) async fn stop(self) -> Result<(), RuntimeError> {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(60), self.task)
            .await
            .expect("runtime stops within a minute")
            .expect("runtime task joins")
    }
}

pub(crate) fn restock(command_id: &str, product: &str, quantity: i32) -> InventoryCommand {
    InventoryCommand {
        command_id: command_id.to_owned(),
        issued_at: 1,
        body: InventoryCommandBody::Restock(Restock {
            product_id: product.to_owned(),
            quantity,
        }),
    }
}

pub(crate) fn producer() -> FutureProducer<TracingContext> {
    testing::kafka()
        .producer()
        .create_with_context(TracingContext)
        .unwrap()
}

/// Encodes `value` under `key` as the pipeline's producers do and produces it to `topic`
/// through `producer`; returns where it landed.
pub(crate) async fn produce_record<T: AvroRecord>(
    producer: &FutureProducer<TracingContext>,
    codec: &AvroCodec,
    topic: &str,
    key: &str,
    value: &T,
) -> Delivery {
    let key = codec.encode_key(topic, key).await.unwrap();
    let value = codec.encode(topic, Part::Value, value).await.unwrap();
    producer
        .send(
            FutureRecord::to(topic).key(&key).payload(&value),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(error, _)| error)
        .unwrap()
}

/// Produces raw bytes, for records the codec would never write.
pub(crate) async fn produce_raw(topic: &str, key: &[u8], payload: &[u8]) {
    producer()
        .send(
            FutureRecord::to(topic).key(key).payload(payload),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(error, _)| error)
        .unwrap();
}

/// Produces commands keyed by product, each with a `traceparent` naming its index.
pub(crate) async fn produce_commands(topic: &str, commands: &[InventoryCommand]) {
    produce_commands_to(topic, None, 0, commands).await;
}

/// Produces commands keyed by product to `partition` (`None`: where the key hashes to), in
/// order, each with a `traceparent` naming `first_trace` plus its index.
pub(crate) async fn produce_commands_to(
    topic: &str,
    partition: Option<i32>,
    first_trace: usize,
    commands: &[InventoryCommand],
) {
    let writer = AvroCodec::new(&registry(), Registration::LookupOnly).unwrap();
    let producer = producer();
    let mut records = Vec::with_capacity(commands.len());
    for (index, command) in commands.iter().enumerate() {
        let InventoryCommandBody::Restock(restock) = &command.body else {
            panic!("tests produce restocks");
        };
        let key = writer.encode_key(topic, &restock.product_id).await.unwrap();
        let value = writer.encode(topic, Part::Value, command).await.unwrap();
        records.push((key, value, traceparent(first_trace + index)));
    }
    let sends = records.iter().map(|(key, value, trace)| {
        let headers = OwnedHeaders::new().insert(Header {
            key: "traceparent",
            value: Some(trace.as_str()),
        });
        let mut record = FutureRecord::to(topic)
            .key(key)
            .payload(value)
            .headers(headers);
        if let Some(partition) = partition {
            record = record.partition(partition);
        }
        producer.send(record, Duration::from_secs(30))
    });
    for result in join_all(sends).await {
        result.map_err(|(error, _)| error).unwrap();
    }
}

/// Every committed outcome, by command id, with how often each came.
pub(crate) async fn outcome_counts(
    topic: &str,
    expected: usize,
    timeout: Duration,
) -> HashMap<String, usize> {
    let codec = codec();
    let messages = testing::consume(topic, expected, timeout).await;
    let mut counts = HashMap::new();
    for message in &messages {
        let outcome: CommandOutcome = codec.decode(message.payload().unwrap()).await.unwrap();
        *counts.entry(outcome.command_id).or_insert(0) += 1;
    }
    counts
}

/// The newest state per product on the changelog.
pub(crate) async fn final_levels(changelog: &str) -> HashMap<String, StockLevel> {
    let codec = codec();
    let messages: Vec<OwnedMessage> =
        testing::consume_until_idle(changelog, Duration::from_secs(20), Duration::from_secs(3))
            .await;
    let mut levels = HashMap::new();
    for message in &messages {
        let key = codec.decode_key(message.key().unwrap()).await.unwrap();
        let level: StockLevel = codec.decode(message.payload().unwrap()).await.unwrap();
        let newer = levels
            .get(&key)
            .is_none_or(|known: &StockLevel| known.version < level.version);
        if newer {
            levels.insert(key, level);
        }
    }
    levels
}

/// A W3C trace context whose trace id is `index`.
pub(crate) fn traceparent(index: usize) -> String {
    format!("00-{index:032x}-{index:016x}-01")
}

/// Counts committed outcomes per command id as they arrive, in the background.
pub(crate) struct Tally {
    counts: Arc<std::sync::Mutex<HashMap<String, usize>>>,
    reader: JoinHandle<()>,
}

impl Tally {
    pub(crate) fn start(topic: &str) -> Self {
        use futures::StreamExt;
        use rdkafka::consumer::{Consumer, StreamConsumer};
        let counts = Arc::new(std::sync::Mutex::new(HashMap::new()));
        let consumer: StreamConsumer<TracingContext> = testing::kafka()
            .consumer(&testing::unique("tally"))
            .create_with_context(TracingContext)
            .unwrap();
        consumer.subscribe(&[topic]).unwrap();
        let shared = Arc::clone(&counts);
        let reader = tokio::spawn(async move {
            let codec = codec();
            let mut stream = consumer.stream();
            while let Some(message) = stream.next().await {
                let message = message.unwrap();
                let outcome: CommandOutcome =
                    codec.decode(message.payload().unwrap()).await.unwrap();
                *shared
                    .lock()
                    .unwrap()
                    .entry(outcome.command_id)
                    .or_insert(0) += 1;
            }
        });
        Self { counts, reader }
    }

    /// Outcomes seen so far, duplicates included.
    pub(crate) fn total(&self) -> usize {
        self.counts.lock().unwrap().values().sum()
    }

    /// Waits until more than `than` outcomes arrived; false after `timeout`.
    pub(crate) async fn wait_for_total_above(&self, than: usize, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < deadline {
            if self.total() > than {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        false
    }

    /// Waits until `distinct` command ids were answered (or `timeout`), then a little longer
    /// so a late duplicate would still show, and returns the counts.
    pub(crate) async fn settle(self, distinct: usize, timeout: Duration) -> HashMap<String, usize> {
        let deadline = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < deadline && self.counts.lock().unwrap().len() < distinct
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
        self.reader.abort();
        self.counts.lock().unwrap().clone()
    }
}
