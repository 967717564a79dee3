//! `shop-topics apply` as one call, without its report: creates or reconciles topics and
//! registers their schemas. For tests and benchmarks that set up a whole pipeline under a
//! prefix of their own.

use crate::cluster::{Cluster, ClusterError};
use crate::spec::TopicSpec;
use crate::subjects::{register_all, subjects};
use shop_platform::kafka::KafkaSettings;
use shop_schemas::registry::RegistryAdmin;
use shop_schemas::{CodecError, RegistryConfig};
use std::time::Duration;

/// Why provisioning stopped.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error(transparent)]
    Registry(#[from] CodecError),
}

/// Plans and applies `specs` (partitions grow only when missing topics are created) and
/// registers every key and value schema, pinned to BACKWARD.
///
/// # Errors
/// [`ProvisionError`] from the first request the cluster or the registry refuses.
pub async fn provision(
    kafka: &KafkaSettings,
    registry: &RegistryConfig,
    specs: &[TopicSpec],
    timeout: Duration,
) -> Result<(), ProvisionError> {
    let cluster = Cluster::new(kafka, timeout)?;
    cluster.apply(&cluster.plan(specs).await?, false).await?;
    register_all(&RegistryAdmin::new(registry)?, &subjects(specs)).await?;
    Ok(())
}
