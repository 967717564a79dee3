//! Everything a load run measures, in one place behind one lock: the requests' answers, the
//! orders in flight and their terminal statuses, the per-second series. Sessions and the topic
//! watcher report to it; [`Recorder::finish`] turns it into the report's figures.
//!
//! Times are offsets from the run's start (the first session's due time), so this module never
//! reads a clock and its arithmetic is unit-tested directly.

use crate::http::Answer;
use crate::report::{
    LATE_THRESHOLD_MS, LoadSecond, OrdersReport, RequestReport, ScheduleReport, TerminalReport,
    ThroughputReport,
};
use crate::schedule::SessionKind;
use crate::stats::{Latency, PerSecond, second_of};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

/// The most seconds a series holds (an hour and a half); later ones share the last slot.
const MAX_SECONDS: usize = 5_400;

/// A terminal order status as read from `orders.events`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Terminal {
    Confirmed,
    Rejected,
    Cancelled,
}

impl Terminal {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Confirmed => "CONFIRMED",
            Self::Rejected => "REJECTED",
            Self::Cancelled => "CANCELLED",
        }
    }
}

/// The two request kinds of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestKind {
    AddItem,
    Checkout,
}

/// An order checked out and not yet ended.
#[derive(Debug, Clone)]
struct Open {
    kind: SessionKind,
    measured: bool,
    /// The session's due time.
    session_due: Duration,
    /// When the checkout request was due (the add-item's answer).
    checkout_due: Duration,
    /// The last non-terminal status seen.
    last_status: Option<&'static str>,
    command_id: Option<String>,
}

/// A session about to check out, as the session reports it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CheckoutStart {
    pub(crate) kind: SessionKind,
    pub(crate) measured: bool,
    pub(crate) session_due: Duration,
    pub(crate) checkout_due: Duration,
}

#[derive(Debug, Clone)]
struct Requests {
    sent: u64,
    outcomes: BTreeMap<String, u64>,
    accept: Latency,
}

impl Requests {
    fn new() -> Result<Self, hdrhistogram::CreationError> {
        Ok(Self {
            sent: 0,
            outcomes: BTreeMap::new(),
            accept: Latency::precise()?,
        })
    }

    fn report(&self) -> RequestReport {
        RequestReport {
            sent: self.sent,
            outcomes: self.outcomes.clone(),
            accept_latency: self.accept.summary(),
        }
    }
}

#[derive(Debug, Clone)]
struct Ended {
    count: u64,
    checkout: Latency,
    session: Latency,
    reasons: BTreeMap<String, u64>,
}

impl Ended {
    fn new() -> Result<Self, hdrhistogram::CreationError> {
        Ok(Self {
            count: 0,
            checkout: Latency::precise()?,
            session: Latency::precise()?,
            reasons: BTreeMap::new(),
        })
    }

    fn report(&self) -> TerminalReport {
        TerminalReport {
            count: self.count,
            checkout_to_terminal: self.checkout.summary(),
            session_to_terminal: self.session.summary(),
            reasons: self.reasons.clone(),
        }
    }
}

/// One second's tallies.
#[derive(Debug, Clone)]
struct Second {
    sessions_started: u64,
    commands_accepted: u64,
    terminal_orders: u64,
    confirmed: u64,
    accept: Latency,
    confirmed_latency: Latency,
    terminal_latency: Latency,
}

impl Second {
    fn new() -> Result<Self, hdrhistogram::CreationError> {
        Ok(Self {
            sessions_started: 0,
            commands_accepted: 0,
            terminal_orders: 0,
            confirmed: 0,
            accept: Latency::coarse()?,
            confirmed_latency: Latency::coarse()?,
            terminal_latency: Latency::coarse()?,
        })
    }
}

/// The measured window: `[from, until)` offsets from the start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Window {
    pub(crate) from: Duration,
    pub(crate) until: Duration,
}

impl Window {
    fn contains(&self, at: Duration) -> bool {
        at >= self.from && at < self.until
    }

    fn seconds(&self) -> f64 {
        self.until.saturating_sub(self.from).as_secs_f64()
    }
}

