//! Topics, a database and a stream for one projector test, and ways to watch the tables.

use crate::stream::Stream;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use shop_platform::database::{self, DatabaseSettings};
use shop_platform::kafka::TracingContext;
use shop_platform::testing;
use shop_readmodel::projector::{self, ProjectorConfig};
use shop_schemas::codec::Part;
use shop_schemas::{AvroCodec, AvroRecord, Registration, RegistryConfig};
use shop_topics::{Layout, TopicNames};
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub(crate) const PARTITIONS: i32 = 3;

/// The tables, as JSON text per table in key order: two databases with the same snapshot
/// hold the same rows.
pub(crate) const TABLES: [(&str, &str); 8] = [
    ("products", "product_id"),
    ("carts", "user_id"),
    ("cart_lines", "user_id, product_id"),
    ("stock_levels", "product_id"),
    ("orders", "order_id"),
    ("order_lines", "order_id, product_id"),
    ("order_status_history", "event_id"),
    ("projector_offsets", "group_id, topic, partition"),
];

pub(crate) struct Setup {
    pub(crate) prefix: String,
    pub(crate) topics: TopicNames,
    pub(crate) codec: Arc<AvroCodec>,
}

impl Setup {
    /// Every topic under a fresh prefix, with its schemas registered.
    pub(crate) async fn new(name: &str) -> Self {
        testing::init_logs();
        let prefix = format!("{}.", testing::unique(name));
        let layout = Layout {
            prefix: prefix.clone(),
            partitions: PARTITIONS,
            ..Layout::default()
        };
        let registry = RegistryConfig {
            url: testing::registry_url(),
            timeout: Duration::from_secs(10),
        };
        shop_topics::provision(
            &testing::kafka(),
            &registry,
            &layout.specs(),
            Duration::from_secs(30),
        )
        .await
        .unwrap();
        Self {
            topics: TopicNames::with_prefix(&prefix),
            prefix,
            codec: Arc::new(AvroCodec::new(&registry, Registration::LookupOnly).unwrap()),
        }
    }

    pub(crate) fn inputs(&self) -> [&str; 5] {
        [
            &self.topics.catalog_products,
            &self.topics.cart_carts,
            &self.topics.inventory_stock,
            &self.topics.orders_orders,
            &self.topics.orders_events,
        ]
    }

    /// Produces every record of `stream`, in order per topic.
    pub(crate) async fn produce(&self, stream: &Stream) {
        let producer: FutureProducer<TracingContext> = testing::kafka()
            .producer()
            .create_with_context(TracingContext)
            .unwrap();
        tokio::join!(
            self.produce_topic(&producer, &self.topics.catalog_products, &stream.products),
            self.produce_topic(&producer, &self.topics.cart_carts, &stream.carts),
            self.produce_topic(&producer, &self.topics.inventory_stock, &stream.stock),
            self.produce_topic(&producer, &self.topics.orders_orders, &stream.orders),
            self.produce_topic(&producer, &self.topics.orders_events, &stream.events),
        );
    }

    async fn produce_topic<T: AvroRecord>(
        &self,
        producer: &FutureProducer<TracingContext>,
        topic: &str,
        records: &[(String, Option<T>)],
    ) {
        let mut encoded = Vec::with_capacity(records.len());
        for (key, value) in records {
            let key = self.codec.encode_key(topic, key).await.unwrap();
            let value = match value {
                Some(value) => Some(self.codec.encode(topic, Part::Value, value).await.unwrap()),
                None => None,
            };
            encoded.push((key, value));
        }
        // All in flight at once: `join_all` polls, and so enqueues, them in order, and the
        // idempotent producer keeps that order per partition.
        let sends = encoded.iter().map(|(key, value)| {
            let mut record = FutureRecord::<[u8], [u8]>::to(topic).key(&key[..]);
            if let Some(value) = value {
                record = record.payload(&value[..]);
            }
            producer.send(record, Duration::from_secs(30))
        });
        for result in futures::future::join_all(sends).await {
            result.map_err(|(error, _)| error).unwrap();
        }
    }

