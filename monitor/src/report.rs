//! What the monitor says, as served by the JSON API (`/api/v1/lag`, `/api/v1/history`) and
//! drawn by the dashboard. Field names are the API; change them only with the dashboard and
//! `docs/monitoring.md`.

use crate::lag::Isolation;
use crate::status::Status;
use serde::Serialize;
use std::collections::BTreeMap;

/// One sample of every monitored group.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LagReport {
    /// When the sample was taken (epoch millis).
    pub sampled_at_ms: i64,
    /// How long taking it took.
    pub sample_duration_ms: u64,
    /// The sampling interval.
    pub interval_ms: u64,
    /// Which end lag is measured to.
    pub isolation: Isolation,
    /// By group name.
    pub groups: Vec<GroupReport>,
    /// Every topic a monitored group reads, by name.
    pub topics: Vec<TopicReport>,
}

/// One consumer group.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GroupReport {
    pub group: String,
    /// The worst status of its partitions.
    pub status: Status,
    /// Why, from the partition that decided it.
    pub reason: String,
    /// The coordinator's view (`Stable`, `Empty`, ...), if it answered.
    pub state: Option<String>,
    pub members: Option<usize>,
    /// Summed over its partitions.
    pub lag_records: u64,
    /// The largest of its partitions; `None` when no partition's is known.
    pub lag_seconds: Option<f64>,
    /// Records committed per second over the rate window.
    pub consume_rate: f64,
    pub topics: Vec<GroupTopicReport>,
    pub partitions: Vec<PartitionReport>,
}

/// One group on one topic, summed over partitions.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GroupTopicReport {
    pub topic: String,
    pub status: Status,
    pub lag_records: u64,
    pub lag_seconds: Option<f64>,
}

/// One group on one partition.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PartitionReport {
    pub topic: String,
    pub partition: i32,
    /// `None` before the group's first commit here.
    pub committed_offset: Option<i64>,
    /// When it last committed here (epoch millis).
    pub last_commit_ms: Option<i64>,
    pub log_start_offset: i64,
    /// High watermark.
    pub log_end_offset: i64,
    /// Last stable offset.
    pub stable_offset: i64,
    pub lag_records: u64,
    pub lag_seconds: Option<f64>,
    pub status: Status,
    pub reason: String,
}

/// One topic.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TopicReport {
    pub topic: String,
    pub partitions: usize,
    /// High watermarks summed.
    pub log_end_offset: i64,
    /// Records (and markers) appended per second over the rate window.
    pub produce_rate: f64,
}

/// Recent samples, oldest first, for charts.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct History {
    pub interval_ms: u64,
    /// How much history the monitor keeps (`SHOP_MONITOR_HISTORY`).
    pub keep_ms: u64,
    pub points: Vec<HistoryPoint>,
}

/// One sample, reduced to lag per group and per group and topic.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HistoryPoint {
    pub at_ms: i64,
    pub groups: BTreeMap<String, LagTotals>,
}

/// Lag of a group (and, inside, of each of its topics).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LagTotals {
    pub status: Status,
    pub lag_records: u64,
    pub lag_seconds: Option<f64>,
    /// By topic; empty inside a topic's own totals.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub topics: BTreeMap<String, LagTotals>,
}

impl HistoryPoint {
    /// The chartable part of `report`.
    pub fn of(report: &LagReport) -> Self {
        let groups = report
            .groups
            .iter()
            .map(|group| {
                let topics = group
                    .topics
                    .iter()
                    .map(|topic| {
                        (
                            topic.topic.clone(),
                            LagTotals {
                                status: topic.status,
                                lag_records: topic.lag_records,
                                lag_seconds: topic.lag_seconds,
                                topics: BTreeMap::new(),
                            },
                        )
                    })
                    .collect();
                (
                    group.group.clone(),
                    LagTotals {
                        status: group.status,
                        lag_records: group.lag_records,
                        lag_seconds: group.lag_seconds,
                        topics,
                    },
                )
            })
            .collect();
        Self {
            at_ms: report.sampled_at_ms,
            groups,
        }
    }
}

/// The larger of two optional lags in seconds.
pub fn max_seconds(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}
