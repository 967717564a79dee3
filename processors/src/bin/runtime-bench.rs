//! `runtime-bench`: how many records per second the exactly-once runtime moves, next to plain
//! rdkafka copying the same records, in one run against one broker.
//!
//! It exists to check the goal "the EOS runtime keeps at least 70 % of raw rdkafka's
//! throughput" with figures measured on the same broker, input and moment, rather than
//! compared across days and machines. It is a tool, not a test: it prints a table and writes it,
//! with the facts of the machine, to a Markdown file (`--results`). `docs/performance.md`
//! records what it measured.
//!
//! One run:
//! 1. creates topics under a fresh prefix, registers the subjects, and preloads the input topic
//!    with `--records` small Avro `Restock` commands keyed by `--products` product ids; every
//!    record is acknowledged before any clock starts;
//! 2. **raw**: a consumer in its own group reads the input from the beginning and a plain
//!    idempotent producer copies each record's key and value bytes to an output topic; the clock
//!    stops when the last copy is acknowledged. **raw + avro** does the same but decodes and
//!    re-encodes key and value with the codec on the way, so the runtime can be held against
//!    the same Avro work without exactly-once;
//! 3. **eos**, once per `--batch` setting: the project's runtime runs a pass-through handler
//!    (decode, hand over, encode, produce, commit per batch) from the same input to its own
//!    output topic; the clock stops when the runtime's group has committed the input's end
//!    offsets, i.e. when every output is committed (see [`wait_for_commits`]). The output is
//!    then counted with a `read_committed` reader, off the clock;
//! 4. deletes its topics (unless `--keep-topics`).
//!
//! With `--rounds` above 1 the variants run interleaved that many times and the table shows
//! each variant's median round, so a burst of load from elsewhere on the machine hits one
//! sample rather than one variant.

use anyhow::{Context, anyhow, bail, ensure};
use clap::Parser;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{Offset, TopicPartitionList};
use shop_platform::kafka::{KafkaSettings, TracingContext};
use shop_platform::telemetry;
use shop_processors::runtime::{
    self, Handler, HandlerError, Outputs, RecordContext, RuntimeConfig,
};
use shop_schemas::codec::{Part, subject};
use shop_schemas::inventory::{InventoryCommand, InventoryCommandBody, Restock, StockLevel};
use shop_schemas::registry::RegistryAdmin;
use shop_schemas::{AvroCodec, AvroRecord, KEY_STRING, Registration, RegistryConfig, now_millis};
use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio_util::sync::CancellationToken;

/// The name in client ids, processor headers and thread names.
const NAME: &str = "runtime-bench";

/// A gap this long between two consecutive records handed over is counted as a stall: with the
/// whole input already on the broker, such gaps are the loop doing something other than moving
/// records (mostly committing a transaction).
const STALL: Duration = Duration::from_millis(5);

/// How often the runtime group's committed offsets are read while an EOS variant runs: short
/// against the seconds a variant takes, long enough that the reads cost the broker nothing.
const COMMIT_POLL_EVERY: Duration = Duration::from_millis(20);

/// How long a stopping runtime may take to finish its open transaction and leave the group.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// The goal the figures are held against: EOS throughput as a share of raw.
const GOAL_SHARE_OF_RAW: f64 = 0.70;

#[derive(Debug, Parser)]
#[command(
    version,
    about = "Measures records/s of the exactly-once runtime against raw rdkafka on one broker"
)]
struct Args {
    #[arg(long, env = "SHOP_KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    brokers: String,
    #[arg(
        long,
        env = "SHOP_SCHEMA_REGISTRY_URL",
        default_value = "http://127.0.0.1:8081/apis/ccompat/v7"
    )]
    registry_url: String,
    /// Extra librdkafka properties for every client of the run, `key=value,key=value`: to
    /// try a client setting (e.g. `linger.ms=1`) against the same baseline.
    #[arg(long, env = "SHOP_KAFKA_PROPERTIES", default_value = "")]
    kafka_properties: String,
    /// Records preloaded into the input topic; every variant moves all of them.
    #[arg(long, default_value_t = 100_000)]
    records: usize,
    /// Partitions of the input and output topics.
    #[arg(long, default_value_t = 6)]
    partitions: i32,
    /// Distinct product ids the records are keyed by.
    #[arg(long, default_value_t = 1000)]
    products: usize,
    /// EOS batch settings to measure, `MAX_RECORDS:LINGER_MS`, comma separated.
    #[arg(long = "batch", value_delimiter = ',', default_value = "100:5,1000:50")]
    batches: Vec<BatchSetting>,
    /// How often every variant runs (interleaved); the table shows each variant's median.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Markdown file the results and machine facts are written to.
    #[arg(long, default_value = "target/runtime-bench.md")]
    results: PathBuf,
    /// Bound on every phase (preload, one variant, one verification); past it the run fails.
    #[arg(long, default_value_t = 300)]
    timeout_secs: u64,
    /// What the cluster is, for the results file (the binary cannot ask the broker its version).
    #[arg(
        long,
        default_value = "Kafka 4.1.1 (KRaft), single node, local stack on 127.0.0.1"
    )]
    cluster: String,
    /// Leave the benchmark's topics on the broker (to inspect them); deleted by default.
    #[arg(long)]
    keep_topics: bool,
}

