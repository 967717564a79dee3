//! The figures as a table on stdout and as a Markdown results file with the facts of the run:
//! machine, load, command, servers, input.

use crate::args::Args;
use crate::cpu::Used;
use crate::figures::{Delay, Spread, Throughput};
use crate::mix::Input;
use crate::probe::Taken;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

/// Everything a run found out, besides the arguments.
#[derive(Debug)]
pub(crate) struct Facts {
    pub(crate) prefix: String,
    pub(crate) input_bytes: usize,
    pub(crate) per_input: Vec<(Input, usize)>,
    /// Rows the preloaded records make; every projector run's tables were checked against them.
    pub(crate) expected_rows: Vec<(&'static str, i64)>,
    /// `SHOW` values of the database server.
    pub(crate) server: Vec<(String, String)>,
    pub(crate) throughput: Vec<Throughput>,
    pub(crate) delays: Vec<Delay>,
}

#[derive(Debug)]
pub(crate) struct Report<'a> {
    pub(crate) args: &'a Args,
    pub(crate) facts: &'a Facts,
    pub(crate) started: SystemTime,
    pub(crate) load_before: Option<String>,
    pub(crate) load_after: Option<String>,
}

/// `/proc/loadavg`'s three averages: how busy the machine was, which the figures depend on.
pub(crate) fn load_average() -> Option<String> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    Some(
        text.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    )
}

fn cpu_model() -> Option<String> {
    let text = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    text.lines()
        .find(|line| line.starts_with("model name"))
        .and_then(|line| line.split_once(':'))
        .map(|(_, model)| model.trim().to_owned())
}

fn ms(duration: Duration) -> String {
    format!("{:.1}", duration.as_secs_f64() * 1e3)
}

fn ratio(value: f64, base: Option<f64>) -> String {
    base.filter(|base| *base > 0.0).map_or_else(
        || "n/a".to_owned(),
        |base| format!("{:.1} %", value / base * 100.0),
    )
}

/// How many batches, and records per batch.
fn per_batch(taken: &Taken, records: f64) -> (String, String) {
    match taken.batches() {
        0 => ("0".to_owned(), "n/a".to_owned()),
        count => (count.to_string(), format!("{:.0}", records / count as f64)),
    }
}

/// The batch transactions' share of `wall`.
fn writing_share(taken: &Taken, wall: Duration) -> String {
    let share = taken.writing().as_secs_f64() / wall.as_secs_f64().max(f64::MIN_POSITIVE);
    format!("{:.0} %", share * 100.0)
}

/// `used` in seconds and as a share of `wall`.
fn of_wall(used: Duration, wall: Duration) -> String {
    format!(
        "{:.2} ({:.0} %)",
        used.as_secs_f64(),
        used.as_secs_f64() / wall.as_secs_f64().max(f64::MIN_POSITIVE) * 100.0
    )
}

fn batch_times(taken: &Taken) -> String {
    match (taken.batch_quantile(0.5), taken.batch_quantile(0.99)) {
        (Some(p50), Some(p99)) => format!("{} / {}", ms(p50), ms(p99)),
        _ => "n/a".to_owned(),
    }
}

