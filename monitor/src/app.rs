//! Flags, settings and the monitor's main loop: follow the commit log, sample on an interval,
//! publish, serve.

use crate::http;
use crate::lag::Isolation;
use crate::metrics::publish;
use crate::offsets::OffsetClients;
use crate::probe::Prober;
use crate::sampler::{GroupSelection, Sampler, SamplerSettings};
use crate::state::MonitorState;
use crate::status::Thresholds;
use crate::tail::{CommitTail, SharedCommits};
use anyhow::Context as _;
use metrics_exporter_prometheus::PrometheusHandle;
use shop_platform::kafka::KafkaSettings;
use shop_topics::names::metrics as names;
use std::collections::BTreeSet;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The monitor's own flags, shared by `shop-monitor` and the all-in-one `shop-processors`.
#[derive(Debug, Clone, clap::Args)]
pub struct MonitorFlags {
    /// Also monitor these groups (comma separated), besides the pipeline's own.
    #[arg(
        long = "monitor-groups",
        env = "SHOP_MONITOR_GROUPS",
        value_delimiter = ','
    )]
    pub groups: Vec<String>,
    /// Monitor every group whose name starts with this; default `<topic prefix>shop-`, the
    /// pipeline's groups. `-` monitors only `--monitor-groups`.
    #[arg(long = "monitor-group-prefix", env = "SHOP_MONITOR_GROUP_PREFIX")]
    pub group_prefix: Option<String>,
    /// How often every group is sampled.
    #[arg(long = "monitor-interval", env = "SHOP_MONITOR_INTERVAL", default_value = "2s", value_parser = humantime::parse_duration)]
    pub interval: Duration,
    /// Span of samples over which growing lag is a WARNING; a REWIND shows this long.
    #[arg(long = "monitor-window", env = "SHOP_MONITOR_WINDOW", default_value = "30s", value_parser = humantime::parse_duration)]
    pub window: Duration,
    /// Committing the same offset this long with lag: STALLED.
    #[arg(long = "monitor-stall-after", env = "SHOP_MONITOR_STALL_AFTER", default_value = "30s", value_parser = humantime::parse_duration)]
    pub stall_after: Duration,
    /// No commit this long with lag: STOPPED.
    #[arg(long = "monitor-stop-after", env = "SHOP_MONITOR_STOP_AFTER", default_value = "30s", value_parser = humantime::parse_duration)]
    pub stop_after: Duration,
    /// Produce and consume rates are averaged over this long.
    #[arg(long = "monitor-rate-window", env = "SHOP_MONITOR_RATE_WINDOW", default_value = "10s", value_parser = humantime::parse_duration)]
    pub rate_window: Duration,
    /// How much history the dashboard and `/api/v1/history` keep.
    #[arg(long = "monitor-history", env = "SHOP_MONITOR_HISTORY", default_value = "10m", value_parser = humantime::parse_duration)]
    pub history: Duration,
    /// Measure lag to the last stable offset (read_committed consumers) or the high watermark.
    #[arg(long = "monitor-isolation", env = "SHOP_MONITOR_ISOLATION", value_enum, default_value_t = Isolation::ReadCommitted)]
    pub isolation: Isolation,
}

