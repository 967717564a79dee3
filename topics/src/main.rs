//! `shop-topics`: see `shop_topics::cli`.

use clap::Parser;
use shop_platform::telemetry;
use shop_topics::cli::{Cli, run};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(error) = telemetry::init_from_env("warn") {
        eprintln!("shop-topics: cannot set up logging: {error}");
        return ExitCode::FAILURE;
    }
    match run(&cli, &mut std::io::stdout()).await {
        Ok(outcome) => ExitCode::from(outcome.exit_code()),
        Err(error) => {
            eprintln!("shop-topics: {error:#}");
            ExitCode::FAILURE
        }
    }
}
