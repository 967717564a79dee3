//! The projector: reads the state topics and the order events and writes the read-model tables,
//! exactly once.
//!
//! Each batch's rows and the offsets they came from are written in one database transaction
//! (`projector_offsets`, one row per group, topic and partition). The consumer never commits
//! offsets to Kafka: on assignment the projector seeks to the offsets in the database, and
//! inside the transaction it locks each partition's offset row and skips records below it, so
//! a record is applied once even when a rebalance briefly leaves two instances believing they
//! own a partition. A replay from offset zero yields the same tables: rows carry versions and
//! an older version never overwrites a newer one.
//!
//! When the database is down the projector stops taking records, retries the open batch with
//! growing pauses and says so in the log; nothing is skipped. A record that does not decode
//! goes to its topic's dead-letter topic (before the batch that moves past it commits, so a
//! crash in between can dead-letter it twice, never lose it).
//!
//! Every record gets a span, `project <topic>`, a child of the span its `traceparent` header
//! names (the processor hop that wrote it), open from the moment it is read until its batch is
//! written: the span's end is when the change became visible to queries.

use crate::offsets::{self, Partition};
use crate::rows::{self, Change};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use shop_platform::kafka::{KafkaSettings, TracingContext, await_partitions};
use shop_platform::trace_context::{self, HopKind, Parent};
use shop_processors::orders::status_name;
use shop_processors::runtime::dead_letter::headers_for;
use shop_processors::runtime::{RebalanceContext, RebalanceEvent};
use shop_schemas::{AvroCodec, AvroRecord, CodecError};
use shop_topics::TopicNames;
use shop_topics::names::{dead_letter_topic, metrics as names};
use sqlx::PgPool;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tracing::field::Empty;
use tracing::{Instrument, Span};

/// The processor name in dead-letter headers, logs and metrics.
pub const NAME: &str = "projector";

/// Settings of one projector instance.
#[derive(Debug, Clone)]
pub struct ProjectorConfig {
    /// Shared by every instance; also the key of the offsets in `projector_offsets`.
    pub group_id: String,
    pub topics: TopicNames,
    /// A batch is written after this many records...
    pub batch_max_records: usize,
    /// ...or when its first record is this old.
    pub batch_linger: Duration,
    /// The longest pause between attempts while the database or registry is away.
    pub max_backoff: Duration,
    /// How long the group waits for a silent instance before giving its partitions away.
    pub session_timeout: Duration,
    /// Join as a static group member with this id (KIP-345): a restarted instance takes its
    /// partitions back at once instead of waiting out `session_timeout`.
    pub static_member_id: Option<String>,
}

impl ProjectorConfig {
    /// Defaults: batches of up to 1,000 records or 20 ms, retries up to every 5 s, a 10 s
    /// session, dynamic membership.
    pub fn new(group_id: impl Into<String>, topics: TopicNames) -> Self {
        Self {
            group_id: group_id.into(),
            topics,
            batch_max_records: 1_000,
            batch_linger: Duration::from_millis(20),
            max_backoff: Duration::from_secs(5),
            session_timeout: Duration::from_secs(10),
            static_member_id: None,
        }
    }

    fn inputs(&self) -> [&str; 5] {
        [
            &self.topics.catalog_products,
            &self.topics.cart_carts,
            &self.topics.inventory_stock,
            &self.topics.orders_orders,
            &self.topics.orders_events,
        ]
    }
}

/// Why the projector stopped on its own.
#[derive(Debug, thiserror::Error)]
pub enum ProjectorError {
    #[error("Kafka failed while {doing}: {source}")]
    Kafka {
        doing: &'static str,
        #[source]
        source: KafkaError,
    },
    /// Our own schema is not registered, or similar: a deployment problem.
    #[error("the schema registry refused: {0}")]
    Registry(#[source] CodecError),
}

/// A record read but not yet written.
#[derive(Debug)]
struct Taken {
    partition: Partition,
    offset: i64,
    change: Change,
    /// The record's span, held for its drop: it ends when the batch is written (or dropped,
    /// for a revoked partition).
    _span: Span,
}

/// Records read but not yet written, in read order.
#[derive(Debug, Default)]
struct Batch {
    started: Option<Instant>,
    records: Vec<Taken>,
}

impl Batch {
    fn push(&mut self, taken: Taken) {
        self.started.get_or_insert_with(Instant::now);
        self.records.push(taken);
    }

