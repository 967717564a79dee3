//! `shop-monitor`: the consumer-lag monitor on its own (see `shop_monitor` and
//! `docs/monitoring.md`). The same monitor runs inside `shop-processors` when
//! `SHOP_MONITOR_ADDR` is set there.

use anyhow::Context as _;
use shop_monitor::app::{self, MonitorFlags};
use shop_platform::kafka::KafkaSettings;
use shop_platform::{shutdown, telemetry};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

/// Flags and environment variables of `shop-monitor`.
#[derive(Debug, clap::Parser)]
#[command(version)]
struct Args {
    /// Kafka bootstrap servers.
    #[arg(long, env = "SHOP_KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    brokers: String,
    /// Extra librdkafka properties, `key=value,key=value`.
    #[arg(long, env = "SHOP_KAFKA_PROPERTIES", default_value = "")]
    kafka_properties: String,
    /// The pipeline's topic prefix: its groups are `<prefix>shop-<processor>`.
    #[arg(long, env = "SHOP_TOPIC_PREFIX", default_value = "")]
    topic_prefix: String,
    /// Where the dashboard, the JSON API and `/metrics` are served.
    #[arg(
        long = "listen",
        env = "SHOP_MONITOR_ADDR",
        default_value = "127.0.0.1:9300"
    )]
    listen: SocketAddr,
    #[command(flatten)]
    monitor: MonitorFlags,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = <Args as clap::Parser>::parse();
    // Held until main returns: dropping it flushes the spans not yet exported.
    let _telemetry = match telemetry::init_from_env("info,librdkafka=warn") {
        Ok(guard) => guard,
        Err(error) => {
            eprintln!("shop-monitor: cannot set up logging: {error}");
            return ExitCode::FAILURE;
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("shop-monitor: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .context("installing the metrics recorder")?;
    let mut kafka = KafkaSettings::new(&args.brokers, "shop-monitor");
    kafka.overrides = KafkaSettings::parse_overrides(&args.kafka_properties)
        .context("in SHOP_KAFKA_PROPERTIES")?;
    let settings = args.monitor.settings(kafka, &args.topic_prefix);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let shutdown = shutdown::on_signal();
    // Summaries are drained by upkeep; without it they grow until rendered.
    let upkeep = metrics.clone();
    let upkeep_stop = shutdown.clone();
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_secs(5));
        loop {
            tokio::select! {
                () = upkeep_stop.cancelled() => return,
                _ = ticks.tick() => upkeep.run_upkeep(),
            }
        }
    });
    app::run(settings, listener, Some(metrics), shutdown).await
}
