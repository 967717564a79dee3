//! `shop-processors`: every business processor in one process, for local use and small
//! deployments. Each still joins its own consumer group, so it can be mixed with instances of
//! the single-processor binaries.

use shop_processors::app::{self, ProcessorKind};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    app::main("shop-processors", &ProcessorKind::ALL).await
}
