//! `shop-probe <url>`: exits 0 when `GET <url>` answers 2xx, else prints why and exits 1. The
//! container images' health checks run it (see `shop_platform::probe`).

use clap::Parser;
use std::process::ExitCode;
use std::time::Duration;

/// Health check for container images: `GET <url>`, healthy on a 2xx status.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// `http://host:port/path` to probe.
    url: String,
    /// Bound on connecting, sending and reading the status line, each.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    timeout: Duration,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match shop_platform::probe::check(&args.url, args.timeout) {
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("shop-probe: {error}");
            ExitCode::FAILURE
        }
    }
}
