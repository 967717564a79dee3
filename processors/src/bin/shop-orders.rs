//! `shop-orders`: the orders processor (see `shop_processors::orders`), one instance of its consumer
//! group; flags and environment in `shop_processors::app::Args`.

use shop_processors::app::{self, ProcessorKind};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    app::main("shop-orders", &[ProcessorKind::Orders]).await
}
