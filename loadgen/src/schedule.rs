//! The open-loop timetable: when each session (a load run's cart + checkout, or a baseline
//! record) is due, and which kind of session it is. Pure arithmetic, no clock: the callers read
//! the clock and ask this module what is due.
//!
//! Open loop means the timetable never waits for answers. Session `k` is due at
//! `k / rate` seconds after the start whatever happened to the sessions before it, and its
//! latency is measured from that due time, not from when the client got round to sending it.
//! A client or server that falls behind therefore shows as latency (no coordinated omission),
//! and a client that cannot keep up at all is counted as late or dropped, never as a slower
//! rate.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Why a timetable or mix cannot be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScheduleError {
    #[error("the rate must be a positive, finite number of sessions per second, not {0}")]
    Rate(f64),
    #[error("the run would hold no session: {rate}/s over {span:?}")]
    Empty { rate: f64, span: Duration },
    #[error("{name} must be between 0 and 100 %, not {value}")]
    Percent { name: &'static str, value: f64 },
    #[error("the percentages add up to {0} %, more than 100 %")]
    PercentSum(f64),
}

/// `count` sessions at `rate` per second, session `k` due at `k / rate` after the start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    rate: f64,
    count: u64,
}

impl Schedule {
    /// Every session due within `span` at `rate` per second: `floor(rate × span)` of them (at
    /// least one when that is positive), the first at offset zero.
    ///
    /// # Errors
    /// [`ScheduleError`] if the rate is not a positive finite number or no session fits.
    pub fn new(rate: f64, span: Duration) -> Result<Self, ScheduleError> {
        if !(rate.is_finite() && rate > 0.0) {
            return Err(ScheduleError::Rate(rate));
        }
        // Rounded, not truncated, against binary fractions: 0.1 s at 30/s is 3 sessions.
        let exact = rate * span.as_secs_f64();
        let count = (exact + 1e-9).floor();
        if count < 1.0 {
            return Err(ScheduleError::Empty { rate, span });
        }
        Ok(Self {
            rate,
            count: count as u64,
        })
    }

    /// Sessions per second.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// How many sessions the timetable holds.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// When session `k` is due, after the start. Computed from `k` each time rather than by
    /// adding intervals, so no rounding error accumulates over a long run.
    pub fn offset(&self, k: u64) -> Duration {
        Duration::from_secs_f64(k as f64 / self.rate)
    }

    /// How many sessions are due by `elapsed` after the start (those with an offset at or
    /// before it), at most [`Schedule::count`].
    pub fn due_by(&self, elapsed: Duration) -> u64 {
        // One nanosecond of tolerance: `offset` rounds to whole nanoseconds.
        let due = ((elapsed.as_secs_f64() + 1e-9) * self.rate).floor() as u64 + 1;
        due.min(self.count)
    }

    /// The first session due at or after `offset`: the first measured one when `offset` is the
    /// warm-up.
    pub fn first_at_or_after(&self, offset: Duration) -> u64 {
        let exact = (offset.as_secs_f64() - 1e-9) * self.rate;
        (exact.ceil().max(0.0) as u64).min(self.count)
    }
}

/// What a session of a load run does, chosen by [`Mix::kind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionKind {
    /// A plentiful product, a good payment token: should end CONFIRMED.
    Confirm,
    /// A plentiful product, paid with `tok_decline`: should end CANCELLED (`card_declined`).
    Decline,
    /// The scarce product first: CONFIRMED while its stock lasts, then REJECTED
    /// (`out_of_stock`).
    Scarce,
}

impl SessionKind {
    /// Every kind, in report order.
    pub const ALL: [Self; 3] = [Self::Confirm, Self::Decline, Self::Scarce];
}

/// The share of each kind of session, in percent; the rest are [`SessionKind::Confirm`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Mix {
    /// Sessions that pay with `tok_decline`.
    pub decline_percent: f64,
    /// Sessions that buy the scarce product.
    pub scarce_percent: f64,
}

impl Default for Mix {
    fn default() -> Self {
        Self {
            decline_percent: 10.0,
            scarce_percent: 10.0,
        }
    }
}

/// 1/φ: the step of the golden-ratio sequence, whose points spread most evenly over [0, 1).
const GOLDEN_STEP: f64 = 0.618_033_988_749_894_9;

impl Mix {
    /// Checks each percentage and their sum.
    ///
    /// # Errors
    /// [`ScheduleError::Percent`] or [`ScheduleError::PercentSum`].
    pub fn validate(&self) -> Result<(), ScheduleError> {
        for (name, value) in [
            ("the decline percentage", self.decline_percent),
            ("the scarce percentage", self.scarce_percent),
        ] {
            if !(0.0..=100.0).contains(&value) {
                return Err(ScheduleError::Percent { name, value });
            }
        }
        let sum = self.decline_percent + self.scarce_percent;
        if sum > 100.0 {
            return Err(ScheduleError::PercentSum(sum));
        }
        Ok(())
    }

    /// The kind of session `k`. Deterministic and evenly spread (the golden-ratio sequence
    /// rather than a random draw): any stretch of the run holds close to the asked shares, so a
    /// short run or a single second of the chart is not skewed by chance, and two runs with the
    /// same flags do the same thing.
    pub fn kind(&self, k: u64) -> SessionKind {
        let point = ((k as f64 + 1.0) * GOLDEN_STEP).fract() * 100.0;
        if point < self.decline_percent {
            SessionKind::Decline
        } else if point < self.decline_percent + self.scarce_percent {
            SessionKind::Scarce
        } else {
            SessionKind::Confirm
        }
    }
}

