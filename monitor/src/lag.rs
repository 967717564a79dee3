//! Lag of one group on one partition, in records and in seconds, from offsets and a probe.

use crate::offsets::LogOffsets;
use crate::probe::Probe;

/// Which end a group's lag is measured to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Isolation {
    /// To the last stable offset: what a `read_committed` consumer (every processor of this
    /// pipeline) can read. Records of open transactions are not lag yet; they cannot be read.
    #[default]
    ReadCommitted,
    /// To the high watermark, for plain consumers.
    ReadUncommitted,
}

impl Isolation {
    /// The end of `offsets` a consumer of this isolation reads to.
    pub fn end(self, offsets: &LogOffsets) -> i64 {
        match self {
            Self::ReadCommitted => offsets.last_stable,
            Self::ReadUncommitted => offsets.high_watermark,
        }
    }
}

/// Where a group will read next: its committed offset, or the log's start when it has none
/// (every consumer of this pipeline uses `auto.offset.reset=earliest`) or when retention
/// deleted what it committed.
pub fn position(committed: Option<i64>, offsets: &LogOffsets) -> i64 {
    committed
        .unwrap_or(offsets.log_start)
        .max(offsets.log_start)
}

/// Lag measured at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lag {
    /// Records still to read, never negative.
    pub records: u64,
    /// How long the first of them has waited; 0 when caught up, `None` when unknown (the probe
    /// did not answer or the record has no timestamp).
    pub seconds: Option<f64>,
}

/// The lag of a group at `position` on a partition whose readable end is `end`.
///
/// Without a probe answer the lag is `end - position`, which counts any markers at the
/// position as records.
pub fn measure(position: i64, end: i64, probe: Probe, now_ms: i64) -> Lag {
    if position >= end {
        return Lag {
            records: 0,
            seconds: Some(0.0),
        };
    }
    match probe {
        Probe::AtEnd => Lag {
            records: 0,
            seconds: Some(0.0),
        },
        Probe::Record {
            offset,
            timestamp_ms,
        } => {
            let first = offset.max(position);
            if first >= end {
                return Lag {
                    records: 0,
                    seconds: Some(0.0),
                };
            }
            Lag {
                records: records_between(first, end),
                seconds: timestamp_ms.map(|at| seconds_between(at, now_ms)),
            }
        }
        Probe::Unknown => Lag {
            records: records_between(position, end),
            seconds: None,
        },
    }
}

fn records_between(from: i64, to: i64) -> u64 {
    u64::try_from(to.saturating_sub(from)).unwrap_or(0)
}

/// Seconds from `from_ms` to `to_ms`, never negative (a producer's clock ahead of ours would
/// otherwise make a waiting record look younger than new).
#[allow(clippy::cast_precision_loss)] // millis since a record was written: far below 2^52
fn seconds_between(from_ms: i64, to_ms: i64) -> f64 {
    (to_ms.saturating_sub(from_ms).max(0)) as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offsets(log_start: i64, high_watermark: i64, last_stable: i64) -> LogOffsets {
        LogOffsets {
            log_start,
            high_watermark,
            last_stable,
        }
    }

    #[test]
    fn without_a_commit_the_group_starts_at_the_log_start() {
        assert_eq!(position(None, &offsets(40, 100, 100)), 40);
        assert_eq!(
            position(Some(10), &offsets(40, 100, 100)),
            40,
            "retention ate it"
        );
        assert_eq!(position(Some(70), &offsets(40, 100, 100)), 70);
    }

    #[test]
    fn read_committed_lag_stops_at_the_last_stable_offset() {
        let open_transaction = offsets(0, 120, 100);
        assert_eq!(Isolation::ReadCommitted.end(&open_transaction), 100);
        assert_eq!(Isolation::ReadUncommitted.end(&open_transaction), 120);
    }

    #[test]
    fn a_trailing_marker_is_not_lag() {
        // Committed at the marker's offset 99; the end is 100.
        let lag = measure(99, 100, Probe::AtEnd, 5_000);
        assert_eq!(lag.records, 0);
        assert_eq!(lag.seconds, Some(0.0));
    }

    #[test]
    fn leading_markers_are_skipped_and_seconds_come_from_the_first_record() {
        let probe = Probe::Record {
            offset: 12,
            timestamp_ms: Some(1_000),
        };
        let lag = measure(10, 20, probe, 3_500);
        assert_eq!(lag.records, 8);
        assert_eq!(lag.seconds, Some(2.5));
    }

    #[test]
    fn without_an_answer_lag_is_offset_arithmetic_and_seconds_are_unknown() {
        let lag = measure(10, 20, Probe::Unknown, 3_500);
        assert_eq!(lag.records, 10);
        assert_eq!(lag.seconds, None);
    }

    #[test]
    fn lag_is_never_negative() {
        let lag = measure(30, 20, Probe::Unknown, 0);
        assert_eq!(lag.records, 0);
        let future = Probe::Record {
            offset: 10,
            timestamp_ms: Some(9_000),
        };
        assert_eq!(measure(10, 20, future, 1_000).seconds, Some(0.0));
    }
}
