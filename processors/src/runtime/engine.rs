//! The processing loop: poll, handle, produce, commit, one transaction per batch.

use super::changelog;
use super::codec_calls;
use super::config::RuntimeConfig;
use super::dead_letter;
use super::error::RuntimeError;
use super::error::{fatal, is_fenced, is_retriable, requires_abort};
use super::handler::{Handler, HandlerError, InputRecord, Outputs, RecordContext};
use super::meters::Meters;
use super::produce;
use super::rebalance::{RebalanceContext, RebalanceEvent, TopicPartition};
use super::restore;
use super::store::Store;
use super::trace;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{BaseProducer, Producer};
use rdkafka::{Offset, TopicPartitionList};
use shop_platform::kafka::{KafkaSettings, TracingContext};
use shop_schemas::{AvroCodec, CodecError, now_millis};
use shop_topics::names::dead_letter_topic;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;

/// Runs `handler` until `shutdown` is cancelled (then finishes the open transaction and leaves
/// the group) or a fatal error.
///
/// # Errors
/// [`RuntimeError`] when the instance cannot go on: fenced by a newer instance, a fatal Kafka
/// error, state that cannot be restored, or a registry that stays away.
pub async fn run<H: Handler>(
    config: RuntimeConfig,
    kafka: KafkaSettings,
    codec: Arc<AvroCodec>,
    handler: H,
    shutdown: CancellationToken,
) -> Result<(), RuntimeError> {
    let runtime = Handle::current();
    let (done, result) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name(format!("{}-loop", config.processor))
        .spawn(move || {
            let outcome = Engine::new(config, &kafka, codec, handler, runtime)
                .and_then(|mut engine| engine.run(&shutdown));
            let _ = done.send(outcome);
        })
        .map_err(|error| RuntimeError::Thread(error.to_string()))?;
    result
        .await
        .map_err(|_| RuntimeError::Thread("it panicked".to_owned()))?
}

/// Makes a transactional call again while it fails retriably (the broker away, its coordinator
/// moving or loading, the call timed out: made again, it resumes), until it succeeds, fails
/// otherwise, or `shutdown` comes.
///
/// A commit that timed out must not be answered with an abort: it may still be completing, and
/// librdkafka refuses the abort ("Conflicting commit_transaction API call is already in
/// progress"), which stopped an instance of a chaos run during a 33 s broker restart.
fn until_not_retriable(
    doing: &str,
    shutdown: &CancellationToken,
    call: impl Fn() -> Result<(), KafkaError>,
) -> Result<(), KafkaError> {
    loop {
        match call() {
            Err(error) if is_retriable(&error) && !shutdown.is_cancelled() => {
                tracing::warn!(%error, "{doing}; trying again");
                std::thread::sleep(Duration::from_millis(200));
            }
            done => return done,
        }
    }
}

/// The longest one `init_transactions` call may block before it is made again (which resumes
/// it), so a shutdown during a long broker outage is noticed.
const INIT_TRY: Duration = Duration::from_secs(5);

/// The longest one committed-offsets request may wait, so a broker back early is noticed early.
const STABLE_OFFSETS_TRY: Duration = Duration::from_secs(5);

/// The open transaction's bookkeeping.
#[derive(Debug)]
struct OpenTransaction {
    started: Instant,
    records: usize,
    /// Offset of the first record of the batch per partition: where to rewind on abort.
    first_offsets: HashMap<TopicPartition, i64>,
    /// Offset after the last record handled per partition: what the commit stores.
    next_offsets: HashMap<TopicPartition, i64>,
}

struct Engine<H: Handler> {
    config: RuntimeConfig,
    handler: H,
    codec: Arc<AvroCodec>,
    runtime: Handle,
    kafka: KafkaSettings,
    consumer: BaseConsumer<RebalanceContext>,
    producer: BaseProducer<TracingContext>,
    /// Committed state, the open transaction's changes, and the trace headers of the record
    /// that last changed each key (for its changelog record).
    store: Store<H::State, OwnedHeaders>,
    assigned: HashSet<TopicPartition>,
    transaction: Option<OpenTransaction>,
    meters: Meters,
}