impl Report<'_> {
    fn baseline(&self, label: &str) -> Option<f64> {
        self.facts
            .throughput
            .iter()
            .find(|run| run.label == label)
            .map(Throughput::per_sec)
    }

    pub(crate) fn text_table(&self) -> String {
        let (raw, decode) = (
            self.baseline(crate::raw::Baseline::Raw.label()),
            self.baseline(crate::raw::Baseline::RawDecode.label()),
        );
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<28} {:>8} {:>8} {:>10} {:>8} {:>11} {:>14} {:>8} {:>9} {:>9}",
            "throughput",
            "records",
            "seconds",
            "records/s",
            "vs raw",
            "vs decode",
            "rec/s after 1st",
            "batches",
            "rec/batch",
            "writing"
        );
        for run in &self.facts.throughput {
            let (count, size, share) = run.projector.as_ref().map_or_else(
                || ("-".to_owned(), "-".to_owned(), "-".to_owned()),
                |taken| {
                    let (count, size) = per_batch(taken, run.records as f64);
                    (count, size, writing_share(taken, run.elapsed))
                },
            );
            let _ = writeln!(
                out,
                "{:<28} {:>8} {:>8.2} {:>10.0} {:>8} {:>11} {:>14} {:>8} {:>9} {:>9}",
                run.label,
                run.records,
                run.elapsed.as_secs_f64(),
                run.per_sec(),
                ratio(run.per_sec(), raw),
                ratio(run.per_sec(), decode),
                run.per_sec_after_first()
                    .map_or_else(|| "n/a".to_owned(), |rate| format!("{rate:.0}")),
                count,
                size,
                share
            );
        }
        for run in &self.facts.throughput {
            if let Some(used) = run.cpu {
                let _ = writeln!(
                    out,
                    "  {}: PostgreSQL backends on a CPU {}, this process {} (s, % of wall)",
                    run.label,
                    of_wall(used.database.on_cpu, run.elapsed),
                    of_wall(used.process.on_cpu, run.elapsed)
                );
            }
        }
        let _ = writeln!(
            out,
            "\n{:<28} {:>11} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>14} {:>9}",
            "delay (ms)",
            "rate/acked",
            "p50",
            "p90",
            "p99",
            "p99.9",
            "max",
            "mean",
            "poll mean/p99",
            "rec/batch"
        );
        for delay in &self.facts.delays {
            let (_, size) = per_batch(&delay.projector, delay.records as f64);
            let _ = writeln!(
                out,
                "{:<28} {:>11} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>14} {:>9}",
                delay.label,
                format!("{}/{:.0}", delay.target_rate, delay.acked_rate),
                ms(delay.delay.p50),
                ms(delay.delay.p90),
                ms(delay.delay.p99),
                ms(delay.delay.p999),
                ms(delay.delay.max),
                ms(delay.delay.mean),
                format!(
                    "{}/{}",
                    ms(delay.poll_period.mean),
                    ms(delay.poll_period.p99)
                ),
                size
            );
        }
        out
    }

    pub(crate) fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# projector-bench results\n");
        self.write_facts(&mut out);
        self.write_throughput(&mut out);
        self.write_cpu(&mut out);
        self.write_delay(&mut out);
        self.write_definitions(&mut out);
        out
    }

    fn write_facts(&self, out: &mut String) {
        let (args, facts) = (self.args, self.facts);
        let _ = writeln!(
            out,
            "- date: {}",
            humantime::format_rfc3339_seconds(self.started)
        );
        let command: Vec<String> = std::env::args().collect();
        let _ = writeln!(out, "- command: `{}`", command.join(" "));
        let _ = writeln!(
            out,
            "- build: {}",
            if cfg!(debug_assertions) {
                "debug (dev profile): figures are not representative"
            } else {
                "release"
            }
        );
        let cpus = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
        let _ = writeln!(
            out,
            "- machine: {cpus} CPUs (nproc){}; Kafka, registry and PostgreSQL on the same machine",
            cpu_model()
                .map(|model| format!(", {model}"))
                .unwrap_or_default()
        );
        let _ = writeln!(
            out,
            "- load average (1/5/15 min) before: {}, after: {}",
            self.load_before.as_deref().unwrap_or("unknown"),
            self.load_after.as_deref().unwrap_or("unknown")
        );
        let _ = writeln!(out, "- brokers: `{}`", args.brokers);
        let server: Vec<String> = facts
            .server
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        let _ = writeln!(out, "- PostgreSQL: {}", server.join(", "));
        let shares: Vec<String> = facts
            .per_input
            .iter()
            .map(|(input, count)| {
                format!(
                    "{} {count} ({:.1} %)",
                    input.label(),
                    *count as f64 / args.records.max(1) as f64 * 100.0
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "- input: {} records ({} bytes of keys and values, {:.0} bytes a record), {} \
             partitions per topic, topic prefix `{}`: {}",
            args.records,
            facts.input_bytes,
            facts.input_bytes as f64 / args.records.max(1) as f64,
            args.partitions,
            facts.prefix,
            shares.join(", ")
        );
        let rows: Vec<String> = facts
            .expected_rows
            .iter()
            .map(|(table, count)| format!("{table} {count}"))
            .collect();
        let _ = writeln!(
            out,
            "- rows after projecting the input (checked after every throughput run): {}",
            rows.join(", ")
        );
        let _ = writeln!(
            out,
            "- delay phase: {} records/s for {} s per batch setting, `projector_offsets` read \
             every {} ms\n",
            args.rate, args.duration_secs, args.poll_every_ms
        );
    }

    fn write_throughput(&self, out: &mut String) {
        let (raw, decode) = (
            self.baseline(crate::raw::Baseline::Raw.label()),
            self.baseline(crate::raw::Baseline::RawDecode.label()),
        );
        let _ = writeln!(out, "## Throughput\n");
        let _ = writeln!(
            out,
            "| run | records | seconds | records/s | vs raw | vs raw + decode | first visible \
             after (s) | records/s after first | batches | records/batch | in batch transactions \
             | batch transaction p50 / p99 (ms) |"
        );
        let _ = writeln!(
            out,
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        );
        for run in &self.facts.throughput {
            let (count, size, share, times) = run.projector.as_ref().map_or_else(
                || {
                    (
                        "–".to_owned(),
                        "–".to_owned(),
                        "–".to_owned(),
                        "–".to_owned(),
                    )
                },
                |taken| {
                    let (count, size) = per_batch(taken, run.records as f64);
                    (
                        count,
                        size,
                        writing_share(taken, run.elapsed),
                        batch_times(taken),
                    )
                },
            );
            let _ = writeln!(
                out,
                "| {} | {} | {:.2} | {:.0} | {} | {} | {} | {} | {count} | {size} | {share} | \
                 {times} |",
                run.label,
                run.records,
                run.elapsed.as_secs_f64(),
                run.per_sec(),
                ratio(run.per_sec(), raw),
                ratio(run.per_sec(), decode),
                run.first
                    .map_or_else(|| "n/a".to_owned(), |at| format!("{:.2}", at.as_secs_f64())),
                run.per_sec_after_first()
                    .map_or_else(|| "n/a".to_owned(), |rate| format!("{rate:.0}")),
            );
        }
        for run in &self.facts.throughput {
            if let Some(taken) = run
                .projector
                .as_ref()
                .filter(|t| t.retries + t.dead_letters > 0)
            {
                let _ = writeln!(
                    out,
                    "\n**Warning:** {} retried {} batches and dead-lettered {} records: not a \
                     clean run.",
                    run.label, taken.retries, taken.dead_letters
                );
            }
        }
        let _ = writeln!(out);
    }

    fn write_cpu(&self, out: &mut String) {
        let runs: Vec<(&Throughput, Used)> = self
            .facts
            .throughput
            .iter()
            .filter_map(|run| Some((run, run.cpu?)))
            .collect();
        if runs.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "## Where the CPU went in the projector runs
"
        );
        let _ = writeln!(
            out,
            "| run | wall (s) | PostgreSQL backends on a CPU (s) | this process on a CPU (s) \
             | backends waiting for a CPU (s) | this process waiting for a CPU (s) |"
        );
        let _ = writeln!(out, "| --- | ---: | ---: | ---: | ---: | ---: |");
        for (run, used) in runs {
            let wall = run.elapsed;
            let _ = writeln!(
                out,
                "| {} | {:.2} | {} | {} | {} | {} |",
                run.label,
                wall.as_secs_f64(),
                of_wall(used.database.on_cpu, wall),
                of_wall(used.process.on_cpu, wall),
                of_wall(used.database.waiting, wall),
                of_wall(used.process.waiting, wall),
            );
        }
        let _ = writeln!(
            out,
            "\nFrom `/proc/<pid>/schedstat`, from the projector's start until it had caught up: \
             the backends of the projector's sessions, and every thread of this process (the \
             projector's loop and SQL client, librdkafka, and the bench's 5 ms offset reads). \
             2 CPUs make 200 % of wall.\n"
        );
    }

    fn write_delay(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "## Delay from commit on the broker to visibility in SQL\n"
        );
        let _ = writeln!(
            out,
            "| projector | records/s target / acked | records | p50 (ms) | p90 | p99 | p99.9 | \
             max | mean | poll period mean / p99 (ms) | batches | records/batch | batch \
             transaction p50 / p99 (ms) | latest send behind schedule (ms) | visible before \
             ack |"
        );
        let _ = writeln!(
            out,
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: \
             | ---: | ---: | ---: |"
        );
        for delay in &self.facts.delays {
            let (count, size) = per_batch(&delay.projector, delay.records as f64);
            let Spread {
                p50,
                p90,
                p99,
                p999,
                max,
                mean,
            } = delay.delay;
            let _ = writeln!(
                out,
                "| {} | {} / {:.0} | {} | {} | {} | {} | {} | {} | {} | {} / {} | {count} | \
                 {size} | {} | {} | {} |",
                delay.label,
                delay.target_rate,
                delay.acked_rate,
                delay.records,
                ms(p50),
                ms(p90),
                ms(p99),
                ms(p999),
                ms(max),
                ms(mean),
                ms(delay.poll_period.mean),
                ms(delay.poll_period.p99),
                batch_times(&delay.projector),
                ms(delay.send_lateness_max),
                delay.visible_before_ack
            );
            if delay.projector.retries + delay.projector.dead_letters > 0 {
                let _ = writeln!(
                    out,
                    "\n**Warning:** {} retried {} batches and dead-lettered {} records during \
                     the delay phase: not a clean run.\n",
                    delay.label, delay.projector.retries, delay.projector.dead_letters
                );
            }
        }
        let _ = writeln!(out);
    }

    fn write_definitions(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "raw consumer: a `read_committed` `BaseConsumer` in a group of its own reads the \
             five input topics from the beginning to their end offsets; nothing else. raw + \
             decode: the same, decoding every key and value with `AvroCodec` into the projector's \
             types. projector: `projector::run` in this process on an empty database, timed from \
             its start until `projector_offsets` holds every partition's end offset (read every \
             5 ms). Every clock starts before its consumer exists, so start-up and the group join \
             are included; \"after first\" leaves them out. \"in batch transactions\": the \
             projector's own batch timer (`{}`), summed, as a share of the run's wall time. \
             Delay: from the delivery report of a record produced at a fixed rate (open loop) to \
             the first read of `projector_offsets` that covers its offset; overstated by at most \
             one poll period.",
            shop_topics::names::metrics::PROJECTOR_BATCH_SECONDS
        );
    }
}
