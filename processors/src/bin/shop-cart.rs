//! `shop-cart`: the cart processor (see `shop_processors::cart`), one instance of its consumer
//! group; flags and environment in `shop_processors::app::Args`.

use shop_processors::app::{self, ProcessorKind};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    app::main("shop-cart", &[ProcessorKind::Cart]).await
}
