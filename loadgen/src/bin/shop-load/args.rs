//! `shop-load`'s flags, and how they become the library's configurations.

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use shop_loadgen::config::{BaselineConfig, KafkaTarget, LoadConfig, RelayMode, default_run_id};
use shop_loadgen::cpu::WatchedProcess;
use shop_loadgen::schedule::Mix;
use shop_platform::kafka::KafkaSettings;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Open-loop HTTP load through the shop pipeline, and a raw-Kafka baseline through as many
/// topic hops on the same broker. Writes a JSON result and a PNG chart next to it.
#[derive(Debug, Parser)]
#[command(name = "shop-load", version)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Load only: shoppers through the ingress of a running pipeline (`./dev up`).
    Run(RunArgs),
    /// The raw-Kafka chain only (needs just the broker).
    Baseline(BaselineArgs),
    /// Both in one run, baselines first, with the ratios.
    Compare(CompareArgs),
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    pub(crate) common: Common,
    #[command(flatten)]
    pub(crate) load: LoadArgs,
}

#[derive(Debug, Args)]
pub(crate) struct BaselineArgs {
    #[command(flatten)]
    pub(crate) common: Common,
    #[command(flatten)]
    pub(crate) chain: ChainArgs,
    /// How the relays move records.
    #[arg(long, value_enum, default_value_t = Mode::Transactional)]
    pub(crate) mode: Mode,
}

#[derive(Debug, Args)]
pub(crate) struct CompareArgs {
    #[command(flatten)]
    pub(crate) common: Common,
    #[command(flatten)]
    pub(crate) load: LoadArgs,
    #[command(flatten)]
    pub(crate) chain: ChainArgs,
    /// Baselines to run before the load, in order.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "plain,transactional"
    )]
    pub(crate) baseline_modes: Vec<Mode>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Mode {
    Plain,
    Transactional,
}

impl From<Mode> for RelayMode {
    fn from(mode: Mode) -> Self {
        match mode {
            Mode::Plain => Self::Plain,
            Mode::Transactional => Self::Transactional,
        }
    }
}

/// What every subcommand takes.
#[derive(Debug, Args)]
pub(crate) struct Common {
    /// Kafka bootstrap servers.
    #[arg(long, env = "SHOP_KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    pub(crate) brokers: String,
    /// Extra librdkafka properties for every client, `key=value,key=value`.
    #[arg(long, env = "SHOP_KAFKA_PROPERTIES", default_value = "")]
    pub(crate) kafka_properties: String,
    /// Checkouts (or baseline records) per second, open loop.
    #[arg(long, default_value_t = 100.0)]
    pub(crate) rate: f64,
    /// The measured part of each run, e.g. `30s`.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30s")]
    pub(crate) duration: Duration,
    /// Run at the same rate before measuring, e.g. `5s`.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5s")]
    pub(crate) warmup: Duration,
    /// The JSON result; the chart goes next to it with `.png`. Default:
    /// `target/shop-load/<run id>.json`.
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
    /// A TrueType font for the chart's text (default: DejaVu Sans or Liberation Sans from the
    /// usual system paths; without one the chart has no text).
    #[arg(long, env = "SHOP_LOAD_FONT")]
    pub(crate) font: Option<PathBuf>,
}

/// The load run's flags.
#[derive(Debug, Args)]
pub(crate) struct LoadArgs {
    /// The ingress's base URL.
    #[arg(
        long,
        env = "SHOP_LOAD_INGRESS_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub(crate) ingress_url: String,
    /// The HS256 secret the ingress checks tokens with.
    #[arg(long, env = "SHOP_JWT_SECRET", hide_env_values = true)]
    pub(crate) jwt_secret: Option<String>,
    /// Read the secret from this file when none is given (`./dev up` keeps it there).
    #[arg(long, default_value = ".local/pipeline/jwt-secret")]
    pub(crate) jwt_secret_file: PathBuf,
    /// Confluent-compatible schema registry, to decode `orders.events`.
    #[arg(
        long,
        env = "SHOP_SCHEMA_REGISTRY_URL",
        default_value = "http://127.0.0.1:8081/apis/ccompat/v7"
    )]
    pub(crate) registry_url: String,
    /// The pipeline's topic prefix.
    #[arg(long, env = "SHOP_TOPIC_PREFIX", default_value = "")]
    pub(crate) topic_prefix: String,
    /// Shoppers; 0: ten seconds' worth at the rate (at least 100).
    #[arg(long, default_value_t = 0)]
    pub(crate) users: usize,
    /// Percent of sessions paying with `tok_decline` (CANCELLED).
    #[arg(long, default_value_t = 10.0)]
    pub(crate) decline_percent: f64,
    /// Percent of sessions buying the scarce product (REJECTED once it is sold out).
    #[arg(long, default_value_t = 10.0)]
    pub(crate) scarce_percent: f64,
    /// Units of the scarce product.
    #[arg(long, default_value_t = 100)]
    pub(crate) scarce_stock: u32,
    /// Products added per checkout (1–5).
    #[arg(long, default_value_t = 1)]
    pub(crate) items: u32,
    /// Plentiful products the sessions spread over.
    #[arg(long, default_value_t = 8)]
    pub(crate) products: usize,
    /// An order not ended this long after its checkout is reported as timed out.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30s")]
    pub(crate) terminal_timeout: Duration,
    /// A request not answered this long after it was sent counts as a timeout.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "15s")]
    pub(crate) request_timeout: Duration,
    /// Sessions in progress at once; more are dropped and counted.
    #[arg(long, default_value_t = 10_000)]
    pub(crate) max_in_flight: usize,
}