    fn is_due(&self, config: &ProjectorConfig) -> bool {
        self.records.len() >= config.batch_max_records
            || self
                .started
                .is_some_and(|started| started.elapsed() >= config.batch_linger)
    }

    /// How long the next read may wait without making the batch late.
    fn wait(&self, config: &ProjectorConfig) -> Duration {
        match self.started {
            Some(started) => config
                .batch_linger
                .saturating_sub(started.elapsed())
                .max(Duration::from_millis(1)),
            None => Duration::from_millis(200),
        }
    }

    fn clear(&mut self) {
        self.started = None;
        self.records.clear();
    }
}

struct Projector {
    config: ProjectorConfig,
    codec: Arc<AvroCodec>,
    pool: PgPool,
    consumer: StreamConsumer<RebalanceContext>,
    dead_letters: FutureProducer<TracingContext>,
    /// Mirrors the database's offsets to Kafka, for lag monitoring only (see [`mirror_group`]).
    mirror: BaseConsumer<TracingContext>,
    /// The owned partitions and the next offset to take from each.
    positions: HashMap<Partition, i64>,
    batch: Batch,
}

/// Projects until `shutdown` (then writes the open batch, if the database lets it) or a fatal
/// error. Waits out database and registry outages.
///
/// # Errors
/// [`ProjectorError`] when Kafka fails fatally or the registry refuses our schemas.
pub async fn run(
    config: ProjectorConfig,
    kafka: &KafkaSettings,
    codec: Arc<AvroCodec>,
    pool: PgPool,
    shutdown: CancellationToken,
) -> Result<(), ProjectorError> {
    let mut consumer_config = kafka.consumer(&config.group_id);
    consumer_config.set(
        "session.timeout.ms",
        config.session_timeout.as_millis().to_string(),
    );
    if let Some(member) = &config.static_member_id {
        consumer_config.set("group.instance.id", member);
    }
    let consumer: StreamConsumer<RebalanceContext> = consumer_config
        .create_with_context(RebalanceContext::default())
        .map_err(|source| ProjectorError::Kafka {
            doing: "creating the consumer",
            source,
        })?;
    let dead_letters = kafka
        .producer()
        .create_with_context(TracingContext)
        .map_err(|source| ProjectorError::Kafka {
            doing: "creating the dead-letter producer",
            source,
        })?;
    let mirror = kafka
        .consumer(&mirror_group(&config.group_id))
        .create_with_context(TracingContext)
        .map_err(|source| ProjectorError::Kafka {
            doing: "creating the offset mirror",
            source,
        })?;
    // Subscribe only once the broker lists the inputs (they are created together, so the first
    // stands for all). A consumer that subscribed while the broker was away sometimes never
    // joined its group once the broker was back: no JoinGroup reached the broker for minutes,
    // in 4 of 9 tries that started the projector during a broker restart (librdkafka 2.12.1),
    // and 0 of 6 once it waited like this. The processors, which subscribe only after
    // `init_transactions` has reached the broker, never showed it. With `None` for a missing
    // topic, only a shutdown ends the wait early.
    let [first_input, ..] = config.inputs();
    if await_partitions(&consumer, first_input, None, &shutdown)
        .await
        .is_err()
    {
        return Ok(());
    }
    consumer
        .subscribe(&config.inputs())
        .map_err(|source| ProjectorError::Kafka {
            doing: "subscribing",
            source,
        })?;
    tracing::info!(group = config.group_id, topics = ?config.inputs(), "projecting");
    let mut projector = Projector {
        config,
        codec,
        pool,
        consumer,
        dead_letters,
        mirror,
        positions: HashMap::new(),
        batch: Batch::default(),
    };
    projector.run(&shutdown).await
}

impl Projector {
    async fn run(&mut self, shutdown: &CancellationToken) -> Result<(), ProjectorError> {
        while !shutdown.is_cancelled() {
            let wait = self.batch.wait(&self.config);
            let received = tokio::select! {
                () = shutdown.cancelled() => None,
                received = tokio::time::timeout(wait, self.consumer.recv()) => {
                    received.ok().map(|result| result.map(|message| message.detach()))
                }
            };
            self.apply_rebalance(shutdown).await;
            match received {
                Some(Ok(message)) => self.take(message, shutdown).await?,
                Some(Err(error)) => tracing::warn!(%error, "consumer error"),
                None => {}
            }
            if self.batch.is_due(&self.config) {
                self.flush(shutdown).await;
            }
        }
        // One last write; if the database is away it is left to the next owner to replay.
        if !self.batch.records.is_empty() {
            match self.write().await {
                Ok(transitions) => {
                    count_transitions(transitions);
                    self.batch.clear();
                }
                Err(error) => tracing::warn!(%error, "open batch not written at shutdown"),
            }
        }
        self.consumer.unsubscribe();
        Ok(())
    }

