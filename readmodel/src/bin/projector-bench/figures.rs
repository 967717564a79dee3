//! What the measurements produce, kept apart from how they are taken and how they are shown.

use crate::cpu::Used;
use crate::probe::Taken;
use std::time::Duration;

/// One throughput run: a baseline or the projector, over the preloaded records.
#[derive(Debug, Clone)]
pub(crate) struct Throughput {
    pub(crate) label: String,
    pub(crate) records: i64,
    /// From the start (before any client exists, so the group join is included) to the last
    /// record read (baselines) or visible in SQL (projector).
    pub(crate) elapsed: Duration,
    /// When the first record was read (baselines) or the first batch was visible (projector).
    pub(crate) first: Option<Duration>,
    /// Records done at `first`.
    pub(crate) done_at_first: i64,
    /// The projector's own figures; `None` for a baseline.
    pub(crate) projector: Option<Taken>,
    /// CPU of the database and of this process during a projector run; `None` for a baseline
    /// or where the kernel's figures cannot be read.
    pub(crate) cpu: Option<Used>,
}

impl Throughput {
    pub(crate) fn per_sec(&self) -> f64 {
        per_second(self.records, self.elapsed)
    }

    /// Records per second once records flow, without start-up and group join.
    pub(crate) fn per_sec_after_first(&self) -> Option<f64> {
        self.first.map(|first| {
            per_second(
                self.records - self.done_at_first,
                self.elapsed.saturating_sub(first),
            )
        })
    }
}

fn per_second(records: i64, elapsed: Duration) -> f64 {
    let seconds = elapsed.as_secs_f64();
    if seconds > 0.0 {
        records as f64 / seconds
    } else {
        f64::INFINITY
    }
}

/// Quantiles of a latency distribution.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Spread {
    pub(crate) p50: Duration,
    pub(crate) p90: Duration,
    pub(crate) p99: Duration,
    pub(crate) p999: Duration,
    pub(crate) max: Duration,
    pub(crate) mean: Duration,
}

/// One delay phase: open-loop production onto a caught-up projector.
#[derive(Debug, Clone)]
pub(crate) struct Delay {
    pub(crate) label: String,
    pub(crate) target_rate: u32,
    pub(crate) records: u64,
    /// Records over the time from the first acknowledgement to the last.
    pub(crate) acked_rate: f64,
    /// How far behind its schedule a send went (open loop: should stay near zero).
    pub(crate) send_lateness_max: Duration,
    /// From a record's acknowledgement to the poll that saw it in `projector_offsets`.
    pub(crate) delay: Spread,
    /// Time between two reads of `projector_offsets`: the resolution of `delay`.
    pub(crate) poll_period: Spread,
    /// Records seen visible before their delivery report was (counted as zero delay).
    pub(crate) visible_before_ack: u64,
    pub(crate) projector: Taken,
}
