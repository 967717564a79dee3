//! Rebalance callbacks: librdkafka calls them from inside `poll`; they only record what
//! happened, and the loop acts on it right after the poll returns.

use rdkafka::TopicPartitionList;
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use shop_platform::kafka::TracingContext;
use std::sync::Mutex;

/// A topic and partition.
pub type TopicPartition = (String, i32);

/// Partitions assigned or revoked during a poll, in order.
#[derive(Debug)]
pub enum RebalanceEvent {
    Assigned(Vec<TopicPartition>),
    Revoked(Vec<TopicPartition>),
}

/// Collects rebalance events from inside `poll` for the loop to act on after it. Public for
/// other consumers with their own offset store (the read-model projector).
#[derive(Debug, Default)]
pub struct RebalanceContext {
    events: Mutex<Vec<RebalanceEvent>>,
}

fn partitions_of(list: &TopicPartitionList) -> Vec<TopicPartition> {
    list.elements()
        .iter()
        .map(|element| (element.topic().to_owned(), element.partition()))
        .collect()
}

impl RebalanceContext {
    fn push(&self, event: RebalanceEvent) {
        match self.events.lock() {
            Ok(mut events) => events.push(event),
            Err(poisoned) => poisoned.into_inner().push(event),
        }
    }

    /// The events since the last drain, oldest first.
    pub fn drain(&self) -> Vec<RebalanceEvent> {
        match self.events.lock() {
            Ok(mut events) => events.drain(..).collect(),
            Err(poisoned) => poisoned.into_inner().drain(..).collect(),
        }
    }
}

impl ClientContext for RebalanceContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        TracingContext.log(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        TracingContext.error(error, reason);
    }
}

impl ConsumerContext for RebalanceContext {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(list) = rebalance {
            self.push(RebalanceEvent::Revoked(partitions_of(list)));
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(list) => self.push(RebalanceEvent::Assigned(partitions_of(list))),
            Rebalance::Revoke(_) => {}
            Rebalance::Error(error) => tracing::warn!(%error, "rebalance failed"),
        }
    }
}