impl<H: Handler> Engine<H> {
    fn new(
        config: RuntimeConfig,
        kafka: &KafkaSettings,
        codec: Arc<AvroCodec>,
        handler: H,
        runtime: Handle,
    ) -> Result<Self, RuntimeError> {
        let mut consumer_config = kafka.consumer(&config.group_id);
        // Co-partitioning: the state of partition p is read from partition p of every input
        // topic, so one instance must own partition p of all of them. The range assignor gives
        // every member the same partition numbers of each topic (the topics have as many
        // partitions); cooperative-sticky balances each topic on its own and does not, which
        // with two instances sent an order's stock answer to the instance without the order.
        // Set after the operator's overrides on purpose: this is not a tuning knob.
        consumer_config.set("partition.assignment.strategy", "range");
        consumer_config.set(
            "session.timeout.ms",
            config.session_timeout.as_millis().to_string(),
        );
        if config.static_membership {
            consumer_config.set("group.instance.id", &config.transactional_id);
        }
        let consumer: BaseConsumer<RebalanceContext> = consumer_config
            .create_with_context(RebalanceContext::default())
            .map_err(|source| RuntimeError::Client {
                client: "consumer",
                source,
            })?;
        let producer: BaseProducer<TracingContext> = kafka
            .transactional_producer(&config.transactional_id)
            .create_with_context(TracingContext)
            .map_err(|source| RuntimeError::Client {
                client: "producer",
                source,
            })?;
        Ok(Self {
            meters: Meters::new(&config.processor),
            config,
            handler,
            codec,
            runtime,
            kafka: kafka.clone(),
            consumer,
            producer,
            store: Store::new(H::deadline),
            assigned: HashSet::new(),
            transaction: None,
        })
    }

    /// Registers the transactional id (fencing any older instance with it); `Ok(false)` if
    /// `shutdown` came first.
    ///
    /// A retriable error (the broker away, `NOT_COORDINATOR`, `COORDINATOR_LOAD_IN_PROGRESS`
    /// while a restarted broker loads its transaction log, a timeout) is waited out for as long
    /// as it lasts, in tries of at most [`INIT_TRY`] so a shutdown is noticed. An instance that
    /// gave up instead came back only at its supervisor's next restart, later than the broker:
    /// a broker restart of 37 s made three instances of a chaos run exit after 30 s.
    fn init_transactions(&self, shutdown: &CancellationToken) -> Result<bool, RuntimeError> {
        let try_for = self.config.operation_timeout.min(INIT_TRY);
        match until_not_retriable("initialising transactions", shutdown, || {
            self.producer.init_transactions(try_for)
        }) {
            Ok(()) => Ok(true),
            // Still retriable, so `until_not_retriable` stopped for the shutdown.
            Err(error) if is_retriable(&error) => Ok(false),
            Err(error) => Err(fatal("initialising transactions", error)),
        }
    }

    fn run(&mut self, shutdown: &CancellationToken) -> Result<(), RuntimeError> {
        if !self.init_transactions(shutdown)? {
            tracing::info!(processor = %self.config.processor, "shut down before the broker answered");
            return Ok(());
        }
        let topics: Vec<&str> = self
            .config
            .input_topics
            .iter()
            .map(String::as_str)
            .collect();
        self.consumer
            .subscribe(&topics)
            .map_err(|source| RuntimeError::Kafka {
                doing: "subscribing",
                source,
            })?;
        tracing::info!(processor = %self.config.processor, ?topics, "processing");

        let mut last_punctuation = Instant::now();
        while !shutdown.is_cancelled() {
            let polled = self
                .consumer
                .poll(self.poll_timeout())
                .map(|result| result.map(|m| m.detach()));
            self.apply_rebalance_events()?;
            match polled {
                Some(Ok(message)) => self.process(&message)?,
                Some(Err(error)) => tracing::warn!(%error, "consumer error"),
                None => {}
            }
            if self.transaction_due() {
                self.commit(shutdown)?;
            }
            // Deadlines are acted on between batches, never inside one that also touched the
            // same keys, so the index they come from is the committed state's.
            if self.transaction.is_none()
                && last_punctuation.elapsed() >= self.config.punctuation_interval
            {
                last_punctuation = Instant::now();
                self.fire_deadlines()?;
            }
        }

        tracing::info!(processor = %self.config.processor, "shutting down");
        if self.transaction.is_some() {
            self.commit(shutdown)?;
        }
        self.consumer.unsubscribe();
        Ok(())
    }

