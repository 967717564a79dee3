//! One relay of the baseline chain: reads every partition of one topic and writes each record,
//! key and value unchanged, to the next. It is what a processor does with the business taken
//! out, so the chain measures what the broker and the client library cost per hop.
//!
//! Each relay runs on its own thread with blocking rdkafka calls, as the processors' runtime
//! does. The partition is kept (same key, same partition count, murmur2), so per-key order
//! holds along the chain as it does in the pipeline.

use super::BaselineError;
use crate::config::RelayMode;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use shop_platform::kafka::{KafkaSettings, TracingContext};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long one poll waits for a record before the stop flag is looked at again.
const POLL: Duration = Duration::from_millis(20);
/// Bound on each transaction call.
const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(30);

/// Counters every relay shares with the run.
#[derive(Debug, Default)]
pub(crate) struct RelayCounters {
    pub(crate) committed: AtomicU64,
    pub(crate) aborted: AtomicU64,
}

/// What a relay is told.
#[derive(Debug, Clone)]
pub(crate) struct RelaySpec {
    pub(crate) kafka: KafkaSettings,
    pub(crate) mode: RelayMode,
    pub(crate) from: String,
    pub(crate) to: String,
    pub(crate) partitions: i32,
    /// Names its group and transactional id.
    pub(crate) name: String,
    pub(crate) batch_max_records: usize,
    pub(crate) batch_linger: Duration,
}

/// Creates the relay's clients (failing early if it cannot), then runs it on its own thread
/// until `stop` is set.
///
/// # Errors
/// [`BaselineError`] if a client cannot be created or the transactions not initialised.
pub(crate) fn start(
    spec: RelaySpec,
    stop: Arc<AtomicBool>,
    counters: Arc<RelayCounters>,
) -> Result<std::thread::JoinHandle<Result<(), BaselineError>>, BaselineError> {
    let consumer: BaseConsumer<TracingContext> = spec
        .kafka
        .consumer(&spec.name)
        .create_with_context(TracingContext)
        .map_err(|source| BaselineError::kafka("creating a relay consumer", source))?;
    let mut assignment = TopicPartitionList::new();
    for partition in 0..spec.partitions {
        assignment
            .add_partition_offset(&spec.from, partition, Offset::Beginning)
            .map_err(|source| BaselineError::kafka("listing a relay's partitions", source))?;
    }
    // Assigned, not subscribed: the topics are new and read whole, so no group join (and its
    // rebalance delay) is needed. The group id still names the offsets a transactional relay
    // commits.
    consumer
        .assign(&assignment)
        .map_err(|source| BaselineError::kafka("assigning a relay's partitions", source))?;
    let producer_config = match spec.mode {
        RelayMode::Plain => spec.kafka.producer(),
        RelayMode::Transactional => spec.kafka.transactional_producer(&spec.name),
    };
    let producer: BaseProducer<TracingContext> = producer_config
        .create_with_context(TracingContext)
        .map_err(|source| BaselineError::kafka("creating a relay producer", source))?;
    if spec.mode == RelayMode::Transactional {
        producer
            .init_transactions(TRANSACTION_TIMEOUT)
            .map_err(|source| {
                BaselineError::kafka("initialising a relay's transactions", source)
            })?;
    }
    let relay = Relay {
        spec,
        consumer,
        producer,
        stop,
        counters,
    };
    std::thread::Builder::new()
        .name(format!("relay-{}", relay.spec.to))
        .spawn(move || match relay.spec.mode {
            RelayMode::Plain => relay.run_plain(),
            RelayMode::Transactional => relay.run_transactional(),
        })
        .map_err(|error| BaselineError::Thread(error.to_string()))
}

struct Relay {
    spec: RelaySpec,
    consumer: BaseConsumer<TracingContext>,
    producer: BaseProducer<TracingContext>,
    stop: Arc<AtomicBool>,
    counters: Arc<RelayCounters>,
}

/// The open transaction of a transactional relay.
struct Open {
    started: Instant,
    records: usize,
    /// Offset of the first record of the batch per partition, to rewind to on abort.
    first: BTreeMap<i32, i64>,
    /// Offset after the last record of the batch per partition, to commit.
    next: BTreeMap<i32, i64>,
}

