//! The end-to-end delay, from a record's commit on the broker to its visibility in SQL.
//!
//! With a projector running and caught up, records are produced at a fixed rate, open loop: each
//! is sent at its scheduled moment whatever happened to the earlier ones, so a slow projector
//! shows as delay instead of slowing the producer down. A record's delay starts when its
//! delivery report arrives (`acks=all`: it is committed on the broker and a `read_committed`
//! consumer may read it) and ends at the first read of `projector_offsets` whose next offset for
//! the record's partition is above the record's offset: the projector stores that offset in the
//! transaction that writes the record's rows, so the rows were visible by then. The reads follow
//! each other every `--poll-every-ms` (plus the query's own time), which is the resolution: a
//! delay is overstated by at most one poll period.
//!
//! Producer and reader run on a thread and a single-threaded runtime of their own, so the
//! projector's tasks on the main runtime never hold up a send or a read.

use crate::args::BatchSetting;
use crate::figures::{Delay, Spread};
use crate::instance::{self, Running};
use crate::positions::{self, Partition, Positions, behind};
use crate::probe::Probe;
use crate::produce::{Delivery, Producer};
use crate::wire::Wire;
use anyhow::{Context, anyhow, bail};
use hdrhistogram::Histogram;
use shop_platform::kafka::KafkaSettings;
use shop_schemas::RegistryConfig;
use shop_topics::TopicNames;
use sqlx::{Connection, PgConnection, PgPool};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::MissedTickBehavior;

/// How long the caught-up projector idles before the phase starts: the last catch-up batch and
/// the start-up's one-off work (first lookups, pool warm-up) are over by then.
const SETTLE: Duration = Duration::from_secs(1);

/// Longest delay the histograms hold (µs); anything longer is recorded as this.
const HISTOGRAM_MAX_MICROS: u64 = 600_000_000;

/// What one delay phase works on.
#[derive(Debug)]
pub(crate) struct Job<'a> {
    pub(crate) kafka: &'a KafkaSettings,
    pub(crate) registry: &'a RegistryConfig,
    pub(crate) topics: &'a TopicNames,
    /// The input topics, to find their ends before the phase.
    pub(crate) inputs: &'a [String],
    pub(crate) partitions: i32,
    pub(crate) group: &'a str,
    pub(crate) batch: BatchSetting,
    pub(crate) pool: &'a PgPool,
    /// The bench's own pool on the projector's database, for waiting until caught up.
    pub(crate) watch: &'a PgPool,
    /// The projector's database, for the reader's own connection.
    pub(crate) database_url: &'a str,
    pub(crate) records: Vec<Wire>,
    pub(crate) rate: u32,
    pub(crate) poll_every: Duration,
    pub(crate) probe: &'a Probe,
    pub(crate) timeout: Duration,
}

/// Starts the projector on a database that already holds earlier records, lets it catch up,
/// then measures; stops it afterwards.
pub(crate) async fn run(job: Job<'_>) -> anyhow::Result<Delay> {
    let running = instance::spawn(
        job.kafka,
        job.registry,
        job.topics,
        job.group,
        job.batch,
        job.pool,
    )?;
    let outcome = async {
        let ends =
            positions::end_offsets(job.kafka, job.inputs, job.partitions, job.timeout).await?;
        wait_caught_up(&running, job.watch, job.group, &ends, job.timeout).await?;
        tokio::time::sleep(SETTLE).await;
        running.check()?;
        let _ = job.probe.take(); // The catch-up is not part of the phase.
        let plan = Plan {
            kafka: job.kafka.clone(),
            database_url: job.database_url.to_owned(),
            group: job.group.to_owned(),
            records: job.records,
            rate: job.rate,
            poll_every: job.poll_every,
            timeout: job.timeout,
        };
        let measured = on_own_thread(plan).await?;
        Ok(measured.into_delay(job.batch, job.rate, job.probe))
    }
    .await;
    running
        .stop_after(outcome)
        .await
        .with_context(|| format!("while measuring the delay with {}", job.batch.label()))
}