    /// The end offset of every input partition.
    pub(crate) fn end_offsets(&self) -> HashMap<(String, i32), i64> {
        let consumer: BaseConsumer<TracingContext> = testing::kafka()
            .consumer(&testing::unique("watermarks"))
            .create_with_context(TracingContext)
            .unwrap();
        let mut ends = HashMap::new();
        for topic in self.inputs() {
            for partition in 0..PARTITIONS {
                let (_, high) = consumer
                    .fetch_watermarks(topic, partition, Duration::from_secs(10))
                    .unwrap();
                ends.insert((topic.to_owned(), partition), high);
            }
        }
        ends
    }

    pub(crate) fn group(&self) -> String {
        format!("{}shop-projector", self.prefix)
    }

    /// Runs the projector in this process against `pool`.
    pub(crate) fn spawn(&self, group: &str, pool: &PgPool) -> Running {
        let shutdown = CancellationToken::new();
        let mut config = ProjectorConfig::new(group, self.topics.clone());
        config.batch_max_records = 200;
        let (codec, pool, stop) = (Arc::clone(&self.codec), pool.clone(), shutdown.clone());
        let task = tokio::spawn(async move {
            projector::run(config, &testing::kafka(), codec, pool, stop).await
        });
        Running { shutdown, task }
    }
}

pub(crate) struct Running {
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), projector::ProjectorError>>,
}

impl Running {
    pub(crate) async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
    }
}

/// A database of its own, migrated; dropped by [`drop_database`].
pub(crate) async fn database(name: &str) -> (String, PgPool) {
    let name = testing::unique(name);
    let admin = database::connect(&DatabaseSettings::new(testing::database_url()))
        .await
        .unwrap();
    // `name` is ours: letters, digits and underscores from `testing::unique`.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .unwrap();
    let settings = DatabaseSettings::new(testing::database_url())
        .with_database(&name)
        .unwrap();
    let pool = database::connect(&settings).await.unwrap();
    shop_readmodel::migrate(&pool).await.unwrap();
    (name, pool)
}

pub(crate) async fn drop_database(name: &str, pool: PgPool) {
    pool.close().await;
    let admin = database::connect(&DatabaseSettings::new(testing::database_url()))
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {name} WITH (FORCE)"
    )))
    .execute(&admin)
    .await
    .unwrap();
}

/// The next offsets the database holds for `group`.
pub(crate) async fn stored_offsets(pool: &PgPool, group: &str) -> HashMap<(String, i32), i64> {
    let rows: Vec<(String, i32, i64)> = sqlx::query_as(
        "SELECT topic, partition, next_offset FROM projector_offsets WHERE group_id = $1",
    )
    .bind(group)
    .fetch_all(pool)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(topic, partition, next)| ((topic, partition), next))
        .collect()
}

/// Waits until `group` has applied every partition up to `ends`.
pub(crate) async fn wait_caught_up(
    pool: &PgPool,
    group: &str,
    ends: &HashMap<(String, i32), i64>,
    timeout: Duration,
) {
    let deadline = Instant::now() + timeout;
    loop {
        let stored = stored_offsets(pool, group).await;
        let behind: Vec<_> = ends
            .iter()
            .filter(|(partition, end)| stored.get(*partition).copied().unwrap_or(0) < **end)
            .collect();
        if behind.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "projector still behind on {behind:?} (stored {stored:?})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every table as JSON text, rows in key order; the offsets table without its group id.
pub(crate) async fn snapshot(pool: &PgPool) -> Vec<(String, String)> {
    let mut tables = Vec::new();
    for (table, key) in TABLES {
        let select = if table == "projector_offsets" {
            "SELECT topic, partition, next_offset FROM projector_offsets t".to_owned()
        } else {
            format!("SELECT * FROM {table} t")
        };
        let json: String = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT coalesce(json_agg(r ORDER BY {key_cols})::text, '[]') FROM ({select}) r",
            key_cols = key.replace("group_id, ", ""),
        )))
        .fetch_one(pool)
        .await
        .unwrap();
        tables.push((table.to_owned(), json));
    }
    tables
}

pub(crate) async fn count(pool: &PgPool, table: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
        .fetch_one(pool)
        .await
        .unwrap()
}
