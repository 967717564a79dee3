//! Follows `__consumer_offsets` from its beginning into a shared [`CommitTable`].
//!
//! Read under `read_committed`, so an offset committed inside an aborted transaction (a
//! processor's `send_offsets_to_transaction` that never committed) is never seen. The table is
//! *ready* once every partition of the log has been read to its end once: before that, the
//! monitor would judge groups on half their history.

use crate::commit_log::{self, CommitRecord};
use crate::commits::CommitTable;
use crate::offsets::onlooker;
use anyhow::Context as _;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use shop_platform::kafka::{KafkaSettings, TracingContext};
use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The commit table, shared between the tail (the only writer) and the sampler.
pub type SharedCommits = Arc<Mutex<CommitTable>>;

/// Runs `f` on the table; a panic elsewhere while holding the lock cannot leave it half
/// updated (each `apply` is one insert or remove), so a poisoned lock is still usable.
pub fn with_table<T>(commits: &SharedCommits, f: impl FnOnce(&mut CommitTable) -> T) -> T {
    let mut table = commits.lock().unwrap_or_else(PoisonError::into_inner);
    f(&mut table)
}

/// A consumer of `__consumer_offsets` with every partition assigned from the beginning.
pub struct CommitTail {
    consumer: StreamConsumer<TracingContext>,
    partitions: usize,
}

impl std::fmt::Debug for CommitTail {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("CommitTail")
            .field("partitions", &self.partitions)
            .finish_non_exhaustive()
    }
}

impl CommitTail {
    /// Connects and assigns every partition of the log.
    ///
    /// # Errors
    /// The client cannot be made, or the log's metadata does not arrive in `timeout`.
    pub async fn connect(kafka: &KafkaSettings, timeout: Duration) -> anyhow::Result<Self> {
        let config = onlooker(
            kafka,
            "read_committed",
            &[
                ("enable.partition.eof", "true"),
                ("auto.offset.reset", "earliest"),
                ("fetch.wait.max.ms", "100"),
            ],
        );
        let consumer: StreamConsumer<TracingContext> =
            config
                .create_with_context(TracingContext)
                .context("creating the __consumer_offsets reader")?;
        let consumer = tokio::task::spawn_blocking(move || {
            let metadata = consumer
                .fetch_metadata(Some(commit_log::TOPIC), timeout)
                .with_context(|| format!("reading the metadata of {}", commit_log::TOPIC))?;
            let mut assignment = TopicPartitionList::new();
            for topic in metadata.topics() {
                for partition in topic.partitions() {
                    assignment.add_partition_offset(
                        commit_log::TOPIC,
                        partition.id(),
                        Offset::Beginning,
                    )?;
                }
            }
            anyhow::ensure!(
                assignment.count() > 0,
                "{} has no partitions yet (no group has ever committed); retry later",
                commit_log::TOPIC
            );
            consumer
                .assign(&assignment)
                .context("assigning __consumer_offsets")?;
            Ok::<_, anyhow::Error>((consumer, assignment.count()))
        })
        .await
        .context("the metadata task panicked")??;
        Ok(Self {
            consumer: consumer.0,
            partitions: consumer.1,
        })
    }

    /// Applies records to `commits` until `shutdown`; sends `true` on `ready` once every
    /// partition has been read to its end.
    pub async fn run(
        self,
        commits: SharedCommits,
        ready: watch::Sender<bool>,
        shutdown: CancellationToken,
    ) {
        let mut at_end = HashSet::new();
        let mut undecodable = 0_u64;
        loop {
            let message = tokio::select! {
                () = shutdown.cancelled() => return,
                message = self.consumer.recv() => message,
            };
            match message {
                Ok(message) => match commit_log::decode(message.key(), message.payload()) {
                    Ok(CommitRecord::Other) => {}
                    Ok(record) => with_table(&commits, |table| table.apply(record)),
                    Err(error) => {
                        undecodable += 1;
                        // Once per power of two: a newer broker format must be noticed, not
                        // flood the log.
                        if undecodable.is_power_of_two() {
                            tracing::warn!(
                                %error,
                                partition = message.partition(),
                                offset = message.offset(),
                                undecodable,
                                "skipping an undecodable __consumer_offsets record"
                            );
                        }
                    }
                },
                Err(KafkaError::PartitionEOF(partition)) => {
                    if at_end.insert(partition) && at_end.len() == self.partitions {
                        tracing::info!(
                            partitions = self.partitions,
                            "read __consumer_offsets to its end"
                        );
                        ready.send_replace(true);
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "reading __consumer_offsets");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }
}
