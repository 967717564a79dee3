//! The broker's side of lag: partitions of each topic, and each partition's log-start offset,
//! high watermark and last stable offset, asked for all partitions at once.
//!
//! librdkafka's `offsets_for_times` sends one `ListOffsets` request per leader for a whole
//! partition list, with the special timestamps -2 (earliest) and -1 (latest), and under the
//! client's `isolation.level`: a `read_committed` client is told the *last stable offset* for
//! "latest", a `read_uncommitted` one the high watermark. So two clients give both ends.

use anyhow::Context as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use shop_platform::kafka::{KafkaSettings, TracingContext};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

/// A topic and partition.
pub type Partition = (String, i32);

/// Where a partition's log starts and ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogOffsets {
    /// The oldest offset still in the log.
    pub log_start: i64,
    /// The offset the next record will get (includes open transactions and markers).
    pub high_watermark: i64,
    /// The end a `read_committed` consumer can read to: below every open transaction.
    pub last_stable: i64,
}

/// Clients that answer metadata, offset and group questions (blocking calls, run on the
/// blocking pool).
#[derive(Clone)]
pub struct OffsetClients {
    uncommitted: Arc<BaseConsumer<TracingContext>>,
    committed: Arc<BaseConsumer<TracingContext>>,
    timeout: Duration,
}

impl std::fmt::Debug for OffsetClients {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("OffsetClients")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// A group as the coordinator describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMembership {
    /// `Stable`, `Empty`, `PreparingRebalance`, ...
    pub state: String,
    pub members: usize,
}

impl OffsetClients {
    /// Makes both clients; nothing is sent until the first question.
    ///
    /// # Errors
    /// librdkafka refuses the configuration.
    pub fn new(kafka: &KafkaSettings, timeout: Duration) -> anyhow::Result<Self> {
        let client = |isolation: &str| -> anyhow::Result<Arc<BaseConsumer<TracingContext>>> {
            let mut config = kafka.admin();
            config
                .set("isolation.level", isolation)
                .set("enable.auto.commit", "false")
                .set("group.id", "shop-monitor-unused");
            for (key, value) in &kafka.overrides {
                config.set(key, value);
            }
            Ok(Arc::new(config.create_with_context(TracingContext).with_context(
                || format!("creating the {isolation} offsets client"),
            )?))
        };
        Ok(Self {
            uncommitted: client("read_uncommitted")?,
            committed: client("read_committed")?,
            timeout,
        })
    }

    /// The partitions of each of `topics` that exists (a deleted topic is left out).
    ///
    /// # Errors
    /// The metadata does not arrive in time.
    pub async fn partitions(
        &self,
        topics: BTreeSet<String>,
    ) -> anyhow::Result<BTreeMap<String, Vec<i32>>> {
        let client = Arc::clone(&self.uncommitted);
        let timeout = self.timeout;
        blocking(move || {
            let metadata = client
                .fetch_metadata(None, timeout)
                .context("reading the cluster's metadata")?;
            Ok(metadata
                .topics()
                .iter()
                .filter(|topic| topics.contains(topic.name()) && topic.error().is_none())
                .map(|topic| {
                    let mut partitions: Vec<i32> =
                        topic.partitions().iter().map(|partition| partition.id()).collect();
                    partitions.sort_unstable();
                    (topic.name().to_owned(), partitions)
                })
                .collect())
        })
        .await
    }

    /// Log start, high watermark and last stable offset of every partition asked for; a
    /// partition the broker gave no answer for is left out.
    ///
    /// # Errors
    /// A `ListOffsets` request fails or times out.
    pub async fn log_offsets(
        &self,
        partitions: Vec<Partition>,
    ) -> anyhow::Result<BTreeMap<Partition, LogOffsets>> {
        if partitions.is_empty() {
            return Ok(BTreeMap::new());
        }
        let uncommitted = Arc::clone(&self.uncommitted);
        let committed = Arc::clone(&self.committed);
        let timeout = self.timeout;
        blocking(move || {
            let starts = list_offsets(&uncommitted, &partitions, Offset::Beginning, timeout)
                .context("asking for log-start offsets")?;
            let ends = list_offsets(&uncommitted, &partitions, Offset::End, timeout)
                .context("asking for high watermarks")?;
            let stable = list_offsets(&committed, &partitions, Offset::End, timeout)
                .context("asking for last stable offsets")?;
            Ok(partitions
                .into_iter()
                .filter_map(|partition| {
                    let high_watermark = *ends.get(&partition)?;
                    let log_start = starts.get(&partition).copied().unwrap_or(0);
                    let last_stable = stable
                        .get(&partition)
                        .copied()
                        .unwrap_or(high_watermark)
                        .min(high_watermark);
                    Some((
                        partition,
                        LogOffsets {
                            log_start,
                            high_watermark,
                            last_stable,
                        },
                    ))
                })
                .collect())
        })
        .await
    }

    /// State and member count of every group the coordinators know.
    ///
    /// # Errors
    /// The group list does not arrive in time.
    pub async fn memberships(&self) -> anyhow::Result<BTreeMap<String, GroupMembership>> {
        let client = Arc::clone(&self.uncommitted);
        let timeout = self.timeout;
        blocking(move || {
            let groups = client
                .fetch_group_list(None, timeout)
                .context("listing consumer groups")?;
            Ok(groups
                .groups()
                .iter()
                .map(|group| {
                    (
                        group.name().to_owned(),
                        GroupMembership {
                            state: group.state().to_owned(),
                            members: group.members().len(),
                        },
                    )
                })
                .collect())
        })
        .await
    }
}

/// One batched `ListOffsets` for `at` (beginning or end) over `partitions`.
fn list_offsets(
    client: &BaseConsumer<TracingContext>,
    partitions: &[Partition],
    at: Offset,
    timeout: Duration,
) -> anyhow::Result<BTreeMap<Partition, i64>> {
    let mut request = TopicPartitionList::new();
    for (topic, partition) in partitions {
        request.add_partition_offset(topic, *partition, at)?;
    }
    let answer = client.offsets_for_times(request, timeout)?;
    Ok(answer
        .elements()
        .iter()
        .filter(|element| element.error().is_ok())
        .filter_map(|element| match element.offset() {
            Offset::Offset(offset) => {
                Some(((element.topic().to_owned(), element.partition()), offset))
            }
            _ => None,
        })
        .collect())
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .context("a blocking Kafka call panicked")?
}