    /// Starts owned partitions at the offsets in the database and forgets revoked ones.
    async fn apply_rebalance(&mut self, shutdown: &CancellationToken) {
        for event in self.consumer.context().drain() {
            match event {
                RebalanceEvent::Revoked(partitions) => {
                    tracing::info!(?partitions, "partitions revoked");
                    for partition in &partitions {
                        self.positions.remove(partition);
                    }
                    // Their records may be written by the next owner first; the offset lock in
                    // the transaction makes either order safe, but there is no need to race.
                    self.batch
                        .records
                        .retain(|taken| !partitions.contains(&taken.partition));
                }
                RebalanceEvent::Assigned(partitions) => {
                    let stored = self.stored_offsets(shutdown).await;
                    // Mirrored again on assignment: a mirror commit lost to a crash right after
                    // its database commit would otherwise stay behind until the partition's
                    // next record, and the monitor would see lag that is not there.
                    let mut mirrored = TopicPartitionList::new();
                    for partition in partitions {
                        let next = stored.get(&partition).copied().unwrap_or(0);
                        self.seek(&partition, next);
                        if next > 0 {
                            mirrored
                                .add_partition_offset(
                                    &partition.0,
                                    partition.1,
                                    Offset::Offset(next),
                                )
                                .ok();
                        }
                        self.positions.insert(partition, next);
                    }
                    self.mirror_offsets(&mirrored);
                    tracing::info!(positions = ?self.positions, "partitions assigned");
                }
            }
        }
    }

    /// The offsets in the database, waiting out an outage (an empty map after shutdown).
    async fn stored_offsets(&self, shutdown: &CancellationToken) -> HashMap<Partition, i64> {
        let mut pause = Duration::from_millis(100);
        loop {
            match offsets::load(&self.pool, &self.config.group_id).await {
                Ok(stored) => return stored,
                Err(error) if !shutdown.is_cancelled() => {
                    tracing::warn!(%error, retry_in = ?pause, "cannot read the projector's offsets from the database; waiting");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(self.config.max_backoff);
                }
                Err(_) => return HashMap::new(),
            }
        }
    }

    /// Moves the fetch position to `next`; if the seek fails (the partition is not fetching
    /// yet) records below `next` are skipped as they arrive, so only time is lost.
    fn seek(&self, (topic, partition): &Partition, next: i64) {
        if next == 0 {
            return; // A partition we never applied anything of starts at the beginning anyway.
        }
        if let Err(error) = self.consumer.seek(
            topic,
            *partition,
            Offset::Offset(next),
            Duration::from_secs(5),
        ) {
            tracing::debug!(%error, topic, partition, next, "seek failed; skipping instead");
        }
    }

    async fn take(
        &mut self,
        message: OwnedMessage,
        shutdown: &CancellationToken,
    ) -> Result<(), ProjectorError> {
        let partition = (message.topic().to_owned(), message.partition());
        match self.positions.get(&partition) {
            Some(next) if message.offset() >= *next => {}
            // Not ours (any more), or already applied.
            _ => return Ok(()),
        }
        let span = self.span_of(&message);
        let Some(change) = self
            .change_of(&message, shutdown)
            .instrument(span.clone())
            .await?
        else {
            return Ok(()); // Shutting down while the registry was away.
        };
        metrics::counter!(names::PROJECTOR_RECORDS, "topic" => partition.0.clone()).increment(1);
        self.positions
            .insert(partition.clone(), message.offset() + 1);
        self.batch.push(Taken {
            partition,
            offset: message.offset(),
            change,
            _span: span,
        });
        Ok(())
    }

