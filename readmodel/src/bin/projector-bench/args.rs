//! What a run is asked to do: the command line and the projector batch settings it compares.

use clap::Parser;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    version,
    about = "Measures the read-model projector: records/s next to raw consumers, and the delay \
             from a record's commit on the broker to its visibility in SQL"
)]
pub(crate) struct Args {
    #[arg(long, env = "SHOP_KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    pub(crate) brokers: String,
    /// Extra librdkafka properties for every client of the run, `key=value,key=value`.
    #[arg(long, env = "SHOP_KAFKA_PROPERTIES", default_value = "")]
    pub(crate) kafka_properties: String,
    #[arg(
        long,
        env = "SHOP_SCHEMA_REGISTRY_URL",
        default_value = "http://127.0.0.1:8081/apis/ccompat/v7"
    )]
    pub(crate) registry_url: String,
    /// A database on the server the bench creates its own databases on (and drops them again).
    #[arg(
        long,
        env = "SHOP_DATABASE_URL",
        default_value = "postgres://shop:shop@127.0.0.1:5433/shop"
    )]
    pub(crate) database_url: String,
    /// Records pre-produced onto the five input topics for the throughput runs.
    #[arg(long, default_value_t = 60_000)]
    pub(crate) records: usize,
    /// Partitions of every topic.
    #[arg(long, default_value_t = 6)]
    pub(crate) partitions: i32,
    /// Distinct product ids (keys of catalog.products and inventory.stock).
    #[arg(long, default_value_t = 5_000)]
    pub(crate) products: usize,
    /// Distinct user ids (keys of cart.carts).
    #[arg(long, default_value_t = 20_000)]
    pub(crate) users: usize,
    /// Projector batch settings to measure, `MAX_RECORDS:LINGER_MS`, comma separated; the
    /// first is the projector's default.
    #[arg(long = "batch", value_delimiter = ',', default_value = "1000:20,100:5")]
    pub(crate) batches: Vec<BatchSetting>,
    /// Records per second produced, open loop, while the delay is measured.
    #[arg(long, default_value_t = 2_000)]
    pub(crate) rate: u32,
    /// How long the delay phase produces, per batch setting.
    #[arg(long, default_value_t = 10)]
    pub(crate) duration_secs: u64,
    /// How often the delay phase reads `projector_offsets`: the resolution of the delay.
    #[arg(long, default_value_t = 1)]
    pub(crate) poll_every_ms: u64,
    /// Connections of the projector's pool (the `shop-projector` default).
    #[arg(long, default_value_t = 4)]
    pub(crate) database_max_connections: u32,
    /// Markdown file the results and machine facts are written to.
    #[arg(long, default_value = "target/projector-bench.md")]
    pub(crate) out: PathBuf,
    /// Bound on every phase (preload, one run, one catch-up); past it the run fails.
    #[arg(long, default_value_t = 300)]
    pub(crate) timeout_secs: u64,
}

impl Args {
    pub(crate) fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }

    /// Records the delay phase produces per batch setting.
    pub(crate) fn delay_records(&self) -> usize {
        usize::try_from(u64::from(self.rate) * self.duration_secs).unwrap_or(usize::MAX)
    }
}

/// One projector batch setting: a batch is written after this many records or when its first
/// record is this old.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchSetting {
    pub(crate) max_records: usize,
    pub(crate) linger: Duration,
}

impl BatchSetting {
    pub(crate) fn label(self) -> String {
        format!("{} rec / {} ms", self.max_records, self.linger.as_millis())
    }

    /// A name fit for group ids and database names (letters, digits, underscores).
    pub(crate) fn slug(self) -> String {
        format!("b{}_{}ms", self.max_records, self.linger.as_millis())
    }
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
