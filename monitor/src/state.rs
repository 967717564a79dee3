//! The latest report and the recent history, shared between the sampling loop (the only
//! writer) and the HTTP handlers.

use crate::report::{History, HistoryPoint, LagReport};
use std::collections::VecDeque;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

/// Cheap to clone; every clone sees the same reports.
#[derive(Debug, Clone)]
pub struct MonitorState {
    inner: Arc<RwLock<Inner>>,
    keep: Duration,
    interval: Duration,
}

#[derive(Debug, Default)]
struct Inner {
    latest: Option<Arc<LagReport>>,
    history: VecDeque<HistoryPoint>,
}

impl MonitorState {
    /// State that keeps `keep` of history of samples taken every `interval`.
    pub fn new(keep: Duration, interval: Duration) -> Self {
        Self {
            inner: Arc::default(),
            keep,
            interval,
        }
    }

    /// Makes `report` the latest and adds it to the history, dropping what is too old.
    pub fn publish(&self, report: LagReport) {
        let point = HistoryPoint::of(&report);
        let oldest = report
            .sampled_at_ms
            .saturating_sub(i64::try_from(self.keep.as_millis()).unwrap_or(i64::MAX));
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        inner.latest = Some(Arc::new(report));
        inner.history.push_back(point);
        while inner
            .history
            .front()
            .is_some_and(|point| point.at_ms < oldest)
        {
            inner.history.pop_front();
        }
    }

    /// The latest report, once there is one.
    pub fn latest(&self) -> Option<Arc<LagReport>> {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        inner.latest.clone()
    }

    /// Samples taken at or after `since_ms` (all kept ones when `None`), oldest first.
    pub fn history(&self, since_ms: Option<i64>) -> History {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        History {
            interval_ms: u64::try_from(self.interval.as_millis()).unwrap_or(u64::MAX),
            keep_ms: u64::try_from(self.keep.as_millis()).unwrap_or(u64::MAX),
            points: inner
                .history
                .iter()
                .filter(|point| since_ms.is_none_or(|since| point.at_ms >= since))
                .cloned()
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lag::Isolation;

    fn report(at_ms: i64) -> LagReport {
        LagReport {
            sampled_at_ms: at_ms,
            sample_duration_ms: 1,
            interval_ms: 1_000,
            isolation: Isolation::ReadCommitted,
            groups: Vec::new(),
            topics: Vec::new(),
        }
    }

    #[test]
    fn history_keeps_only_the_configured_span() {
        let state = MonitorState::new(Duration::from_secs(10), Duration::from_secs(1));
        assert!(state.latest().is_none());
        for second in 0..30 {
            state.publish(report(second * 1_000));
        }
        let history = state.history(None);
        assert_eq!(history.points.first().map(|p| p.at_ms), Some(19_000));
        assert_eq!(history.points.len(), 11);
        assert_eq!(state.history(Some(25_000)).points.len(), 5);
        assert_eq!(state.latest().map(|r| r.sampled_at_ms), Some(29_000));
    }
}
