//! How the `shop-ingress` binary runs: flags and `SHOP_…` variables into [`Settings`], then
//! [`AppState::connect`] and [`crate::serve`] until SIGTERM. The binary itself sets up logging
//! and the Prometheus recorder (process-wide state stays out of the library).

use crate::settings::{AuthSettings, HttpSettings, RateLimitSettings, Secret, Settings};
use crate::state::AppState;
use anyhow::Context;
use metrics_exporter_prometheus::PrometheusHandle;
use shop_platform::database::DatabaseSettings;
use shop_platform::kafka::KafkaSettings;
use shop_platform::shutdown;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Flags and environment variables of `shop-ingress`.
#[derive(Debug, clap::Parser)]
#[command(version, about = "The shop's HTTP ingress")]
pub struct Args {
    /// Where to listen for HTTP.
    #[arg(long, env = "SHOP_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    pub http_addr: SocketAddr,
    /// Kafka bootstrap servers.
    #[arg(long, env = "SHOP_KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    pub brokers: String,
    /// Extra librdkafka properties, `key=value,key=value`.
    #[arg(long, env = "SHOP_KAFKA_PROPERTIES", default_value = "")]
    pub kafka_properties: String,
    /// Confluent-compatible schema registry API.
    #[arg(
        long,
        env = "SHOP_SCHEMA_REGISTRY_URL",
        default_value = "http://127.0.0.1:8081/apis/ccompat/v7"
    )]
    pub registry_url: String,
    /// Put in front of every topic name.
    #[arg(long, env = "SHOP_TOPIC_PREFIX", default_value = "")]
    pub topic_prefix: String,
    /// The read model's database.
    #[arg(
        long,
        env = "SHOP_DATABASE_URL",
        default_value = "postgres://shop:shop@127.0.0.1:5433/shop",
        hide_env_values = true
    )]
    pub database_url: String,
    /// Largest number of database connections.
    #[arg(long, env = "SHOP_DATABASE_MAX_CONNECTIONS", default_value_t = 10)]
    pub database_max_connections: u32,
    /// Longest a query may run.
    #[arg(long, env = "SHOP_DATABASE_STATEMENT_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub database_statement_timeout: Duration,
    /// Shared secret for HS256 tokens.
    #[arg(long, env = "SHOP_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// PEM file with the RSA public key for RS256 tokens.
    #[arg(long, env = "SHOP_JWT_PUBLIC_KEY_FILE")]
    pub jwt_public_key_file: Option<PathBuf>,
    /// Largest request body, in bytes.
    #[arg(long, env = "SHOP_HTTP_BODY_LIMIT", default_value_t = 64 * 1024)]
    pub http_body_limit: usize,
    /// Requests per second per user (token refill rate); 0 turns the limit off.
    #[arg(long, env = "SHOP_RATE_LIMIT_PER_SECOND", default_value_t = 20.0)]
    pub rate_limit_per_second: f64,
    /// Requests a user may make at once (bucket size).
    #[arg(long, env = "SHOP_RATE_LIMIT_BURST", default_value_t = 40)]
    pub rate_limit_burst: u32,
    /// Commands on their way to Kafka at once; more are refused with 503.
    #[arg(long, env = "SHOP_PRODUCER_MAX_IN_FLIGHT", default_value_t = 1024)]
    pub producer_max_in_flight: usize,
}

impl Args {
    /// The settings these flags describe.
    ///
    /// # Errors
    /// A malformed `--kafka-properties`.
    pub fn settings(&self) -> anyhow::Result<Settings> {
        let auth = AuthSettings {
            hs256_secret: self.jwt_secret.clone().map(Secret::new),
            rs256_public_key_file: self.jwt_public_key_file.clone(),
        };
        let mut settings =
            Settings::new(&self.brokers, &self.registry_url, &self.database_url, auth);
        settings.http_addr = self.http_addr;
        settings.kafka = KafkaSettings {
            overrides: KafkaSettings::parse_overrides(&self.kafka_properties)
                .context("in SHOP_KAFKA_PROPERTIES")?,
            ..KafkaSettings::new(&self.brokers, "shop-ingress")
        };
        settings.topic_prefix = self.topic_prefix.clone();
        settings.database = DatabaseSettings {
            max_connections: self.database_max_connections,
            statement_timeout: self.database_statement_timeout,
            ..DatabaseSettings::new(&self.database_url)
        };
        settings.http = HttpSettings {
            body_limit_bytes: self.http_body_limit,
            rate_limit: Some(RateLimitSettings {
                per_second: self.rate_limit_per_second,
                burst: self.rate_limit_burst,
            }),
            ..HttpSettings::default()
        };
        settings.producer_max_in_flight = self.producer_max_in_flight;
        Ok(settings)
    }
}

/// Runs the ingress until SIGTERM or ctrl-c: connects to Kafka, the registry and the database,
/// serves `metrics` at `/metrics` and HTTP on `--http-addr`. The binary installs the metrics
/// recorder and logging first; this never touches process-wide state.
///
/// # Errors
/// Why the ingress could not start, or stopped serving.
pub async fn run(args: &Args, metrics: PrometheusHandle) -> anyhow::Result<()> {
    let settings = args.settings()?;
    let shutdown = shutdown::on_signal();
    let upkeep = metrics.clone();
    let upkeep_stop = shutdown.clone();
    tokio::spawn(async move {
        // Histograms are drained by upkeep; without it they grow until rendered.
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tokio::select! {
                () = upkeep_stop.cancelled() => return,
                _ = tick.tick() => upkeep.run_upkeep(),
            }
        }
    });
    let state = AppState::connect(&settings)
        .await
        .context("while connecting to Kafka, the registry and the database")?
        .with_metrics(metrics);
    let listener = tokio::net::TcpListener::bind(settings.http_addr)
        .await
        .with_context(|| format!("while binding {}", settings.http_addr))?;
    crate::serve(listener, state, shutdown)
        .await
        .context("while serving HTTP")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[test]
    fn the_flags_are_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn flags_become_settings() {
        let args = Args::try_parse_from([
            "shop-ingress",
            "--http-addr",
            "0.0.0.0:9000",
            "--kafka-properties",
            "linger.ms=1",
            "--jwt-secret",
            "s3cret",
            "--http-body-limit",
            "1024",
            "--rate-limit-per-second",
            "5",
            "--rate-limit-burst",
            "7",
            "--producer-max-in-flight",
            "3",
            "--database-statement-timeout",
            "2s",
        ])
        .unwrap();
        let settings = args.settings().unwrap();
        assert_eq!(settings.http_addr.port(), 9000);
        assert_eq!(
            settings.kafka.overrides,
            [("linger.ms".to_owned(), "1".to_owned())]
        );
        assert_eq!(settings.http.body_limit_bytes, 1024);
        assert_eq!(
            settings.http.rate_limit,
            Some(RateLimitSettings {
                per_second: 5.0,
                burst: 7
            })
        );
        assert_eq!(settings.producer_max_in_flight, 3);
        assert_eq!(settings.database.statement_timeout, Duration::from_secs(2));
        assert!(
            !format!("{settings:?}").contains("s3cret"),
            "secrets stay out of Debug"
        );
    }
}
