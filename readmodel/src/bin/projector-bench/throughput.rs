//! The projector's throughput: a projector started on an empty database, timed from its start
//! until every input partition's next offset stored in `projector_offsets` has reached the
//! partition's end, i.e. until every preloaded record is visible in SQL.

use crate::args::BatchSetting;
use crate::cpu;
use crate::figures::Throughput;
use crate::instance;
use crate::positions::{self, Positions, behind, total};
use crate::probe::Probe;
use anyhow::{Context, bail};
use shop_platform::kafka::KafkaSettings;
use shop_schemas::RegistryConfig;
use shop_topics::TopicNames;
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How often `projector_offsets` is read while the projector catches up: against runs of
/// seconds this costs nothing in precision, and the reads take nothing from the projector.
const POLL_EVERY: Duration = Duration::from_millis(5);

/// How often the progress per topic is logged (at debug level).
const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// What one projector throughput run works on.
#[derive(Debug)]
pub(crate) struct Job<'a> {
    pub(crate) kafka: &'a KafkaSettings,
    pub(crate) registry: &'a RegistryConfig,
    pub(crate) topics: &'a TopicNames,
    pub(crate) group: &'a str,
    pub(crate) batch: BatchSetting,
    /// The projector's pool, on an empty, migrated database.
    pub(crate) pool: &'a PgPool,
    /// The bench's own pool on the same database, for reading the offsets.
    pub(crate) watch: &'a PgPool,
    pub(crate) ends: &'a Positions,
    pub(crate) probe: &'a Probe,
    pub(crate) timeout: Duration,
}

/// Runs the projector from offset zero to `ends`, then stops it (off the clock).
pub(crate) async fn run(job: &Job<'_>) -> anyhow::Result<Throughput> {
    let _ = job.probe.take(); // Whatever an earlier run left.
    let cpu_before = cpu::Snapshot::take(job.watch).await;
    let start = Instant::now();
    let running = instance::spawn(
        job.kafka,
        job.registry,
        job.topics,
        job.group,
        job.batch,
        job.pool,
    )?;
    let waited = async {
        let deadline = start + job.timeout;
        let mut first = None;
        let mut next_report = PROGRESS_EVERY;
        loop {
            running.check()?;
            let stored = positions::stored(job.watch, job.group).await?;
            let left = behind(job.ends, &stored);
            let now = start.elapsed();
            if now >= next_report {
                next_report += PROGRESS_EVERY;
                log_progress(now, job.ends, &stored);
            }
            if first.is_none() && left < total(job.ends) {
                first = Some((now, total(job.ends) - left));
            }
            if left == 0 {
                // Before the projector stops, while its backends and threads still exist.
                let cpu = cpu::Snapshot::take(job.watch).await.since(&cpu_before);
                return Ok((now, first, cpu));
            }
            if Instant::now() >= deadline {
                bail!(
                    "the projector was still {left} records behind after {:?}",
                    job.timeout
                );
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
    }
    .await;
    let (elapsed, first, cpu) = running
        .stop_after(waited)
        .await
        .with_context(|| format!("while projecting with {}", job.batch.label()))?;
    let taken = job.probe.take();
    // Where a slow run spent its time: `SHOP_LOG=projector_bench=debug` lists every batch.
    tracing::debug!(
        batch = %job.batch.label(),
        transaction_ms = ?taken
            .batch_seconds
            .iter()
            .map(|seconds| (seconds * 1e3).round())
            .collect::<Vec<_>>(),
        "batch transactions in order"
    );
    Ok(Throughput {
        label: format!("projector {}", job.batch.label()),
        records: total(job.ends),
        elapsed,
        first: first.map(|(at, _)| at),
        done_at_first: first.map_or(0, |(_, done)| done),
        projector: Some(taken),
        cpu: Some(cpu).filter(|used| !used.database.on_cpu.is_zero()),
    })
}

/// Records applied per topic so far: which topics a stretch of the run spent its time on, to
/// be read next to the batch times. `SHOP_LOG=projector_bench=debug` shows it.
fn log_progress(at: Duration, ends: &Positions, stored: &Positions) {
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return;
    }
    let mut per_topic: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    for ((topic, partition), end) in ends {
        let done = stored
            .get(&(topic.clone(), *partition))
            .copied()
            .unwrap_or(0)
            .min(*end);
        let entry = per_topic.entry(topic).or_default();
        entry.0 += done;
        entry.1 += end;
    }
    let progress: Vec<String> = per_topic
        .iter()
        .map(|(topic, (done, end))| format!("{topic} {done}/{end}"))
        .collect();
    tracing::debug!(at = ?at, progress = %progress.join(", "), "applied per topic");
}
