//! How the processors are started: settings from flags and the environment, one function that
//! runs any processor, and the all-in-one mode that runs all five in one process.
//!
//! Each processor binary (`shop-catalog`, `shop-cart`, ...) is [`main`] with one
//! [`ProcessorKind`]; `shop-processors` is [`main`] with all of them. Instances of one processor
//! share a consumer group, so running more of them spreads its partitions.

use crate::cart::{CartProcessor, CartSettings};
use crate::catalog::{self, Catalog};
use crate::inventory::Inventory;
use crate::orders::OrderSaga;
use crate::payment::{DeterministicGateway, PaymentProcessor};
use crate::runtime::{self, GlobalTable, Handler, RuntimeConfig};
use crate::topology::TopicNames;
use anyhow::Context;
use shop_platform::kafka::KafkaSettings;
use shop_platform::{shutdown, telemetry};
use shop_schemas::catalog::Product;
use shop_schemas::{AvroCodec, Registration, RegistryConfig};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// The five business processors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum ProcessorKind {
    Catalog,
    Cart,
    Inventory,
    Payment,
    Orders,
}

impl ProcessorKind {
    pub const ALL: [Self; 5] = [
        Self::Catalog,
        Self::Cart,
        Self::Inventory,
        Self::Payment,
        Self::Orders,
    ];

    /// The processor's name: in group ids, transactional ids, logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Self::Catalog => catalog::NAME,
            Self::Cart => crate::cart::NAME,
            Self::Inventory => crate::inventory::NAME,
            Self::Payment => crate::payment::NAME,
            Self::Orders => crate::orders::NAME,
        }
    }
}

/// Everything a processor needs to run, whether it came from flags or a test.
#[derive(Debug, Clone)]
pub struct PipelineSettings {
    pub brokers: String,
    /// Extra librdkafka properties for every client.
    pub kafka_overrides: Vec<(String, String)>,
    pub registry: RegistryConfig,
    /// Put in front of every topic, group and transactional id (`SHOP_TOPIC_PREFIX`).
    pub prefix: String,
    /// Tells instances of one processor apart; stable across restarts (`SHOP_INSTANCE_ID`).
    pub instance_id: String,
    pub batch_max_records: usize,
    pub batch_linger: Duration,
    pub static_membership: bool,
    /// Bound on transaction calls, state restore and reading the catalog table.
    pub operation_timeout: Duration,
    /// Write the five demo products on the very first start (`SHOP_CATALOG_SEED`).
    pub seed_catalog: bool,
    pub cart: CartSettings,
    /// How long the saga waits for a payment answer (`SHOP_PAYMENT_TIMEOUT`).
    pub payment_timeout: Duration,
    pub gateway: DeterministicGateway,
}

impl PipelineSettings {
    /// Defaults for `brokers` and `registry_url`: no prefix, instance `0`.
    pub fn new(brokers: impl Into<String>, registry_url: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            kafka_overrides: Vec::new(),
            registry: RegistryConfig {
                url: registry_url.into(),
                timeout: Duration::from_secs(10),
            },
            prefix: String::new(),
            instance_id: "0".to_owned(),
            batch_max_records: 500,
            batch_linger: Duration::from_millis(10),
            static_membership: false,
            operation_timeout: Duration::from_secs(30),
            seed_catalog: true,
            cart: CartSettings::default(),
            payment_timeout: Duration::from_secs(30),
            gateway: DeterministicGateway::default(),
        }
    }

    pub fn topics(&self) -> TopicNames {
        TopicNames::with_prefix(&self.prefix)
    }

    /// Kafka settings for `kind`'s clients.
    pub fn kafka(&self, kind: ProcessorKind) -> KafkaSettings {
        let mut kafka = KafkaSettings::new(&self.brokers, format!("shop-{}", kind.name()));
        kafka.overrides = self.kafka_overrides.clone();
        kafka
    }

    /// The runtime settings of `kind` reading `inputs` with state in `changelog`.
    fn runtime(&self, kind: ProcessorKind, inputs: Vec<String>, changelog: &str) -> RuntimeConfig {
        let name = kind.name();
        let mut config = RuntimeConfig::new(
            name,
            format!("{}shop-{name}", self.prefix),
            format!("{}shop-{name}-{}", self.prefix, self.instance_id),
            inputs,
            Some(changelog.to_owned()),
        );
        config.batch_max_records = self.batch_max_records;
        config.batch_linger = self.batch_linger;
        config.static_membership = self.static_membership;
        config.operation_timeout = self.operation_timeout;
        config
    }

    /// A codec that only looks schemas up: `shop-topics apply` registers them.
    ///
    /// # Errors
    /// If the registry settings are unusable.
    pub fn codec(&self) -> anyhow::Result<Arc<AvroCodec>> {
        let codec = AvroCodec::new(&self.registry, Registration::LookupOnly)
            .context("while setting up the schema registry client")?;
        Ok(Arc::new(codec))
    }
}

