//! Looks at the first record a group has yet to read: its offset and its timestamp.
//!
//! This is what makes lag honest about transactions and time:
//! - **Markers.** A transactional producer ends each transaction with a control record (a
//!   *marker*) that takes an offset but is never delivered. A consumer that has read everything
//!   commits the marker's offset, one below the end, so `end - committed` says 1 forever. Read
//!   under `read_committed` from the committed offset, the partition either yields its next
//!   real record (whose offset is where the group's work starts) or reaches its end without
//!   one: then the group is caught up, and its lag is 0.
//! - **Seconds.** The record's timestamp says how long the oldest unconsumed record has been
//!   waiting, exactly, without a history of offsets to interpolate from (which a freshly started
//!   monitor would not have). The cost is one small fetch per lagging partition whose committed
//!   offset moved since the last probe; the answer for an unchanged offset is kept.
//!
//! `PartitionEOF` names only the partition, so each round reads one topic, and within a
//! budget: rounds past it fall back to offset arithmetic for that sample.

use crate::offsets::{Partition, onlooker};
use anyhow::Context as _;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use shop_platform::kafka::{KafkaSettings, TracingContext};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// What reading from an offset found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// The first readable record at or after the offset.
    Record {
        offset: i64,
        /// Its timestamp (epoch millis), if it has one.
        timestamp_ms: Option<i64>,
    },
    /// Nothing readable before the end (only markers or aborted records): caught up.
    AtEnd,
    /// The broker did not answer in time; lag falls back to offset arithmetic.
    Unknown,
}

/// One probe to make: read `partition` from `from`, whose readable end is `end`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeRequest {
    pub partition: Partition,
    pub from: i64,
    pub end: i64,
}

/// A kept answer and what it was asked.
#[derive(Debug, Clone, Copy)]
struct Kept {
    end: i64,
    probe: Probe,
}

/// The probing consumer and its answers.
pub struct Prober {
    consumer: Arc<StreamConsumer<TracingContext>>,
    timeout: Duration,
    kept: HashMap<(Partition, i64), Kept>,
    /// Where the next sample's rounds start.
    next_round: usize,
    /// Partitions assigned to the consumer (paused between rounds).
    assigned: HashSet<Partition>,
}

impl std::fmt::Debug for Prober {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Prober")
            .field("timeout", &self.timeout)
            .field("kept", &self.kept.len())
            .finish_non_exhaustive()
    }
}

impl Prober {
    /// A `read_committed` consumer that reads small fetches and reports partition ends.
    ///
    /// # Errors
    /// librdkafka refuses the configuration.
    pub fn new(kafka: &KafkaSettings, timeout: Duration) -> anyhow::Result<Self> {
        let config = onlooker(
            kafka,
            "read_committed",
            &[
                ("enable.partition.eof", "true"),
                ("fetch.wait.max.ms", "10"),
                ("max.partition.fetch.bytes", "65536"),
                ("queued.max.messages.kbytes", "4096"),
            ],
        );
        Ok(Self {
            consumer: Arc::new(
                config
                    .create_with_context(TracingContext)
                    .context("creating the record prober")?,
            ),
            timeout,
            kept: HashMap::new(),
            next_round: 0,
            assigned: HashSet::new(),
        })
    }

    /// Answers every request, from what is kept where the question has not changed, reading
    /// for at most about `budget`.
    ///
    /// An answer found at `from` stays true while `from` does (records do not change); an
    /// end-of-partition answer only while the end does too. Two groups on one partition at
    /// different offsets are two requests, read in two rounds.
    pub async fn probe(
        &mut self,
        requests: &[ProbeRequest],
        budget: Duration,
    ) -> BTreeMap<(Partition, i64), Probe> {
        let mut answers = BTreeMap::new();
        // topic -> round -> requests, each partition at most once per round.
        let mut rounds: BTreeMap<&str, Vec<Vec<&ProbeRequest>>> = BTreeMap::new();
        let mut asked: BTreeMap<&Partition, usize> = BTreeMap::new();
        for request in requests {
            let key = (request.partition.clone(), request.from);
            if answers.contains_key(&key) {
                continue;
            }
            let kept = self.kept.get(&key).filter(|kept| match kept.probe {
                Probe::Record { offset, .. } => offset < request.end,
                Probe::AtEnd => kept.end == request.end,
                Probe::Unknown => false,
            });
            if let Some(kept) = kept {
                answers.insert(key, kept.probe);
                continue;
            }
            let round = asked.entry(&request.partition).or_default();
            let topic_rounds = rounds.entry(request.partition.0.as_str()).or_default();
            if topic_rounds.len() <= *round {
                topic_rounds.push(Vec::new());
            }
            topic_rounds[*round].push(request);
            *round += 1;
        }
        self.assign_new(requests);
        // Rounds past the budget answer `Unknown`; the next sample starts where this one
        // stopped, so with many lagging topics every one is read in turn.
        let mut all_rounds: Vec<(&str, Vec<&ProbeRequest>)> = rounds
            .into_iter()
            .flat_map(|(topic, topic_rounds)| {
                topic_rounds.into_iter().map(move |round| (topic, round))
            })
            .collect();
        let start = self.next_round % all_rounds.len().max(1);
        all_rounds.rotate_left(start);
        let started = Instant::now();
        let mut done = 0;
        for (topic, round) in &all_rounds {
            if started.elapsed() >= budget {
                break;
            }
            let round_started = Instant::now();
            let found = self.probe_topic(topic, round).await;
            tracing::trace!(
                topic,
                partitions = round.len(),
                answered = found.len(),
                took_ms = round_started.elapsed().as_millis(),
                "probe round"
            );
            for request in round {
                let probe = found
                    .get(&request.partition.1)
                    .copied()
                    .unwrap_or(Probe::Unknown);
                let key = (request.partition.clone(), request.from);
                self.kept.insert(
                    key.clone(),
                    Kept {
                        end: request.end,
                        probe,
                    },
                );
                answers.insert(key, probe);
            }
            done += 1;
        }
        if done < all_rounds.len() {
            tracing::debug!(
                rounds = all_rounds.len(),
                done,
                "probe budget spent; the rest of the lagging partitions fall back to offsets"
            );
        }
        self.next_round = start + done;
        for (_, round) in &all_rounds[done..] {
            for request in round {
                answers.insert((request.partition.clone(), request.from), Probe::Unknown);
            }
        }
        // Keep only what may be asked again: the answers to this sample's questions.
        self.kept.retain(|key, _| answers.contains_key(key));
        answers
    }

