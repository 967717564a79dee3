//! `shop-ingress`: the HTTP front door (see `shop_ingress`); flags and environment in
//! `shop_ingress::app::Args`, routes in `docs/ingress.md`.

use shop_ingress::app::{self, Args};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let args = <Args as clap::Parser>::parse();
    // Held until main returns: dropping it flushes the spans not yet exported.
    let _telemetry = match shop_platform::telemetry::init_from_env("info,librdkafka=warn") {
        Ok(guard) => guard,
        Err(error) => {
            eprintln!("shop-ingress: cannot set up logging: {error}");
            return ExitCode::FAILURE;
        }
    };
    let metrics = match metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder() {
        Ok(handle) => handle,
        Err(error) => {
            eprintln!("shop-ingress: cannot install the metrics recorder: {error}");
            return ExitCode::FAILURE;
        }
    };
    match app::run(&args, metrics).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("shop-ingress: {error:#}");
            ExitCode::FAILURE
        }
    }
}