/// One EOS batch setting: a transaction commits after this many records or this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BatchSetting {
    max_records: usize,
    linger: Duration,
}

impl FromStr for BatchSetting {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let usage = || format!("batch setting {text:?} is not MAX_RECORDS:LINGER_MS, e.g. 100:5");
        let (records, linger) = text.split_once(':').ok_or_else(usage)?;
        let max_records: usize = records.trim().parse().map_err(|_| usage())?;
        let linger_ms: u64 = linger.trim().parse().map_err(|_| usage())?;
        if max_records == 0 {
            return Err(format!(
                "batch setting {text:?}: MAX_RECORDS must be at least 1"
            ));
        }
        Ok(Self {
            max_records,
            linger: Duration::from_millis(linger_ms),
        })
    }
}

/// What is measured: plain rdkafka, plain rdkafka doing the runtime's Avro work, or the
/// runtime with one batch setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    Raw,
    /// Raw plus decoding and re-encoding key and value with the codec, as the runtime does for
    /// every record: EOS against this shows what exactly-once itself costs, apart from Avro.
    RawAvro,
    Eos(BatchSetting),
}

impl Variant {
    fn label(self) -> String {
        match self {
            Self::Raw => "raw".to_owned(),
            Self::RawAvro => "raw + avro".to_owned(),
            Self::Eos(batch) => format!(
                "eos {} rec / {} ms",
                batch.max_records,
                batch.linger.as_millis()
            ),
        }
    }

    /// A name fit for topics and groups.
    fn slug(self) -> String {
        match self {
            Self::Raw => "raw".to_owned(),
            Self::RawAvro => "raw-avro".to_owned(),
            Self::Eos(batch) => format!("eos-{}-{}ms", batch.max_records, batch.linger.as_millis()),
        }
    }
}

/// What one run of one variant measured.
#[derive(Debug, Clone)]
struct Sample {
    variant: Variant,
    round: usize,
    records: usize,
    /// From start (before the clients exist) to the end condition of the variant.
    elapsed: Duration,
    /// From start to the first record handed over: client set-up, group join, first fetch.
    first_record: Option<Duration>,
    /// Records handed over (the handler's calls for EOS; more than `records` means replays).
    handled: u64,
    stalls: u64,
    stalled: Duration,
}

impl Sample {
    fn records_per_sec(&self) -> f64 {
        per_second(self.records, self.elapsed)
    }

    /// Throughput once records flow, without the fixed start-up cost.
    fn records_per_sec_after_first(&self) -> Option<f64> {
        self.first_record
            .map(|first| per_second(self.records, self.elapsed.saturating_sub(first)))
    }
}