impl MonitorFlags {
    /// Settings for a cluster reached with `kafka`, whose pipeline names start with
    /// `topic_prefix`.
    pub fn settings(&self, kafka: KafkaSettings, topic_prefix: &str) -> MonitorSettings {
        let prefix = match self.group_prefix.as_deref() {
            Some("-") => None,
            Some(prefix) => Some(prefix.to_owned()),
            None => Some(format!("{topic_prefix}shop-")),
        };
        MonitorSettings {
            kafka,
            sampler: SamplerSettings {
                groups: GroupSelection {
                    prefix,
                    names: self
                        .groups
                        .iter()
                        .map(|group| group.trim().to_owned())
                        .filter(|group| !group.is_empty())
                        .collect::<BTreeSet<_>>(),
                },
                interval: self.interval,
                thresholds: Thresholds {
                    window: self.window,
                    stall_after: self.stall_after,
                    stop_after: self.stop_after,
                },
                rate_window: self.rate_window,
                isolation: self.isolation,
            },
            history: self.history,
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// Everything the monitor needs to run.
#[derive(Debug, Clone)]
pub struct MonitorSettings {
    pub kafka: KafkaSettings,
    pub sampler: SamplerSettings,
    /// How much history to keep.
    pub history: Duration,
    /// How long one broker request may take.
    pub request_timeout: Duration,
}

/// Runs the monitor, serving on `listener`, until `shutdown`.
///
/// Waits for the broker at start (logging each failed attempt), then for the commit log to be
/// read to its end before the first sample, so no group is judged on half its history.
///
/// # Errors
/// The HTTP server fails, or a Kafka client cannot be configured.
pub async fn run(
    settings: MonitorSettings,
    listener: TcpListener,
    metrics: Option<PrometheusHandle>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let state = MonitorState::new(settings.history, settings.sampler.interval);
    let address = listener
        .local_addr()
        .context("reading the monitor's address")?;
    let server_stop = shutdown.clone();
    let server = axum::serve(listener, http::router(state.clone(), metrics))
        .with_graceful_shutdown(async move { server_stop.cancelled().await });
    tracing::info!(%address, "lag monitor serving the dashboard, /api/v1/lag and /metrics");
    let sampling = async {
        let result = sample_until(settings, state, shutdown.clone()).await;
        if result.is_err() {
            shutdown.cancel();
        }
        result
    };
    let (served, sampled) = tokio::join!(
        async {
            let result = server.await.context("serving the monitor's HTTP");
            // The sampler has nothing to report to without a server.
            shutdown.cancel();
            result
        },
        sampling
    );
    served.and(sampled)
}

/// Follows the commit log and samples every interval until `shutdown`.
async fn sample_until(
    settings: MonitorSettings,
    state: MonitorState,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let Some(tail) = connect_tail(&settings, &shutdown).await else {
        return Ok(());
    };
    let commits = SharedCommits::default();
    let (ready_sender, mut ready) = watch::channel(false);
    let tail_task = tokio::spawn(tail.run(commits.clone(), ready_sender, shutdown.clone()));
    tokio::select! {
        () = shutdown.cancelled() => {}
        _ = ready.wait_for(|ready| *ready) => {}
    }
    let clients = OffsetClients::new(&settings.kafka, settings.request_timeout)?;
    let prober = Prober::new(
        &settings.kafka,
        settings.request_timeout.min(Duration::from_secs(2)),
    )?;
    let mut sampler = Sampler::new(settings.sampler.clone(), commits, clients, prober);
    let mut ticks = tokio::time::interval(settings.sampler.interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !shutdown.is_cancelled() {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = ticks.tick() => {}
        }
        let started = std::time::Instant::now();
        match sampler.sample().await {
            Ok(report) => {
                metrics::histogram!(names::MONITOR_SAMPLE_SECONDS)
                    .record(started.elapsed().as_secs_f64());
                publish(&report);
                state.publish(report);
            }
            Err(error) => {
                metrics::counter!(names::MONITOR_SAMPLE_ERRORS, "stage" => "sample").increment(1);
                tracing::warn!(
                    error = format!("{error:#}"),
                    "lag sample failed; next one in an interval"
                );
            }
        }
    }
    if let Err(error) = tail_task.await {
        tracing::warn!(%error, "the commit log reader panicked");
    }
    Ok(())
}

/// Connects to `__consumer_offsets`, retrying every 2 s while the broker is away; `None` on
/// shutdown.
async fn connect_tail(
    settings: &MonitorSettings,
    shutdown: &CancellationToken,
) -> Option<CommitTail> {
    loop {
        match CommitTail::connect(&settings.kafka, settings.request_timeout).await {
            Ok(tail) => return Some(tail),
            Err(error) => {
                metrics::counter!(names::MONITOR_SAMPLE_ERRORS, "stage" => "connect").increment(1);
                tracing::warn!(
                    error = format!("{error:#}"),
                    "cannot read __consumer_offsets yet; retrying"
                );
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return None,
            () = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
}
