//! `shop-token`: mints a development token, HS256 with `SHOP_JWT_SECRET`, and prints it.
//!
//! ```sh
//! export SHOP_JWT_SECRET=...
//! TOKEN=$(cargo run -q -p shop-ingress --bin shop-token -- --sub alice --role admin --ttl 1h)
//! curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8080/api/v1/cart
//! ```

use shop_ingress::auth::{Role, mint_hs256};
use std::process::ExitCode;
use std::time::Duration;

/// Mints a development token.
#[derive(Debug, clap::Parser)]
#[command(
    version,
    about = "Mints an HS256 development token for the shop ingress"
)]
struct Args {
    /// The user id (`sub` claim).
    #[arg(long)]
    sub: String,
    /// `user` or `admin`.
    #[arg(long, default_value = "user", value_parser = parse_role)]
    role: Role,
    /// How long the token is valid, e.g. `1h`, `30m`.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    ttl: Duration,
    /// The secret the ingress checks HS256 tokens with.
    #[arg(long, env = "SHOP_JWT_SECRET", hide_env_values = true)]
    secret: String,
}

fn parse_role(text: &str) -> Result<Role, String> {
    text.parse()
}

fn main() -> ExitCode {
    let args = <Args as clap::Parser>::parse();
    match mint_hs256(args.secret.as_bytes(), &args.sub, args.role, args.ttl) {
        Ok(token) => {
            println!("{token}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("shop-token: {error}");
            ExitCode::FAILURE
        }
    }
}
