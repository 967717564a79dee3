//! `projector-bench`: how many records per second the read-model projector makes visible in SQL,
//! next to plain consumers reading the same records, and how long a record takes from its
//! commit on the broker to its rows being visible, in one run against one broker and database.
//!
//! It exists to answer "projected rows/s, and end-to-end delay from the Kafka commit to
//! visibility in SQL (p50/p99)" with figures measured on the same machine and moment, so the
//! ratios hold even on noisy machines where the absolutes do not. It is a tool, not a test: it
//! prints a table and writes it, with the facts of the machine, to a Markdown file (`--out`).
//! `docs/performance.md` records what it measured.
//!
//! One run:
//! 1. creates every declared topic under a fresh prefix and registers their subjects, then
//!    produces `--records` records of a shop's traffic (see [`mix`]) onto the projector's five
//!    input topics; every record is acknowledged before any clock starts;
//! 2. **raw consumer** and **raw + decode** read them all (see [`raw`]);
//! 3. per `--batch` setting, a projector on a database of its own projects them all (see
//!    [`throughput`]); its tables are then checked against the rows the input must make;
//! 4. per `--batch` setting, the projector is started again on its database, catches up, and
//!    `--rate` records/s are produced for `--duration-secs` while the delay of each is taken
//!    (see [`delay`]);
//! 5. drops its databases whatever happened. Topics and subjects stay (they are prefixed).

mod args;
mod cpu;
mod delay;
mod figures;
mod instance;
mod mix;
mod positions;
mod probe;
mod produce;
mod raw;
mod report;
mod setup;
mod throughput;
mod wire;