/// The baseline chain's flags.
#[derive(Debug, Args)]
pub(crate) struct ChainArgs {
    /// Topics in the chain (a checkout to CONFIRMED writes 7).
    #[arg(long, default_value_t = shop_loadgen::config::CHECKOUT_TOPIC_HOPS)]
    pub(crate) baseline_topics: usize,
    /// Partitions of each chain topic.
    #[arg(long, default_value_t = 6)]
    pub(crate) baseline_partitions: i32,
    /// Records sent at once after the paced phase (0: no burst).
    #[arg(long, default_value_t = 100_000)]
    pub(crate) baseline_burst: u64,
    /// Bytes per record value.
    #[arg(long, default_value_t = 160)]
    pub(crate) baseline_payload: usize,
    /// Transactional relays commit after this many records...
    #[arg(long, default_value_t = 500)]
    pub(crate) baseline_batch_records: usize,
    /// ...or when the first is this old.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10ms")]
    pub(crate) baseline_batch_linger: Duration,
}

impl Common {
    pub(crate) fn kafka(&self) -> anyhow::Result<KafkaSettings> {
        let mut kafka = KafkaSettings::new(&self.brokers, "shop-load");
        kafka.overrides = KafkaSettings::parse_overrides(&self.kafka_properties)
            .context("while reading --kafka-properties")?;
        Ok(kafka)
    }

    /// `--out`, or `target/shop-load/<run id>.json`.
    pub(crate) fn out(&self, run_id: &str) -> PathBuf {
        self.out
            .clone()
            .unwrap_or_else(|| Path::new("target/shop-load").join(format!("{run_id}.json")))
    }
}

impl LoadArgs {
    fn secret(&self) -> anyhow::Result<Vec<u8>> {
        if let Some(secret) = &self.jwt_secret {
            return Ok(secret.as_bytes().to_vec());
        }
        let text = std::fs::read_to_string(&self.jwt_secret_file).with_context(|| {
            format!(
                "while reading the JWT secret from {} (set SHOP_JWT_SECRET, or run ./dev up)",
                self.jwt_secret_file.display()
            )
        })?;
        let secret = text.trim();
        if secret.is_empty() {
            bail!("{} is empty", self.jwt_secret_file.display());
        }
        Ok(secret.as_bytes().to_vec())
    }

    /// The load configuration these flags and `common` describe.
    pub(crate) fn config(
        &self,
        common: &Common,
        watch: Vec<WatchedProcess>,
    ) -> anyhow::Result<LoadConfig> {
        let target = KafkaTarget {
            settings: common.kafka()?,
            registry_url: self.registry_url.clone(),
            topic_prefix: self.topic_prefix.clone(),
        };
        let mut config = LoadConfig::new(&self.ingress_url, self.secret()?, target);
        config.run_id = default_run_id(&format!("load{:.0}", common.rate));
        config.rate = common.rate;
        config.duration = common.duration;
        config.warmup = common.warmup;
        config.users = self.users;
        config.mix = Mix {
            decline_percent: self.decline_percent,
            scarce_percent: self.scarce_percent,
        };
        config.items_per_checkout = self.items;
        config.plentiful_products = self.products;
        config.scarce_stock = self.scarce_stock;
        config.terminal_timeout = self.terminal_timeout;
        config.request_timeout = self.request_timeout;
        config.max_in_flight = self.max_in_flight;
        config.watch = watch;
        config.validate().context("while checking the load flags")?;
        Ok(config)
    }
}

impl ChainArgs {
    /// The baseline configuration for `mode` these flags and `common` describe.
    pub(crate) fn config(
        &self,
        common: &Common,
        mode: RelayMode,
        watch: Vec<WatchedProcess>,
    ) -> anyhow::Result<BaselineConfig> {
        let mut config = BaselineConfig::new(common.kafka()?, mode, common.rate);
        config.run_id = default_run_id(&format!("baseline-{}", mode.as_str()));
        config.duration = common.duration;
        config.warmup = common.warmup;
        config.topics = self.baseline_topics;
        config.partitions = self.baseline_partitions;
        config.burst_records = self.baseline_burst;
        config.payload_bytes = self.baseline_payload;
        config.batch_max_records = self.baseline_batch_records;
        config.batch_linger = self.baseline_batch_linger;
        config.watch = watch;
        config
            .validate()
            .context("while checking the baseline flags")?;
        Ok(config)
    }
}
