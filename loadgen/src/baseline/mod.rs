//! The raw-Kafka baseline: records through a chain of fresh topics on the same broker, with as
//! many topic hops as a checkout takes through the pipeline, so the pipeline's cost can be
//! stated as a ratio to what the broker and librdkafka alone cost on the same machine.
//!
//! ```text
//! injector ─▶ hop0 ─▶ relay ─▶ hop1 ─▶ relay ─▶ … ─▶ hop6 ─▶ sink
//! ```
//!
//! Two phases: **paced**, the open-loop timetable at the load run's rate, each record timed
//! from its due time to the sink; then **burst**, a block sent at once, timed until its last
//! record reaches the sink (the chain's most records/s). Relays are [`RelayMode::Plain`] or
//! [`RelayMode::Transactional`] (read-process-write, as the exactly-once runtime). The topics
//! are created for the run and deleted afterwards.

mod ends;
mod relay;
mod topics;

pub use ends::HEADER_BYTES;
pub use topics::names as topic_names;

use crate::config::{BaselineConfig, ConfigError};
use crate::cpu::{CpuReport, Machine, Snapshot};
use crate::load::now_rfc3339;
use crate::report::{BaselineReport, BaselineSecond, BaselineSettings, BurstReport, PacedReport};
use crate::schedule::Schedule;
use ends::{Injector, SinkProgress, SinkTally, Timetable};
use rdkafka::error::KafkaError;
use relay::{RelayCounters, RelaySpec};
use shop_platform::procfs::load_average;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Why a baseline could not run.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("{doing} failed: {source}")]
    Kafka {
        doing: &'static str,
        #[source]
        source: KafkaError,
    },
    #[error("{0}")]
    Topics(String),
    #[error("cannot start a thread: {0}")]
    Thread(String),
    #[error("a baseline thread panicked: {0}")]
    Panicked(String),
    #[error("cannot make a histogram: {0}")]
    Histogram(#[from] hdrhistogram::CreationError),
}

impl BaselineError {
    fn kafka(doing: &'static str, source: KafkaError) -> Self {
        Self::Kafka { doing, source }
    }
}

/// How far ahead of now the first record is due: room for the relays' first fetches.
const LEAD: Duration = Duration::from_secs(1);
/// How often progress is looked at while waiting for the sink.
const PROGRESS_POLL: Duration = Duration::from_millis(5);

/// Runs the baseline chain described by `config` and deletes its topics, whatever happened.
/// `shutdown` ends it early (`interrupted: true`).
///
/// # Errors
/// [`BaselineError`] if the chain could not be built or a client failed outright. Records
/// that never arrive are reported as `lost`, not as an error.
pub async fn run_baseline(
    config: &BaselineConfig,
    shutdown: CancellationToken,
) -> Result<BaselineReport, BaselineError> {
    config.validate()?;
    let schedule =
        Schedule::new(config.rate, config.warmup + config.duration).map_err(ConfigError::from)?;
    let names = topics::names(&config.run_id, config.topics);
    topics::create(&config.kafka, &names, config.partitions, config.timeout).await?;
    let result = run_chain(config, schedule, &names, &shutdown).await;
    let deleted = topics::delete(&config.kafka, &names, config.timeout).await;
    if let Err(error) = &deleted {
        tracing::error!(%error, topics = ?names, "the baseline topics were not deleted");
    }
    let mut report = result?;
    report.topics_deleted = deleted.is_ok();
    Ok(report)
}

