//! The status of a group on a partition, in the spirit of Burrow: judged from lag over a
//! window of samples and from the commit history, not from one number against a threshold.
//!
//! Rules, first match wins (see `docs/monitoring.md` for the reasoning):
//! 1. Lag is 0 now: **OK**, whatever came before: the group has caught up.
//! 2. No commit for `stop_after` (or, for a partition never committed, seen with lag for that
//!    long): **STOPPED**. The consumer is gone or hung.
//! 3. Commits keep coming, but the committed offset has not moved for `stall_after`:
//!    **STALLED**. The consumer is alive and stuck on a record.
//! 4. An offset went backwards within the last `window`: **REWIND**. Someone reset offsets, or
//!    a consumer rewound; the records between will be read again.
//! 5. Lag never fell across the samples of the last `window` and grew from first to last, with
//!    at least 3 samples covering half the window: **WARNING**. It is keeping up less well than
//!    records arrive.
//! 6. Otherwise **OK**.

use crate::commits::CommitState;
use std::time::Duration;

/// A partition's or group's health, ordered from best to worst.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Ok,
    Warning,
    Rewind,
    Stalled,
    Stopped,
}

impl Status {
    /// Every status, best first.
    pub const ALL: [Self; 5] = [
        Self::Ok,
        Self::Warning,
        Self::Rewind,
        Self::Stalled,
        Self::Stopped,
    ];

    /// The name used in the JSON API, metric labels and alert rules.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::Warning => "WARNING",
            Self::Rewind => "REWIND",
            Self::Stalled => "STALLED",
            Self::Stopped => "STOPPED",
        }
    }

    /// The number exported as `shop_lag_partition_status`: worse is higher.
    pub fn code(self) -> u8 {
        match self {
            Self::Ok => 0,
            Self::Warning => 1,
            Self::Rewind => 2,
            Self::Stalled => 3,
            Self::Stopped => 4,
        }
    }
}

/// How long each rule waits before it speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// The span of samples WARNING looks at, and how long a REWIND is shown.
    pub window: Duration,
    /// A committed offset unchanged this long, while commits continue and lag is above 0.
    pub stall_after: Duration,
    /// No commit this long while lag is above 0.
    pub stop_after: Duration,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(30),
            stall_after: Duration::from_secs(30),
            stop_after: Duration::from_secs(30),
        }
    }
}

/// One sample of lag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LagPoint {
    pub at_ms: i64,
    pub records: u64,
}

/// What the rules look at for one group on one partition.
#[derive(Debug, Clone, Copy)]
pub struct Evidence<'a> {
    pub now_ms: i64,
    /// Lag now.
    pub lag: u64,
    /// The group's commits on this partition, if it ever committed.
    pub commit: Option<&'a CommitState>,
    /// When the monitor first saw this group on this partition.
    pub first_seen_ms: i64,
    /// Lag samples of the last `window`, oldest first, the current one last.
    pub recent: &'a [LagPoint],
}

/// The status and a sentence saying why.
pub fn evaluate(evidence: &Evidence<'_>, thresholds: &Thresholds) -> (Status, String) {
    let lag = evidence.lag;
    if lag == 0 {
        return (Status::Ok, "caught up".to_owned());
    }
    let now = evidence.now_ms;
    let last_activity = evidence
        .commit
        .map_or(evidence.first_seen_ms, |commit| commit.last_commit_ms);
    let silent = elapsed(last_activity, now);
    if silent >= thresholds.stop_after {
        let reason = match evidence.commit {
            Some(_) => format!("no commit for {} with {lag} records to read", human(silent)),
            None => format!(
                "never committed; {lag} records to read for {}",
                human(silent)
            ),
        };
        return (Status::Stopped, reason);
    }
    if let Some(commit) = evidence.commit {
        let unchanged = elapsed(commit.offset_since_ms, now);
        if unchanged >= thresholds.stall_after {
            return (
                Status::Stalled,
                format!(
                    "committing offset {} for {} with {lag} records to read",
                    commit.offset,
                    human(unchanged)
                ),
            );
        }
        if let (Some(at), Some(from)) = (commit.rewound_at_ms, commit.rewound_from)
            && elapsed(at, now) <= thresholds.window
        {
            return (
                Status::Rewind,
                format!(
                    "offset went back from {from} {} ago; {lag} records to read",
                    human(elapsed(at, now))
                ),
            );
        }
    }
    if let Some(reason) = growing(evidence.recent, thresholds.window) {
        return (Status::Warning, reason);
    }
    (Status::Ok, format!("{lag} records to read, not growing"))
}

