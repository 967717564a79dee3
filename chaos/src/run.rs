//! One chaos run from start to end: fresh topics and database, the fleet, the load with the
//! faults on their timetable, then the checks once the pipeline is quiet.

use crate::audit::{self, ReadModelAudit};
use crate::faults::{self, Fault, FaultEvent, FaultSettings, PlannedFault, Stack};
use crate::fleet::{Fleet, FleetError, ServiceReport, ServiceSpec};
use crate::verdict::{self, Verdict};
use serde::Serialize;
use shop_loadgen::config::{KafkaTarget, LoadConfig};
use shop_loadgen::{LoadError, LoadReport, run_load};
use shop_platform::database::{self, DatabaseError, DatabaseSettings};
use shop_platform::kafka::KafkaSettings;
use shop_processors::invariants::{self, ObserveError, Observed};
use shop_schemas::{AvroCodec, CodecError, Registration, RegistryConfig};
use shop_topics::{Layout, ProvisionError, TopicNames};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

/// The processors, each run as `instances` processes.
const PROCESSORS: [&str; 5] = [
    "shop-catalog",
    "shop-cart",
    "shop-inventory",
    "shop-payment",
    "shop-orders",
];
/// How often the keeper restarts instances that exited on their own.
const KEEPER_TICK: Duration = Duration::from_millis(500);
/// How long the fleet may take until the ingress answers `/ready`.
const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// The most violations a report lists one by one (all are counted).
const LISTED_VIOLATIONS: usize = 50;