/// Runs one processor until `shutdown` or a fatal error.
///
/// # Errors
/// Why the processor stopped on its own (fenced, Kafka fatal, registry gone, ...).
pub async fn run(
    kind: ProcessorKind,
    settings: &PipelineSettings,
    codec: Arc<AvroCodec>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let topics = settings.topics();
    let kafka = settings.kafka(kind);
    let result = match kind {
        ProcessorKind::Catalog => {
            if settings.seed_catalog {
                let seeded = catalog::seed_on_first_start(
                    &kafka,
                    &codec,
                    &topics,
                    settings.operation_timeout,
                )
                .await
                .context("while seeding the catalog")?;
                if seeded > 0 {
                    tracing::info!(products = seeded, "first start: catalog seeded");
                }
            }
            let config = settings.runtime(
                kind,
                vec![topics.catalog_commands.clone()],
                &topics.catalog_products,
            );
            start(config, kafka, codec, Catalog::new(&topics), shutdown).await
        }
        ProcessorKind::Cart => {
            let loaded = GlobalTable::start(
                &kafka,
                Arc::clone(&codec),
                &topics.catalog_products,
                settings.operation_timeout,
                shutdown.clone(),
            )
            .await;
            let products: GlobalTable<Product> = match loaded {
                Ok(table) => table,
                // Asked to stop while the broker was away: nothing was started, nothing to end.
                Err(_) if shutdown.is_cancelled() => return Ok(()),
                Err(error) => return Err(error).context("while reading the catalog"),
            };
            let config =
                settings.runtime(kind, vec![topics.cart_commands.clone()], &topics.cart_carts);
            let handler = CartProcessor::new(&topics, products, settings.cart.clone());
            start(config, kafka, codec, handler, shutdown).await
        }
        ProcessorKind::Inventory => {
            let config = settings.runtime(
                kind,
                vec![topics.inventory_commands.clone()],
                &topics.inventory_stock,
            );
            start(config, kafka, codec, Inventory::new(&topics), shutdown).await
        }
        ProcessorKind::Payment => {
            let config = settings.runtime(
                kind,
                vec![topics.payment_commands.clone()],
                &topics.payment_payments,
            );
            let handler = PaymentProcessor::new(&topics, settings.gateway.clone());
            start(config, kafka, codec, handler, shutdown).await
        }
        ProcessorKind::Orders => {
            let config = settings.runtime(
                kind,
                vec![
                    topics.checkout_requested.clone(),
                    topics.inventory_events.clone(),
                    topics.payment_events.clone(),
                ],
                &topics.orders_orders,
            );
            let handler = OrderSaga::new(&topics, settings.payment_timeout);
            start(config, kafka, codec, handler, shutdown).await
        }
    };
    result.with_context(|| format!("processor {} stopped", kind.name()))
}

async fn start<H: Handler>(
    config: RuntimeConfig,
    kafka: KafkaSettings,
    codec: Arc<AvroCodec>,
    handler: H,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    runtime::run(config, kafka, codec, handler, shutdown).await?;
    Ok(())
}