/// Everything a load run measures.
#[derive(Debug)]
pub(crate) struct Recorder {
    window: Window,
    target_rate: f64,
    terminal_timeout: Duration,
    open: HashMap<String, Open>,
    by_command: HashMap<String, String>,
    /// Rejected outcomes that came before their checkout's 202 was read (a race the
    /// outcome can win), by command id.
    early_refusals: HashMap<String, String>,
    ended: HashSet<String>,
    schedule: ScheduleReport,
    lateness: Latency,
    add_item: Requests,
    checkout: Requests,
    terminal: BTreeMap<Terminal, Ended>,
    orders: OrdersReport,
    series: PerSecond<Second>,
    in_window_sessions: u64,
    in_window_accepted: u64,
    in_window_checkouts: u64,
    in_window_terminal: u64,
    in_window_confirmed: u64,
    open_at_window_end: Option<u64>,
}

impl Recorder {
    /// A recorder for a run measured over `window`.
    ///
    /// # Errors
    /// If a histogram cannot be made (never with its constant bounds).
    pub(crate) fn new(
        window: Window,
        target_rate: f64,
        terminal_timeout: Duration,
        scarce_stock: u32,
    ) -> Result<Self, hdrhistogram::CreationError> {
        let mut terminal = BTreeMap::new();
        for status in [Terminal::Confirmed, Terminal::Rejected, Terminal::Cancelled] {
            terminal.insert(status, Ended::new()?);
        }
        Ok(Self {
            window,
            target_rate,
            terminal_timeout,
            open: HashMap::new(),
            by_command: HashMap::new(),
            early_refusals: HashMap::new(),
            ended: HashSet::new(),
            schedule: ScheduleReport::default(),
            lateness: Latency::precise()?,
            add_item: Requests::new()?,
            checkout: Requests::new()?,
            terminal,
            orders: OrdersReport {
                scarce_stock,
                ..OrdersReport::default()
            },
            series: PerSecond::new(MAX_SECONDS, Second::new()?),
            in_window_sessions: 0,
            in_window_accepted: 0,
            in_window_checkouts: 0,
            in_window_terminal: 0,
            in_window_confirmed: 0,
            open_at_window_end: None,
        })
    }

    /// The timetable held `planned` sessions.
    pub(crate) fn planned(&mut self, planned: u64) {
        self.schedule.planned = planned;
    }

    /// A session due at `due` started at `started`; `measured` when due inside the window.
    pub(crate) fn session_started(&mut self, due: Duration, started: Duration, measured: bool) {
        self.schedule.started += 1;
        self.series.at(second_of(started)).sessions_started += 1;
        if self.window.contains(started) {
            self.in_window_sessions += 1;
        }
        if measured {
            self.schedule.measured += 1;
            let late = started.saturating_sub(due);
            self.lateness.record(late);
            if late.as_secs_f64() * 1_000.0 > LATE_THRESHOLD_MS {
                self.schedule.late += 1;
            }
        }
    }

    /// A session due at `due` was not started: `max_in_flight` sessions were running.
    pub(crate) fn session_dropped(&mut self, measured: bool) {
        if measured {
            self.schedule.dropped += 1;
        }
    }

    /// A measured session waited for its user's previous session.
    pub(crate) fn user_waited(&mut self) {
        self.schedule.user_waits += 1;
    }

    /// A request due at `due` was answered (or failed) at `done`.
    pub(crate) fn request(
        &mut self,
        kind: RequestKind,
        answer: &Answer,
        due: Duration,
        done: Duration,
        measured: bool,
    ) {
        if answer.is_accepted() {
            let latency = done.saturating_sub(due);
            let second = self.series.at(second_of(done));
            second.commands_accepted += 1;
            second.accept.record(latency);
            if self.window.contains(done) {
                self.in_window_accepted += 1;
                if kind == RequestKind::Checkout {
                    self.in_window_checkouts += 1;
                }
            }
            if measured {
                self.requests(kind).accept.record(latency);
            }
        }
        if measured {
            let requests = self.requests(kind);
            requests.sent += 1;
            *requests.outcomes.entry(answer.label()).or_default() += 1;
        }
    }