fn per_second(records: usize, elapsed: Duration) -> f64 {
    let seconds = elapsed.as_secs_f64();
    if seconds > 0.0 {
        records as f64 / seconds
    } else {
        f64::INFINITY
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(error) = telemetry::init_from_env("warn,runtime_bench=info") {
        eprintln!("{NAME}: cannot set up logging: {error}");
        return ExitCode::FAILURE;
    }
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Everything one run works on, named under one fresh prefix so runs never meet.
#[derive(Debug)]
struct Plan {
    prefix: String,
    input: String,
    /// The runtime's dead-letter topic for the input: created so a poison record would land
    /// somewhere countable instead of failing the transaction, and checked to stay empty.
    dead_letters: String,
    /// `(variant, round, output topic)` in the order they run.
    runs: Vec<(Variant, usize, String)>,
}

impl Plan {
    fn new(args: &Args) -> anyhow::Result<Self> {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .context("while naming the run: the clock is before 1970")?
            .as_millis();
        // Time and pid instead of a uuid: unique enough for runs on one broker, and no
        // dependency only a benchmark would need.
        let prefix = format!("bench_{millis}_{}", std::process::id());
        let input = format!("{prefix}.inventory.commands");
        let variants: Vec<Variant> = [Variant::Raw, Variant::RawAvro]
            .into_iter()
            .chain(args.batches.iter().copied().map(Variant::Eos))
            .collect();
        let mut runs = Vec::new();
        for round in 1..=args.rounds {
            for variant in &variants {
                let topic = format!("{prefix}.{}.r{round}.out", variant.slug());
                runs.push((*variant, round, topic));
            }
        }
        Ok(Self {
            dead_letters: shop_topics::names::dead_letter_topic(&input),
            prefix,
            input,
            runs,
        })
    }

    /// Every topic with its partition count.
    fn topics(&self, partitions: i32) -> Vec<(String, i32)> {
        let mut topics = vec![
            (self.input.clone(), partitions),
            (self.dead_letters.clone(), 1),
        ];
        topics.extend(
            self.runs
                .iter()
                .map(|(_, _, output)| (output.clone(), partitions)),
        );
        topics
    }

    fn group(&self, variant: Variant, round: usize) -> String {
        format!("{}.{}.r{round}", self.prefix, variant.slug())
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    ensure!(args.records > 0, "--records must be at least 1");
    ensure!(args.partitions > 0, "--partitions must be at least 1");
    ensure!(args.products > 0, "--products must be at least 1");
    ensure!(args.rounds > 0, "--rounds must be at least 1");
    ensure!(
        !args.batches.is_empty(),
        "--batch needs at least one setting"
    );

    let started = SystemTime::now();
    let load_before = load_average();
    let timeout = Duration::from_secs(args.timeout_secs);
    let mut kafka = KafkaSettings::new(args.brokers.clone(), NAME);
    kafka.overrides = KafkaSettings::parse_overrides(&args.kafka_properties)
        .context("while reading --kafka-properties")?;
    let registry = RegistryConfig {
        url: args.registry_url.clone(),
        timeout: Duration::from_secs(10),
    };
    let plan = Plan::new(&args)?;
    let admin: Arc<AdminClient<TracingContext>> = Arc::new(
        kafka
            .admin()
            .create_with_context(TracingContext)
            .context("while creating the Kafka admin client")?,
    );
    let topics = plan.topics(args.partitions);
    tracing::info!(prefix = %plan.prefix, topics = topics.len(), "creating topics");
    let created = create_topics(&admin, &topics, timeout).await;

    // Measured inside one block so that the topics are deleted below whatever happened.
    let outcome = async {
        let brokers = created?;
        let (samples, input_bytes) = measure(&args, &plan, &kafka, &registry, timeout).await?;
        anyhow::Ok(RunFacts {
            brokers,
            input_bytes,
            samples,
        })
    }
    .await;

    if args.keep_topics {
        tracing::info!(prefix = %plan.prefix, "keeping the benchmark topics");
    } else if let Err(error) = delete_topics(&admin, &topics, timeout).await {
        // The figures are still good; the operator can delete the prefix by hand.
        tracing::warn!(prefix = %plan.prefix, "{error:#}");
    }

    let facts = outcome?;
    let report = Report {
        args: &args,
        plan: &plan,
        facts: &facts,
        started,
        load_before,
        load_after: load_average(),
    };
    println!("{}", report.text_table());
    let markdown = report.markdown();
    if let Some(parent) = args.results.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("while creating the folder of {}", args.results.display()))?;
    }
    std::fs::write(&args.results, markdown)
        .with_context(|| format!("while writing the results to {}", args.results.display()))?;
    println!("results written to {}", args.results.display());
    Ok(())
}

/// What [`measure`] brings back besides the samples.
#[derive(Debug)]
struct RunFacts {
    brokers: usize,
    /// Total bytes of the preloaded records' keys and values.
    input_bytes: usize,
    samples: Vec<Sample>,
}

async fn measure(
    args: &Args,
    plan: &Plan,
    kafka: &KafkaSettings,
    registry: &RegistryConfig,
    timeout: Duration,
) -> anyhow::Result<(Vec<Sample>, usize)> {
    register_output_subjects(registry, plan).await?;
    let records = encode_input(registry, &plan.input, args.records, args.products).await?;
    let input_bytes = records
        .iter()
        .map(|(key, value)| key.len() + value.len())
        .sum();
    let ends = preload(kafka, &plan.input, records, args.partitions, timeout).await?;
    tracing::info!(records = args.records, "input preloaded; measuring");

    let mut samples = Vec::new();
    for (variant, round, output) in &plan.runs {
        let group = plan.group(*variant, *round);
        let sample = match variant {
            Variant::Raw | Variant::RawAvro => {
                let codec = match variant {
                    Variant::RawAvro => Some(Arc::new(
                        AvroCodec::new(registry, Registration::LookupOnly)
                            .context("while creating the raw variant's codec")?,
                    )),
                    _ => None,
                };
                let copy = CopyJob {
                    input: plan.input.clone(),
                    output: output.clone(),
                    group: group.clone(),
                    records: args.records,
                    codec,
                };
                run_raw(kafka, copy, timeout).await?
            }
            Variant::Eos(batch) => {
                run_eos(
                    kafka, registry, plan, output, &group, *batch, &ends, timeout,
                )
                .await?
            }
        };
        let sample = Sample {
            round: *round,
            ..sample
        };
        tracing::info!(
            variant = %variant.label(),
            round,
            seconds = format!("{:.2}", sample.elapsed.as_secs_f64()),
            records_per_sec = format!("{:.0}", sample.records_per_sec()),
            "measured"
        );
        samples.push(sample);
    }
    Ok((samples, input_bytes))
}

/// Runs blocking librdkafka work off the async workers.
async fn blocking<T, F>(doing: &'static str, work: F) -> anyhow::Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> anyhow::Result<T> + Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| anyhow!("while {doing}: the worker thread failed: {error}"))?
}

/// Creates `topics` and waits until metadata shows each with its partitions led; returns how
/// many brokers the metadata lists.
async fn create_topics(
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

async fn delete_topics(
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
async fn register_output_subjects(registry: &RegistryConfig, plan: &Plan) -> anyhow::Result<()> {
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
async fn encode_input(
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

/// Counts a producer's delivery reports, so a variant knows when every record is acknowledged
/// without `flush` (whose poll slices would blur the end of the measurement).
#[derive(Debug, Default)]
struct Deliveries {
    delivered: AtomicUsize,
    failed: AtomicUsize,
    first_error: Mutex<Option<String>>,
}

impl Deliveries {
    fn delivered(&self) -> usize {
        self.delivered.load(Ordering::Relaxed)
    }

    fn failed(&self) -> usize {
        self.failed.load(Ordering::Relaxed)
    }

    fn first_error(&self) -> String {
        let slot = match self.first_error.lock() {
            Ok(slot) => slot,
            Err(poisoned) => poisoned.into_inner(),
        };
        slot.clone().unwrap_or_else(|| "none".to_owned())
    }
}

impl ClientContext for Deliveries {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        TracingContext.log(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        TracingContext.error(error, reason);
    }
}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: Self::DeliveryOpaque) {
        match result {
            Ok(_) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((error, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                let mut slot = match self.first_error.lock() {
                    Ok(slot) => slot,
                    Err(poisoned) => poisoned.into_inner(),
                };
                slot.get_or_insert_with(|| error.to_string());
            }
        }
    }
}

/// Sends `record`, serving delivery reports while librdkafka's queue is full.
fn send_with_backpressure(
    producer: &BaseProducer<Deliveries>,
    mut record: BaseRecord<'_, [u8], [u8]>,
    deadline: Instant,
) -> anyhow::Result<()> {
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                ensure!(
                    Instant::now() < deadline,
                    "the producer queue stayed full until the deadline"
                );
                record = returned;
                producer.poll(Duration::from_millis(1));
            }
            Err((error, _)) => return Err(error).context("while producing a record"),
        }
    }
}

/// Serves delivery reports until `expected` arrived; fails on the first failed delivery.
fn wait_for_deliveries(
    producer: &BaseProducer<Deliveries>,
    expected: usize,
    deadline: Instant,
) -> anyhow::Result<()> {
    loop {
        let deliveries = producer.context();
        ensure!(
            deliveries.failed() == 0,
            "{} deliveries failed, the first with: {}",
            deliveries.failed(),
            deliveries.first_error()
        );
        if deliveries.delivered() >= expected {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "only {} of {expected} records were acknowledged before the deadline",
            deliveries.delivered()
        );
        // BaseProducer::poll waits out its whole timeout, so keep it short: it bounds how late
        // the last acknowledgement is seen.
        producer.poll(Duration::from_millis(1));
    }
}

/// Writes the input and returns the end offset of each partition, what every variant must
/// reach.
async fn preload(
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

/// Time between records handed over, to see how long the loop spends elsewhere.
#[derive(Debug, Default)]
struct Probe {
    state: Mutex<ProbeState>,
}

#[derive(Debug, Default, Clone, Copy)]
struct ProbeState {
    first: Option<Instant>,
    last: Option<Instant>,
    calls: u64,
    stalls: u64,
    stalled: Duration,
}

impl Probe {
    fn record(&self) {
        let now = Instant::now();
        let mut state = match self.state.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        };
        match state.last {
            Some(last) => {
                let gap = now.saturating_duration_since(last);
                if gap >= STALL {
                    state.stalls += 1;
                    state.stalled += gap;
                }
            }
            None => state.first = Some(now),
        }
        state.last = Some(now);
        state.calls += 1;
    }

    fn snapshot(&self) -> ProbeState {
        match self.state.lock() {
            Ok(state) => *state,
            Err(poisoned) => *poisoned.into_inner(),
        }
    }
}

/// A sample from a finished variant's clock and probe.
fn sample(
    variant: Variant,
    records: usize,
    start: Instant,
    elapsed: Duration,
    probe: &Probe,
) -> Sample {
    let seen = probe.snapshot();
    Sample {
        variant,
        round: 0,
        records,
        elapsed,
        first_record: seen
            .first
            .map(|first| first.saturating_duration_since(start)),
        handled: seen.calls,
        stalls: seen.stalls,
        stalled: seen.stalled,
    }
}

/// What a raw variant copies, and whether it re-encodes on the way.
#[derive(Debug)]
struct CopyJob {
    input: String,
    output: String,
    group: String,
    records: usize,
    /// `Some`: decode key and value and encode them again for the output ([`Variant::RawAvro`]);
    /// `None`: copy the bytes ([`Variant::Raw`]).
    codec: Option<Arc<AvroCodec>>,
}

/// Raw rdkafka: copy every input record with a plain idempotent producer, no transactions, no
/// offset commits. The clock starts before the clients exist (as for the runtime, whose set-up
/// is on its clock too) and stops at the last acknowledgement.
async fn run_raw(
    kafka: &KafkaSettings,
    copy: CopyJob,
    timeout: Duration,
) -> anyhow::Result<Sample> {
    let kafka = kafka.clone();
    let runtime = tokio::runtime::Handle::current();
    blocking("running a raw variant", move || {
        let variant = match copy.codec {
            Some(_) => Variant::RawAvro,
            None => Variant::Raw,
        };
        let records = copy.records;
        let start = Instant::now();
        let deadline = start + timeout;
        let probe = Probe::default();
        let consumer: BaseConsumer<TracingContext> = kafka
            .consumer(&copy.group)
            .create_with_context(TracingContext)
            .context("while creating the raw consumer")?;
        let producer: BaseProducer<Deliveries> = kafka
            .producer()
            .create_with_context(Deliveries::default())
            .context("while creating the raw producer")?;
        consumer
            .subscribe(&[copy.input.as_str()])
            .context("while subscribing the raw consumer")?;
        let mut consumed = 0;
        while consumed < records {
            ensure!(
                Instant::now() < deadline,
                "{}: only {consumed} of {records} records consumed within {timeout:?}",
                variant.label()
            );
            match consumer.poll(Duration::from_millis(100)) {
                None => {}
                Some(Err(error)) => tracing::warn!(%error, "raw consumer error"),
                Some(Ok(message)) => {
                    probe.record();
                    let (key, payload) = (message.key(), message.payload());
                    // Kept alive until the record is handed to librdkafka, which copies it.
                    let reencoded;
                    let (key, payload) = match (&copy.codec, key, payload) {
                        (Some(codec), Some(key), Some(payload)) => {
                            // One block_on per record for all four calls; the runtime does one
                            // per call, so this is the codec's cost with less of the bridging.
                            reencoded = runtime
                                .block_on(reencode(codec, &copy.output, key, payload))
                                .context("while re-encoding a record (raw + avro)")?;
                            (Some(&reencoded.0[..]), Some(&reencoded.1[..]))
                        }
                        (Some(_), _, _) => bail!("an input record lacks a key or a value"),
                        (None, key, payload) => (key, payload),
                    };
                    let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(&copy.output);
                    if let Some(key) = key {
                        record = record.key(key);
                    }
                    if let Some(payload) = payload {
                        record = record.payload(payload);
                    }
                    send_with_backpressure(&producer, record, deadline)
                        .context("while copying a record (raw)")?;
                    consumed += 1;
                }
            }
            producer.poll(Duration::ZERO);
        }
        wait_for_deliveries(&producer, records, deadline).context("while copying (raw)")?;
        let elapsed = start.elapsed();
        Ok(sample(variant, records, start, elapsed, &probe))
    })
    .await
}

/// Decodes a record as the runtime does (key as a string, value as an `InventoryCommand`) and
/// encodes both for `output`.
async fn reencode(
    codec: &AvroCodec,
    output: &str,
    key: &[u8],
    payload: &[u8],
) -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
    let key = codec
        .decode_key(key)
        .await
        .context("while decoding a key")?;
    let command: InventoryCommand = codec
        .decode(payload)
        .await
        .context("while decoding a value")?;
    let key_bytes = codec
        .encode_key(output, &key)
        .await
        .context("while encoding a key")?;
    let value = codec
        .encode(output, Part::Value, &command)
        .await
        .context("while encoding a value")?;
    Ok((key_bytes, value))
}

