//! The results: what [`crate::run_load`], [`crate::run_baseline`] and [`crate::compare`] return
//! and what the binary writes as JSON. Every figure says its unit in its name (`_ms`, `_s`,
//! `_per_s`); times are RFC 3339 UTC.
//!
//! These are plain data with public fields, so an orchestrator can read them after a run or
//! from the JSON file (they deserialize too).

use crate::config::RelayMode;
use crate::cpu::{CpuReport, Machine};
use crate::schedule::SessionKind;
use crate::stats::{Percentiles, SecondLatency, ratio};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A load run's settings, as run (the JWT secret is never included).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadSettings {
    pub ingress_url: String,
    pub topic_prefix: String,
    pub target_checkouts_per_s: f64,
    pub duration_s: f64,
    pub warmup_s: f64,
    pub users: usize,
    pub decline_percent: f64,
    pub scarce_percent: f64,
    pub items_per_checkout: u32,
    pub plentiful_products: usize,
    pub scarce_stock: u32,
    pub request_timeout_s: f64,
    pub terminal_timeout_s: f64,
    pub max_in_flight: usize,
}

/// How well the client kept its timetable.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScheduleReport {
    /// Sessions in the timetable, warm-up included.
    pub planned: u64,
    /// Sessions started (the rest were dropped, or the run was interrupted).
    pub started: u64,
    /// Sessions in the measured window (after the warm-up).
    pub measured: u64,
    /// Sessions not started because `max_in_flight` sessions were already running: the client,
    /// not the server, could not keep up. Counted, never queued.
    pub dropped: u64,
    /// Measured sessions started more than [`LATE_THRESHOLD_MS`] after their due time.
    pub late: u64,
    /// How late measured sessions were started; part of each latency below.
    pub lateness: Percentiles,
    /// Measured sessions that had to wait for the same user's previous session to finish
    /// (users are serial, like people); the wait is part of their latencies.
    pub user_waits: u64,
}

/// A session started more than this after its due time is reported late. Above tokio's 1 ms
/// timer granularity, so only a client that really fell behind is counted.
pub const LATE_THRESHOLD_MS: f64 = 10.0;

/// One kind of request: how each ended and how long the accepted ones took.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestReport {
    pub sent: u64,
    /// By HTTP status (`"202"`, `"429"`, …) or, with no answer, by failure (`"timeout"`, …).
    pub outcomes: BTreeMap<String, u64>,
    /// From when the request was due (its session's due time for the first request, the
    /// previous answer for the next) to the 202, for 202s only.
    pub accept_latency: Percentiles,
}

/// Orders that ended in one terminal status.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TerminalReport {
    pub count: u64,
    /// From the checkout request's due time to reading the status on `orders.events`.
    pub checkout_to_terminal: Percentiles,
    /// From the session's due time (first add-item) to the same point: the shopper's view.
    pub session_to_terminal: Percentiles,
    /// The order's `reason` (e.g. `out_of_stock`, `card_declined`) and how often.
    pub reasons: BTreeMap<String, u64>,
}

/// What became of the measured sessions' checkouts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OrdersReport {
    /// Checkouts answered 202.
    pub checkouts_accepted: u64,
    pub confirmed: TerminalReport,
    pub rejected: TerminalReport,
    pub cancelled: TerminalReport,
    /// Checkouts the cart refused (no order was made), by `reason_code` from
    /// `commands.outcomes`, e.g. `empty_cart` after a failed add-item.
    pub checkout_refused: BTreeMap<String, u64>,
    /// Accepted checkouts with no terminal status within the terminal timeout, by the last
    /// status seen (`"none"`: not even PENDING).
    pub timed_out: BTreeMap<String, u64>,
    /// Terminal statuses that came, but later than the terminal timeout after the checkout.
    pub over_timeout: u64,
    /// A terminal status read again for an order already ended: would break exactly-once.
    pub duplicate_terminal_events: u64,
    /// Records on `orders.events` or `commands.outcomes` that did not decode.
    pub undecodable_records: u64,
    /// Terminal status (or `refused`, `timed_out`, `add_failed`, `checkout_failed`) by kind of
    /// session.
    pub by_kind: BTreeMap<SessionKind, BTreeMap<String, u64>>,
    /// Sessions whose end does not match their kind: a confirm session not CONFIRMED, a
    /// decline session not CANCELLED, a scarce session neither CONFIRMED nor REJECTED.
    pub unexpected: u64,
    /// Scarce sessions CONFIRMED (warm-up included), never more than the scarce stock.
    pub scarce_confirmed: u64,
    pub scarce_stock: u32,
}

