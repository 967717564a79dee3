//! `shop-chaos`: glue around `shop_chaos::run_chaos`. Parses flags, runs one chaos run (or a
//! soak with `--soak`), writes `report.json` and the load's JSON and chart into the run's
//! folder, prints the verdict, and exits 0 if the run passed, 1 if a promise was broken and 2
//! if the run could not be carried out. See `docs/performance.md`.

use anyhow::Context;
use clap::Parser;
use shop_chaos::faults::{FaultSettings, Stack};
use shop_chaos::{ChaosConfig, ChaosReport, run_chaos};
use shop_loadgen::chart::{self, NamedLine};
use shop_loadgen::report::Report;
use shop_loadgen::write_report;
use shop_platform::{shutdown, telemetry};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Runs the pipeline as separate processes under load while faults hit it, then checks that
/// nothing was lost, duplicated or oversold.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Kafka bootstrap servers.
    #[arg(long, env = "SHOP_KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    brokers: String,
    /// Confluent-compatible schema registry API.
    #[arg(
        long,
        env = "SHOP_SCHEMA_REGISTRY_URL",
        default_value = "http://127.0.0.1:8081/apis/ccompat/v7"
    )]
    registry_url: String,
    /// A database to connect to; the run creates its own next to it.
    #[arg(
        long,
        env = "SHOP_DATABASE_URL",
        default_value = "postgres://shop:shop@127.0.0.1:5433/shop"
    )]
    database_url: String,
    /// Where the pipeline's binaries are; by default next to this one.
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// The stack script that stops and starts the broker and PostgreSQL
    /// (`deployments/local/stack`); needed unless both faults are off.
    #[arg(long, env = "SHOP_CHAOS_STACK")]
    stack: Option<PathBuf>,
    /// The run's folder (report, load result, one log per instance); by default
    /// `target/chaos/<run id>`.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Names the run's topics, database, products and users; by default `chaos-<millis>`.
    #[arg(long)]
    run_id: Option<String>,
    /// Checkouts per second, open loop.
    #[arg(long, default_value_t = 50.0)]
    rate: f64,
    /// How long the load runs; the faults fall inside it.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "60s")]
    duration: Duration,
    /// Processes per processor.
    #[arg(long, default_value_t = 2)]
    instances: u32,
    /// Partitions of every topic.
    #[arg(long, default_value_t = 3)]
    partitions: i32,
    /// SIGKILL a random processor or projector instance this often; 0s for never.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5s")]
    kill_every: Duration,
    /// How long a killed instance stays down.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "1s")]
    restart_after: Duration,
    /// Restart the broker once at this fraction of the run.
    #[arg(long, default_value_t = 0.35)]
    broker_restart_at: f64,
    /// Do not restart the broker.
    #[arg(long)]
    no_broker_restart: bool,
    /// Stop PostgreSQL once at this fraction of the run...
    #[arg(long, default_value_t = 0.65)]
    postgres_stop_at: f64,
    /// ...for this long.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5s")]
    postgres_down: Duration,
    /// Do not stop PostgreSQL.
    #[arg(long)]
    no_postgres_stop: bool,
    /// No faults at all: a soak, for the memory figures.
    #[arg(long)]
    soak: bool,
    /// Seeds the choice of victims; by default the clock (printed, so a run can be repeated).
    #[arg(long)]
    seed: Option<u64>,
    /// An accepted checkout that has not ended this long after it was sent is lost.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "180s")]
    terminal_timeout: Duration,
    /// How long the checks wait for the pipeline and the read model to settle.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "120s")]
    settle: Duration,
    /// How often each instance's resident memory is sampled.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5s")]
    memory_every: Duration,
}

impl Args {
    fn config(&self) -> anyhow::Result<ChaosConfig> {
        let run_id = self
            .run_id
            .clone()
            .unwrap_or_else(|| shop_loadgen::config::default_run_id("chaos"));
        let seed = self.seed.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |elapsed| elapsed.as_secs())
        });
        let faults = if self.soak {
            FaultSettings {
                seed,
                ..FaultSettings::none()
            }
        } else {
            FaultSettings {
                kill_every: Some(self.kill_every).filter(|every| !every.is_zero()),
                restart_after: self.restart_after,
                broker_restart_at: (!self.no_broker_restart).then_some(self.broker_restart_at),
                postgres_stop_at: (!self.no_postgres_stop).then_some(self.postgres_stop_at),
                postgres_down: self.postgres_down,
                seed,
            }
        };
        let bin_dir = match &self.bin_dir {
            Some(dir) => dir.clone(),
            None => std::env::current_exe()
                .context("while finding this binary's folder (pass --bin-dir)")?
                .parent()
                .map(Path::to_path_buf)
                .context("this binary has no folder (pass --bin-dir)")?,
        };
        Ok(ChaosConfig {
            brokers: self.brokers.clone(),
            registry_url: self.registry_url.clone(),
            database_url: self.database_url.clone(),
            bin_dir,
            out_dir: self
                .out
                .clone()
                .unwrap_or_else(|| Path::new("target/chaos").join(&run_id)),
            run_id,
            instances: self.instances,
            partitions: self.partitions,
            rate: self.rate,
            duration: self.duration,
            faults,
            stack: self.stack.clone().map(|script| Stack { script }),
            terminal_timeout: self.terminal_timeout,
            settle: self.settle,
            memory_every: self.memory_every,
        })
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let _telemetry = match telemetry::init_from_env("warn,shop_chaos=info,shop_loadgen=info") {
        Ok(guard) => guard,
        Err(error) => {
            eprintln!("shop-chaos: cannot set up logging: {error}");
            return ExitCode::from(2);
        }
    };
    match run(&args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            tracing::error!("{error:#}");
            ExitCode::from(2)
        }
    }
}