    /// The span of projecting `message`, a child of the hop that wrote it. As in the
    /// processors' runtime, the `tracing` span carries only what log lines need; the messaging
    /// attributes go to the exported span alone.
    fn span_of(&self, message: &OwnedMessage) -> Span {
        let parent = trace_context::traceparent_of(message).and_then(Parent::parse);
        let span = tracing::info_span!(
            "project",
            shop.processor = NAME,
            trace_id = trace_context::trace_id_field(parent.as_ref()),
            span_id = Empty,
            otel.name = Empty,
            otel.kind = Empty,
        );
        trace_context::join(
            &span,
            parent.as_ref(),
            HopKind::Consumer,
            || format!("project {}", message.topic()),
            || trace_context::consumer_attributes(message, &self.config.group_id),
        );
        span
    }

    /// The change `message` makes, or [`Change::Skip`] after dead-lettering it.
    async fn change_of(
        &self,
        message: &OwnedMessage,
        shutdown: &CancellationToken,
    ) -> Result<Option<Change>, ProjectorError> {
        let mut pause = Duration::from_millis(100);
        loop {
            match self.decode(message).await {
                Ok(change) => return Ok(Some(change)),
                Err(error) if error.is_transient() => {
                    if shutdown.is_cancelled() {
                        return Ok(None);
                    }
                    tracing::warn!(%error, retry_in = ?pause, "schema registry unavailable; waiting");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(self.config.max_backoff);
                }
                Err(error) if error.is_poison() => {
                    self.dead_letter(message, &error.to_string()).await?;
                    return Ok(Some(Change::Skip));
                }
                Err(error) => return Err(ProjectorError::Registry(error)),
            }
        }
    }

    async fn decode(&self, message: &OwnedMessage) -> Result<Change, CodecError> {
        let key = match message.key() {
            Some(key) => self.codec.decode_key(key).await?,
            None => {
                return Err(CodecError::NotWireFormat {
                    reason: "the record has no key".to_owned(),
                });
            }
        };
        let topics = &self.config.topics;
        let topic = message.topic();
        let payload = message.payload();
        Ok(if topic == topics.catalog_products {
            Change::Product(key, self.value(payload).await?)
        } else if topic == topics.cart_carts {
            Change::Cart(key, self.value(payload).await?)
        } else if topic == topics.inventory_stock {
            Change::Stock(key, self.value(payload).await?)
        } else if topic == topics.orders_orders {
            Change::Order(key, self.value(payload).await?)
        } else {
            match self.value(payload).await? {
                Some(event) => Change::OrderEvent(event),
                None => {
                    return Err(CodecError::NotWireFormat {
                        reason: "a tombstone on an event topic".to_owned(),
                    });
                }
            }
        })
    }

    async fn value<T: AvroRecord>(&self, payload: Option<&[u8]>) -> Result<Option<T>, CodecError> {
        match payload {
            Some(payload) => self.codec.decode(payload).await.map(Some),
            None => Ok(None),
        }
    }

    async fn dead_letter(
        &self,
        message: &OwnedMessage,
        reason: &str,
    ) -> Result<(), ProjectorError> {
        let topic = dead_letter_topic(message.topic());
        tracing::warn!(
            topic,
            offset = message.offset(),
            reason,
            "dead-lettering a record"
        );
        let mut record =
            FutureRecord::<[u8], [u8]>::to(&topic).headers(headers_for(message, NAME, reason));
        if let Some(key) = message.key() {
            record = record.key(key);
        }
        if let Some(payload) = message.payload() {
            record = record.payload(payload);
        }
        self.dead_letters
            .send(record, Duration::from_secs(30))
            .await
            .map_err(|(source, _)| ProjectorError::Kafka {
                doing: "dead-lettering a record",
                source,
            })?;
        metrics::counter!(names::DEAD_LETTERS, "processor" => NAME, "topic" => message.topic().to_owned())
            .increment(1);
        Ok(())
    }

    /// Writes the batch, waiting out a database outage (or until shutdown, when the batch is
    /// kept for the final attempt).
    async fn flush(&mut self, shutdown: &CancellationToken) {
        let mut pause = Duration::from_millis(100);
        loop {
            let started = Instant::now();
            match self.write().await {
                Ok(transitions) => {
                    metrics::histogram!(names::PROJECTOR_BATCH_SECONDS)
                        .record(started.elapsed().as_secs_f64());
                    count_transitions(transitions);
                    self.batch.clear();
                    return;
                }
                Err(error) => {
                    metrics::counter!(names::PROJECTOR_RETRIES).increment(1);
                    tracing::warn!(
                        %error,
                        records = self.batch.records.len(),
                        retry_in = ?pause,
                        "database unavailable; the projector is stalled and will retry"
                    );
                    let slept = tokio::select! {
                        () = shutdown.cancelled() => false,
                        () = tokio::time::sleep(pause) => true,
                    };
                    if !slept {
                        return;
                    }
                    pause = (pause * 2).min(self.config.max_backoff);
                }
            }
        }
    }

