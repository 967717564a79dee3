//! The broker's side of lag: partitions of each topic, and each partition's log-start offset,
//! high watermark and last stable offset, asked for all partitions at once.
//!
//! librdkafka's `offsets_for_times` sends one `ListOffsets` request per leader for a whole
//! partition list, with the special timestamps -2 (earliest) and -1 (latest), and under the
//! client's `isolation.level`: a `read_committed` client is told the *last stable offset* for
//! "latest", a `read_uncommitted` one the high watermark. So two clients give both ends.

use anyhow::Context as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use shop_platform::kafka::{KafkaSettings, TracingContext};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

/// A topic and partition.
pub type Partition = (String, i32);

/// How often kept partition lists are asked for again.
const METADATA_REFRESH: Duration = Duration::from_secs(30);

/// How often group memberships are asked for again.
const MEMBERSHIP_REFRESH: Duration = Duration::from_secs(10);

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
pub struct OffsetClients {
    uncommitted: Arc<BaseConsumer<TracingContext>>,
    committed: Arc<BaseConsumer<TracingContext>>,
    timeout: Duration,
    /// Kept partition lists, and when they were last all refreshed.
    partitions: BTreeMap<String, Vec<i32>>,
    metadata_at: Option<std::time::Instant>,
    /// Kept group memberships, and when they were asked for.
    memberships: BTreeMap<String, GroupMembership>,
    memberships_at: Option<std::time::Instant>,
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
            Ok(Arc::new(
                onlooker(kafka, isolation, &[])
                    .create_with_context(TracingContext)
                    .with_context(|| format!("creating the {isolation} offsets client"))?,
            ))
        };
        Ok(Self {
            uncommitted: client("read_uncommitted")?,
            committed: client("read_committed")?,
            timeout,
            partitions: BTreeMap::new(),
            metadata_at: None,
            memberships: BTreeMap::new(),
            memberships_at: None,
        })
    }

    /// The partitions of each of `topics` that exists (a deleted topic is left out).
    ///
    /// Partition counts change rarely, and a cluster's full metadata can be large (every topic
    /// of every team), so answers are kept: a topic not seen before is asked for on its own, and
    /// the kept ones are refreshed together every [`METADATA_REFRESH`].
    ///
    /// # Errors
    /// The metadata does not arrive in time.
    pub async fn partitions(
        &mut self,
        topics: BTreeSet<String>,
    ) -> anyhow::Result<BTreeMap<String, Vec<i32>>> {
        let stale = self
            .metadata_at
            .is_none_or(|at| at.elapsed() >= METADATA_REFRESH);
        let wanted: Vec<String> = if stale {
            topics.iter().cloned().collect()
        } else {
            topics
                .iter()
                .filter(|topic| !self.partitions.contains_key(*topic))
                .cloned()
                .collect()
        };
        if !wanted.is_empty() {
            let client = Arc::clone(&self.uncommitted);
            let timeout = self.timeout;
            let found = blocking(move || {
                let mut found = BTreeMap::new();
                for topic in wanted {
                    let metadata = client
                        .fetch_metadata(Some(&topic), timeout)
                        .with_context(|| format!("reading the metadata of {topic}"))?;
                    let partitions: Option<Vec<i32>> = metadata
                        .topics()
                        .iter()
                        .find(|found| found.name() == topic && found.error().is_none())
                        .map(|found| {
                            let mut ids: Vec<i32> =
                                found.partitions().iter().map(|p| p.id()).collect();
                            ids.sort_unstable();
                            ids
                        });
                    found.insert(topic, partitions);
                }
                Ok(found)
            })
            .await?;
            for (topic, partitions) in found {
                match partitions {
                    Some(ids) if !ids.is_empty() => {
                        self.partitions.insert(topic, ids);
                    }
                    _ => {
                        self.partitions.remove(&topic);
                    }
                }
            }
            if stale {
                self.metadata_at = Some(std::time::Instant::now());
            }
        }
        self.partitions.retain(|topic, _| topics.contains(topic));
        Ok(self.partitions.clone())
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

    /// State and member count of each of `groups`, asked for one group at a time (listing
    /// every group of the cluster means describing every one of them) and at most every
    /// [`MEMBERSHIP_REFRESH`]; between refreshes the kept answers are returned. A group the
    /// coordinator does not answer for is left out.
    pub async fn memberships(
        &mut self,
        groups: &BTreeSet<String>,
    ) -> BTreeMap<String, GroupMembership> {
        let due = self
            .memberships_at
            .is_none_or(|at| at.elapsed() >= MEMBERSHIP_REFRESH)
            || groups
                .iter()
                .any(|group| !self.memberships.contains_key(group));
        if due {
            let client = Arc::clone(&self.uncommitted);
            let timeout = self.timeout;
            let wanted: Vec<String> = groups.iter().cloned().collect();
            let answered = blocking(move || {
                let mut answered = BTreeMap::new();
                for group in wanted {
                    match client.fetch_group_list(Some(&group), timeout) {
                        Ok(list) => {
                            if let Some(found) = list.groups().iter().find(|g| g.name() == group) {
                                answered.insert(
                                    group,
                                    GroupMembership {
                                        state: found.state().to_owned(),
                                        members: found.members().len(),
                                    },
                                );
                            }
                        }
                        Err(error) => {
                            tracing::debug!(%error, group, "no membership for the group");
                        }
                    }
                }
                Ok(answered)
            })
            .await;
            match answered {
                Ok(answered) => {
                    self.memberships = answered;
                    self.memberships_at = Some(std::time::Instant::now());
                }
                Err(error) => tracing::debug!(error = format!("{error:#}"), "no memberships"),
            }
        }
        self.memberships
            .iter()
            .filter(|(group, _)| groups.contains(*group))
            .map(|(group, membership)| (group.clone(), membership.clone()))
            .collect()
    }
}

/// The configuration of a client that only looks: it assigns partitions itself and never joins
/// a group or commits (librdkafka wants a group id to assign at all; this one is never used).
/// `settings` come on top, and the operator's overrides last.
pub(crate) fn onlooker(
    kafka: &KafkaSettings,
    isolation: &str,
    settings: &[(&str, &str)],
) -> ClientConfig {
    let mut config = kafka.admin();
    config
        .set("isolation.level", isolation)
        .set("enable.auto.commit", "false")
        .set("group.id", "shop-monitor-unused");
    for (key, value) in settings {
        config.set(*key, *value);
    }
    for (key, value) in &kafka.overrides {
        config.set(key, value);
    }
    config
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
