//! The load generator: N keep-alive connections, each a task sending one request at a time,
//! either as soon as the last is answered (closed loop) or on a fixed schedule (open loop).
//!
//! Closed loop measures what the ingress can take with N requests outstanding; its latency
//! hides slowness, since a slow answer just delays the next request. Open loop keeps sending
//! at the asked rate whatever happens and times each request from when it was due, so an
//! ingress that falls behind shows it as latency (no coordinated omission).

use crate::client::Connection;
use crate::tally::{Tally, Window};
use crate::workload::Workload;
use anyhow::{Context, ensure};
use hyper::StatusCode;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// The longest one request may take before it counts as a timeout and the connection is
/// replaced: longer than the ingress's own 10 s delivery timeout, so its 503 comes first.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// Pause after a failed connect before trying again.
const RECONNECT_PAUSE: Duration = Duration::from_millis(10);

/// How requests are paced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Pace {
    /// Each connection sends its next request as soon as the last is answered.
    Closed,
    /// This many requests per second in all, spread evenly over the connections.
    Open { per_second: f64 },
}

impl Pace {
    pub(crate) fn label(self) -> String {
        match self {
            Self::Closed => "closed loop".to_owned(),
            Self::Open { per_second } => format!("open loop, {per_second:.0}/s"),
        }
    }
}

/// Runs `connections` workers against `addr` through `window` and merges what they saw.
///
/// # Errors
/// If a worker cannot open its first connection, or fails in a way that is not a request's.
pub(crate) async fn run(
    addr: SocketAddr,
    workload: Arc<Workload>,
    connections: usize,
    pace: Pace,
    window: Window,
) -> anyhow::Result<Tally> {
    ensure!(connections > 0, "--connections must be at least 1");
    let interval = match pace {
        Pace::Closed => None,
        Pace::Open { per_second } => {
            ensure!(
                per_second.is_finite() && per_second > 0.0,
                "--rate must be a positive number"
            );
            Some(Duration::from_secs_f64(connections as f64 / per_second))
        }
    };
    let mut workers = JoinSet::new();
    for index in 0..connections {
        let connection = Connection::open(addr)
            .await
            .with_context(|| format!("while opening connection {index}"))?;
        let worker = Worker {
            index,
            connections,
            addr,
            workload: Arc::clone(&workload),
            window,
            // Each connection's schedule is offset by its share of one interval, so the open
            // loop's requests are evenly spread instead of arriving in bursts of N.
            schedule: interval.map(|interval| Schedule {
                interval,
                offset: interval.mul_f64(index as f64 / connections as f64),
            }),
        };
        workers.spawn(worker.run(connection));
    }
    let mut total = Tally::new()?;
    while let Some(joined) = workers.join_next().await {
        let tally = joined.context("a load worker failed")??;
        total.merge(&tally)?;
    }
    Ok(total)
}

/// An open-loop connection's timetable: request k is due at `start + offset + k × interval`.
#[derive(Debug, Clone, Copy)]
struct Schedule {
    interval: Duration,
    offset: Duration,
}

/// One connection's loop.
#[derive(Debug)]
struct Worker {
    index: usize,
    connections: usize,
    addr: SocketAddr,
    workload: Arc<Workload>,
    window: Window,
    schedule: Option<Schedule>,
}

impl Worker {
    async fn run(self, mut connection: Connection) -> anyhow::Result<Tally> {
        let mut tally = Tally::new()?;
        let window = self.window;
        for sequence in 0_u32.. {
            // When this request is due: now (closed loop) or on the timetable (open loop).
            let due = match self.schedule {
                None => Instant::now(),
                Some(schedule) => {
                    let due = window.start + schedule.offset + schedule.interval * sequence;
                    tokio::time::sleep_until(due.into()).await;
                    due
                }
            };
            if due >= window.measure_until {
                break;
            }
            let request = self
                .workload
                .request(sequence as usize * self.connections + self.index);
            if self.schedule.is_some() {
                let sent = Instant::now();
                tally.sent_late(&window, sent, sent.duration_since(due));
            }
            let answer = tokio::time::timeout(REQUEST_TIMEOUT, connection.send(request)).await;
            let done = Instant::now();
            match answer {
                Ok(Ok(StatusCode::ACCEPTED)) => tally.success(&window, done, done - due),
                Ok(Ok(status)) => tally.status(&window, done, status.as_u16()),
                Ok(Err(error)) => {
                    tally.failure(&window, done, failure_kind(&error));
                    connection = self.reconnect(&mut tally).await?;
                }
                Err(_) => {
                    tally.failure(&window, done, "timeout".to_owned());
                    connection = self.reconnect(&mut tally).await?;
                }
            }
        }
        Ok(tally)
    }

    /// A new connection in place of a broken one, retried until the window ends.
    async fn reconnect(&self, tally: &mut Tally) -> anyhow::Result<Connection> {
        loop {
            match Connection::open(self.addr).await {
                Ok(connection) => return Ok(connection),
                Err(error) => {
                    let now = Instant::now();
                    tally.failure(&self.window, now, "connect failed".to_owned());
                    if now >= self.window.measure_until {
                        return Err(error.context("the ingress stopped taking connections"));
                    }
                    tokio::time::sleep(RECONNECT_PAUSE).await;
                }
            }
        }
    }
}

/// A short, bounded label for a failed request: what kind of failure, never per-request text.
fn failure_kind(error: &hyper::Error) -> String {
    let kind = if error.is_incomplete_message() {
        "connection closed mid-answer"
    } else if error.is_closed() || error.is_canceled() {
        "connection closed"
    } else if error.is_parse() {
        "unparsable answer"
    } else if error.is_timeout() {
        "timeout"
    } else {
        "connection error"
    };
    kind.to_owned()
}