    /// The batch's rows and offsets in one transaction; answers how many order transitions
    /// of each status it applied for the first time.
    async fn write(&self) -> Result<BTreeMap<&'static str, u64>, sqlx::Error> {
        let mut transitions = BTreeMap::new();
        let mut mirrored = TopicPartitionList::new();
        let mut by_partition: BTreeMap<&Partition, Vec<(i64, &Change)>> = BTreeMap::new();
        for taken in &self.batch.records {
            by_partition
                .entry(&taken.partition)
                .or_default()
                .push((taken.offset, &taken.change));
        }
        let mut tx = self.pool.begin().await?;
        for (partition, records) in by_partition {
            let stored = offsets::lock(&mut tx, &self.config.group_id, partition).await?;
            // Applied already (by us before a crash, or by another owner) below `stored`.
            let fresh: Vec<(i64, &Change)> = records
                .into_iter()
                .filter(|(offset, _)| *offset >= stored)
                .collect();
            let Some(&(last, _)) = fresh.last() else {
                continue;
            };
            for change in newest_per_key(&fresh) {
                rows::apply(&mut tx, change).await?;
                if let Change::OrderEvent(event) = change {
                    *transitions.entry(status_name(event.status)).or_default() += 1;
                }
            }
            offsets::store(&mut tx, &self.config.group_id, partition, last + 1).await?;
            mirrored
                .add_partition_offset(&partition.0, partition.1, Offset::Offset(last + 1))
                .ok();
        }
        tx.commit().await?;
        self.mirror_offsets(&mirrored);
        Ok(transitions)
    }

    /// Commits `offsets`, just stored in the database, to the mirror group, so the lag
    /// monitor sees how far the read model is. Best effort: a failed commit only makes the
    /// monitor's view older, and is retried with the next batch's offsets.
    fn mirror_offsets(&self, offsets: &TopicPartitionList) {
        if offsets.count() == 0 {
            return;
        }
        if let Err(error) = self.mirror.commit(offsets, CommitMode::Async) {
            tracing::debug!(%error, "cannot mirror offsets for lag monitoring");
        }
        // Serves the commit's answer, which otherwise waits in the client's queue forever.
        while let Some(event) = self.mirror.poll(Duration::ZERO) {
            if let Err(error) = event {
                tracing::debug!(%error, "offset mirror");
            }
        }
    }
}

/// The group the projector's database offsets are mirrored to, for the lag monitor.
///
/// Not the projector's own group: that one never has committed offsets, so a partition it has
/// no database offset for (a fresh database) starts at the beginning of the topic. Committed
/// offsets in its own group would make it start there instead and skip what came before.
pub fn mirror_group(group_id: &str) -> String {
    format!("{group_id}.db-offsets")
}

/// Counts a committed batch's order transitions by status: after the commit, and only those not
/// applied before, so a replay or a crash between write and commit does not count twice.
fn count_transitions(transitions: BTreeMap<&'static str, u64>) {
    for (status, count) in transitions {
        metrics::counter!(names::ORDER_TRANSITIONS, "status" => status).increment(count);
    }
}

