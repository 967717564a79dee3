//! The runtime's metrics, through the `metrics` facade: whatever recorder the binary installs
//! (Prometheus in the services) receives them; without one they cost next to nothing.
//!
//! Handles are created once per label set and cached, so the per-record cost is an atomic add.

use metrics::{Counter, Histogram, counter, histogram};
use shop_topics::names::metrics as names;
use std::collections::HashMap;
use std::time::Duration;

/// Cached metric handles of one processor instance.
pub(crate) struct Meters {
    processor: String,
    records_in: HashMap<String, Counter>,
    records_out: HashMap<String, Counter>,
    dead_letters: HashMap<String, Counter>,
    handler: Histogram,
    commit: Histogram,
    batch: Histogram,
    aborts: Counter,
    restore: Histogram,
    assigned: Counter,
    revoked: Counter,
    deadlines: Counter,
}

impl Meters {
    pub(crate) fn new(processor: &str) -> Self {
        let label = processor.to_owned();
        Self {
            processor: label.clone(),
            records_in: HashMap::new(),
            records_out: HashMap::new(),
            dead_letters: HashMap::new(),
            handler: histogram!(names::HANDLER_SECONDS, "processor" => label.clone()),
            commit: histogram!(names::COMMIT_SECONDS, "processor" => label.clone()),
            batch: histogram!(names::BATCH_RECORDS, "processor" => label.clone()),
            aborts: counter!(names::ABORTS, "processor" => label.clone()),
            restore: histogram!(names::RESTORE_SECONDS, "processor" => label.clone()),
            assigned: counter!(names::REBALANCES, "processor" => label.clone(), "kind" => "assigned"),
            revoked: counter!(names::REBALANCES, "processor" => label.clone(), "kind" => "revoked"),
            deadlines: counter!(names::DEADLINES_FIRED, "processor" => label),
        }
    }

    fn by_topic<'a>(
        cache: &'a mut HashMap<String, Counter>,
        name: &'static str,
        processor: &str,
        topic: &str,
    ) -> &'a Counter {
        cache.entry(topic.to_owned()).or_insert_with(
            || counter!(name, "processor" => processor.to_owned(), "topic" => topic.to_owned()),
        )
    }

    pub(crate) fn record_in(&mut self, topic: &str) {
        Self::by_topic(
            &mut self.records_in,
            names::RECORDS_IN,
            &self.processor,
            topic,
        )
        .increment(1);
    }

    pub(crate) fn record_out(&mut self, topic: &str) {
        Self::by_topic(
            &mut self.records_out,
            names::RECORDS_OUT,
            &self.processor,
            topic,
        )
        .increment(1);
    }

    pub(crate) fn dead_letter(&mut self, source_topic: &str) {
        Self::by_topic(
            &mut self.dead_letters,
            names::DEAD_LETTERS,
            &self.processor,
            source_topic,
        )
        .increment(1);
    }

    pub(crate) fn handled(&self, took: Duration) {
        self.handler.record(took.as_secs_f64());
    }

    pub(crate) fn committed(&self, took: Duration, records: usize) {
        self.commit.record(took.as_secs_f64());
        self.batch.record(records as f64);
    }

    pub(crate) fn aborted(&self) {
        self.aborts.increment(1);
    }

    pub(crate) fn restored(&self, took: Duration) {
        self.restore.record(took.as_secs_f64());
    }

    pub(crate) fn assigned(&self, partitions: usize) {
        self.assigned.increment(partitions as u64);
    }

    pub(crate) fn revoked(&self, partitions: usize) {
        self.revoked.increment(partitions as u64);
    }

    pub(crate) fn deadline_fired(&self) {
        self.deadlines.increment(1);
    }
}
