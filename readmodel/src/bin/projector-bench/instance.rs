//! One projector, run in this process exactly as `shop-projector` runs it (`projector::run`),
//! with a batch setting of the bench's choosing.

use crate::args::BatchSetting;
use anyhow::{Context, anyhow, bail};
use shop_platform::kafka::KafkaSettings;
use shop_readmodel::projector::{self, ProjectorConfig, ProjectorError};
use shop_schemas::{AvroCodec, Registration, RegistryConfig};
use shop_topics::TopicNames;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long a stopping projector may take to write its open batch and leave the group.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// A running projector.
#[derive(Debug)]
pub(crate) struct Running {
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), ProjectorError>>,
}

/// Starts a projector in `group` on `pool`. Its codec is fresh, as a freshly started
/// projector's: the registry lookups it makes (once per writer schema) are on the clock.
pub(crate) fn spawn(
    kafka: &KafkaSettings,
    registry: &RegistryConfig,
    topics: &TopicNames,
    group: &str,
    batch: BatchSetting,
    pool: &PgPool,
) -> anyhow::Result<Running> {
    let codec = Arc::new(
        AvroCodec::new(registry, Registration::LookupOnly)
            .context("while creating the projector's codec")?,
    );
    let mut config = ProjectorConfig::new(group, topics.clone());
    config.batch_max_records = batch.max_records;
    config.batch_linger = batch.linger;
    let shutdown = CancellationToken::new();
    let (kafka, pool, stop) = (kafka.clone(), pool.clone(), shutdown.clone());
    let task = tokio::spawn(async move { projector::run(config, &kafka, codec, pool, stop).await });
    Ok(Running { shutdown, task })
}

impl Running {
    /// Fails if the projector has stopped by itself (it only does on a fatal error, which
    /// [`Running::stop_after`] then reports).
    pub(crate) fn check(&self) -> anyhow::Result<()> {
        if self.task.is_finished() {
            bail!("the projector stopped by itself");
        }
        Ok(())
    }

    /// Stops the projector once `outcome` is known, keeping both errors if both failed: when
    /// a wait failed because the projector died, the projector's own error says why.
    pub(crate) async fn stop_after<T>(self, outcome: anyhow::Result<T>) -> anyhow::Result<T> {
        let stopped = self.stop().await;
        match (outcome, stopped) {
            (Ok(value), Ok(())) => Ok(value),
            (Ok(_), Err(error)) | (Err(error), Ok(())) => Err(error),
            (Err(error), Err(stop_error)) => Err(stop_error.context(format!("{error:#}"))),
        }
    }

    /// Stops the projector and reports how it ended.
    async fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        match tokio::time::timeout(STOP_TIMEOUT, &mut self.task).await {
            Err(_) => {
                self.task.abort();
                Err(anyhow!(
                    "the projector did not stop within {STOP_TIMEOUT:?}"
                ))
            }
            Ok(Err(error)) => Err(anyhow!("the projector's task failed: {error}")),
            Ok(Ok(result)) => result.context("the projector failed"),
        }
    }
}
