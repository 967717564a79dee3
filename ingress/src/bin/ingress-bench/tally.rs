//! Counting what comes back: the measured window, and per worker a latency histogram of the
//! successes, answers by status and failures by kind, merged when the workers are done.

use anyhow::Context;
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The highest latency the histograms hold, in µs; longer ones are counted at this value.
const MAX_MICROS: u64 = 60_000_000;

/// A request sent this much after its scheduled time counts as late (open loop).
const LATE: Duration = Duration::from_millis(1);

/// Warm-up, then the measured time. Only what completes inside the measured time counts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    pub(crate) start: Instant,
    pub(crate) measure_from: Instant,
    pub(crate) measure_until: Instant,
}

impl Window {
    /// A window starting now (plus a moment for the workers to start).
    pub(crate) fn starting_now(warmup: Duration, measured: Duration) -> Self {
        let start = Instant::now();
        let measure_from = start + warmup;
        Self {
            start,
            measure_from,
            measure_until: measure_from + measured,
        }
    }

    pub(crate) fn contains(&self, at: Instant) -> bool {
        at >= self.measure_from && at < self.measure_until
    }

    pub(crate) fn measured(&self) -> Duration {
        self.measure_until - self.measure_from
    }
}

/// What one worker, or all of them merged, saw.
#[derive(Debug, Clone)]
pub(crate) struct Tally {
    /// Latency of the successes completed in the window, in µs.
    pub(crate) latency: Histogram<u64>,
    /// Successes completed in the window.
    pub(crate) ok: u64,
    /// Successes over the whole run, warm-up and stragglers included: what the topic must hold.
    pub(crate) ok_total: u64,
    /// Answers other than success, in the window, by status code.
    pub(crate) statuses: BTreeMap<u16, u64>,
    /// Requests that got no answer, in the window, by what went wrong.
    pub(crate) failures: BTreeMap<String, u64>,
    /// Open loop only: requests sent at least 1 ms after their scheduled time (the load
    /// generator or its connection was behind).
    pub(crate) late: u64,
    /// Open loop only: how long after its scheduled time each request was sent, in µs. Part of
    /// every open-loop latency; tokio's timer alone adds up to 1 ms.
    pub(crate) lag: Histogram<u64>,
}

impl Tally {
    pub(crate) fn new() -> anyhow::Result<Self> {
        Ok(Self {
            latency: Histogram::new_with_bounds(1, MAX_MICROS, 3)
                .context("while creating a latency histogram")?,
            ok: 0,
            ok_total: 0,
            statuses: BTreeMap::new(),
            failures: BTreeMap::new(),
            late: 0,
            lag: Histogram::new_with_bounds(1, MAX_MICROS, 3)
                .context("while creating a lag histogram")?,
        })
    }

    /// A success that took `latency`, completed at `done`.
    pub(crate) fn success(&mut self, window: &Window, done: Instant, latency: Duration) {
        self.ok_total += 1;
        if window.contains(done) {
            self.ok += 1;
            self.latency.saturating_record(micros(latency));
        }
    }

    /// A request sent `lag` after its scheduled time (open loop), in the window or not.
    pub(crate) fn sent_late(&mut self, window: &Window, sent: Instant, lag: Duration) {
        if window.contains(sent) {
            self.lag.saturating_record(micros(lag));
            if lag >= LATE {
                self.late += 1;
            }
        }
    }

    /// The lag's median and 99th percentile in ms.
    pub(crate) fn lag_spread(&self) -> (f64, f64) {
        (
            millis(self.lag.value_at_quantile(0.5)),
            millis(self.lag.value_at_quantile(0.99)),
        )
    }

    /// An answer with another status.
    pub(crate) fn status(&mut self, window: &Window, done: Instant, status: u16) {
        if window.contains(done) {
            *self.statuses.entry(status).or_default() += 1;
        }
    }

    /// No answer, because of `what`.
    pub(crate) fn failure(&mut self, window: &Window, done: Instant, what: String) {
        if window.contains(done) {
            *self.failures.entry(what).or_default() += 1;
        }
    }

    /// Adds `other`'s counts to these.
    pub(crate) fn merge(&mut self, other: &Self) -> anyhow::Result<()> {
        self.latency
            .add(&other.latency)
            .context("while merging latency histograms")?;
        self.ok += other.ok;
        self.ok_total += other.ok_total;
        for (status, count) in &other.statuses {
            *self.statuses.entry(*status).or_default() += count;
        }
        for (what, count) in &other.failures {
            *self.failures.entry(what.clone()).or_default() += count;
        }
        self.late += other.late;
        self.lag
            .add(&other.lag)
            .context("while merging lag histograms")?;
        Ok(())
    }

    /// Everything in the window that was not a success.
    pub(crate) fn errors(&self) -> u64 {
        self.statuses.values().sum::<u64>() + self.failures.values().sum::<u64>()
    }

    /// The latency spread of the successes.
    pub(crate) fn spread(&self) -> Spread {
        let at = |quantile| millis(self.latency.value_at_quantile(quantile));
        Spread {
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            p999: at(0.999),
            max: millis(self.latency.max()),
        }
    }
}

/// Latency quantiles in ms.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Spread {
    pub(crate) p50: f64,
    pub(crate) p90: f64,
    pub(crate) p99: f64,
    pub(crate) p999: f64,
    pub(crate) max: f64,
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

fn millis(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

/// `count` per second of `elapsed`.
pub(crate) fn per_second(count: u64, elapsed: Duration) -> f64 {
    let seconds = elapsed.as_secs_f64();
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_window_counts_but_every_success_is_totalled() {
        let window = Window::starting_now(Duration::from_secs(1), Duration::from_secs(1));
        let mut tally = Tally::new().unwrap();
        tally.success(&window, window.start, Duration::from_millis(3));
        tally.success(&window, window.measure_from, Duration::from_millis(5));
        tally.status(&window, window.measure_from, 503);
        tally.failure(&window, window.measure_until, "closed".to_owned());
        assert_eq!((tally.ok, tally.ok_total), (1, 2));
        assert_eq!(tally.errors(), 1);
        let mut merged = Tally::new().unwrap();
        merged.merge(&tally).unwrap();
        merged.merge(&tally).unwrap();
        assert_eq!((merged.ok, merged.ok_total, merged.errors()), (2, 4, 2));
        let spread = merged.spread();
        assert!((spread.p50 - 5.0).abs() < 0.01, "{spread:?}");
    }
}
