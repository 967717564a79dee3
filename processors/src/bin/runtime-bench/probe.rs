//! Watching a variant while it runs: delivery reports, the gaps between records handed over,
//! the runtime group's committed offsets, and the `read_committed` count of its output.

use crate::plan::Variant;
use crate::report::Sample;
use crate::{ends_total, remaining};
use anyhow::{Context, bail, ensure};
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{Offset, TopicPartitionList};
use shop_platform::kafka::{KafkaSettings, TracingContext};
use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A gap this long between two consecutive records handed over is counted as a stall: with the
/// whole input already on the broker, such gaps are the loop doing something other than moving
/// records (mostly committing a transaction).
const STALL: Duration = Duration::from_millis(5);

/// How often the runtime group's committed offsets are read while an EOS variant runs: short
/// against the seconds a variant takes, long enough that the reads cost the broker nothing.
const COMMIT_POLL_EVERY: Duration = Duration::from_millis(20);

/// Counts a producer's delivery reports, so a variant knows when every record is acknowledged
/// without `flush` (whose poll slices would blur the end of the measurement).
#[derive(Debug, Default)]
pub(crate) struct Deliveries {
    delivered: AtomicUsize,
    failed: AtomicUsize,
    first_error: Mutex<Option<String>>,
}

impl Deliveries {
    fn delivered(&self) -> usize {
        self.delivered.load(Ordering::Relaxed)
    }

    fn failed(&self) -> usize {
        self.failed.load(Ordering::Relaxed)
    }

    fn first_error(&self) -> String {
        let slot = match self.first_error.lock() {
            Ok(slot) => slot,
            Err(poisoned) => poisoned.into_inner(),
        };
        slot.clone().unwrap_or_else(|| "none".to_owned())
    }
}

impl ClientContext for Deliveries {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        TracingContext.log(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        TracingContext.error(error, reason);
    }
}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: Self::DeliveryOpaque) {
        match result {
            Ok(_) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((error, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                let mut slot = match self.first_error.lock() {
                    Ok(slot) => slot,
                    Err(poisoned) => poisoned.into_inner(),
                };
                slot.get_or_insert_with(|| error.to_string());
            }
        }
    }
}

/// Sends `record`, serving delivery reports while librdkafka's queue is full.
pub(crate) fn send_with_backpressure(
    producer: &BaseProducer<Deliveries>,
    mut record: BaseRecord<'_, [u8], [u8]>,
    deadline: Instant,
) -> anyhow::Result<()> {
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                ensure!(
                    Instant::now() < deadline,
                    "the producer queue stayed full until the deadline"
                );
                record = returned;
                producer.poll(Duration::from_millis(1));
            }
            Err((error, _)) => return Err(error).context("while producing a record"),
        }
    }
}

/// Serves delivery reports until `expected` arrived; fails on the first failed delivery.
pub(crate) fn wait_for_deliveries(
    producer: &BaseProducer<Deliveries>,
    expected: usize,
    deadline: Instant,
) -> anyhow::Result<()> {
    loop {
        let deliveries = producer.context();
        ensure!(
            deliveries.failed() == 0,
            "{} deliveries failed, the first with: {}",
            deliveries.failed(),
            deliveries.first_error()
        );
        if deliveries.delivered() >= expected {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "only {} of {expected} records were acknowledged before the deadline",
            deliveries.delivered()
        );
        // BaseProducer::poll waits out its whole timeout, so keep it short: it bounds how late
        // the last acknowledgement is seen.
        producer.poll(Duration::from_millis(1));
    }
}

/// Time between records handed over, to see how long the loop spends elsewhere.
#[derive(Debug, Default)]
pub(crate) struct Probe {
    state: Mutex<ProbeState>,
}

#[derive(Debug, Default, Clone, Copy)]
struct ProbeState {
    first: Option<Instant>,
    last: Option<Instant>,
    calls: u64,
    stalls: u64,
    stalled: Duration,
}

impl Probe {
    pub(crate) fn record(&self) {
        let now = Instant::now();
        let mut state = match self.state.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        };
        match state.last {
            Some(last) => {
                let gap = now.saturating_duration_since(last);
                if gap >= STALL {
                    state.stalls += 1;
                    state.stalled += gap;
                }
            }
            None => state.first = Some(now),
        }
        state.last = Some(now);
        state.calls += 1;
    }

    fn snapshot(&self) -> ProbeState {
        match self.state.lock() {
            Ok(state) => *state,
            Err(poisoned) => *poisoned.into_inner(),
        }
    }
}

/// A sample from a finished variant's clock and probe.
pub(crate) fn sample(
    variant: Variant,
    records: usize,
    start: Instant,
    elapsed: Duration,
    probe: &Probe,
) -> Sample {
    let seen = probe.snapshot();
    Sample {
        variant,
        round: 0,
        records,
        elapsed,
        first_record: seen
            .first
            .map(|first| first.saturating_duration_since(start)),
        handled: seen.calls,
        stalls: seen.stalls,
        stalled: seen.stalled,
    }
}

