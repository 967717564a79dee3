//! The monitor's real router on a loopback port over a [`MonitorState`] the test fills with
//! reports built by hand, the reports themselves, and a browser pointed at it. No broker: these
//! tests check what the page draws, not how lag is computed.

use crate::browser::Browser;
use serde_json::Value;
use shop_monitor::http::router;
use shop_monitor::lag::Isolation;
use shop_monitor::report::{
    GroupReport, GroupTopicReport, LagReport, PartitionReport, TopicReport, max_seconds,
};
use shop_monitor::state::MonitorState;
use shop_monitor::status::Status;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::oneshot;

/// The sampling interval the reports announce: the page polls this often.
pub(crate) const INTERVAL_MS: u64 = 1_000;
/// How long a `wait_until` may take: several polls.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// The router serving `state`, and a browser on its page.
pub(crate) struct TestDashboard {
    pub(crate) state: MonitorState,
    pub(crate) browser: Browser,
    pub(crate) addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
}

/// Serves an empty state on `127.0.0.1:0` and starts a browser (not yet on the page).
pub(crate) async fn spawn_dashboard() -> TestDashboard {
    let state = MonitorState::new(Duration::from_secs(600), Duration::from_millis(INTERVAL_MS));
    let (addr, stop) = serve(state.clone(), SocketAddr::from(([127, 0, 0, 1], 0))).await;
    TestDashboard {
        state,
        browser: Browser::start().await,
        addr,
        stop: Some(stop),
    }
}

/// Serves `state` on `addr` until the sender is dropped or fires; closes idle keep-alive
/// connections then, so the page sees the monitor go away.
async fn serve(state: MonitorState, addr: SocketAddr) -> (SocketAddr, oneshot::Sender<()>) {
    // Rebinding a port just closed can take a moment.
    let mut tries = 0;
    let listener = loop {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => break listener,
            Err(_) if tries < 50 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => panic!("cannot bind {addr}: {error}"),
        }
    };
    let addr = listener.local_addr().expect("local addr");
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        axum::serve(listener, router(state, None))
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
            .expect("serve the dashboard");
    });
    (addr, stop)
}

impl TestDashboard {
    /// Loads the dashboard.
    pub(crate) async fn open(&self) {
        self.browser.goto(&format!("http://{}/", self.addr)).await;
    }

