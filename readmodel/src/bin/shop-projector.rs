//! `shop-projector`: fills the read-model tables from Kafka, exactly once (see
//! `shop_readmodel::projector`). Applies the migrations at start; waits for the database if it
//! is not there yet.

use anyhow::Context;
use clap::Parser;
use shop_platform::database::{self, DatabaseSettings};
use shop_platform::kafka::KafkaSettings;
use shop_platform::{shutdown, telemetry};
use shop_readmodel::projector::{self, NAME, ProjectorConfig};
use shop_schemas::{AvroCodec, Registration, RegistryConfig};
use shop_topics::TopicNames;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Parser)]
#[command(
    version,
    about = "Projects the shop's topics into PostgreSQL, exactly once"
)]
struct Args {
    #[arg(long, env = "SHOP_KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    brokers: String,
    /// Extra librdkafka properties, `key=value,key=value`.
    #[arg(long, env = "SHOP_KAFKA_PROPERTIES", default_value = "")]
    kafka_properties: String,
    #[arg(
        long,
        env = "SHOP_SCHEMA_REGISTRY_URL",
        default_value = "http://127.0.0.1:8081/apis/ccompat/v7"
    )]
    registry_url: String,
    /// Put in front of every topic name and the group id.
    #[arg(long, env = "SHOP_TOPIC_PREFIX", default_value = "")]
    topic_prefix: String,
    #[arg(
        long,
        env = "SHOP_DATABASE_URL",
        default_value = "postgres://shop:shop@127.0.0.1:5433/shop"
    )]
    database_url: String,
    #[arg(long, env = "SHOP_DATABASE_MAX_CONNECTIONS", default_value_t = 4)]
    database_max_connections: u32,
    /// The server cancels a statement running longer than this.
    #[arg(long, env = "SHOP_DATABASE_STATEMENT_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    database_statement_timeout: Duration,
    /// A batch is written after this many records...
    #[arg(
        long,
        env = "SHOP_PROJECTOR_BATCH_MAX_RECORDS",
        default_value_t = 1_000
    )]
    batch_max_records: usize,
    /// ...or when its first record is this old.
    #[arg(long, env = "SHOP_PROJECTOR_BATCH_LINGER", default_value = "20ms", value_parser = humantime::parse_duration)]
    batch_linger: Duration,
    /// Unique among running projector instances, stable across restarts; `@hostname` takes the
    /// host name.
    #[arg(long, env = "SHOP_INSTANCE_ID", default_value = "0", value_parser = shop_platform::instance::parse)]
    instance_id: String,
    /// Rejoin as the same static group member after a restart (named after the instance id).
    #[arg(long, env = "SHOP_STATIC_MEMBERSHIP")]
    static_membership: bool,
    /// Serve Prometheus metrics at `http://<addr>/metrics`.
    #[arg(long, env = "SHOP_METRICS_ADDR")]
    metrics_addr: Option<std::net::SocketAddr>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    // Held until main returns: dropping it flushes the spans not yet exported.
    let _telemetry = match telemetry::init_from_env("info,librdkafka=warn,sqlx=warn") {
        Ok(guard) => guard,
        Err(error) => {
            eprintln!("shop-projector: cannot set up logging: {error}");
            return ExitCode::FAILURE;
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("shop-projector: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    if let Some(addr) = args.metrics_addr {
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .with_http_listener(addr)
            .install()
            .with_context(|| format!("while serving metrics on {addr}"))?;
    }
    let shutdown = shutdown::on_signal();
    let mut database = DatabaseSettings::new(&args.database_url);
    database.max_connections = args.database_max_connections;
    database.statement_timeout = args.database_statement_timeout;
    let Some(pool) = connect_and_migrate(&database, &shutdown).await? else {
        return Ok(()); // Shut down while waiting for the database.
    };
    let mut kafka = KafkaSettings::new(&args.brokers, format!("shop-{NAME}"));
    kafka.overrides = KafkaSettings::parse_overrides(&args.kafka_properties)
        .context("in SHOP_KAFKA_PROPERTIES")?;
    let codec = AvroCodec::new(
        &RegistryConfig {
            url: args.registry_url,
            timeout: Duration::from_secs(10),
        },
        Registration::LookupOnly,
    )?;
    let mut config = ProjectorConfig::new(
        format!("{}shop-{NAME}", args.topic_prefix),
        TopicNames::with_prefix(&args.topic_prefix),
    );
    config.batch_max_records = args.batch_max_records;
    config.batch_linger = args.batch_linger;
    config.static_member_id = args
        .static_membership
        .then(|| format!("{}shop-{NAME}-{}", args.topic_prefix, args.instance_id));
    projector::run(config, &kafka, Arc::new(codec), pool, shutdown)
        .await
        .context("while projecting")
}

/// A pool with the migrations applied, waiting (with growing pauses) while the database is
/// unreachable; `None` if shut down meanwhile.
async fn connect_and_migrate(
    database: &DatabaseSettings,
    shutdown: &CancellationToken,
) -> anyhow::Result<Option<sqlx::PgPool>> {
    let mut pause = Duration::from_millis(200);
    let pool = loop {
        match database::connect(database).await {
            Ok(pool) => break pool,
            Err(error) => {
                tracing::warn!(%error, retry_in = ?pause, "database unreachable; waiting");
                tokio::select! {
                    () = shutdown.cancelled() => return Ok(None),
                    () = tokio::time::sleep(pause) => {}
                }
                pause = (pause * 2).min(Duration::from_secs(5));
            }
        }
    };
    shop_readmodel::migrate(&pool)
        .await
        .context("while applying the read-model migrations")?;
    Ok(Some(pool))
}