/// Runs every processor in `kinds` in this process, sharing one registry client. When one
/// stops with an error the others are shut down gracefully, and the first error is returned.
///
/// # Errors
/// The first processor's error.
pub async fn run_many(
    kinds: &[ProcessorKind],
    settings: &PipelineSettings,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let codec = settings.codec()?;
    let all_stop = shutdown.child_token();
    let mut running = JoinSet::new();
    for &kind in kinds {
        let settings = settings.clone();
        let codec = Arc::clone(&codec);
        let stop = all_stop.clone();
        running.spawn(async move { run(kind, &settings, codec, stop).await });
    }
    let mut first_error = None;
    while let Some(joined) = running.join_next().await {
        let result = joined
            .map_err(anyhow::Error::from)
            .and_then(|result| result);
        if let Err(error) = result {
            tracing::error!("{error:#}");
            all_stop.cancel();
            first_error.get_or_insert(error);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Flags and environment variables shared by every processor binary.
#[derive(Debug, clap::Parser)]
#[command(version)]
pub struct Args {
    /// Kafka bootstrap servers.
    #[arg(long, env = "SHOP_KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    pub brokers: String,
    /// Extra librdkafka properties, `key=value,key=value`.
    #[arg(long, env = "SHOP_KAFKA_PROPERTIES", default_value = "")]
    pub kafka_properties: String,
    /// Confluent-compatible schema registry API.
    #[arg(
        long,
        env = "SHOP_SCHEMA_REGISTRY_URL",
        default_value = "http://127.0.0.1:8081/apis/ccompat/v7"
    )]
    pub registry_url: String,
    /// Put in front of every topic, group and transactional id.
    #[arg(long, env = "SHOP_TOPIC_PREFIX", default_value = "")]
    pub topic_prefix: String,
    /// Unique among running instances of a processor and stable across restarts: it names the
    /// transactional id, so a restarted instance fences its predecessor's open transaction at
    /// once instead of leaving it to time out. `@hostname` takes the host name (one per
    /// container, for replicas that share a configuration).
    #[arg(long, env = "SHOP_INSTANCE_ID", default_value = "0", value_parser = shop_platform::instance::parse)]
    pub instance_id: String,
    /// A transaction commits after this many input records...
    #[arg(long, env = "SHOP_BATCH_MAX_RECORDS", default_value_t = 500)]
    pub batch_max_records: usize,
    /// ...or when its first record is this old.
    #[arg(long, env = "SHOP_BATCH_LINGER", default_value = "10ms", value_parser = humantime::parse_duration)]
    pub batch_linger: Duration,
    /// Rejoin as the same static group member after a restart (see `docs/runtime.md`).
    #[arg(long, env = "SHOP_STATIC_MEMBERSHIP")]
    pub static_membership: bool,
    /// Serve Prometheus metrics at `http://<addr>/metrics`.
    #[arg(long, env = "SHOP_METRICS_ADDR")]
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Write the five demo products when the catalog topics have never held a record.
    #[arg(long, env = "SHOP_CATALOG_SEED", default_value_t = true, action = clap::ArgAction::Set)]
    pub catalog_seed: bool,
    /// A cart nobody touches for this long is deleted.
    #[arg(long, env = "SHOP_CART_TTL", default_value = "90days", value_parser = humantime::parse_duration)]
    pub cart_ttl: Duration,
    /// How long an order with reserved stock waits for its payment answer.
    #[arg(long, env = "SHOP_PAYMENT_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub payment_timeout: Duration,
    /// The built-in gateway declines larger amounts (minor units).
    #[arg(
        long,
        env = "SHOP_PAYMENT_AMOUNT_LIMIT_CENTS",
        default_value_t = 1_000_000
    )]
    pub payment_amount_limit_cents: i64,
    /// How late the built-in gateway answers for the token `tok_late`.
    #[arg(long, env = "SHOP_PAYMENT_LATE_DELAY", default_value = "60s", value_parser = humantime::parse_duration)]
    pub payment_late_delay: Duration,
    /// `shop-processors` only: also run the lag monitor, serving its dashboard and JSON API
    /// here (its metrics join this process's, at `SHOP_METRICS_ADDR`).
    #[arg(long, env = "SHOP_MONITOR_ADDR")]
    pub monitor_addr: Option<std::net::SocketAddr>,
    /// The monitor's settings (`shop-processors` with `SHOP_MONITOR_ADDR` only).
    #[command(flatten)]
    pub monitor: shop_monitor::app::MonitorFlags,
}