    /// Short enough to commit a batch on time, long enough not to spin when idle.
    fn poll_timeout(&self) -> Duration {
        match &self.transaction {
            Some(open) => self
                .config
                .batch_linger
                .saturating_sub(open.started.elapsed())
                .max(Duration::from_millis(1)),
            None => Duration::from_millis(100),
        }
    }

    fn transaction_due(&self) -> bool {
        self.transaction.as_ref().is_some_and(|open| {
            open.records >= self.config.batch_max_records
                || open.started.elapsed() >= self.config.batch_linger
        })
    }

    fn apply_rebalance_events(&mut self) -> Result<(), RuntimeError> {
        for event in self.consumer.context().drain() {
            match event {
                RebalanceEvent::Revoked(partitions) => {
                    tracing::info!(?partitions, "partitions revoked");
                    self.meters.revoked(partitions.len());
                    for partition in &partitions {
                        self.assigned.remove(partition);
                    }
                    // The batch may hold records of partitions we no longer own; its offsets
                    // cannot be committed by us now. Abort it: the new owner re-reads them.
                    // The rewind seeks only the partitions still owned (after the removal
                    // above): seeking a revoked one fails ("Erroneous state").
                    if self.transaction.is_some() {
                        self.abort_and_rewind()?;
                    }
                    let still_owned: HashSet<i32> = self
                        .assigned
                        .iter()
                        .map(|(_, partition)| *partition)
                        .collect();
                    for (_, partition) in partitions {
                        if !still_owned.contains(&partition) {
                            self.store.drop_partition(partition);
                        }
                    }
                }
                RebalanceEvent::Assigned(partitions) => {
                    tracing::info!(?partitions, "partitions assigned");
                    self.meters.assigned(partitions.len());
                    let unrestored: Vec<TopicPartition> = partitions
                        .iter()
                        .filter(|(_, partition)| !self.store.has_partition(*partition))
                        .cloned()
                        .collect();
                    self.await_stable_offsets(&unrestored)?;
                    // Restore now, not at the first record: deadlines of a partition with no
                    // new input must fire too.
                    for (_, partition) in &partitions {
                        self.ensure_restored(*partition)?;
                    }
                    self.assigned.extend(partitions);
                }
            }
        }
        Ok(())
    }

    fn process(&mut self, message: &OwnedMessage) -> Result<(), RuntimeError> {
        let position = (message.topic().to_owned(), message.partition());
        if !self.assigned.contains(&position) {
            return Ok(()); // Fetched before a revocation; its new owner handles it.
        }
        // An assigned partition's state was restored when it was assigned.
        self.meters.record_in(message.topic());
        let open = self.begin()?;
        {
            open.records += 1;
            open.first_offsets
                .entry(position.clone())
                .or_insert(message.offset());
            open.next_offsets.insert(position, message.offset() + 1);
        }

        // The span covers decoding, handling and producing; the commit is the batch's.
        let hop = trace::for_record(&self.config.processor, &self.config.group_id, message);
        let _inside = hop.span.enter();
        match self.decode(message)? {
            Err(reason) => self.dead_letter(message, &reason),
            Ok((key, input)) => self.handle(message, &key, input, hop.headers),
        }
    }

    /// The open transaction, begun if there is none.
    fn begin(&mut self) -> Result<&mut OpenTransaction, RuntimeError> {
        if self.transaction.is_none() {
            self.producer
                .begin_transaction()
                .map_err(|error| fatal("beginning a transaction", error))?;
        }
        Ok(self.transaction.get_or_insert_with(|| OpenTransaction {
            started: Instant::now(),
            records: 0,
            first_offsets: HashMap::new(),
            next_offsets: HashMap::new(),
        }))
    }