use anyhow::{Context, ensure};
use args::{Args, BatchSetting};
use clap::Parser;
use mix::{Input, Mix};
use positions::Positions;
use probe::Probe;
use raw::Baseline;
use report::{Facts, Report, load_average};
use shop_platform::database::{self, DatabaseSettings};
use shop_platform::kafka::KafkaSettings;
use shop_platform::telemetry;
use shop_schemas::{AvroCodec, Registration, RegistryConfig};
use shop_topics::TopicNames;
use sqlx::PgPool;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The name in client ids and logs.
const NAME: &str = "projector-bench";

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(error) = telemetry::init_from_env("warn,projector_bench=info") {
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

async fn run(args: Args) -> anyhow::Result<()> {
    ensure!(args.records > 0, "--records must be at least 1");
    ensure!(args.partitions > 0, "--partitions must be at least 1");
    ensure!(args.products >= 2, "--products must be at least 2");
    ensure!(args.users > 0, "--users must be at least 1");
    ensure!(args.rate > 0, "--rate must be at least 1");
    ensure!(args.duration_secs > 0, "--duration-secs must be at least 1");
    ensure!(args.poll_every_ms > 0, "--poll-every-ms must be at least 1");
    ensure!(
        !args.batches.is_empty(),
        "--batch needs at least one setting"
    );

    let started = SystemTime::now();
    let load_before = load_average();
    let probe = Probe::install()?;
    let mut kafka = KafkaSettings::new(args.brokers.clone(), NAME);
    kafka.overrides = KafkaSettings::parse_overrides(&args.kafka_properties)
        .context("while reading --kafka-properties")?;
    let registry = RegistryConfig {
        url: args.registry_url.clone(),
        timeout: Duration::from_secs(10),
    };
    let run_id = run_id()?;
    let env = Env {
        args: &args,
        kafka,
        registry,
        server: DatabaseSettings::new(&args.database_url),
        prefix: format!("pbench_{run_id}."),
        run_id,
        probe,
    };
    let admin = database::connect(&env.server)
        .await
        .context("while connecting to the database server")?;

    // Measured inside one block so that the databases are dropped whatever happened.
    let mut databases = Vec::new();
    let outcome = measure(&env, &admin, &mut databases).await;
    for name in &databases {
        if let Err(error) = setup::drop_database(&admin, name).await {
            tracing::warn!("{error:#}; drop it by hand");
        }
    }
    admin.close().await;
    let facts = outcome?;

    let report = Report {
        args: &args,
        facts: &facts,
        started,
        load_before,
        load_after: load_average(),
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

/// Time and pid: unique enough for runs against one broker, and fit for topic, group and
/// database names.
fn run_id() -> anyhow::Result<String> {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("while naming the run: the clock is before 1970")?
        .as_millis();
    Ok(format!("{millis}_{}", std::process::id()))
}

/// What every phase of a run shares.
#[derive(Debug)]
struct Env<'a> {
    args: &'a Args,
    kafka: KafkaSettings,
    registry: RegistryConfig,
    /// The server the bench's databases are made on.
    server: DatabaseSettings,
    prefix: String,
    run_id: String,
    probe: Probe,
}

impl Env<'_> {
    fn group(&self, slug: &str) -> String {
        format!("{}{slug}", self.prefix)
    }
}

/// Everything from topics to delay; the names of the databases it made go to `databases`.
async fn measure(
    env: &Env<'_>,
    admin: &PgPool,
    databases: &mut Vec<String>,
) -> anyhow::Result<Facts> {
    let mut input = prepare(env).await?;
    let mut throughput = Vec::new();
    for baseline in [Baseline::Raw, Baseline::RawDecode] {
        let group = env.group(baseline.slug());
        let run = raw::run(
            &env.kafka,
            &env.registry,
            &input.topics,
            &group,
            &input.ends,
            baseline,
            env.args.timeout(),
        )
        .await?;
        log_throughput(&run);
        throughput.push(run);
    }
    let mut projectors = Vec::new();
    for (index, batch) in env.args.batches.iter().enumerate() {
        let projector = Projector::new(env, admin, index, *batch, databases).await?;
        throughput.push(project_input(env, &input, &projector).await?);
        projectors.push(projector);
    }
    let mut delays = Vec::new();
    for projector in &projectors {
        delays.push(measure_delay(env, &mut input, projector).await?);
    }
    for projector in projectors {
        projector.pool.close().await;
        projector.watch.close().await;
    }
    Ok(Facts {
        prefix: env.prefix.clone(),
        input_bytes: input.bytes,
        per_input: input.per_input,
        expected_rows: input.expected_rows,
        server: setup::server_facts(admin).await?,
        throughput,
        delays,
    })
}

/// The run's topics with the preloaded records on them, and what the delay phase draws from.
#[derive(Debug)]
struct Prepared {
    topics: TopicNames,
    inputs: Vec<String>,
    /// The end offsets after the preload: what every throughput run must reach.
    ends: Positions,
    bytes: usize,
    per_input: Vec<(Input, usize)>,
    expected_rows: Vec<(&'static str, i64)>,
    /// Continues after the preloaded records, for the delay phase.
    mix: Mix,
    /// Looks the (registered) subjects up, like a deployed processor's codec.
    codec: AvroCodec,
}

/// Creates the topics and preloads `--records` records; nothing is timed.
async fn prepare(env: &Env<'_>) -> anyhow::Result<Prepared> {
    let (args, timeout) = (env.args, env.args.timeout());
    tracing::info!(prefix = %env.prefix, "creating topics");
    let topics = setup::create_topics(
        &env.kafka,
        &env.registry,
        &env.prefix,
        args.partitions,
        timeout,
    )
    .await?;
    let inputs: Vec<String> = Input::ALL
        .iter()
        .map(|input| input.topic(&topics).to_owned())
        .collect();
    let codec = AvroCodec::new(&env.registry, Registration::LookupOnly)
        .context("while creating the codec for the input")?;
    let mut mix = Mix::new(args.products, args.users);
    let records = mix.take(args.records);
    let encoded = wire::encode(&codec, &topics, &records).await?;
    tracing::info!(records = records.len(), "preloading");
    produce::preload(&env.kafka, &encoded, timeout).await?;
    let ends = positions::end_offsets(&env.kafka, &inputs, args.partitions, timeout).await?;
    ensure!(
        positions::total(&ends) == i64::try_from(args.records).unwrap_or(i64::MAX),
        "the input topics hold {} records after preloading {}",
        positions::total(&ends),
        args.records
    );
    Ok(Prepared {
        topics,
        inputs,
        ends,
        bytes: encoded.iter().map(wire::Wire::bytes).sum(),
        per_input: mix::per_input(&records),
        expected_rows: mix::expected_rows(&records),
        mix,
        codec,
    })
}

/// One batch setting's database, pools and group, kept from its throughput run to its delay
/// phase, where the projector resumes from the offsets stored there.
#[derive(Debug)]
struct Projector {
    batch: BatchSetting,
    database: String,
    group: String,
    /// The projector's pool.
    pool: PgPool,
    /// The bench's own pool on the same database.
    watch: PgPool,
}

impl Projector {
    async fn new(
        env: &Env<'_>,
        admin: &PgPool,
        index: usize,
        batch: BatchSetting,
        databases: &mut Vec<String>,
    ) -> anyhow::Result<Self> {
        let slug = format!("{index}_{}", batch.slug());
        let database = format!("pbench_{}_{slug}", env.run_id);
        databases.push(database.clone());
        let pool = setup::create_database(
            admin,
            &env.server,
            &database,
            env.args.database_max_connections,
        )
        .await?;
        let watch = setup::watch_pool(&env.server, &database).await?;
        Ok(Self {
            batch,
            group: env.group(&format!("shop-projector-{slug}")),
            database,
            pool,
            watch,
        })
    }
}

/// The throughput run of one batch setting, and the check of its tables.
async fn project_input(
    env: &Env<'_>,
    input: &Prepared,
    projector: &Projector,
) -> anyhow::Result<figures::Throughput> {
    let run = throughput::run(&throughput::Job {
        kafka: &env.kafka,
        registry: &env.registry,
        topics: &input.topics,
        group: &projector.group,
        batch: projector.batch,
        pool: &projector.pool,
        watch: &projector.watch,
        ends: &input.ends,
        probe: &env.probe,
        timeout: env.args.timeout(),
    })
    .await?;
    log_throughput(&run);
    check_rows(&projector.pool, &input.expected_rows, &run.label).await?;
    Ok(run)
}

/// The delay phase of one batch setting, on fresh records from the mix.
async fn measure_delay(
    env: &Env<'_>,
    input: &mut Prepared,
    projector: &Projector,
) -> anyhow::Result<figures::Delay> {
    let records = input.mix.take(env.args.delay_records());
    let encoded = wire::encode(&input.codec, &input.topics, &records).await?;
    let database_url = env
        .server
        .with_database(&projector.database)
        .context("while naming the bench database")?
        .url;
    let batch = projector.batch;
    tracing::info!(batch = %batch.label(), records = encoded.len(), "measuring the delay");
    let measured = delay::run(delay::Job {
        kafka: &env.kafka,
        registry: &env.registry,
        topics: &input.topics,
        inputs: &input.inputs,
        partitions: env.args.partitions,
        group: &projector.group,
        batch,
        pool: &projector.pool,
        watch: &projector.watch,
        database_url: &database_url,
        records: encoded,
        rate: env.args.rate,
        poll_every: Duration::from_millis(env.args.poll_every_ms),
        probe: &env.probe,
        timeout: env.args.timeout(),
    })
    .await?;
    tracing::info!(
        batch = %batch.label(),
        p50_ms = measured.delay.p50.as_secs_f64() * 1e3,
        p99_ms = measured.delay.p99.as_secs_f64() * 1e3,
        "delay measured"
    );
    Ok(measured)
}

fn log_throughput(run: &figures::Throughput) {
    tracing::info!(
        run = %run.label,
        seconds = format!("{:.2}", run.elapsed.as_secs_f64()),
        records_per_sec = format!("{:.0}", run.per_sec()),
        "measured"
    );
}

/// The tables hold exactly the rows the input makes: a fast figure could be a wrong one.
async fn check_rows(
    pool: &PgPool,
    expected: &[(&'static str, i64)],
    label: &str,
) -> anyhow::Result<()> {
    let counted = setup::count_rows(pool, expected).await?;
    for ((table, want), (_, got)) in expected.iter().zip(&counted) {
        ensure!(
            want == got,
            "{label}: table {table} holds {got} rows, the input makes {want}"
        );
    }
    Ok(())
}