    /// Stops serving (the page keeps its last render).
    pub(crate) fn stop_server(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Serves the same state on the same port again.
    pub(crate) async fn restart_server(&mut self) {
        let (_, stop) = serve(self.state.clone(), self.addr).await;
        self.stop = Some(stop);
    }

    /// Waits until the page has rendered the report sampled at `at_ms`.
    pub(crate) async fn wait_rendered(&self, at_ms: i64) {
        self.browser
            .wait_until(
                &format!("the page rendered the report of {at_ms}"),
                WAIT,
                &format!("return document.body.dataset.sampledAt === '{at_ms}';"),
            )
            .await;
    }

    /// The text of the element `selector` matches, `null` when there is none.
    pub(crate) async fn text(&self, selector: &str) -> Value {
        self.browser
            .execute(
                "const el = document.querySelector(arguments[0]); \
                 return el ? el.textContent.trim() : null;",
                serde_json::json!([selector]),
            )
            .await
    }

    /// Waits until the text of `selector` is `expected`.
    pub(crate) async fn wait_text(&self, selector: &str, expected: &str) {
        let script = format!(
            "const el = document.querySelector({}); return !!el && el.textContent.trim() === {};",
            js(selector),
            js(expected)
        );
        self.browser
            .wait_until(&format!("{selector} shows {expected:?}"), WAIT, &script)
            .await;
    }
}

/// `value` as a JavaScript string literal.
pub(crate) fn js(value: &str) -> String {
    serde_json::to_string(value).expect("a string serializes")
}

/// Selector of a partition's row.
pub(crate) fn row(group: &str, topic: &str, partition: i32) -> String {
    format!(
        "#partitions tr[data-group={}][data-topic={}][data-partition=\"{partition}\"]",
        js(group),
        js(topic)
    )
}

/// Selector of a group's card.
pub(crate) fn card(group: &str) -> String {
    format!(".card[data-group={}]", js(group))
}

/// Where screenshots go: `target/test-artifacts/` of the workspace.
pub(crate) fn artifact(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/test-artifacts")
        .join(name)
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

// ---- reports -------------------------------------------------------------------------------

pub(crate) const ORDERS: &str = "shop-orders";
pub(crate) const PROJECTOR: &str = "shop-projector";
/// A reason with markup in it: the page must show it as text.
pub(crate) const HOSTILE_REASON: &str =
    "no commit for 95.0s <img src=x onerror=\"window.__injected=1\"> & counting";

/// One partition; committed is `end - lag` unless `None` (never committed).
#[allow(clippy::too_many_arguments)] // a table row: named columns would only add noise
pub(crate) fn partition(
    topic: &str,
    partition: i32,
    committed: bool,
    end: i64,
    lag: u64,
    seconds: Option<f64>,
    status: Status,
    reason: &str,
) -> PartitionReport {
    let committed_offset = committed.then(|| end - i64::try_from(lag).unwrap_or(0));
    PartitionReport {
        topic: topic.to_owned(),
        partition,
        committed_offset,
        last_commit_ms: committed.then(now_ms),
        log_start_offset: 0,
        log_end_offset: end,
        stable_offset: end,
        lag_records: lag,
        lag_seconds: seconds,
        status,
        reason: reason.to_owned(),
    }
}

/// A group over `partitions`, its totals summed the way the sampler sums them.
pub(crate) fn group(
    name: &str,
    members: Option<usize>,
    state: Option<&str>,
    consume_rate: f64,
    partitions: Vec<PartitionReport>,
) -> GroupReport {
    let worst = partitions.iter().max_by_key(|p| (p.status, p.lag_records));
    let mut topics: Vec<GroupTopicReport> = Vec::new();
    for p in &partitions {
        match topics.iter_mut().find(|t| t.topic == p.topic) {
            Some(t) => {
                t.status = t.status.max(p.status);
                t.lag_records += p.lag_records;
                t.lag_seconds = max_seconds(t.lag_seconds, p.lag_seconds);
            }
            None => topics.push(GroupTopicReport {
                topic: p.topic.clone(),
                status: p.status,
                lag_records: p.lag_records,
                lag_seconds: p.lag_seconds,
            }),
        }
    }
    GroupReport {
        group: name.to_owned(),
        status: worst.map_or(Status::Ok, |p| p.status),
        reason: worst.map_or_else(|| "no partitions".to_owned(), |p| p.reason.clone()),
        state: state.map(str::to_owned),
        members,
        lag_records: partitions.iter().map(|p| p.lag_records).sum(),
        lag_seconds: partitions
            .iter()
            .fold(None, |max, p| max_seconds(max, p.lag_seconds)),
        consume_rate,
        topics,
        partitions,
    }
}

pub(crate) fn report(sampled_at_ms: i64, groups: Vec<GroupReport>) -> LagReport {
    let mut ends: BTreeMap<String, BTreeMap<i32, i64>> = BTreeMap::new();
    for p in groups.iter().flat_map(|g| &g.partitions) {
        ends.entry(p.topic.clone())
            .or_default()
            .insert(p.partition, p.log_end_offset);
    }
    let topics = ends
        .into_iter()
        .zip([41.5, 8.25, 1_250.0].into_iter().cycle())
        .map(|((topic, ends), produce_rate)| TopicReport {
            topic,
            partitions: ends.len(),
            log_end_offset: ends.values().sum(),
            produce_rate,
        })
        .collect();
    LagReport {
        sampled_at_ms,
        sample_duration_ms: 37,
        interval_ms: INTERVAL_MS,
        isolation: Isolation::ReadCommitted,
        groups,
        topics,
    }
}

/// The first state the page is shown: `shop-orders` falling behind on one partition
/// (WARNING), `shop-projector` stopped on one and stalled on another. `progress` in 0..=1
/// scales the lag, so a run of these makes a history with rising lines.
pub(crate) fn falling_behind(sampled_at_ms: i64, progress: f64) -> LagReport {
    let scaled = |lag: u64| (lag as f64 * progress).round() as u64;
    let orders = group(
        ORDERS,
        Some(3),
        Some("Stable"),
        182.4,
        vec![
            partition(
                "checkout.requested",
                0,
                true,
                48_210,
                0,
                Some(0.0),
                Status::Ok,
                "caught up",
            ),
            partition(
                "checkout.requested",
                1,
                true,
                51_002,
                scaled(1_234),
                Some(12.5 * progress),
                Status::Warning,
                "lag grew from 310 to 1234 over 30.0s",
            ),
            partition(
                "checkout.requested",
                2,
                true,
                47_915,
                scaled(18),
                Some(0.4),
                Status::Ok,
                "18 records to read, not growing",
            ),
            partition(
                "inventory.events",
                0,
                true,
                20_113,
                0,
                Some(0.0),
                Status::Ok,
                "caught up",
            ),
            partition(
                "inventory.events",
                1,
                true,
                19_870,
                scaled(7),
                None,
                Status::Ok,
                "7 records to read, not growing",
            ),
        ],
    );
    let projector = group(
        PROJECTOR,
        Some(0),
        Some("Empty"),
        0.0,
        vec![
            partition(
                "orders.events",
                0,
                true,
                90_400,
                scaled(5_000),
                Some(95.0 * progress),
                Status::Stopped,
                HOSTILE_REASON,
            ),
            partition(
                "orders.events",
                1,
                false,
                88_120,
                scaled(20),
                None,
                Status::Stalled,
                "committing offset 88100 for 41.0s with 20 records to read",
            ),
        ],
    );
    report(sampled_at_ms, vec![orders, projector])
}

/// What the page is shown next: `shop-orders` caught up, `shop-projector` rewound.
pub(crate) fn recovered(sampled_at_ms: i64) -> LagReport {
    let orders = group(
        ORDERS,
        Some(3),
        Some("Stable"),
        240.0,
        vec![
            partition(
                "checkout.requested",
                0,
                true,
                48_400,
                0,
                Some(0.0),
                Status::Ok,
                "caught up",
            ),
            partition(
                "checkout.requested",
                1,
                true,
                51_900,
                42,
                Some(0.8),
                Status::Ok,
                "42 records to read, not growing",
            ),
            partition(
                "checkout.requested",
                2,
                true,
                48_020,
                0,
                Some(0.0),
                Status::Ok,
                "caught up",
            ),
            partition(
                "inventory.events",
                0,
                true,
                20_200,
                0,
                Some(0.0),
                Status::Ok,
                "caught up",
            ),
            partition(
                "inventory.events",
                1,
                true,
                19_950,
                0,
                Some(0.0),
                Status::Ok,
                "caught up",
            ),
        ],
    );
    let projector = group(
        PROJECTOR,
        Some(2),
        Some("Stable"),
        95.0,
        vec![
            partition(
                "orders.events",
                0,
                true,
                90_600,
                2_600,
                Some(31.0),
                Status::Rewind,
                "offset went back from 88000 2.0s ago; 2600 records to read",
            ),
            partition(
                "orders.events",
                1,
                true,
                88_300,
                0,
                Some(0.0),
                Status::Ok,
                "caught up",
            ),
        ],
    );
    report(sampled_at_ms, vec![orders, projector])
}