/// Sends every command on unchanged, same key, to one topic: the least a handler can do, so
/// what is measured is the runtime's own cost (decode, encode, produce, commit), not business
/// logic. Stateless: the state type is only there because a handler must name one.
#[derive(Debug)]
struct PassThrough {
    output_topic: String,
    probe: Arc<Probe>,
}

impl Handler for PassThrough {
    type Input = InventoryCommand;
    type State = StockLevel;

    fn handle(
        &mut self,
        record: &RecordContext<'_>,
        input: InventoryCommand,
        _state: &mut Option<StockLevel>,
        out: &mut Outputs,
    ) -> Result<(), HandlerError> {
        self.probe.record();
        out.send(self.output_topic.clone(), record.key, input);
        Ok(())
    }
}

/// The runtime with one batch setting, from its start to the commit of the input's end
/// offsets; then stopped, and its output counted off the clock.
#[allow(clippy::too_many_arguments)]
async fn run_eos(
    kafka: &KafkaSettings,
    registry: &RegistryConfig,
    plan: &Plan,
    output: &str,
    group: &str,
    batch: BatchSetting,
    ends: &[(i32, i64)],
    timeout: Duration,
) -> anyhow::Result<Sample> {
    let variant = Variant::Eos(batch);
    // A fresh codec, like a freshly started processor: its registry lookups are on the clock,
    // once per subject and writer schema id, then cached.
    let codec = Arc::new(
        AvroCodec::new(registry, Registration::LookupOnly)
            .context("while creating the runtime's codec")?,
    );
    let mut config = RuntimeConfig::new(
        NAME,
        group,
        format!("{group}.tx"),
        vec![plan.input.clone()],
        None,
    );
    config.batch_max_records = batch.max_records;
    config.batch_linger = batch.linger;
    let probe = Arc::new(Probe::default());
    let handler = PassThrough {
        output_topic: output.to_owned(),
        probe: Arc::clone(&probe),
    };
    let shutdown = CancellationToken::new();

    let start = Instant::now();
    let mut task = tokio::spawn(runtime::run(
        config,
        kafka.clone(),
        codec,
        handler,
        shutdown.clone(),
    ));
    let stop_watching = Arc::new(AtomicBool::new(false));
    let mut watcher = {
        let (kafka, group, input) = (kafka.clone(), group.to_owned(), plan.input.clone());
        let ends = ends.to_vec();
        let stop = Arc::clone(&stop_watching);
        let deadline = start + timeout;
        tokio::task::spawn_blocking(move || {
            wait_for_commits(&kafka, &group, &input, &ends, deadline, &stop)
                .map(|()| start.elapsed())
        })
    };
    let watched = tokio::select! {
        watched = &mut watcher => watched
            .map_err(|error| anyhow!("the commit watcher failed: {error}"))
            .and_then(|result| result),
        ended = &mut task => {
            stop_watching.store(true, Ordering::Relaxed);
            let error = match ended {
                Ok(Ok(())) => anyhow!("the runtime stopped before the input was committed"),
                Ok(Err(error)) => anyhow::Error::new(error),
                Err(error) => anyhow!("the runtime's task failed: {error}"),
            };
            return Err(error.context(format!("while running {}", variant.label())));
        }
    };
    shutdown.cancel();
    let stopped = tokio::time::timeout(STOP_TIMEOUT, &mut task).await;
    let elapsed = watched.with_context(|| format!("while measuring {}", variant.label()))?;
    match stopped {
        Err(_) => bail!(
            "{}: the runtime did not stop within {STOP_TIMEOUT:?}",
            variant.label()
        ),
        Ok(Err(error)) => bail!("{}: the runtime's task failed: {error}", variant.label()),
        Ok(Ok(Err(error))) => {
            return Err(anyhow::Error::new(error))
                .with_context(|| format!("while stopping the runtime ({})", variant.label()));
        }
        Ok(Ok(Ok(()))) => {}
    }
    let records = ends_total(ends);
    let measured = sample(variant, records, start, elapsed, &probe);

    // Off the clock: the committed output holds every record exactly once, and nothing was
    // dead-lettered. Without this a fast figure could be a wrong one.
    let (kafka, output_topic, dead_letters) =
        (kafka.clone(), output.to_owned(), plan.dead_letters.clone());
    let partitions = i32::try_from(ends.len()).context("while counting partitions")?;
    let verify_group = format!("{group}.verify");
    blocking("verifying the output", move || {
        let counted = count_committed(
            &kafka,
            &verify_group,
            &output_topic,
            partitions,
            records,
            timeout,
        )?;
        ensure!(
            counted == records,
            "{output_topic} holds {counted} committed records, expected {records}"
        );
        let consumer: BaseConsumer<TracingContext> = kafka
            .consumer(&verify_group)
            .create_with_context(TracingContext)
            .context("while creating a consumer to check the dead-letter topic")?;
        let (low, high) = consumer
            .fetch_watermarks(&dead_letters, 0, timeout)
            .context("while reading the dead-letter topic's offsets")?;
        ensure!(
            high == low,
            "{} records were dead-lettered to {dead_letters}",
            high - low
        );
        Ok(())
    })
    .await
    .with_context(|| format!("while verifying {}", variant.label()))?;
    Ok(measured)
}