    fn requests(&mut self, kind: RequestKind) -> &mut Requests {
        match kind {
            RequestKind::AddItem => &mut self.add_item,
            RequestKind::Checkout => &mut self.checkout,
        }
    }

    /// A session ended before checking out (`add_failed`) or its checkout was not accepted
    /// (`checkout_failed`).
    pub(crate) fn session_failed(&mut self, kind: SessionKind, measured: bool, what: &str) {
        if measured {
            self.by_kind(kind, what);
            self.orders.unexpected += 1;
        }
    }

    fn by_kind(&mut self, kind: SessionKind, what: &str) {
        *self
            .orders
            .by_kind
            .entry(kind)
            .or_default()
            .entry(what.to_owned())
            .or_default() += 1;
    }

    /// A session is about to send the checkout that makes `order_id`: registered before the
    /// request, so a status that arrives before the answer is not missed.
    pub(crate) fn checkout_starting(&mut self, order_id: &str, start: CheckoutStart) {
        self.open.insert(
            order_id.to_owned(),
            Open {
                kind: start.kind,
                measured: start.measured,
                session_due: start.session_due,
                checkout_due: start.checkout_due,
                last_status: None,
                command_id: None,
            },
        );
    }

    /// The checkout of `order_id` was answered 202 with `command_id` (when the body had one).
    pub(crate) fn checkout_accepted(&mut self, order_id: &str, command_id: Option<String>) {
        let Some(open) = self.open.get_mut(order_id) else {
            return; // Ended already: its terminal status beat the 202.
        };
        if open.measured {
            self.orders.checkouts_accepted += 1;
        }
        let Some(command_id) = command_id else {
            return;
        };
        if let Some(reason) = self.early_refusals.remove(&command_id) {
            self.refuse(order_id, &reason);
        } else {
            open.command_id = Some(command_id.clone());
            self.by_command.insert(command_id, order_id.to_owned());
        }
    }

    /// The checkout of `order_id` was not accepted: no order will come.
    pub(crate) fn checkout_failed(&mut self, order_id: &str) {
        if let Some(open) = self.open.remove(order_id) {
            self.session_failed(open.kind, open.measured, "checkout_failed");
        }
    }

    /// A command was rejected on `commands.outcomes`. Only checkouts of this run matter; any
    /// other rejection (an add-item, another client's) is kept until the run ends in case its
    /// checkout's 202 has not been read yet, which costs little: rejections are rare.
    pub(crate) fn command_rejected(&mut self, command_id: &str, reason: &str) {
        match self.by_command.remove(command_id) {
            Some(order_id) => self.refuse(&order_id, reason),
            None => {
                self.early_refusals
                    .insert(command_id.to_owned(), reason.to_owned());
            }
        }
    }

    fn refuse(&mut self, order_id: &str, reason: &str) {
        if let Some(open) = self.open.remove(order_id) {
            if open.measured {
                *self
                    .orders
                    .checkout_refused
                    .entry(reason.to_owned())
                    .or_default() += 1;
                self.by_kind(open.kind, "refused");
                self.orders.unexpected += 1;
            }
            self.ended.insert(order_id.to_owned());
        }
    }

    /// A non-terminal status of `order_id` was read.
    pub(crate) fn order_progressed(&mut self, order_id: &str, status: &'static str) {
        if let Some(open) = self.open.get_mut(order_id) {
            open.last_status = Some(status);
        }
    }

