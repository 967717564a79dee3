//! What a load run ([`LoadConfig`]) and a baseline run ([`BaselineConfig`]) are told. Plain
//! values with defaults; reading flags and the environment is the binary's job, so an
//! orchestrator can build these directly.

use crate::cpu::WatchedProcess;
use crate::schedule::{Mix, ScheduleError};
use serde::{Deserialize, Serialize};
use shop_platform::kafka::KafkaSettings;
use std::time::Duration;

/// Why a configuration cannot run.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    #[error("{0}")]
    Invalid(String),
}

/// An HS256 secret; its `Debug` never shows it.
#[derive(Clone)]
pub struct Secret(pub Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({} bytes)", self.0.len())
    }
}

/// Where the pipeline's Kafka side is: the broker, the registry (to decode `orders.events` and
/// `commands.outcomes`) and the topic prefix the pipeline runs under.
#[derive(Debug, Clone)]
pub struct KafkaTarget {
    pub settings: KafkaSettings,
    /// Confluent-compatible schema registry API (`SHOP_SCHEMA_REGISTRY_URL`).
    pub registry_url: String,
    /// `SHOP_TOPIC_PREFIX` of the pipeline under load; empty for `./dev up`'s.
    pub topic_prefix: String,
}

/// A load run against a running pipeline: the shoppers, their rate and mix, and the bounds.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// The ingress's base URL, e.g. `http://127.0.0.1:8080`.
    pub ingress_url: String,
    /// The secret the ingress checks HS256 tokens with (`SHOP_JWT_SECRET`).
    pub jwt_secret: Secret,
    pub kafka: KafkaTarget,
    /// Names this run's products, users and idempotency keys, so runs never share state.
    pub run_id: String,
    /// Checkouts (sessions) started per second, open loop.
    pub rate: f64,
    /// The measured part of the run.
    pub duration: Duration,
    /// Sessions run at the same rate before the measured part; not in the figures.
    pub warmup: Duration,
    /// Distinct shoppers; sessions go to them in turn. A shopper's sessions never overlap (a
    /// later one waits, and the wait counts in its latency), so this many at `rate` gives each
    /// shopper a session every `users / rate` seconds, which must stay under the ingress's
    /// per-user rate limit (`SHOP_RATE_LIMIT_PER_SECOND`, 20 requests/s by default).
    pub users: usize,
    pub mix: Mix,
    /// Products each session adds before checking out (1 line each; the first is the scarce
    /// product in a scarce session).
    pub items_per_checkout: u32,
    /// Plentiful products, stocked for the whole run; sessions spread over them.
    pub plentiful_products: usize,
    /// Units of the scarce product: the first scarce sessions are CONFIRMED, the rest
    /// REJECTED out of stock.
    pub scarce_stock: u32,
    /// How long a request may take before it counts as a timeout; above the ingress's own 10 s
    /// delivery timeout, so its 503 comes first.
    pub request_timeout: Duration,
    /// How long after its checkout an order may take to reach CONFIRMED, REJECTED or
    /// CANCELLED before it is reported as timed out.
    pub terminal_timeout: Duration,
    /// Sessions in progress at once; a session due while this many run is dropped and counted
    /// (the client itself could not keep up), never queued.
    pub max_in_flight: usize,
    /// Processes whose CPU use is reported for the measured window.
    pub watch: Vec<WatchedProcess>,
}

impl LoadConfig {
    /// A 30 s run at 100 checkouts/s with 5 s of warm-up and the default mix.
    pub fn new(ingress_url: impl Into<String>, jwt_secret: Vec<u8>, kafka: KafkaTarget) -> Self {
        Self {
            ingress_url: ingress_url.into(),
            jwt_secret: Secret(jwt_secret),
            kafka,
            run_id: default_run_id("load"),
            rate: 100.0,
            duration: Duration::from_secs(30),
            warmup: Duration::from_secs(5),
            users: 0,
            mix: Mix::default(),
            items_per_checkout: 1,
            plentiful_products: 8,
            scarce_stock: 100,
            request_timeout: Duration::from_secs(15),
            terminal_timeout: Duration::from_secs(30),
            max_in_flight: 10_000,
            watch: Vec::new(),
        }
    }

    /// `users`, or when it is 0 enough users for each to have a session every 10 s at most.
    pub fn effective_users(&self) -> usize {
        if self.users > 0 {
            self.users
        } else {
            ((self.rate * 10.0).ceil() as usize).max(100)
        }
    }

    /// Checks what can be checked before touching anything.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first bad value.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.mix.validate()?;
        let invalid = |text: &str| Err(ConfigError::Invalid(text.to_owned()));
        if self.jwt_secret.0.is_empty() {
            return invalid("the JWT secret is empty: set SHOP_JWT_SECRET or --jwt-secret-file");
        }
        if !(1..=5).contains(&self.items_per_checkout) {
            return invalid("items per checkout must be 1 to 5");
        }
        if !(1..=1_000).contains(&self.plentiful_products) {
            return invalid("plentiful products must be 1 to 1000");
        }
        if self.scarce_stock > 1_000_000 {
            return invalid("the scarce stock must be at most 1,000,000 (the ingress's bound)");
        }
        if self.max_in_flight == 0 {
            return invalid("max in flight must be at least 1");
        }
        if self.duration.is_zero() {
            return invalid("the duration must be positive");
        }
        Ok(())
    }
}

