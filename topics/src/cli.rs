//! The `shop-topics` command line: list, plan and apply the declared topics and their schemas.

use crate::cluster::Cluster;
use crate::plan::TopicPlan;
use crate::spec::{Cleanup, Layout};
use crate::subjects::{incompatible, register_all, subjects};
use anyhow::Context;
use clap::{Parser, Subcommand};
use shop_platform::kafka::KafkaSettings;
use shop_schemas::RegistryConfig;
use shop_schemas::registry::RegistryAdmin;
use std::io::Write;
use std::time::Duration;

/// Creates or reconciles the shop's topics on a Kafka cluster and registers their schemas.
#[derive(Debug, Parser)]
#[command(name = "shop-topics", version)]
pub struct Cli {
    /// Kafka bootstrap servers.
    #[arg(long, env = "SHOP_KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    pub brokers: String,
    /// Extra librdkafka properties, `key=value,key=value` (e.g. security settings).
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
    pub prefix: String,
    /// Partitions of every data topic.
    #[arg(long, env = "SHOP_TOPIC_PARTITIONS", default_value_t = 6, value_parser = clap::value_parser!(i32).range(1..=10_000))]
    pub partitions: i32,
    /// Replication factor of every topic.
    #[arg(long, env = "SHOP_TOPIC_REPLICATION_FACTOR", default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..=32))]
    pub replication_factor: i32,
    /// `min.insync.replicas` of every topic.
    #[arg(long, env = "SHOP_TOPIC_MIN_INSYNC_REPLICAS", default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..=32))]
    pub min_insync_replicas: i32,
    /// Bound on every request and wait, in seconds.
    #[arg(long, env = "SHOP_TOPICS_TIMEOUT_SECS", default_value_t = 30)]
    pub timeout_secs: u64,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print every declared topic; needs no cluster.
    List,
    /// Show what `apply` would change, and which schemas the registry would refuse.
    /// Exits 0 when everything is in line, 2 when there is drift, 3 when something is refused.
    Plan,
    /// Create missing topics, fix configs, register schemas. Exits 0 when everything is in line
    /// afterwards, 2 when partition increases were found but not asked for, 3 when something
    /// was refused.
    Apply {
        /// Also add partitions where the spec asks for more than a topic has.
        #[arg(long)]
        increase_partitions: bool,
        /// Leave the schema registry alone.
        #[arg(long)]
        skip_schemas: bool,
    },
}

/// How a run ended, for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    InLine,
    Drift,
    Refused,
}

impl Outcome {
    pub fn exit_code(self) -> u8 {
        match self {
            Self::InLine => 0,
            Self::Drift => 2,
            Self::Refused => 3,
        }
    }
}

impl Cli {
    pub fn layout(&self) -> Layout {
        Layout {
            prefix: self.prefix.clone(),
            partitions: self.partitions,
            replication_factor: self.replication_factor,
            min_insync_replicas: self.min_insync_replicas,
            ..Layout::default()
        }
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }

    fn cluster(&self) -> anyhow::Result<Cluster> {
        let mut settings = KafkaSettings::new(&self.brokers, "shop-topics");
        settings.overrides = KafkaSettings::parse_overrides(&self.kafka_properties)?;
        Ok(Cluster::new(&settings, self.timeout())?)
    }

    fn registry(&self) -> anyhow::Result<RegistryAdmin> {
        let config = RegistryConfig {
            url: self.registry_url.clone(),
            timeout: self.timeout(),
        };
        Ok(RegistryAdmin::new(&config)?)
    }
}

/// Runs one command, writing what it finds and does to `out`.
///
/// # Errors
/// When the cluster or registry cannot be reached or refuses a request.
pub async fn run(cli: &Cli, out: &mut dyn Write) -> anyhow::Result<Outcome> {
    let specs = cli.layout().specs();
    match &cli.command {
        Command::List => {
            for spec in &specs {
                let cleanup = match spec.cleanup {
                    Cleanup::Delete { retention } => {
                        format!("delete after {}h", retention.as_secs() / 3600)
                    }
                    Cleanup::Compact { .. } => "compact".to_owned(),
                };
                let value = spec
                    .schemas
                    .map_or("raw bytes", |(_, value)| value.full_name);
                writeln!(
                    out,
                    "{:<32} {:>3} partitions  {:<18} {value}",
                    spec.name, spec.partitions, cleanup
                )?;
            }
            Ok(Outcome::InLine)
        }
        Command::Plan => {
            let plans = cli
                .cluster()?
                .plan(&specs)
                .await
                .context("while reading topics from the cluster")?;
            let mut outcome = print_plans(&plans, out)?;
            let refused = incompatible(&cli.registry()?, &subjects(&specs))
                .await
                .context("while checking schemas against the registry")?;
            for subject in &refused {
                writeln!(
                    out,
                    "refuse  schema {subject}: not BACKWARD compatible with the registered version"
                )?;
            }
            if !refused.is_empty() {
                outcome = Outcome::Refused;
            }
            Ok(outcome)
        }
        Command::Apply {
            increase_partitions,
            skip_schemas,
        } => {
            let cluster = cli.cluster()?;
            let plans = cluster
                .plan(&specs)
                .await
                .context("while reading topics from the cluster")?;
            print_plans(&plans, out)?;
            let report = cluster
                .apply(&plans, *increase_partitions)
                .await
                .context("while applying topic changes")?;
            for (topic, change) in &report.applied {
                writeln!(out, "done    {topic}: {change}")?;
            }
            for (topic, change) in &report.skipped {
                writeln!(
                    out,
                    "skip    {topic}: {change} (run with --increase-partitions)"
                )?;
            }
            if !*skip_schemas {
                let registered = register_all(&cli.registry()?, &subjects(&specs))
                    .await
                    .context("while registering schemas")?;
                for subject in registered {
                    writeln!(out, "schema  {} id {}", subject.subject, subject.schema_id)?;
                }
            }
            let refused = plans.iter().any(|plan| !plan.refusals.is_empty());
            Ok(if refused {
                Outcome::Refused
            } else if !report.skipped.is_empty() {
                Outcome::Drift
            } else {
                Outcome::InLine
            })
        }
    }
}

/// Writes one line per topic and change; returns what the plans add up to.
fn print_plans(plans: &[TopicPlan], out: &mut dyn Write) -> std::io::Result<Outcome> {
    let mut outcome = Outcome::InLine;
    for plan in plans {
        let name = &plan.spec.name;
        if plan.is_in_line() {
            writeln!(out, "ok      {name}")?;
        }
        for change in &plan.changes {
            writeln!(out, "drift   {name}: {change}")?;
            outcome = outcome.max_with(Outcome::Drift);
        }
        for refusal in &plan.refusals {
            writeln!(out, "refuse  {name}: {refusal}")?;
            outcome = Outcome::Refused;
        }
    }
    Ok(outcome)
}

impl Outcome {
    fn max_with(self, other: Self) -> Self {
        if self == Self::Refused || other == Self::Refused {
            Self::Refused
        } else if self == Self::Drift || other == Self::Drift {
            Self::Drift
        } else {
            Self::InLine
        }
    }
}