    /// A terminal status of `order_id` was read at `at`.
    pub(crate) fn order_ended(
        &mut self,
        order_id: &str,
        status: Terminal,
        reason: Option<&str>,
        at: Duration,
    ) {
        let Some(open) = self.open.remove(order_id) else {
            if self.ended.contains(order_id) {
                self.orders.duplicate_terminal_events += 1;
            }
            return; // Not this run's order.
        };
        self.ended.insert(order_id.to_owned());
        if let Some(command_id) = &open.command_id {
            self.by_command.remove(command_id);
        }
        let checkout_latency = at.saturating_sub(open.checkout_due);
        let second = self.series.at(second_of(at));
        second.terminal_orders += 1;
        second.terminal_latency.record(checkout_latency);
        if status == Terminal::Confirmed {
            second.confirmed += 1;
            second.confirmed_latency.record(checkout_latency);
            if open.kind == SessionKind::Scarce {
                self.orders.scarce_confirmed += 1;
            }
        }
        if self.window.contains(at) {
            self.in_window_terminal += 1;
            if status == Terminal::Confirmed {
                self.in_window_confirmed += 1;
            }
        }
        if !open.measured {
            return;
        }
        if checkout_latency > self.terminal_timeout {
            self.orders.over_timeout += 1;
        }
        if let Some(ended) = self.terminal.get_mut(&status) {
            ended.count += 1;
            ended.checkout.record(checkout_latency);
            ended.session.record(at.saturating_sub(open.session_due));
            if let Some(reason) = reason {
                *ended.reasons.entry(reason.to_owned()).or_default() += 1;
            }
        }
        self.by_kind(open.kind, status.as_str());
        let expected = match open.kind {
            SessionKind::Confirm => status == Terminal::Confirmed,
            SessionKind::Decline => status == Terminal::Cancelled,
            SessionKind::Scarce => status != Terminal::Cancelled,
        };
        if !expected {
            self.orders.unexpected += 1;
        }
    }

    /// A record on a watched topic did not decode.
    pub(crate) fn undecodable(&mut self) {
        self.orders.undecodable_records += 1;
    }

    /// Orders checked out and not ended.
    pub(crate) fn open_orders(&self) -> usize {
        self.open.len()
    }

    /// The last session was due: note the backlog.
    pub(crate) fn window_ended(&mut self) {
        self.open_at_window_end = Some(self.open.len() as u64);
    }

    /// Every order still open has timed out; turns the tallies into the report's figures.
    pub(crate) fn finish(mut self) -> Finished {
        let open = std::mem::take(&mut self.open);
        for (_, order) in open {
            if order.measured {
                *self
                    .orders
                    .timed_out
                    .entry(order.last_status.unwrap_or("none").to_owned())
                    .or_default() += 1;
                self.by_kind(order.kind, "timed_out");
                self.orders.unexpected += 1;
            }
        }
        let get = |status| {
            self.terminal
                .get(&status)
                .map(Ended::report)
                .unwrap_or_default()
        };
        self.orders.confirmed = get(Terminal::Confirmed);
        self.orders.rejected = get(Terminal::Rejected);
        self.orders.cancelled = get(Terminal::Cancelled);
        self.schedule.lateness = self.lateness.summary();
        let seconds = self.window.seconds();
        let per_second = |count: u64| {
            if seconds > 0.0 {
                count as f64 / seconds
            } else {
                0.0
            }
        };
        let terminal_orders_per_s = per_second(self.in_window_terminal);
        let timed_out: u64 = self.orders.timed_out.values().sum();
        let throughput = ThroughputReport {
            window_s: seconds,
            sessions_started_per_s: per_second(self.in_window_sessions),
            commands_accepted_per_s: per_second(self.in_window_accepted),
            checkouts_accepted_per_s: per_second(self.in_window_checkouts),
            terminal_orders_per_s,
            confirmed_per_s: per_second(self.in_window_confirmed),
            open_orders_at_window_end: self.open_at_window_end.unwrap_or_default(),
            kept_up: terminal_orders_per_s >= 0.95 * self.target_rate
                && timed_out == 0
                && self.schedule.dropped == 0,
        };
        let warmup_seconds = second_of(self.window.from);
        let series = self
            .series
            .slots()
            .iter()
            .enumerate()
            .map(|(index, second)| LoadSecond {
                second: index as u64,
                warmup: index < warmup_seconds,
                sessions_started: second.sessions_started,
                commands_accepted: second.commands_accepted,
                terminal_orders: second.terminal_orders,
                confirmed: second.confirmed,
                accept: second.accept.summary().into(),
                checkout_to_confirmed: second.confirmed_latency.summary().into(),
                checkout_to_terminal: second.terminal_latency.summary().into(),
            })
            .collect();
        Finished {
            schedule: self.schedule,
            add_item: self.add_item.report(),
            checkout: self.checkout.report(),
            orders: self.orders,
            throughput,
            series,
        }
    }
}

