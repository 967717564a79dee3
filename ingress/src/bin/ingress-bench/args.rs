//! What a run is asked to do: where the stack is, how the load is shaped, where the results go.

use clap::Parser;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    version,
    about = "Measures accepted commands/s and latency at the HTTP ingress (a separate process) \
             under keep-alive load, next to a raw producer's rate to the same broker"
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
    /// The database server: the bench creates a database of its own on it (the read model's
    /// tables, so the ingress's `/ready` passes) and drops it at the end.
    #[arg(
        long,
        env = "SHOP_DATABASE_URL",
        default_value = "postgres://shop:shop@127.0.0.1:5433/shop",
        hide_env_values = true
    )]
    pub(crate) database_url: String,
    /// Extra librdkafka properties, `key=value,key=value`, for the ingress and the raw producer
    /// alike, so the two stay comparable (e.g. `linger.ms=1`).
    #[arg(long, env = "SHOP_KAFKA_PROPERTIES", default_value = "")]
    pub(crate) kafka_properties: String,
    /// Keep-alive connections, comma separated: each count is one measured step against the
    /// same ingress, e.g. `16,64,256`.
    #[arg(long, value_delimiter = ',', default_value = "64")]
    pub(crate) connections: Vec<usize>,
    /// Measured time of each step.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub(crate) duration: Duration,
    /// Load before each step's measured time, not counted: connections open, caches fill,
    /// the producer's batches settle.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub(crate) warmup: Duration,
    /// Open loop: this many requests per second in all, on a fixed schedule, whatever the
    /// answers do; latency is counted from each request's scheduled time, so slowness shows as
    /// latency instead of as fewer requests. Without it the load is a closed loop (each
    /// connection sends its next request when the last is answered).
    #[arg(long)]
    pub(crate) rate: Option<f64>,
    /// Distinct users (one token each): their ids are the record keys, spread over partitions.
    #[arg(long, default_value_t = 10_000)]
    pub(crate) users: usize,
    /// Distinct product ids in the request bodies.
    #[arg(long, default_value_t = 100)]
    pub(crate) products: usize,
    /// Partitions of the run's topics.
    #[arg(long, default_value_t = 6)]
    pub(crate) partitions: i32,
    /// Skip the raw producer's closed loop at each step's in-flight count (the unbounded raw
    /// burst always runs).
    #[arg(long)]
    pub(crate) no_raw_loop: bool,
    /// Extra environment for the ingress process, `KEY=VALUE`, repeatable (e.g.
    /// `SHOP_PRODUCER_MAX_IN_FLIGHT=4096`).
    #[arg(long = "ingress-env", value_parser = parse_env)]
    pub(crate) ingress_env: Vec<(String, String)>,
    /// The `shop-ingress` binary; by default the one next to this one (same build profile).
    #[arg(long)]
    pub(crate) ingress_bin: Option<PathBuf>,
    /// Markdown file the results and machine facts are written to.
    #[arg(long, default_value = "target/ingress-bench.md")]
    pub(crate) out: PathBuf,
    /// Where the ingress's own log (stdout and stderr, `SHOP_LOG=warn`) goes.
    #[arg(long, default_value = "target/ingress-bench-ingress.log")]
    pub(crate) ingress_log: PathBuf,
    /// Bound on each set-up and tear-down phase (topics, database, the ingress's start and stop,
    /// the raw burst).
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub(crate) timeout: Duration,
    /// What the cluster is, for the results file (the binary cannot ask the broker its version).
    #[arg(
        long,
        default_value = "Kafka 4.1.1 (KRaft), single node, local stack on 127.0.0.1"
    )]
    pub(crate) cluster: String,
    /// Leave the run's topics and database in place (to inspect them); removed by default.
    #[arg(long)]
    pub(crate) keep: bool,
}

fn parse_env(text: &str) -> Result<(String, String), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not KEY=VALUE"))?;
    if key.is_empty() {
        return Err(format!("{text:?} has no variable name"));
    }
    Ok((key.to_owned(), value.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_flags_are_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn ingress_env_is_key_equals_value() {
        assert_eq!(parse_env("A=b=c"), Ok(("A".to_owned(), "b=c".to_owned())));
        assert!(parse_env("novalue").is_err());
        assert!(parse_env("=x").is_err());
    }
}
