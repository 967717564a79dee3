//! Who used the CPU during a measured window, read from `/proc` at its two ends, and the facts
//! of the machine for the report.
//!
//! On a 2-core machine the load generator, the ingress, the processors, the projector and the
//! broker all share the cores, so throughput alone does not say what bounds a run; cores used
//! per process does. Where `/proc` is missing the figures are simply absent.

use serde::{Deserialize, Serialize};
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

/// `utime + stime` of `pid` (all its threads), from `/proc/<pid>/stat`.
fn process_ticks(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_process_ticks(&text)
}

/// The command name (field 2) is in parentheses and may hold spaces, so fields are counted
/// from its closing parenthesis: state is field 3, utime 14, stime 15.
fn parse_process_ticks(stat: &str) -> Option<u64> {
    let (_, after) = stat.rsplit_once(')')?;
    let mut fields = after.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Busy ticks of all CPUs together: the first line of `/proc/stat` minus idle and iowait.
fn machine_busy_ticks() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    parse_machine_busy(&text)
}

fn parse_machine_busy(stat: &str) -> Option<u64> {
    let line = stat.lines().find(|line| line.starts_with("cpu "))?;
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    // user nice system idle iowait irq softirq steal [guest guest_nice, already in user/nice]
    let busy = values.iter().take(8).sum::<u64>();
    let idle = values.get(3)? + values.get(4).unwrap_or(&0);
    Some(busy.saturating_sub(idle))
}

/// `getconf CLK_TCK`: the unit of `/proc`'s CPU times (100 on Linux in practice).
fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(100.0)
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
    /// The machine now; `load_average_after` is filled at the end with [`load_average`].
    pub fn now() -> Self {
        Self {
            cores: std::thread::available_parallelism().map_or(0, usize::from),
            cpu_model: cpu_model(),
            load_average_before: load_average(),
            load_average_after: None,
        }
    }
}

fn cpu_model() -> Option<String> {
    let text = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    text.lines()
        .find(|line| line.starts_with("model name"))
        .and_then(|line| line.split_once(':'))
        .map(|(_, model)| model.trim().to_owned())
}

/// `/proc/loadavg`'s three averages.
pub fn load_average() -> Option<String> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    Some(
        text.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_ticks_are_utime_plus_stime() {
        let stat = "42 (tokio (rt) x) S 1 42 42 0 -1 4194304 100 0 0 0 250 50 0 0 20 0 9 0";
        assert_eq!(parse_process_ticks(stat), Some(300));
    }

    #[test]
    fn machine_busy_leaves_out_idle_and_iowait() {
        let stat = "cpu  100 5 50 1000 20 3 2 1 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n";
        assert_eq!(parse_machine_busy(stat), Some(161));
    }

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
