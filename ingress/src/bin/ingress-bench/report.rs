//! The figures: one row per measured step next to the raw producer's, the machine and run facts
//! around them, printed as a table and written as Markdown.

use crate::args::Args;
use crate::cpu::CpuUse;
use crate::load::Pace;
use crate::raw::Burst;
use crate::tally::{Tally, per_second};
use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

/// The goal the figures are held against.
const GOAL_PER_SECOND: f64 = 30_000.0;
const GOAL_P99_MS: f64 = 10.0;

/// One measured step: the HTTP load at one connection count, and the raw producer's closed
/// loop at the same number in flight.
#[derive(Debug)]
pub(crate) struct Step {
    pub(crate) connections: usize,
    pub(crate) pace: Pace,
    pub(crate) measured: Duration,
    pub(crate) http: Tally,
    pub(crate) cpu: CpuUse,
    pub(crate) raw: Option<RawStep>,
}

impl Step {
    fn commands_per_second(&self) -> f64 {
        per_second(self.http.ok, self.measured)
    }

    fn meets_goal(&self) -> bool {
        self.commands_per_second() >= GOAL_PER_SECOND && self.http.spread().p99 < GOAL_P99_MS
    }
}

/// The raw producer's closed loop at a step's in-flight count.
#[derive(Debug)]
pub(crate) struct RawStep {
    pub(crate) measured: Duration,
    pub(crate) tally: Tally,
    pub(crate) cpu: CpuUse,
}

impl RawStep {
    fn per_second(&self) -> f64 {
        per_second(self.tally.ok, self.measured)
    }
}

/// Everything the report shows: the run's circumstances and what it measured.
#[derive(Debug)]
pub(crate) struct Facts {
    pub(crate) started: SystemTime,
    pub(crate) load_before: Option<String>,
    pub(crate) load_after: Option<String>,
    pub(crate) run_id: String,
    pub(crate) cpu_model: Option<String>,
    pub(crate) measured: Measured,
}

/// What the measuring part of a run brings back.
#[derive(Debug)]
pub(crate) struct Measured {
    pub(crate) broker_watched: bool,
    pub(crate) body_bytes: usize,
    /// Mean key + value bytes of the raw records.
    pub(crate) record_bytes: f64,
    pub(crate) steps: Vec<Step>,
    pub(crate) burst: Burst,
    /// 202 answers over the whole run, warm-ups included.
    pub(crate) accepted_total: u64,
    /// Records on the cart command topic after the ingress stopped, before the raw runs.
    pub(crate) topic_records: i64,
    pub(crate) ingress_exit: String,
}

impl Measured {
    fn burst_per_second(&self) -> f64 {
        per_second(
            u64::try_from(self.burst.records).unwrap_or(u64::MAX),
            self.burst.elapsed,
        )
    }
}

#[derive(Debug)]
pub(crate) struct Report<'a> {
    pub(crate) args: &'a Args,
    pub(crate) facts: &'a Facts,
}

