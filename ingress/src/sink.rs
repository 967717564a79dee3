//! [`BoundedSink`]: at most N commands on their way to Kafka at once, refusing the rest at once
//! (503 with `Retry-After`) instead of queueing them without bound while the broker is slow.

use crate::ports::{CommandSink, OutgoingCommand, SinkError};
use futures::future::BoxFuture;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Wraps a sink so that at most `max_in_flight` sends run at once.
#[derive(Debug)]
pub struct BoundedSink {
    inner: Arc<dyn CommandSink>,
    permits: Arc<Semaphore>,
}

impl BoundedSink {
    /// `inner` with at most `max_in_flight` (at least 1) sends at a time.
    pub fn new(inner: Arc<dyn CommandSink>, max_in_flight: usize) -> Self {
        Self {
            inner,
            permits: Arc::new(Semaphore::new(max_in_flight.max(1))),
        }
    }

    /// Sends that may start now.
    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }
}

impl CommandSink for BoundedSink {
    fn send(&self, command: OutgoingCommand) -> BoxFuture<'_, Result<(), SinkError>> {
        Box::pin(async move {
            // try_acquire, never acquire: waiting for a permit is the unbounded queue we refuse.
            let _permit = self
                .permits
                .clone()
                .try_acquire_owned()
                .map_err(|_| SinkError::Full)?;
            self.inner.send(command).await
        })
    }
}