fn ends_total(ends: &[(i32, i64)]) -> usize {
    ends.iter()
        .map(|(_, end)| usize::try_from(*end).unwrap_or(0))
        .sum()
}

/// Waits until the runtime's group has committed `ends`.
///
/// Why committed offsets rather than counting the output with a `read_committed` reader: the
/// runtime commits the input offsets in the same transaction as the outputs they caused, so
/// "the group committed the end offsets" means "every output is committed". This consumer has
/// the runtime's group id but never subscribes, so it never joins the group; it only asks the
/// coordinator for the committed offsets. Being `read_committed`, librdkafka asks for stable
/// offsets (KIP-447): an offset of a transaction still being committed is not returned early.
/// A reader draining 100 000 records alongside would compete with the runtime for the same two
/// cores and slow what it measures; these reads cost next to nothing. What is left between the
/// two end conditions is the asynchronous write of the commit markers to the output partitions
/// (milliseconds), and the polling interval ([`COMMIT_POLL_EVERY`]).
fn wait_for_commits(
    kafka: &KafkaSettings,
    group: &str,
    input: &str,
    ends: &[(i32, i64)],
    deadline: Instant,
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    let consumer: BaseConsumer<TracingContext> = kafka
        .consumer(group)
        .create_with_context(TracingContext)
        .context("while creating the commit watcher")?;
    let mut wanted = TopicPartitionList::new();
    for (partition, _) in ends {
        wanted.add_partition(input, *partition);
    }
    let mut behind = ends_total(ends);
    let mut last_error = None;
    loop {
        if stop.load(Ordering::Relaxed) {
            bail!("stopped watching: the runtime ended");
        }
        let left = remaining(deadline);
        ensure!(
            !left.is_zero(),
            "the runtime's group was still {behind} records behind at the deadline \
             (last watcher error: {})",
            last_error.as_deref().unwrap_or("none")
        );
        match consumer.committed_offsets(wanted.clone(), left.min(Duration::from_secs(5))) {
            Ok(committed) => {
                behind = ends
                    .iter()
                    .map(|(partition, end)| {
                        let at = committed
                            .find_partition(input, *partition)
                            .and_then(|element| match element.offset() {
                                Offset::Offset(offset) => Some(offset),
                                _ => None,
                            })
                            .unwrap_or(0);
                        usize::try_from(end - at).unwrap_or(0)
                    })
                    .sum();
                if behind == 0 {
                    return Ok(());
                }
            }
            Err(error) => last_error = Some(error.to_string()),
        }
        std::thread::sleep(COMMIT_POLL_EVERY);
    }
}

