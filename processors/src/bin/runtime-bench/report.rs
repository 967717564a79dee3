//! The figures: what one variant's run measured, the machine facts around them, and the table
//! and Markdown results file made from them.

use crate::RunFacts;
use crate::plan::{Args, Plan, Variant};
use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

/// The goal the figures are held against: EOS throughput as a share of raw.
const GOAL_SHARE_OF_RAW: f64 = 0.70;

/// What one run of one variant measured.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    pub(crate) variant: Variant,
    pub(crate) round: usize,
    pub(crate) records: usize,
    /// From start (before the clients exist) to the end condition of the variant.
    pub(crate) elapsed: Duration,
    /// From start to the first record handed over: client set-up, group join, first fetch.
    pub(crate) first_record: Option<Duration>,
    /// Records handed over (the handler's calls for EOS; more than `records` means replays).
    pub(crate) handled: u64,
    pub(crate) stalls: u64,
    pub(crate) stalled: Duration,
}

impl Sample {
    pub(crate) fn records_per_sec(&self) -> f64 {
        per_second(self.records, self.elapsed)
    }

    /// Throughput once records flow, without the fixed start-up cost.
    fn records_per_sec_after_first(&self) -> Option<f64> {
        self.first_record
            .map(|first| per_second(self.records, self.elapsed.saturating_sub(first)))
    }
}

fn per_second(records: usize, elapsed: Duration) -> f64 {
    let seconds = elapsed.as_secs_f64();
    if seconds > 0.0 {
        records as f64 / seconds
    } else {
        f64::INFINITY
    }
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

/// One row of the summary: a variant's median round.
#[derive(Debug)]
struct Row<'a> {
    sample: &'a Sample,
    /// records/s as a share of raw's.
    ratio: Option<f64>,
    /// records/s as a share of raw + avro's.
    ratio_avro: Option<f64>,
}

#[derive(Debug)]
pub(crate) struct Report<'a> {
    pub(crate) args: &'a Args,
    pub(crate) plan: &'a Plan,
    pub(crate) facts: &'a RunFacts,
    pub(crate) started: SystemTime,
    pub(crate) load_before: Option<String>,
    pub(crate) load_after: Option<String>,
}