    /// Calls `on_deadline` for every key whose deadline has passed, in one transaction.
    fn fire_deadlines(&mut self) -> Result<(), RuntimeError> {
        let now = now_millis();
        // The store holds exactly the partitions we own (restored on assignment, dropped on
        // revocation), so every due key is ours.
        for (partition, key) in self.store.due(now) {
            self.begin()?.records += 1;
            let hop = trace::for_deadline(&self.config.processor, partition);
            let _inside = hop.span.enter();
            let mut state = self.store.get(partition, &key);
            let mut outputs = Outputs::default();
            match self
                .handler
                .on_deadline(&key, now, &mut state, &mut outputs)
            {
                Ok(()) => {
                    self.meters.deadline_fired();
                    self.emit(partition, &key, state, outputs, hop.headers)?;
                }
                Err(HandlerError::Poison(reason)) => {
                    tracing::error!(
                        partition,
                        key,
                        reason,
                        "deadline handler failed; not retried"
                    );
                    self.store.unschedule(partition, &key);
                }
            }
        }
        Ok(())
    }

    /// The key and value of `message`: `Ok(Err(reason))` for poison.
    #[allow(clippy::type_complexity)]
    fn decode(
        &self,
        message: &OwnedMessage,
    ) -> Result<Result<(String, H::Input), String>, RuntimeError> {
        let Some(key) = message.key() else {
            return Ok(Err("record has no key".to_owned()));
        };
        let Some(payload) = message.payload() else {
            return Ok(Err(
                "record has no value (a tombstone on an input topic)".to_owned()
            ));
        };
        let key = match self.retrying(|| self.codec.decode_key(key))? {
            Ok(key) => key,
            Err(error) => return Ok(Err(format!("key: {error}"))),
        };
        Ok(
            match self
                .retrying(|| self.codec.decode_any(payload))?
                .and_then(H::Input::from_decoded)
            {
                Ok(input) => Ok((key, input)),
                Err(error) => Err(format!("value: {error}")),
            },
        )
    }

    /// Handles one decoded record; its outputs carry `trace` (the hop's `traceparent`).
    fn handle(
        &mut self,
        message: &OwnedMessage,
        key: &str,
        input: H::Input,
        trace: OwnedHeaders,
    ) -> Result<(), RuntimeError> {
        let partition = message.partition();
        let mut state = self.store.get(partition, key);
        let mut outputs = Outputs::default();
        let context = RecordContext {
            key,
            topic: message.topic(),
            partition,
            offset: message.offset(),
            timestamp: message.timestamp().to_millis(),
            now: now_millis(),
        };
        let started = Instant::now();
        let handled = self
            .handler
            .handle(&context, input, &mut state, &mut outputs);
        self.meters.handled(started.elapsed());
        if let Err(HandlerError::Poison(reason)) = handled {
            return self.dead_letter(message, &format!("handler: {reason}"));
        }
        self.emit(partition, key, state, outputs, trace)
    }

    /// Produces a handler's outputs and stages its state, if changed, in the store. The
    /// changelog gets the key's final state once per transaction, at commit
    /// ([`Engine::commit`]), with `trace` if this is the key's last change.
    fn emit(
        &mut self,
        partition: i32,
        key: &str,
        state: Option<H::State>,
        outputs: Outputs,
        trace: OwnedHeaders,
    ) -> Result<(), RuntimeError> {
        for output in outputs.records {
            let key_bytes = self
                .retrying(|| self.codec.encode_key(&output.topic, &output.key))?
                .map_err(RuntimeError::Encode)?;
            let value = self
                .retrying(|| output.value.encode(&self.codec, &output.topic))?
                .map_err(RuntimeError::Encode)?;
            self.produce(&output.topic, None, &key_bytes, Some(&value), trace.clone())?;
        }
        self.store.stage(partition, key, state, trace);
        Ok(())
    }

