//! Publishes each report as Prometheus metrics (names in `shop_topics::names::metrics`).
//!
//! Labels are bounded: group, topic and partition come from the pipeline's configuration (its
//! groups and topics), never from record contents. A group or partition that disappears keeps
//! its last values until the process restarts: the exporter cannot delete a series, so alerts
//! should also look at `shop_lag_monitor_sample_seconds_count` moving.

use crate::report::LagReport;
use crate::status::Status;
use metrics::gauge;
use shop_topics::names::metrics as names;

/// Sets every gauge from `report`.
#[allow(clippy::cast_precision_loss)] // offsets and lag as gauges: exact below 2^52
pub fn publish(report: &LagReport) {
    for group in &report.groups {
        let name = group.group.clone();
        gauge!(names::LAG_GROUP_RECORDS, "group" => name.clone()).set(group.lag_records as f64);
        gauge!(names::LAG_GROUP_SECONDS, "group" => name.clone())
            .set(group.lag_seconds.unwrap_or(0.0));
        gauge!(names::GROUP_CONSUME_RATE, "group" => name.clone()).set(group.consume_rate);
        for status in Status::ALL {
            let value = if status == group.status { 1.0 } else { 0.0 };
            gauge!(names::LAG_GROUP_STATUS, "group" => name.clone(), "status" => status.name())
                .set(value);
        }
        for partition in &group.partitions {
            let labels = [
                ("group", name.clone()),
                ("topic", partition.topic.clone()),
                ("partition", partition.partition.to_string()),
            ];
            gauge!(names::LAG_RECORDS, &labels).set(partition.lag_records as f64);
            gauge!(names::LAG_SECONDS, &labels).set(partition.lag_seconds.unwrap_or(0.0));
            gauge!(names::LAG_PARTITION_STATUS, &labels).set(f64::from(partition.status.code()));
            if let Some(offset) = partition.committed_offset {
                gauge!(names::LAG_COMMITTED_OFFSET, &labels).set(offset as f64);
            }
        }
    }
    let mut seen_partitions = std::collections::BTreeSet::new();
    for group in &report.groups {
        for partition in &group.partitions {
            if seen_partitions.insert((partition.topic.clone(), partition.partition)) {
                let labels = [
                    ("topic", partition.topic.clone()),
                    ("partition", partition.partition.to_string()),
                ];
                gauge!(names::TOPIC_END_OFFSET, &labels).set(partition.log_end_offset as f64);
                gauge!(names::TOPIC_STABLE_OFFSET, &labels).set(partition.stable_offset as f64);
            }
        }
    }
    for topic in &report.topics {
        gauge!(names::TOPIC_PRODUCE_RATE, "topic" => topic.topic.clone()).set(topic.produce_rate);
    }
}