/// Runs, writes and prints; `Ok(passed)`.
async fn run(args: &Args) -> anyhow::Result<bool> {
    let config = args.config()?;
    tracing::info!(
        run_id = %config.run_id,
        seed = config.faults.seed,
        out = %config.out_dir.display(),
        "chaos run"
    );
    let report = run_chaos(&config, shutdown::on_signal())
        .await
        .context("the chaos run")?;
    let json = config.out_dir.join("report.json");
    let mut text = serde_json::to_string_pretty(&report)?;
    text.push('\n');
    std::fs::write(&json, text).with_context(|| format!("while writing {}", json.display()))?;
    let load_json = config.out_dir.join("load.json");
    let chart = write_report(&Report::Load(report.load.clone()), &load_json, None)
        .with_context(|| format!("while writing {}", load_json.display()))?;
    let memory_png = config.out_dir.join("memory.png");
    draw_memory(&report, &memory_png)
        .with_context(|| format!("while writing {}", memory_png.display()))?;
    print_summary(&report);
    println!(
        "report: {}\nload:   {} (chart {})\nmemory: {}\nlogs:   {}",
        json.display(),
        load_json.display(),
        chart.display(),
        memory_png.display(),
        config.out_dir.join("logs").display()
    );
    Ok(report.verdict.passed)
}

/// Every instance's resident memory over the run, one line each (a kill starts a new
/// process, so its line drops and climbs again).
fn draw_memory(report: &ChaosReport, path: &Path) -> anyhow::Result<()> {
    let lines: Vec<NamedLine> = report
        .services
        .iter()
        .map(|service| NamedLine {
            name: service.name.clone(),
            points: service.rss_mib.clone(),
        })
        .collect();
    let title = format!(
        "resident memory per instance, {} ({} checkouts/s for {} s)",
        report.run_id, report.settings.rate, report.settings.duration_s
    );
    let text = chart::font(None).is_some();
    chart::draw_lines(
        path,
        &title,
        "seconds since the fleet started",
        "MiB",
        &lines,
        text,
    )?;
    Ok(())
}

fn print_summary(report: &ChaosReport) {
    let v = &report.verdict;
    println!(
        "chaos run {} (seed {}): {}",
        report.run_id,
        report.settings.seed,
        if v.passed { "PASSED" } else { "FAILED" }
    );
    println!(
        "  checkouts sent {}, accepted {}, orders requested {}, ended {:?}",
        v.checkouts_sent, v.checkouts_accepted, v.orders_requested, v.terminal
    );
    println!(
        "  lost {}, duplicated {}, oversold {}, read-model differences {}, command records copied {}",
        v.lost, v.duplicated, v.oversold, v.read_model_differences, v.copied_commands
    );
    if let Some(error) = &v.check_error {
        println!("  checks not finished: {error}");
    }
    if !v.violations.is_empty() {
        println!("  violations: {:?}", v.violations);
        for line in report.violations.iter().take(10) {
            println!("    {line}");
        }
    }
    let kills = report
        .faults
        .iter()
        .filter(|f| f.target.contains('#'))
        .count();
    println!(
        "  faults: {} kills, {} other, {} not carried out; unplanned exits {}",
        kills,
        report.faults.len() - kills,
        v.failed_faults,
        v.unplanned_exits
    );
    for fault in report.faults.iter().filter(|f| !f.target.contains('#')) {
        println!(
            "    {} at {:.1} s, back after {:.1} s{}",
            fault.target,
            fault.at_s,
            fault.took_s,
            fault
                .error
                .as_ref()
                .map_or_else(String::new, |e| format!(" (failed: {e})"))
        );
    }
    for service in &report.services {
        if let Some(memory) = &service.memory {
            println!(
                "  {:<18} kills {:>2}  rss MiB first {:>6.1} last {:>6.1} max {:>6.1}  late growth {:+.2} MiB/min",
                service.name,
                service.kills,
                memory.first,
                memory.last,
                memory.max,
                memory.late_growth_per_min
            );
        }
        for exit in &service.unplanned_exits {
            println!("  {:<18} exited on its own: {exit}", service.name);
        }
    }
    let load = &report.load;
    println!(
        "  load: {:.1} checkouts/s accepted, checkout to end p50 {:.0} ms p99 {:.0} ms",
        load.throughput.checkouts_accepted_per_s,
        load.orders.confirmed.checkout_to_terminal.p50_ms,
        load.orders.confirmed.checkout_to_terminal.p99_ms
    );
}