    fn dead_letter(&mut self, message: &OwnedMessage, reason: &str) -> Result<(), RuntimeError> {
        tracing::warn!(
            topic = message.topic(),
            partition = message.partition(),
            offset = message.offset(),
            reason,
            "dead-lettering a record"
        );
        self.meters.dead_letter(message.topic());
        let headers = dead_letter::headers_for(message, &self.config.processor, reason);
        let topic = dead_letter_topic(message.topic());
        let key = message.key().unwrap_or_default().to_vec();
        let payload = message.payload().map(<[u8]>::to_vec);
        self.produce(&topic, None, &key, payload.as_deref(), headers)
    }

    fn produce(
        &mut self,
        topic: &str,
        partition: Option<i32>,
        key: &[u8],
        payload: Option<&[u8]>,
        headers: OwnedHeaders,
    ) -> Result<(), RuntimeError> {
        produce::send(
            &self.producer,
            &mut self.meters,
            topic,
            partition,
            key,
            payload,
            headers,
        )
    }

    /// Writes the batch's changelog records, then sends the input offsets to the transaction
    /// and commits it; on success the staged state becomes the committed state.
    fn commit(&mut self, shutdown: &CancellationToken) -> Result<(), RuntimeError> {
        let Some(open) = self.transaction.as_ref() else {
            return Ok(());
        };
        let (started, records) = (open.started, open.records);
        let mut offsets = TopicPartitionList::new();
        for ((topic, partition), offset) in &open.next_offsets {
            offsets
                .add_partition_offset(topic, *partition, Offset::Offset(*offset))
                .map_err(|error| fatal("listing offsets", error))?;
        }
        // The consumer has group metadata once it joined the group, which it has if it
        // handed us the records of this batch.
        let Some(group) = self.consumer.group_metadata() else {
            return Err(RuntimeError::Kafka {
                doing: "committing a transaction",
                source: KafkaError::Subscription("consumer has no group metadata".to_owned()),
            });
        };
        // One record per changed key, inside this transaction, before its offsets: the final
        // state of every key is committed with the outputs and offsets that led to it.
        if let Some(topic) = &self.config.changelog_topic {
            changelog::write(
                &self.store,
                topic,
                &self.codec,
                &self.runtime,
                &self.producer,
                &mut self.meters,
            )?;
        }
        self.drain_deliveries();
        let timeout = self.config.operation_timeout;
        let result = until_not_retriable("sending offsets to the transaction", shutdown, || {
            self.producer
                .send_offsets_to_transaction(&offsets, &group, timeout)
        })
        .and_then(|()| {
            until_not_retriable("committing the transaction", shutdown, || {
                self.producer.commit_transaction(timeout)
            })
        });
        match result {
            Ok(()) => {
                self.meters.committed(started.elapsed(), records);
                self.store.commit();
                self.transaction = None;
                Ok(())
            }
            Err(error) if is_fenced(&error) => Err(RuntimeError::Fenced(error)),
            Err(error) => {
                if requires_abort(&error) {
                    tracing::warn!(%error, "transaction failed; aborting and replaying the batch");
                    self.abort_and_rewind()
                } else {
                    Err(fatal("committing a transaction", error))
                }
            }
        }
    }