/// The figures of a finished recorder.
#[derive(Debug, Clone)]
pub(crate) struct Finished {
    pub(crate) schedule: ScheduleReport,
    pub(crate) add_item: RequestReport,
    pub(crate) checkout: RequestReport,
    pub(crate) orders: OrdersReport,
    pub(crate) throughput: ThroughputReport,
    pub(crate) series: Vec<LoadSecond>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(value: u64) -> Duration {
        Duration::from_millis(value)
    }

    fn recorder() -> Recorder {
        // Warm-up 1 s, measured for 2 s, 10 sessions/s, 5 s terminal timeout, 3 scarce units.
        Recorder::new(
            Window {
                from: ms(1_000),
                until: ms(3_000),
            },
            10.0,
            Duration::from_secs(5),
            3,
        )
        .unwrap()
    }

    fn accepted(command_id: Option<&str>) -> Answer {
        Answer::Status {
            status: 202,
            command_id: command_id.map(str::to_owned),
        }
    }

    fn start(kind: SessionKind, due: u64, checkout_due: u64) -> CheckoutStart {
        CheckoutStart {
            kind,
            measured: due >= 1_000,
            session_due: ms(due),
            checkout_due: ms(checkout_due),
        }
    }

    #[test]
    fn a_confirmed_order_is_timed_from_its_checkout_and_its_session() {
        let mut r = recorder();
        r.session_started(ms(1_500), ms(1_501), true);
        r.request(
            RequestKind::AddItem,
            &accepted(None),
            ms(1_500),
            ms(1_510),
            true,
        );
        r.checkout_starting("o1", start(SessionKind::Confirm, 1_500, 1_510));
        r.request(
            RequestKind::Checkout,
            &accepted(Some("c1")),
            ms(1_510),
            ms(1_520),
            true,
        );
        r.checkout_accepted("o1", Some("c1".to_owned()));
        r.order_progressed("o1", "PENDING");
        r.order_ended("o1", Terminal::Confirmed, None, ms(1_560));
        let done = r.finish();
        assert_eq!(done.orders.checkouts_accepted, 1);
        let confirmed = &done.orders.confirmed;
        assert_eq!(confirmed.count, 1);
        assert!((confirmed.checkout_to_terminal.p50_ms - 50.0).abs() < 0.1);
        assert!((confirmed.session_to_terminal.p50_ms - 60.0).abs() < 0.1);
        assert!((done.add_item.accept_latency.p50_ms - 10.0).abs() < 0.1);
        assert_eq!(done.add_item.outcomes.get("202"), Some(&1));
        assert_eq!(done.orders.unexpected, 0);
        assert_eq!(done.orders.by_kind[&SessionKind::Confirm]["CONFIRMED"], 1);
        // One terminal order in a 2 s window.
        assert!((done.throughput.terminal_orders_per_s - 0.5).abs() < 1e-9);
        assert_eq!(done.series[1].confirmed, 1);
        assert!(done.series[0].warmup && !done.series[1].warmup);
    }

    #[test]
    fn warm_up_orders_count_in_the_series_but_not_the_figures() {
        let mut r = recorder();
        r.checkout_starting("w", start(SessionKind::Confirm, 100, 110));
        r.checkout_accepted("w", None);
        r.order_ended("w", Terminal::Confirmed, None, ms(200));
        let done = r.finish();
        assert_eq!(done.orders.confirmed.count, 0);
        assert_eq!(done.orders.checkouts_accepted, 0);
        assert_eq!(done.series[0].terminal_orders, 1);
    }

    #[test]
    fn orders_never_ended_are_timed_out_by_last_status() {
        let mut r = recorder();
        r.checkout_starting("a", start(SessionKind::Confirm, 1_000, 1_010));
        r.checkout_accepted("a", Some("ca".to_owned()));
        r.order_progressed("a", "STOCK_RESERVED");
        r.checkout_starting("b", start(SessionKind::Decline, 1_100, 1_110));
        r.checkout_accepted("b", Some("cb".to_owned()));
        r.window_ended();
        let done = r.finish();
        assert_eq!(done.orders.timed_out.get("STOCK_RESERVED"), Some(&1));
        assert_eq!(done.orders.timed_out.get("none"), Some(&1));
        assert_eq!(done.orders.unexpected, 2);
        assert_eq!(done.throughput.open_orders_at_window_end, 2);
        assert!(!done.throughput.kept_up);
    }

