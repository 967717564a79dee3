//! What the run works on, made before and removed after: every declared topic under a fresh
//! prefix with its subjects, and a database of the run's own with the read model's tables.

use anyhow::{Context, anyhow, ensure};
use rdkafka::admin::{AdminClient, AdminOptions};
use shop_platform::database::{self, DatabaseSettings};
use shop_platform::kafka::{KafkaSettings, TracingContext};
use shop_schemas::RegistryConfig;
use shop_topics::Layout;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A name for this run, unique on one machine and a plain SQL identifier (letters, digits,
/// underscores), so it can name the database as well as prefix the topics.
pub(crate) fn run_id() -> anyhow::Result<String> {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("while naming the run: the clock is before 1970")?
        .as_millis();
    Ok(format!("ingress_bench_{millis}_{}", std::process::id()))
}

/// Creates every declared topic under `prefix`, as `shop-topics apply` does (the ingress checks
/// that the command and outcome topics exist), and registers their subjects, since the
/// ingress's codec only looks schemas up. Returns every topic name, for [`delete_topics`].
pub(crate) async fn create_topics(
    kafka: &KafkaSettings,
    registry: &RegistryConfig,
    prefix: &str,
    partitions: i32,
    timeout: Duration,
) -> anyhow::Result<Vec<String>> {
    let layout = Layout {
        prefix: prefix.to_owned(),
        partitions,
        ..Layout::default()
    };
    let specs = layout.specs();
    shop_topics::provision(kafka, registry, &specs, timeout)
        .await
        .context("while creating the run's topics and registering their schemas")?;
    Ok(specs.into_iter().map(|spec| spec.name).collect())
}

/// Waits until every partition of `topics` answers a watermark request. Metadata shows a new
/// topic's leaders a moment before the leaders serve it, and the ingress's outcome listener
/// reads the watermarks of `commands.outcomes` once at start and exits on
/// `NotLeaderForPartition`, so without this wait it can fail to start on fresh topics.
pub(crate) async fn wait_for_leaders(
    kafka: &KafkaSettings,
    topics: Vec<String>,
    partitions: i32,
    timeout: Duration,
) -> anyhow::Result<()> {
    let admin: AdminClient<TracingContext> = kafka
        .admin()
        .create_with_context(TracingContext)
        .context("while creating a Kafka admin client")?;
    tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + timeout;
        for topic in &topics {
            for partition in 0..partitions {
                loop {
                    let left = deadline.saturating_duration_since(Instant::now());
                    match admin.inner().fetch_watermarks(
                        topic,
                        partition,
                        left.min(Duration::from_secs(5)),
                    ) {
                        Ok(_) => break,
                        Err(error) if Instant::now() < deadline => {
                            tracing::debug!(%topic, partition, %error, "not served yet");
                            std::thread::sleep(Duration::from_millis(100));
                        }
                        Err(error) => {
                            return Err(error).with_context(|| {
                                format!("{topic}[{partition}] was not served within {timeout:?}")
                            });
                        }
                    }
                }
            }
        }
        Ok(())
    })
    .await
    .context("the leader wait failed to run")?
}

/// Deletes the run's topics. The registry subjects stay: deleting them is not worth a second
/// client, and they are named by the run's prefix.
pub(crate) async fn delete_topics(
    kafka: &KafkaSettings,
    topics: &[String],
    timeout: Duration,
) -> anyhow::Result<()> {
    let admin: AdminClient<TracingContext> = kafka
        .admin()
        .create_with_context(TracingContext)
        .context("while creating a Kafka admin client")?;
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    let options = AdminOptions::new()
        .request_timeout(Some(timeout))
        .operation_timeout(Some(timeout));
    let results = admin
        .delete_topics(&names, &options)
        .await
        .context("while deleting the run's topics")?;
    for result in results {
        result.map_err(|(topic, code)| anyhow!("while deleting topic {topic}: {code}"))?;
    }
    Ok(())
}

/// Creates database `name` on `server`'s server and runs the read model's migrations in it, so
/// the ingress's `/ready` (which checks the tables) passes without a projector. Returns the
/// settings that reach it.
pub(crate) async fn create_database(
    server: &DatabaseSettings,
    name: &str,
) -> anyhow::Result<DatabaseSettings> {
    ensure_plain(name)?;
    let admin = database::connect(server)
        .await
        .context("while connecting to the database server")?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .with_context(|| format!("while creating database {name}"))?;
    admin.close().await;
    let own = server
        .with_database(name)
        .context("while naming the run's database")?;
    let pool = database::connect(&own)
        .await
        .with_context(|| format!("while connecting to database {name}"))?;
    let migrated = shop_readmodel::migrate(&pool)
        .await
        .with_context(|| format!("while migrating database {name}"));
    pool.close().await;
    migrated?;
    Ok(own)
}

/// Drops a database made by [`create_database`], cutting off whoever is still connected.
pub(crate) async fn drop_database(server: &DatabaseSettings, name: &str) -> anyhow::Result<()> {
    ensure_plain(name)?;
    let admin = database::connect(server)
        .await
        .context("while connecting to the database server")?;
    let dropped = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&admin)
    .await
    .with_context(|| format!("while dropping database {name}"));
    admin.close().await;
    dropped.map(drop)
}

/// `name` goes into SQL as an identifier, so it must be letters, digits and underscores.
fn ensure_plain(name: &str) -> anyhow::Result<()> {
    ensure!(
        !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
        "{name:?} is not a plain database name"
    );
    Ok(())
}
