//! The measured runtime (**eos**): a pass-through handler run by the project's exactly-once
//! runtime with one batch setting, timed to the commit of the input's end offsets.

use crate::plan::{BatchSetting, Plan, Variant};
use crate::probe::{Probe, count_committed, sample, wait_for_commits};
use crate::report::Sample;
use crate::{NAME, blocking, ends_total};
use anyhow::{Context, anyhow, bail, ensure};
use rdkafka::consumer::{BaseConsumer, Consumer};
use shop_platform::kafka::{KafkaSettings, TracingContext};
use shop_processors::runtime::{
    self, Handler, HandlerError, Outputs, RecordContext, RuntimeConfig,
};
use shop_schemas::inventory::{InventoryCommand, StockLevel};
use shop_schemas::{AvroCodec, Registration, RegistryConfig};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How long a stopping runtime may take to finish its open transaction and leave the group.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// Sends every command on unchanged, same key, to one topic: the least a handler can do, so
/// what is measured is the runtime's own cost (decode, encode, produce, commit), not business
/// logic. Stateless: the state type is only there because a handler must name one.
#[derive(Debug)]
struct PassThrough {
    output_topic: String,
    probe: Arc<Probe>,
}

impl Handler for PassThrough {
    type Input = InventoryCommand;
    type State = StockLevel;

    fn handle(
        &mut self,
        record: &RecordContext<'_>,
        input: InventoryCommand,
        _state: &mut Option<StockLevel>,
        out: &mut Outputs,
    ) -> Result<(), HandlerError> {
        self.probe.record();
        out.send(self.output_topic.clone(), record.key, input);
        Ok(())
    }
}

/// The runtime with one batch setting, from its start to the commit of the input's end
/// offsets; then stopped, and its output counted off the clock.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run_eos(
    kafka: &KafkaSettings,
    registry: &RegistryConfig,
    plan: &Plan,
    output: &str,
    group: &str,
    batch: BatchSetting,
    ends: &[(i32, i64)],
    timeout: Duration,
) -> anyhow::Result<Sample> {
    let variant = Variant::Eos(batch);
    // A fresh codec, like a freshly started processor: its registry lookups are on the clock,
    // once per subject and writer schema id, then cached.
    let codec = Arc::new(
        AvroCodec::new(registry, Registration::LookupOnly)
            .context("while creating the runtime's codec")?,
    );
    let mut config = RuntimeConfig::new(
        NAME,
        group,
        format!("{group}.tx"),
        vec![plan.input.clone()],
        None,
    );
    config.batch_max_records = batch.max_records;
    config.batch_linger = batch.linger;
    let probe = Arc::new(Probe::default());
    let handler = PassThrough {
        output_topic: output.to_owned(),
        probe: Arc::clone(&probe),
    };
    let shutdown = CancellationToken::new();

    let start = Instant::now();
    let mut task = tokio::spawn(runtime::run(
        config,
        kafka.clone(),
        codec,
        handler,
        shutdown.clone(),
    ));
    let stop_watching = Arc::new(AtomicBool::new(false));
    let mut watcher = {
        let (kafka, group, input) = (kafka.clone(), group.to_owned(), plan.input.clone());
        let ends = ends.to_vec();
        let stop = Arc::clone(&stop_watching);
        let deadline = start + timeout;
        tokio::task::spawn_blocking(move || {
            wait_for_commits(&kafka, &group, &input, &ends, deadline, &stop)
                .map(|()| start.elapsed())
        })
    };
    let watched = tokio::select! {
        watched = &mut watcher => watched
            .map_err(|error| anyhow!("the commit watcher failed: {error}"))
            .and_then(|result| result),
        ended = &mut task => {
            stop_watching.store(true, Ordering::Relaxed);
            let error = match ended {
                Ok(Ok(())) => anyhow!("the runtime stopped before the input was committed"),
                Ok(Err(error)) => anyhow::Error::new(error),
                Err(error) => anyhow!("the runtime's task failed: {error}"),
            };
            return Err(error.context(format!("while running {}", variant.label())));
        }
    };
    shutdown.cancel();
    let stopped = tokio::time::timeout(STOP_TIMEOUT, &mut task).await;
    let elapsed = watched.with_context(|| format!("while measuring {}", variant.label()))?;
    match stopped {
        Err(_) => bail!(
            "{}: the runtime did not stop within {STOP_TIMEOUT:?}",
            variant.label()
        ),
        Ok(Err(error)) => bail!("{}: the runtime's task failed: {error}", variant.label()),
        Ok(Ok(Err(error))) => {
            return Err(anyhow::Error::new(error))
                .with_context(|| format!("while stopping the runtime ({})", variant.label()));
        }
        Ok(Ok(Ok(()))) => {}
    }
    let records = ends_total(ends);
    let measured = sample(variant, records, start, elapsed, &probe);

    // Off the clock: the committed output holds every record exactly once, and nothing was
    // dead-lettered. Without this a fast figure could be a wrong one.
    let (kafka, output_topic, dead_letters) =
        (kafka.clone(), output.to_owned(), plan.dead_letters.clone());
    let partitions = i32::try_from(ends.len()).context("while counting partitions")?;
    let verify_group = format!("{group}.verify");
    blocking("verifying the output", move || {
        let counted = count_committed(
            &kafka,
            &verify_group,
            &output_topic,
            partitions,
            records,
            timeout,
        )?;
        ensure!(
            counted == records,
            "{output_topic} holds {counted} committed records, expected {records}"
        );
        let consumer: BaseConsumer<TracingContext> = kafka
            .consumer(&verify_group)
            .create_with_context(TracingContext)
            .context("while creating a consumer to check the dead-letter topic")?;
        let (low, high) = consumer
            .fetch_watermarks(&dead_letters, 0, timeout)
            .context("while reading the dead-letter topic's offsets")?;
        ensure!(
            high == low,
            "{} records were dead-lettered to {dead_letters}",
            high - low
        );
        Ok(())
    })
    .await
    .with_context(|| format!("while verifying {}", variant.label()))?;
    Ok(measured)
}