impl Report<'_> {
    pub(crate) fn text_table(&self) -> String {
        let facts = self.facts;
        let burst = facts.measured.burst_per_second();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:>5} {:<20} {:>10} {:>7} {:>7} {:>7} {:>7} {:>8} {:>7} {:>28} {:>10} {:>15} {:>8}",
            "conns",
            "pace",
            "cmd/s",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "p99.9",
            "max ms",
            "errors",
            "cores ingr/bench/kafka/else",
            "raw rec/s",
            "raw p50/p99 ms",
            "vs burst"
        );
        for step in &facts.measured.steps {
            let spread = step.http.spread();
            let (raw_rate, raw_spread) = raw_columns(step);
            let _ = writeln!(
                out,
                "{:>5} {:<20} {:>10.0} {:>7.2} {:>7.2} {:>7.2} {:>7.2} {:>8.2} {:>7} {:>28} {:>10} {:>15} {:>8}",
                step.connections,
                step.pace.label(),
                step.commands_per_second(),
                spread.p50,
                spread.p90,
                spread.p99,
                spread.p999,
                spread.max,
                step.http.errors(),
                cores(&step.cpu),
                raw_rate,
                raw_spread,
                percent(step.commands_per_second() / burst),
            );
        }
        let _ = writeln!(
            out,
            "raw burst: {} records in {:.2} s = {:.0} records/s; 202s {} / records on the topic {}",
            facts.measured.burst.records,
            facts.measured.burst.elapsed.as_secs_f64(),
            burst,
            facts.measured.accepted_total,
            facts.measured.topic_records
        );
        out
    }

    pub(crate) fn markdown(&self) -> String {
        let (args, facts) = (self.args, self.facts);
        let burst = facts.measured.burst_per_second();
        let mut out = String::new();
        let _ = writeln!(out, "# ingress-bench results\n");
        self.write_facts(&mut out);

        let _ = writeln!(
            out,
            "| connections | pace | commands/s (202) | p50 ms | p90 ms | p99 ms | p99.9 ms | \
             max ms | errors | vs raw burst | raw, same in flight: records/s | raw p50 / p99 ms |"
        );
        let _ = writeln!(
            out,
            "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        );
        for step in &facts.measured.steps {
            let spread = step.http.spread();
            let (raw_rate, raw_spread) = raw_columns(step);
            let _ = writeln!(
                out,
                "| {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} | {} | {} |",
                step.connections,
                step.pace.label(),
                step.commands_per_second(),
                spread.p50,
                spread.p90,
                spread.p99,
                spread.p999,
                spread.max,
                step.http.errors(),
                percent(step.commands_per_second() / burst),
                raw_rate,
                raw_spread
            );
        }
        let _ = writeln!(
            out,
            "\nRaw burst (every record handed to librdkafka at once, all delivery reports \
             awaited): {} records in {:.2} s = **{:.0} records/s**.\n",
            facts.measured.burst.records,
            facts.measured.burst.elapsed.as_secs_f64(),
            burst
        );

        let _ = writeln!(
            out,
            "Cores used during each measured window (1.0 = one core busy throughout; the \
             machine has {}):\n",
            cpus()
        );
        let _ = writeln!(
            out,
            "| connections | phase | ingress | load generator (bench) | broker | everything else | \
             whole machine | CPU µs per command or record: ingress / bench / broker |"
        );
        let _ = writeln!(
            out,
            "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
        );
        for step in &facts.measured.steps {
            let rate = step.commands_per_second();
            write_cpu_row(&mut out, step.connections, "HTTP", &step.cpu, rate);
            if let Some(raw) = &step.raw {
                let rate = raw.per_second();
                write_cpu_row(
                    &mut out,
                    step.connections,
                    "raw closed loop",
                    &raw.cpu,
                    rate,
                );
            }
        }

        let errors: Vec<String> = facts
            .measured
            .steps
            .iter()
            .filter(|step| step.http.errors() > 0)
            .map(|step| {
                format!(
                    "{} connections: {}",
                    step.connections,
                    error_list(&step.http)
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "\nErrors (answers other than 202, and requests without an answer): {}",
            if errors.is_empty() {
                "none".to_owned()
            } else {
                errors.join("; ")
            }
        );
        if facts
            .measured
            .steps
            .iter()
            .any(|step| step.pace != Pace::Closed)
        {
            let late: Vec<String> = facts
                .measured
                .steps
                .iter()
                .map(|step| {
                    let (p50, p99) = step.http.lag_spread();
                    format!(
                        "{} connections: {} sent ≥ 1 ms late, lag p50 {p50:.2} ms, p99 {p99:.2} ms",
                        step.connections, step.http.late
                    )
                })
                .collect();
            let _ = writeln!(
                out,
                "\nOpen loop, how long after their scheduled time requests were sent (included \
                 in the latency; tokio's timer alone adds up to 1 ms): {}",
                late.join("; ")
            );
        }

        let _ = writeln!(
            out,
            "\nGoal: ≥ {GOAL_PER_SECOND:.0} commands/s with p99 < {GOAL_P99_MS:.0} ms."
        );
        for step in &facts.measured.steps {
            let _ = writeln!(
                out,
                "- {} connections, {}: {:.0} commands/s, p99 {:.2} ms: goal {}",
                step.connections,
                step.pace.label(),
                step.commands_per_second(),
                step.http.spread().p99,
                if step.meets_goal() { "met" } else { "missed" }
            );
        }
        let _ = writeln!(
            out,
            "\nEvery request: `POST {}` with `{{\"product_id\", \"quantity\": 1}}` ({} bytes), \
             a bearer token of one of {} users, keep-alive HTTP/1.1, `TCP_NODELAY`. Latency: \
             {} Only 202 answers count as commands and in the latency. The ingress runs as its \
             own process (`shop-ingress`, rate limit off, `SHOP_LOG=warn`); nothing consumes \
             the run's topics. Raw: one idempotent `FutureProducer` with the ingress's settings \
             (`KafkaSettings::producer()`, `message.timeout.ms=10000`) producing Avro \
             `CartCommand` AddItem records like the ingress's ({:.1} bytes of key and value on \
             average, `traceparent` header), encoded before the clock.",
            crate::workload::PATH,
            facts.measured.body_bytes,
            args.users,
            match args.rate {
                None => "from sending to the whole answer read.",
                Some(_) => "from each request's scheduled time to the whole answer read.",
            },
            facts.measured.record_bytes
        );
        out
    }

    fn write_facts(&self, out: &mut String) {
        let (args, facts) = (self.args, self.facts);
        let _ = writeln!(
            out,
            "- date: {}",
            humantime::format_rfc3339_seconds(facts.started)
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
        let _ = writeln!(
            out,
            "- machine: {} CPUs (nproc){}; the load generator, the ingress, the broker, the \
             registry and the database all share them",
            cpus(),
            facts
                .cpu_model
                .as_deref()
                .map(|model| format!(", {model}"))
                .unwrap_or_default()
        );
        let _ = writeln!(
            out,
            "- load average (1/5/15 min) before: {}, after: {}",
            facts.load_before.as_deref().unwrap_or("unknown"),
            facts.load_after.as_deref().unwrap_or("unknown")
        );
        let _ = writeln!(
            out,
            "- cluster: {}; brokers `{}`{}",
            args.cluster,
            args.brokers,
            if facts.measured.broker_watched {
                ""
            } else {
                " (its process was not found, so its CPU is not shown)"
            }
        );
        let _ = writeln!(
            out,
            "- extra librdkafka properties (ingress and raw): {}",
            if args.kafka_properties.trim().is_empty() {
                "none".to_owned()
            } else {
                format!("`{}`", args.kafka_properties)
            }
        );
        if !args.ingress_env.is_empty() {
            let extra: Vec<String> = args
                .ingress_env
                .iter()
                .map(|(key, value)| format!("`{key}={value}`"))
                .collect();
            let _ = writeln!(out, "- extra ingress environment: {}", extra.join(", "));
        }
        let _ = writeln!(
            out,
            "- each step: {} warm-up, then {} measured; {} users, {} products, {} partitions; \
             run `{}`",
            humantime::format_duration(args.warmup),
            humantime::format_duration(args.duration),
            args.users,
            args.products,
            args.partitions,
            facts.run_id
        );
        let _ = writeln!(
            out,
            "- check: {} answers were 202 over the whole run (warm-ups included), and the cart \
             command topic held {} records after the ingress stopped{}",
            facts.measured.accepted_total,
            facts.measured.topic_records,
            if i64::try_from(facts.measured.accepted_total)
                .is_ok_and(|n| n == facts.measured.topic_records)
            {
                ": one record per 202"
            } else {
                ": **they differ**"
            }
        );
        let _ = writeln!(
            out,
            "- the ingress exited with {} after SIGTERM\n",
            facts.measured.ingress_exit
        );
    }
}

fn raw_columns(step: &Step) -> (String, String) {
    match &step.raw {
        Some(raw) => {
            let spread = raw.tally.spread();
            (
                format!("{:.0}", raw.per_second()),
                format!("{:.2} / {:.2}", spread.p50, spread.p99),
            )
        }
        None => ("n/a".to_owned(), "n/a".to_owned()),
    }
}

/// One row of the CPU table; `rate` (per second) turns cores into CPU time per command, which
/// shows whether a slow run was a slow machine (every process dearer per command) or a
/// bottleneck (one process dearer).
fn write_cpu_row(out: &mut String, connections: usize, phase: &str, cpu: &CpuUse, rate: f64) {
    let per_item = |cores: Option<f64>| {
        cores.filter(|_| rate > 0.0).map_or_else(
            || "n/a".to_owned(),
            |cores| format!("{:.0}", cores * 1e6 / rate),
        )
    };
    let _ = writeln!(
        out,
        "| {connections} | {phase} | {} | {} | {} | {} | {} | {} / {} / {} |",
        core_figure(cpu.ingress),
        core_figure(cpu.bench),
        core_figure(cpu.broker),
        core_figure(others(cpu)),
        core_figure(cpu.machine),
        per_item(cpu.ingress),
        per_item(cpu.bench),
        per_item(cpu.broker)
    );
}

/// The machine's busy cores not accounted for by the watched processes: the registry, the
/// database, other people's work. Large values mean the figures were disturbed.
fn others(cpu: &CpuUse) -> Option<f64> {
    let watched: f64 = [cpu.ingress, cpu.bench, cpu.broker]
        .into_iter()
        .flatten()
        .sum();
    cpu.machine.map(|machine| (machine - watched).max(0.0))
}

fn cores(cpu: &CpuUse) -> String {
    format!(
        "{}/{}/{}/{}",
        core_figure(cpu.ingress),
        core_figure(cpu.bench),
        core_figure(cpu.broker),
        core_figure(others(cpu))
    )
}

fn core_figure(value: Option<f64>) -> String {
    value.map_or_else(|| "n/a".to_owned(), |value| format!("{value:.2}"))
}

fn error_list(tally: &Tally) -> String {
    tally
        .statuses
        .iter()
        .map(|(status, count)| format!("{status} × {count}"))
        .chain(
            tally
                .failures
                .iter()
                .map(|(what, count)| format!("{what} × {count}")),
        )
        .collect::<Vec<_>>()
        .join(", ")
}

fn percent(ratio: f64) -> String {
    if ratio.is_finite() {
        format!("{:.1} %", ratio * 100.0)
    } else {
        "n/a".to_owned()
    }
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(0, std::num::NonZero::get)
}