    /// Serves delivery reports until nothing is in flight (bounded by `operation_timeout`).
    ///
    /// rdkafka's `commit_transaction` flushes first, and its flush waits in whole 100 ms poll
    /// slices while anything is in flight (rdkafka 0.39, `BaseProducer::flush`): every commit
    /// took 100 ms or more. Draining here with short polls first brings a commit down to a few
    /// milliseconds (see `docs/performance.md`). Delivery failures still surface from
    /// `commit_transaction`, which then fails and aborts the batch.
    fn drain_deliveries(&self) {
        let deadline = Instant::now() + self.config.operation_timeout;
        while self.producer.in_flight_count() > 0 && Instant::now() < deadline {
            self.producer.poll(Duration::ZERO);
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    fn abort_and_rewind(&mut self) -> Result<(), RuntimeError> {
        let Some(open) = self.transaction.take() else {
            return Ok(());
        };
        // librdkafka's abort waits until every record of the transaction has had its delivery
        // report served, and nothing serves them while it blocks: without this, aborting a
        // batch that had produced anything failed after `operation_timeout`, fatally.
        self.drain_deliveries();
        self.producer
            .abort_transaction(self.config.operation_timeout)
            .map_err(|error| fatal("aborting a transaction", error))?;
        self.store.abort();
        self.meters.aborted();
        for ((topic, partition), offset) in open.first_offsets {
            if self.assigned.contains(&(topic.clone(), partition)) {
                self.consumer
                    .seek(
                        &topic,
                        partition,
                        Offset::Offset(offset),
                        self.config.operation_timeout,
                    )
                    .map_err(|source| RuntimeError::Kafka {
                        doing: "rewinding after an abort",
                        source,
                    })?;
            }
        }
        Ok(())
    }

    /// Waits until no transaction that commits offsets of `partitions` for this group is still
    /// being completed (KIP-447's "stable" offsets), bounded by `operation_timeout`.
    ///
    /// The restore reads the changelog up to its last stable offset. A previous owner's last
    /// transaction that was still in its commit phase then (a broker that restarted finishes
    /// writing its markers after loading the transaction log) is above that offset, so its
    /// state changes would not be restored, while the consumer, which waits for stable offsets
    /// itself, resumes after the inputs that made them: the changes would be lost. Once the
    /// offsets are stable the transaction has ended. (On a cluster its changelog marker can
    /// still trail the offsets' marker by a moment, as markers go to each partition's leader
    /// separately: this narrows that window to the markers' spread, it does not close it.)
    fn await_stable_offsets(&self, partitions: &[TopicPartition]) -> Result<(), RuntimeError> {
        if partitions.is_empty() || self.config.changelog_topic.is_none() {
            return Ok(()); // Nothing to restore.
        }
        let mut list = TopicPartitionList::new();
        for (topic, partition) in partitions {
            list.add_partition(topic, *partition);
        }
        let deadline = Instant::now() + self.config.operation_timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let error = match self
                .consumer
                .committed_offsets(list.clone(), left.min(STABLE_OFFSETS_TRY))
            {
                Ok(committed) => match committed
                    .elements()
                    .iter()
                    .find_map(|element| element.error().err())
                {
                    None => return Ok(()),
                    Some(error) => error,
                },
                Err(error) => error,
            };
            if Instant::now() >= deadline {
                return Err(RuntimeError::Kafka {
                    doing: "waiting for stable committed offsets before restoring",
                    source: error,
                });
            }
            if error.rdkafka_error_code() == Some(RDKafkaErrorCode::UnstableOffsetCommit) {
                tracing::info!("a previous owner's transaction is still being completed; waiting");
            } else {
                tracing::warn!(%error, "asking for committed offsets again");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Rebuilds the state of `partition` from the changelog before its first record.
    fn ensure_restored(&mut self, partition: i32) -> Result<(), RuntimeError> {
        if self.store.has_partition(partition) {
            return Ok(());
        }
        let started = Instant::now();
        let state = match self.config.changelog_topic.clone() {
            Some(changelog) => restore::partition(
                &self.kafka,
                &format!("{}-restore", self.config.group_id),
                &self.codec,
                &self.runtime,
                &changelog,
                partition,
                self.config.operation_timeout,
            )?,
            None => HashMap::new(),
        };
        self.meters.restored(started.elapsed());
        tracing::info!(
            partition,
            keys = state.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "state restored"
        );
        self.store.insert_partition(partition, state);
        Ok(())
    }

    /// Runs a codec call on the loop thread (see [`codec_calls::retrying`]).
    fn retrying<T, F, Fut>(&self, call: F) -> Result<Result<T, CodecError>, RuntimeError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, CodecError>>,
    {
        codec_calls::retrying(&self.runtime, call)
    }
}
