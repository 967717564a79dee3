//! `shop-catalog`: the catalog processor (see `shop_processors::catalog`), one instance of its consumer
//! group; flags and environment in `shop_processors::app::Args`.

use shop_processors::app::{self, ProcessorKind};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    app::main("shop-catalog", &[ProcessorKind::Catalog]).await
}