/// Rates over the measured window, by when things happened (not by which session caused
/// them), so this is what the pipeline sustained.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ThroughputReport {
    pub window_s: f64,
    pub sessions_started_per_s: f64,
    /// Add-items and checkouts answered 202.
    pub commands_accepted_per_s: f64,
    pub checkouts_accepted_per_s: f64,
    /// CONFIRMED, REJECTED and CANCELLED read on `orders.events`.
    pub terminal_orders_per_s: f64,
    pub confirmed_per_s: f64,
    /// Orders checked out but not ended when the last session was due: a backlog that grows
    /// with the run length means the pipeline fell behind.
    pub open_orders_at_window_end: u64,
    /// The terminal rate reached 95 % of the target, and nothing was dropped or timed out.
    pub kept_up: bool,
}

/// One second of the run, counted from the first session's due time; `warmup` marks the
/// seconds before the measured window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadSecond {
    pub second: u64,
    pub warmup: bool,
    pub sessions_started: u64,
    pub commands_accepted: u64,
    pub terminal_orders: u64,
    pub confirmed: u64,
    /// Latency of the 202s answered in this second.
    pub accept: SecondLatency,
    /// Checkout to CONFIRMED for the orders confirmed in this second.
    pub checkout_to_confirmed: SecondLatency,
    /// Checkout to any terminal status for the orders ended in this second.
    pub checkout_to_terminal: SecondLatency,
}

/// The result of [`crate::run_load`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    pub run_id: String,
    pub started_at: String,
    pub finished_at: String,
    /// Stopped early (shutdown requested); the figures cover what ran.
    pub interrupted: bool,
    pub settings: Option<LoadSettings>,
    pub machine: Machine,
    pub schedule: ScheduleReport,
    pub add_item: RequestReport,
    pub checkout: RequestReport,
    pub orders: OrdersReport,
    pub throughput: ThroughputReport,
    /// CPU over the measured window.
    pub cpu: CpuReport,
    pub series: Vec<LoadSecond>,
}

/// A baseline run's settings, as run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineSettings {
    pub mode: RelayMode,
    pub topics: usize,
    pub relays: usize,
    pub partitions: i32,
    pub payload_bytes: usize,
    pub keys: usize,
    pub target_records_per_s: f64,
    pub duration_s: f64,
    pub warmup_s: f64,
    pub burst_records: u64,
    /// Transactional relays only.
    pub batch_max_records: usize,
    pub batch_linger_ms: f64,
}

/// The paced phase: records into the first topic on the timetable, out of the last.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PacedReport {
    pub planned: u64,
    pub sent: u64,
    /// Read from the last topic (warm-up included).
    pub received: u64,
    /// Sent but never read from the last topic within the timeout.
    pub lost: u64,
    /// Measured records sent more than [`LATE_THRESHOLD_MS`] after their due time.
    pub late: u64,
    pub lateness: Percentiles,
    /// From each measured record's due time to reading it from the last topic.
    pub end_to_end: Percentiles,
    /// Records read from the last topic per second, over the measured window.
    pub received_per_s: f64,
}

/// The burst phase: a block of records sent at once, timed until the last is read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BurstReport {
    pub records: u64,
    pub received: u64,
    /// From the first send to reading the last record from the last topic.
    pub seconds: f64,
    /// The chain's most records/s end to end.
    pub records_per_s: f64,
}

/// One second of the paced phase.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BaselineSecond {
    pub second: u64,
    pub warmup: bool,
    pub sent: u64,
    pub received: u64,
    pub end_to_end: SecondLatency,
}

/// The result of [`crate::run_baseline`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BaselineReport {
    pub run_id: String,
    pub started_at: String,
    pub finished_at: String,
    pub interrupted: bool,
    pub settings: Option<BaselineSettings>,
    pub topic_names: Vec<String>,
    /// The chain's topics were deleted after the run (an error is logged if not).
    pub topics_deleted: bool,
    pub machine: Machine,
    pub paced: PacedReport,
    pub burst: Option<BurstReport>,
    /// Transactions the relays committed and aborted (transactional mode).
    pub transactions_committed: u64,
    pub transactions_aborted: u64,
    /// CPU over the paced phase's measured window.
    pub cpu: CpuReport,
    pub series: Vec<BaselineSecond>,
}

/// The pipeline against one baseline: ratios, so the figures do not depend on the machine.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ratios {
    pub baseline_mode: Option<RelayMode>,
    /// Terminal orders/s of the pipeline ÷ records/s out of the baseline chain, both at the
    /// same offered rate: 1.0 when both kept up.
    pub throughput_at_rate: Option<f64>,
    /// Terminal orders/s of the pipeline ÷ the baseline burst's records/s: the pipeline's
    /// share of what the broker moves through as many hops. Only a measure of the pipeline's
    /// capacity when the load run was offered more than it could take.
    pub throughput_vs_baseline_max: Option<f64>,
    /// Checkout→CONFIRMED ÷ baseline end to end, at p50 and p99.
    pub latency_p50: Option<f64>,
    pub latency_p99: Option<f64>,
}