async fn run_chain(
    config: &BaselineConfig,
    schedule: Schedule,
    names: &[String],
    shutdown: &CancellationToken,
) -> Result<BaselineReport, BaselineError> {
    let started_at = now_rfc3339();
    let mut machine = Machine::now();
    let stop_relays = Arc::new(AtomicBool::new(false));
    let counters = Arc::new(RelayCounters::default());
    let mut relays = Vec::new();
    for (hop, pair) in names.windows(2).enumerate() {
        let spec = RelaySpec {
            kafka: config.kafka.clone(),
            mode: config.mode,
            from: pair[0].clone(),
            to: pair[1].clone(),
            partitions: config.partitions,
            name: format!("shop-load.{}.relay{hop}", config.run_id),
            batch_max_records: config.batch_max_records,
            batch_linger: config.batch_linger,
        };
        match relay::start(spec, Arc::clone(&stop_relays), Arc::clone(&counters)) {
            Ok(handle) => relays.push(handle),
            Err(error) => {
                stop_relays.store(true, Ordering::Relaxed);
                join_all(relays).await;
                return Err(error);
            }
        }
    }
    let start = Instant::now() + LEAD;
    let timetable = Timetable {
        start,
        schedule,
        first_measured: schedule.first_at_or_after(config.warmup),
        window_from: config.warmup,
        window_until: config.warmup + config.duration,
    };
    let progress = Arc::new(SinkProgress::default());
    let stop_sink = Arc::new(AtomicBool::new(false));
    let last = names.last().map(String::as_str).unwrap_or_default();
    let sink = ends::start_sink(
        &config.kafka,
        &format!("shop-load.{}.sink", config.run_id),
        last,
        config.partitions,
        timetable,
        Arc::clone(&progress),
        Arc::clone(&stop_sink),
    );
    let sink = match sink {
        Ok(sink) => sink,
        Err(error) => {
            stop_relays.store(true, Ordering::Relaxed);
            join_all(relays).await;
            return Err(error);
        }
    };
    let outcome = drive(config, names, timetable, &progress, shutdown).await;
    stop_relays.store(true, Ordering::Relaxed);
    stop_sink.store(true, Ordering::Relaxed);
    let relay_results = join_all(relays).await;
    let tally = tokio::task::spawn_blocking(move || sink.join())
        .await
        .map_err(|error| BaselineError::Panicked(error.to_string()))?
        .map_err(|_| BaselineError::Panicked("the sink".to_owned()))?;
    let driven = outcome?;
    for result in relay_results {
        result?;
    }
    machine.load_average_after = load_average();
    Ok(assemble(
        config,
        names,
        started_at,
        machine,
        driven,
        &tally,
        &counters,
        shutdown.is_cancelled(),
    ))
}

/// What the injector side of a run produced.
struct Driven {
    paced: ends::PacedSent,
    cpu: CpuReport,
    burst: Option<(Instant, u64)>,
}

/// Sends the paced phase (measuring CPU over its window), waits for it to arrive, then the
/// burst.
async fn drive(
    config: &BaselineConfig,
    names: &[String],
    timetable: Timetable,
    progress: &Arc<SinkProgress>,
    shutdown: &CancellationToken,
) -> Result<Driven, BaselineError> {
    let first = names.first().map(String::as_str).unwrap_or_default();
    let mut injector = Injector::new(&config.kafka, first, config.keys, config.payload_bytes)?;
    let stop = Arc::new(AtomicBool::new(false));
    let stop_on_shutdown = {
        let stop = Arc::clone(&stop);
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            shutdown.cancelled().await;
            stop.store(true, Ordering::Relaxed);
        })
    };
    let paced_stop = Arc::clone(&stop);
    let paced = tokio::task::spawn_blocking(move || {
        let sent = injector.paced(&timetable, &paced_stop);
        (injector, sent)
    });
    let watch = config.watch.clone();
    let cpu = async {
        tokio::time::sleep_until((timetable.start + timetable.window_from).into()).await;
        let first = Snapshot::take(&watch);
        tokio::time::sleep_until((timetable.start + timetable.window_until).into()).await;
        first.until(&Snapshot::take(&watch))
    };
    let cpu = tokio::select! {
        cpu = cpu => cpu,
        () = shutdown.cancelled() => CpuReport::default(),
    };
    let (mut injector, sent) = paced
        .await
        .map_err(|error| BaselineError::Panicked(error.to_string()))?;
    let paced = sent?;
    wait_for(&progress.paced, paced.sent, config.timeout, shutdown).await;
    let burst = if config.burst_records > 0 && !shutdown.is_cancelled() {
        let records = config.burst_records;
        let burst_stop = Arc::clone(&stop);
        let (first_sent, sent) =
            tokio::task::spawn_blocking(move || injector.burst(records, &burst_stop))
                .await
                .map_err(|error| BaselineError::Panicked(error.to_string()))??;
        wait_for(&progress.burst, sent, config.timeout, shutdown).await;
        Some((first_sent, sent))
    } else {
        None
    };
    stop_on_shutdown.abort();
    Ok(Driven { paced, cpu, burst })
}