impl Relay {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Produces one record, waiting while librdkafka's queue is full.
    fn send(&self, key: &[u8], payload: &[u8]) -> Result<(), BaselineError> {
        let mut record = BaseRecord::to(&self.spec.to).key(key).payload(payload);
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                    record = returned;
                    self.producer.poll(Duration::from_millis(1));
                }
                Err((source, _)) => return Err(BaselineError::kafka("relaying a record", source)),
            }
        }
    }

    /// Consume, produce, no transactions and no commits.
    fn run_plain(self) -> Result<(), BaselineError> {
        while !self.stopping() {
            match self.consumer.poll(POLL) {
                Some(Ok(message)) => self.send(
                    message.key().unwrap_or_default(),
                    message.payload().unwrap_or_default(),
                )?,
                Some(Err(error)) => tracing::warn!(%error, "relay consumer error"),
                None => {}
            }
            self.producer.poll(Duration::ZERO);
        }
        self.producer
            .flush(Duration::from_secs(10))
            .map_err(|source| BaselineError::kafka("flushing a relay", source))
    }

    /// Read-process-write: a transaction opens with a batch's first record, every record is
    /// produced into it as it is read, and it commits with the batch's offsets after
    /// `batch_max_records` records or when its first record is `batch_linger` old.
    fn run_transactional(self) -> Result<(), BaselineError> {
        let mut open: Option<Open> = None;
        while !self.stopping() {
            let wait = match &open {
                Some(batch) => self
                    .spec
                    .batch_linger
                    .saturating_sub(batch.started.elapsed())
                    .min(POLL),
                None => POLL,
            };
            if let Some(result) = self.consumer.poll(wait) {
                match result {
                    Ok(message) => {
                        if open.is_none() {
                            self.producer.begin_transaction().map_err(|source| {
                                BaselineError::kafka("beginning a relay transaction", source)
                            })?;
                            open = Some(Open {
                                started: Instant::now(),
                                records: 0,
                                first: BTreeMap::new(),
                                next: BTreeMap::new(),
                            });
                        }
                        self.send(
                            message.key().unwrap_or_default(),
                            message.payload().unwrap_or_default(),
                        )?;
                        if let Some(batch) = open.as_mut() {
                            batch.records += 1;
                            batch
                                .first
                                .entry(message.partition())
                                .or_insert(message.offset());
                            batch.next.insert(message.partition(), message.offset() + 1);
                        }
                    }
                    Err(error) => tracing::warn!(%error, "relay consumer error"),
                }
            }
            let due = open.as_ref().is_some_and(|batch| {
                batch.records >= self.spec.batch_max_records
                    || batch.started.elapsed() >= self.spec.batch_linger
            });
            if due && let Some(batch) = open.take() {
                self.commit(batch)?;
            }
        }
        if let Some(batch) = open.take() {
            self.commit(batch)?;
        }
        Ok(())
    }

    fn commit(&self, batch: Open) -> Result<(), BaselineError> {
        let mut offsets = TopicPartitionList::new();
        for (partition, offset) in &batch.next {
            offsets
                .add_partition_offset(&self.spec.from, *partition, Offset::Offset(*offset))
                .map_err(|source| BaselineError::kafka("listing offsets", source))?;
        }
        let Some(group) = self.consumer.group_metadata() else {
            return Err(BaselineError::Topics(
                "a relay consumer has no group metadata".to_owned(),
            ));
        };
        // Serve delivery reports first: rdkafka's commit flushes in whole 100 ms poll slices
        // while anything is in flight (the runtime does the same, see its `drain_deliveries`).
        let deadline = Instant::now() + TRANSACTION_TIMEOUT;
        while self.producer.in_flight_count() > 0 && Instant::now() < deadline {
            self.producer.poll(Duration::ZERO);
            std::thread::sleep(Duration::from_micros(200));
        }
        let result = self
            .producer
            .send_offsets_to_transaction(&offsets, &group, TRANSACTION_TIMEOUT)
            .and_then(|()| self.producer.commit_transaction(TRANSACTION_TIMEOUT));
        match result {
            Ok(()) => {
                self.counters.committed.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(error) if requires_abort(&error) => {
                tracing::warn!(%error, "relay transaction failed; aborting and replaying");
                self.producer
                    .abort_transaction(TRANSACTION_TIMEOUT)
                    .map_err(|source| {
                        BaselineError::kafka("aborting a relay transaction", source)
                    })?;
                self.counters.aborted.fetch_add(1, Ordering::Relaxed);
                for (partition, offset) in batch.first {
                    self.consumer
                        .seek(
                            &self.spec.from,
                            partition,
                            Offset::Offset(offset),
                            TRANSACTION_TIMEOUT,
                        )
                        .map_err(|source| BaselineError::kafka("rewinding a relay", source))?;
                }
                Ok(())
            }
            Err(source) => Err(BaselineError::kafka(
                "committing a relay transaction",
                source,
            )),
        }
    }
}

/// A transaction call failed in a way that aborting and replaying the batch fixes (the
/// runtime's rule, `processors/src/runtime/error.rs`).
fn requires_abort(error: &KafkaError) -> bool {
    match error {
        KafkaError::Transaction(inner) => inner.txn_requires_abort() || inner.is_retriable(),
        _ => false,
    }
}
