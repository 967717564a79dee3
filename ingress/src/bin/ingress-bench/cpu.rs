//! Who used the CPU during a measured window: the load generator (this process), the ingress,
//! the broker, and the machine as a whole, read from `/proc` at the window's two ends.
//!
//! On a 2-core machine the three share the cores, so throughput alone does not say what bounds
//! it; cores used per process does.

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

/// The CPU model from `/proc/cpuinfo`, for the results.
pub(crate) fn model() -> Option<String> {
    let text = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    text.lines()
        .find(|line| line.starts_with("model name"))
        .and_then(|line| line.split_once(':'))
        .map(|(_, model)| model.trim().to_owned())
}

/// `/proc/loadavg`'s three averages: how busy the machine was around the run.
pub(crate) fn load_average() -> Option<String> {
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
    fn this_process_is_visible() {
        assert!(process_ticks(std::process::id()).is_some());
    }
}