/// The verifying reader's context: like [`TracingContext`], but quiet about reaching the end of
/// a partition, which that reader asks to be told about and expects.
#[derive(Debug, Clone, Copy, Default)]
struct VerifyContext;

impl ClientContext for VerifyContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        TracingContext.log(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if error.rdkafka_error_code() != Some(RDKafkaErrorCode::PartitionEOF) {
            TracingContext.error(error, reason);
        }
    }
}

impl ConsumerContext for VerifyContext {}

/// Counts what a `read_committed` reader sees in `topic`: reads every partition to its end and
/// keeps reading until `expected` arrived, so both missing and duplicated records show.
fn count_committed(
    kafka: &KafkaSettings,
    group: &str,
    topic: &str,
    partitions: i32,
    expected: usize,
    timeout: Duration,
) -> anyhow::Result<usize> {
    let mut config = kafka.consumer(group);
    config.set("enable.partition.eof", "true");
    let consumer: BaseConsumer<VerifyContext> = config
        .create_with_context(VerifyContext)
        .context("while creating the verifying reader")?;
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions {
        assignment
            .add_partition_offset(topic, partition, Offset::Beginning)
            .context("while listing partitions to verify")?;
    }
    consumer
        .assign(&assignment)
        .context("while assigning the verifying reader")?;
    let deadline = Instant::now() + timeout;
    let mut counted = 0;
    let mut at_end: HashSet<i32> = HashSet::new();
    loop {
        let all_at_end = usize::try_from(partitions).is_ok_and(|count| at_end.len() == count);
        if all_at_end && counted >= expected {
            return Ok(counted);
        }
        ensure!(
            Instant::now() < deadline,
            "verifying {topic}: {counted} of {expected} records seen before the deadline \
             ({} of {partitions} partitions at their end)",
            at_end.len()
        );
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Err(KafkaError::PartitionEOF(partition))) => {
                at_end.insert(partition);
            }
            Some(Err(error)) => return Err(error).context("while verifying the output"),
            Some(Ok(message)) => {
                counted += 1;
                at_end.remove(&message.partition());
            }
        }
    }
}

fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

/// `/proc/loadavg`'s three averages: how busy the machine was, which the figures depend on.
fn load_average() -> Option<String> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    Some(
        text.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    )
}

fn cpu_model() -> Option<String> {
    let text = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    text.lines()
        .find(|line| line.starts_with("model name"))
        .and_then(|line| line.split_once(':'))
        .map(|(_, model)| model.trim().to_owned())
}

/// One row of the summary: a variant's median round.
#[derive(Debug)]
struct Row<'a> {
    sample: &'a Sample,
    /// records/s as a share of raw's.
    ratio: Option<f64>,
    /// records/s as a share of raw + avro's.
    ratio_avro: Option<f64>,
}

#[derive(Debug)]
struct Report<'a> {
    args: &'a Args,
    plan: &'a Plan,
    facts: &'a RunFacts,
    started: SystemTime,
    load_before: Option<String>,
    load_after: Option<String>,
}

impl Report<'_> {
    /// Each variant's median round by records/s, in run order, with its ratio to raw's.
    fn rows(&self) -> Vec<Row<'_>> {
        let mut variants: Vec<Variant> = Vec::new();
        for (variant, _, _) in &self.plan.runs {
            if !variants.contains(variant) {
                variants.push(*variant);
            }
        }
        let medians: Vec<&Sample> = variants
            .iter()
            .filter_map(|variant| {
                let mut samples: Vec<&Sample> = self
                    .facts
                    .samples
                    .iter()
                    .filter(|sample| sample.variant == *variant)
                    .collect();
                samples.sort_by(|a, b| a.records_per_sec().total_cmp(&b.records_per_sec()));
                samples.get(samples.len() / 2).copied()
            })
            .collect();
        let rate_of = |wanted: Variant| {
            medians
                .iter()
                .find(|sample| sample.variant == wanted)
                .map(|sample| sample.records_per_sec())
        };
        let (raw, raw_avro) = (rate_of(Variant::Raw), rate_of(Variant::RawAvro));
        medians
            .into_iter()
            .map(|sample| Row {
                sample,
                ratio: raw.map(|raw| sample.records_per_sec() / raw),
                ratio_avro: raw_avro.map(|base| sample.records_per_sec() / base),
            })
            .collect()
    }

    fn text_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<22} {:>9} {:>9} {:>11} {:>8} {:>11} {:>13} {:>16} {:>16}",
            "variant",
            "records",
            "seconds",
            "records/s",
            "vs raw",
            "vs raw+avro",
            "first rec (s)",
            "rec/s after 1st",
            "stalls>=5ms (s)"
        );
        for row in self.rows() {
            let sample = row.sample;
            let _ = writeln!(
                out,
                "{:<22} {:>9} {:>9.2} {:>11.0} {:>8} {:>11} {:>13} {:>16} {:>16}",
                sample.variant.label(),
                sample.records,
                sample.elapsed.as_secs_f64(),
                sample.records_per_sec(),
                percent(row.ratio),
                percent(row.ratio_avro),
                seconds(sample.first_record),
                rate(sample.records_per_sec_after_first()),
                format!("{} / {:.2}", sample.stalls, sample.stalled.as_secs_f64()),
            );
        }
        out
    }

    fn markdown(&self) -> String {
        let args = self.args;
        let mut out = String::new();
        let _ = writeln!(out, "# runtime-bench results\n");
        let _ = writeln!(
            out,
            "- date: {}",
            humantime::format_rfc3339_seconds(self.started)
        );
        let command: Vec<String> = std::env::args().collect();
        let _ = writeln!(out, "- command: `{}`", command.join(" "));
        let _ = writeln!(
            out,
            "- build: {}",
            if cfg!(debug_assertions) {
                "debug (dev profile): figures are not representative"
            } else {
                "release"
            }
        );
        let cpus = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
        let _ = writeln!(
            out,
            "- machine: {cpus} CPUs (nproc){}",
            cpu_model()
                .map(|model| format!(", {model}"))
                .unwrap_or_default()
        );
        let _ = writeln!(
            out,
            "- load average (1/5/15 min) before: {}, after: {}",
            self.load_before.as_deref().unwrap_or("unknown"),
            self.load_after.as_deref().unwrap_or("unknown")
        );
        let _ = writeln!(
            out,
            "- cluster: {}; brokers `{}`, {} broker(s) in metadata",
            args.cluster, args.brokers, self.facts.brokers
        );
        let _ = writeln!(
            out,
            "- extra librdkafka properties: {}",
            if args.kafka_properties.trim().is_empty() {
                "none".to_owned()
            } else {
                format!("`{}`", args.kafka_properties)
            }
        );
        let _ = writeln!(
            out,
            "- input: {} records ({} bytes of keys and values, {:.1} bytes a record) keyed by \
             {} products, {} partitions; topic prefix `{}`",
            args.records,
            self.facts.input_bytes,
            self.facts.input_bytes as f64 / args.records as f64,
            args.products,
            args.partitions,
            self.plan.prefix
        );
        let _ = writeln!(
            out,
            "- rounds: {} (the table shows each variant's median round)\n",
            args.rounds
        );
        let _ = writeln!(
            out,
            "| variant | records | seconds | records/s | vs raw | vs raw + avro | \
             first record after (s) | records/s after first record | stalls ≥ 5 ms (count / s) |"
        );
        let _ = writeln!(
            out,
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        );
        let rows = self.rows();
        for row in &rows {
            let sample = row.sample;
            let _ = writeln!(
                out,
                "| {} | {} | {:.2} | {:.0} | {} | {} | {} | {} | {} / {:.2} |",
                sample.variant.label(),
                sample.records,
                sample.elapsed.as_secs_f64(),
                sample.records_per_sec(),
                percent(row.ratio),
                percent(row.ratio_avro),
                seconds(sample.first_record),
                rate(sample.records_per_sec_after_first()),
                sample.stalls,
                sample.stalled.as_secs_f64()
            );
        }
        let _ = writeln!(
            out,
            "\nGoal: EOS runtime ≥ {:.0} % of raw records/s.",
            GOAL_SHARE_OF_RAW * 100.0
        );
        for row in rows
            .iter()
            .filter(|row| matches!(row.sample.variant, Variant::Eos(_)))
        {
            if let Some(ratio) = row.ratio {
                let _ = writeln!(
                    out,
                    "- {}: {} of raw, goal {}",
                    row.sample.variant.label(),
                    percent(Some(ratio)),
                    if ratio >= GOAL_SHARE_OF_RAW {
                        "met"
                    } else {
                        "missed"
                    }
                );
            }
        }
        if args.rounds > 1 {
            let _ = writeln!(out, "\n## Every round\n");
            let _ = writeln!(out, "| round | variant | seconds | records/s |");
            let _ = writeln!(out, "| ---: | --- | ---: | ---: |");
            for sample in &self.facts.samples {
                let _ = writeln!(
                    out,
                    "| {} | {} | {:.2} | {:.0} |",
                    sample.round,
                    sample.variant.label(),
                    sample.elapsed.as_secs_f64(),
                    sample.records_per_sec()
                );
            }
        }
        let _ = writeln!(
            out,
            "\nraw: consumer + plain idempotent producer copying bytes, clock stops at the last \
             acknowledgement. raw + avro: the same, decoding key and value with the codec and \
             encoding them again for the output. eos: the runtime with a pass-through handler, clock stops when \
             its group has committed the input's end offsets (output verified afterwards with \
             a read_committed reader: exactly {} records, none dead-lettered). Stalls: gaps of \
             at least 5 ms between two records handed over. Handler calls per variant: {}.",
            args.records,
            rows.iter()
                .map(|row| format!("{} {}", row.sample.variant.label(), row.sample.handled))
                .collect::<Vec<_>>()
                .join(", ")
        );
        out
    }
}

fn percent(ratio: Option<f64>) -> String {
    ratio.map_or_else(
        || "n/a".to_owned(),
        |ratio| format!("{:.1} %", ratio * 100.0),
    )
}

fn seconds(duration: Option<Duration>) -> String {
    duration.map_or_else(
        || "n/a".to_owned(),
        |duration| format!("{:.2}", duration.as_secs_f64()),
    )
}

fn rate(per_second: Option<f64>) -> String {
    per_second.map_or_else(|| "n/a".to_owned(), |rate| format!("{rate:.0}"))
}