/// How late a session was sent against its due time; zero if it was early or on time.
pub fn lateness(due: Duration, sent: Duration) -> Duration {
    sent.saturating_sub(due)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(value: f64) -> Duration {
        Duration::from_secs_f64(value)
    }

    #[test]
    fn count_is_rate_times_span() {
        assert_eq!(Schedule::new(100.0, secs(30.0)).unwrap().count(), 3_000);
        assert_eq!(Schedule::new(30.0, secs(0.1)).unwrap().count(), 3);
        assert_eq!(Schedule::new(2.5, secs(1.0)).unwrap().count(), 2);
    }

    #[test]
    fn bad_rates_and_empty_runs_are_refused() {
        assert_eq!(Schedule::new(0.0, secs(1.0)), Err(ScheduleError::Rate(0.0)));
        assert!(Schedule::new(f64::NAN, secs(1.0)).is_err());
        assert!(Schedule::new(-5.0, secs(1.0)).is_err());
        assert!(matches!(
            Schedule::new(0.5, secs(1.0)),
            Err(ScheduleError::Empty { .. })
        ));
    }

    #[test]
    fn offsets_are_k_over_rate_without_drift() {
        let schedule = Schedule::new(2_000.0, secs(3_600.0)).unwrap();
        assert_eq!(schedule.offset(0), Duration::ZERO);
        assert_eq!(schedule.offset(1), Duration::from_micros(500));
        assert_eq!(schedule.offset(2_000), Duration::from_secs(1));
        // After an hour, still exact to the nanosecond.
        let last = schedule.offset(7_199_999);
        let expected = Duration::from_nanos(3_599_999_500_000);
        let error = last.abs_diff(expected);
        assert!(error < Duration::from_nanos(10), "{error:?}");
    }

    #[test]
    fn due_by_counts_sessions_at_or_before_the_instant() {
        let schedule = Schedule::new(1_000.0, secs(1.0)).unwrap();
        assert_eq!(schedule.due_by(Duration::ZERO), 1);
        assert_eq!(schedule.due_by(Duration::from_micros(999)), 1);
        assert_eq!(schedule.due_by(Duration::from_millis(1)), 2);
        assert_eq!(schedule.due_by(Duration::from_micros(10_500)), 11);
        // Never past the end, however late the caller is.
        assert_eq!(schedule.due_by(secs(5.0)), 1_000);
    }

    #[test]
    fn due_by_agrees_with_offset_for_every_session() {
        let schedule = Schedule::new(333.0, secs(2.0)).unwrap();
        for k in 0..schedule.count() {
            let at = schedule.offset(k);
            assert!(
                schedule.due_by(at) > k,
                "session {k} not due at its own offset"
            );
            if let Some(before) = at.checked_sub(Duration::from_micros(10)) {
                assert_eq!(schedule.due_by(before), k, "session {k} due too early");
            }
        }
    }

    #[test]
    fn first_measured_session_follows_the_warm_up() {
        let schedule = Schedule::new(100.0, secs(10.0)).unwrap();
        assert_eq!(schedule.first_at_or_after(Duration::ZERO), 0);
        assert_eq!(schedule.first_at_or_after(secs(2.0)), 200);
        assert_eq!(schedule.first_at_or_after(secs(2.001)), 201);
        assert_eq!(schedule.first_at_or_after(secs(60.0)), 1_000);
        let first = schedule.first_at_or_after(secs(2.0));
        assert!(schedule.offset(first) >= secs(2.0) - Duration::from_nanos(1));
        assert!(schedule.offset(first - 1) < secs(2.0));
    }

    #[test]
    fn lateness_is_never_negative() {
        assert_eq!(lateness(secs(1.0), secs(0.5)), Duration::ZERO);
        assert_eq!(lateness(secs(1.0), secs(1.25)), secs(0.25));
    }

    #[test]
    fn the_mix_holds_its_shares_over_any_stretch() {
        let mix = Mix {
            decline_percent: 10.0,
            scarce_percent: 25.0,
        };
        mix.validate().unwrap();
        for (start, length) in [(0_u64, 10_000_u64), (123_456, 1_000), (7, 200)] {
            let mut counts = [0_u64; 3];
            for k in start..start + length {
                let index = SessionKind::ALL
                    .iter()
                    .position(|kind| *kind == mix.kind(k))
                    .unwrap();
                counts[index] += 1;
            }
            let share = |count: u64| count as f64 * 100.0 / length as f64;
            // Within 1.5 points even over 200 sessions: evenly spread, not random.
            assert!((share(counts[1]) - 10.0).abs() < 1.5, "{counts:?}");
            assert!((share(counts[2]) - 25.0).abs() < 1.5, "{counts:?}");
            assert!((share(counts[0]) - 65.0).abs() < 1.5, "{counts:?}");
        }
    }

    #[test]
    fn zero_and_full_shares_are_exact() {
        let none = Mix {
            decline_percent: 0.0,
            scarce_percent: 0.0,
        };
        assert!((0..1_000).all(|k| none.kind(k) == SessionKind::Confirm));
        let all = Mix {
            decline_percent: 100.0,
            scarce_percent: 0.0,
        };
        assert!((0..1_000).all(|k| all.kind(k) == SessionKind::Decline));
    }

    #[test]
    fn bad_percentages_are_refused() {
        let over = Mix {
            decline_percent: 60.0,
            scarce_percent: 50.0,
        };
        assert_eq!(over.validate(), Err(ScheduleError::PercentSum(110.0)));
        let negative = Mix {
            decline_percent: -1.0,
            scarce_percent: 0.0,
        };
        assert!(matches!(
            negative.validate(),
            Err(ScheduleError::Percent { .. })
        ));
    }
}