/// Waits until `counter` reaches `target`, `timeout` passes without it growing, or shutdown.
async fn wait_for(
    counter: &std::sync::atomic::AtomicU64,
    target: u64,
    timeout: Duration,
    shutdown: &CancellationToken,
) {
    let mut seen = counter.load(Ordering::Relaxed);
    let mut last_growth = Instant::now();
    while seen < target && last_growth.elapsed() < timeout && !shutdown.is_cancelled() {
        tokio::time::sleep(PROGRESS_POLL).await;
        let now = counter.load(Ordering::Relaxed);
        if now > seen {
            seen = now;
            last_growth = Instant::now();
        }
    }
}

async fn join_all(
    handles: Vec<std::thread::JoinHandle<Result<(), BaselineError>>>,
) -> Vec<Result<(), BaselineError>> {
    let joined = tokio::task::spawn_blocking(move || {
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|_| Err(BaselineError::Panicked("a relay".to_owned())))
            })
            .collect::<Vec<_>>()
    })
    .await;
    joined.unwrap_or_else(|error| vec![Err(BaselineError::Panicked(error.to_string()))])
}

#[allow(clippy::too_many_arguments)] // One call site; a struct would only rename them.
fn assemble(
    config: &BaselineConfig,
    names: &[String],
    started_at: String,
    machine: Machine,
    driven: Driven,
    tally: &SinkTally,
    counters: &RelayCounters,
    interrupted: bool,
) -> BaselineReport {
    let window_s = config.duration.as_secs_f64();
    let sent = &driven.paced;
    let paced = PacedReport {
        planned: Schedule::new(config.rate, config.warmup + config.duration)
            .map(|schedule| schedule.count())
            .unwrap_or_default(),
        sent: sent.sent,
        received: tally.paced_received,
        lost: sent.sent.saturating_sub(tally.paced_received),
        late: sent.late,
        lateness: sent.lateness.summary(),
        end_to_end: tally.end_to_end.summary(),
        received_per_s: tally.in_window as f64 / window_s,
    };
    let burst = driven.burst.map(|(first_sent, records)| {
        let seconds = tally
            .last_burst
            .map(|last| last.saturating_duration_since(first_sent).as_secs_f64())
            .unwrap_or_default();
        BurstReport {
            records,
            received: tally.burst_received,
            seconds,
            records_per_s: if seconds > 0.0 {
                tally.burst_received as f64 / seconds
            } else {
                0.0
            },
        }
    });
    let warmup_seconds = crate::stats::second_of(config.warmup);
    let length = sent
        .per_second
        .slots()
        .len()
        .max(tally.per_second.slots().len());
    let series = (0..length)
        .map(|index| {
            let sink = tally.per_second.slots().get(index);
            BaselineSecond {
                second: index as u64,
                warmup: index < warmup_seconds,
                sent: sent
                    .per_second
                    .slots()
                    .get(index)
                    .copied()
                    .unwrap_or_default(),
                received: sink.map(|second| second.received).unwrap_or_default(),
                end_to_end: sink
                    .map(|second| second.latency.summary().into())
                    .unwrap_or_default(),
            }
        })
        .collect();
    BaselineReport {
        run_id: config.run_id.clone(),
        started_at,
        finished_at: now_rfc3339(),
        interrupted,
        settings: Some(BaselineSettings {
            mode: config.mode,
            topics: config.topics,
            relays: config.topics - 1,
            partitions: config.partitions,
            payload_bytes: config.payload_bytes,
            keys: config.keys,
            target_records_per_s: config.rate,
            duration_s: config.duration.as_secs_f64(),
            warmup_s: config.warmup.as_secs_f64(),
            burst_records: config.burst_records,
            batch_max_records: config.batch_max_records,
            batch_linger_ms: config.batch_linger.as_secs_f64() * 1_000.0,
        }),
        topic_names: names.to_vec(),
        topics_deleted: false,
        machine,
        paced,
        burst,
        transactions_committed: counters.committed.load(Ordering::Relaxed),
        transactions_aborted: counters.aborted.load(Ordering::Relaxed),
        cpu: driven.cpu,
        series,
    }
}