    #[test]
    fn a_refused_checkout_is_matched_by_command_id_whichever_comes_first() {
        let mut r = recorder();
        // The outcome after the 202.
        r.checkout_starting("a", start(SessionKind::Confirm, 1_000, 1_010));
        r.checkout_accepted("a", Some("ca".to_owned()));
        r.command_rejected("ca", "empty_cart");
        // The outcome before the 202 was read.
        r.checkout_starting("b", start(SessionKind::Confirm, 1_000, 1_010));
        r.command_rejected("cb", "unknown_product");
        r.checkout_accepted("b", Some("cb".to_owned()));
        let done = r.finish();
        assert_eq!(done.orders.checkout_refused.get("empty_cart"), Some(&1));
        assert_eq!(
            done.orders.checkout_refused.get("unknown_product"),
            Some(&1)
        );
        assert!(done.orders.timed_out.is_empty());
        assert_eq!(done.orders.by_kind[&SessionKind::Confirm]["refused"], 2);
    }

    #[test]
    fn a_second_terminal_status_is_a_duplicate() {
        let mut r = recorder();
        r.checkout_starting("a", start(SessionKind::Scarce, 1_000, 1_010));
        r.order_ended("a", Terminal::Rejected, Some("out_of_stock"), ms(1_050));
        r.order_ended("a", Terminal::Rejected, Some("out_of_stock"), ms(1_060));
        r.order_ended("someone-else", Terminal::Confirmed, None, ms(1_060));
        let done = r.finish();
        assert_eq!(done.orders.duplicate_terminal_events, 1);
        assert_eq!(done.orders.rejected.reasons.get("out_of_stock"), Some(&1));
        assert_eq!(
            done.orders.unexpected, 0,
            "a scarce session may be rejected"
        );
    }

    #[test]
    fn kinds_that_end_otherwise_are_unexpected() {
        let mut r = recorder();
        r.checkout_starting("d", start(SessionKind::Decline, 1_000, 1_010));
        r.order_ended("d", Terminal::Confirmed, None, ms(1_050));
        r.checkout_starting("s", start(SessionKind::Scarce, 1_000, 1_010));
        r.order_ended("s", Terminal::Confirmed, None, ms(1_050));
        let done = r.finish();
        assert_eq!(done.orders.unexpected, 1);
        assert_eq!(done.orders.scarce_confirmed, 1);
    }

    #[test]
    fn late_and_dropped_sessions_are_counted() {
        let mut r = recorder();
        r.planned(3);
        r.session_started(ms(1_000), ms(1_002), true);
        r.session_started(ms(1_100), ms(1_150), true);
        r.session_dropped(true);
        r.session_dropped(false);
        let done = r.finish();
        assert_eq!(done.schedule.planned, 3);
        assert_eq!(done.schedule.started, 2);
        assert_eq!(done.schedule.late, 1);
        assert_eq!(done.schedule.dropped, 1);
        assert!((done.schedule.lateness.max_ms - 50.0).abs() < 0.1);
    }

    #[test]
    fn failed_requests_are_tallied_by_label() {
        let mut r = recorder();
        let limited = Answer::Status {
            status: 429,
            command_id: None,
        };
        r.request(RequestKind::AddItem, &limited, ms(1_000), ms(1_001), true);
        r.request(
            RequestKind::AddItem,
            &Answer::Failed("timeout"),
            ms(1_000),
            ms(16_000),
            true,
        );
        r.session_failed(SessionKind::Confirm, true, "add_failed");
        let done = r.finish();
        assert_eq!(done.add_item.sent, 2);
        assert_eq!(done.add_item.outcomes.get("429"), Some(&1));
        assert_eq!(done.add_item.outcomes.get("timeout"), Some(&1));
        assert_eq!(done.add_item.accept_latency.count, 0);
        assert_eq!(done.orders.by_kind[&SessionKind::Confirm]["add_failed"], 1);
    }
}
