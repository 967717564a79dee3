//! `shop-topics`: see `shop_topics::cli`.

use clap::Parser;
use shop_platform::telemetry::{self, LogFormat};
use shop_topics::cli::{Cli, run};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = std::env::var("SHOP_LOG").unwrap_or_else(|_| "warn".to_owned());
    let format = std::env::var("SHOP_LOG_FORMAT")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(LogFormat::Text);
    if let Err(error) = telemetry::init(&filter, format) {
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