    /// Assigns, paused, every requested partition not assigned yet, all in one call.
    ///
    /// librdkafka applies assignment changes on its one-second group timer: assigning per
    /// round cost a second a round. Assigned once, a partition is moved with seeks from then
    /// on; one that is not started yet when its round comes answers `Unknown` that sample.
    fn assign_new(&mut self, requests: &[ProbeRequest]) {
        let mut fresh = TopicPartitionList::new();
        let mut added = Vec::new();
        for request in requests {
            if self.assigned.contains(&request.partition) || added.contains(&request.partition) {
                continue;
            }
            let (topic, partition) = &request.partition;
            if fresh
                .add_partition_offset(topic, *partition, Offset::Offset(request.from))
                .is_ok()
            {
                added.push(request.partition.clone());
            }
        }
        if added.is_empty() {
            return;
        }
        let assigned = self
            .consumer
            .incremental_assign(&fresh)
            .and_then(|()| self.consumer.pause(&fresh));
        match assigned {
            Ok(()) => self.assigned.extend(added),
            Err(error) => tracing::warn!(%error, "cannot assign partitions to probe"),
        }
    }

    /// Moves the partitions in `positions` to their offsets and resumes them; `false` when
    /// they cannot be moved within the timeout.
    ///
    /// The seek waits for librdkafka's answer per partition: a partition assigned a moment ago
    /// is not started until the group timer runs (within a second), and seeking it then fails
    /// with a state error, which is retried rather than read as "no answer".
    async fn seek(&self, topic: &str, positions: &TopicPartitionList) -> bool {
        let deadline = Instant::now() + self.timeout;
        loop {
            let consumer = Arc::clone(&self.consumer);
            let list = positions.clone();
            let seeked = tokio::task::spawn_blocking(move || {
                consumer.seek_partitions(list, Duration::from_secs(1))
            })
            .await;
            let failed = match seeked {
                Ok(Ok(result)) => result
                    .elements()
                    .iter()
                    .filter_map(|element| element.error().err())
                    .next(),
                Ok(Err(error)) => Some(error),
                Err(error) => {
                    tracing::warn!(%error, "the seek task panicked");
                    return false;
                }
            };
            match failed {
                None => break,
                Some(error) if Instant::now() >= deadline => {
                    tracing::debug!(%error, topic, "cannot move the prober");
                    return false;
                }
                Some(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        match self.consumer.resume(positions) {
            Ok(()) => true,
            Err(error) => {
                tracing::debug!(%error, topic, "cannot resume the prober");
                false
            }
        }
    }

    /// One round: point the topic's partitions at their offsets and read until each has
    /// given a record or its end, or the timeout; then pause them.
    ///
    /// The partitions were assigned (paused) by [`Self::assign_new`]; a round moves them with a
    /// seek and resumes them, which takes effect at once.
    async fn probe_topic(
        &mut self,
        topic: &str,
        requests: &[&ProbeRequest],
    ) -> BTreeMap<i32, Probe> {
        let mut found = BTreeMap::new();
        let mut known = TopicPartitionList::new();
        for request in requests {
            if let Err(error) =
                known.add_partition_offset(topic, request.partition.1, Offset::Offset(request.from))
            {
                tracing::warn!(%error, topic, "cannot probe a partition");
            }
        }
        if known.count() > 0 && !self.seek(topic, &known).await {
            return found;
        }
        let from: BTreeMap<i32, i64> = requests
            .iter()
            .map(|request| (request.partition.1, request.from))
            .collect();
        let deadline = Instant::now() + self.timeout;
        while found.len() < from.len() {
            let next = tokio::time::timeout_at(deadline, self.consumer.recv()).await;
            match next {
                Err(_elapsed) => {
                    tracing::debug!(topic, answered = found.len(), "probe timed out");
                    break;
                }
                Ok(Ok(message)) => {
                    let partition = message.partition();
                    // A record left over from an earlier round of this topic is older than
                    // what is asked now; only the first one at or after `from` answers.
                    let wanted = message.topic() == topic
                        && from
                            .get(&partition)
                            .is_some_and(|from| message.offset() >= *from);
                    if wanted {
                        found.entry(partition).or_insert(Probe::Record {
                            offset: message.offset(),
                            timestamp_ms: message.timestamp().to_millis(),
                        });
                    }
                }
                Ok(Err(KafkaError::PartitionEOF(partition))) => {
                    if from.contains_key(&partition) {
                        found.entry(partition).or_insert(Probe::AtEnd);
                    }
                }
                Ok(Err(error)) => {
                    tracing::debug!(%error, topic, "probe read failed");
                    break;
                }
            }
        }
        // Stop fetching until the next round asks again.
        let mut round = TopicPartitionList::new();
        for request in requests {
            round.add_partition(topic, request.partition.1);
        }
        if let Err(error) = self.consumer.pause(&round) {
            tracing::debug!(%error, topic, "cannot pause the prober");
        }
        found
    }
}
