//! `ingress-bench`: accepted commands per second and their latency (p50/p99) at the HTTP
//! ingress under keep-alive load from another process, next to a raw producer's rate to the
//! same broker, in one run.
//!
//! It exists to check the goal "≥ 30,000 commands/s with p99 < 10 ms" with figures measured on
//! one machine and moment, and to show what bounds them: the raw producer's figures say what
//! the broker and client give without HTTP, and the cores each process used say who is short of
//! CPU. It is a tool, not a test: it prints a table and writes it, with the facts of the
//! machine, to a Markdown file (`--out`). `docs/performance.md` records what it measured.
//!
//! One run:
//! 1. creates every declared topic under a fresh prefix and registers their subjects, and a
//!    database of its own with the read model's tables (see [`setup`]);
//! 2. starts the real `shop-ingress` binary as a separate process on a free port, on those
//!    topics and that database, rate limit off, and waits for `/ready` (see [`ingress`]);
//! 3. per `--connections` count: opens that many keep-alive connections and sends
//!    `POST /api/v1/cart/items` for `--warmup` plus `--duration`, closed loop or at `--rate`
//!    (see [`load`]); counts the 202s and their latency in the measured part, and the cores
//!    used by the ingress, this process and the broker (see [`cpu`]);
//! 4. stops the ingress with SIGTERM and checks that the cart command topic holds one record
//!    per 202;
//! 5. **raw**: a producer with the ingress's settings sends as many comparable records as the
//!    best step accepted, as fast as it can, and then, per step, runs a closed loop with as
//!    many records in flight as the step had connections (see [`raw`]);
//! 6. drops the database and deletes the topics whatever happened (unless `--keep`).

mod args;
mod client;
mod cpu;
mod ingress;
mod load;
mod raw;
mod report;
mod setup;
mod tally;
mod workload;

use anyhow::{Context, ensure};
use args::Args;
use clap::Parser;
use cpu::Watched;
use ingress::{Ingress, Launch};
use load::Pace;
use raw::RawProducer;
use report::{Facts, Measured, RawStep, Report, Step};
use shop_platform::database::DatabaseSettings;
use shop_platform::kafka::KafkaSettings;
use shop_platform::telemetry;
use shop_schemas::RegistryConfig;
use shop_topics::TopicNames;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tally::Window;
use workload::Workload;

/// The name in client ids and logs.
const NAME: &str = "ingress-bench";

/// The raw burst sends at least this many records, so that it is not all start-up when the
/// HTTP steps accepted few.
const MIN_BURST: usize = 10_000;

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    // Held until main returns: dropping it flushes the spans not yet exported.
    let _telemetry = match telemetry::init_from_env("warn,ingress_bench=info") {
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
    ensure!(
        !args.connections.is_empty() && args.connections.iter().all(|&n| n > 0),
        "--connections needs counts of at least 1"
    );
    ensure!(args.partitions > 0, "--partitions must be at least 1");
    ensure!(!args.duration.is_zero(), "--duration must be more than 0");

    let started = SystemTime::now();
    let load_before = shop_platform::procfs::load_average();
    let kafka = KafkaSettings {
        overrides: KafkaSettings::parse_overrides(&args.kafka_properties)
            .context("while reading --kafka-properties")?,
        ..KafkaSettings::new(args.brokers.clone(), NAME)
    };
    let registry = RegistryConfig {
        url: args.registry_url.clone(),
        timeout: Duration::from_secs(10),
    };
    let run_id = setup::run_id()?;
    let prefix = format!("{run_id}.");
    tracing::info!(%prefix, "creating topics and subjects");
    let topics = setup::create_topics(&kafka, &registry, &prefix, args.partitions, args.timeout)
        .await
        .with_context(|| format!("while setting up the topics under {prefix}"))?;
    let names = TopicNames::with_prefix(&prefix);
    let server = DatabaseSettings::new(&args.database_url);

    // Measured inside one block so that the database and topics go whatever happened.
    let outcome = async {
        tracing::info!(database = %run_id, "creating the database");
        let database = setup::create_database(&server, &run_id).await?;
        let served = vec![
            names.command_outcomes.clone(),
            names.cart_commands.clone(),
            names.catalog_commands.clone(),
        ];
        setup::wait_for_leaders(&kafka, served, args.partitions, args.timeout).await?;
        let bench = Bench {
            args: &args,
            kafka: &kafka,
            registry: &registry,
            prefix: &prefix,
            database: &database,
        };
        bench.measure().await
    }
    .await;

    if args.keep {
        tracing::info!(%prefix, database = %run_id, "keeping the run's topics and database");
    } else {
        if let Err(error) = setup::drop_database(&server, &run_id).await {
            tracing::warn!("{error:#}");
        }
        if let Err(error) = setup::delete_topics(&kafka, &topics, args.timeout).await {
            // The figures are still good; the operator can delete the prefix by hand.
            tracing::warn!(%prefix, "{error:#}");
        }
    }

    let facts = Facts {
        measured: outcome?,
        started,
        load_before,
        load_after: shop_platform::procfs::load_average(),
        run_id,
        cpu_model: shop_platform::procfs::cpu_model(),
    };
    let report = Report {
        args: &args,
        facts: &facts,
    };
    println!("{}", report.text_table());
    if let Some(parent) = args.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("while creating the folder of {}", args.out.display()))?;
    }
    std::fs::write(&args.out, report.markdown())
        .with_context(|| format!("while writing the results to {}", args.out.display()))?;
    println!("results written to {}", args.out.display());
    Ok(())
}

