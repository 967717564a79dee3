//! Where things stand: the end offset of every input partition on the broker, and the next
//! offset the projector has stored for it in `projector_offsets` (in the same transaction as
//! the rows, so "stored next offset ≥ n" means "every record below n is visible in SQL").

use anyhow::Context;
use rdkafka::consumer::{BaseConsumer, Consumer};
use shop_platform::kafka::{KafkaSettings, TracingContext};
use std::collections::BTreeMap;
use std::time::Duration;

/// A topic and partition.
pub(crate) type Partition = (String, i32);

/// An offset per partition: ends on the broker, or next offsets in the database.
pub(crate) type Positions = BTreeMap<Partition, i64>;

/// The end offset (high watermark) of every partition of `topics`.
pub(crate) async fn end_offsets(
    kafka: &KafkaSettings,
    topics: &[String],
    partitions: i32,
    timeout: Duration,
) -> anyhow::Result<Positions> {
    let (kafka, topics) = (kafka.clone(), topics.to_vec());
    tokio::task::spawn_blocking(move || {
        // A consumer that never subscribes: it only asks the leaders for watermarks.
        let consumer: BaseConsumer<TracingContext> = kafka
            .consumer("projector-bench-watermarks")
            .create_with_context(TracingContext)
            .context("while creating a consumer to read end offsets")?;
        let mut ends = Positions::new();
        for topic in &topics {
            for partition in 0..partitions {
                let (_, high) = consumer
                    .fetch_watermarks(topic, partition, timeout)
                    .with_context(|| format!("while reading the end of {topic}/{partition}"))?;
                ends.insert((topic.clone(), partition), high);
            }
        }
        Ok(ends)
    })
    .await
    .context("the end-offset reader failed")?
}

/// The next offsets `group` has stored. Runtime-checked SQL, so the bench adds nothing to the
/// crate's offline query metadata.
pub(crate) async fn stored<'e, E>(db: E, group: &str) -> anyhow::Result<Positions>
where
    E: sqlx::PgExecutor<'e>,
{
    let rows: Vec<(String, i32, i64)> = sqlx::query_as(
        "SELECT topic, partition, next_offset FROM projector_offsets WHERE group_id = $1",
    )
    .bind(group)
    .fetch_all(db)
    .await
    .context("while reading projector_offsets")?;
    Ok(rows
        .into_iter()
        .map(|(topic, partition, next)| ((topic, partition), next))
        .collect())
}

/// Records below `ends` that `stored` does not cover yet (a partition without a row is at 0).
pub(crate) fn behind(ends: &Positions, stored: &Positions) -> i64 {
    ends.iter()
        .map(|(partition, end)| (end - stored.get(partition).copied().unwrap_or(0)).max(0))
        .sum()
}

/// Records in `ends` (every topic starts at offset 0: the bench's topics are fresh).
pub(crate) fn total(ends: &Positions) -> i64 {
    ends.values().sum()
}
