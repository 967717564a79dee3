//! `shop-load`: glue around `shop_loadgen`. Parses flags, starts logging, runs `run`,
//! `baseline` or `compare` until done or ctrl-c, writes the JSON result and its PNG chart, and
//! prints a short summary. Everything measured is in the JSON; see `docs/performance.md`.

mod args;

use anyhow::Context;
use args::{Cli, Command};
use clap::Parser;
use shop_loadgen::report::{BaselineReport, LoadReport, Report};
use shop_loadgen::{compare, cpu, run_baseline, run_load, write_report};
use shop_platform::{shutdown, telemetry};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let _telemetry = match telemetry::init_from_env("warn,shop_loadgen=info,shop_load=info") {
        Ok(guard) => guard,
        Err(error) => {
            eprintln!("shop-load: cannot set up logging: {error}");
            return ExitCode::FAILURE;
        }
    };
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let stop = shutdown::on_signal();
    // The pipeline's processes on this machine, for the CPU figures; none is fine.
    let watch = cpu::find_pipeline();
    let (report, common) = match &cli.command {
        Command::Run(args) => {
            let config = args.load.config(&args.common, watch)?;
            let out = args.common.out(&config.run_id);
            let report = run_load(&config, stop)
                .await
                .context("while running the load")?;
            (Report::Load(report), (&args.common, out))
        }
        Command::Baseline(args) => {
            let config = args.chain.config(&args.common, args.mode.into(), watch)?;
            let out = args.common.out(&config.run_id);
            let report = run_baseline(&config, stop)
                .await
                .context("while running the baseline")?;
            (Report::Baseline(report), (&args.common, out))
        }
        Command::Compare(args) => {
            let load = args.load.config(&args.common, watch.clone())?;
            let baselines = args
                .baseline_modes
                .iter()
                .map(|mode| {
                    args.chain
                        .config(&args.common, (*mode).into(), watch.clone())
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let out = args.common.out(&load.run_id.replacen("load", "compare", 1));
            let report = compare(&load, &baselines, stop)
                .await
                .context("while running the comparison")?;
            (Report::Compare(report), (&args.common, out))
        }
    };
    let (common, out) = common;
    let chart = write_report(&report, &out, common.font.as_deref())
        .with_context(|| format!("while writing {}", out.display()))?;
    print_summary(&report);
    println!("result: {}\nchart:  {}", out.display(), chart.display());
    Ok(())
}

fn print_summary(report: &Report) {
    match report {
        Report::Load(load) => print_load(load),
        Report::Baseline(baseline) => print_baseline(baseline),
        Report::Compare(compare) => {
            for baseline in &compare.baselines {
                print_baseline(baseline);
            }
            print_load(&compare.load);
            for ratios in &compare.ratios {
                let mode = ratios.baseline_mode.map_or("?", |mode| mode.as_str());
                let show = |value: Option<f64>| value.map_or("-".to_owned(), |v| format!("{v:.3}"));
                println!(
                    "vs {mode}: throughput at rate {}, vs chain max {}, latency p50 ×{}, p99 ×{}",
                    show(ratios.throughput_at_rate),
                    show(ratios.throughput_vs_baseline_max),
                    show(ratios.latency_p50),
                    show(ratios.latency_p99),
                );
            }
        }
    }
}

fn print_load(load: &LoadReport) {
    let t = &load.throughput;
    let o = &load.orders;
    println!(
        "load {}: {:.0} sessions/s, {:.0} commands/s accepted, {:.0} terminal orders/s \
         (kept up: {}), open at window end {}",
        load.run_id,
        t.sessions_started_per_s,
        t.commands_accepted_per_s,
        t.terminal_orders_per_s,
        t.kept_up,
        t.open_orders_at_window_end
    );
    for (name, ended) in [
        ("CONFIRMED", &o.confirmed),
        ("REJECTED", &o.rejected),
        ("CANCELLED", &o.cancelled),
    ] {
        let p = &ended.checkout_to_terminal;
        println!(
            "  {name:<9} {:>7}  checkout→terminal p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms",
            ended.count, p.p50_ms, p.p99_ms, p.max_ms
        );
    }
    println!(
        "  HTTP 202 p99: add-item {:.1} ms, checkout {:.1} ms; timed out {}, refused {}, \
         unexpected {}, late {}, dropped {}",
        load.add_item.accept_latency.p99_ms,
        load.checkout.accept_latency.p99_ms,
        o.timed_out.values().sum::<u64>(),
        o.checkout_refused.values().sum::<u64>(),
        o.unexpected,
        load.schedule.late,
        load.schedule.dropped
    );
}

fn print_baseline(baseline: &BaselineReport) {
    let mode = baseline
        .settings
        .as_ref()
        .map_or("?", |settings| settings.mode.as_str());
    let p = &baseline.paced;
    println!(
        "baseline {} ({mode}): {:.0} records/s out, end to end p50 {:.1} ms p99 {:.1} ms max \
         {:.1} ms, lost {}",
        baseline.run_id,
        p.received_per_s,
        p.end_to_end.p50_ms,
        p.end_to_end.p99_ms,
        p.end_to_end.max_ms,
        p.lost
    );
    if let Some(burst) = &baseline.burst {
        println!(
            "  burst: {} of {} records in {:.2} s = {:.0} records/s",
            burst.received, burst.records, burst.seconds, burst.records_per_s
        );
    }
}
