//! What the clocks run on, made before and dropped after: the run's topics and subjects under a
//! fresh prefix, and a database of its own per projector run.

use anyhow::Context;
use shop_platform::database::{self, DatabaseSettings};
use shop_platform::kafka::KafkaSettings;
use shop_schemas::RegistryConfig;
use shop_topics::{Layout, TopicNames};
use sqlx::PgPool;
use std::time::Duration;

/// Creates every declared topic under `prefix` (as `shop-topics apply` does, so the projector
/// meets the real layout) and registers their subjects, so codecs only look schemas up, like a
/// deployed projector's.
pub(crate) async fn create_topics(
    kafka: &KafkaSettings,
    registry: &RegistryConfig,
    prefix: &str,
    partitions: i32,
    timeout: Duration,
) -> anyhow::Result<TopicNames> {
    let layout = Layout {
        prefix: prefix.to_owned(),
        partitions,
        ..Layout::default()
    };
    let specs = layout.specs();
    shop_topics::provision(kafka, registry, &specs, timeout)
        .await
        .context("while creating the run's topics and registering their schemas")?;
    Ok(TopicNames::with_prefix(prefix))
}

/// A database of the bench's own, migrated, and a pool on it for the projector.
///
/// `name` must be a plain identifier (letters, digits, underscores): it is put into the SQL.
pub(crate) async fn create_database(
    admin: &PgPool,
    server: &DatabaseSettings,
    name: &str,
    max_connections: u32,
) -> anyhow::Result<PgPool> {
    anyhow::ensure!(
        name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
        "{name:?} is not a plain database name"
    );
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(admin)
        .await
        .with_context(|| format!("while creating database {name}"))?;
    let mut settings = server
        .with_database(name)
        .context("while naming the bench database")?;
    settings.max_connections = max_connections;
    // As `shop-projector`'s default: a stuck statement fails the batch instead of hanging it.
    settings.statement_timeout = Duration::from_secs(10);
    let pool = database::connect(&settings)
        .await
        .with_context(|| format!("while connecting to database {name}"))?;
    shop_readmodel::migrate(&pool)
        .await
        .with_context(|| format!("while migrating database {name}"))?;
    Ok(pool)
}

/// A one-connection pool of the bench's own on database `name`: its reads of the offsets never
/// wait for, or take, one of the projector's connections, and its backend is the one session
/// on the database that is not the projector's (see [`crate::cpu`]).
pub(crate) async fn watch_pool(server: &DatabaseSettings, name: &str) -> anyhow::Result<PgPool> {
    let mut settings = server
        .with_database(name)
        .context("while naming the bench database")?;
    settings.max_connections = 1;
    database::connect(&settings)
        .await
        .with_context(|| format!("while connecting to database {name}"))
}

/// Drops a database made by [`create_database`], cutting off whoever is still connected.
pub(crate) async fn drop_database(admin: &PgPool, name: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
        "{name:?} is not a plain database name"
    );
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(admin)
    .await
    .with_context(|| format!("while dropping database {name}"))?;
    Ok(())
}

/// Row counts of `tables` (names from the bench's own list, put into the SQL).
pub(crate) async fn count_rows(
    pool: &PgPool,
    tables: &[(&'static str, i64)],
) -> anyhow::Result<Vec<(&'static str, i64)>> {
    let mut counts = Vec::with_capacity(tables.len());
    for (table, _) in tables {
        let count: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
                .fetch_one(pool)
                .await
                .with_context(|| format!("while counting the rows of {table}"))?;
        counts.push((*table, count));
    }
    Ok(counts)
}

/// The server's version and durability settings: with `fsync` off a commit costs far less than
/// on a real disk, which the figures must say.
pub(crate) async fn server_facts(admin: &PgPool) -> anyhow::Result<Vec<(String, String)>> {
    let mut facts = Vec::new();
    let version: String = sqlx::query_scalar("SHOW server_version")
        .fetch_one(admin)
        .await
        .context("while asking the server's version")?;
    facts.push(("server_version".to_owned(), version));
    for setting in ["fsync", "synchronous_commit", "full_page_writes"] {
        let value: String = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SHOW {setting}")))
            .fetch_one(admin)
            .await
            .with_context(|| format!("while asking the server's {setting}"))?;
        facts.push((setting.to_owned(), value));
    }
    Ok(facts)
}
