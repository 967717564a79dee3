//! Reading CPU use from Linux's `/proc`: per process and for the whole machine, for the
//! benchmarks and the load generator, which report who used the cores during a run.

/// `utime + stime` of `pid` (all its threads), from `/proc/<pid>/stat`.
pub fn process_ticks(pid: u32) -> Option<u64> {
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
pub fn machine_busy_ticks() -> Option<u64> {
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
pub fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(100.0)
}

/// The CPU model from `/proc/cpuinfo`, for the results.
pub fn cpu_model() -> Option<String> {
    let text = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    text.lines()
        .find(|line| line.starts_with("model name"))
        .and_then(|line| line.split_once(':'))
        .map(|(_, model)| model.trim().to_owned())
}

/// `/proc/loadavg`'s three averages: how busy the machine was around the run.
pub fn load_average() -> Option<String> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    Some(
        text.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// Resident memory of `pid` in KiB (`VmRSS` of `/proc/<pid>/status`): what a soak watches
/// for growth.
pub fn resident_kib(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_resident_kib(&text)
}

fn parse_resident_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
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

    #[test]
    fn resident_memory_is_read_from_vmrss() {
        let status = "Name:\tshop-cart\nVmPeak:\t  99999 kB\nVmRSS:\t   20480 kB\nThreads:\t9\n";
        assert_eq!(parse_resident_kib(status), Some(20_480));
        assert_eq!(parse_resident_kib("Name:\tkthreadd\n"), None);
    }
}