impl Report<'_> {
    /// Each variant's median round by records/s, in run order, with its ratio to raw's.
    fn rows(&self) -> Vec<Row<'_>> {
        let mut variants: Vec<Variant> = Vec::new();
        for (variant, _, _) in &self.plan.runs {
            if !variants.contains(variant) {
                variants.push(*variant);
            }
        }
        let medians: Vec<&Sample> = variants
            .iter()
            .filter_map(|variant| {
                let mut samples: Vec<&Sample> = self
                    .facts
                    .samples
                    .iter()
                    .filter(|sample| sample.variant == *variant)
                    .collect();
                samples.sort_by(|a, b| a.records_per_sec().total_cmp(&b.records_per_sec()));
                samples.get(samples.len() / 2).copied()
            })
            .collect();
        let rate_of = |wanted: Variant| {
            medians
                .iter()
                .find(|sample| sample.variant == wanted)
                .map(|sample| sample.records_per_sec())
        };
        let (raw, raw_avro) = (rate_of(Variant::Raw), rate_of(Variant::RawAvro));
        medians
            .into_iter()
            .map(|sample| Row {
                sample,
                ratio: raw.map(|raw| sample.records_per_sec() / raw),
                ratio_avro: raw_avro.map(|base| sample.records_per_sec() / base),
            })
            .collect()
    }

    pub(crate) fn text_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<22} {:>9} {:>9} {:>11} {:>8} {:>11} {:>13} {:>16} {:>16}",
            "variant",
            "records",
            "seconds",
            "records/s",
            "vs raw",
            "vs raw+avro",
            "first rec (s)",
            "rec/s after 1st",
            "stalls>=5ms (s)"
        );
        for row in self.rows() {
            let sample = row.sample;
            let _ = writeln!(
                out,
                "{:<22} {:>9} {:>9.2} {:>11.0} {:>8} {:>11} {:>13} {:>16} {:>16}",
                sample.variant.label(),
                sample.records,
                sample.elapsed.as_secs_f64(),
                sample.records_per_sec(),
                percent(row.ratio),
                percent(row.ratio_avro),
                seconds(sample.first_record),
                rate(sample.records_per_sec_after_first()),
                format!("{} / {:.2}", sample.stalls, sample.stalled.as_secs_f64()),
            );
        }
        out
    }

    pub(crate) fn markdown(&self) -> String {
        let args = self.args;
        let mut out = String::new();
        let _ = writeln!(out, "# runtime-bench results\n");
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
            "- machine: {cpus} CPUs (nproc){}",
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
        let _ = writeln!(
            out,
            "- cluster: {}; brokers `{}`, {} broker(s) in metadata",
            args.cluster, args.brokers, self.facts.brokers
        );
        let _ = writeln!(
            out,
            "- extra librdkafka properties: {}",
            if args.kafka_properties.trim().is_empty() {
                "none".to_owned()
            } else {
                format!("`{}`", args.kafka_properties)
            }
        );
        let _ = writeln!(
            out,
            "- input: {} records ({} bytes of keys and values, {:.1} bytes a record) keyed by \
             {} products, {} partitions; topic prefix `{}`",
            args.records,
            self.facts.input_bytes,
            self.facts.input_bytes as f64 / args.records as f64,
            args.products,
            args.partitions,
            self.plan.prefix
        );
        let _ = writeln!(
            out,
            "- rounds: {} (the table shows each variant's median round)\n",
            args.rounds
        );
        let _ = writeln!(
            out,
            "| variant | records | seconds | records/s | vs raw | vs raw + avro | \
             first record after (s) | records/s after first record | stalls ≥ 5 ms (count / s) |"
        );
        let _ = writeln!(
            out,
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        );
        let rows = self.rows();
        for row in &rows {
            let sample = row.sample;
            let _ = writeln!(
                out,
                "| {} | {} | {:.2} | {:.0} | {} | {} | {} | {} | {} / {:.2} |",
                sample.variant.label(),
                sample.records,
                sample.elapsed.as_secs_f64(),
                sample.records_per_sec(),
                percent(row.ratio),
                percent(row.ratio_avro),
                seconds(sample.first_record),
                rate(sample.records_per_sec_after_first()),
                sample.stalls,
                sample.stalled.as_secs_f64()
            );
        }
        let _ = writeln!(
            out,
            "\nGoal: EOS runtime ≥ {:.0} % of raw records/s.",
            GOAL_SHARE_OF_RAW * 100.0
        );
        for row in rows
            .iter()
            .filter(|row| matches!(row.sample.variant, Variant::Eos(_)))
        {
            if let Some(ratio) = row.ratio {
                let _ = writeln!(
                    out,
                    "- {}: {} of raw, goal {}",
                    row.sample.variant.label(),
                    percent(Some(ratio)),
                    if ratio >= GOAL_SHARE_OF_RAW {
                        "met"
                    } else {
                        "missed"
                    }
                );
            }
        }
        if args.rounds > 1 {
            let _ = writeln!(out, "\n## Every round\n");
            let _ = writeln!(out, "| round | variant | seconds | records/s |");
            let _ = writeln!(out, "| ---: | --- | ---: | ---: |");
            for sample in &self.facts.samples {
                let _ = writeln!(
                    out,
                    "| {} | {} | {:.2} | {:.0} |",
                    sample.round,
                    sample.variant.label(),
                    sample.elapsed.as_secs_f64(),
                    sample.records_per_sec()
                );
            }
        }
        let _ = writeln!(
            out,
            "\nraw: consumer + plain idempotent producer copying bytes, clock stops at the last \
             acknowledgement. raw + avro: the same, decoding key and value with the codec and \
             encoding them again for the output. eos: the runtime with a pass-through handler, clock stops when \
             its group has committed the input's end offsets (output verified afterwards with \
             a read_committed reader: exactly {} records, none dead-lettered). Stalls: gaps of \
             at least 5 ms between two records handed over. Handler calls per variant: {}.",
            args.records,
            rows.iter()
                .map(|row| format!("{} {}", row.sample.variant.label(), row.sample.handled))
                .collect::<Vec<_>>()
                .join(", ")
        );
        out
    }
}

fn percent(ratio: Option<f64>) -> String {
    ratio.map_or_else(
        || "n/a".to_owned(),
        |ratio| format!("{:.1} %", ratio * 100.0),
    )
}

fn seconds(duration: Option<Duration>) -> String {
    duration.map_or_else(
        || "n/a".to_owned(),
        |duration| format!("{:.2}", duration.as_secs_f64()),
    )
}

fn rate(per_second: Option<f64>) -> String {
    per_second.map_or_else(|| "n/a".to_owned(), |rate| format!("{rate:.0}"))
}