/// What the measuring part of a run works with.
#[derive(Debug)]
struct Bench<'a> {
    args: &'a Args,
    kafka: &'a KafkaSettings,
    registry: &'a RegistryConfig,
    prefix: &'a str,
    database: &'a DatabaseSettings,
}

impl Bench<'_> {
    /// Steps 2 to 5 of the run.
    async fn measure(&self) -> anyhow::Result<Measured> {
        let args = self.args;
        let secret = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let addr = ingress::free_addr()?;
        let binary = match &args.ingress_bin {
            Some(path) => path.clone(),
            None => ingress::default_binary()?,
        };
        let mut env: Vec<(String, String)> = [
            ("SHOP_HTTP_ADDR", addr.to_string()),
            ("SHOP_KAFKA_BROKERS", args.brokers.clone()),
            ("SHOP_KAFKA_PROPERTIES", args.kafka_properties.clone()),
            ("SHOP_SCHEMA_REGISTRY_URL", args.registry_url.clone()),
            ("SHOP_TOPIC_PREFIX", self.prefix.to_owned()),
            ("SHOP_DATABASE_URL", self.database.url.clone()),
            ("SHOP_JWT_SECRET", secret.clone()),
            // Off: the bench's users send far more than a person would.
            ("SHOP_RATE_LIMIT_PER_SECOND", "0".to_owned()),
            ("SHOP_LOG", "warn".to_owned()),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .collect();
        env.extend(args.ingress_env.iter().cloned());

        tracing::info!(%addr, binary = %binary.display(), "starting the ingress");
        let mut ingress = Ingress::spawn(&Launch {
            binary: &binary,
            addr,
            env,
            log: &args.ingress_log,
        })?;
        ingress.wait_ready(args.timeout).await?;
        let workload = Arc::new(Workload::new(addr, &secret, args.users, args.products)?);
        let watched = Watched {
            bench: std::process::id(),
            ingress: ingress.pid(),
            broker: cpu::find_broker(),
        };
        let pace = args
            .rate
            .map_or(Pace::Closed, |per_second| Pace::Open { per_second });

        let mut steps = Vec::with_capacity(args.connections.len());
        for &connections in &args.connections {
            tracing::info!(connections, pace = %pace.label(), "loading the ingress");
            let window = Window::starting_now(args.warmup, args.duration);
            let (http, cpu) = tokio::join!(
                load::run(addr, Arc::clone(&workload), connections, pace, window),
                cpu::over(watched, window.measure_from, window.measure_until),
            );
            let http = http?;
            tracing::info!(
                connections,
                commands = http.ok,
                per_second = format!("{:.0}", tally::per_second(http.ok, window.measured())),
                p99_ms = http.spread().p99,
                errors = http.errors(),
                "measured"
            );
            steps.push(Step {
                connections,
                pace,
                measured: window.measured(),
                http,
                cpu,
                raw: None,
            });
        }
        let accepted_total = steps.iter().map(|step| step.http.ok_total).sum();
        let exit = ingress.stop(args.timeout).await?;

        let topic = TopicNames::with_prefix(self.prefix).cart_commands;
        let producer = RawProducer::connect(self.kafka, &topic, args.timeout).await?;
        let topic_records = producer
            .records_on_topic(args.partitions, args.timeout)
            .await?;
        let burst_records = steps
            .iter()
            .map(|step| usize::try_from(step.http.ok).unwrap_or(usize::MAX))
            .max()
            .unwrap_or(0)
            .max(MIN_BURST);
        tracing::info!(records = burst_records, "encoding the raw records");
        let records = raw::encode(
            self.registry,
            &topic,
            burst_records,
            args.users,
            args.products,
        )
        .await?;
        let record_bytes =
            records.iter().map(raw::Encoded::size).sum::<usize>() as f64 / records.len() as f64;
        tracing::info!(records = records.len(), "raw burst");
        let burst = producer.burst(&records, args.timeout).await?;
        if !args.no_raw_loop {
            let records = Arc::new(records);
            for step in &mut steps {
                tracing::info!(in_flight = step.connections, "raw closed loop");
                let window = Window::starting_now(args.warmup, args.duration);
                let (tally, cpu) = tokio::join!(
                    producer.closed_loop(Arc::clone(&records), step.connections, window),
                    cpu::over(watched, window.measure_from, window.measure_until),
                );
                step.raw = Some(RawStep {
                    measured: window.measured(),
                    tally: tally?,
                    cpu,
                });
            }
        }
        Ok(Measured {
            broker_watched: watched.broker.is_some(),
            body_bytes: workload.body_bytes(),
            record_bytes,
            steps,
            burst,
            accepted_total,
            topic_records,
            ingress_exit: exit.to_string(),
        })
    }
}