/// How each relay of the baseline chain moves records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RelayMode {
    /// Consume, produce with the project's producer settings; no transactions, no commits:
    /// the cheapest way to move a record through a topic.
    Plain,
    /// Read-process-write in one transaction per batch, offsets sent to the transaction and
    /// `read_committed` downstream, as the processors' exactly-once runtime does.
    Transactional,
}

impl RelayMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plain => "plain",
            Self::Transactional => "transactional",
        }
    }
}

/// A raw-Kafka run through a chain of topics on the same broker.
#[derive(Debug, Clone)]
pub struct BaselineConfig {
    pub kafka: KafkaSettings,
    pub mode: RelayMode,
    /// Topics in the chain; `topics - 1` relays between them. A checkout to CONFIRMED writes 7
    /// (see [`CHECKOUT_TOPIC_HOPS`]).
    pub topics: usize,
    /// Partitions of each topic; 6 like the pipeline's (`SHOP_TOPIC_PARTITIONS`).
    pub partitions: i32,
    /// Bytes of each record's value.
    pub payload_bytes: usize,
    /// Distinct record keys, spread over the partitions.
    pub keys: usize,
    /// Records per second into the first topic, open loop.
    pub rate: f64,
    pub duration: Duration,
    pub warmup: Duration,
    /// Records sent as fast as possible after the paced phase, to measure the chain's most
    /// records/s; 0 skips that phase.
    pub burst_records: u64,
    /// Transactional relays commit after this many records...
    pub batch_max_records: usize,
    /// ...or when their first record is this old (the processors' `SHOP_BATCH_*` defaults).
    pub batch_linger: Duration,
    /// Names the topics, groups and transactional ids.
    pub run_id: String,
    /// Bound on each wait: topic creation, a phase's last records arriving.
    pub timeout: Duration,
    pub watch: Vec<WatchedProcess>,
}

/// The topics a checkout that ends CONFIRMED is written to, in order: `cart.commands` (by the
/// ingress), `checkout.requested` (cart), `inventory.commands` (orders: reserve),
/// `inventory.events` (inventory), `payment.commands` (orders), `payment.events` (payment),
/// `orders.events` (orders: CONFIRMED). Six processor steps between seven topics.
pub const CHECKOUT_TOPIC_HOPS: usize = 7;

impl BaselineConfig {
    /// A chain as long as a checkout's, at `rate` records/s for 30 s after 5 s of warm-up,
    /// then a burst of 100,000 records.
    pub fn new(kafka: KafkaSettings, mode: RelayMode, rate: f64) -> Self {
        Self {
            kafka,
            mode,
            topics: CHECKOUT_TOPIC_HOPS,
            partitions: 6,
            payload_bytes: 160,
            keys: 10_000,
            rate,
            duration: Duration::from_secs(30),
            warmup: Duration::from_secs(5),
            burst_records: 100_000,
            batch_max_records: 500,
            batch_linger: Duration::from_millis(10),
            run_id: default_run_id("baseline"),
            timeout: Duration::from_secs(60),
            watch: Vec::new(),
        }
    }

    /// # Errors
    /// [`ConfigError`] naming the first bad value.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |text: &str| Err(ConfigError::Invalid(text.to_owned()));
        if !(2..=20).contains(&self.topics) {
            return invalid("the baseline chain needs 2 to 20 topics");
        }
        if !(1..=1_000).contains(&self.partitions) {
            return invalid("baseline partitions must be 1 to 1000");
        }
        if self.payload_bytes < crate::baseline::HEADER_BYTES {
            return invalid("the baseline payload must hold at least its 9-byte header");
        }
        if self.keys == 0 || self.batch_max_records == 0 {
            return invalid("baseline keys and batch size must be at least 1");
        }
        if self.duration.is_zero() {
            return invalid("the duration must be positive");
        }
        Ok(())
    }
}

/// `<what>-<unix ms>-<pid>`: unique per run on this machine, and sorts by time.
pub fn default_run_id(what: &str) -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis())
        .unwrap_or_default();
    format!("{what}-{millis}-{}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> KafkaTarget {
        KafkaTarget {
            settings: KafkaSettings::new("127.0.0.1:9092", "test"),
            registry_url: "http://127.0.0.1:8081".to_owned(),
            topic_prefix: String::new(),
        }
    }

    #[test]
    fn the_secret_is_never_printed() {
        let config = LoadConfig::new("http://x", b"hunter2".to_vec(), target());
        let printed = format!("{config:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("Secret(7 bytes)"));
    }

    #[test]
    fn users_scale_with_the_rate_unless_given() {
        let mut config = LoadConfig::new("http://x", b"s".to_vec(), target());
        config.rate = 2_000.0;
        assert_eq!(config.effective_users(), 20_000);
        config.rate = 1.0;
        assert_eq!(config.effective_users(), 100);
        config.users = 7;
        assert_eq!(config.effective_users(), 7);
    }

    #[test]
    fn defaults_validate_and_bad_values_do_not() {
        let config = LoadConfig::new("http://x", b"s".to_vec(), target());
        config.validate().unwrap();
        let mut empty = config.clone();
        empty.jwt_secret = Secret(Vec::new());
        assert!(empty.validate().is_err());
        let mut items = config;
        items.items_per_checkout = 0;
        assert!(items.validate().is_err());
        let baseline = BaselineConfig::new(
            KafkaSettings::new("b", "c"),
            RelayMode::Transactional,
            100.0,
        );
        baseline.validate().unwrap();
        assert_eq!(baseline.topics, 7);
    }

    #[test]
    fn run_ids_name_what_ran() {
        assert!(default_run_id("load").starts_with("load-"));
    }
}
