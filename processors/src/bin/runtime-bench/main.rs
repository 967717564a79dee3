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
//!
//! [`wait_for_commits`]: probe::wait_for_commits

mod eos;
mod plan;
mod probe;
mod raw;
mod report;
mod setup;

use anyhow::{Context, anyhow, ensure};
use clap::Parser;
use eos::run_eos;
use plan::{Args, Plan, Variant};
use raw::{CopyJob, run_raw};
use rdkafka::admin::AdminClient;
use report::{Report, Sample, load_average};
use setup::{create_topics, delete_topics, encode_input, preload, register_output_subjects};
use shop_platform::kafka::{KafkaSettings, TracingContext};
use shop_platform::telemetry;
use shop_schemas::{AvroCodec, Registration, RegistryConfig};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// The name in client ids, processor headers and thread names.
const NAME: &str = "runtime-bench";

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    // Held until main returns: dropping it flushes the spans not yet exported.
    let _telemetry = match telemetry::init_from_env("warn,runtime_bench=info") {
        Ok(guard) => guard,
        Err(error) => {
            eprintln!("{NAME}: cannot set up logging: {error}");
            return ExitCode::FAILURE;
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            ExitCode::FAILURE
        }
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

fn ends_total(ends: &[(i32, i64)]) -> usize {
    ends.iter()
        .map(|(_, end)| usize::try_from(*end).unwrap_or(0))
        .sum()
}

fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}
