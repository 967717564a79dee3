//! Latency histograms (HdrHistogram, microseconds) and the summaries the reports carry.
//!
//! Everything is recorded in µs and reported in ms. A value above the histogram's range is
//! clamped to its top (and so still counted), never dropped: a report that silently lost its
//! worst samples would lie about the tail.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The largest latency told apart: 10 minutes. Longer ones count as 10 minutes.
const MAX_MICROS: u64 = 600_000_000;

/// A latency histogram in µs.
#[derive(Debug, Clone)]
pub struct Latency {
    histogram: Histogram<u64>,
}

impl Latency {
    /// A histogram precise to 3 significant digits (0.1 %): for whole-run figures.
    ///
    /// # Errors
    /// Only if hdrhistogram refuses its constant bounds, which a unit test rules out.
    pub fn precise() -> Result<Self, hdrhistogram::CreationError> {
        Self::with_digits(3)
    }

    /// A histogram precise to 2 significant digits (1 %), a tenth of the memory: for the
    /// per-second figures, of which a run keeps hundreds.
    ///
    /// # Errors
    /// As [`Latency::precise`].
    pub fn coarse() -> Result<Self, hdrhistogram::CreationError> {
        Self::with_digits(2)
    }

    fn with_digits(digits: u8) -> Result<Self, hdrhistogram::CreationError> {
        Ok(Self {
            histogram: Histogram::new_with_bounds(1, MAX_MICROS, digits)?,
        })
    }

    /// Records one latency, clamped to the histogram's range.
    pub fn record(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .clamp(1, MAX_MICROS);
        self.histogram.saturating_record(micros);
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &Self) {
        // Both have the same bounds, so adding cannot fail; if it ever did, the values would
        // be re-recorded one bucket at a time.
        if self.histogram.add(&other.histogram).is_err() {
            for value in other.histogram.iter_recorded() {
                self.histogram
                    .saturating_record_n(value.value_iterated_to(), value.count_at_value());
            }
        }
    }

    /// How many values were recorded.
    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// The percentiles of what was recorded; all zero when nothing was.
    pub fn summary(&self) -> Percentiles {
        let h = &self.histogram;
        if h.is_empty() {
            return Percentiles::default();
        }
        let ms = |micros: u64| micros as f64 / 1_000.0;
        Percentiles {
            count: h.len(),
            mean_ms: h.mean() / 1_000.0,
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        }
    }
}

/// A latency distribution as reported, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// How many values; the rest is zero when this is.
    pub count: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

/// The latency of one second of a time series: fewer figures than [`Percentiles`], to keep the
/// JSON readable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct SecondLatency {
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl From<Percentiles> for SecondLatency {
    fn from(p: Percentiles) -> Self {
        Self {
            count: p.count,
            p50_ms: p.p50_ms,
            p99_ms: p.p99_ms,
            max_ms: p.max_ms,
        }
    }
}

/// `numerator / denominator`, or `None` when the denominator is not positive: a ratio that
/// cannot be computed is absent from the JSON rather than infinite or NaN.
pub fn ratio(numerator: f64, denominator: f64) -> Option<f64> {
    (denominator > 0.0 && numerator.is_finite() && denominator.is_finite())
        .then(|| numerator / denominator)
}

/// The whole second (from 0) that `offset` falls in.
pub fn second_of(offset: Duration) -> usize {
    usize::try_from(offset.as_secs()).unwrap_or(usize::MAX)
}

/// Per-second slots that grow on demand up to a fixed bound, so a bogus offset cannot make a
/// run allocate without limit. New slots are copies of a blank one.
#[derive(Debug, Clone)]
pub struct PerSecond<T> {
    slots: Vec<T>,
    blank: T,
    limit: usize,
}

impl<T: Clone> PerSecond<T> {
    /// At most `limit` seconds (later ones go into the last slot), each starting as `blank`.
    pub fn new(limit: usize, blank: T) -> Self {
        Self {
            slots: Vec::new(),
            blank,
            limit: limit.max(1),
        }
    }

    /// The slot of `second`, created (with every slot before it) when missing.
    pub fn at(&mut self, second: usize) -> &mut T {
        let index = second.min(self.limit - 1);
        if self.slots.len() <= index {
            self.slots.resize(index + 1, self.blank.clone());
        }
        &mut self.slots[index]
    }

    /// The slots so far, second 0 first.
    pub fn slots(&self) -> &[T] {
        &self.slots
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_in_milliseconds() {
        let mut latency = Latency::precise().unwrap();
        for ms in 1..=100 {
            latency.record(Duration::from_millis(ms));
        }
        let summary = latency.summary();
        assert_eq!(summary.count, 100);
        assert!((summary.p50_ms - 50.0).abs() < 0.1, "{summary:?}");
        assert!((summary.p99_ms - 99.0).abs() < 0.1, "{summary:?}");
        assert!((summary.max_ms - 100.0).abs() < 0.1, "{summary:?}");
        assert!((summary.mean_ms - 50.5).abs() < 0.1, "{summary:?}");
    }

    #[test]
    fn an_empty_histogram_reports_zeros() {
        assert_eq!(Latency::coarse().unwrap().summary(), Percentiles::default());
    }

    #[test]
    fn out_of_range_values_are_clamped_not_lost() {
        let mut latency = Latency::coarse().unwrap();
        latency.record(Duration::ZERO);
        latency.record(Duration::from_secs(3_600));
        let summary = latency.summary();
        assert_eq!(summary.count, 2);
        assert!(
            (summary.max_ms - 600_000.0).abs() / 600_000.0 < 0.01,
            "{summary:?}"
        );
    }

    #[test]
    fn merging_adds_counts() {
        let mut a = Latency::precise().unwrap();
        let mut b = Latency::precise().unwrap();
        a.record(Duration::from_millis(1));
        b.record(Duration::from_millis(9));
        b.record(Duration::from_millis(9));
        a.merge(&b);
        assert_eq!(a.count(), 3);
        assert!((a.summary().max_ms - 9.0).abs() < 0.01);
    }

    #[test]
    fn ratios_without_a_denominator_are_absent() {
        assert_eq!(ratio(1.0, 4.0), Some(0.25));
        assert_eq!(ratio(1.0, 0.0), None);
        assert_eq!(ratio(f64::NAN, 1.0), None);
    }

    #[test]
    fn per_second_slots_grow_and_stop_at_the_limit() {
        let mut series: PerSecond<u32> = PerSecond::new(3, 0);
        *series.at(1) += 5;
        assert_eq!(series.slots(), &[0, 5]);
        *series.at(10) += 1;
        assert_eq!(series.slots(), &[0, 5, 1]);
        assert_eq!(second_of(Duration::from_millis(2_999)), 2);
    }
}
