//! What a run is asked to do and works on: the command line, the batch settings and variants
//! it measures, and the plan naming every topic and group under one fresh prefix.

use anyhow::Context;
use clap::Parser;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug, Parser)]
#[command(
    version,
    about = "Measures records/s of the exactly-once runtime against raw rdkafka on one broker"
)]
pub(crate) struct Args {
    #[arg(long, env = "SHOP_KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    pub(crate) brokers: String,
    #[arg(
        long,
        env = "SHOP_SCHEMA_REGISTRY_URL",
        default_value = "http://127.0.0.1:8081/apis/ccompat/v7"
    )]
    pub(crate) registry_url: String,
    /// Extra librdkafka properties for every client of the run, `key=value,key=value`: to
    /// try a client setting (e.g. `linger.ms=1`) against the same baseline.
    #[arg(long, env = "SHOP_KAFKA_PROPERTIES", default_value = "")]
    pub(crate) kafka_properties: String,
    /// Records preloaded into the input topic; every variant moves all of them.
    #[arg(long, default_value_t = 100_000)]
    pub(crate) records: usize,
    /// Partitions of the input and output topics.
    #[arg(long, default_value_t = 6)]
    pub(crate) partitions: i32,
    /// Distinct product ids the records are keyed by.
    #[arg(long, default_value_t = 1000)]
    pub(crate) products: usize,
    /// EOS batch settings to measure, `MAX_RECORDS:LINGER_MS`, comma separated.
    #[arg(long = "batch", value_delimiter = ',', default_value = "100:5,1000:50")]
    pub(crate) batches: Vec<BatchSetting>,
    /// How often every variant runs (interleaved); the table shows each variant's median.
    #[arg(long, default_value_t = 1)]
    pub(crate) rounds: usize,
    /// Markdown file the results and machine facts are written to.
    #[arg(long, default_value = "target/runtime-bench.md")]
    pub(crate) results: PathBuf,
    /// Bound on every phase (preload, one variant, one verification); past it the run fails.
    #[arg(long, default_value_t = 300)]
    pub(crate) timeout_secs: u64,
    /// What the cluster is, for the results file (the binary cannot ask the broker its version).
    #[arg(
        long,
        default_value = "Kafka 4.1.1 (KRaft), single node, local stack on 127.0.0.1"
    )]
    pub(crate) cluster: String,
    /// Leave the benchmark's topics on the broker (to inspect them); deleted by default.
    #[arg(long)]
    pub(crate) keep_topics: bool,
}

/// One EOS batch setting: a transaction commits after this many records or this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchSetting {
    pub(crate) max_records: usize,
    pub(crate) linger: Duration,
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
pub(crate) enum Variant {
    Raw,
    /// Raw plus decoding and re-encoding key and value with the codec, as the runtime does for
    /// every record: EOS against this shows what exactly-once itself costs, apart from Avro.
    RawAvro,
    Eos(BatchSetting),
}

impl Variant {
    pub(crate) fn label(self) -> String {
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

/// Everything one run works on, named under one fresh prefix so runs never meet.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) prefix: String,
    pub(crate) input: String,
    /// The runtime's dead-letter topic for the input: created so a poison record would land
    /// somewhere countable instead of failing the transaction, and checked to stay empty.
    pub(crate) dead_letters: String,
    /// `(variant, round, output topic)` in the order they run.
    pub(crate) runs: Vec<(Variant, usize, String)>,
}

impl Plan {
    pub(crate) fn new(args: &Args) -> anyhow::Result<Self> {
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
    pub(crate) fn topics(&self, partitions: i32) -> Vec<(String, i32)> {
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

    pub(crate) fn group(&self, variant: Variant, round: usize) -> String {
        format!("{}.{}.r{round}", self.prefix, variant.slug())
    }
}