/// The changes of one partition's batch worth writing, in order: of several states of one key
/// only the one with the highest version since the key's last tombstone (an order passes
/// through three versions in quick succession, and each costs three statements), that
/// tombstone itself (a delete and a re-create in one batch: the re-created record starts at
/// version 1 and would lose against the old row), and every history event. The tables end as
/// if every record were applied in turn, version checks included.
fn newest_per_key<'a>(records: &[(i64, &'a Change)]) -> Vec<&'a Change> {
    let mut last_tombstone: HashMap<(u8, &str), usize> = HashMap::new();
    for (index, (_, change)) in records.iter().enumerate() {
        if let Some(key) = state_key(change)
            && is_tombstone(change)
        {
            last_tombstone.insert(key, index);
        }
    }
    // The newest state after the key's last tombstone: highest version, later wins a tie.
    let mut newest: HashMap<(u8, &str), (i64, usize)> = HashMap::new();
    for (index, (_, change)) in records.iter().enumerate() {
        let (Some(key), Some(version)) = (state_key(change), version_of(change)) else {
            continue;
        };
        if last_tombstone
            .get(&key)
            .is_some_and(|tombstone| *tombstone > index)
        {
            continue;
        }
        let entry = newest.entry(key).or_insert((version, index));
        if version >= entry.0 {
            *entry = (version, index);
        }
    }
    records
        .iter()
        .enumerate()
        .filter(|(index, (_, change))| match state_key(change) {
            None => true,
            Some(key) => {
                newest.get(&key).is_some_and(|(_, kept)| kept == index)
                    || last_tombstone.get(&key) == Some(index)
            }
        })
        .map(|(_, (_, change))| *change)
        .collect()
}

/// The version a state record carries; `None` for tombstones, events and skips.
fn version_of(change: &Change) -> Option<i64> {
    match change {
        Change::Product(_, Some(product)) => Some(product.version),
        Change::Cart(_, Some(cart)) => Some(cart.version),
        Change::Stock(_, Some(level)) => Some(level.version),
        Change::Order(_, Some(order)) => Some(order.version),
        _ => None,
    }
}

fn is_tombstone(change: &Change) -> bool {
    matches!(
        change,
        Change::Product(_, None)
            | Change::Cart(_, None)
            | Change::Stock(_, None)
            | Change::Order(_, None)
    )
}

/// Which row a state change replaces: its table and key; `None` for history and skips.
fn state_key(change: &Change) -> Option<(u8, &str)> {
    match change {
        Change::Product(key, _) => Some((0, key)),
        Change::Cart(key, _) => Some((1, key)),
        Change::Stock(key, _) => Some((2, key)),
        Change::Order(key, _) => Some((3, key)),
        Change::OrderEvent(_) | Change::Skip => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shop_schemas::orders::OrderEvent;

    fn event(id: &str) -> Change {
        Change::OrderEvent(OrderEvent {
            event_id: id.to_owned(),
            order_id: "o1".to_owned(),
            user_id: "u1".to_owned(),
            status: shop_schemas::orders::OrderStatus::Pending,
            previous_status: None,
            reason: None,
            occurred_at: 1,
        })
    }

    fn product(version: i64) -> Change {
        Change::Product(
            "p1".to_owned(),
            Some(shop_schemas::catalog::Product {
                product_id: "p1".to_owned(),
                name: "P".to_owned(),
                description: String::new(),
                price: shop_schemas::Money::new(1, "USD"),
                version,
                created_at: 1,
                updated_at: 1,
                recent_command_ids: Vec::new(),
            }),
        )
    }

    #[test]
    fn only_the_newest_state_of_a_key_is_written_and_every_event_is() {
        let (v1, v2) = (product(1), product(2));
        let cart = Change::Cart("p1".to_owned(), None);
        let (e1, e2) = (event("e1"), event("e2"));
        let records = [
            (0, &v1),
            (1, &cart),
            (2, &e1),
            (3, &v2),
            (4, &e2),
            (5, &Change::Skip),
        ];
        let written = newest_per_key(&records);
        // v1 is replaced by v2; the cart is another table and stays; events and skips stay.
        let expected = [&cart, &e1, &v2, &e2, &Change::Skip];
        assert_eq!(written, expected);
    }

    #[test]
    fn a_late_older_version_does_not_displace_the_newest() {
        let (v2, v3, late_v2) = (product(2), product(3), product(2));
        let written = newest_per_key(&[(0, &v2), (1, &v3), (2, &late_v2)]);
        assert_eq!(written.len(), 1);
        assert!(std::ptr::eq(written[0], &v3));
    }

    #[test]
    fn a_delete_before_a_re_create_in_one_batch_is_kept() {
        let (v3, gone, again) = (
            product(3),
            Change::Product("p1".to_owned(), None),
            product(1),
        );
        let written = newest_per_key(&[(0, &v3), (1, &gone), (2, &again)]);
        assert_eq!(written, [&gone, &again]);
        let written = newest_per_key(&[(0, &v3), (1, &gone)]);
        assert_eq!(written, [&gone]);
    }
}
