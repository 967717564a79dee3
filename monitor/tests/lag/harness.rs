//! A monitor running in the test process against the real broker, with short thresholds, and
//! the clients the tests play consumer groups with.

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value;
use shop_monitor::app::{self, MonitorFlags};
use shop_monitor::lag::Isolation;
use shop_platform::kafka::TracingContext;
use shop_platform::testing;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The thresholds every test monitor uses: short, so statuses change within seconds.
pub(crate) const INTERVAL: Duration = Duration::from_millis(300);
pub(crate) const STALL_AFTER: Duration = Duration::from_secs(2);
pub(crate) const STOP_AFTER: Duration = Duration::from_secs(3);

/// One global recorder for the test process, so `/metrics` shows what the monitors publish.
fn recorder() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .install_recorder()
                .expect("one recorder per test process")
        })
        .clone()
}

/// A monitor of `groups` only, serving on a free port.
pub(crate) struct Monitor {
    pub(crate) address: SocketAddr,
    stop: CancellationToken,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    http: reqwest::Client,
}

impl Monitor {
    pub(crate) async fn start(groups: &[&str]) -> Self {
        testing::init_logs();
        let flags = MonitorFlags {
            groups: groups.iter().map(|group| (*group).to_owned()).collect(),
            group_prefix: Some("-".to_owned()),
            interval: INTERVAL,
            window: Duration::from_secs(3),
            stall_after: STALL_AFTER,
            stop_after: STOP_AFTER,
            rate_window: Duration::from_secs(3),
            history: Duration::from_secs(60),
            isolation: Isolation::ReadCommitted,
        };
        let settings = flags.settings(testing::kafka(), "");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let task = tokio::spawn(app::run(settings, listener, Some(recorder()), stop.clone()));
        Self {
            address,
            stop,
            task: Some(task),
            http: reqwest::Client::new(),
        }
    }

    /// The latest report, or `None` before the first sample.
    pub(crate) async fn report(&self) -> Option<Value> {
        let response = self
            .http
            .get(format!("http://{}/api/v1/lag", self.address))
            .send()
            .await
            .unwrap();
        if response.status() == reqwest::StatusCode::SERVICE_UNAVAILABLE {
            return None;
        }
        assert!(response.status().is_success(), "{}", response.status());
        Some(response.json().await.unwrap())
    }

    /// The group's report for one partition, from the latest sample.
    pub(crate) async fn partition(
        &self,
        group: &str,
        topic: &str,
        partition: i64,
    ) -> Option<Value> {
        let report = self.report().await?;
        report["groups"]
            .as_array()?
            .iter()
            .find(|g| g["group"] == group)?["partitions"]
            .as_array()?
            .iter()
            .find(|p| p["topic"] == topic && p["partition"] == partition)
            .cloned()
    }

    /// The group's report from the latest sample.
    pub(crate) async fn group(&self, group: &str) -> Option<Value> {
        let report = self.report().await?;
        report["groups"]
            .as_array()?
            .iter()
            .find(|g| g["group"] == group)
            .cloned()
    }

    /// Polls the partition until `accept` holds, and returns it; panics with the last report
    /// after `timeout`.
    pub(crate) async fn wait_for_partition(
        &self,
        group: &str,
        topic: &str,
        partition: i64,
        timeout: Duration,
        what: &str,
        accept: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        let mut last = None;
        while Instant::now() < deadline {
            if let Some(found) = self.partition(group, topic, partition).await {
                if accept(&found) {
                    return found;
                }
                last = Some(found);
            }
            tokio::time::sleep(INTERVAL / 2).await;
        }
        panic!("{group} on {topic}[{partition}] never showed {what}; last: {last:#?}");
    }

    /// `/metrics` as text.
    pub(crate) async fn metrics(&self) -> String {
        self.http
            .get(format!("http://{}/metrics", self.address))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub(crate) async fn stop(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let result = tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .expect("the monitor stops within 10 s")
                .expect("the monitor did not panic");
            result.expect("the monitor ended without an error");
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A plain producer.
pub(crate) fn producer() -> FutureProducer<TracingContext> {
    testing::kafka()
        .producer()
        .create_with_context(TracingContext)
        .unwrap()
}

/// Writes `count` small records to one partition.
pub(crate) async fn produce(topic: &str, partition: i32, count: usize) {
    let producer = producer();
    for index in 0..count {
        let payload = format!("record {index}");
        producer
            .send(
                FutureRecord::<(), _>::to(topic)
                    .partition(partition)
                    .payload(&payload),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(error, _)| error)
            .unwrap();
    }
}

/// A member-less client of `group` that commits offsets as told, as a consumer would.
pub(crate) struct Committer {
    consumer: BaseConsumer<TracingContext>,
}

impl Committer {
    pub(crate) fn new(group: &str) -> Self {
        Self {
            consumer: testing::kafka()
                .consumer(group)
                .create_with_context(TracingContext)
                .unwrap(),
        }
    }

    /// Commits `offset` (the next record to read) on the partition, synchronously.
    pub(crate) fn commit(&self, topic: &str, partition: i32, offset: i64) {
        let mut list = TopicPartitionList::new();
        list.add_partition_offset(topic, partition, Offset::Offset(offset))
            .unwrap();
        self.consumer.commit(&list, CommitMode::Sync).unwrap();
    }

    pub(crate) fn consumer(&self) -> &BaseConsumer<TracingContext> {
        &self.consumer
    }
}

pub(crate) fn as_i64(value: &Value) -> i64 {
    value
        .as_i64()
        .unwrap_or_else(|| panic!("{value} is not an integer"))
}