impl Args {
    /// The settings these flags describe.
    ///
    /// # Errors
    /// A malformed `--kafka-properties`.
    pub fn settings(&self) -> anyhow::Result<PipelineSettings> {
        let mut settings = PipelineSettings::new(&self.brokers, &self.registry_url);
        settings.kafka_overrides = KafkaSettings::parse_overrides(&self.kafka_properties)
            .context("in SHOP_KAFKA_PROPERTIES")?;
        settings.prefix = self.topic_prefix.clone();
        settings.instance_id = self.instance_id.clone();
        settings.batch_max_records = self.batch_max_records;
        settings.batch_linger = self.batch_linger;
        settings.static_membership = self.static_membership;
        settings.seed_catalog = self.catalog_seed;
        settings.cart.ttl = self.cart_ttl;
        settings.payment_timeout = self.payment_timeout;
        settings.gateway = DeterministicGateway {
            amount_limit_cents: self.payment_amount_limit_cents,
            late_delay: self.payment_late_delay,
        };
        Ok(settings)
    }
}

/// The `main` of every processor binary: runs `kinds` until SIGTERM or SIGINT.
pub async fn main(binary: &str, kinds: &[ProcessorKind]) -> ExitCode {
    let args = <Args as clap::Parser>::parse();
    // Held until main returns: dropping it flushes the spans not yet exported.
    let _telemetry = match telemetry::init_from_env("info,librdkafka=warn") {
        Ok(guard) => guard,
        Err(error) => {
            eprintln!("{binary}: cannot set up logging: {error}");
            return ExitCode::FAILURE;
        }
    };
    match run_binary(&args, kinds).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{binary}: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run_binary(args: &Args, kinds: &[ProcessorKind]) -> anyhow::Result<()> {
    if let Some(addr) = args.metrics_addr {
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .with_http_listener(addr)
            .install()
            .with_context(|| format!("while serving metrics on {addr}"))?;
    }
    let settings = args.settings()?;
    let shutdown = shutdown::on_signal();
    let monitor = match args.monitor_addr {
        Some(addr) if kinds == ProcessorKind::ALL.as_slice() => {
            Some(start_monitor(args, addr, shutdown.child_token()).await?)
        }
        Some(_) => {
            tracing::warn!(
                "SHOP_MONITOR_ADDR is honoured by shop-processors only; run shop-monitor for a lag monitor of its own"
            );
            None
        }
        None => None,
    };
    let result = run_many(kinds, &settings, shutdown.clone()).await;
    shutdown.cancel();
    if let Some(monitor) = monitor {
        match monitor.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::error!("the lag monitor failed: {error:#}"),
            Err(error) => tracing::error!("the lag monitor panicked: {error}"),
        }
    }
    result
}

/// Starts the lag monitor beside the processors. It is an onlooker: if it fails, it logs and
/// the processors go on.
async fn start_monitor(
    args: &Args,
    addr: std::net::SocketAddr,
    stop: CancellationToken,
) -> anyhow::Result<tokio::task::JoinHandle<anyhow::Result<()>>> {
    let mut kafka = KafkaSettings::new(&args.brokers, "shop-monitor");
    kafka.overrides = KafkaSettings::parse_overrides(&args.kafka_properties)
        .context("in SHOP_KAFKA_PROPERTIES")?;
    let settings = args.monitor.settings(kafka, &args.topic_prefix);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot serve the lag monitor on {addr}"))?;
    Ok(tokio::spawn(shop_monitor::app::run(
        settings, listener, None, stop,
    )))
}
