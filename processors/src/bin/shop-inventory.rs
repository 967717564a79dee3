//! `shop-inventory`: the inventory processor (see `shop_processors::inventory`), one instance of its consumer
//! group; flags and environment in `shop_processors::app::Args`.

use shop_processors::app::{self, ProcessorKind};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    app::main("shop-inventory", &[ProcessorKind::Inventory]).await
}
