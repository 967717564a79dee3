//! `restock-counter`: runs the [`shop_processors::restock_counter`] processor until SIGTERM.
//! Used by the runtime's crash tests and benchmark.

use anyhow::Context;
use clap::Parser;
use shop_platform::kafka::KafkaSettings;
use shop_platform::{shutdown, telemetry};
use shop_processors::restock_counter::{NAME, RestockCounter};
use shop_processors::runtime::{self, RuntimeConfig};
use shop_schemas::{AvroCodec, Registration, RegistryConfig};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(version, about = "Adds up restock commands exactly once")]
struct Args {
    #[arg(long, env = "SHOP_KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    brokers: String,
    #[arg(
        long,
        env = "SHOP_SCHEMA_REGISTRY_URL",
        default_value = "http://127.0.0.1:8081/apis/ccompat/v7"
    )]
    registry_url: String,
    /// Topic of `InventoryCommand`s to read.
    #[arg(long)]
    input: String,
    /// Compacted topic of `StockLevel`s: the changelog.
    #[arg(long)]
    changelog: String,
    /// Topic of `CommandOutcome`s to write.
    #[arg(long)]
    outcomes: String,
    #[arg(long)]
    group: String,
    /// Stable for this instance across restarts.
    #[arg(long)]
    transactional_id: String,
    #[arg(long, default_value_t = 500)]
    batch_max_records: usize,
    #[arg(long, default_value_t = 10)]
    batch_linger_ms: u64,
    /// Rejoin as the same static group member after a restart (see `RuntimeConfig`).
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
    let _telemetry = match telemetry::init_from_env("info,librdkafka=warn") {
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
    if let Some(addr) = args.metrics_addr {
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .with_http_listener(addr)
            .install()
            .with_context(|| format!("while serving metrics on {addr}"))?;
    }
    let codec = AvroCodec::new(
        &RegistryConfig {
            url: args.registry_url,
            timeout: Duration::from_secs(10),
        },
        Registration::LookupOnly,
    )?;
    let mut config = RuntimeConfig::new(
        NAME,
        args.group,
        args.transactional_id,
        vec![args.input],
        Some(args.changelog),
    );
    config.batch_max_records = args.batch_max_records;
    config.batch_linger = Duration::from_millis(args.batch_linger_ms);
    config.static_membership = args.static_membership;
    let handler = RestockCounter {
        outcomes_topic: args.outcomes,
    };
    runtime::run(
        config,
        KafkaSettings::new(args.brokers, NAME),
        Arc::new(codec),
        handler,
        shutdown::on_signal(),
    )
    .await
    .context("while processing")
}
