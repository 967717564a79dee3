//! Who used the CPU during a measured window: the load generator (this process), the ingress,
//! the broker, and the machine as a whole, read from `/proc` at the window's two ends.
//!
//! On a 2-core machine the three share the cores, so throughput alone does not say what bounds
//! it; cores used per process does.

use shop_platform::procfs::{clock_ticks, machine_busy_ticks, process_ticks};
use std::time::Instant;

/// The processes watched: ours, the ingress's, and the broker's if it was found.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Watched {
    pub(crate) bench: u32,
    pub(crate) ingress: u32,
    pub(crate) broker: Option<u32>,
}

/// Cores used on average over a window (1.0 = one core busy the whole time).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CpuUse {
    pub(crate) bench: Option<f64>,
    pub(crate) ingress: Option<f64>,
    pub(crate) broker: Option<f64>,
    /// Every process on the machine, from `/proc/stat` (busy = not idle, not iowait).
    pub(crate) machine: Option<f64>,
}

/// CPU ticks at one moment.
#[derive(Debug, Clone, Copy)]
struct Snapshot {
    at: Instant,
    bench: Option<u64>,
    ingress: Option<u64>,
    broker: Option<u64>,
    machine: Option<u64>,
}

/// Samples at `from` and at `until` and returns the cores used in between.
pub(crate) async fn over(watched: Watched, from: Instant, until: Instant) -> CpuUse {
    let ticks_per_second = clock_ticks();
    tokio::time::sleep_until(from.into()).await;
    let first = snapshot(watched);
    tokio::time::sleep_until(until.into()).await;
    let last = snapshot(watched);
    let seconds = last.at.duration_since(first.at).as_secs_f64();
    let cores = |a: Option<u64>, b: Option<u64>| {
        let (a, b) = (a?, b?);
        (seconds > 0.0).then(|| b.saturating_sub(a) as f64 / ticks_per_second / seconds)
    };
    CpuUse {
        bench: cores(first.bench, last.bench),
        ingress: cores(first.ingress, last.ingress),
        broker: cores(first.broker, last.broker),
        machine: cores(first.machine, last.machine),
    }
}

fn snapshot(watched: Watched) -> Snapshot {
    Snapshot {
        at: Instant::now(),
        bench: process_ticks(watched.bench),
        ingress: process_ticks(watched.ingress),
        broker: watched.broker.and_then(process_ticks),
        machine: machine_busy_ticks(),
    }
}

/// The local broker's pid: the process whose command line runs `kafka.Kafka`, if any. Only a
/// broker on this machine can be watched; `None` otherwise.
pub(crate) fn find_broker() -> Option<u32> {
    let entries = std::fs::read_dir("/proc").ok()?;
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| {
                cmdline
                    .split(|byte| *byte == 0)
                    .any(|argument| argument == b"kafka.Kafka")
            })
        })
}