/// Why lag counts as growing over `recent`, if it does.
fn growing(recent: &[LagPoint], window: Duration) -> Option<String> {
    let (first, last) = (recent.first()?, recent.last()?);
    let covered = elapsed(first.at_ms, last.at_ms);
    let enough = recent.len() >= 3 && covered >= window / 2;
    let never_fell = recent
        .windows(2)
        .all(|pair| pair[1].records >= pair[0].records);
    (enough && never_fell && last.records > first.records).then(|| {
        format!(
            "lag grew from {} to {} over {}",
            first.records,
            last.records,
            human(covered)
        )
    })
}

fn elapsed(from_ms: i64, to_ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(to_ms.saturating_sub(from_ms)).unwrap_or(0))
}

fn human(duration: Duration) -> String {
    format!("{:.1}s", duration.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: i64 = 1_000;

    fn thresholds() -> Thresholds {
        Thresholds {
            window: Duration::from_secs(10),
            stall_after: Duration::from_secs(10),
            stop_after: Duration::from_secs(20),
        }
    }

    fn commit(offset: i64, since: i64, last: i64) -> CommitState {
        CommitState {
            offset,
            last_commit_ms: last,
            offset_since_ms: since,
            rewound_at_ms: None,
            rewound_from: None,
        }
    }

    fn points(lags: &[u64]) -> Vec<LagPoint> {
        lags.iter()
            .zip(0..)
            .map(|(&records, index)| LagPoint {
                at_ms: 100 * SECOND + index * 2 * SECOND,
                records,
            })
            .collect()
    }

    fn status(lag: u64, commit: Option<&CommitState>, recent: &[LagPoint]) -> Status {
        let evidence = Evidence {
            now_ms: 110 * SECOND,
            lag,
            commit,
            first_seen_ms: 50 * SECOND,
            recent,
        };
        evaluate(&evidence, &thresholds()).0
    }

    #[test]
    fn caught_up_is_ok_even_when_nothing_commits() {
        let old = commit(5, 0, 0);
        assert_eq!(status(0, Some(&old), &points(&[0, 0, 0])), Status::Ok);
    }

    #[test]
    fn no_commit_with_lag_is_stopped() {
        let quiet = commit(5, 80 * SECOND, 85 * SECOND);
        assert_eq!(
            status(7, Some(&quiet), &points(&[7, 7, 7])),
            Status::Stopped
        );
        let evidence = Evidence {
            now_ms: 110 * SECOND,
            lag: 7,
            commit: None,
            first_seen_ms: 80 * SECOND,
            recent: &[],
        };
        let (never, reason) = evaluate(&evidence, &thresholds());
        assert_eq!(never, Status::Stopped);
        assert!(reason.contains("never committed"), "{reason}");
        let just_seen = Evidence {
            first_seen_ms: 105 * SECOND,
            ..evidence
        };
        assert_eq!(evaluate(&just_seen, &thresholds()).0, Status::Ok);
    }

    #[test]
    fn committing_the_same_offset_with_lag_is_stalled() {
        let stuck = commit(5, 95 * SECOND, 109 * SECOND);
        assert_eq!(
            status(7, Some(&stuck), &points(&[7, 7, 7])),
            Status::Stalled
        );
        let moving = commit(5, 105 * SECOND, 109 * SECOND);
        assert_eq!(status(7, Some(&moving), &points(&[9, 8, 7])), Status::Ok);
    }

    #[test]
    fn a_recent_backwards_commit_is_a_rewind_for_one_window() {
        let mut rewound = commit(10, 108 * SECOND, 109 * SECOND);
        rewound.rewound_at_ms = Some(105 * SECOND);
        rewound.rewound_from = Some(900);
        assert_eq!(status(50, Some(&rewound), &points(&[50])), Status::Rewind);
        rewound.rewound_at_ms = Some(90 * SECOND);
        assert_eq!(status(50, Some(&rewound), &points(&[50])), Status::Ok);
    }

    #[test]
    fn steadily_growing_lag_is_a_warning_but_a_dip_or_a_short_window_is_not() {
        let alive = commit(5, 109 * SECOND, 109 * SECOND);
        assert_eq!(
            status(40, Some(&alive), &points(&[10, 10, 20, 30, 40])),
            Status::Warning
        );
        assert_eq!(
            status(40, Some(&alive), &points(&[10, 20, 15, 30, 40])),
            Status::Ok
        );
        assert_eq!(status(40, Some(&alive), &points(&[10, 40])), Status::Ok);
    }

    #[test]
    fn statuses_order_from_best_to_worst() {
        let mut sorted = Status::ALL;
        sorted.sort();
        assert_eq!(sorted, Status::ALL);
        assert_eq!(
            Status::ALL.map(Status::code),
            [0, 1, 2, 3, 4],
            "codes are documented"
        );
        assert_eq!(
            serde_json::to_string(&Status::Stalled).unwrap(),
            "\"STALLED\""
        );
    }
}
