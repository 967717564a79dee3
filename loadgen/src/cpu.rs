//! Who used the CPU during a measured window, read from `/proc` at its two ends, and the facts
//! of the machine for the report.
//!
//! On a 2-core machine the load generator, the ingress, the processors, the projector and the
//! broker all share the cores, so throughput alone does not say what bounds a run; cores used
//! per process does. Where `/proc` is missing the figures are simply absent.

use serde::{Deserialize, Serialize};
use shop_platform::procfs::{
    clock_ticks, cpu_model, load_average, machine_busy_ticks, process_ticks,
};
use std::time::Instant;

/// A process to watch, with the name it has in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchedProcess {
    pub label: String,
    pub pid: u32,
}

/// Cores one process used on average over the window (1.0 = one core busy the whole time).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessCpu {
    pub label: String,
    pub pid: u32,
    pub cores: Option<f64>,
}

/// CPU use over a window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuReport {
    pub window_s: f64,
    /// Every process on the machine (busy = not idle, not iowait).
    pub machine_cores: Option<f64>,
    /// This process (the load generator, or the baseline's clients and relays).
    pub self_cores: Option<f64>,
    pub processes: Vec<ProcessCpu>,
}

/// CPU ticks at one moment.
#[derive(Debug, Clone)]
pub struct Snapshot {
    at: Instant,
    machine: Option<u64>,
    own: Option<u64>,
    processes: Vec<(WatchedProcess, Option<u64>)>,
}

impl Snapshot {
    /// Reads the ticks of the machine, this process and `watched` now.
    pub fn take(watched: &[WatchedProcess]) -> Self {
        Self {
            at: Instant::now(),
            machine: machine_busy_ticks(),
            own: process_ticks(std::process::id()),
            processes: watched
                .iter()
                .map(|process| (process.clone(), process_ticks(process.pid)))
                .collect(),
        }
    }

    /// Cores used between `self` (earlier) and `later`.
    pub fn until(&self, later: &Self) -> CpuReport {
        let ticks_per_second = clock_ticks();
        let seconds = later.at.saturating_duration_since(self.at).as_secs_f64();
        let cores = |a: Option<u64>, b: Option<u64>| {
            let (a, b) = (a?, b?);
            (seconds > 0.0).then(|| b.saturating_sub(a) as f64 / ticks_per_second / seconds)
        };
        CpuReport {
            window_s: seconds,
            machine_cores: cores(self.machine, later.machine),
            self_cores: cores(self.own, later.own),
            processes: self
                .processes
                .iter()
                .map(|(process, first)| {
                    let last = later
                        .processes
                        .iter()
                        .find(|(other, _)| other == process)
                        .and_then(|(_, ticks)| *ticks);
                    ProcessCpu {
                        label: process.label.clone(),
                        pid: process.pid,
                        cores: cores(*first, last),
                    }
                })
                .collect(),
        }
    }
}

/// The pipeline's processes on this machine, found by executable name (`shop-processors`,
/// `shop-projector`, `shop-ingress`, and each processor binary), plus the broker (the JVM
/// running `kafka.Kafka`). Only for reading their CPU time.
pub fn find_pipeline() -> Vec<WatchedProcess> {
    const NAMES: [&str; 8] = [
        "shop-processors",
        "shop-projector",
        "shop-ingress",
        "shop-catalog",
        "shop-cart",
        "shop-inventory",
        "shop-payment",
        "shop-orders",
    ];
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for pid in entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
    {
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let mut arguments = cmdline.split(|byte| *byte == 0);
        let program = arguments
            .next()
            .and_then(|first| std::str::from_utf8(first).ok())
            .and_then(|path| path.rsplit('/').next())
            .unwrap_or_default()
            .to_owned();
        if let Some(name) = NAMES.iter().find(|name| **name == program) {
            found.push(WatchedProcess {
                label: (*name).to_owned(),
                pid,
            });
        } else if arguments.any(|argument| argument == b"kafka.Kafka") {
            found.push(WatchedProcess {
                label: "kafka".to_owned(),
                pid,
            });
        }
    }
    found.sort_by(|a, b| a.label.cmp(&b.label).then(a.pid.cmp(&b.pid)));
    found
}

/// The machine a run happened on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub cores: usize,
    pub cpu_model: Option<String>,
    /// `/proc/loadavg`'s 1, 5 and 15 minute averages when the run started and ended.
    pub load_average_before: Option<String>,
    pub load_average_after: Option<String>,
}

impl Machine {
    /// The machine now; `load_average_after` is filled at the end with [`load_average`](shop_platform::procfs::load_average).
    pub fn now() -> Self {
        Self {
            cores: std::thread::available_parallelism().map_or(0, usize::from),
            cpu_model: cpu_model(),
            load_average_before: load_average(),
            load_average_after: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_reports_every_watched_process() {
        let watched = vec![WatchedProcess {
            label: "me".to_owned(),
            pid: std::process::id(),
        }];
        let first = Snapshot::take(&watched);
        let report = first.until(&Snapshot::take(&watched));
        assert_eq!(report.processes.len(), 1);
        assert_eq!(report.processes[0].label, "me");
    }
}