impl Ratios {
    /// The ratios of `load` against `baseline`.
    pub fn of(load: &LoadReport, baseline: &BaselineReport) -> Self {
        let confirmed = &load.orders.confirmed.checkout_to_terminal;
        let base = &baseline.paced.end_to_end;
        let nonzero = |p: &Percentiles| p.count > 0;
        Self {
            baseline_mode: baseline.settings.as_ref().map(|settings| settings.mode),
            throughput_at_rate: ratio(
                load.throughput.terminal_orders_per_s,
                baseline.paced.received_per_s,
            ),
            throughput_vs_baseline_max: baseline.burst.as_ref().and_then(|burst| {
                ratio(load.throughput.terminal_orders_per_s, burst.records_per_s)
            }),
            latency_p50: (nonzero(confirmed) && nonzero(base))
                .then(|| ratio(confirmed.p50_ms, base.p50_ms))
                .flatten(),
            latency_p99: (nonzero(confirmed) && nonzero(base))
                .then(|| ratio(confirmed.p99_ms, base.p99_ms))
                .flatten(),
        }
    }
}

/// The result of [`crate::compare`]: the baselines (run first) and the load run, and the
/// ratios of the load run against each baseline.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CompareReport {
    pub baselines: Vec<BaselineReport>,
    pub load: LoadReport,
    pub ratios: Vec<Ratios>,
}

/// Any report, tagged in the JSON with `"kind": "load" | "baseline" | "compare"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Report {
    Load(LoadReport),
    Baseline(BaselineReport),
    Compare(CompareReport),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn percentiles(p50: f64, p99: f64) -> Percentiles {
        Percentiles {
            count: 10,
            p50_ms: p50,
            p99_ms: p99,
            ..Percentiles::default()
        }
    }

    fn load(terminal_per_s: f64, p50: f64, p99: f64) -> LoadReport {
        let mut load = LoadReport::default();
        load.throughput.terminal_orders_per_s = terminal_per_s;
        load.orders.confirmed.checkout_to_terminal = percentiles(p50, p99);
        load
    }

    fn baseline(
        received_per_s: f64,
        burst_per_s: Option<f64>,
        p50: f64,
        p99: f64,
    ) -> BaselineReport {
        let mut baseline = BaselineReport::default();
        baseline.paced.received_per_s = received_per_s;
        baseline.paced.end_to_end = percentiles(p50, p99);
        baseline.burst = burst_per_s.map(|records_per_s| BurstReport {
            records_per_s,
            ..BurstReport::default()
        });
        baseline
    }

    #[test]
    fn ratios_divide_the_pipeline_by_the_baseline() {
        let ratios = Ratios::of(
            &load(990.0, 40.0, 90.0),
            &baseline(1_000.0, Some(20_000.0), 10.0, 30.0),
        );
        assert_eq!(ratios.throughput_at_rate, Some(0.99));
        assert_eq!(ratios.throughput_vs_baseline_max, Some(0.0495));
        assert_eq!(ratios.latency_p50, Some(4.0));
        assert_eq!(ratios.latency_p99, Some(3.0));
    }

    #[test]
    fn missing_figures_give_absent_ratios_not_infinities() {
        let ratios = Ratios::of(&load(0.0, 0.0, 0.0), &BaselineReport::default());
        assert_eq!(ratios.throughput_at_rate, None);
        assert_eq!(ratios.throughput_vs_baseline_max, None);
        assert_eq!(ratios.latency_p50, None);
        let json = serde_json::to_value(&ratios).unwrap();
        assert!(json["latency_p99"].is_null());
    }

    #[test]
    fn the_json_is_tagged_and_names_its_units() {
        let report = Report::Compare(CompareReport {
            baselines: vec![baseline(100.0, None, 1.0, 2.0)],
            load: load(100.0, 5.0, 9.0),
            ratios: Vec::new(),
        });
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["kind"], "compare");
        assert_eq!(json["load"]["throughput"]["terminal_orders_per_s"], 100.0);
        assert_eq!(
            json["load"]["orders"]["confirmed"]["checkout_to_terminal"]["p99_ms"],
            9.0
        );
        assert_eq!(json["baselines"][0]["paced"]["end_to_end"]["p50_ms"], 1.0);
        assert!(json["load"]["series"].is_array());
        // And it reads back.
        let back: Report = serde_json::from_value(json).unwrap();
        assert_eq!(back, report);
    }

    #[test]
    fn session_kinds_are_snake_case_keys() {
        let mut orders = OrdersReport::default();
        orders
            .by_kind
            .entry(SessionKind::Decline)
            .or_default()
            .insert("CANCELLED".to_owned(), 3);
        let json = serde_json::to_value(&orders).unwrap();
        assert_eq!(json["by_kind"]["decline"]["CANCELLED"], 3);
    }
}