async fn wait_caught_up(
    running: &Running,
    watch: &PgPool,
    group: &str,
    ends: &Positions,
    timeout: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        running.check()?;
        let left = behind(ends, &positions::stored(watch, group).await?);
        if left == 0 {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("the projector was still {left} records behind after {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// What the measuring thread needs, owned: it moves there.
#[derive(Debug)]
struct Plan {
    kafka: KafkaSettings,
    database_url: String,
    group: String,
    records: Vec<Wire>,
    rate: u32,
    poll_every: Duration,
    timeout: Duration,
}

/// What the measuring thread brings back.
#[derive(Debug)]
struct Measured {
    records: u64,
    acked_rate: f64,
    send_lateness_max: Duration,
    delay: Histogram<u64>,
    poll_period: Histogram<u64>,
    visible_before_ack: u64,
}

impl Measured {
    fn into_delay(self, batch: BatchSetting, rate: u32, probe: &Probe) -> Delay {
        Delay {
            label: format!("projector {}", batch.label()),
            target_rate: rate,
            records: self.records,
            acked_rate: self.acked_rate,
            send_lateness_max: self.send_lateness_max,
            delay: spread(&self.delay),
            poll_period: spread(&self.poll_period),
            visible_before_ack: self.visible_before_ack,
            projector: probe.take(),
        }
    }
}

async fn on_own_thread(plan: Plan) -> anyhow::Result<Measured> {
    let (done, result) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("delay-measure".to_owned())
        .spawn(move || {
            let measured = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("while building the measuring runtime")
                .and_then(|runtime| runtime.block_on(measure(plan)));
            let _ = done.send(measured);
        })
        .context("while starting the measuring thread")?;
    result
        .await
        .map_err(|_| anyhow!("the measuring thread ended without a result"))?
}

async fn measure(plan: Plan) -> anyhow::Result<Measured> {
    let mut db = PgConnection::connect(&plan.database_url)
        .await
        .context("while connecting the offset reader")?;
    let (producer, deliveries) = Producer::new(&plan.kafka, None)?;
    let deadline = Instant::now() + plan.timeout;
    let expected = u64::try_from(plan.records.len()).unwrap_or(u64::MAX);
    let send = send_on_schedule(&producer, &plan.records, plan.rate, deadline);
    let watch = watch(
        &mut db,
        &plan.group,
        deliveries,
        expected,
        plan.poll_every,
        deadline,
    );
    let (send_lateness_max, watched) = tokio::try_join!(send, watch)?;
    producer.close().await;
    let _ = db.close().await;
    Ok(Measured {
        records: expected,
        send_lateness_max,
        ..watched
    })
}

/// Sends record `i` at `start + i / rate`; returns how late the latest send was.
async fn send_on_schedule(
    producer: &Producer,
    records: &[Wire],
    rate: u32,
    deadline: Instant,
) -> anyhow::Result<Duration> {
    let start = tokio::time::Instant::now();
    let mut latest = Duration::ZERO;
    for (index, record) in records.iter().enumerate() {
        let at = start + Duration::from_secs_f64(index as f64 / f64::from(rate.max(1)));
        tokio::time::sleep_until(at).await;
        latest = latest.max(tokio::time::Instant::now().saturating_duration_since(at));
        producer.send(record, deadline).await?;
    }
    Ok(latest)
}

/// Records acknowledged but not yet seen visible, per partition, by offset.
type Pending = HashMap<Partition, BTreeMap<i64, Instant>>;

/// Reads `projector_offsets` every `poll_every` until all `expected` records were seen visible.
async fn watch(
    db: &mut PgConnection,
    group: &str,
    mut deliveries: UnboundedReceiver<Delivery>,
    expected: u64,
    poll_every: Duration,
    deadline: Instant,
) -> anyhow::Result<Measured> {
    let mut delay = histogram()?;
    let mut poll_period = histogram()?;
    let mut pending = Pending::new();
    let (mut acked, mut visible, mut before_ack) = (0_u64, 0_u64, 0_u64);
    let (mut first_ack, mut last_ack): (Option<Instant>, Option<Instant>) = (None, None);
    let mut last_poll: Option<Instant> = None;
    let mut ticker = tokio::time::interval(poll_every);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    while visible < expected {
        ticker.tick().await;
        let stored = positions::stored(&mut *db, group).await?;
        // The moment the rows were seen: the read's snapshot is at most this late.
        let now = Instant::now();
        if let Some(last) = last_poll.replace(now) {
            poll_period.saturating_record(micros(now - last));
        }
        // Deliveries reported up to now; one reported after `now` for a record this read
        // already covers was visible before its report arrived, and counts as zero delay.
        while let Ok(delivery) = deliveries.try_recv() {
            let ack = delivery.map_err(|reason| anyhow!("while producing: {reason}"))?;
            acked += 1;
            first_ack.get_or_insert(ack.at);
            last_ack = Some(ack.at);
            pending
                .entry(ack.partition)
                .or_default()
                .insert(ack.offset, ack.at);
        }
        for (partition, next) in &stored {
            let Some(waiting) = pending.get_mut(partition) else {
                continue;
            };
            let still_waiting = waiting.split_off(next);
            for (_, acked_at) in std::mem::replace(waiting, still_waiting) {
                visible += 1;
                if acked_at > now {
                    before_ack += 1;
                }
                delay.saturating_record(micros(now.saturating_duration_since(acked_at)));
            }
        }
        if Instant::now() >= deadline {
            bail!("{visible} of {expected} records visible ({acked} acknowledged) at the deadline");
        }
    }
    let acked_rate = match (first_ack, last_ack) {
        (Some(first), Some(last)) if last > first => {
            (acked.saturating_sub(1)) as f64 / (last - first).as_secs_f64()
        }
        _ => 0.0,
    };
    Ok(Measured {
        records: expected,
        acked_rate,
        send_lateness_max: Duration::ZERO,
        delay,
        poll_period,
        visible_before_ack: before_ack,
    })
}

fn histogram() -> anyhow::Result<Histogram<u64>> {
    Histogram::new_with_max(HISTOGRAM_MAX_MICROS, 3).context("while creating a histogram")
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

fn spread(histogram: &Histogram<u64>) -> Spread {
    let at = |quantile: f64| Duration::from_micros(histogram.value_at_quantile(quantile));
    Spread {
        p50: at(0.50),
        p90: at(0.90),
        p99: at(0.99),
        p999: at(0.999),
        max: Duration::from_micros(histogram.max()),
        mean: Duration::from_secs_f64(histogram.mean().max(0.0) / 1e6),
    }
}
