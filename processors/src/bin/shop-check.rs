//! `shop-check`: reads the pipeline's topics to their end and checks that every checkout ended
//! exactly once and no stock was lost or oversold ([`shop_processors::invariants`]).
//!
//! Exit codes: 0 every invariant holds, 1 violations found (printed, one per line), 2 the
//! topics could not be read (or the arguments or environment are unusable).

use clap::Parser;
use shop_platform::kafka::KafkaSettings;
use shop_platform::telemetry;
use shop_processors::invariants::{self, ObserveError, Report};
use shop_processors::topology::TopicNames;
use shop_schemas::{AvroCodec, Registration, RegistryConfig};
use std::process::ExitCode;
use std::time::Duration;

const NAME: &str = "shop-check";
/// Violations were found.
const EXIT_VIOLATIONS: u8 = 1;
/// The topics could not be read: nothing was checked.
const EXIT_UNREADABLE: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    version,
    about = "Checks from the topics that every checkout ended exactly once and no stock was \
             lost or oversold",
    after_help = "Exit codes: 0 clean, 1 violations found, 2 the topics could not be read."
)]
struct Args {
    #[arg(long, env = "SHOP_KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    brokers: String,
    /// Extra librdkafka properties, `key=value,key=value` (e.g. security settings).
    #[arg(long, env = "SHOP_KAFKA_PROPERTIES", default_value = "")]
    kafka_properties: String,
    #[arg(
        long,
        env = "SHOP_SCHEMA_REGISTRY_URL",
        default_value = "http://127.0.0.1:8081/apis/ccompat/v7"
    )]
    registry_url: String,
    /// Prefix of every topic name, as given to `shop-topics apply`.
    #[arg(long, env = "SHOP_TOPIC_PREFIX", default_value = "")]
    topic_prefix: String,
    /// How long reading every topic to its end may take, e.g. `60s` or `5m`.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    timeout: Duration,
    /// Print the report as one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    // Held until main returns: dropping it flushes the spans not yet exported.
    let _telemetry = match telemetry::init_from_env("warn") {
        Ok(guard) => guard,
        Err(error) => {
            eprintln!("{NAME}: cannot set up logging: {error}");
            return ExitCode::from(EXIT_UNREADABLE);
        }
    };
    match run(&args).await {
        Ok(report) => {
            if args.json {
                println!("{}", report.to_json());
            } else {
                println!("{report}");
            }
            if report.is_clean() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_VIOLATIONS)
            }
        }
        Err(error) => {
            eprintln!("{NAME}: nothing checked: {error}");
            ExitCode::from(EXIT_UNREADABLE)
        }
    }
}

/// Why nothing could be checked.
#[derive(Debug, thiserror::Error)]
enum RunError {
    #[error("{0}")]
    Kafka(#[from] shop_platform::kafka::PropertyError),
    #[error("{0}")]
    Codec(#[from] shop_schemas::CodecError),
    #[error("{0}")]
    Observe(#[from] ObserveError),
}

async fn run(args: &Args) -> Result<Report, RunError> {
    let mut kafka = KafkaSettings::new(args.brokers.clone(), NAME);
    kafka.overrides = KafkaSettings::parse_overrides(&args.kafka_properties)?;
    let codec = AvroCodec::new(
        &RegistryConfig {
            url: args.registry_url.clone(),
            timeout: Duration::from_secs(10),
        },
        Registration::LookupOnly,
    )?;
    let topics = TopicNames::with_prefix(&args.topic_prefix);
    Ok(invariants::check_topics(&kafka, &codec, &topics, args.timeout).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn arguments_are_consistent_and_default_sensibly() {
        Args::command().debug_assert();
        let args = Args::try_parse_from([NAME, "--timeout", "90s", "--json"]).unwrap();
        assert_eq!(args.timeout, Duration::from_secs(90));
        assert!(args.json);
    }
}