/// Why a chaos run could not run (a run that ran reports its findings in [`ChaosReport`]).
#[derive(Debug, thiserror::Error)]
pub enum ChaosError {
    #[error("creating the run's topics failed: {0}")]
    Topics(#[from] ProvisionError),
    #[error("the run's database: {0}")]
    Database(#[from] DatabaseError),
    #[error("cannot create the run's folder {path}: {source}")]
    Folder {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Fleet(#[from] FleetError),
    #[error("the ingress at {0} did not become ready within {READY_TIMEOUT:?} (see the logs)")]
    NotReady(String),
    #[error("no free port for the ingress: {0}")]
    Port(#[source] std::io::Error),
    #[error("the load could not run: {0}")]
    Load(#[from] LoadError),
    #[error("cannot build the registry codec: {0}")]
    Codec(#[from] CodecError),
    #[error("cannot read the topics for the invariant check: {0}")]
    Observe(#[from] ObserveError),
    #[error("the stack script is needed for broker and PostgreSQL faults (--stack)")]
    NoStack,
    /// A task still held the fleet when it was to be stopped (a bug in this crate).
    #[error("the fleet was still in use when the run ended")]
    FleetStillShared,
}

/// Everything a chaos run is told.
#[derive(Debug, Clone)]
pub struct ChaosConfig {
    pub brokers: String,
    /// Confluent-compatible schema registry API.
    pub registry_url: String,
    /// A database the run may connect to in order to create its own.
    pub database_url: String,
    /// Where the pipeline's binaries are (`shop-inventory`, `shop-projector`, `shop-ingress`...).
    pub bin_dir: PathBuf,
    /// The run's folder: its report and one log per instance.
    pub out_dir: PathBuf,
    /// Names the run's topics (as a prefix), database, products and users.
    pub run_id: String,
    /// Processes per processor (the projector and the ingress run one each).
    pub instances: u32,
    /// Partitions of every topic: more than instances, so a rebalance moves some.
    pub partitions: i32,
    /// Checkouts per second, open loop.
    pub rate: f64,
    /// How long the load runs (the faults happen inside it).
    pub duration: Duration,
    pub faults: FaultSettings,
    /// For broker and PostgreSQL faults.
    pub stack: Option<Stack>,
    /// How long after its checkout an order may take to end before it counts as lost.
    pub terminal_timeout: Duration,
    /// How long the checks wait for the pipeline and the read model to settle.
    pub settle: Duration,
    /// How often every instance's resident memory is sampled.
    pub memory_every: Duration,
}

/// A chaos run's result: the verdict first, then everything it was made from.
#[derive(Debug, Clone, Serialize)]
pub struct ChaosReport {
    pub run_id: String,
    pub verdict: Verdict,
    pub settings: RunSettings,
    pub faults: Vec<FaultEvent>,
    pub services: Vec<ServiceReport>,
    /// The first violations the invariant checker listed (all are counted in the verdict).
    pub violations: Vec<String>,
    pub read_model: ReadModelAudit,
    pub load: LoadReport,
}

/// The settings as run, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct RunSettings {
    pub instances: u32,
    pub partitions: i32,
    pub rate: f64,
    pub duration_s: f64,
    pub kill_every_s: Option<f64>,
    pub restart_after_s: f64,
    pub broker_restart_at: Option<f64>,
    pub postgres_stop_at: Option<f64>,
    pub postgres_down_s: f64,
    pub seed: u64,
    pub planned: Vec<PlannedFault>,
}

/// Runs `config`: sets up, runs load and faults, checks, tears down, and reports. `shutdown`
/// stops the load early; the checks still run on what was done.
///
/// # Errors
/// [`ChaosError`] if the run could not be set up or checked at all.
pub async fn run_chaos(
    config: &ChaosConfig,
    shutdown: CancellationToken,
) -> Result<ChaosReport, ChaosError> {
    if config.faults.needs_stack() && config.stack.is_none() {
        return Err(ChaosError::NoStack);
    }
    let log_dir = config.out_dir.join("logs");
    std::fs::create_dir_all(&log_dir).map_err(|source| ChaosError::Folder {
        path: log_dir.clone(),
        source,
    })?;
    let prefix = format!("{}.", config.run_id);
    let kafka = KafkaSettings::new(&config.brokers, "shop-chaos");
    let registry = RegistryConfig {
        url: config.registry_url.clone(),
        timeout: Duration::from_secs(10),
    };
    let layout = Layout {
        prefix: prefix.clone(),
        partitions: config.partitions,
        ..Layout::default()
    };
    shop_topics::provision(&kafka, &registry, &layout.specs(), Duration::from_secs(60)).await?;
    let database = RunDatabase::create(&config.database_url, &config.run_id).await?;

    let ingress_addr = free_local_address()?;
    let secret = format!("chaos-{}", uuid::Uuid::new_v4().simple());
    let fleet = Fleet::new(
        &config.bin_dir,
        &log_dir,
        common_env(config, &prefix, &database.settings.url),
        specs(config.instances, &ingress_addr, &secret),
    );
    let fleet = Arc::new(Mutex::new(fleet));
    fleet.lock().await.start_all()?;
    let keeper_stop = CancellationToken::new();
    let keeper = tokio::spawn(keep(
        Arc::clone(&fleet),
        config.memory_every,
        keeper_stop.clone(),
    ));
    let ingress_url = format!("http://{ingress_addr}");
    wait_ready(&ingress_url).await?;
    tracing::info!(run_id = %config.run_id, "the fleet is up; load and faults start");

    let planned = {
        let fleet = fleet.lock().await;
        faults::plan(&config.faults, config.duration, &fleet.killable())
    };
    let mut load_config = LoadConfig::new(
        &ingress_url,
        secret.into_bytes(),
        KafkaTarget {
            settings: kafka.clone(),
            registry_url: config.registry_url.clone(),
            topic_prefix: prefix.clone(),
        },
    );
    load_config.run_id = config.run_id.clone();
    load_config.rate = config.rate;
    load_config.duration = config.duration;
    load_config.warmup = Duration::ZERO;
    load_config.terminal_timeout = config.terminal_timeout;
    load_config.watch = fleet.lock().await.running();
    let load_started = Instant::now();
    let injected = tokio::spawn(inject(
        planned.clone(),
        Arc::clone(&fleet),
        config.stack.clone(),
        load_started,
        shutdown.clone(),
    ));
    let load = run_load(&load_config, shutdown.clone()).await;
    let faults = injected.await.unwrap_or_else(|error| {
        tracing::error!(%error, "the fault injector died");
        Vec::new()
    });
    let load = load?;

    tracing::info!("load done; checking the topics and the read model");
    let codec = Arc::new(AvroCodec::new(&registry, Registration::LookupOnly)?);
    let topics = TopicNames::with_prefix(&prefix);
    // A check that cannot finish (a topic too large to read in time, the database gone) is a
    // finding of the run, reported with everything else, not a reason to lose the report.
    let (invariants, read_model, check_error) =
        match settled_check(&kafka, &codec, &topics, config.settle).await {
            Ok((observed, invariants)) => {
                match audit::audit(&database.pool, &observed, config.settle).await {
                    Ok(read_model) => (invariants, read_model, None),
                    Err(error) => (
                        invariants,
                        ReadModelAudit::default(),
                        Some(format!("the read model could not be read: {error}")),
                    ),
                }
            }
            Err(error) => (
                invariants::Report::default(),
                ReadModelAudit::default(),
                Some(format!("the topics could not be checked: {error}")),
            ),
        };

    keeper_stop.cancel();
    let _ = keeper.await;
    let fleet = Arc::try_unwrap(fleet)
        .map(Mutex::into_inner)
        .map_err(|_| ChaosError::FleetStillShared)?;
    let services = fleet.stop_all().await;

    let unplanned_exits = services.iter().map(|s| s.unplanned_exits.len()).sum();
    let failed_faults = faults.iter().filter(|f| f.error.is_some()).count();
    let verdict = verdict::judge(
        &load,
        &invariants,
        &read_model,
        unplanned_exits,
        failed_faults,
        check_error,
    );
    if verdict.passed {
        database.drop().await;
    } else {
        tracing::warn!(database = %database.name, "kept for inspection");
    }
    Ok(ChaosReport {
        run_id: config.run_id.clone(),
        verdict,
        settings: RunSettings {
            instances: config.instances,
            partitions: config.partitions,
            rate: config.rate,
            duration_s: config.duration.as_secs_f64(),
            kill_every_s: config.faults.kill_every.map(|d| d.as_secs_f64()),
            restart_after_s: config.faults.restart_after.as_secs_f64(),
            broker_restart_at: config.faults.broker_restart_at,
            postgres_stop_at: config.faults.postgres_stop_at,
            postgres_down_s: config.faults.postgres_down.as_secs_f64(),
            seed: config.faults.seed,
            planned,
        },
        faults,
        services,
        violations: invariants
            .violations
            .iter()
            .take(LISTED_VIOLATIONS)
            .map(ToString::to_string)
            .collect(),
        read_model,
        load,
    })
}

/// What every instance is started with; a `SHOP_LOG` of the caller's wins over the default.
fn common_env(config: &ChaosConfig, prefix: &str, database_url: &str) -> Vec<(String, String)> {
    let mut env = vec![
        ("SHOP_KAFKA_BROKERS", config.brokers.clone()),
        ("SHOP_SCHEMA_REGISTRY_URL", config.registry_url.clone()),
        ("SHOP_TOPIC_PREFIX", prefix.to_owned()),
        ("SHOP_DATABASE_URL", database_url.to_owned()),
        // The load generator makes its own products; two catalog instances need not seed.
        ("SHOP_CATALOG_SEED", "false".to_owned()),
    ];
    if std::env::var_os("SHOP_LOG").is_none() {
        env.push(("SHOP_LOG", "info,librdkafka=warn".to_owned()));
    }
    env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// The fleet: every processor `instances` times and the projector, all killable; the ingress,
/// which is not (the load generator would only measure its own connection errors).
fn specs(instances: u32, ingress_addr: &str, secret: &str) -> Vec<ServiceSpec> {
    let mut specs: Vec<ServiceSpec> = PROCESSORS
        .iter()
        .flat_map(|binary| {
            (0..instances).map(|instance| ServiceSpec {
                binary: (*binary).to_owned(),
                instance,
                killable: true,
                env: Vec::new(),
            })
        })
        .collect();
    specs.push(ServiceSpec {
        binary: "shop-projector".to_owned(),
        instance: 0,
        killable: true,
        env: Vec::new(),
    });
    specs.push(ServiceSpec {
        binary: "shop-ingress".to_owned(),
        instance: 0,
        killable: false,
        env: vec![
            ("SHOP_HTTP_ADDR".to_owned(), ingress_addr.to_owned()),
            ("SHOP_JWT_SECRET".to_owned(), secret.to_owned()),
            ("SHOP_RATE_LIMIT_PER_SECOND".to_owned(), "0".to_owned()),
        ],
    });
    specs
}

/// Restarts instances that exited on their own and samples memory, until `stop`.
async fn keep(fleet: Arc<Mutex<Fleet>>, memory_every: Duration, stop: CancellationToken) {
    let mut last_sample: Option<Instant> = None;
    loop {
        {
            let mut fleet = fleet.lock().await;
            if let Err(error) = fleet.restart_exited() {
                tracing::error!(%error, "restarting an instance");
            }
            if last_sample.is_none_or(|at| at.elapsed() >= memory_every) {
                fleet.sample_memory();
                last_sample = Some(Instant::now());
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(KEEPER_TICK) => {}
        }
    }
}

/// Carries out `planned`, each fault at its time from `started`: kills in one lane, the broker
/// and PostgreSQL in another, so a kill can land while the broker is away.
async fn inject(
    planned: Vec<PlannedFault>,
    fleet: Arc<Mutex<Fleet>>,
    stack: Option<Stack>,
    started: Instant,
    shutdown: CancellationToken,
) -> Vec<FaultEvent> {
    let (kills, infra): (Vec<_>, Vec<_>) = planned
        .into_iter()
        .partition(|p| matches!(p.fault, Fault::Kill { .. }));
    let lane = |faults: Vec<PlannedFault>| {
        let fleet = Arc::clone(&fleet);
        let stack = stack.clone();
        let shutdown = shutdown.clone();
        async move {
            let mut events = Vec::new();
            for planned in faults {
                let due = started + Duration::from_secs_f64(planned.at_s);
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep_until(due.into()) => {}
                }
                events.push(carry_out(planned.fault, &fleet, stack.as_ref(), started).await);
            }
            events
        }
    };
    let (mut events, infra_events) = tokio::join!(lane(kills), lane(infra));
    events.extend(infra_events);
    events.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
    events
}

async fn carry_out(
    fault: Fault,
    fleet: &Mutex<Fleet>,
    stack: Option<&Stack>,
    started: Instant,
) -> FaultEvent {
    let at = started.elapsed();
    let (target, result) = match &fault {
        Fault::Kill { instance, down_s } => {
            let name = {
                let mut fleet = fleet.lock().await;
                fleet.kill(*instance).await;
                fleet.name(*instance)
            };
            tracing::info!(instance = %name, "SIGKILL");
            tokio::time::sleep(Duration::from_secs_f64(*down_s)).await;
            let started_again = fleet.lock().await.start(*instance);
            (name, started_again.map_err(|error| error.to_string()))
        }
        Fault::BrokerRestart => {
            tracing::info!("restarting the broker");
            let result = match stack {
                Some(stack) => stack.bounce("kafka", Duration::ZERO).await,
                None => Err("no stack script".to_owned()),
            };
            ("kafka".to_owned(), result)
        }
        Fault::PostgresOutage { down_s } => {
            tracing::info!("stopping PostgreSQL");
            let result = match stack {
                Some(stack) => {
                    stack
                        .bounce("postgres", Duration::from_secs_f64(*down_s))
                        .await
                }
                None => Err("no stack script".to_owned()),
            };
            ("postgres".to_owned(), result)
        }
    };
    if let Err(error) = &result {
        tracing::error!(%target, %error, "a fault could not be carried out");
    }
    FaultEvent {
        at_s: at.as_secs_f64(),
        took_s: (started.elapsed() - at).as_secs_f64(),
        target,
        fault,
        error: result.err(),
    }
}

/// Reads the topics and checks the invariants until the check is clean or `settle` has passed:
/// an order that timed out on the client may still be on its way through a restarted
/// processor. Returns the last reading and its report.
async fn settled_check(
    kafka: &KafkaSettings,
    codec: &AvroCodec,
    topics: &TopicNames,
    settle: Duration,
) -> Result<(Observed, invariants::Report), ObserveError> {
    let started = Instant::now();
    loop {
        let observed = invariants::observe(kafka, codec, topics, Duration::from_secs(60)).await?;
        let report = invariants::check(&observed);
        if report.is_clean() || started.elapsed() >= settle {
            return Ok((observed, report));
        }
        tracing::info!(
            violations = report.violations.len(),
            "not settled yet; reading the topics again"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Waits until the ingress answers `/ready` with 200.
async fn wait_ready(ingress_url: &str) -> Result<(), ChaosError> {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + READY_TIMEOUT;
    while Instant::now() < deadline {
        let ready = client
            .get(format!("{ingress_url}/ready"))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .is_ok_and(|response| response.status() == reqwest::StatusCode::OK);
        if ready {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Err(ChaosError::NotReady(ingress_url.to_owned()))
}

/// A loopback address with a port nobody listens on right now.
fn free_local_address() -> Result<String, ChaosError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(ChaosError::Port)?;
    let address = listener.local_addr().map_err(ChaosError::Port)?;
    Ok(address.to_string())
}

/// The run's own database, created empty (the projector and the ingress migrate it).
struct RunDatabase {
    admin: DatabaseSettings,
    name: String,
    settings: DatabaseSettings,
    pool: sqlx::PgPool,
}

impl RunDatabase {
    async fn create(admin_url: &str, run_id: &str) -> Result<Self, ChaosError> {
        let admin = DatabaseSettings::new(admin_url);
        let name: String = format!("shop_{run_id}")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        let settings = database::create_database(&admin, &name).await?;
        let pool = database::connect(&settings).await?;
        Ok(Self {
            admin,
            name,
            settings,
            pool,
        })
    }

    /// Drops the database; a failure is only logged (the run's result does not depend on it).
    async fn drop(self) {
        self.pool.close().await;
        if let Err(error) = database::drop_database(&self.admin, &self.name).await {
            tracing::warn!(%error, database = %self.name, "cannot drop the run's database");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_processor_runs_as_many_killable_instances_and_the_ingress_is_spared() {
        let specs = specs(2, "127.0.0.1:1", "s");
        let names: Vec<String> = specs.iter().map(ServiceSpec::name).collect();
        assert_eq!(specs.len(), 5 * 2 + 2, "{names:?}");
        for binary in PROCESSORS {
            for instance in 0..2 {
                assert!(names.contains(&format!("{binary}#{instance}")), "{names:?}");
            }
        }
        let spared: Vec<&str> = specs
            .iter()
            .filter(|s| !s.killable)
            .map(|s| s.binary.as_str())
            .collect();
        assert_eq!(spared, vec!["shop-ingress"]);
        let ingress = specs.iter().find(|s| s.binary == "shop-ingress");
        assert!(ingress.is_some_and(|s| {
            s.env
                .contains(&("SHOP_HTTP_ADDR".to_owned(), "127.0.0.1:1".to_owned()))
        }));
    }
}