/// Waits until the runtime's group has committed `ends`.
///
/// Why committed offsets rather than counting the output with a `read_committed` reader: the
/// runtime commits the input offsets in the same transaction as the outputs they caused, so
/// "the group committed the end offsets" means "every output is committed". This consumer has
/// the runtime's group id but never subscribes, so it never joins the group; it only asks the
/// coordinator for the committed offsets. Being `read_committed`, librdkafka asks for stable
/// offsets (KIP-447): an offset of a transaction still being committed is not returned early.
/// A reader draining 100 000 records alongside would compete with the runtime for the same two
/// cores and slow what it measures; these reads cost next to nothing. What is left between the
/// two end conditions is the asynchronous write of the commit markers to the output partitions
/// (milliseconds), and the polling interval ([`COMMIT_POLL_EVERY`]).
pub(crate) fn wait_for_commits(
    kafka: &KafkaSettings,
    group: &str,
    input: &str,
    ends: &[(i32, i64)],
    deadline: Instant,
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    let consumer: BaseConsumer<TracingContext> = kafka
        .consumer(group)
        .create_with_context(TracingContext)
        .context("while creating the commit watcher")?;
    let mut wanted = TopicPartitionList::new();
    for (partition, _) in ends {
        wanted.add_partition(input, *partition);
    }
    let mut behind = ends_total(ends);
    let mut last_error = None;
    loop {
        if stop.load(Ordering::Relaxed) {
            bail!("stopped watching: the runtime ended");
        }
        let left = remaining(deadline);
        ensure!(
            !left.is_zero(),
            "the runtime's group was still {behind} records behind at the deadline \
             (last watcher error: {})",
            last_error.as_deref().unwrap_or("none")
        );
        match consumer.committed_offsets(wanted.clone(), left.min(Duration::from_secs(5))) {
            Ok(committed) => {
                behind = ends
                    .iter()
                    .map(|(partition, end)| {
                        let at = committed
                            .find_partition(input, *partition)
                            .and_then(|element| match element.offset() {
                                Offset::Offset(offset) => Some(offset),
                                _ => None,
                            })
                            .unwrap_or(0);
                        usize::try_from(end - at).unwrap_or(0)
                    })
                    .sum();
                if behind == 0 {
                    return Ok(());
                }
            }
            Err(error) => last_error = Some(error.to_string()),
        }
        std::thread::sleep(COMMIT_POLL_EVERY);
    }
}

/// The verifying reader's context: like [`TracingContext`], but quiet about reaching the end of
/// a partition, which that reader asks to be told about and expects.
#[derive(Debug, Clone, Copy, Default)]
struct VerifyContext;

impl ClientContext for VerifyContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        TracingContext.log(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if error.rdkafka_error_code() != Some(RDKafkaErrorCode::PartitionEOF) {
            TracingContext.error(error, reason);
        }
    }
}

impl ConsumerContext for VerifyContext {}

/// Counts what a `read_committed` reader sees in `topic`: reads every partition to its end and
/// keeps reading until `expected` arrived, so both missing and duplicated records show.
pub(crate) fn count_committed(
    kafka: &KafkaSettings,
    group: &str,
    topic: &str,
    partitions: i32,
    expected: usize,
    timeout: Duration,
) -> anyhow::Result<usize> {
    let mut config = kafka.consumer(group);
    config.set("enable.partition.eof", "true");
    let consumer: BaseConsumer<VerifyContext> = config
        .create_with_context(VerifyContext)
        .context("while creating the verifying reader")?;
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions {
        assignment
            .add_partition_offset(topic, partition, Offset::Beginning)
            .context("while listing partitions to verify")?;
    }
    consumer
        .assign(&assignment)
        .context("while assigning the verifying reader")?;
    let deadline = Instant::now() + timeout;
    let mut counted = 0;
    let mut at_end: HashSet<i32> = HashSet::new();
    loop {
        let all_at_end = usize::try_from(partitions).is_ok_and(|count| at_end.len() == count);
        if all_at_end && counted >= expected {
            return Ok(counted);
        }
        ensure!(
            Instant::now() < deadline,
            "verifying {topic}: {counted} of {expected} records seen before the deadline \
             ({} of {partitions} partitions at their end)",
            at_end.len()
        );
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Err(KafkaError::PartitionEOF(partition))) => {
                at_end.insert(partition);
            }
            Some(Err(error)) => return Err(error).context("while verifying the output"),
            Some(Ok(message)) => {
                counted += 1;
                at_end.remove(&message.partition());
            }
        }
    }
}
